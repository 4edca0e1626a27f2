"""EfficientNet B0-B7 and Lite0-4: counts and layer names against keras.applications,
its weights (and its published-file convention) loaded into ours with equal outputs,
the released variants derived from B0 by compound scaling, and bad arguments."""

import dataclasses

import keras
import keras.src.applications.efficientnet
import numpy as np
import pytest
from eager import infer
from randomize import randomize_batch_norm  # tests/randomize.py

import keras_lightnets as kl
from keras_lightnets.data import load_digits
from keras_lightnets.models import efficientnet
from keras_lightnets.models.efficientnet import EFFICIENTNET_B0
from keras_lightnets.models.efficientnet import EFFICIENTNET_LITE0
from keras_lightnets.models.scaling import compound_scale

from figures import at_most  # tests/figures.py: bounds on trained figures, measured across seeds

ka = keras.applications

SIZE = 64

# keras.applications.EfficientNetB*(weights=None).count_params(), measured live once
# (B0 is also compared live below); Lite: trainable counts (timm, tensorflow/tpu README
# 4.65M, 5.42M, 6.09M, 8.20M, 13.01M).
REFERENCE_COUNTS = [
    ("efficientnet_b0", 5_330_571, "total"),
    ("efficientnet_b1", 7_856_239, "total"),
    ("efficientnet_b2", 9_177_569, "total"),
    ("efficientnet_b3", 12_320_535, "total"),
    ("efficientnet_b4", 19_466_823, "total"),
    ("efficientnet_b5", 30_562_527, "total"),
    ("efficientnet_b6", 43_265_143, "total"),
    ("efficientnet_b7", 66_658_687, "total"),
    ("efficientnet_lite0", 4_652_008, "trainable"),
    ("efficientnet_lite1", 5_416_680, "trainable"),
    ("efficientnet_lite2", 6_092_072, "trainable"),
    ("efficientnet_lite3", 8_197_096, "trainable"),
    ("efficientnet_lite4", 13_006_568, "trainable"),
]
FAST = {"efficientnet_lite0"}  # B0 and B1 are built below too


@pytest.mark.parametrize(
    "name, expected, which",
    [row if row[0] in FAST else pytest.param(*row, marks=pytest.mark.slow) for row in REFERENCE_COUNTS],
    ids=[row[0] for row in REFERENCE_COUNTS],
)
def test_counts_equal_the_reference(name, expected, which):
    model = kl.create_model(name, input_shape=(32, 32, 3))  # counts do not depend on the size
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert (model.count_params() if which == "total" else trainable) == expected


# Stage (out, repeats) and stem/head widths of keras.applications' B1..B7, read off its
# built models (blockNx_project_conv filters and counts); Lite by tensorflow/tpu's rule
# (stem, head and the first and last stages' repeats fixed).
RELEASED_TABLES = {
    "b1": (32, [(16, 2), (24, 3), (40, 3), (80, 4), (112, 4), (192, 5), (320, 2)], 1280, 240),
    "b2": (32, [(16, 2), (24, 3), (48, 3), (88, 4), (120, 4), (208, 5), (352, 2)], 1408, 260),
    "b3": (40, [(24, 2), (32, 3), (48, 3), (96, 5), (136, 5), (232, 6), (384, 2)], 1536, 300),
    "b4": (48, [(24, 2), (32, 4), (56, 4), (112, 6), (160, 6), (272, 8), (448, 2)], 1792, 380),
    "b5": (48, [(24, 3), (40, 5), (64, 5), (128, 7), (176, 7), (304, 9), (512, 3)], 2048, 456),
    "b6": (56, [(32, 3), (40, 6), (72, 6), (144, 8), (200, 8), (344, 11), (576, 3)], 2304, 528),
    "b7": (64, [(32, 4), (48, 7), (80, 7), (160, 10), (224, 10), (384, 13), (640, 4)], 2560, 600),
    "lite1": (32, [(16, 1), (24, 3), (40, 3), (80, 4), (112, 4), (192, 5), (320, 1)], 1280, 240),
    "lite2": (32, [(16, 1), (24, 3), (48, 3), (88, 4), (120, 4), (208, 5), (352, 1)], 1280, 260),
    "lite3": (32, [(24, 1), (32, 3), (48, 3), (96, 5), (136, 5), (232, 6), (384, 1)], 1280, 280),
    "lite4": (32, [(24, 1), (32, 4), (56, 4), (112, 6), (160, 6), (272, 8), (448, 1)], 1280, 300),
}
PUBLISHED = {  # the paper's (width, depth, resolution), as the issue lists them
    "b1": (1.0, 1.1, 240), "b2": (1.1, 1.2, 260), "b3": (1.2, 1.4, 300), "b4": (1.4, 1.8, 380),
    "b5": (1.6, 2.2, 456), "b6": (1.8, 2.6, 528), "b7": (2.0, 3.1, 600),
    "lite1": (1.0, 1.1, 240), "lite2": (1.1, 1.2, 260), "lite3": (1.2, 1.4, 280), "lite4": (1.4, 1.8, 300),
}


