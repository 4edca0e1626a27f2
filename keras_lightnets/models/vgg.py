"""VGG (Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale
Image Recognition", ICLR 2015, arXiv:1409.1556).

Configurations A, B, D and E of the paper's Table 1 (VGG-11, 13, 16, 19) are one
table walked by one builder; `batch_norm=True` gives torchvision's `vgg*_bn`
(Conv2D with bias -> BatchNormalization -> ReLU; torchvision counts their gamma and
beta, so the parameter counts equal torchvision's).

Layer names, the Flatten head and the defaults follow keras.applications.VGG16 and
VGG19 (block{b}_conv{i}, block{b}_pool, flatten, fc1, fc2, predictions), so their
weight files load into VGG16 / VGG19 and give the same outputs.

Where we differ from the references:
- The classifier flattens the last 512-channel map, as the paper and
  keras.applications; torchvision first adaptive-average-pools it to 7x7, so it
  accepts any input size with the same 25088-wide fc1. Here fc1's width follows
  the input (224x224 -> 7x7x512 = 25088, the paper's and torchvision's count);
  with include_top=False any size from 32x32 works.
- layout="torchvision" builds torchvision's VGG (the graph its checkpoints load on):
  the same layers, with its adaptive average pooling to 7x7 before the flatten (fc1
  is 25088 wide at every input size, as torchvision's; at 224 the pool is the
  identity, below it upsamples with PyTorch's bins) and its ImageNet mean/std
  preprocessing. Our names map to its module paths (`torch_names`:
  block1_conv1 -> features.0, fc1 -> classifier.0, ...).
- Dropout 0.5 after fc1 and fc2 (the paper's regularisation, and torchvision's)
  is the `dropout_rate` knob, 0.0 by default as keras.applications (which has
  none). Dropout has no weights: the counts do not change.
"""

from keras import layers

from keras_lightnets.layers import blocks
from keras_lightnets.layers.preprocessing import caffe_preprocessing
from keras_lightnets.layers.preprocessing import torch_preprocessing
from keras_lightnets.models._conv_table import flatten
from keras_lightnets.models._family import Family
from keras_lightnets.models._family import one_of
from keras_lightnets.models._family import rate
from keras_lightnets.models._family import variant
from keras_lightnets.weights import KERAS_APPLICATIONS_URL
from keras_lightnets.weights import WeightFile

__all__ = ["VGG"]  # and each variant, added by @variant

# ------------------------------------------------------------ the architecture as data

# Table 1 of the paper: conv3 layer widths, "M" = 2x2 max pooling, stride 2.
# (Configuration A-LRN and C, with its 1x1 convolutions, are not built.)
PAPER_TABLE = {
    "vgg11": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),  # A
    "vgg13": (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),  # B
    "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),  # D
    "vgg19": (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"),  # E
}
FC_UNITS = 4096
BN_EPSILON = 1e-5  # torchvision's BatchNorm2d
BN_MOMENTUM = 0.9  # torchvision's 0.1 in Keras' convention
IMAGENET_MAP = 7  # keras.applications' fc1 is sized for the 7x7 map of a 224x224 input
LAYOUTS = ("keras", "torchvision")  # "torchvision": its AdaptiveAvgPool2d((7, 7)) before the flatten
# torchvision's classifier Sequential: Linear, ReLU, Dropout, Linear, ReLU, Dropout, Linear.
TORCH_CLASSIFIER = {"fc1": "classifier.0", "fc2": "classifier.3", "predictions": "classifier.6"}

# keras.applications' published files (URLs and hashes from keras/src/applications/vgg16.py, vgg19.py).
_VGG_FILES = {
    ("vgg16", True): ("vgg16_weights_tf_dim_ordering_tf_kernels.h5", "64373286793e3c8b2b4e3219cbf3544b"),
    ("vgg16", False): ("vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", "6d6bbae143d832006294945121d1f1fc"),
    ("vgg19", True): ("vgg19_weights_tf_dim_ordering_tf_kernels.h5", "cbe5617147190e668d6c5d5026f83318"),
    ("vgg19", False): ("vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5", "253f8cb515780f3b799900260a226db6"),
}


def imagenet_weights(config, include_top):
    filename, file_hash = _VGG_FILES[(config, include_top)]
    return WeightFile(filename, KERAS_APPLICATIONS_URL + f"{config}/{filename}", file_hash)


def _imagenet(knobs, rows, has_top):
    if knobs["batch_norm"] or (knobs["config"], has_top) not in _VGG_FILES:
        return None, ("keras.applications publishes VGG-16 and VGG-19 without batch norm only "
                      "(config='vgg16' or 'vgg19', batch_norm=False)")
    return imagenet_weights(knobs["config"], has_top), None


# ------------------------------------------------------------------- the graph


