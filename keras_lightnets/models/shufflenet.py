"""ShuffleNet V1 (Zhang et al., "ShuffleNet: An Extremely Efficient Convolutional
Neural Network for Mobile Devices", CVPR 2018, arXiv:1707.01083) and ShuffleNet V2
(Ma et al., "ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture
Design", ECCV 2018, arXiv:1807.11164), each one table-walking builder.

ShuffleNet V1 is the paper's Table 1 (stage output channels for g = 1, 2, 3, 4, 8
groups; stages of 4, 8, 4 units; bottlenecks 1/4 of a unit's output) and Figure 2:

- unit, stride 1: 1x1 group conv -> BN -> ReLU -> channel shuffle -> 3x3 depthwise
  -> BN -> 1x1 group conv -> BN, added to the input, then ReLU;
- unit, stride 2: the same branch (its last conv giving out - in channels, its
  depthwise conv strided), concatenated after a 3x3/2 average pooling of the input;
- the first pointwise layer of stage 2 is not grouped (its input has 24 channels),
  so it has no shuffle after it either (a shuffle there would only relabel channels);
- "ShuffleNet s x" scales the filters by s. Where the paper gives no rule (the
  stem) we follow the authors' code (megvii-model/ShuffleNet-Series): a stem of
  12, 24, 24, 48 filters at 0.5x, 1x, 1.5x, 2x, rounded up to a multiple of g
  (g=8 at 0.5x: 16), and a classifier without bias. That gives exactly the
  authors' networks for g = 3 and g = 8, whose parameters (1x g=3: 1,864,728)
  and MACs their README lists. Where s x Table 1 gives bottlenecks that g does not
  divide (g = 2 or 4 at 0.5x and 1.5x) the builder says so: the paper trains them
  but never says how it rounded.
- Its shuffle is the paper's (reshape to (g, n), transpose); the authors' code
  reshapes to (n, g), the inverse permutation: a relabelling of channels.

ShuffleNet V2 is torchvision's `shufflenet_v2_x*` exactly (the paper's Table 5
and Figure 3 (c), (d)): the same layer names (torchvision's module paths, `.` ->
`_`), parameter counts (x0_5 1,366,792; x1_0 2,278,604; x1_5 3,503,624; x2_0
7,393,996) and padding: strided convolutions and the stem's max pooling pad one
pixel on every side, as PyTorch does, with an explicit ZeroPadding2D (Keras'
"same" would pad only after the map for even sizes and shift every window).
Zero padding is exact for the max pooling, which follows a ReLU, and the V1
shortcut's average pooling counts the padded zeros as PyTorch's
`AvgPool2d(3, 2, 1)` does.

No ImageNet weights are published in a Keras format (torchvision's and the
authors' are PyTorch files); `weights` takes None or a weights file.
"""

import functools
import numbers

from keras import layers

from keras_lightnets.layers.blocks import batch_norm
from keras_lightnets.layers.preprocessing import torch_preprocessing
from keras_lightnets.layers.shuffle import ChannelShuffle
from keras_lightnets.layers.shuffle import ChannelSplit
from keras_lightnets.models._family import Family
from keras_lightnets.models._family import rate
from keras_lightnets.models._family import variant

__all__ = ["ShuffleNetV1", "ShuffleNetV2"]  # and each variant, added by @variant

# ------------------------------------------------------------ the architecture as data

# --- ShuffleNet V1, Table 1 -------------------------------------------------------
# Stage 2, 3, 4: repeats (the first unit has stride 2), output channels at 1x by g.
V1_REPEATS = (4, 8, 4)
V1_CHANNELS = {
    1: (144, 288, 576),
    2: (200, 400, 800),
    3: (240, 480, 960),
    4: (272, 544, 1088),
    8: (384, 768, 1536),
}
V1_STEM = {0.5: 12, 1.0: 24, 1.5: 24, 2.0: 48}  # conv1 filters by scale (the authors' code)
V1_BOTTLENECK_RATIO = 4  # "we set the number of bottleneck channels to 1/4 of the output channels"

