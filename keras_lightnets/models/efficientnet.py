"""EfficientNet B0-B7 (Tan & Le, "EfficientNet: Rethinking Model Scaling for
Convolutional Neural Networks", ICML 2019, arXiv:1905.11946) and EfficientNet-Lite0-4
(the authors' tensorflow/tpu `lite` builder), on the shared inverted-residual builder.

B0 is Table 1 of the paper (strides and SE ratio from the authors' code); B1..B7 and
Lite1..4 are derived from it by `compound_scale` with the published coefficients.
Layer names, channel and repeat rounding, the SE width (a quarter of the block's
*input* width, floored), drop-connect and the input normalization follow
keras.applications.EfficientNetB*, so its weight files load into these models by
name and give the same outputs, and parameter counts are equal. Differences in the
graph, none touching weights or outputs: stride-2 convolutions use "same" padding
instead of an explicit ZeroPadding2D (identical for any static input size), the SE
squeeze keeps its spatial dims instead of a Reshape, and SE activations are their own
layers. The ImageNet input normalization is a Normalization layer holding the
ImageNet mean and variance; keras.applications' published files store the standard
deviation where the variance belongs (tensorflow/tensorflow#49930) and it corrects
them with an extra Rescaling, we correct the loaded variance instead.

Lite (no keras.applications counterpart): ReLU6, no SE, and the stem (32), the head
(1280) and the depth of the first and last stages stay fixed while scaling; inputs
are normalized as (x - 127) / 128 as in the authors' code.
"""

import dataclasses
import numbers
import re

import keras
import numpy as np
from keras import layers

from keras_lightnets.layers.blocks import conv_bn_act
from keras_lightnets.layers.inverted_residual import BlockNaming
from keras_lightnets.layers.inverted_residual import SqueezeExciteStyle
from keras_lightnets.layers.preprocessing import channel_statistics
from keras_lightnets.models import _common
from keras_lightnets.models._inverted_residual_net import Block
from keras_lightnets.models._inverted_residual_net import Family
from keras_lightnets.models._inverted_residual_net import walk_blocks
from keras_lightnets.models.scaling import ScalableNet
from keras_lightnets.models.scaling import Stage
from keras_lightnets.models.scaling import compound_scale
from keras_lightnets.registry import register_model
from keras_lightnets.weights import WeightFile
from keras_lightnets.weights import load_weights_by_name

# Table 1 of the paper: EfficientNet-B0 (stem conv3x3 32, head conv1x1 1280).
B0_STAGES = (
    #     kernel, expansion, out, repeats, stride, SE ratio
    Stage(3, 1, 16, 1, 1, 0.25),
    Stage(3, 6, 24, 2, 2, 0.25),
    Stage(5, 6, 40, 2, 2, 0.25),
    Stage(3, 6, 80, 3, 2, 0.25),
    Stage(5, 6, 112, 3, 1, 0.25),
    Stage(5, 6, 192, 4, 2, 0.25),
    Stage(3, 6, 320, 1, 1, 0.25),
)
EFFICIENTNET_B0 = ScalableNet(B0_STAGES, stem=32, head=1280, resolution=224)
# Lite: B0 without SE; stem, head and first/last stage depth not scaled ("fix_head_stem").
EFFICIENTNET_LITE0 = ScalableNet(
    tuple(dataclasses.replace(s, se_ratio=None) for s in B0_STAGES),
    stem=32, head=1280, resolution=224, scale_stem=False, scale_head=False, fixed_depth_stages=(0, -1),
)

