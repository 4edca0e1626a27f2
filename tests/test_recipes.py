"""keras_lightnets.training.recipe: the papers' hyper-parameters, scaled to the run,
as Keras optimizers, schedules, losses, weight decay and callbacks."""

import re

import keras
import numpy as np
import pytest

import keras_lightnets as kl
from keras_lightnets import training
from keras_lightnets.registry import _REGISTRY
from keras_lightnets.registry import register_model

# Short test runs are shorter than the EMA's horizon; that warning has its own test.
pytestmark = pytest.mark.filterwarnings("ignore:.*EMA's horizon")


def lr_at(recipe, step):
    schedule = recipe.optimizer._learning_rate
    return float(keras.ops.convert_to_numpy(schedule(step))) if callable(schedule) else float(schedule)


def test_every_registered_model_has_a_recipe_citing_its_paper():
    for name in kl.list_models():
        recipe = training.recipe(name, batch_size=64, steps_per_epoch=10)
        assert re.search(r"Sec\. \d", recipe.source), (name, recipe.name)
    picked = {n: training.recipe(n, batch_size=64, steps_per_epoch=10).name for n in
              ("mobilenet_v3_small", "efficientnet_lite0", "seresnet50", "resnext50_32x4d", "wrn_28_10",
               "densenet121", "densenet_bc_100_12", "googlenet", "inception_v3", "shufflenet_v2_x1_0", "vit_b16")}
    assert picked == {
        "mobilenet_v3_small": "mobilenet_v3", "efficientnet_lite0": "efficientnet", "seresnet50": "senet",
        "resnext50_32x4d": "resnet", "wrn_28_10": "wide_resnet", "densenet121": "densenet",
        "densenet_bc_100_12": "densenet_cifar", "googlenet": "googlenet", "inception_v3": "inception_v3",
        "shufflenet_v2_x1_0": "shufflenet", "vit_b16": "vit",
    }
    assert training.recipe("swin_b", batch_size=64, steps_per_epoch=10).model_kwargs == {"stochastic_depth_rate": 0.5}


def test_mobilenet_v3_section_6_1():
    recipe = training.recipe("mobilenet_v3", batch_size=4096, steps_per_epoch=100, epochs=350)
    opt = recipe.optimizer
    assert isinstance(opt, keras.optimizers.RMSprop) and opt.rho == 0.9 and opt.momentum == 0.9
    assert opt.use_ema and opt.ema_momentum == 0.9999
    assert [type(c).__name__ for c in recipe.callbacks] == ["SwapEMAWeights"]
    assert recipe.model_kwargs == {"dropout_rate": 0.2} and recipe.weight_decay == 1e-5
    assert lr_at(recipe, 0) == pytest.approx(0.1)
    assert lr_at(recipe, 299) == pytest.approx(0.1)  # staircase: x0.99 every 3 epochs
    assert lr_at(recipe, 300) == pytest.approx(0.099)
    # Linear scaling from the paper's batch of 4096.
    assert training.recipe("mobilenet_v3", batch_size=256, steps_per_epoch=100).learning_rate == pytest.approx(0.1 / 16)


def test_efficientnet_warmup_decay_smoothing_ema():
    recipe = training.recipe("efficientnet_b0", batch_size=4096, steps_per_epoch=100, epochs=350)
    assert (recipe.optimizer.rho, recipe.optimizer.momentum, recipe.optimizer.epsilon) == (0.9, 0.9, 1e-3)
    assert lr_at(recipe, 0) == 0.0
    assert lr_at(recipe, 250) == pytest.approx(0.128)  # half-way through the 5 warm-up epochs
    assert lr_at(recipe, 500) == pytest.approx(0.256 * 0.97**2)  # 5 epochs = 2 decays of 2.4 epochs
    assert recipe.loss.label_smoothing == 0.1 and recipe.optimizer.use_ema
    assert recipe.model_kwargs == {"drop_connect_rate": 0.2}
    # A shorter run keeps the warm-up at the same fraction (5 of 350 epochs).
    short = training.recipe("efficientnet", batch_size=4096, steps_per_epoch=100, epochs=35)
    assert lr_at(short, 25) == pytest.approx(0.256 * 0.5)


