"""EfficientNetV2 B0-B3, S, M and L (Tan & Le, "EfficientNetV2: Smaller Models and
Faster Training", ICML 2021, arXiv:2104.00298), on the shared inverted-residual builder,
with Fused-MBConv as a block of its library (layers.inverted_residual).

EfficientNetV2-S is Table 4 of the paper; M, L and the small B0 (which B1-B3 scale as
EfficientNet scales B0) are the authors' effnetv2_configs.py tables, as
keras.applications.EfficientNetV2* holds them. Layer names, channel and repeat rounding
(V2's own: the nearest multiple of 8, with none of V1's "never 10% down"), the SE width (a
quarter of the block's input width, floored), the expanded width (input x expansion,
exactly) and the input normalization follow keras.applications, so its weight files load
into these models by name and give the same outputs, and parameter counts are equal.

Differences in the graph, none touching weights or outputs: the SE squeeze keeps its
spatial dims instead of a Reshape, and SE activations are their own layers. Drop-connect
grows linearly over the blocks as built (block i of n: drop_connect_rate * i / n, the
authors' schedule); keras.applications divides by the unscaled block count, which differs
for B1-B3 in training only. The input normalization is chosen by `normalization`, not by
the model's name: "imagenet" ((x / 255 - mean) / std, the B variants', as EfficientNet V1)
or "v2" ((x - 128) / 128, the S, M and L checkpoints'); a model built for another channel
count than 3 gets the average of the RGB statistics on every channel (the package's rule;
keras.applications switches a B variant to (x - 128) / 128 there).
"""

import dataclasses
import math
import numbers

from keras import layers

from keras_lightnets.layers.inverted_residual import SqueezeExciteStyle
from keras_lightnets.layers.preprocessing import TORCH_RGB_MEAN
from keras_lightnets.layers.preprocessing import TORCH_RGB_STD
from keras_lightnets.layers.preprocessing import standardize
from keras_lightnets.models._family import Family
from keras_lightnets.models._family import one_of
from keras_lightnets.models._family import rate
from keras_lightnets.models._family import variant
from keras_lightnets.models._inverted_residual_net import SUFFIXES
from keras_lightnets.models._inverted_residual_net import pooled_dense_head
from keras_lightnets.models._inverted_residual_net import scaled_net_graph
from keras_lightnets.models.scaling import ScalableNet
from keras_lightnets.models.scaling import Stage
from keras_lightnets.models.scaling import round_repeats
from keras_lightnets.weights import WeightFile

__all__ = ["EfficientNetV2"]  # and each variant, added by @variant

# ------------------------------------------------------------ the architecture as data


def _fused(kernel, expansion, out, repeats, stride):
    return Stage(kernel, expansion, out, repeats, stride, None, fused=True)


# Table 4 of the paper: EfficientNetV2-S (stage 0: conv3x3 24, stride 2; stage 7: conv1x1
# 1280, pooling, FC). Fused-MBConv stages have no SE; MBConv stages SE 0.25.
EFFICIENTNETV2_S = ScalableNet((
    #      kernel, expansion, out, repeats, stride (, SE ratio)
    _fused(3, 1, 24, 2, 1),
    _fused(3, 4, 48, 4, 2),
    _fused(3, 4, 64, 4, 2),
    Stage(3, 4, 128, 6, 2, 0.25),
    Stage(3, 6, 160, 9, 1, 0.25),
    Stage(3, 6, 256, 15, 2, 0.25),
), stem=24, head=1280, resolution=384)

# The authors' effnetv2_configs.py (keras.applications' DEFAULT_BLOCKS_ARGS): M and L add a
# seventh stage; evaluated at 480 px.
EFFICIENTNETV2_M = ScalableNet((
    _fused(3, 1, 24, 3, 1),
    _fused(3, 4, 48, 5, 2),
    _fused(3, 4, 80, 5, 2),
    Stage(3, 4, 160, 7, 2, 0.25),
    Stage(3, 6, 176, 14, 1, 0.25),
    Stage(3, 6, 304, 18, 2, 0.25),
    Stage(3, 6, 512, 5, 1, 0.25),
), stem=24, head=1280, resolution=480)

