"""The papers' training recipes, as Keras compile arguments and callbacks.

    import keras_lightnets as kl
    model = kl.create_model("mobilenet_v3_large", classes=10)
    recipe = kl.training.recipe(model, batch_size=256, steps_per_epoch=len(train), epochs=30)
    recipe.compile(model)                      # L2 weight decay on the kernels + model.compile
    model.fit(train, epochs=recipe.epochs, callbacks=recipe.callbacks)

    recipe.compile_args   # {"optimizer": RMSprop(schedule, use_ema=True, ...), "loss": ..., "metrics": [...]}
    recipe.model_kwargs   # the paper's dropout / stochastic depth, for create_model(**...)

Each recipe is a function below whose docstring cites the paper section it comes
from, and says what the paper leaves out and where we took it from. The recipe is
picked by name ("resnet"), by registered model name or model (its registry family,
`kl.model_info(name).family`, with a few models whose papers train differently from
their family: GoogLeNet, Inception V3, SE-ResNets, CIFAR WRN and DenseNet-BC).

Conventions, the same for every recipe:

- Linear scaling (Goyal et al. 2017): the learning rate is the paper's times
  `batch_size / paper batch size`, when the paper gives its batch. Warm-up lengths,
  step milestones and decay horizons are placed at the same fractions of the run
  when `epochs` differs from the paper's; per-epoch decay rates stay as published.
- Weight decay is the papers' coupled L2 penalty (gradient += w * W), put on the
  kernels by `Recipe.compile(model)`; AdamW recipes (ViT, Swin) decay in the
  optimizer instead (decoupled), skipping biases, norms and position embeddings.
- EMA uses the optimizer's `use_ema` (Keras' Polyak averaging); `callbacks` then
  hold `SwapEMAWeights`, so validation sees the averaged weights, and `fit` leaves
  the averaged weights in the model at the end. Keras' EMA has no warm-up (the TF
  reference trainers' `num_updates`), so a run much shorter than the average's
  horizon (1 / (1 - momentum) steps) keeps weights close to their initial values:
  `recipe` warns then; pass `ema_momentum=None` to switch EMA off.
- Keras' RMSprop adds epsilon outside the square root, TF1's inside; with the
  Inception recipes' epsilon of 1.0 the two differ in how strongly they damp.

Distributed training: build the model, call `recipe(...)` and `compile` inside
`strategy.scope()` (Keras optimizers bind to the strategy they are created under);
`batch_size` is the global batch:

    strategy = tf.distribute.MirroredStrategy()          # all local GPUs
    # or tf.distribute.MultiWorkerMirroredStrategy()     # TF_CONFIG names the workers
    with strategy.scope():
        model = kl.create_model("resnet50")
        recipe = kl.training.recipe(model, batch_size=1024, steps_per_epoch=1251)
        recipe.compile(model)
    model.fit(train, epochs=recipe.epochs, callbacks=recipe.callbacks)
"""

import dataclasses
import difflib
import fnmatch
import warnings
from typing import Any, Callable, Dict, Optional, Tuple

import keras

from keras_lightnets.training.losses import SparseCategoricalCrossentropy
from keras_lightnets.training.regularization import apply_l2_weight_decay
from keras_lightnets.training.regularization import decoupled_decay_exclusions
from keras_lightnets.training.schedules import build_schedule

IMAGENET_TRAIN_SIZE = 1_281_167  # to turn the papers' step counts into epochs


@dataclasses.dataclass(frozen=True)
class RecipeSpec:
    """A paper's training hyper-parameters, as published (see each recipe's docstring)."""

    optimizer: str  # "sgd" | "rmsprop" | "adamw"
    learning_rate: float  # at `batch_size`
    batch_size: Optional[int]  # the batch the paper's learning rate goes with; None: unpublished (no scaling)
    epochs: int
    schedule: str  # see keras_lightnets.training.schedules.build_schedule
    schedule_args: Dict[str, Any] = dataclasses.field(default_factory=dict)
    optimizer_args: Dict[str, Any] = dataclasses.field(default_factory=dict)  # momentum, rho, epsilon, nesterov...
    warmup_epochs: float = 0.0
    weight_decay: float = 0.0
    decoupled_weight_decay: bool = False  # AdamW-style, in the optimizer
    decay_depthwise: bool = True
    label_smoothing: float = 0.0
    ema_momentum: Optional[float] = None
    global_clipnorm: Optional[float] = None
    aux_loss_weight: Optional[float] = None  # GoogLeNet / Inception auxiliary classifiers
    model_kwargs: Dict[str, Any] = dataclasses.field(default_factory=dict)
    plateau_patience: int = 5  # "plateau" schedules: epochs without improvement (ours; unpublished)
    plateau_reductions: int = 3
    ignore_class: Optional[int] = None  # a label the loss skips (segmentation's unlabelled pixels: 255)
    multibox: bool = False  # SSD's two outputs: box regression and hard-negative-mined classification losses


_RECIPES: Dict[str, Callable[[], RecipeSpec]] = {}


def _recipe(name):
    def register(fn):
        _RECIPES[name] = fn
        return fn

    return register


# --- the recipes ----------------------------------------------------------------------------------

