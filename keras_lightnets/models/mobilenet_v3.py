"""MobileNetV3 (Howard et al., "Searching for MobileNetV3", ICCV 2019, arXiv:1905.02244).

The block tables are Tables 1 and 2 of the paper. Layer names and channel rounding
follow keras.applications.MobileNetV3{Large,Small} (itself a port of the paper
authors' TF-slim code), so its weight files load into this model with equal
outputs. Two deliberate differences in the graph, neither touching weights or
outputs: the squeeze-excite gate is a hard-sigmoid *layer* (keras.applications
builds it from raw `x + 3` and `* 1/6` ops, which become TFOpLambda layers that
tensorflow-model-optimization rejects), and stride-2 depthwise convolutions use
"same" padding rather than an explicit ZeroPadding2D (identical for any static
input size, one op fewer on device).
"""

from keras import layers

from keras_lightnets.layers.blocks import activation
from keras_lightnets.layers.blocks import conv_bn_act
from keras_lightnets.layers.blocks import make_divisible
from keras_lightnets.layers.inverted_residual import BlockNaming
from keras_lightnets.models import _common
from keras_lightnets.models._inverted_residual_net import Block
from keras_lightnets.models._inverted_residual_net import Family
from keras_lightnets.models._inverted_residual_net import walk_blocks
from keras_lightnets.registry import register_model
from keras_lightnets.weights import KERAS_APPLICATIONS_URL
from keras_lightnets.weights import WeightFile

RE, HS = "relu", "hard_swish"

# Table 1: MobileNetV3-Large.
LARGE_TABLE = (
    # kernel, exp size, out, SE,   NL, stride
    (3, 16, 16, False, RE, 1),
    (3, 64, 24, False, RE, 2),
    (3, 72, 24, False, RE, 1),
    (5, 72, 40, True, RE, 2),
    (5, 120, 40, True, RE, 1),
    (5, 120, 40, True, RE, 1),
    (3, 240, 80, False, HS, 2),
    (3, 200, 80, False, HS, 1),
    (3, 184, 80, False, HS, 1),
    (3, 184, 80, False, HS, 1),
    (3, 480, 112, True, HS, 1),
    (3, 672, 112, True, HS, 1),
    (5, 672, 160, True, HS, 2),
    (5, 960, 160, True, HS, 1),
    (5, 960, 160, True, HS, 1),
)
# Table 2: MobileNetV3-Small.
SMALL_TABLE = (
    (3, 16, 16, True, RE, 2),
    (3, 72, 24, False, RE, 2),
    (3, 88, 24, False, RE, 1),
    (5, 96, 40, True, HS, 2),
    (5, 240, 40, True, HS, 1),
    (5, 240, 40, True, HS, 1),
    (5, 120, 48, True, HS, 1),
    (5, 144, 48, True, HS, 1),
    (5, 288, 96, True, HS, 2),
    (5, 576, 96, True, HS, 1),
    (5, 576, 96, True, HS, 1),
)
STEM_FILTERS = 16
LAST_POINT_FILTERS = {"large": 1280, "small": 1024}  # the 1x1 "NBN" conv after pooling
SE_RATIO = 0.25  # squeeze to 1/4 of the expansion layer (section 5.3)


def blocks_from_table(table, minimalistic=False):
    """Turns a paper table into Blocks. Expansion is kept as the paper's ratio to the
    block's input width, so width multipliers scale it as the reference does.

    Minimalistic (the authors' TF-slim variant): 3x3 kernels, no SE, ReLU only.
    """
    blocks, in_filters = [], STEM_FILTERS
    for kernel, exp, out, se, nl, stride in table:
        blocks.append(Block(
            kernel=3 if minimalistic else kernel,
            expansion=exp / in_filters,
            out=out,
            se_ratio=SE_RATIO if se and not minimalistic else None,
            act=RE if minimalistic else nl,
            stride=stride,
        ))
        in_filters = out
    return tuple(blocks)


FAMILY = Family(
    naming=BlockNaming(
        prefix=lambda i: f"expanded_conv_{i}_" if i else "expanded_conv_",
        suffixes={
            "se_pool": "squeeze_excite_avg_pool",
            "se_reduce": "squeeze_excite_conv",
            "se_reduce_act": "squeeze_excite_relu",
            "se_expand": "squeeze_excite_conv_1",
            "se_gate": "squeeze_excite_hard_sigmoid",
            "se_scale": "squeeze_excite_mul",
        },
    ),
    round_filters=lambda filters, alpha: make_divisible(filters * alpha),
)