EFFICIENTNETV2_L = ScalableNet((
    _fused(3, 1, 32, 4, 1),
    _fused(3, 4, 64, 7, 2),
    _fused(3, 4, 96, 7, 2),
    Stage(3, 4, 192, 10, 2, 0.25),
    Stage(3, 6, 224, 19, 1, 0.25),
    Stage(3, 6, 384, 25, 2, 0.25),
    Stage(3, 6, 640, 7, 1, 0.25),
), stem=32, head=1280, resolution=480)

# The small base that B1-B3 scale with EfficientNet's coefficients (V1's preprocessing).
EFFICIENTNETV2_B0 = ScalableNet((
    _fused(3, 1, 16, 1, 1),
    _fused(3, 4, 32, 2, 2),
    _fused(3, 4, 48, 2, 2),
    Stage(3, 4, 96, 3, 2, 0.25),
    Stage(3, 6, 112, 5, 1, 0.25),
    Stage(3, 6, 192, 8, 2, 0.25),
), stem=32, head=1280, resolution=224)

# keras.applications' names of the tables (its DEFAULT_BLOCKS_ARGS keys; B1-B3 are B0's).
TABLES = {
    "efficientnetv2-b0": EFFICIENTNETV2_B0, "efficientnetv2-b1": EFFICIENTNETV2_B0,
    "efficientnetv2-b2": EFFICIENTNETV2_B0, "efficientnetv2-b3": EFFICIENTNETV2_B0,
    "efficientnetv2-s": EFFICIENTNETV2_S, "efficientnetv2-m": EFFICIENTNETV2_M, "efficientnetv2-l": EFFICIENTNETV2_L,
}

# Released variants: (width, depth, resolution, table), as keras.applications and the
# authors' code build them.
RELEASED = {
    "b0": (1.0, 1.0, 224, "efficientnetv2-b0"), "b1": (1.0, 1.1, 240, "efficientnetv2-b1"),
    "b2": (1.1, 1.2, 260, "efficientnetv2-b2"), "b3": (1.2, 1.4, 300, "efficientnetv2-b3"),
    "s": (1.0, 1.0, 384, "efficientnetv2-s"), "m": (1.0, 1.0, 480, "efficientnetv2-m"),
    "l": (1.0, 1.0, 480, "efficientnetv2-l"),
}

SE_STYLE = SqueezeExciteStyle(divisor=None, inner_act="swish", gate_act="sigmoid", from_input=True)
BLOCK_NAMES = {**SUFFIXES, "depthwise": "dwconv2", "project_act": "project_activation"}  # keras.applications'
NORMALIZATIONS = ("imagenet", "v2")

WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/efficientnet_v2/"
_WEIGHT_HASHES = {  # keras.applications' (with top, without top)
    "b0": ("21ecbf6da12460d5c40bb2f29ceb2188", "893217f2bb855e2983157299931e43ff"),
    "b1": ("069f0534ff22adf035c89e2d9547a9dc", "0e80663031ca32d657f9caa404b6ec37"),
    "b2": ("424e49f28180edbde1e94797771950a7", "1dfe2e7a5d45b6632553a8961ea609eb"),
    "b3": ("1f1fc43bd98a6e4fd8fdfd551e02c7a0", "f6abf7b5849ac99a89b50dd3fd532856"),
    "s": ("e1d88a8495beba45748fedd0cecbe016", "af0682fb74e8c54910f2d4393339c070"),
    "m": ("a3bf6aa3276309f4fc6a34aa114c95cd", "1b8dc055df72dde80d614482840fe342"),
    "l": ("27e6d408b53c7ebc868fefa357689935", "b0b66b5c863aef5b46e8608fe1711615"),
}


def imagenet_weights(variant_name, include_top):
    """keras.applications' file of a released variant ("b0", ..., "s", "m", "l")."""
    with_top, no_top = _WEIGHT_HASHES[variant_name]
    filename = f"efficientnetv2-{variant_name}{'' if include_top else '_notop'}.h5"
    return WeightFile(filename, WEIGHTS_URL + filename, with_top if include_top else no_top)