# (width, depth, resolution, dropout) as released: efficientnet_builder.py and
# lite/efficientnet_lite_builder.py of tensorflow/tpu (keras.applications: the same).
COEFFICIENTS = {
    "b0": (1.0, 1.0, 224, 0.2),
    "b1": (1.0, 1.1, 240, 0.2),
    "b2": (1.1, 1.2, 260, 0.3),
    "b3": (1.2, 1.4, 300, 0.3),
    "b4": (1.4, 1.8, 380, 0.4),
    "b5": (1.6, 2.2, 456, 0.4),
    "b6": (1.8, 2.6, 528, 0.5),
    "b7": (2.0, 3.1, 600, 0.5),
    "lite0": (1.0, 1.0, 224, 0.2),
    "lite1": (1.0, 1.1, 240, 0.2),
    "lite2": (1.1, 1.2, 260, 0.3),
    "lite3": (1.2, 1.4, 280, 0.3),
    "lite4": (1.4, 1.8, 300, 0.3),
}


def scaled_table(variant):
    """The stage table of a released variant ("b3", "lite2", ...), by compound scaling."""
    width, depth, resolution, _ = COEFFICIENTS[variant]
    base = EFFICIENTNET_LITE0 if variant.startswith("lite") else EFFICIENTNET_B0
    return compound_scale(base, width=width, depth=depth, resolution=resolution)


SUFFIXES = {  # our block roles -> keras.applications' layer names
    "expand": "expand_conv",
    "expand_bn": "expand_bn",
    "expand_act": "expand_activation",
    "depthwise": "dwconv",
    "depthwise_bn": "bn",
    "depthwise_act": "activation",
    "se_pool": "se_squeeze",
    "se_reduce": "se_reduce",
    "se_reduce_act": "se_reduce_activation",
    "se_expand": "se_expand",
    "se_gate": "se_expand_activation",
    "se_scale": "se_excite",
    "project": "project_conv",
    "project_bn": "project_bn",
    "drop": "drop",
    "add": "add",
}
SE_STYLE = SqueezeExciteStyle(divisor=None, inner_act="swish", gate_act="sigmoid", from_input=True)
BN_EPSILON, BN_MOMENTUM = 1e-3, 0.99  # the authors' code and keras.applications

# ImageNet statistics of [0, 1] pixels (the authors' MEAN_RGB / STDDEV_RGB over 255).
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], "float32")
IMAGENET_STDDEV = np.array([0.229, 0.224, 0.225], "float32")

WEIGHTS_URL = "https://storage.googleapis.com/keras-applications/"
_WEIGHT_HASHES = {  # keras.applications' (with top, without top)
    "b0": ("902e53a9f72be733fc0bcb005b3ebbac", "50bc09e76180e00e4465e1a485ddc09d"),
    "b1": ("1d254153d4ab51201f1646940f018540", "74c4e6b3e1f6a1eea24c589628592432"),
    "b2": ("b15cce36ff4dcbd00b6dd88e7857a6ad", "111f8e2ac8aa800a7a99e3239f7bfb39"),
    "b3": ("ffd1fdc53d0ce67064dc6a9c7960ede0", "af6d107764bb5b1abb91932881670226"),
    "b4": ("18c95ad55216b8f92d7e70b3a046e2fc", "ebc24e6d6c33eaebbd558eafbeedf1ba"),
    "b5": ("ace28f2a6363774853a83a0b21b9421a", "38879255a25d3c92d5e44e04ae6cec6f"),
    "b6": ("165f6e37dce68623721b423839de8be5", "9ecce42647a20130c1f39a5d4cb75743"),
    "b7": ("8c03f828fec3ef71311cd463b6759d99", "cbcfe4450ddf6f3ad90b1b398090fe4a"),
}


def imagenet_weights(variant, include_top):
    with_top, no_top = _WEIGHT_HASHES[variant]
    filename = f"efficientnet{variant}{'' if include_top else '_notop'}.h5"
    return WeightFile(filename, WEIGHTS_URL + filename, with_top if include_top else no_top)