@pytest.mark.parametrize("variant", sorted(RELEASED_TABLES))
def test_released_variants_are_b0_compound_scaled(variant):
    base = EFFICIENTNET_LITE0 if variant.startswith("lite") else EFFICIENTNET_B0
    width, depth, resolution = PUBLISHED[variant]
    net = compound_scale(base, width=width, depth=depth, resolution=resolution)
    stem, stages, head, size = RELEASED_TABLES[variant]
    assert (net.stem, [(s.out, s.repeats) for s in net.stages], net.head, net.resolution) == (stem, stages, head, size)
    # Kernels, expansions, strides and SE are B0's (none for Lite), untouched by scaling.
    assert [(s.kernel, s.expansion, s.stride, s.se_ratio) for s in net.stages] == [
        (s.kernel, s.expansion, s.stride, s.se_ratio) for s in base.stages
    ]
    assert net == efficientnet.scaled_table(variant)  # what the registered builder builds
    assert kl.model_info(f"efficientnet_{variant}").default_size == resolution


def test_b1_built_from_compound_scaling_equals_the_registered_b1():
    scaled = compound_scale(EFFICIENTNET_B0, width=1.0, depth=1.1, resolution=240)
    ours = kl.EfficientNet(base=scaled, name="efficientnetb1", dropout_rate=0.2, include_top=True)
    registered = kl.EfficientNetB1()
    assert ours.input_shape == registered.input_shape == (None, 240, 240, 3)
    assert ours.count_params() == registered.count_params() == 7_856_239
    config = lambda m: [(layer.__class__.__name__, layer.name, layer.get_config().get("filters")) for layer in m.layers]
    assert config(ours) == config(registered)


def test_phi_follows_the_papers_rule():
    """phi=1: width 1.1, depth 1.2, resolution 224 * 1.15 = 257.6 -> 258 px."""
    net = compound_scale(EFFICIENTNET_B0, phi=1)
    assert net.resolution == 258 and net.stem == 32 and net.head == 1408
    assert [(s.out, s.repeats) for s in net.stages] == [
        (16, 2), (24, 3), (48, 3), (88, 4), (120, 4), (208, 5), (352, 2)
    ]
    assert compound_scale(EFFICIENTNET_B0, phi=0) == EFFICIENTNET_B0
    # Custom alpha/beta/gamma: depth 2^2, width 1, resolution 224.
    doubled = compound_scale(EFFICIENTNET_B0, phi=2, alpha=2.0, beta=1.0, gamma=1.0)
    assert [s.repeats for s in doubled.stages] == [4 * s.repeats for s in EFFICIENTNET_B0.stages]
    assert doubled.resolution == 224 and [s.out for s in doubled.stages] == [s.out for s in EFFICIENTNET_B0.stages]


def test_compound_scaling_applies_to_other_tables():
    """MnasNet-A1 scaled: the head stays 1280 (the family's rule), SE and skip kept."""
    a1 = kl.models.mnasnet.MNASNET_A1
    net = compound_scale(a1, width=1.4, depth=1.2)
    assert net.head == 1280 and net.stem == 48
    assert [s.se_ratio for s in net.stages] == [s.se_ratio for s in a1.stages]
    assert not net.stages[0].skip and net.stages[0].repeats == 2


def _set_normalization(model, mean, variance):
    norm = next(layer for layer in model.layers if isinstance(layer, keras.layers.Normalization))
    norm.set_weights([np.asarray(mean, "float32"), np.asarray(variance, "float32"), np.array(5)])
    norm.finalize_state()