# ------------------------------------------------------------------- the graph


def round_filters(filters, width, divisor=8, min_depth=8):
    """V2's channel rounding (the authors' and keras.applications'): the nearest multiple
    of `divisor`, at least `min_depth` (or `divisor`), without V1's 10% guard."""
    return int(max(min_depth or divisor, int(filters * width + divisor / 2) // divisor * divisor))


def table_of(blocks_args):
    return TABLES[blocks_args] if isinstance(blocks_args, str) else blocks_args


def scaled(width_coefficient, depth_coefficient, default_size, depth_divisor, min_depth, blocks_args, **unused):
    """The network the arguments describe: `blocks_args`' widths rounded at
    `width_coefficient`, its repeats at `depth_coefficient` (up), at `default_size`."""
    base = table_of(blocks_args)

    def width(filters):
        return round_filters(filters, width_coefficient, depth_divisor, min_depth)

    stages = tuple(dataclasses.replace(s, out=width(s.out), repeats=round_repeats(s.repeats, depth_coefficient))
                   for s in base.stages)
    return dataclasses.replace(base, stages=stages, stem=width(base.stem), head=width(base.head),
                               resolution=int(default_size or base.resolution))


def normalization_of(normalization, blocks_args):
    """The input normalization: `normalization`, or with None the table's ("imagenet"
    for the B tables, "v2" otherwise; keras.applications tells them by the name)."""
    if normalization is not None:
        return normalization
    return "imagenet" if table_of(blocks_args) == EFFICIENTNETV2_B0 else "v2"


def preprocessing(x, blocks_args, normalization):
    """[0, 255] pixels -> what the network was trained on (see the module doc)."""
    if normalization_of(normalization, blocks_args) == "imagenet":
        x = layers.Rescaling(1.0 / 255.0, name="rescaling")(x)
        return standardize(x, TORCH_RGB_MEAN, TORCH_RGB_STD, name="normalization")
    return layers.Rescaling(1.0 / 128.0, offset=-1.0, name="rescaling")(x)


def graph(x, taps, *, width_coefficient, depth_coefficient, default_size, depth_divisor, min_depth, bn_momentum,
          activation, blocks_args, drop_connect_rate):
    """Stem, the (Fused-)MBConv stages and the top conv on the scaled table, with
    keras.applications' layer names, BatchNorm momentum and exact expanded widths."""
    net = scaled(width_coefficient, depth_coefficient, default_size, depth_divisor, min_depth, blocks_args)
    return scaled_net_graph(x, taps, net, act=activation, se_style=SE_STYLE, drop_connect_rate=drop_connect_rate,
                            bn_momentum=bn_momentum, suffixes=BLOCK_NAMES,
                            expanded_width=lambda width, expansion: int(width * expansion))


def released(knobs):
    """The released variant ("b0", ..., "l") the arguments build, or None."""
    if (knobs["depth_divisor"], knobs["min_depth"], knobs["activation"]) != (8, 8, "swish"):
        return None
    for name, (width, depth, _, table) in RELEASED.items():
        if (table_of(knobs["blocks_args"]) == TABLES[table] and (knobs["width_coefficient"], knobs["depth_coefficient"]) == (width, depth)
                and normalization_of(knobs["normalization"], knobs["blocks_args"]) == normalization_of(None, table)):
            return name
    return None


def imagenet(knobs, rows, has_top):
    """keras.applications' file, for a released variant's table and coefficients."""
    name = released(knobs)
    if name is None:
        return None, ("keras.applications publishes B0-B3, S, M and L with their own tables, coefficients and "
                      "input normalization only")
    return imagenet_weights(name, has_top), None


def _positive(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"`{name}` must be a positive number; received {name}={value!r}.")


def _positive_integer(name, value, allow_none=False):
    if allow_none and value is None:
        return
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer (8 in the paper){' or None' if allow_none else ''}; "
                         f"received {name}={value!r}.")


def _check_table(name, value):
    if isinstance(value, str) and value in TABLES:
        return
    if not isinstance(value, ScalableNet):
        raise ValueError(f"`{name}` must be one of {tuple(TABLES)} or a ScalableNet of Stage rows (e.g. "
                         f"EFFICIENTNETV2_S); received {name}={value!r}.")
    bad = [s for s in value.stages if not isinstance(s, Stage) or s.repeats < 1]
    if bad or not value.stages:
        raise ValueError(f"`{name}`: every stage must be a Stage with repeats >= 1; received {bad or 'no stages'}.")


def _check_default_size(name, value):
    if value is not None and (not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 32):
        raise ValueError(f"`{name}` is the input size in pixels, an integer of at least 32, or None (the table's); "
                         f"received {name}={value!r}.")


# ------------------------------------------------------------------------ the builders

_ORDER = ("width_coefficient", "depth_coefficient", "default_size", "dropout_rate", "drop_connect_rate",
          "depth_divisor", "min_depth", "bn_momentum", "activation", "blocks_args", "name", "include_top", "weights",
          "input_tensor", "input_shape", "pooling", "classes", "classifier_activation", "include_preprocessing",
          "features_only", "out_strides", "normalization")

EfficientNetV2 = Family(
    "EfficientNetV2", graph=graph, head=pooled_dense_head, preprocessing=preprocessing,
    knobs={"width_coefficient": 1.0, "depth_coefficient": 1.0, "default_size": None, "dropout_rate": 0.2,
           "drop_connect_rate": 0.2, "depth_divisor": 8, "min_depth": 8, "bn_momentum": 0.9, "activation": "swish",
           "blocks_args": "efficientnetv2-s", "normalization": None},
    order=_ORDER,
    checks={"width_coefficient": _positive, "depth_coefficient": _positive, "default_size": _check_default_size,
            "dropout_rate": rate("0.2"), "drop_connect_rate": rate("0.2"), "depth_divisor": _positive_integer,
            "min_depth": lambda n, v: _positive_integer(n, v, allow_none=True), "bn_momentum": rate("0.9"),
            "blocks_args": _check_table, "normalization": one_of((None, *NORMALIZATIONS))},
    defaults={"include_preprocessing": True, "name": "efficientnetv2"},
    default_size=lambda knobs: scaled(**knobs).resolution,
    imagenet=imagenet,
    default_name=lambda knobs, rows: "efficientnetv2",
).builder(doc="""An EfficientNetV2 of any table and scaling coefficients, with
    keras.applications.efficientnet_v2.EfficientNetV2's arguments in its order.

    Args:
        width_coefficient, depth_coefficient: channel and depth multipliers of
            the table (channels rounded to multiples of `depth_divisor`, at least
            `min_depth`; repeats up).
        default_size: the input size the network is built for by default; None:
            the table's (224 for B0, 384 for S, 480 for M and L).
        dropout_rate: dropout before the classifier.
        drop_connect_rate: drop-connect of the last block's residual branch (block i
            of n drops with drop_connect_rate * i / n while training).
        depth_divisor, min_depth: channel rounding (8 and 8).
        bn_momentum: BatchNormalization momentum (0.9, keras.applications').
        activation: "swish" (the paper), or "relu6", "relu", "hard_swish".
        blocks_args: the table: one of keras.applications' names
            ("efficientnetv2-b0" ... "-b3", "-s", "-m", "-l": named here, where
            keras' "default" takes the one its `name` names) or a ScalableNet of
            Stage rows (`fused=True` for Fused-MBConv), e.g. EFFICIENTNETV2_S.
        include_top, weights, input_tensor, input_shape, pooling, classes,
            classifier_activation, name: as keras.applications. `weights` is None,
            "imagenet" (keras.applications' published files, for the released
            variants' tables and coefficients) or a weights file path.
        include_preprocessing: the model takes [0, 255] pixels and normalizes them
            (`normalization`).
        features_only, out_strides: return the feature maps at these strides
            (2, 4, 8, 16, 32) instead of the classifier.
        normalization: "imagenet" ((x / 255 - mean) / std with ImageNet's
            statistics, the B tables'), "v2" ((x - 128) / 128, S, M and L's), or None:
            the table's.
    """)


# ------------------------------------------------------------------------ the variants
# Figures: the authors' README (google/automl efficientnetv2/README.md, its tables of
# ImageNet-1k checkpoints: Params and FLOPs, which are multiply-adds).
_PAPER = "EfficientNetV2: Smaller Models and Faster Training (ICML 2021)"
_SOURCE = "authors' README (google/automl efficientnetv2, ImageNet1K tables; FLOPs = multiply-adds)"
_TABLE_7 = ("authors' README (google/automl efficientnetv2, ImageNet1K table; FLOPs = multiply-adds); "
            "the paper's Table 7 rounds them: {params} params, {flops} FLOPs")
_VARIANT_ORDER = ("include_top", "weights", "input_tensor", "input_shape", "pooling", "classes",  # keras.applications'
                  "classifier_activation", "include_preprocessing", "name", "dropout_rate", "drop_connect_rate",
                  "features_only", "out_strides")  # then the family's other knobs, by keyword
_FIGURES = {"family": "efficientnet_v2", "paper": _PAPER, "arxiv": "2104.00298", "figures_source": _SOURCE}


# (parameters M, multiply-adds M) from the authors' README; for S, M and L also the paper's
# Table 7 rounding of them (parameters, FLOPs).
PUBLISHED = {
    "b0": (7.1, 720, None), "b1": (8.1, 1200, None), "b2": (10.1, 1700, None), "b3": (14.4, 3000, None),
    "s": (21.5, 8400, ("22M", "8.8B")), "m": (54.1, 24700, ("54M", "24B")), "l": (119.5, 56300, ("120M", "53B")),
}


def as_released(name):
    """A released variant's @variant arguments: its table and coefficients fixed, its
    figures and their source."""
    width, depth, size, table = RELEASED[name]
    params, macs, table_7 = PUBLISHED[name]
    source = _TABLE_7.format(params=table_7[0], flops=table_7[1]) if table_7 else _SOURCE
    return {"knobs": {"width_coefficient": width, "depth_coefficient": depth, "default_size": size,
                      "blocks_args": table},
            "default_size": size, "model_name": table, "order": _VARIANT_ORDER,
            "reference": f"keras.applications.EfficientNetV2{name.upper()}", **_FIGURES, "figures_source": source,
            "paper_params_m": params, "paper_macs_m": macs, "note": ""}


@variant("efficientnet_v2_b0", EfficientNetV2, **as_released("b0"))
def EfficientNetV2B0(*args, **kwargs):
    """EfficientNetV2-B0: the B0 table, width 1.0, depth 1.0, 224 px; EfficientNetV2's other arguments."""


@variant("efficientnet_v2_b1", EfficientNetV2, **as_released("b1"))
def EfficientNetV2B1(*args, **kwargs):
    """EfficientNetV2-B1: the B0 table, width 1.0, depth 1.1, 240 px; EfficientNetV2's other arguments."""


@variant("efficientnet_v2_b2", EfficientNetV2, **as_released("b2"))
def EfficientNetV2B2(*args, **kwargs):
    """EfficientNetV2-B2: the B0 table, width 1.1, depth 1.2, 260 px; EfficientNetV2's other arguments."""


@variant("efficientnet_v2_b3", EfficientNetV2, **as_released("b3"))
def EfficientNetV2B3(*args, **kwargs):
    """EfficientNetV2-B3: the B0 table, width 1.2, depth 1.4, 300 px; EfficientNetV2's other arguments."""


@variant("efficientnet_v2_s", EfficientNetV2, **as_released("s"))
def EfficientNetV2S(*args, **kwargs):
    """EfficientNetV2-S: the paper's Table 4, 384 px; EfficientNetV2's other arguments."""


@variant("efficientnet_v2_m", EfficientNetV2, **as_released("m"))
def EfficientNetV2M(*args, **kwargs):
    """EfficientNetV2-M: the authors' M table, 480 px; EfficientNetV2's other arguments."""


@variant("efficientnet_v2_l", EfficientNetV2, **as_released("l"))
def EfficientNetV2L(*args, **kwargs):
    """EfficientNetV2-L: the authors' L table, 480 px; EfficientNetV2's other arguments."""
