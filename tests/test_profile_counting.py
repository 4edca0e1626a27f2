"""keras_lightnets.profiling (kl.profile): MAC and parameter counts against the papers and by hand."""

import json
import math

import keras
import pytest
from keras import layers

from keras_lightnets.profiling import Profile
from keras_lightnets.profiling import profile


def _model(inputs, outputs):
    return keras.Model(inputs, outputs)


# (builder, build kwargs, profile input_shape, published MACs at that size).
# MobileNetV3 is built with open (None) spatial dims, so it needs input_shape.
PUBLISHED = {
    "MobileNet": (keras.applications.MobileNet, {}, None, 569e6),
    "MobileNet_0.5_160": (keras.applications.MobileNet, {"alpha": 0.5, "input_shape": (160, 160, 3)}, None, 76e6),
    "MobileNetV2": (keras.applications.MobileNetV2, {}, None, 300e6),
    "MobileNetV3Large": (keras.applications.MobileNetV3Large, {}, (224, 224, 3), 219e6),
    "MobileNetV3Small": (keras.applications.MobileNetV3Small, {}, (224, 224, 3), 56e6),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_macs(name):
    builder, kwargs, input_shape, published = PUBLISHED[name]
    model = builder(weights=None, **kwargs)
    stats = profile(model, input_shape=input_shape)

    assert isinstance(stats, Profile)
    assert stats.macs == pytest.approx(published, rel=0.03)
    assert stats.params == model.count_params()
    assert stats.input_shape == (input_shape or kwargs.get("input_shape", (224, 224, 3)))
    assert stats.other_flops > 0  # BN, activations, adds: reported, not counted as MACs


def test_mobilenet_params_match_keras_and_paper():
    model = keras.applications.MobileNet(weights=None)
    stats = profile(model)
    assert stats.params == model.count_params()
    assert stats.trainable_params == sum(math.prod(w.shape) for w in model.trainable_weights)
    assert stats.non_trainable_params == sum(math.prod(w.shape) for w in model.non_trainable_weights)
    # The paper's 4.2M excludes batch norm's moving statistics (non-trainable).
    assert stats.trainable_params == pytest.approx(4.23e6, rel=0.01)
    assert stats.mparams == stats.params / 1e6
    assert stats.mmacs == stats.macs / 1e6
    assert stats.gmacs == stats.macs / 1e9
    assert str(stats) == "mobilenet_1.00_224: 4.25M params, 569M MACs @ 224x224x3"


def test_tiny_model_by_hand():
    x = keras.Input((8, 8, 3))
    y = layers.Conv2D(4, 3, padding="same")(x)
    y = layers.DepthwiseConv2D(3, padding="same")(y)
    y = layers.Conv2D(6, 1, groups=2)(y)
    y = layers.GlobalAveragePooling2D()(y)
    y = layers.Dense(5)(y)
    stats = profile(_model(x, y))

    conv = 8 * 8 * (3 * 3 * 3) * 4  # out positions * kernel * in_ch * out_ch
    depthwise = 8 * 8 * (3 * 3) * 4  # out positions * kernel * channels
    grouped = 8 * 8 * (1 * 1 * 4 // 2) * 6  # each output sees in_ch / groups channels
    dense = 6 * 5
    assert stats.macs == conv + depthwise + grouped + dense == 10014

    params = (3 * 3 * 3 * 4 + 4) + (3 * 3 * 4 + 4) + (1 * 1 * 2 * 6 + 6) + (6 * 5 + 5)
    assert stats.params == stats.trainable_params == params == 205
    assert stats.non_trainable_params == 0


def test_separable_conv():
    x = keras.Input((8, 8, 3))
    y = layers.SeparableConv2D(8, 3, padding="same", depth_multiplier=2)(x)
    stats = profile(_model(x, y))
    depthwise = 8 * 8 * (3 * 3) * 3 * 2
    pointwise = 8 * 8 * (3 * 2) * 8
    assert stats.macs == depthwise + pointwise
    assert stats.params == 3 * 3 * 3 * 2 + 3 * 2 * 8 + 8


def test_dense_counts_once_per_position():
    x = keras.Input((10, 16))
    stats = profile(_model(x, layers.Dense(32)(x)))
    assert stats.macs == 10 * 16 * 32


def test_multi_head_attention():
    x = keras.Input((10, 16))
    y = layers.MultiHeadAttention(num_heads=2, key_dim=8)(x, x)
    stats = profile(_model(x, y))
    heads, key_dim, seq, dim = 2, 8, 10, 16
    projections = 3 * seq * dim * (heads * key_dim)  # q, k, v
    output = seq * (heads * key_dim) * dim
    attention = 2 * heads * seq * seq * key_dim  # QK^T and AV
    assert stats.macs == projections + output + attention


def test_other_conv_and_einsum_layers():
    x = keras.Input((12, 4))
    assert profile(_model(x, layers.Conv1D(8, 3, groups=2)(x))).macs == 10 * 3 * (4 // 2) * 8
    assert profile(_model(x, layers.DepthwiseConv1D(3, depth_multiplier=2)(x))).macs == 10 * 3 * 4 * 2
    # Transposed conv: every input position scatters a full kernel.
    x = keras.Input((5, 5, 4))
    assert profile(_model(x, layers.Conv2DTranspose(3, 2, strides=2)(x))).macs == 5 * 5 * (2 * 2) * 4 * 3
    x = keras.Input((6, 5))
    y = layers.EinsumDense("abc,cd->abd", output_shape=(None, 7))(x)
    assert profile(_model(x, y)).macs == 6 * 5 * 7


def test_nested_model_counts_inner_macs_at_call_shape():
    # Inner model built with open dims; the outer graph fixes them.
    inner_in = keras.Input((None, None, 3))
    inner = keras.Model(inner_in, layers.Conv2D(4, 3)(inner_in), name="inner")
    x = keras.Input((16, 16, 3))
    y = layers.GlobalAveragePooling2D()(inner(x))
    y = layers.Dense(2)(y)
    stats = profile(_model(x, y), per_layer=True)

    assert stats.macs == 14 * 14 * (3 * 3 * 3) * 4 + 4 * 2
    assert stats.params == (3 * 3 * 3 * 4 + 4) + (4 * 2 + 2)
    assert "inner/" in stats.summary()


def test_shared_layer_counts_each_call():
    a, b = keras.Input((8,)), keras.Input((8,))
    shared = layers.Dense(4)
    stats = profile(_model([a, b], layers.Add()([shared(a), shared(b)])), per_layer=True)
    assert stats.macs == 2 * 8 * 4
    assert stats.params == 8 * 4 + 4
    # The params go on the first call only, so the column still sums to the total.
    assert sum(row.params for row in stats.layers) == stats.params
    assert stats.input_shape == ((8,), (8,))


def test_sequential_counts_its_current_graph_only():
    # add() rebuilds the graph; the first Dense keeps a node from the old one.
    model = keras.Sequential([keras.Input((4,)), layers.Dense(3)])
    model.add(layers.Dense(2))
    assert profile(model).macs == 4 * 3 + 3 * 2


def test_open_dims_need_input_shape():
    model = keras.applications.MobileNetV3Small(weights=None)
    with pytest.raises(ValueError, match="input_shape"):
        profile(model)


def test_input_shape_overrides_a_defined_input():
    x = keras.Input((8, 8, 3))
    model = _model(x, layers.Conv2D(4, 3, padding="same")(x))
    assert profile(model).macs == 8 * 8 * 27 * 4
    stats = profile(model, input_shape=(16, 16, 3))
    assert stats.macs == 16 * 16 * 27 * 4
    assert stats.input_shape == (16, 16, 3)
    with pytest.raises(ValueError, match="input_shape"):
        profile(model, input_shape=(16, 16))


def test_per_layer_rows_sum_to_totals():
    model = keras.applications.MobileNetV2(weights=None, alpha=0.35, input_shape=(96, 96, 3))
    stats = profile(model, per_layer=True)

    assert stats.layers and sum(row.macs for row in stats.layers) == stats.macs
    assert sum(row.params for row in stats.layers) == stats.params
    assert profile(model).layers == []

    table = stats.summary()
    for name in ("Conv1", "expanded_conv_depthwise", "block_16_project", "predictions"):
        assert name in table
    by_name = {row.name: row for row in stats.layers}
    assert by_name["Conv1"].output_shape == (48, 48, 16)

    data = json.loads(json.dumps(stats.to_dict()))
    assert data["macs"] == stats.macs and len(data["layers"]) == len(stats.layers)