_WEIGHT_HASHES = {  # keras.applications' (with top, without top) file hashes
    "large_224_0.75_float": ("765b44a33ad4005b3ac83185abf1d0eb", "40af19a13ebea4e2ee0c676887f69a2e"),
    "large_224_1.0_float": ("59e551e166be033d707958cf9e29a6a7", "07fb09a5933dd0c8eaafa16978110389"),
    "large_minimalistic_224_1.0_float": ("675e7b876c45c57e9e63e6d90a36599c", "ec5221f64a2f6d1ef965a614bdae7973"),
    "small_224_0.75_float": ("cb65d4e5be93758266aa0a7f2c6708b7", "ebdb5cc8e0b497cd13a7c275d475c819"),
    "small_224_1.0_float": ("8768d4c2e7dee89b9d02b2d03d65d862", "d3e8ec802a04aa4fc771ee12a9a9b836"),
    "small_minimalistic_224_1.0_float": ("99cd97fb2fcdad2bf028eb838de69e37", "cde8136e733e811080d9fcd8a252f7e4"),
}


def _weights_key(model_type, alpha, minimalistic):
    return f"{model_type}{'_minimalistic' if minimalistic else ''}_224_{float(alpha)}_float"


def imagenet_weights(model_type, alpha, minimalistic, include_top):
    key = _weights_key(model_type, alpha, minimalistic)
    with_top, no_top = _WEIGHT_HASHES[key]
    name = f"weights_mobilenet_v3_{key}.h5" if include_top else f"weights_mobilenet_v3_{key}_no_top_v2.h5"
    return WeightFile(name, KERAS_APPLICATIONS_URL + "mobilenet_v3/" + name, with_top if include_top else no_top)


def _mobilenet_v3(
    model_type, input_shape, alpha, minimalistic, include_top, weights, input_tensor, classes,
    pooling, dropout_rate, classifier_activation, include_preprocessing, name, features_only, out_strides,
):
    _common.check_channels_last()
    _common.check_alpha(alpha)
    _common.check_pooling(pooling)
    has_top = include_top and not features_only
    published = _weights_key(model_type, alpha, minimalistic) in _WEIGHT_HASHES
    _common.check_weights(
        weights, has_top, classes,
        available=None if published else "alpha must be 0.75 or 1.0 (1.0 only when minimalistic)",
    )
    image, inputs = _common.resolve_input(input_shape, input_tensor, default_size=224, weights=weights, static_default=False)
    act = RE if minimalistic else HS
    table = LARGE_TABLE if model_type == "large" else SMALL_TABLE

    taps = _common.FeatureTaps()
    x = _common.preprocessing(image) if include_preprocessing else image
    x = conv_bn_act(x, STEM_FILTERS, 3, strides=2, act=act, name="conv")
    x, stride = walk_blocks(x, blocks_from_table(table, minimalistic), alpha, FAMILY, taps, stride=2)
    x = conv_bn_act(x, make_divisible(x.shape[-1] * 6), 1, act=act, name="conv_1")
    taps.record(x, stride)

    if has_top:
        last_point = LAST_POINT_FILTERS[model_type]
        last_point = make_divisible(last_point * alpha) if alpha > 1.0 else last_point
        x = layers.GlobalAveragePooling2D(keepdims=True, name="global_average_pooling2d")(x)
        x = layers.Conv2D(last_point, 1, padding="same", use_bias=True, name="conv_2")(x)
        x = activation(x, act, f"conv_2_{act}")
        if dropout_rate > 0:
            x = layers.Dropout(dropout_rate, name="dropout")(x)
        x = layers.Conv2D(classes, 1, padding="same", name="logits")(x)
        x = layers.Flatten(name="flatten")(x)
        x = layers.Activation(classifier_activation, name="predictions")(x)
    else:
        x = _common.pool(x, pooling)

    return _common.finish(
        inputs, x,
        name=name,
        weights=weights,
        imagenet_file=imagenet_weights(model_type, alpha, minimalistic, has_top) if published else None,
        taps=taps, features_only=features_only, out_strides=out_strides,
    )