@pytest.fixture(scope="module")
def reference(photos):
    """keras.applications.EfficientNetB0 (random, perturbed) and ours, built once; and
    what ours' input normalization gives before any weights are loaded."""
    # An unnamed layer built first makes keras auto-name the reference's Normalization
    # "normalization_<n>", as in any session that built a model before.
    keras.layers.Normalization()
    theirs = ka.EfficientNetB0(weights=None, input_shape=(SIZE, SIZE, 3), classifier_activation=None)
    randomize_batch_norm(theirs, dense=True)
    ours = kl.EfficientNetB0(input_shape=(SIZE, SIZE, 3), classifier_activation=None)
    normalize = keras.Model(ours.inputs, ours.get_layer("normalization").output)
    default_normalized = infer(normalize, photos(SIZE).astype("float32"))
    return theirs, ours, default_normalized


def test_counts_and_layer_names_equal_keras_applications_live(reference):
    theirs, ours, _ = reference
    assert ours.count_params() == theirs.count_params() == 5_330_571
    weighted = lambda m: {
        layer.name: [tuple(w.shape) for w in layer.weights]
        for layer in m.layers if layer.weights and not isinstance(layer, keras.layers.Normalization)
    }
    assert weighted(ours) == weighted(theirs)  # by-name loading needs exactly this
    assert {"block1a_dwconv", "block2b_se_reduce", "block7a_project_conv", "stem_conv", "top_conv"} <= set(weighted(ours))


@pytest.mark.parametrize("file_format", ["h5", "keras"])
def test_keras_applications_weights_load_and_agree(reference, file_format, photos, tmp_path):
    """Legacy .h5 (the published files' format; layers keyed by name, the reference's
    Normalization auto-named) and .keras (keyed by class and rank) both load."""
    theirs, ours, _ = reference
    _set_normalization(theirs, [0.5, 0.4, 0.3], [0.05, 0.06, 0.07])
    norm = next(layer for layer in theirs.layers if isinstance(layer, keras.layers.Normalization))
    assert norm.name.startswith("normalization_")  # keras' automatic name, not ours
    path = tmp_path / f"reference.{file_format}"
    theirs.save(path)
    x = photos(SIZE).astype("float32")
    expected = infer(theirs, x)
    assert np.abs(expected).max() > 1e-1  # the comparison is not between near-zeros

    randomize_batch_norm(ours, seed=1, dense=True)  # whatever ours held before must be replaced
    efficientnet.load_weights(ours, path)
    np.testing.assert_allclose(infer(ours, x), expected, atol=1e-5, rtol=0)


def test_weights_argument_loads_into_a_headless_model(reference, tmp_path):
    theirs, _, _ = reference
    _set_normalization(theirs, [0.5, 0.4, 0.3], [0.05, 0.06, 0.07])
    path = tmp_path / "reference.weights.h5"
    theirs.save_weights(path)
    headless = kl.EfficientNetB0(weights=str(path), input_shape=(SIZE, SIZE, 3), include_top=False, pooling="avg")
    for name in ("stem_bn", "block6d_se_expand", "top_conv"):
        for got, expected in zip(headless.get_layer(name).get_weights(), theirs.get_layer(name).get_weights()):
            np.testing.assert_array_equal(got, expected)
    np.testing.assert_allclose(headless.get_layer("normalization").get_weights()[1], [0.05, 0.06, 0.07], rtol=1e-6)


@pytest.mark.slow
def test_imagenet_weights_follow_keras_applications_published_convention(reference, monkeypatch, photos, tmp_path):
    """The published files hold the ImageNet std where Normalization's variance belongs;
    keras.applications(weights="imagenet") corrects it with an extra Rescaling. Ours,
    asking keras.utils.get_file for the same file (only the download is replaced),
    gives the same outputs."""
    theirs, _, _ = reference
    _set_normalization(theirs, efficientnet.IMAGENET_MEAN, efficientnet.IMAGENET_STDDEV)  # as published
    saved = tmp_path / "efficientnetb0.h5"
    theirs.save(saved)
    requested = []

    def fake_get_file(fname=None, origin=None, cache_subdir=None, file_hash=None, **unused):
        requested.append((fname, origin, cache_subdir, file_hash))
        return str(saved)

    monkeypatch.setattr(keras.src.applications.efficientnet.file_utils, "get_file", fake_get_file)
    monkeypatch.setattr(keras.utils, "get_file", fake_get_file)
    # keras.applications takes ImageNet weights with the classifier at 224x224 only.
    published = ka.EfficientNetB0(weights="imagenet", classifier_activation=None)
    ours = kl.EfficientNetB0(weights="imagenet", classifier_activation=None)
    assert requested[0] == requested[1] == (
        "efficientnetb0.h5", "https://storage.googleapis.com/keras-applications/efficientnetb0.h5", "models",
        "902e53a9f72be733fc0bcb005b3ebbac",
    )
    x = photos(224).astype("float32")
    expected = infer(published, x)
    assert np.abs(expected).max() > 1e-1
    np.testing.assert_allclose(infer(ours, x), expected, atol=1e-5, rtol=0)
    variance = ours.get_layer("normalization").get_weights()[1]
    np.testing.assert_allclose(variance, efficientnet.IMAGENET_STDDEV**2, rtol=1e-6)


