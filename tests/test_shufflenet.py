"""ShuffleNet V1 and V2: layer names, weight shapes and parameter counts against
the reference definitions (torchvision's ShuffleNetV2, the authors' ShuffleNetV1,
transliterated below), multiply-adds against the papers, the channel shuffle and
split against numpy, whole units against a numpy forward pass, backbone mode,
any input size, safe round trip, training, and the errors of bad arguments."""

import math

import keras
import numpy as np
import pytest

import keras_lightnets as kl
from keras_lightnets.data import load_digits
from keras_lightnets.layers.shuffle import ChannelShuffle
from keras_lightnets.layers.shuffle import ChannelSplit
from keras_lightnets.models import shufflenet
from keras_lightnets.profiling import profile
from keras_lightnets.registry import create_model

from figures import at_least  # tests/figures.py: bounds on trained figures, measured across seeds
from figures import at_most

def run(model, x):
    """Inference without predict(): an eager call, so no tf.function trace per test."""
    return keras.ops.convert_to_numpy(model(x, training=False))


# --- the reference definitions, as {state_dict name: shape} of their nn.Parameters ---


class _StateDict(dict):
    def conv(self, name, cin, cout, kernel, groups=1):
        self[f"{name}.weight"] = (cout, cin // groups, kernel, kernel)

    def bn(self, name, channels):
        self[f"{name}.weight"] = self[f"{name}.bias"] = (channels,)


def torchvision_shufflenet_v2(repeats, channels, classes=1000):
    """torchvision/models/shufflenetv2.py: ShuffleNetV2(stages_repeats, stages_out_channels)."""
    p, cin = _StateDict(), 3
    p.conv("conv1.0", cin, channels[0], 3)
    p.bn("conv1.1", channels[0])
    cin = channels[0]
    for stage, (n, oup) in enumerate(zip(repeats, channels[1:4])):
        half = oup // 2
        for i in range(n):
            prefix = f"stage{stage + 2}.{i}"
            if i == 0:  # stride 2: branch1 = dw(inp) bn pw(inp -> half) bn relu
                p.conv(f"{prefix}.branch1.0", cin, cin, 3, groups=cin)
                p.bn(f"{prefix}.branch1.1", cin)
                p.conv(f"{prefix}.branch1.2", cin, half, 1)
                p.bn(f"{prefix}.branch1.3", half)
            p.conv(f"{prefix}.branch2.0", cin if i == 0 else half, half, 1)
            p.bn(f"{prefix}.branch2.1", half)
            p.conv(f"{prefix}.branch2.3", half, half, 3, groups=half)
            p.bn(f"{prefix}.branch2.4", half)
            p.conv(f"{prefix}.branch2.5", half, half, 1)
            p.bn(f"{prefix}.branch2.6", half)
            cin = oup
    p.conv("conv5.0", cin, channels[4], 1)
    p.bn("conv5.1", channels[4])
    p["fc.weight"], p["fc.bias"] = (classes, channels[4]), (classes,)
    return p


def authors_shufflenet_v1(group, stage_out_channels, classes=1000):
    """megvii-model/ShuffleNet-Series ShuffleNetV1/network.py + blocks.py."""
    p = _StateDict()
    cin = stage_out_channels[0]
    p.conv("first_conv.0", 3, cin, 3)
    p.bn("first_conv.1", cin)
    index = 0
    for stage, oup in enumerate(stage_out_channels[1:]):
        for i in range((4, 8, 4)[stage]):
            prefix, mid = f"features.{index}", oup // 4
            outputs = oup - cin if i == 0 else oup
            p.conv(f"{prefix}.branch_main_1.0", cin, mid, 1, groups=1 if stage == 0 and i == 0 else group)
            p.bn(f"{prefix}.branch_main_1.1", mid)
            p.conv(f"{prefix}.branch_main_1.3", mid, mid, 3, groups=mid)
            p.bn(f"{prefix}.branch_main_1.4", mid)
            p.conv(f"{prefix}.branch_main_2.0", mid, outputs, 1, groups=group)
            p.bn(f"{prefix}.branch_main_2.1", outputs)
            cin, index = oup, index + 1
    p["classifier.0.weight"] = (classes, stage_out_channels[-1])  # bias=False
    return p


def in_torch_layout(model, keep=("first_conv", "branch_main_1", "branch_main_2")):
    """Our trainable weights as {torch state_dict name: torch shape}: layer name with
    `_` -> `.` (except inside torch's own names in `keep`), Keras kernels transposed."""
    out = {}
    for layer in model.layers:
        name = layer.name
        for i, token in enumerate(keep):
            name = name.replace(token, f"<{i}>")
        name = name.replace("_", ".")
        for i, token in enumerate(keep):
            name = name.replace(f"<{i}>", token)
        for w in layer.trainable_weights:
            shape = tuple(w.shape)
            role = w.path.split("/")[-1]
            if role == "kernel" and isinstance(layer, keras.layers.DepthwiseConv2D):
                out[f"{name}.weight"] = (shape[2] * shape[3], 1, shape[0], shape[1])
            elif role == "kernel" and isinstance(layer, keras.layers.Conv2D):
                out[f"{name}.weight"] = (shape[3], shape[2], shape[0], shape[1])
            elif role == "kernel":  # Dense
                out[f"{name}.weight"] = shape[::-1]
            else:
                out[f"{name}.{ {'gamma': 'weight', 'beta': 'bias', 'bias': 'bias'}[role] }"] = shape
    return out


def n_params(state):
    return sum(math.prod(s) for s in state.values())


# torchvision's published counts (ShuffleNet_V2_X*_Weights.meta["num_params"]), its
# stages_out_channels, and our exact MACs at 224 against Table 5's FLOPs.
V2 = [
    ("shufflenet_v2_x0_5", 1_366_792, (24, 48, 96, 192, 1024), 41),
    ("shufflenet_v2_x1_0", 2_278_604, (24, 116, 232, 464, 1024), 146),
    ("shufflenet_v2_x1_5", 3_503_624, (24, 176, 352, 704, 1024), 299),
    ("shufflenet_v2_x2_0", 7_393_996, (24, 244, 488, 976, 2048), 591),
]


@pytest.mark.parametrize(
    "name, published, channels, paper_macs_m",
    [pytest.param(*row, marks=pytest.mark.slow) if row[0] in ("shufflenet_v2_x1_5", "shufflenet_v2_x2_0") else row for row in V2],
    ids=[row[0] for row in V2],
)
def test_v2_equals_torchvision_layer_by_layer(name, published, channels, paper_macs_m):
    reference = torchvision_shufflenet_v2((4, 8, 4), channels)
    assert n_params(reference) == published  # the transliteration is torchvision's network
    model = create_model(name, include_preprocessing=False)
    assert in_torch_layout(model) == reference  # same names, same shapes
    stats = profile(model)
    assert stats.trainable_params == published
    assert stats.macs / 1e6 == pytest.approx(paper_macs_m, rel=0.015)  # Table 5, within 1.5%


# The authors' stage_out_channels tables (group 3 and 8), and their README's figures.
V1_AUTHORS = [
    ("shufflenet_v1_g3", 3, 1.0, (24, 240, 480, 960), 1_864_728, 138),
    ("shufflenet_v1_g8", 8, 1.0, (24, 384, 768, 1536), 2_433_768, 138),
    ("shufflenet_v1_g3_x0_5", 3, 0.5, (12, 120, 240, 480), 717_324, 38),
    ("shufflenet_v1_g3_x1_5", 3, 1.5, (24, 360, 720, 1440), 3_441_168, 292),
    ("shufflenet_v1_g3_x2_0", 3, 2.0, (48, 480, 960, 1920), 5_449_776, 524),
    (None, 8, 0.5, (16, 192, 384, 768), 1_010_448, 40),  # not registered: the stem rounds up to 16
]


@pytest.mark.parametrize(
    "name, groups, scale, channels, expected, readme_macs_m",
    [pytest.param(*row, marks=pytest.mark.slow) if row[0] in ("shufflenet_v1_g3_x1_5", "shufflenet_v1_g3_x2_0") else row
     for row in V1_AUTHORS],
    ids=[f"g{row[1]}_x{row[2]}" for row in V1_AUTHORS],
)
def test_v1_equals_the_authors_network(name, groups, scale, channels, expected, readme_macs_m):
    reference = authors_shufflenet_v1(groups, channels)
    assert n_params(reference) == expected
    model = kl.ShuffleNetV1(groups=groups, scale=scale, input_shape=(224, 224, 3), include_preprocessing=False)
    assert in_torch_layout(model) == reference
    stats = profile(model)
    assert stats.trainable_params == expected
    assert stats.macs / 1e6 == pytest.approx(readme_macs_m, rel=0.02)
    if name:
        assert create_model(name).count_params() == model.count_params()


def test_v1_table_1_channels_and_stems():
    """Table 1's rows, scaled; the stem follows the authors' code, rounded up to g."""
    assert shufflenet.v1_channels(1, 1.0) == (24, (144, 288, 576))
    assert shufflenet.v1_channels(2, 2.0) == (48, (400, 800, 1600))
    assert shufflenet.v1_channels(4, 1.0) == (24, (272, 544, 1088))
    assert shufflenet.v1_channels(8, 0.5) == (16, (192, 384, 768))
    assert shufflenet.v1_channels(8, 1.5) == (24, (576, 1152, 2304))


def test_v1_first_pointwise_is_ungrouped_and_stride_2_units_concatenate_avg_pool():
    model = kl.ShuffleNetV1(groups=4, input_shape=(64, 64, 3), classes=10)
    convs = {layer.name: layer for layer in model.layers if type(layer) is keras.layers.Conv2D}
    assert convs["features_0_branch_main_1_0"].groups == 1  # stage 2's first pointwise
    assert all(convs[f"features_{i}_branch_main_1_0"].groups == 4 for i in range(1, 16))
    assert all(convs[f"features_{i}_branch_main_2_0"].groups == 4 for i in range(16))
    shuffles = [layer.name for layer in model.layers if isinstance(layer, ChannelShuffle)]
    assert shuffles == [f"features_{i}_shuffle" for i in range(1, 16)]
    pools = [layer.name for layer in model.layers if isinstance(layer, keras.layers.AveragePooling2D)]
    assert pools == ["features_0_branch_proj", "features_4_branch_proj", "features_12_branch_proj"]
    # The concatenation puts the pooled input first (out - in new channels after it).
    concat = model.get_layer("features_4_concat")
    assert [tuple(t.shape[1:]) for t in concat.input] == [(4, 4, 272), (4, 4, 544 - 272)]


# --- the channel shuffle and split ---------------------------------------------------


def numpy_channel_shuffle(x, groups):
    """The paper's definition: reshape channels to (g, n), transpose, flatten."""
    n = x.shape[-1] // groups
    return x.reshape(*x.shape[:-1], groups, n).swapaxes(-1, -2).reshape(x.shape)


@pytest.mark.parametrize("groups, channels", [(2, 8), (3, 12), (4, 8), (8, 24), (1, 5)])
def test_channel_shuffle_matches_numpy_reference(groups, channels):
    x = np.random.default_rng(groups).normal(size=(2, 3, 5, channels)).astype("float32")
    out = keras.ops.convert_to_numpy(ChannelShuffle(groups)(x))
    np.testing.assert_array_equal(out, numpy_channel_shuffle(x, groups))
    n = channels // groups
    for i in range(groups):  # output channel j * g + i is input channel i * n + j
        for j in range(n):
            np.testing.assert_array_equal(out[..., j * groups + i], x[..., i * n + j])


def test_channel_shuffle_with_open_spatial_dims_and_its_inverse():
    inputs = keras.Input((None, None, 12))
    shuffled = ChannelShuffle(3)(inputs)
    model = keras.Model(inputs, ChannelShuffle(4)(shuffled))  # (3, 4) then (4, 3): the identity
    for size in (4, 7):
        x = np.random.default_rng(size).normal(size=(2, size, size + 1, 12)).astype("float32")
        np.testing.assert_array_equal(run(model, x), x)
    assert ChannelShuffle.from_config(ChannelShuffle(3, name="s").get_config()).groups == 3


def test_channel_split_halves_in_order():
    x = np.arange(2 * 2 * 2 * 6, dtype="float32").reshape(2, 2, 2, 6)
    left, right = (keras.ops.convert_to_numpy(t) for t in ChannelSplit(2)(x))
    np.testing.assert_array_equal(left, x[..., :3])
    np.testing.assert_array_equal(right, x[..., 3:])


@pytest.mark.parametrize("layer, match", [
    (lambda: ChannelShuffle(3)(keras.Input((4, 4, 8))), "8 channels cannot be divided into 3"),
    (lambda: ChannelSplit(2)(keras.Input((4, 4, 5))), "5 channels cannot be divided into 2"),
    (lambda: ChannelShuffle(0), "`groups` must be a positive integer"),
    (lambda: ChannelShuffle(2.0), "`groups` must be a positive integer"),
    (lambda: ChannelShuffle(2)(keras.Input((4, 8))), "NHWC"),
])
def test_shuffle_layer_errors(layer, match):
    with pytest.raises(ValueError, match=match):
        layer()


# --- whole units against a numpy forward pass (PyTorch's padding and pooling) -------


def _np_bn(x, layer):
    gamma, beta, mean, var = layer.get_weights()
    return (x - mean) / np.sqrt(var + layer.epsilon) * gamma + beta


def _np_pointwise(x, layer):
    kernel = layer.get_weights()[0][0, 0]  # (cin / g, cout)
    parts = zip(np.split(x, layer.groups, -1), np.split(kernel, layer.groups, -1))
    return np.concatenate([xg @ kg for xg, kg in parts], -1)


def _windows(x, stride):
    """The 9 shifted views of a 3x3 window over x zero-padded by 1 (PyTorch's padding=1)."""
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    rows, cols = (x.shape[1] - 1) // stride + 1, (x.shape[2] - 1) // stride + 1
    for i in range(3):
        for j in range(3):
            yield i, j, padded[:, i : i + stride * (rows - 1) + 1 : stride, j : j + stride * (cols - 1) + 1 : stride]


def _np_depthwise(x, layer, stride):
    kernel = layer.get_weights()[0][..., 0]
    return sum(view * kernel[i, j] for i, j, view in _windows(x, stride))


def _np_avg_pool_count_include_pad(x):  # nn.AvgPool2d(3, 2, padding=1)
    return sum(view for _, _, view in _windows(x, 2)) / 9.0


def _relu(x):
    return np.maximum(x, 0)


def _unit_model(unit, input_channels, size, **kwargs):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((size, size, input_channels))
    model = keras.Model(inputs, unit(inputs, **kwargs))
    rng = np.random.default_rng(0)
    for layer in model.layers:  # non-trivial batch-norm statistics
        if isinstance(layer, keras.layers.BatchNormalization):
            c = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, c), rng.normal(0, 0.1, c), rng.normal(0, 0.1, c), rng.uniform(0.5, 2, c)])
    x = rng.normal(size=(2, size, size, input_channels)).astype("float32")
    return model, x, model.get_layer