_INCEPTION_RMSPROP = {"rho": 0.9, "momentum": 0.9, "epsilon": 1.0}
_TPU_RMSPROP = {"rho": 0.9, "momentum": 0.9, "epsilon": 1e-3}


@_recipe("mobilenet_v1")
def mobilenet_v1():
    """MobileNets (Howard et al. 2017), Sec. 3.4 "Training": RMSprop with asynchronous
    gradient descent as Inception V3; less regularisation and augmentation than large
    models: no label smoothing, no side heads, little or no weight decay on the
    depthwise filters. The numbers the paper leaves out come from the authors'
    TF-slim trainer (mobilenet_v1_train.py, mobilenet_v1_arg_scope): learning rate
    0.045 at batch 64, x0.94 every 2.5 epochs, weight decay 4e-5 (not on depthwise
    kernels); RMSprop decay 0.9, momentum 0.9, epsilon 1.0 and 100 epochs as the
    Inception V3 recipe it follows."""
    return RecipeSpec(
        optimizer="rmsprop", optimizer_args=_INCEPTION_RMSPROP, learning_rate=0.045, batch_size=64, epochs=100,
        schedule="exponential", schedule_args={"decay_rate": 0.94, "every_epochs": 2.5},
        weight_decay=4e-5, decay_depthwise=False,
    )


@_recipe("mobilenet_v2")
def mobilenet_v2():
    """MobileNetV2 (Sandler et al. 2018), Sec. 6.1 "Training setup": RMSPropOptimizer
    with decay and momentum 0.9, weight decay 4e-5, initial learning rate 0.045
    decayed x0.98 per epoch, 16 asynchronous GPU workers with batch 96. Epsilon 1.0
    and 75 epochs (1M steps of 96) from the authors' TF-slim command; that command
    also adds label smoothing 0.1 and EMA 0.9999, which the paper does not mention
    (pass label_smoothing=0.1, ema_momentum=0.9999 to have them). As TF-slim's
    MobileNets, depthwise kernels are not decayed."""
    return RecipeSpec(
        optimizer="rmsprop", optimizer_args=_INCEPTION_RMSPROP, learning_rate=0.045, batch_size=96, epochs=75,
        schedule="exponential", schedule_args={"decay_rate": 0.98, "every_epochs": 1.0},
        weight_decay=4e-5, decay_depthwise=False,
    )


@_recipe("mobilenet_v3")
def mobilenet_v3():
    """Searching for MobileNetV3 (Howard et al. 2019), Sec. 6.1 "Training setup":
    synchronous training on a 4x4 TPU Pod, standard RMSPropOptimizer with momentum
    0.9, initial learning rate 0.1 at batch 4096, "learning rate decay rate of 0.01
    every 3 epochs" (read as x0.99 every 3 epochs: x0.01 would end training within
    6 epochs), dropout 0.8 keep (rate 0.2), L2 weight decay 1e-5, Inception
    preprocessing, EMA 0.9999. Epochs are not published: 350, as the same team's
    MnasNet/EfficientNet TPU trainers."""
    return RecipeSpec(
        optimizer="rmsprop", optimizer_args={"rho": 0.9, "momentum": 0.9}, learning_rate=0.1, batch_size=4096,
        epochs=350, schedule="exponential", schedule_args={"decay_rate": 0.99, "every_epochs": 3.0},
        weight_decay=1e-5, decay_depthwise=False, ema_momentum=0.9999, model_kwargs={"dropout_rate": 0.2},
    )


@_recipe("mnasnet")
def mnasnet():
    """MnasNet (Tan et al. 2019), Sec. 4 "Experimental Setup": RMSProp with decay 0.9
    and momentum 0.9, batch-norm momentum 0.99, weight decay 1e-5, dropout 0.2 on the
    last layer, learning rate raised from 0 to 0.256 over the first 5 epochs then
    x0.97 every 2.4 epochs, batch 4K, Inception preprocessing. Epsilon 0.001 and
    350 epochs from the authors' TPU trainer (mnasnet_main.py); its EMA is not in
    the paper and off here."""
    return RecipeSpec(
        optimizer="rmsprop", optimizer_args=_TPU_RMSPROP, learning_rate=0.256, batch_size=4096, epochs=350,
        schedule="exponential", schedule_args={"decay_rate": 0.97, "every_epochs": 2.4}, warmup_epochs=5,
        weight_decay=1e-5, model_kwargs={"dropout_rate": 0.2},
    )


@_recipe("efficientnet")
def efficientnet():
    """EfficientNet (Tan & Le 2019), Sec. 5.2 "ImageNet Results for EfficientNet":
    RMSProp with decay 0.9 and momentum 0.9, batch-norm momentum 0.99, weight decay
    1e-5, initial learning rate 0.256 decayed x0.97 every 2.4 epochs, SiLU (Swish),
    AutoAugment, stochastic depth with survival probability 0.8 (drop rate 0.2),
    dropout 0.2 (B0) to 0.5 (B7, the builders' defaults). From the authors' TPU
    trainer (efficientnet_main.py): the 0.256 is 0.016 per 256 images at batch 4096,
    5 warm-up epochs, label smoothing 0.1, EMA 0.9999, epsilon 0.001, 350 epochs.
    AutoAugment is not in our pipelines (Inception crops and flips only)."""
    return RecipeSpec(
        optimizer="rmsprop", optimizer_args=_TPU_RMSPROP, learning_rate=0.256, batch_size=4096, epochs=350,
        schedule="exponential", schedule_args={"decay_rate": 0.97, "every_epochs": 2.4}, warmup_epochs=5,
        weight_decay=1e-5, label_smoothing=0.1, ema_momentum=0.9999, model_kwargs={"drop_connect_rate": 0.2},
    )