def test_resnet_steps_and_mobilenet_v2_exponential():
    recipe = training.recipe("resnet50", batch_size=512, steps_per_epoch=10, epochs=90)
    assert isinstance(recipe.optimizer, keras.optimizers.SGD) and recipe.optimizer.momentum == 0.9
    assert [lr_at(recipe, s) for s in (0, 299, 300, 600, 800)] == pytest.approx([0.2, 0.2, 0.02, 0.002, 0.0002])
    nine = training.recipe("resnet", batch_size=256, steps_per_epoch=10, epochs=9)  # 30/60/80 of 90 -> 3/6/8 of 9
    assert [lr_at(nine, s) for s in (29, 30, 60, 80)] == pytest.approx([0.1, 0.01, 0.001, 0.0001])
    v2 = training.recipe("mobilenet_v2", batch_size=96, steps_per_epoch=10)
    assert [lr_at(v2, s) for s in (0, 10, 20)] == pytest.approx([0.045, 0.045 * 0.98, 0.045 * 0.98**2])
    assert not v2.optimizer.use_ema and v2.loss.name == "sparse_categorical_crossentropy"


def test_linear_and_cosine_schedules():
    shuffle = training.recipe("shufflenet", batch_size=1024, steps_per_epoch=10, epochs=10)
    assert [lr_at(shuffle, s) for s in (0, 50, 100)] == pytest.approx([0.5, 0.25, 0.0])
    vit = training.recipe("vit", batch_size=4096, steps_per_epoch=10, epochs=300)
    warm = int(round(10_000 * 4096 / 1_281_167 * 10))
    assert isinstance(vit.optimizer, keras.optimizers.AdamW) and vit.optimizer.weight_decay == 0.3
    assert vit.optimizer.global_clipnorm == 1.0
    assert lr_at(vit, 0) == 0.0 and lr_at(vit, warm) == pytest.approx(3e-3)
    assert lr_at(vit, 3000) == pytest.approx(0.0, abs=1e-9)


def test_convnext_inception_resnet_and_nasnet_recipes():
    convnext = training.recipe("convnext_tiny", batch_size=4096, steps_per_epoch=10)  # Table 5: 20 warm-up epochs of 300
    assert isinstance(convnext.optimizer, keras.optimizers.AdamW) and convnext.optimizer.weight_decay == 0.05
    assert lr_at(convnext, 0) == 0.0 and lr_at(convnext, 200) == pytest.approx(4e-3)
    assert convnext.loss.label_smoothing == 0.1 and convnext.optimizer.ema_momentum == 0.9999
    rates = {n: training.recipe(n, batch_size=64, steps_per_epoch=10).model_kwargs["drop_path_rate"]
             for n in ("convnext_tiny", "convnext_small", "convnext_base", "convnext_large", "convnext_xlarge")}
    assert list(rates.values()) == [0.1, 0.4, 0.5, 0.5, 0.5]
    irv2 = training.recipe("inception_resnet_v2", batch_size=32, steps_per_epoch=10)
    assert (irv2.optimizer.rho, irv2.optimizer.epsilon) == (0.9, 1.0) and irv2.optimizer.global_clipnorm == 2.0
    assert [lr_at(irv2, s) for s in (0, 19, 20)] == pytest.approx([0.045, 0.045, 0.045 * 0.94])
    mobile = training.recipe("nasnet_mobile", batch_size=1600, steps_per_epoch=10)
    large = training.recipe("nasnet_large", batch_size=1600, steps_per_epoch=10)
    assert mobile.epochs == large.epochs == 312 and mobile.spec.aux_loss_weight == 0.4
    assert (mobile.learning_rate, mobile.weight_decay) == (2.0, 4e-5) and (large.learning_rate, large.weight_decay) == (1.5, 5e-5)
    assert lr_at(mobile, 24) == pytest.approx(2.0 * 0.97) and mobile.optimizer.global_clipnorm == 10.0


def test_plateau_recipes_reduce_on_validation_accuracy():
    recipe = training.recipe("vgg16", batch_size=256)  # no steps_per_epoch needed
    (plateau,) = recipe.callbacks
    assert isinstance(plateau, keras.callbacks.ReduceLROnPlateau)
    assert plateau.monitor == "val_accuracy" and plateau.factor == pytest.approx(0.1)
    assert plateau.min_lr == pytest.approx(1e-5)  # three divisions by 10 from 1e-2
    assert recipe.model_kwargs == {"dropout_rate": 0.5}