def test_default_input_normalization(reference, photos):
    """Without weights keras.applications' Normalization is the identity; ours holds the
    ImageNet statistics, what its published weights do: (x / 255 - mean) / std.
    Lite: the authors' (x - 127) / 128."""
    x = photos(SIZE).astype("float32")
    _, _, normalized = reference
    np.testing.assert_allclose(normalized, (x / 255.0 - efficientnet.IMAGENET_MEAN) / efficientnet.IMAGENET_STDDEV, atol=1e-5)
    # keras.applications' twin given the same statistics (what the benchmarks time it with)
    twin = efficientnet.set_imagenet_normalization(ka.EfficientNetB0(weights=None, input_shape=(SIZE, SIZE, 3)))
    norm = next(layer for layer in twin.layers if isinstance(layer, keras.layers.Normalization))
    np.testing.assert_allclose(infer(keras.Model(twin.inputs, norm.output), x), normalized, atol=1e-6)
    model = kl.EfficientNetLite0(input_shape=(SIZE, SIZE, 3), include_top=False)
    rescale = keras.Model(model.inputs, model.get_layer("rescaling").output)
    np.testing.assert_allclose(infer(rescale, x), (x - 127.0) / 128.0, atol=1e-6)
    assert not [layer for layer in model.layers if "se_" in layer.name]  # Lite: no SE
    assert {type(layer).__name__ for layer in model.layers if layer.name.endswith("activation")} == {"ReLU"}
    assert all(layer.max_value == 6.0 for layer in model.layers if isinstance(layer, keras.layers.ReLU))


def test_drop_connect_is_a_linear_schedule_on_residual_blocks(reference):
    _, model, _ = reference  # drop_connect_rate=0.2 and dropout 0.2, B0's defaults
    drops = {layer.name: layer for layer in model.layers if layer.name.endswith("_drop")}
    adds = [layer.name[: -len("add")] for layer in model.layers if layer.name.endswith("_add")]
    assert sorted(drops) == sorted(prefix + "drop" for prefix in adds) and len(adds) == 9
    # Block i of 16 drops with 0.2 * i / 16 (block2b is block 2; block7a has no shortcut).
    assert drops["block2b_drop"].rate == pytest.approx(0.2 * 2 / 16)
    assert drops["block6d_drop"].rate == pytest.approx(0.2 * 14 / 16)
    assert tuple(drops["block2b_drop"].noise_shape) == (None, 1, 1, 1)
    assert model.get_layer("top_dropout").rate == 0.2
    x = np.random.RandomState(0).uniform(0, 255, (2, SIZE, SIZE, 3)).astype("float32")
    np.testing.assert_array_equal(model(x, training=False), model(x, training=False))
    assert np.abs(np.asarray(model(x, training=True)) - np.asarray(model(x, training=True))).max() > 0


def test_backbone_mode_and_any_input_size_from_32():
    model = kl.EfficientNetLite0(input_shape=(128, 128, 3), features_only=True, out_strides=(2, 4, 8, 16, 32))
    assert [tuple(t.shape[1:]) for t in model.outputs] == [
        (64, 64, 16), (32, 32, 24), (16, 16, 40), (8, 8, 112), (4, 4, 1280)
    ]
    open_dims = kl.EfficientNetLite0(include_top=False, pooling="avg")
    assert open_dims.input_shape == (None, None, None, 3)
    for size in (32, 33):
        assert infer(open_dims, np.zeros((1, size, size, 3), "float32")).shape == (1, 1280)


def _small_efficientnet(classes=4):
    """Compound-scaled down (width 0.25, depth 0.5): 10 blocks, 3 with drop-connect."""
    return kl.EfficientNet(0.25, 0.5, 32, drop_connect_rate=0.3, input_shape=(32, 32, 3), classes=classes)