@_recipe("efficientnet_v2")
def efficientnet_v2():
    """EfficientNetV2 (Tan & Le 2021), Sec. 5.1 "ImageNet ILSVRC2012": RMSProp with decay
    0.9 and momentum 0.9, weight decay 1e-5, 350 epochs at batch 4096, learning rate
    warmed up from 0 to 0.256 then decayed x0.97 every 2.4 epochs, EMA 0.9999,
    stochastic depth with survival probability 0.8 (drop rate 0.2), RandAugment, Mixup
    and dropout, grown with the image size by progressive learning (Sec. 4, Table 6).
    From the authors' hparams.py (google/automl efficientnetv2): 0.016 per 256 images,
    5 warm-up epochs, label smoothing 0.1, epsilon 0.001, batch-norm momentum 0.9 (the
    builders' default). Progressive resizing, RandAugment and Mixup are not in our
    pipelines (Inception crops and flips at one size)."""
    return RecipeSpec(
        optimizer="rmsprop", optimizer_args=_TPU_RMSPROP, learning_rate=0.256, batch_size=4096, epochs=350,
        schedule="exponential", schedule_args={"decay_rate": 0.97, "every_epochs": 2.4}, warmup_epochs=5,
        weight_decay=1e-5, label_smoothing=0.1, ema_momentum=0.9999, model_kwargs={"drop_connect_rate": 0.2},
    )


@_recipe("resnet")
def resnet():
    """Deep Residual Learning (He et al. 2016), Sec. 3.4 "Implementation": SGD with
    mini-batch 256, momentum 0.9, weight decay 1e-4, learning rate 0.1 divided by 10
    when the error plateaus. The plateaus are the fixed epochs 30, 60 and 80 of 90
    of the reference trainers that reproduce it (torchvision; Goyal et al. 2017).
    ResNeXt (Xie et al. 2017, Sec. 5.1) and the ImageNet wide ResNets train the
    same way."""
    return RecipeSpec(
        optimizer="sgd", optimizer_args={"momentum": 0.9}, learning_rate=0.1, batch_size=256, epochs=90,
        schedule="steps", schedule_args={"milestones": (30 / 90, 60 / 90, 80 / 90), "factor": 0.1},
        weight_decay=1e-4,
    )


@_recipe("senet")
def senet():
    """Squeeze-and-Excitation Networks (Hu et al. 2018), Sec. 5 "Experiments" (ImageNet
    training): synchronous SGD with momentum 0.9, mini-batch 1024, initial learning
    rate 0.6 decreased by 10 every 30 epochs, 100 epochs. Weight decay is not
    restated there: 1e-4, as the ResNets they extend."""
    return RecipeSpec(
        optimizer="sgd", optimizer_args={"momentum": 0.9}, learning_rate=0.6, batch_size=1024, epochs=100,
        schedule="steps", schedule_args={"milestones": (0.3, 0.6, 0.9), "factor": 0.1}, weight_decay=1e-4,
    )


@_recipe("wide_resnet")
def wide_resnet():
    """Wide Residual Networks (Zagoruyko & Komodakis 2016), Sec. 4 (CIFAR): SGD with
    Nesterov momentum 0.9, weight decay 5e-4, mini-batch 128, learning rate 0.1
    multiplied by 0.2 at epochs 60, 120 and 160 of 200; dropout 0.3 between the
    convolutions of WRN-28-10."""
    return RecipeSpec(
        optimizer="sgd", optimizer_args={"momentum": 0.9, "nesterov": True}, learning_rate=0.1, batch_size=128,
        epochs=200, schedule="steps", schedule_args={"milestones": (0.3, 0.6, 0.8), "factor": 0.2},
        weight_decay=5e-4, model_kwargs={"dropout_rate": 0.3},
    )


@_recipe("densenet")
def densenet():
    """Densely Connected Convolutional Networks (Huang et al. 2017), Sec. 4.2
    "Training" (ImageNet): SGD with Nesterov momentum 0.9 (no dampening), weight decay
    1e-4, batch 256 for 90 epochs, learning rate 0.1 lowered by 10 at epochs 30 and 60."""
    return RecipeSpec(
        optimizer="sgd", optimizer_args={"momentum": 0.9, "nesterov": True}, learning_rate=0.1, batch_size=256,
        epochs=90, schedule="steps", schedule_args={"milestones": (30 / 90, 60 / 90), "factor": 0.1},
        weight_decay=1e-4,
    )


@_recipe("densenet_cifar")
def densenet_cifar():
    """Densely Connected Convolutional Networks (Huang et al. 2017), Sec. 4.2
    "Training" (CIFAR): SGD with Nesterov momentum 0.9, weight decay 1e-4, batch 64
    for 300 epochs, learning rate 0.1 divided by 10 at 50% and 75% of training. (The
    paper's dropout 0.2 is for runs without augmentation; ours augment.)"""
    return RecipeSpec(
        optimizer="sgd", optimizer_args={"momentum": 0.9, "nesterov": True}, learning_rate=0.1, batch_size=64,
        epochs=300, schedule="steps", schedule_args={"milestones": (0.5, 0.75), "factor": 0.1}, weight_decay=1e-4,
    )