def test_label_smoothing_loss_matches_keras_on_one_hot():
    y = np.array([0, 2, 1])
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.3, 0.4, 0.3]], "float32")
    loss = training.SparseCategoricalCrossentropy(label_smoothing=0.1)
    ours = loss(y, p)
    theirs = keras.losses.CategoricalCrossentropy(label_smoothing=0.1)(np.eye(3)[y], p)
    manual = -np.mean(np.sum((0.9 * np.eye(3)[y] + 0.1 / 3) * np.log(p), axis=1))
    assert float(ours) == pytest.approx(float(theirs), rel=1e-6) == pytest.approx(manual, rel=1e-5)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert restored.label_smoothing == 0.1


def test_weight_decay_is_the_papers_coupled_l2():
    # Zero inputs: the data gradient of the kernel is 0, so one SGD step is pure decay,
    # W <- W - lr * wd * W (the papers' convention; Keras' L2(l) alone would be 2 * l).
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="fc")], name="tiny")
    recipe = training.recipe("resnet", batch_size=256, steps_per_epoch=1, weight_decay=0.1)
    recipe.compile(model)
    before = model.get_layer("fc").kernel.numpy()
    model.fit(np.zeros((8, 4)), np.zeros(8, int), batch_size=8, epochs=1, verbose=0)
    np.testing.assert_allclose(model.get_layer("fc").kernel.numpy(), before * (1 - 0.1 * 0.1), rtol=1e-6)


def test_l2_on_kernels_depthwise_per_recipe():
    def penalty_and_kernels(recipe_name):
        model = kl.create_model("mobilenet_v1_025", input_shape=(32, 32, 3), classes=3)
        training.recipe(recipe_name, batch_size=32, steps_per_epoch=1).compile(model)
        dense = [l.kernel for l in model.layers if isinstance(l, (keras.layers.Conv2D, keras.layers.Dense))
                 and not isinstance(l, keras.layers.DepthwiseConv2D)]
        depthwise = [l.kernel for l in model.layers if isinstance(l, keras.layers.DepthwiseConv2D)]
        return float(sum(keras.ops.convert_to_numpy(x) for x in model.losses)), dense, depthwise

    loss, dense, depthwise = penalty_and_kernels("mobilenet_v1")  # TF-slim: depthwise not decayed
    assert loss == pytest.approx(4e-5 / 2 * sum(float(np.sum(k.numpy() ** 2)) for k in dense), rel=1e-5)
    loss, dense, depthwise = penalty_and_kernels("efficientnet")
    assert loss == pytest.approx(1e-5 / 2 * sum(float(np.sum(k.numpy() ** 2)) for k in dense + depthwise), rel=1e-5)


def test_adamw_skips_biases_and_norms():
    model = kl.create_model("mobilenet_v1_025", input_shape=(32, 32, 3), classes=3)
    recipe = training.recipe("swin", batch_size=32, steps_per_epoch=1)
    recipe.compile(model)
    decayed = [v for v in model.trainable_variables if recipe.optimizer._use_weight_decay(v)]
    assert decayed and all(len(v.shape) > 1 for v in decayed)
    assert not model.losses  # decoupled: no L2 term in the loss


def test_model_picks_recipe_by_family_and_aux_heads_get_weights():
    model = kl.create_model("mobilenet_v3_small", input_shape=(32, 32, 3), classes=3)
    assert training.recipe(model, batch_size=32, steps_per_epoch=5).name == "mobilenet_v3"
    net = kl.create_model("googlenet", input_shape=(65, 65, 3), classes=3, aux_logits=True)
    recipe = training.recipe(net, batch_size=32, steps_per_epoch=5)
    recipe.compile(net)
    assert net._compile_config.config["loss_weights"] == [1.0, 0.3, 0.3]