@pytest.mark.parametrize("stride", [1, 2])
def test_v2_unit_equals_numpy_forward(stride):
    model, x, layer = _unit_model(shufflenet.shufflenet_v2_unit, 8, 8, out_channels=8 if stride == 1 else 16,
                                  stride=stride, prefix="u")
    if stride == 1:
        left, right = x[..., :4], x[..., 4:]
    else:
        left = _np_bn(_np_depthwise(x, layer("u_branch1_0"), 2), layer("u_branch1_1"))
        left = _relu(_np_bn(_np_pointwise(left, layer("u_branch1_2")), layer("u_branch1_3")))
        right = x
    right = _relu(_np_bn(_np_pointwise(right, layer("u_branch2_0")), layer("u_branch2_1")))
    right = _np_bn(_np_depthwise(right, layer("u_branch2_3"), stride), layer("u_branch2_4"))
    right = _relu(_np_bn(_np_pointwise(right, layer("u_branch2_5")), layer("u_branch2_6")))
    expected = numpy_channel_shuffle(np.concatenate([left, right], -1), 2)
    np.testing.assert_allclose(run(model, x), expected, atol=1e-5)


@pytest.mark.parametrize("stride", [1, 2])
def test_v1_unit_equals_numpy_forward(stride):
    out_channels = 12 if stride == 1 else 24
    model, x, layer = _unit_model(shufflenet.shufflenet_v1_unit, 12, 8, out_channels=out_channels, stride=stride,
                                  groups=3, first_groups=3, prefix="u")
    y = _relu(_np_bn(_np_pointwise(x, layer("u_branch_main_1_0")), layer("u_branch_main_1_1")))
    y = numpy_channel_shuffle(y, 3)
    y = _np_bn(_np_depthwise(y, layer("u_branch_main_1_3"), stride), layer("u_branch_main_1_4"))
    y = _np_bn(_np_pointwise(y, layer("u_branch_main_2_0")), layer("u_branch_main_2_1"))
    if stride == 1:
        expected = _relu(y + x)
    else:
        expected = np.concatenate([_np_avg_pool_count_include_pad(x), _relu(y)], -1)
    np.testing.assert_allclose(run(model, x), expected, atol=1e-5)