@_recipe("vgg")
def vgg():
    """Very Deep Convolutional Networks (Simonyan & Zisserman 2015), Sec. 3.1
    "Training": mini-batch gradient descent with momentum 0.9, batch 256, weight
    decay (L2 multiplier) 5e-4, dropout 0.5 on the first two FC layers, learning rate
    1e-2 divided by 10 when validation accuracy stops improving (3 times; 370K
    iterations, 74 epochs). The plateau rule is `ReduceLROnPlateau` on val_accuracy
    (patience 5 epochs: ours, unpublished); it needs validation data."""
    return RecipeSpec(
        optimizer="sgd", optimizer_args={"momentum": 0.9}, learning_rate=1e-2, batch_size=256, epochs=74,
        schedule="plateau", weight_decay=5e-4, model_kwargs={"dropout_rate": 0.5},
    )


@_recipe("alexnet")
def alexnet():
    """ImageNet Classification with Deep CNNs (Krizhevsky et al. 2012), Sec. 5 "Details
    of learning": SGD with batch 128, momentum 0.9, weight decay 5e-4, learning rate
    0.01 divided by 10 when the validation error stopped improving (3 times), about
    90 epochs; dropout 0.5 in the first two FC layers (Sec. 4.2). Plateau patience
    5 epochs: ours, unpublished."""
    return RecipeSpec(
        optimizer="sgd", optimizer_args={"momentum": 0.9}, learning_rate=0.01, batch_size=128, epochs=90,
        schedule="plateau", weight_decay=5e-4, model_kwargs={"dropout_rate": 0.5},
    )


@_recipe("zfnet")
def zfnet():
    """Visualizing and Understanding CNNs (Zeiler & Fergus 2014), Sec. 3 "Training
    Details": mini-batch 128, learning rate 1e-2, momentum 0.9, learning rate annealed
    by hand when the validation error plateaus, dropout 0.5 in layers 6 and 7, 70
    epochs. No weight decay is given (none here); the manual annealing is
    `ReduceLROnPlateau` (x0.1, patience 5: ours)."""
    return RecipeSpec(
        optimizer="sgd", optimizer_args={"momentum": 0.9}, learning_rate=1e-2, batch_size=128, epochs=70,
        schedule="plateau", model_kwargs={"dropout_rate": 0.5},
    )


@_recipe("segmentation")
def segmentation():
    """Searching for MobileNetV3 (Howard et al. 2019), Sec. 6.4 "Semantic
    Segmentation" (LR-ASPP; DeepLabV3 on it alike) publishes no training
    hyper-parameters; these are torchvision's reference recipe for its
    lraspp_mobilenet_v3_large and deeplabv3_mobilenet_v3_large COCO weights
    (references/segmentation, train.py with `-b 4` on 8 GPUs, `--wd 0.000001`): SGD
    with momentum 0.9, learning rate 0.01 at batch 32, "poly" decay to 0 with power 0.9
    over 30 epochs, weight decay 1e-6, from an ImageNet backbone (backbone_weights=).
    Per-pixel cross-entropy on the models' per-pixel probabilities, skipping label 255
    (VOC's unlabelled borders: torchvision's ignore_index=255)."""
    return RecipeSpec(
        optimizer="sgd", optimizer_args={"momentum": 0.9}, learning_rate=0.01, batch_size=32, epochs=30,
        schedule="poly", schedule_args={"power": 0.9}, weight_decay=1e-6, ignore_class=255,
    )


@_recipe("detection")
def detection():
    """MobileNetV2 (Sandler et al. 2018), Sec. 6.2 "Object Detection" (SSDLite) and
    Searching for MobileNetV3 (Howard et al. 2019), Sec. 6.3 "Detection" publish no
    training hyper-parameters; these are torchvision's reference recipe for its
    ssdlite320_mobilenet_v3_large COCO weights (references/detection, train.py with
    `--epochs 600 --lr 0.15 --batch-size 24` on 8 GPUs, `--lr-scheduler
    cosineannealinglr --weight-decay 0.00004`): SGD with momentum 0.9, learning rate
    0.15 at batch 192, cosine decay to 0 over 600 epochs, weight decay 4e-5. SSD's
    multibox loss (keras_lightnets.training.detection): smooth L1 of the matched boxes'
    codes and cross entropy with 3:1 hard-negative mining, over the positives."""
    return RecipeSpec(
        optimizer="sgd", optimizer_args={"momentum": 0.9}, learning_rate=0.15, batch_size=192, epochs=600,
        schedule="cosine", weight_decay=4e-5, multibox=True,
    )