# --- ShuffleNet V2, Table 5 -------------------------------------------------------
V2_REPEATS = (4, 8, 4)
V2_STEM = 24
V2_CHANNELS = {  # stage 2, 3, 4 and conv5 output channels by width
    0.5: (48, 96, 192, 1024),
    1.0: (116, 232, 464, 1024),
    1.5: (176, 352, 704, 1024),
    2.0: (244, 488, 976, 2048),
}

BN = {"epsilon": 1e-5, "momentum": 0.9}  # PyTorch's BatchNorm2d (momentum 0.1 is Keras' 0.9)
NO_KERAS_WEIGHTS = "no ImageNet weights are published for ShuffleNet in a Keras format (torchvision's and the authors' are PyTorch files)"


def _check_groups(name, groups):
    if isinstance(groups, bool) or not isinstance(groups, int) or groups not in V1_CHANNELS:
        raise ValueError(f"`{name}` must be one of {tuple(V1_CHANNELS)} (the paper's Table 1); received {name}={groups!r}.")


def _scale_check(table):
    """A check: `scale` is one of the table's width multipliers."""

    def check(name, scale):
        if isinstance(scale, bool) or not isinstance(scale, numbers.Real) or float(scale) not in table:
            raise ValueError(f"`{name}` (the width multiplier) must be one of {tuple(table)}; received {name}={scale!r}.")

    return check