# --- backbone mode, sizes, round trip, training -----------------------------------------


@pytest.mark.parametrize("builder, channels", [
    (lambda **kw: kl.ShuffleNetV1(groups=8, scale=0.5, **kw), (16, 16, 192, 384, 768)),
    (kl.ShuffleNetV2x0_5, (24, 24, 48, 96, 1024)),
])
def test_backbone_mode_gives_multiscale_features(builder, channels):
    model = builder(input_shape=(64, 64, 3), features_only=True, out_strides=(2, 4, 8, 16, 32))
    assert [tuple(t.shape[1:]) for t in model.outputs] == [(64 // s, 64 // s, c) for s, c in zip((2, 4, 8, 16, 32), channels)]
    with pytest.raises(ValueError, match="out_strides"):
        builder(input_shape=(64, 64, 3), features_only=True, out_strides=(64,))


def test_open_sizes_from_32_and_the_minimum():
    model = kl.ShuffleNetV2(scale=0.5, classes=3)
    assert model.input_shape == (None, None, None, 3)
    for size in (32, 75):
        out = run(model, np.zeros((1, size, size, 3), "float32"))
        assert out.shape == (1, 3)
        np.testing.assert_allclose(out.sum(), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="at least 32x32"):
        kl.ShuffleNetV1(input_shape=(31, 31, 3))


def test_keras_file_round_trip_in_safe_mode_and_weights_by_path(photos, tmp_path):
    """ShuffleNet V2 holds both of our layers (ChannelShuffle, ChannelSplit)."""
    x = photos(64).astype("float32")
    model = kl.ShuffleNetV2x0_5(input_shape=(64, 64, 3), classes=5)
    path = tmp_path / "v2.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)  # no custom_objects
    np.testing.assert_array_equal(run(loaded, x), run(model, x))
    # The file also loads by layer name into the builder (weights=path), here as a backbone.
    backbone = kl.ShuffleNetV2x0_5(input_shape=(64, 64, 3), weights=str(path), features_only=True)
    features = keras.ops.convert_to_numpy(backbone(x, training=False)[-1])
    np.testing.assert_array_equal(features, run(keras.Model(model.input, model.get_layer("conv5_2").output), x))


@pytest.mark.parametrize("builder", [
    # V1's channel shuffle is V2's op; its fit runs in make test-all (CI's 30 minutes)
    pytest.param(lambda **kw: kl.ShuffleNetV1(groups=3, scale=0.5, **kw), marks=pytest.mark.slow),
    lambda **kw: kl.ShuffleNetV2(scale=0.5, **kw),
], ids=["v1_g3_x0_5", "v2_x0_5"])
def test_fit_reduces_loss_on_real_digits(builder):
    keras.utils.set_random_seed(1)
    (x, y), _ = load_digits(image_size=32, num_classes=5)
    x, y = x[:704], y[:704]  # whole batches of 32: a last, smaller batch would trace the step again
    model = builder(input_shape=(32, 32, 3), classes=5)
    model.compile(keras.optimizers.Adam(2e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=32, epochs=4, verbose=0)
    losses = history.history["loss"]
    at_most(f"shufflenet {model.name}: last / first epoch loss", losses[-1] / losses[0], 0.5)
    at_least(f"shufflenet {model.name}: last epoch accuracy", history.history["accuracy"][-1], 0.7)


def test_class_style_aliases_and_registry():
    assert kl.ShuffleNetV2x1_5.__name__ == "ShuffleNetV2x1_5" and "torchvision" in kl.ShuffleNetV2x1_5.__doc__
    assert kl.list_models("shufflenet_v2*") == ["shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0"]
    assert {"shufflenet_v1_g1", "shufflenet_v1_g3", "shufflenet_v1_g8"} <= set(kl.list_models("shufflenet_v1*"))
    info = kl.model_info("shufflenet_v1_g3")
    assert (info.paper_macs_m, info.defaults) == (137, {"groups": 3, "scale": 1.0})
    assert kl.model_info("shufflenet_v2_x1_0").reference == "torchvision.models.shufflenet_v2_x1_0"


@pytest.mark.parametrize("call, match", [
    (lambda: kl.ShuffleNetV1(groups=5), r"`groups` must be one of \(1, 2, 3, 4, 8\)"),
    (lambda: kl.ShuffleNetV1(groups=True), "`groups` must be one of"),
    (lambda: kl.ShuffleNetV1(scale=0.75), r"`scale` \(the width multiplier\) must be one of \(0.5, 1.0, 1.5, 2.0\)"),
    (lambda: kl.ShuffleNetV1(groups=2, scale=0.5), r"bottleneck of 25 channels, not divisible by groups=2.*scale in \[1.0, 2.0\]"),
    (lambda: kl.ShuffleNetV1(groups=4, scale=1.5), r"bottleneck of 102 channels, not divisible by groups=4"),
    (lambda: kl.ShuffleNetV2(scale=0.25), "`scale`"),
    (lambda: kl.ShuffleNetV2(scale="1x"), "`scale`"),
    (lambda: kl.ShuffleNetV2x1_0(scale=2.0), r"ShuffleNetV2x1_0 fixes \['scale'\]"),
    (lambda: kl.ShuffleNetV2(weights="imagenet"), "no ImageNet weights are published for ShuffleNet"),
    (lambda: kl.ShuffleNetV1(weights="no/such/file.h5"), "`weights` must be None"),
    (lambda: kl.ShuffleNetV2(dropout_rate=1.0), r"`dropout_rate` must be a number in \[0, 1\)"),
    (lambda: kl.ShuffleNetV2(pooling="sum", include_top=False), "`pooling` must be"),
])
def test_errors_name_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()