@_recipe("googlenet")
def googlenet():
    """Going Deeper with Convolutions (Szegedy et al. 2015), Sec. 6 "Training
    Methodology": asynchronous SGD with momentum 0.9, learning rate decreased by 4%
    every 8 epochs, Polyak averaging for the final model (EMA; 0.9999 as TF-slim);
    Sec. 5: auxiliary losses weighted by 0.3. The initial rate, batch and weight decay
    are not published: 0.01, 32 and 2e-4 from BVLC's Caffe reproduction
    (bvlc_googlenet/solver.prototxt, whose 320K-step decay is the paper's 8 epochs;
    its 10M steps are 250 epochs)."""
    return RecipeSpec(
        optimizer="sgd", optimizer_args={"momentum": 0.9}, learning_rate=0.01, batch_size=32, epochs=250,
        schedule="exponential", schedule_args={"decay_rate": 0.96, "every_epochs": 8.0},
        weight_decay=2e-4, ema_momentum=0.9999, aux_loss_weight=0.3,
    )


@_recipe("inception_v3")
def inception_v3():
    """Rethinking the Inception Architecture (Szegedy et al. 2016), Sec. 8 "Training
    Methodology": 50 replicas with batch 32 each, 100 epochs, RMSProp with decay 0.9
    and epsilon 1.0, learning rate 0.045 decayed every two epochs x0.94, gradient
    clipping at 2.0, evaluation on a running average of the parameters (EMA 0.9999
    as TF-slim); Sec. 7: label smoothing 0.1. Momentum 0.9, weight decay 4e-5 and the
    auxiliary loss weight 0.4 are TF-slim's (train_image_classifier.py,
    inception_v3_arg_scope), which the paper does not state."""
    return RecipeSpec(
        optimizer="rmsprop", optimizer_args=_INCEPTION_RMSPROP, learning_rate=0.045, batch_size=32, epochs=100,
        schedule="exponential", schedule_args={"decay_rate": 0.94, "every_epochs": 2.0}, weight_decay=4e-5,
        label_smoothing=0.1, ema_momentum=0.9999, global_clipnorm=2.0, aux_loss_weight=0.4,
    )


@_recipe("xception")
def xception():
    """Xception (Chollet 2017), Sec. 4.3 "Optimization configuration" (ImageNet): SGD,
    momentum 0.9, initial learning rate 0.045, decay x0.94 every 2 epochs; Sec. 4.4
    "Regularization configuration": weight decay 1e-5, dropout 0.5 before the
    logistic regression, no auxiliary tower. Batch and epochs are not published:
    the learning rate is used unscaled, and 100 epochs as Inception V3."""
    return RecipeSpec(
        optimizer="sgd", optimizer_args={"momentum": 0.9}, learning_rate=0.045, batch_size=None, epochs=100,
        schedule="exponential", schedule_args={"decay_rate": 0.94, "every_epochs": 2.0}, weight_decay=1e-5,
    )


@_recipe("shufflenet")
def shufflenet():
    """ShuffleNet (Zhang et al. 2018), Sec. 4 "Experiments": the ResNeXt settings (SGD,
    momentum 0.9) except weight decay 4e-5 (not 1e-4) and a linear-decay learning
    rate from 0.5 to 0, batch 1024, 3x10^5 iterations (240 epochs), less aggressive
    scale augmentation. ShuffleNet V2 (Ma et al. 2018, Sec. 5) keeps V1's setup."""
    return RecipeSpec(
        optimizer="sgd", optimizer_args={"momentum": 0.9}, learning_rate=0.5, batch_size=1024,
        epochs=round(300_000 * 1024 / IMAGENET_TRAIN_SIZE), schedule="poly", schedule_args={"power": 1.0},
        weight_decay=4e-5,
    )


@_recipe("squeezenet")
def squeezenet():
    """SqueezeNet (Iandola et al. 2016), Sec. 3.3 "Other SqueezeNet details" points to
    the authors' repository for the training protocol: SqueezeNet_v1.0/solver.prototxt
    -- SGD momentum 0.9, weight decay 2e-4, batch 1024 (32 x iter_size 32), learning
    rate 0.08 with Caffe's "poly" decay (power 0.5) to 0 over 85K iterations
    (68 epochs); dropout 0.5 after fire9 (Sec. 3.3)."""
    return RecipeSpec(
        optimizer="sgd", optimizer_args={"momentum": 0.9}, learning_rate=0.08, batch_size=1024,
        epochs=round(85_000 * 1024 / IMAGENET_TRAIN_SIZE), schedule="poly", schedule_args={"power": 0.5},
        weight_decay=2e-4, model_kwargs={"dropout_rate": 0.5},
    )


@_recipe("vit")
def vit():
    """An Image is Worth 16x16 Words (Dosovitskiy et al. 2021), Sec. 4.1 "Training &
    Fine-tuning" and Appendix B.1 (Table 3, ImageNet from scratch): Adam with beta1
    0.9, beta2 0.999 and decoupled weight decay 0.3 (AdamW), batch 4096, 300 epochs,
    base learning rate 3e-3 with a linear warm-up of 10K steps then cosine decay,
    gradient clipping at global norm 1, dropout 0.1."""
    return RecipeSpec(
        optimizer="adamw", optimizer_args={"beta_1": 0.9, "beta_2": 0.999}, learning_rate=3e-3, batch_size=4096,
        epochs=300, schedule="cosine", warmup_epochs=10_000 * 4096 / IMAGENET_TRAIN_SIZE, weight_decay=0.3,
        decoupled_weight_decay=True, global_clipnorm=1.0, model_kwargs={"dropout_rate": 0.1},
    )


