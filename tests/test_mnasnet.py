"""MnasNet-A1 (paper Figure 7) and MnasNet-B1 (torchvision's MNASNet): exact counts
and multiply-adds against torchvision and the paper, the width multiplier, SE
placement and sizing, backbone mode, training, saving, and bad arguments."""

import keras
import numpy as np
import pytest

import keras_lightnets as kl
from keras_lightnets.data import load_digits
from keras_lightnets.models import mnasnet
from keras_lightnets.profiling import profile

from figures import at_most  # tests/figures.py: bounds on trained figures, measured across seeds


def run(model, x):
    """Inference, eagerly: cheaper here than tracing a predict function per model."""
    return np.asarray(model(x, training=False))

# torchvision's MNASNet weights metadata: num_params (nn.Parameters: our trainable
# parameters) and _ops (GFLOPS, i.e. multiply-adds at 224x224); pytorch/vision
# torchvision/models/mnasnet.py. MnasNet-A1: the paper's 3.9M / 312M (pinned exactly).
REFERENCE = [
    ("mnasnet0_5", 2_218_512, 0.104),
    ("mnasnet0_75", 3_170_208, 0.215),
    ("mnasnet1_0", 4_383_312, 0.314),
    ("mnasnet1_3", 6_282_256, 0.526),
    ("mnasnet_b1", 4_383_312, 0.314),
    ("mnasnet_a1", 3_887_038, 0.312),
]
SLOW = {"mnasnet0_75", "mnasnet1_3", "mnasnet_b1"}


@pytest.fixture(scope="module")
def built():
    cache = {}

    def get(name, **kwargs):
        key = (name, tuple(sorted(kwargs.items())))
        if key not in cache:
            cache[key] = kl.create_model(name, **kwargs)
        return cache[key]

    return get


@pytest.mark.parametrize(
    "name, params, gmacs",
    [pytest.param(*row, marks=pytest.mark.slow) if row[0] in SLOW else row for row in REFERENCE],
    ids=[row[0] for row in REFERENCE],
)
def test_counts_and_multiply_adds_equal_the_reference(name, params, gmacs, built):
    stats = profile(built(name))
    assert stats.trainable_params == params
    assert round(stats.macs / 1e9, 3) == gmacs


def _widths(model):
    """(stem, [output width of each stage], head) read off the layers."""
    stages = {}
    for layer in model.layers:
        if layer.name.startswith("block") and layer.name.endswith("_project_conv"):
            stages.setdefault(layer.name[5], []).append(layer.filters)
    return model.get_layer("stem_conv").filters, [(v[0], len(v)) for v in stages.values()], model.get_layer("top_conv").filters


def test_width_multiplier_scales_as_torchvision(built):
    """torchvision's _get_depths(0.5) = [16, 8, 16, 24, 40, 48, 96, 160]; the head stays
    1280; stacks of 1, 3, 3, 3, 2, 4, 1 blocks."""
    assert _widths(built("mnasnet0_5")) == (
        16, [(8, 1), (16, 3), (24, 3), (40, 3), (48, 2), (96, 4), (160, 1)], 1280
    )


def test_a1_has_se_in_three_stages_sized_from_the_block_input(built):
    model = built("mnasnet_a1")
    assert _widths(model) == (32, [(16, 1), (24, 2), (40, 3), (80, 4), (112, 2), (160, 3), (320, 1)], 1280)
    reduce = {layer.name[: -len("_se_reduce")]: layer.filters for layer in model.layers if layer.name.endswith("_se_reduce")}
    assert sorted({name[5] for name in reduce}) == ["3", "5", "6"]
    # A quarter of the block's input width, floored: 24 -> 6, 40 -> 10, 80 -> 20, 112 -> 28.
    assert (reduce["block3a"], reduce["block3b"], reduce["block5a"], reduce["block5b"], reduce["block6a"]) == (6, 10, 20, 28, 28)
    assert model.get_layer("block3a_se_expand").filters == 24 * 3  # back to the expanded width
    assert model.get_layer("block3a_se_reduce_activation").__class__ is keras.layers.ReLU
    assert model.get_layer("block3a_se_expand_activation").get_config()["activation"] == "sigmoid"