def v1_channels(groups, scale):
    """(stem, (stage2, stage3, stage4)) output channels of ShuffleNet V1 g, s x."""
    _check_groups("groups", groups)
    _scale_check(V1_STEM)("scale", scale)
    scale = float(scale)
    stem = -(-V1_STEM[scale] // groups) * groups  # rounded up to a multiple of g
    stages = tuple(int(c * scale) for c in V1_CHANNELS[groups])
    for c in stages:
        bottleneck = c // V1_BOTTLENECK_RATIO
        if c % V1_BOTTLENECK_RATIO or bottleneck % groups:
            ok = [s for s in V1_STEM if all(int(x * s) % (V1_BOTTLENECK_RATIO * groups) == 0 for x in V1_CHANNELS[groups])]
            raise ValueError(
                f"ShuffleNet V1 with groups={groups} at scale={scale}: a stage of {c} channels has a bottleneck of "
                f"{c / V1_BOTTLENECK_RATIO:g} channels, not divisible by groups={groups}. With groups={groups} use scale in {ok}."
            )
    return stem, stages


# ------------------------------------------------------------------- the graph


def _strided(layer_cls, x, stride, name, **kwargs):
    """A 3x3 layer with PyTorch's padding 1: "same" at stride 1 (identical), an
    explicit one-pixel zero border and "valid" at stride 2."""
    if stride == 1:
        return layer_cls(kernel_size=3, padding="same", name=name, **kwargs)(x)
    x = layers.ZeroPadding2D(1, name=f"{name}_pad")(x)
    return layer_cls(kernel_size=3, strides=stride, padding="valid", name=name, **kwargs)(x)


def _depthwise(x, stride, name):
    return _strided(layers.DepthwiseConv2D, x, stride, name, use_bias=False)


def _pointwise(x, filters, name, groups=1):
    return layers.Conv2D(filters, 1, groups=groups, use_bias=False, name=name)(x)


def _stem(x, filters, taps, conv_name, pool_name):
    """3x3/2 conv -> BN -> ReLU -> 3x3/2 max pooling (both ShuffleNets)."""
    x = _strided(layers.Conv2D, x, 2, f"{conv_name}_0", filters=filters, use_bias=False)
    x = batch_norm(x, f"{conv_name}_1", **BN)
    x = layers.ReLU(name=f"{conv_name}_2")(x)
    taps.record(x, 2)
    x = layers.ZeroPadding2D(1, name=f"{pool_name}_pad")(x)  # zeros = PyTorch's -inf after a ReLU
    x = layers.MaxPooling2D(3, strides=2, name=pool_name)(x)
    taps.record(x, 4)
    return x


def shufflenet_v1_unit(x, out_channels, stride, groups, first_groups, prefix):
    """Figure 2 (b) (stride 1) and (c) (stride 2). Names: the authors' code."""
    in_channels = x.shape[-1]
    branch_out = out_channels - in_channels if stride == 2 else out_channels
    bottleneck = out_channels // V1_BOTTLENECK_RATIO
    main1, main2 = f"{prefix}_branch_main_1", f"{prefix}_branch_main_2"
    y = _pointwise(x, bottleneck, f"{main1}_0", groups=first_groups)
    y = batch_norm(y, f"{main1}_1", **BN)
    y = layers.ReLU(name=f"{main1}_2")(y)
    if first_groups > 1:
        y = ChannelShuffle(first_groups, name=f"{prefix}_shuffle")(y)
    y = _depthwise(y, stride, f"{main1}_3")
    y = batch_norm(y, f"{main1}_4", **BN)  # no ReLU after the depthwise conv (section 3.2)
    y = _pointwise(y, branch_out, f"{main2}_0", groups=groups)
    y = batch_norm(y, f"{main2}_1", **BN)
    if stride == 1:
        y = layers.Add(name=f"{prefix}_add")([y, x])
        return layers.ReLU(name=f"{prefix}_relu")(y)
    shortcut = layers.ZeroPadding2D(1, name=f"{prefix}_branch_proj_pad")(x)
    shortcut = layers.AveragePooling2D(3, strides=2, name=f"{prefix}_branch_proj")(shortcut)
    # ReLU after the concatenation equals ReLU on the branch: the pooled input is >= 0.
    y = layers.ReLU(name=f"{prefix}_relu")(y)
    return layers.Concatenate(name=f"{prefix}_concat")([shortcut, y])


def shufflenet_v2_unit(x, out_channels, stride, prefix):
    """Figure 3 (c) (stride 1: channel split, identity on one half) and (d)
    (stride 2: both branches see the input), then a shuffle of 2 groups.
    Names: torchvision's InvertedResidual."""
    branch_out = out_channels // 2
    if stride == 1:
        if x.shape[-1] != out_channels:
            raise ValueError(f"A stride-1 ShuffleNet V2 unit keeps its width: input {x.shape[-1]} != output {out_channels} channels.")
        left, right = ChannelSplit(2, name=f"{prefix}_split")(x)
    else:
        b1 = f"{prefix}_branch1"
        left = _depthwise(x, stride, f"{b1}_0")
        left = batch_norm(left, f"{b1}_1", **BN)
        left = _pointwise(left, branch_out, f"{b1}_2")
        left = batch_norm(left, f"{b1}_3", **BN)
        left = layers.ReLU(name=f"{b1}_4")(left)
        right = x
    b2 = f"{prefix}_branch2"
    right = _pointwise(right, branch_out, f"{b2}_0")
    right = batch_norm(right, f"{b2}_1", **BN)
    right = layers.ReLU(name=f"{b2}_2")(right)
    right = _depthwise(right, stride, f"{b2}_3")
    right = batch_norm(right, f"{b2}_4", **BN)
    right = _pointwise(right, branch_out, f"{b2}_5")
    right = batch_norm(right, f"{b2}_6", **BN)
    right = layers.ReLU(name=f"{b2}_7")(right)
    y = layers.Concatenate(name=f"{prefix}_concat")([left, right])
    return ChannelShuffle(2, name=f"{prefix}_shuffle")(y)


def v1_graph(x, taps, *, groups, scale):
    """Table 1: the stem, then stages 2-4 of V1 units (names: the authors' `features` indices)."""
    stem, stages = v1_channels(groups, scale)
    x = _stem(x, stem, taps, "first_conv", "maxpool")
    stride, index = 4, 0
    for s, (repeats, out_channels) in enumerate(zip(V1_REPEATS, stages)):
        for b in range(repeats):
            unit_stride = 2 if b == 0 else 1
            first_groups = 1 if s == 0 and b == 0 else groups  # stage 2's first pointwise is not grouped
            x = shufflenet_v1_unit(x, out_channels, unit_stride, groups, first_groups, f"features_{index}")
            index, stride = index + 1, stride * unit_stride
        taps.record(x, stride)
    return x


def v2_graph(x, taps, *, scale):
    """Table 5: the stem, stages 2-4 of V2 units and conv5 (names: torchvision's)."""
    *stages, last = V2_CHANNELS[float(scale)]
    x = _stem(x, V2_STEM, taps, "conv1", "maxpool")
    stride = 4
    for s, (repeats, out_channels) in enumerate(zip(V2_REPEATS, stages)):
        for b in range(repeats):
            x = shufflenet_v2_unit(x, out_channels, 2 if b == 0 else 1, f"stage{s + 2}_{b}")
        stride *= 2
        taps.record(x, stride)
    x = _pointwise(x, last, "conv5_0")
    x = batch_norm(x, "conv5_1", **BN)
    x = layers.ReLU(name="conv5_2")(x)
    taps.record(x, stride)
    return x


def head(x, *, classes, classifier_activation, dropout_rate, fc_name, fc_bias):
    """Global average pooling, optional dropout, the Dense classifier (V1: the
    authors' `classifier_0` without bias; V2: torchvision's `fc`)."""
    x = layers.GlobalAveragePooling2D(name="globalpool")(x)
    if dropout_rate > 0:
        x = layers.Dropout(dropout_rate, name="dropout")(x)
    return layers.Dense(classes, activation=classifier_activation, use_bias=fc_bias, name=fc_name)(x)


# ------------------------------------------------------------------------ the builders


def _scale_name(scale):
    return str(float(scale)).replace(".", "_")


def _family(name, graph, head, knobs, checks, default_name):
    """Both ShuffleNets: torchvision's preprocessing, open sizes from 32x32, no Keras weights."""
    return Family(
        name, graph=graph, head=head, preprocessing=torch_preprocessing, knobs={**knobs, "dropout_rate": 0.0},
        order=("input_shape", *knobs, "include_top", "weights", "input_tensor", "classes", "pooling", "dropout_rate",
               "classifier_activation", "include_preprocessing", "name", "features_only", "out_strides"),
        checks={**checks, "dropout_rate": rate("0.2")}, defaults={"include_preprocessing": True},
        static_default=False,  # open spatial dims even with the classifier (it pools globally)
        default_name=default_name, no_imagenet=NO_KERAS_WEIGHTS,
    )


ShuffleNetV1 = _family(
    "ShuffleNetV1", v1_graph, functools.partial(head, fc_name="classifier_0", fc_bias=False),
    knobs={"groups": 3, "scale": 1.0}, checks={"groups": _check_groups, "scale": _scale_check(V1_STEM)},
    default_name=lambda knobs, rows: f"shufflenet_v1_g{knobs['groups']}_x{_scale_name(knobs['scale'])}",
).builder(doc="""ShuffleNet V1 ("ShuffleNet s x (g = groups)"), the paper's Table 1.

    1x g=3 has 1,864,728 parameters and 137.5M MACs at 224 (paper: 140M in Table 2,
    137M in Table 1; the authors' README: 1.9M, 138M).

    Args:
        input_shape: (height, width, channels), at least 32x32; default open
            spatial dims (None, None, 3): give a size to profile or convert.
        groups: g, the groups of the pointwise convolutions: 1, 2, 3, 4 or 8.
        scale: s, the width multiplier: 0.5, 1.0, 1.5 or 2.0 (g = 2 and 4 only
            at 1.0 and 2.0, where Table 1's bottlenecks divide by g).
        include_top: add global average pooling and the Dense classifier.
        weights: None or the path of a weights file (.h5, .weights.h5, .keras),
            loaded by layer name. No ImageNet weights exist in a Keras format.
        input_tensor: optional Keras tensor to build the model on.
        classes: classifier width.
        pooling: None, "avg" or "max", for include_top=False.
        dropout_rate: dropout before the classifier (the paper uses none).
        classifier_activation: activation of the classifier, None for logits.
        include_preprocessing: take [0, 255] RGB pixels (adds the ImageNet
            mean/std normalization as layers).
        name: model name.
        features_only: return the feature maps at `out_strides` (2: stem conv,
            4: max pooling, 8, 16, 32: the outputs of stages 2, 3, 4).
        out_strides: strides of the feature maps, default (4, 8, 16, 32).
    """)

ShuffleNetV2 = _family(
    "ShuffleNetV2", v2_graph, functools.partial(head, fc_name="fc", fc_bias=True),
    knobs={"scale": 1.0}, checks={"scale": _scale_check(V2_CHANNELS)},
    default_name=lambda knobs, rows: f"shufflenet_v2_x{_scale_name(knobs['scale'])}",
).builder(doc="""ShuffleNet V2 ("ShuffleNet V2 s x"), the paper's Table 5, exactly torchvision's
    shufflenet_v2_x0_5 / x1_0 / x1_5 / x2_0 (layer names and parameter counts).

    1x: 2,278,604 parameters and 144.9M MACs at 224 (paper: 2.3M, 146M).

    Args:
        input_shape: (height, width, channels), at least 32x32; default open
            spatial dims (None, None, 3): give a size to profile or convert.
        scale: the width multiplier of Table 5: 0.5, 1.0, 1.5 or 2.0.
        include_top: add global average pooling and the Dense classifier ("fc").
        weights: None or the path of a weights file, loaded by layer name. No
            ImageNet weights exist in a Keras format.
        input_tensor: optional Keras tensor to build the model on.
        classes: classifier width.
        pooling: None, "avg" or "max", for include_top=False.
        dropout_rate: dropout before the classifier (torchvision's has none).
        classifier_activation: activation of the classifier, None for logits.
        include_preprocessing: take [0, 255] RGB pixels (adds torchvision's
            ImageNet mean/std normalization as layers).
        name: model name.
        features_only: return the feature maps at `out_strides` (2: stem conv,
            4: max pooling, 8, 16: stages 2 and 3, 32: conv5).
        out_strides: strides of the feature maps, default (4, 8, 16, 32).
    """)

# ------------------------------------------------------------------------ the variants

_V1_PAPER = "ShuffleNet: An Extremely Efficient Convolutional Neural Network for Mobile Devices (CVPR 2018)"
_V1_CODE = "the authors' code and README (megvii-model/ShuffleNet-Series)"
_V1_NO_PARAMS = "paper (Table 1, MACs); params: none published, ours measured here"
_V2_PAPER = "ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design (ECCV 2018)"

# ShuffleNet V1: Table 1's five 1x networks (MACs: its "Complexity" row; it gives
# no parameter counts) and g=3 at the other scales of Table 2, whose parameters
# the authors' README lists (as for 1x g=3: 1.9M).
# name: (groups g, scale s, parameters M or None, MACs M, the paper's table)
V1_PUBLISHED = {
    "g1": (1, 1.0, None, 143, 1), "g2": (2, 1.0, None, 140, 1), "g3": (3, 1.0, 1.9, 137, 1),
    "g4": (4, 1.0, None, 133, 1), "g8": (8, 1.0, 2.4, 137, 1),
    "g3_x0_5": (3, 0.5, 0.7, 38, 2), "g3_x1_5": (3, 1.5, 3.4, 292, 2), "g3_x2_0": (3, 2.0, 5.4, 524, 2),
}
# ShuffleNet V2: Table 5. name: (scale, #Params M, FLOPs M)
V2_PUBLISHED = {"x0_5": (0.5, 1.4, 41), "x1_0": (1.0, 2.3, 146), "x1_5": (1.5, 3.5, 299), "x2_0": (2.0, 7.4, 591)}


def _v1(name):
    """A ShuffleNet V1's @variant arguments ("g3_x0_5": g = 3 at 0.5x): its knobs fixed, its V1_PUBLISHED figures."""
    groups, scale, params_m, macs_m, table = V1_PUBLISHED[name]
    return dict(
        knobs={"groups": groups, "scale": scale}, family="shufflenet_v1", paper=_V1_PAPER, arxiv="1707.01083",
        default_size=224, paper_params_m=params_m, paper_macs_m=macs_m,
        figures_source=_V1_NO_PARAMS if params_m is None else f"paper (Table {table}); params: " + _V1_CODE,
        reference=f"megvii-model/ShuffleNet-Series ShuffleNetV1(group={groups}, model_size='{scale}x')"
        if groups in (3, 8) else None)


def _v2(name):
    """A ShuffleNet V2's @variant arguments ("x1_5": 1.5x): its scale fixed, its class name as the model's,
    its V2_PUBLISHED figures."""
    scale, params_m, macs_m = V2_PUBLISHED[name]
    return dict(knobs={"scale": scale}, model_name=f"ShuffleNetV2{name}", family="shufflenet_v2", paper=_V2_PAPER,
                arxiv="1807.11164", default_size=224, paper_params_m=params_m, paper_macs_m=macs_m,
                figures_source="paper (Table 5)", reference=f"torchvision.models.shufflenet_v2_{name}")


@variant("shufflenet_v1_g1", ShuffleNetV1, **_v1("g1"))
def ShuffleNetV1g1(*args, **kwargs):
    """ShuffleNet V1 1x (g = 1), Table 1. Takes ShuffleNetV1's arguments but groups, scale."""


@variant("shufflenet_v1_g2", ShuffleNetV1, **_v1("g2"))
def ShuffleNetV1g2(*args, **kwargs):
    """ShuffleNet V1 1x (g = 2), Table 1. Takes ShuffleNetV1's arguments but groups, scale."""


@variant("shufflenet_v1_g3", ShuffleNetV1, **_v1("g3"))
def ShuffleNetV1g3(*args, **kwargs):
    """ShuffleNet V1 1x (g = 3), Table 1: the authors' network, 1,864,728 parameters. ShuffleNetV1's other arguments."""


@variant("shufflenet_v1_g4", ShuffleNetV1, **_v1("g4"))
def ShuffleNetV1g4(*args, **kwargs):
    """ShuffleNet V1 1x (g = 4), Table 1. Takes ShuffleNetV1's arguments but groups, scale."""


@variant("shufflenet_v1_g8", ShuffleNetV1, **_v1("g8"))
def ShuffleNetV1g8(*args, **kwargs):
    """ShuffleNet V1 1x (g = 8), Table 1: the authors' network. Takes ShuffleNetV1's arguments but groups, scale."""


@variant("shufflenet_v1_g3_x0_5", ShuffleNetV1, **_v1("g3_x0_5"))
def ShuffleNetV1g3x0_5(*args, **kwargs):
    """ShuffleNet V1 0.5x (g = 3), Table 2: the authors' network. Takes ShuffleNetV1's arguments but groups, scale."""


@variant("shufflenet_v1_g3_x1_5", ShuffleNetV1, **_v1("g3_x1_5"))
def ShuffleNetV1g3x1_5(*args, **kwargs):
    """ShuffleNet V1 1.5x (g = 3), Table 2: the authors' network. Takes ShuffleNetV1's arguments but groups, scale."""


@variant("shufflenet_v1_g3_x2_0", ShuffleNetV1, **_v1("g3_x2_0"))
def ShuffleNetV1g3x2_0(*args, **kwargs):
    """ShuffleNet V1 2x (g = 3), Table 2: the authors' network. Takes ShuffleNetV1's arguments but groups, scale."""


@variant("shufflenet_v2_x0_5", ShuffleNetV2, **_v2("x0_5"))
def ShuffleNetV2x0_5(*args, **kwargs):
    """ShuffleNet V2 0.5x: torchvision's shufflenet_v2_x0_5 (1,366,792 parameters); ShuffleNetV2's other arguments."""


@variant("shufflenet_v2_x1_0", ShuffleNetV2, **_v2("x1_0"))
def ShuffleNetV2x1_0(*args, **kwargs):
    """ShuffleNet V2 1x: torchvision's shufflenet_v2_x1_0 (2,278,604 parameters); ShuffleNetV2's other arguments."""


@variant("shufflenet_v2_x1_5", ShuffleNetV2, **_v2("x1_5"))
def ShuffleNetV2x1_5(*args, **kwargs):
    """ShuffleNet V2 1.5x: torchvision's shufflenet_v2_x1_5 (3,503,624 parameters); ShuffleNetV2's other arguments."""


@variant("shufflenet_v2_x2_0", ShuffleNetV2, **_v2("x2_0"))
def ShuffleNetV2x2_0(*args, **kwargs):
    """ShuffleNet V2 2x: torchvision's shufflenet_v2_x2_0 (7,393,996 parameters); ShuffleNetV2's other arguments."""