def graph(x, taps, *, config, batch_norm):
    """The configuration's column of Table 1, in keras.applications' layer names
    (block{b}_conv{i}, block{b}_pool); taps the last tensor at each stride."""
    block, conv, stride = 1, 1, 1
    for item in PAPER_TABLE[config]:
        if item == "M":
            if stride > 1:  # the last tensor at each stride: the block's last conv
                taps.record(x, stride)
            stride *= 2
            x = layers.MaxPooling2D((2, 2), strides=(2, 2), name=f"block{block}_pool")(x)
            block, conv = block + 1, 1
            continue
        conv_name = f"block{block}_conv{conv}"
        if batch_norm:
            x = layers.Conv2D(item, (3, 3), padding="same", name=conv_name)(x)
            x = blocks.batch_norm(x, f"{conv_name}_bn", epsilon=BN_EPSILON, momentum=BN_MOMENTUM)
            x = layers.ReLU(name=f"{conv_name}_relu")(x)
        else:
            x = layers.Conv2D(item, (3, 3), activation="relu", padding="same", name=conv_name)(x)
        conv += 1
    taps.record(x, stride)  # block5_pool, stride 32
    return x


def head(x, *, classes, classifier_activation, dropout_rate, weights, layout):
    """keras.applications' classifier: Flatten, fc1 and fc2 (4096, ReLU; each followed
    by the paper's dropout when dropout_rate > 0), predictions; layout="torchvision"
    adaptive-average-pools the map to 7x7 first, as torchvision."""
    if weights == "imagenet" and tuple(x.shape[1:3]) != (IMAGENET_MAP, IMAGENET_MAP):
        raise ValueError(
            f"`weights='imagenet'` with `include_top=True` needs input_shape=(224, 224, 3) (fc1 is sized for a 7x7 "
            f"map); the input gives a {x.shape[1]}x{x.shape[2]} map. Use include_top=False for other sizes."
        )
    x = flatten(x, "VGG", pool_to=IMAGENET_MAP if layout == "torchvision" else None)
    for fc in ("fc1", "fc2"):
        x = layers.Dense(FC_UNITS, activation="relu", name=fc)(x)
        if dropout_rate > 0:
            x = layers.Dropout(dropout_rate, name=f"{fc}_dropout")(x)
    return layers.Dense(classes, activation=classifier_activation, name="predictions")(x)


def preprocessing(x, *, layout):
    """keras.applications' caffe mode, or torchvision's ImageNet mean/std."""
    return torch_preprocessing(x) if layout == "torchvision" else caffe_preprocessing(x)


def torch_names(model):
    """{our layer: torchvision module}: Table 1's column walked as torchvision's
    make_layers walks it (Conv2d[, BatchNorm2d], ReLU per conv, MaxPool2d per "M": one
    `features` index each), and its classifier's indices."""
    convs = sum(isinstance(layer, layers.Conv2D) for layer in model.layers)
    config = next(c for c, column in PAPER_TABLE.items() if sum(item != "M" for item in column) == convs)
    batch_norm = any(isinstance(layer, layers.BatchNormalization) for layer in model.layers)
    names, index, block, conv = dict(TORCH_CLASSIFIER), 0, 1, 1
    for item in PAPER_TABLE[config]:
        if item == "M":
            index, block, conv = index + 1, block + 1, 1
            continue
        names[f"block{block}_conv{conv}"] = f"features.{index}"
        if batch_norm:
            names[f"block{block}_conv{conv}_bn"] = f"features.{index + 1}"
        index, conv = index + (3 if batch_norm else 2), conv + 1
    return names


# ------------------------------------------------------------------------ the builder

VGG = Family(
    "VGG", graph=graph, head=head, preprocessing=preprocessing,
    knobs={"config": "vgg16", "batch_norm": False, "dropout_rate": 0.0, "layout": "keras"},
    order=("config", "batch_norm", "include_top", "weights", "input_tensor", "input_shape", "pooling", "classes",
           "classifier_activation", "dropout_rate", "include_preprocessing", "name", "features_only", "out_strides",
           "layout"),
    checks={"config": one_of(PAPER_TABLE), "dropout_rate": rate("0.5 (the paper's)"), "layout": one_of(LAYOUTS)},
    default_name=lambda knobs, rows: knobs["config"] + ("_bn" if knobs["batch_norm"] else ""),
    imagenet=_imagenet, torch_names=torch_names,
).builder(doc="""A VGG network of the paper's Table 1, keras.applications.VGG16's signature.

    Args:
        config: "vgg11", "vgg13", "vgg16" or "vgg19" (configurations A, B, D, E).
        batch_norm: batch normalization after every convolution (torchvision's
            vgg*_bn; not in the paper, which predates it).
        include_top: add Flatten -> fc1 (4096) -> fc2 (4096) -> predictions.
        weights: None, "imagenet" (keras.applications' files: VGG-16 and VGG-19
            without batch norm) or a weights file path.
        input_tensor: optional Keras tensor to build the model on.
        input_shape: (height, width, channels), 32x32 or more. Defaults to
            (224, 224, 3) with the classifier (whose fc1 width follows the
            input size), open spatial dims without it, as keras.applications.
        pooling: None, "avg" or "max", for include_top=False.
        classes: classifier width.
        classifier_activation: activation of the classifier, None for logits.
        dropout_rate: dropout after fc1 and fc2; the paper's 0.5, keras' 0.0.
        include_preprocessing: take [0, 255] RGB pixels (keras' "caffe"
            preprocess_input as layers: BGR flip, ImageNet mean subtraction;
            with layout="torchvision", /255 and ImageNet mean/std). False, as
            keras.applications.
        name: model name.
        features_only: return the feature maps at `out_strides`: the last tensor
            at each stride, i.e. the last convolution of blocks 2-5 (strides 2,
            4, 8, 16) and block5_pool (32).
        layout: "keras" (keras.applications' graph) or "torchvision": its
            adaptive average pooling to 7x7 before the flatten (fc1 25088 wide at
            any input size) and its preprocessing; the graph torchvision's
            checkpoints load on (weights="torchvision" sets it). PyTorch files load
            by torchvision's module names either way.
    """)