def test_first_block_never_has_a_shortcut():
    """At width 0.1 the stem and the first block are both 8 wide; the authors' "noskip"
    (and torchvision's plain separable conv) still has no shortcut there."""
    model = kl.MnasNetB1(alpha=0.1, input_shape=(32, 32, 3), classes=3)
    assert model.get_layer("stem_conv").filters == model.get_layer("block1a_project_conv").filters == 8
    names = {layer.name for layer in model.layers}
    assert "block1a_add" not in names and "block2b_add" in names


def test_input_normalization_is_imagenets(photos):
    model = kl.MnasNetA1(input_shape=(64, 64, 3), include_top=False)
    rescale = keras.Model(model.inputs, model.get_layer("rescaling").output)
    x = photos(64).astype("float32")
    expected = (x / 255.0 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    np.testing.assert_allclose(run(rescale, x), expected, atol=1e-5)
    features = kl.MnasNetA1(input_shape=(128, 128, 3), features_only=True, out_strides=(2, 4, 8, 16, 32))
    assert [tuple(t.shape[1:]) for t in features.outputs] == [
        (64, 64, 16), (32, 32, 24), (16, 16, 40), (8, 8, 112), (4, 4, 1280)
    ]


def test_round_trips_in_safe_mode_and_loads_by_name(photos, tmp_path):
    model = kl.MnasNetA1(alpha=0.5, input_shape=(32, 32, 3), classes=4)
    rng = np.random.RandomState(0)
    for layer in model.layers:  # non-trivial statistics, so a lost weight would show
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([gamma, beta, rng.normal(0, 0.1, mean.shape), rng.uniform(0.5, 1.5, var.shape)])
    path = tmp_path / "mnasnet.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    images = photos(32).astype("float32")
    np.testing.assert_array_equal(run(loaded, images), run(model, images))
    again = kl.MnasNetA1(alpha=0.5, input_shape=(32, 32, 3), classes=4, weights=str(path))
    np.testing.assert_array_equal(run(again, images), run(model, images))


@pytest.mark.slow
def test_trains_on_real_digits():
    keras.utils.set_random_seed(3)
    (x, y), _ = load_digits(image_size=32, num_classes=4)
    model = kl.create_model("mnasnet0_5", input_shape=(32, 32, 3), classes=4)
    model.compile(keras.optimizers.Adam(2e-3), "sparse_categorical_crossentropy")
    losses = model.fit(x, y, batch_size=32, epochs=3, verbose=0).history["loss"]
    at_most("mnasnet0_5: last / first epoch loss", losses[-1] / losses[0], 0.5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"alpha": 0}, "alpha"),
        ({"alpha": "big"}, "alpha"),
        ({"input_shape": (16, 16, 3)}, r"at least 32x32"),
        ({"weights": "imagenet"}, r"published for PyTorch \(torchvision\)"),
        ({"dropout_rate": 1.5}, r"dropout_rate.*\[0, 1\)"),
        ({"include_top": False, "pooling": "sum"}, "pooling"),
        ({"input_shape": (96, 96, 3), "features_only": True, "out_strides": (64,)}, "out_strides"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        kl.MnasNetA1(**kwargs)


def test_registry_figures():
    a1 = kl.model_info("mnasnet_a1")
    assert (a1.paper_params_m, a1.paper_macs_m, a1.arxiv) == (3.9, 312, "1807.11626")
    assert kl.model_info("mnasnet1_0").defaults == {"alpha": 1.0}
    assert mnasnet.MNASNET_B1.head == 1280 and not mnasnet.MNASNET_B1.scale_head
