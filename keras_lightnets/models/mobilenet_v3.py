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

`layout="torchvision"` builds torchvision's graph instead (its MobileNet_V3_*_Weights):
PyTorch's symmetric padding, ImageNet mean/std, and torchvision's width rounding.

The paper's segmentation backbone (section 6.4) is two more knobs, as torchvision's
`_mobilenet_v3_conf(arch, reduced_tail=..., dilated=...)`: `reduced_tail` halves the
channels of the last stage (the paper's "RF2": its blocks' outputs and expansions, the
last 1x1 convolution and the classifier's 1280 / 1024), `dilated` gives the last stage
stride 1 and depthwise dilation 2 (output stride 16, the dense-prediction backbone).
"""

import dataclasses

from keras import layers

from keras_lightnets.layers.blocks import activation
from keras_lightnets.layers.blocks import conv_bn_act
from keras_lightnets.layers.blocks import make_divisible
from keras_lightnets.layers.inverted_residual import BlockNaming
from keras_lightnets.layers.preprocessing import torch_preprocessing
from keras_lightnets.models import _common
from keras_lightnets.models._family import Family
from keras_lightnets.models._family import boolean
from keras_lightnets.models._family import one_of
from keras_lightnets.models._family import variant
from keras_lightnets.models._inverted_residual_net import BlockStyle
from keras_lightnets.models._inverted_residual_net import walk_blocks
from keras_lightnets.models.scaling import Stage
from keras_lightnets.weights import KERAS_APPLICATIONS_URL
from keras_lightnets.weights import WeightFile

__all__ = ["MobileNetV3"]  # and each variant, added by @variant

# ------------------------------------------------------------ the architecture as data

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
TABLES = {"large": LARGE_TABLE, "small": SMALL_TABLE}
LAST_POINT_FILTERS = {"large": 1280, "small": 1024}  # the 1x1 "NBN" conv after pooling
SE_RATIO = 0.25  # squeeze to 1/4 of the expansion layer (section 5.3)




def last_stage(model_type):
    """Index of the table's row that starts the last stage (its last stride-2 row)."""
    return max(i for i, row in enumerate(TABLES[model_type]) if row[5] > 1)


def table(model_type, reduced_tail=False, dilated=False):
    """The paper's table, with the segmentation backbone's changes (section 6.4, as
    torchvision's `_mobilenet_v3_conf`): `reduced_tail` halves the last stage's output
    widths and, after its first block, its expansion widths; `dilated` gives its blocks
    stride 1 and dilation 2 (its first block, strided in the paper's table, keeps no
    shortcut: torchvision's, where reduced Small's would otherwise get one). Rows: kernel,
    exp, out, SE, NL, stride, dilation, skip."""
    first = last_stage(model_type)
    rows = []
    for index, (kernel, exp, out, se, nl, stride) in enumerate(TABLES[model_type]):
        dilation, skip = 1, True
        if index >= first:
            if reduced_tail:
                exp, out = (exp if index == first else exp // 2), out // 2
            if dilated:
                skip = stride == 1
                stride, dilation = 1, 2
        rows.append((kernel, exp, out, se, nl, stride, dilation, skip))
    return tuple(rows)


def stages(model_type, minimalistic=False, torchvision_alpha=None, reduced_tail=False, dilated=False):
    """The paper's table as Stages of one block each. Expansion is kept as the paper's
    ratio to the block's input width, so width multipliers scale it as the reference does.
    `torchvision_alpha`: torchvision's rounding at that width instead, each expansion
    width make_divisible(width * alpha) of the table's (a ratio to the rounded input).
    `reduced_tail`, `dilated`: the segmentation backbone's last stage (see `table`).

    Minimalistic (the authors' TF-slim variant): 3x3 kernels, no SE, ReLU only.
    """
    rows, in_filters = [], STEM_FILTERS
    for kernel, exp, out, se, nl, stride, dilation, skip in table(model_type, reduced_tail, dilated):
        expansion = exp / in_filters
        if torchvision_alpha is not None:
            expansion = make_divisible(exp * torchvision_alpha) / make_divisible(in_filters * torchvision_alpha)
        rows.append(Stage(kernel=3 if minimalistic else kernel, expansion=expansion, out=out, repeats=1,
                          stride=stride, se_ratio=SE_RATIO if se and not minimalistic else None,
                          act=RE if minimalistic else nl, dilation=dilation, skip=skip))
        in_filters = out
    return tuple(rows)


STYLE = BlockStyle(
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

# torchvision's graph (its MobileNet_V3_{Large,Small}_Weights) differs from
# keras.applications' at width 1.0 only in PyTorch's symmetric padding of the strided
# convolutions and ImageNet mean/std preprocessing: its BatchNorm epsilon is 1e-3 too,
# its SE squeezes the expansion to make_divisible(width // 4) with ReLU and a
# hard-sigmoid gate, and its classifier (Linear 960 -> 1280, hard-swish, dropout,
# Linear) is ours on the pooled map as 1x1 convolutions, which its Linear weights fill.
# At other widths it also scales the stem, every expansion width and the 1280 (1024)
# below 1.0, each rounded on its own.
LAYOUTS = ("keras", "torchvision")
PADDING = {"keras": "same", "torchvision": "symmetric"}


def torch_names(model):
    """{our layer: torchvision module}, from the table: features.0 the stem, one
    features.i per block (its `block` holds the expansion where the block expands, the
    depthwise, the SE's fc1 and fc2 where it has one, the projection, each a
    Conv2dNormActivation), the last 1x1 convolution after them; classifier.0 and
    classifier.3 the head's two Linear layers."""
    ours = {layer.name for layer in model.layers}
    # Large has a block 11, Small not (a feature extractor cut earlier lacks conv_1 anyway)
    blocks = len(LARGE_TABLE) if STYLE.naming(len(SMALL_TABLE), "project") in ours else len(SMALL_TABLE)
    names = {"conv": "features.0.0", "conv_bn": "features.0.1", "conv_1": f"features.{blocks + 1}.0",
             "conv_1_bn": f"features.{blocks + 1}.1", "conv_2": "classifier.0", "logits": "classifier.3"}
    for index in range(blocks):
        expand = STYLE.naming(index, "expand") in ours
        se = STYLE.naming(index, "se_reduce") in ours
        place = dict(zip(("depthwise", "se", "project"), range(int(expand), 3 + int(expand))))
        if not se:
            place["project"] -= 1
        modules = {"depthwise": f"{place['depthwise']}.0", "depthwise_bn": f"{place['depthwise']}.1",
                   "project": f"{place['project']}.0", "project_bn": f"{place['project']}.1"}
        if expand:
            modules.update({"expand": "0.0", "expand_bn": "0.1"})
        if se:
            modules.update({"se_reduce": f"{place['se']}.fc1", "se_expand": f"{place['se']}.fc2"})
        names.update({STYLE.naming(index, role): f"features.{index + 1}.block.{module}"
                      for role, module in modules.items()})
    return names


def preprocessing(x, *, layout):
    """[0, 255] pixels -> [-1, 1] (keras.applications'), or torchvision's ImageNet mean/std."""
    return torch_preprocessing(x) if layout == "torchvision" else _common.preprocessing(x)


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


def imagenet(knobs, rows, has_top):
    """keras.applications' file for the configuration, whatever the input size (a dilated
    last stage takes the same weights: it only samples them further apart)."""
    if knobs.get("layout", "keras") != "keras":
        return None, "keras.applications' weights need layout='keras' (torchvision's: weights='torchvision')"
    if knobs.get("reduced_tail"):
        return None, "reduced_tail=True halves the last stage's channels, which keras.applications' files do not have"
    if _weights_key(knobs["model_type"], knobs["alpha"], knobs["minimalistic"]) not in _WEIGHT_HASHES:
        return None, "alpha must be 0.75 or 1.0 (1.0 only when minimalistic)"
    return imagenet_weights(knobs["model_type"], knobs["alpha"], knobs["minimalistic"], has_top), None


# ------------------------------------------------------------------- the graph


def graph(x, taps, *, model_type, alpha, minimalistic, layout="keras", reduced_tail=False, dilated=False):
    """Stem, the table's blocks, and the last 1x1 convolution before pooling; `layout`:
    keras.applications' padding of the strided convolutions or torchvision's. Dilated,
    the last convolution is the stride-16 feature map (the taps stop at 16)."""
    act = RE if minimalistic else HS
    style = dataclasses.replace(STYLE, padding=PADDING[layout])
    torchvision = layout == "torchvision"
    stem = make_divisible(STEM_FILTERS * alpha) if torchvision else STEM_FILTERS
    x = conv_bn_act(x, stem, 3, strides=2, act=act, name="conv", padding=style.padding)
    blocks = stages(model_type, minimalistic, torchvision_alpha=alpha if torchvision else None,
                    reduced_tail=reduced_tail, dilated=dilated)
    x, stride = walk_blocks(x, blocks, alpha, style, taps, stride=2)
    x = conv_bn_act(x, make_divisible(x.shape[-1] * 6), 1, act=act, name="conv_1")
    taps.record(x, stride)
    return x


def head(x, *, classes, classifier_activation, model_type, alpha, minimalistic, dropout_rate, layout="keras",
         reduced_tail=False):
    """Pooling, then the paper's 1x1 "NBN" convolution and the logits as 1x1 convolutions."""
    act = RE if minimalistic else HS
    last_point = LAST_POINT_FILTERS[model_type] // (2 if reduced_tail else 1)
    last_point = make_divisible(last_point * alpha) if alpha > 1.0 or layout == "torchvision" else last_point
    x = layers.GlobalAveragePooling2D(keepdims=True, name="global_average_pooling2d")(x)
    x = layers.Conv2D(last_point, 1, padding="same", use_bias=True, name="conv_2")(x)
    x = activation(x, act, f"conv_2_{act}")
    if dropout_rate > 0:
        x = layers.Dropout(dropout_rate, name="dropout")(x)
    x = layers.Conv2D(classes, 1, padding="same", name="logits")(x)
    x = layers.Flatten(name="flatten")(x)
    return layers.Activation(classifier_activation, name="predictions")(x)


# ------------------------------------------------------------------------ the builder

MobileNetV3 = Family(
    "MobileNetV3", graph=graph, head=head, preprocessing=preprocessing,
    knobs={"model_type": "large", "alpha": 1.0, "minimalistic": False, "dropout_rate": 0.2, "layout": "keras",
           "reduced_tail": False, "dilated": False},
    order=("input_shape", "model_type", "alpha", "minimalistic", "include_top", "weights", "input_tensor", "classes",
           "pooling", "dropout_rate", "classifier_activation", "include_preprocessing", "name", "features_only",
           "out_strides", "layout", "reduced_tail", "dilated"),
    checks={"model_type": one_of(TABLES), "alpha": lambda name, value: _common.check_alpha(value),
            "layout": one_of(LAYOUTS), "reduced_tail": boolean(), "dilated": boolean()},
    defaults={"include_preprocessing": True},
    static_default=False,  # open spatial dims even with the classifier, as keras.applications
    imagenet=imagenet,
    torch_names=torch_names,
    default_name=lambda knobs, rows: f"MobileNetV3{knobs['model_type'].capitalize()}",
).builder(doc="""MobileNetV3-Large or -Small, with keras.applications' arguments and layer names.

    Args:
        input_shape: (height, width, channels), spatial size 32 or more (the
            resolution multiplier). Default: open spatial dims (None, None, 3), as
            keras.applications; give a size for TFLite conversion or profiling.
        model_type: "large" (the paper's Table 1) or "small" (Table 2).
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
        name: model name (default MobileNetV3Large or MobileNetV3Small).
        features_only: return the backbone's feature maps at `out_strides`
            (strides 2, 4, 8, 16, 32) instead of the classifier.
        layout: "keras" (keras.applications' graph, its weight files) or
            "torchvision" (torchvision's: PyTorch's symmetric padding of strided
            convolutions and ImageNet mean/std preprocessing), for torchvision's
            checkpoints (MobileNet_V3_Large_Weights, MobileNet_V3_Small_Weights).
        reduced_tail: halve the last stage's channels (section 6.4's "RF2", for
            segmentation; torchvision's `reduced_tail`). No keras.applications file.
        dilated: the last stage at stride 1 with dilation-2 depthwise convolutions
            (output stride 16, torchvision's `dilated`); features_only then offers
            out_strides up to 16, the last being the final 1x1 convolution.
    """)


# ------------------------------------------------------------------------ the variants
# Figures: the paper's Table 3 (1.0 and 0.75); the authors' checkpoint table for
# minimalistic.

_PAPER = "Searching for MobileNetV3 (ICCV 2019)"
_SLIM = "the authors' checkpoint table (tensorflow/models slim)"
_NOTE_SMALL_MINIMALISTIC = (
    "The checkpoint table counts 65M MACs, but it counts 66M for MobileNetV3-Small where the "
    "paper says 56M; by the paper's convention (ours: 56.5M for Small) minimalistic Small is 52.3M, "
    "as keras.applications.MobileNetV3Small(minimalistic=True) profiles."
)
_FIGURES = {"family": "mobilenet_v3", "paper": _PAPER, "arxiv": "1905.02244", "default_size": 224}
# registry name: (knobs, parameters M, multiply-adds M, their source); the paper's Tables 3
# and 4 (Large, Small at 1.0 and 0.75), the checkpoint table for the minimalistic ones.
PUBLISHED = {
    "mobilenet_v3_large": ({"model_type": "large"}, 5.4, 219, "paper"),
    "mobilenet_v3_large_075": ({"model_type": "large", "alpha": 0.75}, 4.0, 155, "paper"),
    "mobilenet_v3_large_minimalistic": ({"model_type": "large", "minimalistic": True}, 3.9, 209, _SLIM),
    "mobilenet_v3_small": ({"model_type": "small"}, 2.5, 56, "paper"),
    "mobilenet_v3_small_075": ({"model_type": "small", "alpha": 0.75}, 2.0, 44, "paper"),
    "mobilenet_v3_small_minimalistic": ({"model_type": "small", "minimalistic": True}, 2.0, 65, _SLIM),
}


def published(registry_name):
    """A variant's @variant arguments: its knobs, figures and keras.applications' model."""
    knobs, params, macs, source = PUBLISHED[registry_name]
    keras_name = f"MobileNetV3{knobs['model_type'].capitalize()}"
    at_one = {"model_name": keras_name} if set(knobs) == {"model_type"} else {}
    note = _NOTE_SMALL_MINIMALISTIC if registry_name == "mobilenet_v3_small_minimalistic" else ""
    return {"knobs": knobs, **at_one, "paper_params_m": params, "paper_macs_m": macs, "figures_source": source,
            "note": note, "reference": f"keras.applications.{keras_name}", **_FIGURES}


@variant("mobilenet_v3_large", MobileNetV3, **published("mobilenet_v3_large"))
def MobileNetV3Large(*args, **kwargs):
    """MobileNetV3-Large (Table 1), keras.applications.MobileNetV3Large; MobileNetV3's other arguments."""


@variant("mobilenet_v3_large_075", MobileNetV3, **published("mobilenet_v3_large_075"))
def MobileNetV3Large_075(*args, **kwargs):
    """MobileNetV3-Large at width 0.75; MobileNetV3's other arguments."""


@variant("mobilenet_v3_large_minimalistic", MobileNetV3, **published("mobilenet_v3_large_minimalistic"))
def MobileNetV3LargeMinimalistic(*args, **kwargs):
    """MobileNetV3-Large minimalistic (no SE, hard-swish or 5x5); MobileNetV3's other arguments."""


@variant("mobilenet_v3_small", MobileNetV3, **published("mobilenet_v3_small"))
def MobileNetV3Small(*args, **kwargs):
    """MobileNetV3-Small (Table 2), keras.applications.MobileNetV3Small; MobileNetV3's other arguments."""


@variant("mobilenet_v3_small_075", MobileNetV3, **published("mobilenet_v3_small_075"))
def MobileNetV3Small_075(*args, **kwargs):
    """MobileNetV3-Small at width 0.75; MobileNetV3's other arguments."""


@variant("mobilenet_v3_small_minimalistic", MobileNetV3, **published("mobilenet_v3_small_minimalistic"))
def MobileNetV3SmallMinimalistic(*args, **kwargs):
    """MobileNetV3-Small minimalistic (no SE, hard-swish or 5x5); MobileNetV3's other arguments."""