def _stage_letters(j):
    """a, b, ..., z, then ba, bb, ... (keras.applications: chr(97 + j), j < 26)."""
    return chr(97 + j) if j < 26 else _stage_letters(j // 26) + chr(97 + j % 26)


def blocks_from_table(net: ScalableNet, act):
    """One Block per layer (stride on a stage's first) and its keras.applications
    name prefix: block{stage}{a, b, ...}_."""
    blocks, prefixes = [], []
    for i, stage in enumerate(net.stages):
        for j in range(stage.repeats):
            blocks.append(Block(
                kernel=stage.kernel, expansion=stage.expansion, out=stage.out, se_ratio=stage.se_ratio,
                act=act, stride=stage.stride if j == 0 else 1, skip=stage.skip,
            ))
            prefixes.append(f"block{i + 1}{_stage_letters(j)}_")
    return tuple(blocks), tuple(prefixes)


def _family(prefixes):
    return Family(
        naming=BlockNaming(prefix=prefixes.__getitem__, suffixes=SUFFIXES),
        round_filters=lambda filters, alpha: filters,  # the table is already scaled
        se_style=SE_STYLE, bn_epsilon=BN_EPSILON, bn_momentum=BN_MOMENTUM,
    )


def _normalize_imagenet(x):
    """keras.applications' Rescaling + Normalization, the latter set to ImageNet's
    statistics (keras.applications leaves it at mean 0, variance 1 until weights load)."""
    x = layers.Rescaling(1.0 / 255.0, name="rescaling")(x)
    norm = layers.Normalization(axis=-1, name="normalization")
    x = norm(x)
    channels = x.shape[-1]  # other than 3 (grayscale): the statistics' average on every channel
    mean = np.array(channel_statistics(IMAGENET_MEAN, channels), "float32")
    stddev = np.array(channel_statistics(IMAGENET_STDDEV, channels), "float32")
    _set_normalization(norm, mean, stddev**2)
    return x


def set_imagenet_normalization(model):
    """Sets an EfficientNet's input Normalization layer (ours, or keras.applications'
    built with weights=None, which leaves it an identity) to ImageNet's mean and
    variance, as the published weights do. Returns the model."""
    for layer in model.layers:
        if isinstance(layer, layers.Normalization) and layer.get_weights()[0].shape[-1:] == (3,):
            mean, variance, _ = layer.get_weights()
            _set_normalization(layer, IMAGENET_MEAN.reshape(mean.shape), (IMAGENET_STDDEV**2).reshape(variance.shape))
    return model


def _set_normalization(norm, mean, variance):
    norm.set_weights([mean, variance, norm.get_weights()[2]])
    norm.finalize_state()  # Normalization reads its statistics from a cache


_AUTO_NORMALIZATION = re.compile(r"^normalization(_\d+)?$")


def load_weights(model, path):
    """Loads a weight file by layer name (ours or keras.applications', its published
    ImageNet files included), then refreshes and corrects the input normalization."""

    def auto_named_normalization(arrays):
        # keras.applications leaves Rescaling/Normalization unnamed: "normalization_3"
        # in a legacy .h5 written after other models were built in the same session.
        if "normalization" in arrays:
            return {}
        found = [key for key in arrays if _AUTO_NORMALIZATION.match(key)]
        return {"normalization": found[0]} if len(found) == 1 else {}

    load_weights_by_name(model, path, rename=auto_named_normalization)
    norm = next((layer for layer in model.layers if isinstance(layer, layers.Normalization)), None)
    if norm is not None:
        mean, variance, _ = norm.get_weights()
        if variance.shape == IMAGENET_STDDEV.shape and np.allclose(variance, IMAGENET_STDDEV, rtol=0, atol=1e-6):
            variance = IMAGENET_STDDEV**2  # the published files' std-for-variance (see the module doc)
        _set_normalization(norm, mean, variance)


def _check_rate(name, value):
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not 0 <= value < 1:
        raise ValueError(f"`{name}` must be a number in [0, 1); received {name}={value!r}.")


def _efficientnet(
    net: ScalableNet, *, lite, activation, dropout_rate, drop_connect_rate, name, include_top, weights,
    input_tensor, input_shape, pooling, classes, classifier_activation, include_preprocessing,
    features_only, out_strides, published,
):
    """Builds `net` (an already scaled table). `published`: the keras.applications
    variant ("b0".."b7") whose ImageNet file fits, or None."""
    _common.check_channels_last()
    _common.check_pooling(pooling)
    _check_rate("dropout_rate", dropout_rate)
    _check_rate("drop_connect_rate", drop_connect_rate)
    has_top = include_top and not features_only
    _common.check_weights(
        weights, has_top, classes,
        available=None if published else (
            "the EfficientNet-Lite checkpoints are published for TensorFlow 1 only (tensorflow/tpu), not as Keras files"
            if lite else "keras.applications publishes B0-B7 with their own width and depth coefficients only"
        ),
    )
    image, inputs = _common.resolve_input(
        input_shape, input_tensor, default_size=net.resolution, weights=weights, static_default=has_top,
    )
    taps = _common.FeatureTaps()
    x = image
    if include_preprocessing:
        # Lite: the authors' inception-style (x - 127) / 128, kinder to quantization.
        x = layers.Rescaling(1.0 / 128.0, offset=-127.0 / 128.0, name="rescaling")(x) if lite else _normalize_imagenet(x)
    x = conv_bn_act(
        x, net.stem, 3, strides=2, act=activation, name="stem_conv", bn_name="stem_bn",
        act_name="stem_activation", bn_epsilon=BN_EPSILON, bn_momentum=BN_MOMENTUM,
    )
    blocks, prefixes = blocks_from_table(net, activation)
    x, stride = walk_blocks(x, blocks, 1.0, _family(prefixes), taps, stride=2, drop_connect_rate=drop_connect_rate)
    x = conv_bn_act(
        x, net.head, 1, act=activation, name="top_conv", bn_name="top_bn",
        act_name="top_activation", bn_epsilon=BN_EPSILON, bn_momentum=BN_MOMENTUM,
    )
    taps.record(x, stride)

    if has_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout_rate > 0:
            x = layers.Dropout(dropout_rate, name="top_dropout")(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = _common.pool(x, pooling)

    if features_only:
        feature_maps = taps.select(out_strides)  # check before loading
    model = keras.Model(inputs, x, name=name)
    if weights is not None:
        load_weights(model, imagenet_weights(published, has_top).fetch() if weights == "imagenet" else weights)
    if features_only:
        return keras.Model(inputs, feature_maps, name=f"{name}_features")
    return model


def _scaled(base, width_coefficient, depth_coefficient, default_size, depth_divisor):
    if not isinstance(base, ScalableNet):
        raise ValueError(f"`base` must be a ScalableNet (e.g. EFFICIENTNET_B0, or one from compound_scale); received {type(base).__name__}.")
    if not isinstance(depth_divisor, numbers.Integral) or isinstance(depth_divisor, bool) or depth_divisor < 1:
        raise ValueError(f"`depth_divisor` must be a positive integer (8 in the paper); received depth_divisor={depth_divisor!r}.")
    base = dataclasses.replace(base, divisor=int(depth_divisor))
    return compound_scale(base, width=width_coefficient, depth=depth_coefficient, resolution=default_size)


def _published_variant(prefix, base, default_base, width, depth, divisor, activation, default_activation):
    if base is not default_base or divisor != 8 or activation != default_activation:
        return None
    for variant, (w, d, _, _) in COEFFICIENTS.items():
        if variant.startswith(prefix) and (w, d) == (width, depth):
            return variant
    return None


def EfficientNet(
    width_coefficient=1.0,
    depth_coefficient=1.0,
    default_size=None,
    dropout_rate=0.2,
    drop_connect_rate=0.2,
    depth_divisor=8,
    activation="swish",
    base=EFFICIENTNET_B0,
    name="efficientnet",
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    include_preprocessing=True,
    features_only=False,
    out_strides=_common.DEFAULT_OUT_STRIDES,
):
    """An EfficientNet of any compound-scaling coefficients, with
    keras.applications.efficientnet.EfficientNet's signature.

    Args:
        width_coefficient, depth_coefficient: channel and depth multipliers of
            `base` (channels rounded to multiples of `depth_divisor`, repeats up).
        default_size: the resolution the network is scaled for (its default
            input); None: the base table's (224 for B0).
        dropout_rate: dropout before the classifier.
        drop_connect_rate: drop-connect of the last block's residual branch (block i
            of n drops with drop_connect_rate * i / n while training).
        depth_divisor: channel rounding divisor.
        activation: "swish" (the paper), or "relu6", "relu", "hard_swish".
        base: the table to scale, a ScalableNet (EFFICIENTNET_B0, or any table,
            e.g. one returned by `compound_scale`).
        include_top, weights, input_tensor, input_shape, pooling, classes,
            classifier_activation, name: as keras.applications. `weights` is None,
            "imagenet" (keras.applications' published B0-B7 files, for B0's table
            at their coefficients) or a weights file path.
        include_preprocessing: the model takes [0, 255] pixels and normalizes them
            with the ImageNet statistics (keras.applications always does).
        features_only, out_strides: return the feature maps at these strides
            (2, 4, 8, 16, 32) instead of the classifier.
    """
    net = _scaled(base, width_coefficient, depth_coefficient, default_size, depth_divisor)
    return _efficientnet(
        net, lite=False, activation=activation, dropout_rate=dropout_rate, drop_connect_rate=drop_connect_rate,
        name=name, include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
        pooling=pooling, classes=classes, classifier_activation=classifier_activation,
        include_preprocessing=include_preprocessing, features_only=features_only, out_strides=out_strides,
        published=_published_variant("b", base, EFFICIENTNET_B0, width_coefficient, depth_coefficient,
                                     depth_divisor, activation, "swish"),
    )


def EfficientNetLite(
    width_coefficient=1.0,
    depth_coefficient=1.0,
    default_size=None,
    dropout_rate=0.2,
    drop_connect_rate=0.2,
    depth_divisor=8,
    activation="relu6",
    base=EFFICIENTNET_LITE0,
    name="efficientnet_lite",
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    include_preprocessing=True,
    features_only=False,
    out_strides=_common.DEFAULT_OUT_STRIDES,
):
    """An EfficientNet-Lite of any coefficients (tensorflow/tpu's lite builder:
    ReLU6, no SE; stem, head and first/last stage depth fixed). Arguments as
    `EfficientNet`; with include_preprocessing the model takes [0, 255] pixels and
    maps them as (x - 127) / 128. No Keras ImageNet file is published."""
    net = _scaled(base, width_coefficient, depth_coefficient, default_size, depth_divisor)
    return _efficientnet(
        net, lite=True, activation=activation, dropout_rate=dropout_rate, drop_connect_rate=drop_connect_rate,
        name=name, include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
        pooling=pooling, classes=classes, classifier_activation=classifier_activation,
        include_preprocessing=include_preprocessing, features_only=features_only, out_strides=out_strides,
        published=None,
    )


def _variant_builder(variant):
    width, depth, size, dropout = COEFFICIENTS[variant]
    lite = variant.startswith("lite")
    generic = EfficientNetLite if lite else EfficientNet
    class_name = f"EfficientNet{variant.capitalize() if lite else variant.upper()}"
    default_name = f"efficientnet_{variant}" if lite else f"efficientnet{variant}"

    def builder(
        include_top=True,
        weights=None,
        input_tensor=None,
        input_shape=None,
        pooling=None,
        classes=1000,
        classifier_activation="softmax",
        name=default_name,
        include_preprocessing=True,
        dropout_rate=dropout,
        drop_connect_rate=0.2,
        features_only=False,
        out_strides=_common.DEFAULT_OUT_STRIDES,
    ):
        return generic(
            width, depth, size, dropout_rate=dropout_rate, drop_connect_rate=drop_connect_rate, name=name,
            include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
            pooling=pooling, classes=classes, classifier_activation=classifier_activation,
            include_preprocessing=include_preprocessing, features_only=features_only, out_strides=out_strides,
        )

    builder.__name__ = builder.__qualname__ = class_name
    builder.__doc__ = (
        f"{class_name}: {'Lite, ' if lite else ''}width {width}, depth {depth}, {size}x{size} input, dropout "
        f"{dropout}; {'see EfficientNetLite' if lite else 'keras.applications signature; see EfficientNet'} "
        "for the arguments."
    )
    return builder


EfficientNetB0 = _variant_builder("b0")
EfficientNetB1 = _variant_builder("b1")
EfficientNetB2 = _variant_builder("b2")
EfficientNetB3 = _variant_builder("b3")
EfficientNetB4 = _variant_builder("b4")
EfficientNetB5 = _variant_builder("b5")
EfficientNetB6 = _variant_builder("b6")
EfficientNetB7 = _variant_builder("b7")
EfficientNetLite0 = _variant_builder("lite0")
EfficientNetLite1 = _variant_builder("lite1")
EfficientNetLite2 = _variant_builder("lite2")
EfficientNetLite3 = _variant_builder("lite3")
EfficientNetLite4 = _variant_builder("lite4")

_PAPER = "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks (ICML 2019)"
_LITE_SOURCE = "tensorflow/tpu models/official/efficientnet/lite/README.md"
_NOTE_B4_B5 = (
    "Table 2 prints {paper} multiply-adds; the released coefficients ({coefficients}) give {ours}, "
    "as torchvision publishes ({torchvision} GFLOPS) and keras.applications' model counts (the same "
    "convolutions, layer for layer). The other six variants are within 2% of the table."
)
_NOTE_LITE = (
    "The Lite README's MAdds run 3-6% above the convolutions its builder defines, while its parameter "
    "counts match ours: Lite0 has exactly B0's convolutions less the squeeze-excite (ours: 385.2M, "
    "keras.applications' B0 385.8M; the paper's B0 figure is 390M), yet the README gives Lite0 407M, so "
    "it counts operations beyond the multiply-adds. Ours equal keras.applications' EfficientNet builder "
    "given Lite's changes (no squeeze-excite; stem, head and first and last stage depth unscaled), "
    "built live in tests/test_paper_tables.py."
)
for _variant, _builder, _params, _macs, _note in (
    # Paper Table 2 (its "FLOPS" are multiply-adds), and the Lite README's table.
    ("b0", EfficientNetB0, 5.3, 390, ""),
    ("b1", EfficientNetB1, 7.8, 700, ""),
    ("b2", EfficientNetB2, 9.2, 1000, ""),
    ("b3", EfficientNetB3, 12, 1800, ""),
    ("b4", EfficientNetB4, 19, 4200, _NOTE_B4_B5.format(paper="4.2B", coefficients="1.4, 1.8, 380 px", ours="4.39G",
                                                       torchvision="4.394")),
    ("b5", EfficientNetB5, 30, 9900, _NOTE_B4_B5.format(paper="9.9B", coefficients="1.6, 2.2, 456 px", ours="10.27G",
                                                       torchvision="10.266")),
    ("b6", EfficientNetB6, 43, 19000, ""),
    ("b7", EfficientNetB7, 66, 37000, ""),
    ("lite0", EfficientNetLite0, 4.7, 407, _NOTE_LITE),
    ("lite1", EfficientNetLite1, 5.4, 631, _NOTE_LITE),
    ("lite2", EfficientNetLite2, 6.1, 899, _NOTE_LITE),
    ("lite3", EfficientNetLite3, 8.2, 1440, _NOTE_LITE),
    ("lite4", EfficientNetLite4, 13.0, 2640, _NOTE_LITE),
):
    _lite = _variant.startswith("lite")
    register_model(
        f"efficientnet_{_variant}", _builder, family="efficientnet_lite" if _lite else "efficientnet",
        paper=_PAPER, arxiv="1905.11946", default_size=COEFFICIENTS[_variant][2],
        paper_params_m=_params, paper_macs_m=_macs, figures_source=_LITE_SOURCE if _lite else "paper (Table 2; FLOPS = multiply-adds)",
        reference="tensorflow/tpu efficientnet_lite_builder" if _lite else f"keras.applications.{_builder.__name__}",
        note=_note,
    )