@_recipe("swin")
def swin():
    """Swin Transformer (Liu et al. 2021), Sec. 4.1 "Settings" and Appendix A2.1
    (ImageNet-1K): AdamW for 300 epochs, cosine decay with 20 epochs of linear
    warm-up, batch 1024, learning rate 1e-3, weight decay 0.05, DeiT's augmentation
    and regularisation (label smoothing 0.1; RandAugment, Mixup, CutMix and random
    erasing are not in our pipelines) without EMA, stochastic depth 0.2 / 0.3 / 0.5
    for Swin-T / S / B, gradient clipping at norm 5 (the authors' configs)."""
    return RecipeSpec(
        optimizer="adamw", optimizer_args={"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8}, learning_rate=1e-3,
        batch_size=1024, epochs=300, schedule="cosine", warmup_epochs=20, weight_decay=0.05,
        decoupled_weight_decay=True, label_smoothing=0.1, global_clipnorm=5.0,
        model_kwargs={"stochastic_depth_rate": 0.2},
    )


@_recipe("convnext")
def convnext():
    """A ConvNet for the 2020s (Liu et al. 2022), Sec. 2.1 "Training Techniques" and
    Appendix A.1, Table 5 (ImageNet-1K, 224): AdamW with beta1 0.9, beta2 0.999,
    base learning rate 4e-3 at batch 4096, 300 epochs, 20 epochs of linear warm-up
    then cosine decay, weight decay 0.05, label smoothing 0.1, EMA 0.9999, layer scale
    1e-6 (the builders' default), no gradient clipping, stochastic depth 0.1 / 0.4 /
    0.5 / 0.5 for ConvNeXt-T / S / B / L (the builder's `drop_path_rate`). XL has no
    ImageNet-1K-only training in the paper (Table 5 gives it 0.2 for ImageNet-22K
    pre-training only): 0.5 here, L's. Epsilon 1e-8 is the authors' main.py default
    (--opt_eps). RandAugment, Mixup, CutMix and random erasing are not in our
    pipelines (Inception crops and flips only)."""
    return RecipeSpec(
        optimizer="adamw", optimizer_args={"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8}, learning_rate=4e-3,
        batch_size=4096, epochs=300, schedule="cosine", warmup_epochs=20, weight_decay=0.05,
        decoupled_weight_decay=True, label_smoothing=0.1, ema_momentum=0.9999,
        model_kwargs={"drop_path_rate": 0.1},
    )


@_recipe("inception_resnet")
def inception_resnet():
    """Inception-v4, Inception-ResNet and the Impact of Residual Connections (Szegedy
    et al. 2017), Sec. 4 "Training Methodology": 20 replicas, RMSProp with decay 0.9
    and epsilon 1.0, learning rate 0.045 decayed every two epochs x0.94, gradient
    clipping (the AAAI version; its value unstated: 2.0, Inception V3's Sec. 8),
    evaluation on a running average of the parameters (EMA 0.9999, as TF-slim and
    Inception V3). Not published: the per-replica batch (32, as Inception V3's Sec. 8,
    which the learning rate goes with), epochs (100, as Inception V3), momentum 0.9
    (TF-slim's train_image_classifier.py default) and weight decay 4e-5 (TF-slim's
    inception_resnet_v2_arg_scope). keras.applications' graph has no dropout or
    auxiliary head, so nothing is passed to the builder."""
    return RecipeSpec(
        optimizer="rmsprop", optimizer_args=_INCEPTION_RMSPROP, learning_rate=0.045, batch_size=32, epochs=100,
        schedule="exponential", schedule_args={"decay_rate": 0.94, "every_epochs": 2.0}, weight_decay=4e-5,
        ema_momentum=0.9999, global_clipnorm=2.0,
    )


@_recipe("nasnet")
def nasnet():
    """Learning Transferable Architectures (Zoph et al. 2018), Sec. 4.2 "Results on
    ImageNet Image Classification" and Appendix A.7 "Training of ImageNet models":
    synchronous SGD on 50 workers, RMSProp with decay 0.9 and epsilon 1.0, EMA 0.9999,
    label smoothing 0.1, an auxiliary classifier weighted 0.4, L2 regularisation,
    Inception V3's exponential decay, dropout 0.5 before the softmax. The paper gives no
    learning rate, batch, weight decay or epochs; these are the authors' TF-slim notes
    (nets/nasnet/nasnet.py): NASNet-A Mobile learning rate 2.0 (0.04 x 50 replicas) at
    batch 1600 (32 x 50), x0.97 every 2.4 epochs (not Inception V3's x0.94 every 2),
    gradient clipping at global norm 10, weight decay 4e-5 (nasnet_mobile_arg_scope),
    250K steps (312 epochs); NASNet-A Large 1.5 (0.015 x 100) at 1600 (16 x 100),
    weight decay 5e-5. Momentum 0.9 is TF-slim's default. keras.applications' graph
    has no dropout, auxiliary head or ScheduledDropPath (Large: keep 0.7), so nothing is
    passed to the builder."""
    return RecipeSpec(
        optimizer="rmsprop", optimizer_args=_INCEPTION_RMSPROP, learning_rate=2.0, batch_size=1600,
        epochs=round(250_000 * 1600 / IMAGENET_TRAIN_SIZE), schedule="exponential",
        schedule_args={"decay_rate": 0.97, "every_epochs": 2.4}, weight_decay=4e-5, label_smoothing=0.1,
        ema_momentum=0.9999, global_clipnorm=10.0, aux_loss_weight=0.4,
    )


# --- choosing a recipe ----------------------------------------------------------------------------

# Models whose papers train them unlike the rest of their registry family (first match wins).
MODEL_RECIPES: Tuple[Tuple[str, str, Dict[str, Any]], ...] = (
    ("googlenet", "googlenet", {}),
    ("inception_v1", "googlenet", {}),
    ("inception_v3", "inception_v3", {}),
    ("seresne*", "senet", {}),
    ("wrn_*", "wide_resnet", {}),
    ("densenet_bc_*", "densenet_cifar", {}),
    ("swin_s*", "swin", {"model_kwargs": {"stochastic_depth_rate": 0.3}}),
    ("swin_b*", "swin", {"model_kwargs": {"stochastic_depth_rate": 0.5}}),
    ("convnext_small", "convnext", {"model_kwargs": {"drop_path_rate": 0.4}}),
    ("convnext_base", "convnext", {"model_kwargs": {"drop_path_rate": 0.5}}),
    ("convnext_large", "convnext", {"model_kwargs": {"drop_path_rate": 0.5}}),
    ("convnext_xlarge", "convnext", {"model_kwargs": {"drop_path_rate": 0.5}}),
    ("nasnet_large", "nasnet", {"learning_rate": 1.5, "weight_decay": 5e-5}),
)
# Registry family -> recipe, where the names differ.
FAMILY_RECIPES = {
    "efficientnet_lite": "efficientnet",
    "shufflenet_v1": "shufflenet",
    "shufflenet_v2": "shufflenet",
    "inception": "googlenet",
}


def list_recipes():
    return sorted(_RECIPES)


def describe(name):
    """The paper's hyper-parameters and the docstring citing them, for a recipe name."""
    key, _ = _resolve(name)
    return _RECIPES[key].__doc__, _RECIPES[key]()


@dataclasses.dataclass
class Recipe:
    """A recipe made concrete for one run: Keras objects ready for compile and fit."""

    name: str
    source: str  # the recipe's docstring: the paper section it follows
    spec: RecipeSpec
    batch_size: int
    epochs: int
    steps_per_epoch: Optional[int]
    learning_rate: float  # the peak rate, scaled to batch_size
    optimizer: keras.optimizers.Optimizer
    loss: keras.losses.Loss  # multibox recipes: [box loss, class loss], one per output
    metrics: list
    callbacks: list
    model_kwargs: Dict[str, Any]

    @property
    def weight_decay(self):
        return self.spec.weight_decay

    @property
    def compile_args(self):
        """Arguments for `model.compile` (the coupled L2 weight decay is not among
        them: `compile(model)` adds it to the kernels)."""
        return {"optimizer": self.optimizer, "loss": self.loss, "metrics": list(self.metrics)}

    def compile(self, model, **overrides):
        """Applies the weight decay to `model`, then `model.compile(**compile_args)`.

        Models with auxiliary classifiers (GoogLeNet / Inception `aux_logits=True`)
        get one loss per output and the paper's auxiliary loss weight.
        """
        spec = self.spec
        if spec.weight_decay and not spec.decoupled_weight_decay:
            apply_l2_weight_decay(model, spec.weight_decay, depthwise=spec.decay_depthwise)
        elif spec.decoupled_weight_decay:
            self.optimizer.exclude_from_weight_decay(var_list=decoupled_decay_exclusions(model))
        args = self.compile_args
        outputs = len(model.outputs)
        if spec.multibox:  # the loss is already one per output (box codes, class logits)
            args["metrics"] = None
        elif outputs > 1:
            aux = spec.aux_loss_weight if spec.aux_loss_weight is not None else 1.0
            args["loss"] = [self.loss] * outputs
            args["loss_weights"] = [1.0] + [aux] * (outputs - 1)
            args["metrics"] = [list(self.metrics)] + [[] for _ in range(outputs - 1)]
        args.update(overrides)
        model.compile(**args)
        return model

    def summary(self):
        s = self.spec
        parts = [
            f"{s.optimizer} lr {self.learning_rate:.4g} (paper {s.learning_rate:g} at batch {s.batch_size or 'unpublished'}; "
            f"ours at {self.batch_size})",
            f"{s.schedule} schedule" + (f" {s.schedule_args}" if s.schedule_args else "")
            + (f", {s.warmup_epochs:g} warm-up epochs" if s.warmup_epochs else ""),
            f"weight decay {s.weight_decay:g}" + (" (decoupled)" if s.decoupled_weight_decay else " (L2)"),
        ]
        if s.label_smoothing:
            parts.append(f"label smoothing {s.label_smoothing:g}")
        if self.optimizer.use_ema:
            parts.append(f"EMA {self.optimizer.ema_momentum:g}")
        return f"recipe {self.name}: " + ", ".join(parts)


def recipe(name_or_model, batch_size=None, steps_per_epoch=None, epochs=None, **overrides) -> Recipe:
    """The paper's recipe for a model, scaled to this run.

    Args:
        name_or_model: a recipe name (`list_recipes()`), a registered model name, or
            a model built by `create_model` (picked by its registry family).
        batch_size: the global batch; the learning rate scales linearly from the
            paper's. Default: the paper's batch.
        steps_per_epoch: needed by every schedule but "plateau" (e.g. `len(train)`).
        epochs: default the paper's.
        overrides: any `RecipeSpec` field, e.g. `label_smoothing=0.1`,
            `ema_momentum=None`, `learning_rate=...` (at the paper's batch).

    Raises:
        ValueError: for a name with no recipe (the message lists the known ones),
            a missing `steps_per_epoch`, or an unknown override.
    """
    key, model_overrides = _resolve(name_or_model)
    spec = _RECIPES[key]()
    fields = {f.name for f in dataclasses.fields(RecipeSpec)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(f"Unknown recipe override(s) {unknown}; a recipe has {sorted(fields)}.")
    spec = dataclasses.replace(spec, **{**model_overrides, **overrides})

    batch_size = batch_size or spec.batch_size
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"recipe {key!r}: `batch_size` must be a positive int (the paper's is unpublished); received {batch_size!r}.")
    epochs = epochs or spec.epochs
    if spec.schedule != "plateau" and not steps_per_epoch:
        raise ValueError(f"recipe {key!r} schedules its learning rate by epoch: pass steps_per_epoch= (e.g. len(train_dataset)).")
    learning_rate = spec.learning_rate * (batch_size / spec.batch_size if spec.batch_size else 1.0)
    stretch = epochs / spec.epochs  # keeps warm-up and milestones at the same fraction of a shorter run
    total_steps = int(epochs * (steps_per_epoch or 0))
    schedule = build_schedule(
        spec.schedule, learning_rate, steps_per_epoch=steps_per_epoch, total_steps=total_steps,
        warmup_steps=int(round(spec.warmup_epochs * stretch * (steps_per_epoch or 0))), **spec.schedule_args,
    )
    if spec.ema_momentum and total_steps and total_steps < round(1.0 / (1.0 - spec.ema_momentum)):
        warnings.warn(
            f"recipe {key!r}: this run ({total_steps} steps) is shorter than the EMA's horizon "
            f"({1 / (1 - spec.ema_momentum):,.0f} steps for momentum {spec.ema_momentum}); the averaged weights "
            "fit leaves in the model will stay close to their initial values. Pass ema_momentum=None to train without EMA.",
            stacklevel=2,
        )
    optimizer = _optimizer(spec, schedule)
    if spec.label_smoothing and spec.ignore_class is not None:
        raise ValueError(f"recipe {key!r}: label_smoothing and ignore_class do not combine in one loss.")
    loss = (SparseCategoricalCrossentropy(label_smoothing=spec.label_smoothing) if spec.label_smoothing
            else keras.losses.SparseCategoricalCrossentropy(ignore_class=spec.ignore_class))
    if spec.multibox:
        from keras_lightnets.training.detection import multibox_loss

        loss = multibox_loss()
    callbacks = []
    if spec.ema_momentum:
        callbacks.append(keras.callbacks.SwapEMAWeights())
    if spec.schedule == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(
            monitor="val_accuracy", mode="max", factor=0.1, patience=spec.plateau_patience,
            min_lr=learning_rate * 0.1 ** spec.plateau_reductions,
        ))
    return Recipe(
        name=key, source=_RECIPES[key].__doc__, spec=spec, batch_size=batch_size, epochs=epochs,
        steps_per_epoch=steps_per_epoch, learning_rate=learning_rate, optimizer=optimizer, loss=loss,
        metrics=[] if spec.multibox else ["accuracy"], callbacks=callbacks, model_kwargs=dict(spec.model_kwargs),
    )


def _optimizer(spec, schedule):
    common = {"learning_rate": schedule, "global_clipnorm": spec.global_clipnorm}
    if spec.ema_momentum:
        common.update(use_ema=True, ema_momentum=spec.ema_momentum)
    args = {**spec.optimizer_args, **common}
    if spec.optimizer == "sgd":
        return keras.optimizers.SGD(**args)
    if spec.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(**args)
    if spec.optimizer == "adamw":
        return keras.optimizers.AdamW(weight_decay=spec.weight_decay, **args)
    raise ValueError(f"Unknown optimizer {spec.optimizer!r}.")


def _resolve(name_or_model):
    """-> (recipe name, per-model overrides)."""
    if isinstance(name_or_model, keras.Model):
        name = name_or_model.name
    elif isinstance(name_or_model, str):
        name = name_or_model
    else:
        raise ValueError(f"Pass a recipe name, a registered model name or a model; received {type(name_or_model).__name__}.")
    if name in _RECIPES:
        return name, {}
    from keras_lightnets.registry import _REGISTRY  # deferred: the registry fills as models import

    known = ", ".join(list_recipes())
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, list(_RECIPES) + list(_REGISTRY), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"No training recipe for {name!r}: it is neither a recipe nor a registered model.{hint} Recipes: {known}.")
    for pattern, key, model_overrides in MODEL_RECIPES:
        if fnmatch.fnmatch(name, pattern):
            return key, model_overrides
    family = _REGISTRY[name].family
    key = FAMILY_RECIPES.get(family, family)
    if key not in _RECIPES:
        raise ValueError(f"No training recipe for model {name!r} (family {family!r}); recipes exist for: {known}.")
    return key, {}