# ------------------------------------------------------------------------ the variants

_PAPER = "Very Deep Convolutional Networks for Large-Scale Image Recognition (ICLR 2015)"
_SOURCE = "paper Table 2 (params); MACs from torchvision's model table (the paper prints none)"
# Per configuration, with or without batch norm: (parameters M: the paper's Table 2,
# multiply-adds M at 224: torchvision's GFLOPS).
PUBLISHED = {"vgg11": (133, 7610), "vgg13": (133, 11310), "vgg16": (138, 15470), "vgg19": (144, 19630)}
_BN_NOTE = "batch norm adds 2 parameters a channel (gamma, beta; ~0.01%), not in the paper"
# keras.applications.VGG16's positional order (`name` right after classifier_activation).
_KERAS_ORDER = ("include_top", "weights", "input_tensor", "input_shape", "pooling", "classes", "classifier_activation",
                "name", "dropout_rate", "include_preprocessing", "features_only", "out_strides", "layout")


def released(name):
    """A variant's @variant arguments ("vgg16", "vgg16_bn": with batch norm): its knobs fixed, its name as the
    model's (name="vgg16" as keras.applications.VGG16, issue 21), its PUBLISHED figures."""
    config, batch_norm = name.removesuffix("_bn"), name.endswith("_bn")
    params_m, macs_m = PUBLISHED[config]
    keras_twin = config in ("vgg16", "vgg19") and not batch_norm
    return dict(
        knobs={"config": config, "batch_norm": batch_norm}, order=_KERAS_ORDER, model_name=name, family="vgg",
        paper=_PAPER, arxiv="1409.1556", default_size=224, paper_params_m=params_m, paper_macs_m=macs_m,
        figures_source=_SOURCE,
        reference=f"keras.applications.VGG{config[3:]}" if keras_twin else f"torchvision.models.{name}",
        note=_BN_NOTE if batch_norm else "")


@variant("vgg11", VGG, **released("vgg11"))
def VGG11(*args, **kwargs):
    """VGG-11: VGG(config='vgg11', batch_norm=False) with keras.applications.VGG16's signature and defaults."""


@variant("vgg13", VGG, **released("vgg13"))
def VGG13(*args, **kwargs):
    """VGG-13: VGG(config='vgg13', batch_norm=False) with keras.applications.VGG16's signature and defaults."""


@variant("vgg16", VGG, **released("vgg16"))
def VGG16(*args, **kwargs):
    """VGG-16: VGG(config='vgg16', batch_norm=False) with keras.applications.VGG16's signature and defaults."""


@variant("vgg19", VGG, **released("vgg19"))
def VGG19(*args, **kwargs):
    """VGG-19: VGG(config='vgg19', batch_norm=False) with keras.applications.VGG16's signature and defaults."""


@variant("vgg11_bn", VGG, **released("vgg11_bn"))
def VGG11BN(*args, **kwargs):
    """VGG-11 with batch norm (torchvision's vgg11_bn): VGG(config='vgg11', batch_norm=True), VGG16's signature."""


@variant("vgg13_bn", VGG, **released("vgg13_bn"))
def VGG13BN(*args, **kwargs):
    """VGG-13 with batch norm (torchvision's vgg13_bn): VGG(config='vgg13', batch_norm=True), VGG16's signature."""


@variant("vgg16_bn", VGG, **released("vgg16_bn"))
def VGG16BN(*args, **kwargs):
    """VGG-16 with batch norm (torchvision's vgg16_bn): VGG(config='vgg16', batch_norm=True), VGG16's signature."""


@variant("vgg19_bn", VGG, **released("vgg19_bn"))
def VGG19BN(*args, **kwargs):
    """VGG-19 with batch norm (torchvision's vgg19_bn): VGG(config='vgg19', batch_norm=True), VGG16's signature."""