def test_unknown_names_and_missing_arguments_are_clear_errors():
    with pytest.raises(ValueError, match=r"No training recipe for 'resnett'.*Did you mean resnet.*Recipes: alexnet, convnext, densenet"):
        training.recipe("resnett")
    with pytest.raises(ValueError, match="schedules its learning rate by epoch: pass steps_per_epoch="):
        training.recipe("resnet")
    with pytest.raises(ValueError, match=r"Unknown recipe override\(s\) \['momentum'\]"):
        training.recipe("resnet", steps_per_epoch=1, momentum=0.5)
    with pytest.raises(ValueError, match="the paper's is unpublished"):
        training.recipe("xception", steps_per_epoch=1)
    register_model("test_unknown_family_net", lambda **kw: None, family="hypernet", paper="", arxiv="",
                   default_size=32, paper_params_m=None, paper_macs_m=None, figures_source="", reference=None)
    try:
        with pytest.raises(ValueError, match=r"model 'test_unknown_family_net' \(family 'hypernet'\); recipes exist for: alexnet"):
            training.recipe("test_unknown_family_net", steps_per_epoch=1)
    finally:
        del _REGISTRY["test_unknown_family_net"]


def test_short_runs_warn_about_the_ema_horizon():
    with pytest.warns(UserWarning, match="shorter than the EMA's horizon"):
        training.recipe("mobilenet_v3", batch_size=32, steps_per_epoch=10, epochs=2)
    recipe = training.recipe("mobilenet_v3", batch_size=32, steps_per_epoch=10, epochs=2, ema_momentum=None)
    assert not recipe.optimizer.use_ema and not recipe.callbacks


@pytest.mark.filterwarnings("ignore:Skipping variable loading")  # saved before training: no optimizer state yet
def test_compiled_model_saves_and_loads_safely(tmp_path):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax", name="fc")], name="tiny")
    training.recipe("efficientnet", batch_size=256, steps_per_epoch=10, epochs=350).compile(model)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    schedule = loaded.optimizer._learning_rate
    assert isinstance(schedule, training.LinearWarmup)
    assert float(keras.ops.convert_to_numpy(schedule(25))) == pytest.approx(0.016 / 2)
    assert loaded.loss.label_smoothing == 0.1 and loaded.optimizer.use_ema
    assert loaded.get_layer("fc").kernel_regularizer.l2 == pytest.approx(1e-5 / 2)


def test_recalibrate_batch_norm_sets_the_images_statistics_and_keeps_momentum():
    inputs = keras.Input((4, 4, 3))
    x = keras.layers.Conv2D(2, 1, use_bias=False, kernel_initializer="ones", name="conv")(inputs)
    model = keras.Model(inputs, keras.layers.BatchNormalization(momentum=0.99, name="bn")(x))
    images = np.random.RandomState(0).uniform(0, 255, (16, 4, 4, 3)).astype("float32")
    assert training.recalibrate_batch_norm(model, images) is model
    bn = model.get_layer("bn")
    channel_sums = images.sum(-1)  # the 1x1 all-ones conv: each output channel is the sum of the input's
    np.testing.assert_allclose(keras.ops.convert_to_numpy(bn.moving_mean), [channel_sums.mean()] * 2, rtol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(bn.moving_variance), [channel_sums.var()] * 2, rtol=1e-4)
    assert bn.momentum == 0.99


def test_recalibrate_batch_norm_in_chunks_pools_the_whole_sets_statistics():
    inputs = keras.Input((4, 4, 3))
    x = keras.layers.Conv2D(2, 1, use_bias=False, kernel_initializer="ones", name="conv")(inputs)
    model = keras.Model(inputs, keras.layers.BatchNormalization(momentum=0.9, name="bn")(x))
    # 21 images in chunks of 8, 8, 5, whose means differ: the pooled variance must
    # include the spread between chunks, not only the average spread within them
    images = np.random.RandomState(1).uniform(0, 1, (21, 4, 4, 3)).astype("float32")
    images *= np.linspace(1, 50, 21, dtype="float32")[:, None, None, None]
    training.recalibrate_batch_norm(model, images, batch_size=8)
    bn = model.get_layer("bn")
    channel_sums = images.sum(-1)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(bn.moving_mean), [channel_sums.mean()] * 2, rtol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(bn.moving_variance), [channel_sums.var()] * 2, rtol=1e-4)
    assert bn.momentum == 0.9
    with pytest.raises(ValueError, match="batch_size must be a positive number of images"):
        training.recalibrate_batch_norm(model, images, batch_size=0)