_ARGS_DOC = """
    Args:
        input_shape: (height, width, channels), spatial size 32 or more (the
            resolution multiplier). Default: open spatial dims (None, None, 3), as
            keras.applications; give a size for TFLite conversion or profiling.
        alpha: width multiplier; channels are scaled and rounded to multiples of 8.
        minimalistic: the authors' variant without SE, hard-swish or 5x5 kernels.
        include_top: add the pooled 1x1-conv classifier of the paper.
        weights: None, "imagenet" (keras.applications' published files: alpha 0.75
            or 1.0, minimalistic 1.0) or the path of a weights file.
        input_tensor: optional Keras tensor to build the model on.
        classes: classifier width.
        pooling: None, "avg" or "max", for include_top=False.
        dropout_rate: dropout before the logits (0.2 as the paper's 0.8 keep prob).
        classifier_activation: activation of the classifier, None for logits.
        include_preprocessing: the model takes [0, 255] pixels and rescales them.
        name: model name.
        features_only: return the backbone's feature maps at `out_strides`
            (strides 2, 4, 8, 16, 32) instead of the classifier.
    """


def MobileNetV3Large(
    input_shape=None, alpha=1.0, minimalistic=False, include_top=True, weights=None,
    input_tensor=None, classes=1000, pooling=None, dropout_rate=0.2, classifier_activation="softmax",
    include_preprocessing=True, name="MobileNetV3Large", features_only=False,
    out_strides=_common.DEFAULT_OUT_STRIDES,
):
    return _mobilenet_v3(
        "large", input_shape, alpha, minimalistic, include_top, weights, input_tensor, classes, pooling,
        dropout_rate, classifier_activation, include_preprocessing, name, features_only, out_strides,
    )


def MobileNetV3Small(
    input_shape=None, alpha=1.0, minimalistic=False, include_top=True, weights=None,
    input_tensor=None, classes=1000, pooling=None, dropout_rate=0.2, classifier_activation="softmax",
    include_preprocessing=True, name="MobileNetV3Small", features_only=False,
    out_strides=_common.DEFAULT_OUT_STRIDES,
):
    return _mobilenet_v3(
        "small", input_shape, alpha, minimalistic, include_top, weights, input_tensor, classes, pooling,
        dropout_rate, classifier_activation, include_preprocessing, name, features_only, out_strides,
    )


MobileNetV3Large.__doc__ = "MobileNetV3-Large, with keras.applications' signature and layer names.\n" + _ARGS_DOC
MobileNetV3Small.__doc__ = "MobileNetV3-Small, with keras.applications' signature and layer names.\n" + _ARGS_DOC

_PAPER = "Searching for MobileNetV3 (ICCV 2019)"
_SLIM = "the authors' checkpoint table (tensorflow/models slim)"
_NOTE_SMALL_MINIMALISTIC = (
    "The checkpoint table counts 65M MACs, but it counts 66M for MobileNetV3-Small where the "
    "paper says 56M; by the paper's convention (ours: 56.5M for Small) minimalistic Small is 52.3M, "
    "as keras.applications.MobileNetV3Small(minimalistic=True) profiles."
)
for _name, _builder, _defaults, _params, _macs, _source, _note in (
    # Paper Table 3 (1.0 and 0.75); the authors' checkpoint table for minimalistic.
    ("mobilenet_v3_large", MobileNetV3Large, {}, 5.4, 219, "paper", ""),
    ("mobilenet_v3_large_075", MobileNetV3Large, {"alpha": 0.75}, 4.0, 155, "paper", ""),
    ("mobilenet_v3_large_minimalistic", MobileNetV3Large, {"minimalistic": True}, 3.9, 209, _SLIM, ""),
    ("mobilenet_v3_small", MobileNetV3Small, {}, 2.5, 56, "paper", ""),
    ("mobilenet_v3_small_075", MobileNetV3Small, {"alpha": 0.75}, 2.0, 44, "paper", ""),
    ("mobilenet_v3_small_minimalistic", MobileNetV3Small, {"minimalistic": True}, 2.0, 65, _SLIM,
     _NOTE_SMALL_MINIMALISTIC),
):
    register_model(
        _name, _builder, defaults=_defaults, family="mobilenet_v3", paper=_PAPER, arxiv="1905.02244",
        default_size=224, paper_params_m=_params, paper_macs_m=_macs, figures_source=_source, note=_note,
        reference=f"keras.applications.{_builder.__name__}",
    )