def test_keras_file_round_trip_in_safe_mode(photos, tmp_path):
    """Normalization (its statistics included) and drop-connect survive a .keras file."""
    model = _small_efficientnet()
    assert len([layer for layer in model.layers if layer.name.endswith("_drop")]) == 3
    randomize_batch_norm(model, dense=True)
    path = tmp_path / "small.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    images = photos(32).astype("float32")
    np.testing.assert_array_equal(infer(loaded, images), infer(model, images))
    np.testing.assert_allclose(loaded.get_layer("normalization").get_weights()[1], efficientnet.IMAGENET_STDDEV**2, rtol=1e-6)


@pytest.mark.slow
def test_trains_on_real_digits():
    keras.utils.set_random_seed(2)
    (x, y), _ = load_digits(image_size=32, num_classes=4)
    model = _small_efficientnet()
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    losses = model.fit(x, y, batch_size=32, epochs=3, verbose=0).history["loss"]
    at_most("small efficientnet: last / first epoch loss", losses[-1] / losses[0], 0.5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"phi": -1}, r"phi.*>= 0"),
        ({"phi": "b3"}, r"phi.*number"),
        ({"phi": 1, "width": 1.2}, r"either `phi`.*not both"),
        ({"width": 0}, r"`width` must be a positive number"),
        ({"depth": -1.1}, r"`depth` must be a positive number"),
        ({"resolution": 16}, r"resolution.*at least 32"),
        ({"resolution": 1.15}, r"resolution.*pixels"),
        ({"phi": 1, "alpha": 0}, r"`alpha` must be a positive number"),
    ],
)
def test_compound_scale_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        compound_scale(EFFICIENTNET_B0, **kwargs)


@pytest.mark.parametrize(
    "builder, kwargs, message",
    [
        (kl.EfficientNetB0, {"input_shape": (16, 16, 3)}, r"at least 32x32"),
        (kl.EfficientNetB3, {"weights": "imagenet", "classes": 10}, r"classes=1000.*include_top=False"),
        (kl.EfficientNetLite0, {"weights": "imagenet"}, r"Lite checkpoints.*not as Keras files"),
        (kl.EfficientNet, {"width_coefficient": 1.3, "weights": "imagenet"}, r"B0-B7 with their own width and depth"),
        (kl.EfficientNet, {"width_coefficient": 0}, r"`width` must be a positive number"),
        (kl.EfficientNet, {"depth_coefficient": "deep"}, r"`depth` must be a positive number"),
        (kl.EfficientNet, {"base": "b0"}, r"`base` must be a ScalableNet"),
        (kl.EfficientNet, {"depth_divisor": 0}, r"depth_divisor"),
        (kl.EfficientNetB0, {"drop_connect_rate": 1.0}, r"drop_connect_rate.*\[0, 1\)"),
        (kl.EfficientNetB0, {"dropout_rate": -0.1}, r"dropout_rate.*\[0, 1\)"),
        (kl.EfficientNetB0, {"include_top": False, "pooling": "mean"}, r"pooling.*'avg' or 'max'"),
        (kl.EfficientNetB0, {"weights": "no/such/file.h5"}, r"weights.*no/such/file.h5"),
    ],
)
def test_builders_reject_bad_arguments(builder, kwargs, message):
    with pytest.raises(ValueError, match=message):
        builder(**kwargs)


def test_imagenet_file_names_follow_keras_applications():
    for variant in ("b0", "b7"):
        assert efficientnet.imagenet_weights(variant, True).filename == f"efficientnet{variant}.h5"
        assert efficientnet.imagenet_weights(variant, False).url.endswith(f"/efficientnet{variant}_notop.h5")
    assert dataclasses.asdict(efficientnet.imagenet_weights("b3", False))["file_hash"] == "af6d107764bb5b1abb91932881670226"


def test_loaded_normalization_statistics_take_effect(tmp_path):
    """Normalization caches its statistics: a weight file's mean and variance must
    reach the forward pass, not only the variables."""
    source = kl.EfficientNetB0(input_shape=(32, 32, 3), include_top=False)
    mean, variance = np.array([0.1, 0.2, 0.3], "float32"), np.array([4.0, 4.0, 4.0], "float32")
    efficientnet._set_normalization(source.get_layer("normalization"), mean, variance)
    source.save_weights(tmp_path / "stats.weights.h5")
    loaded = kl.EfficientNetB0(input_shape=(32, 32, 3), include_top=False, weights=str(tmp_path / "stats.weights.h5"))
    normalized = keras.Model(loaded.inputs, loaded.get_layer("normalization").output)
    x = np.random.RandomState(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(infer(normalized, x), (x / 255.0 - mean) / 2.0, atol=1e-5)
