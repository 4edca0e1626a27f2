"""MnasNet (Tan et al., "MnasNet: Platform-Aware Neural Architecture Search for
Mobile", CVPR 2019, arXiv:1807.11626), on the shared inverted-residual builder.

- MnasNet-A1: Figure 7 of the paper (squeeze-and-excitation in three stages), with
  strides and SE sizing from the authors' tensorflow/tpu `mnasnet_models.py`: SE
  squeezes to a quarter of the block's input width (floored), ReLU then sigmoid.
- MnasNet-B1: the authors' variant without SE, the one torchvision implements as
  `MNASNet` (mnasnet0_5 ... mnasnet1_3); parameter counts equal torchvision's
  (its version 2, which scales the stem with the width multiplier too).

The width multiplier `alpha` scales every width but the 1280-wide head (the
authors' code and torchvision), rounding to multiples of 8 as both do. Where we
follow (by default, layout="keras") the authors' TensorFlow code rather than
torchvision: "same" padding (for
stride 2 and an even input, TensorFlow pads one pixel after, PyTorch one on each
side, so torchvision's weights would not give identical outputs), and batch-norm
epsilon 1e-3, momentum 0.99 (torchvision: 1e-5, and 0.9997 in TF's convention).
layout="torchvision" builds torchvision's graph instead (symmetric padding, epsilon
1e-5; the same layers and weights), on which its state_dict files load as `weights=`
(module names mapped by `torch_names`) and give its logits. Torchvision's stem (conv
3x3 stride 2, depthwise 3x3, 1x1 to 16) is our stem conv and first block.
Layer names follow our EfficientNet models (stem_conv, block2a_expand_conv, ...,
top_conv, predictions). Inputs: [0, 255] pixels normalized with the ImageNet mean
and standard deviation, as both reference implementations train them.
"""

import re

from keras import layers

from keras_lightnets.layers.inverted_residual import SqueezeExciteStyle
from keras_lightnets.layers.preprocessing import TORCH_RGB_MEAN
from keras_lightnets.layers.preprocessing import TORCH_RGB_STD
from keras_lightnets.layers.preprocessing import channel_statistics
from keras_lightnets.models import _common
from keras_lightnets.models._family import Family
from keras_lightnets.models._family import one_of
from keras_lightnets.models._family import rate
from keras_lightnets.models._family import variant
from keras_lightnets.models._inverted_residual_net import letters_index
from keras_lightnets.models._inverted_residual_net import pooled_dense_head
from keras_lightnets.models._inverted_residual_net import scaled_net_graph
from keras_lightnets.models.scaling import ScalableNet
from keras_lightnets.models.scaling import Stage
from keras_lightnets.models.scaling import compound_scale

__all__ = ["MnasNet"]  # and each variant, added by @variant

# ------------------------------------------------------------ the architecture as data

SE = 0.25
# Figure 7 of the paper: MnasNet-A1. The first block is a separable conv (SepConv,
# no expansion, no shortcut: the authors' "noskip").
A1_STAGES = (
    #     kernel, expansion, out, repeats, stride, SE ratio
    Stage(3, 1, 16, 1, 1, None, skip=False),
    Stage(3, 6, 24, 2, 2, None),
    Stage(5, 3, 40, 3, 2, SE),
    Stage(3, 6, 80, 4, 2, None),
    Stage(3, 6, 112, 2, 1, SE),
    Stage(5, 6, 160, 3, 2, SE),
    Stage(3, 6, 320, 1, 1, None),
)
# mnasnet_b1 of the authors' code; torchvision's MNASNet.
B1_STAGES = (
    Stage(3, 1, 16, 1, 1, None, skip=False),
    Stage(3, 3, 24, 3, 2, None),
    Stage(5, 3, 40, 3, 2, None),
    Stage(5, 6, 80, 3, 2, None),
    Stage(3, 6, 96, 2, 1, None),
    Stage(5, 6, 192, 4, 2, None),
    Stage(3, 6, 320, 1, 1, None),
)
MNASNET_A1 = ScalableNet(A1_STAGES, stem=32, head=1280, resolution=224, scale_head=False)
MNASNET_B1 = ScalableNet(B1_STAGES, stem=32, head=1280, resolution=224, scale_head=False)

BASES = {"a1": MNASNET_A1, "b1": MNASNET_B1}

SE_STYLE = SqueezeExciteStyle(divisor=None, inner_act="relu", gate_act="sigmoid", from_input=True)


def _check_base(name, value):
    if not (isinstance(value, ScalableNet) or isinstance(value, str) and value in BASES):
        raise ValueError(f"`{name}` must be {' or '.join(map(repr, BASES))} or a ScalableNet; received {name}={value!r}.")


def scaled(base, alpha):
    """The base table ("a1", "b1" or a ScalableNet) at width `alpha`."""
    return compound_scale(BASES[base] if isinstance(base, str) else base, width=alpha)


def normalize_imagenet(x):
    """(x / 255 - mean) / std as one Rescaling layer: x * scale + offset per channel
    (any channel count: `channel_statistics`)."""
    mean = channel_statistics(TORCH_RGB_MEAN, x.shape[-1])
    stddev = channel_statistics(TORCH_RGB_STD, x.shape[-1])
    return layers.Rescaling(
        scale=[float(1.0 / (255.0 * s)) for s in stddev],
        offset=[float(-m / s) for m, s in zip(mean, stddev)],
        name="rescaling",
    )(x)


# ------------------------------------------------------------------- the graph


LAYOUTS = {  # the graph each layout builds: padding of the strided convolutions, BatchNorm epsilon
    "keras": {"padding": "same", "bn_epsilon": 1e-3},  # the authors' TensorFlow code
    "torchvision": {"padding": "symmetric", "bn_epsilon": 1e-5},  # torchvision's MNASNet
}


def graph(x, taps, *, base, alpha, layout="keras"):
    """EfficientNet's layout (stem, stages, top conv) on the width-scaled table, ReLU."""
    return scaled_net_graph(x, taps, scaled(base, alpha), act="relu", se_style=SE_STYLE, **LAYOUTS[layout])


_BLOCK = re.compile(r"^block(\d+)([a-z]+)_(.+)$")
# torchvision's MNASNet is one nn.Sequential `layers`: 0-7 the stem (conv, BN, ReLU,
# then our first block: depthwise, BN, ReLU, 1x1, BN), 8.. one _stack per later stage
# (an nn.Sequential of _InvertedResidual, each an nn.Sequential `layers`), then the top
# conv and its BN; the classifier is classifier.1.
_FIRST_BLOCK = {"dwconv": "layers.3", "bn": "layers.4", "project_conv": "layers.6", "project_bn": "layers.7"}
_BLOCK_ROLES = {"expand_conv": 0, "expand_bn": 1, "dwconv": 3, "bn": 4, "project_conv": 6, "project_bn": 7}



def torch_names(model):
    """{our layer: torchvision module} for torchvision's MNASNet (mnasnet0_5 ... 1_3:
    MnasNet-B1, a first stage of one block without expansion)."""
    ours = {layer.name for layer in model.layers}
    stages = max((int(m.group(1)) for m in map(_BLOCK.match, ours) if m), default=1)
    top = 8 + stages - 1  # layers.8 .. layers.(6 + stages) are stages 2 .. stages
    names = {"stem_conv": "layers.0", "stem_bn": "layers.1", "top_conv": f"layers.{top}",
             "top_bn": f"layers.{top + 1}", "predictions": "classifier.1"}
    for layer in ours:
        match = _BLOCK.match(layer)
        if match is None:
            continue
        stage, letters, role = int(match.group(1)), match.group(2), match.group(3)
        if stage == 1 and letters == "a" and role in _FIRST_BLOCK:
            names[layer] = _FIRST_BLOCK[role]
        elif role in _BLOCK_ROLES:
            names[layer] = f"layers.{6 + stage}.{letters_index(letters)}.layers.{_BLOCK_ROLES[role]}"
    return names


# ------------------------------------------------------------------------ the builder

MnasNet = Family(
    "MnasNet", graph=graph, head=pooled_dense_head, preprocessing=normalize_imagenet,
    knobs={"alpha": 1.0, "dropout_rate": 0.2, "base": "b1", "layout": "keras"},
    order=("input_shape", "alpha", "include_top", "weights", "input_tensor", "classes", "pooling", "dropout_rate",
           "classifier_activation", "include_preprocessing", "name", "features_only", "out_strides", "base",
           "layout"),
    checks={"alpha": lambda name, value: _common.check_alpha(value), "dropout_rate": rate("0.2"), "base": _check_base,
            "layout": one_of(tuple(LAYOUTS))},
    defaults={"include_preprocessing": True}, torch_names=torch_names,
    no_imagenet="MnasNet ImageNet weights are published for PyTorch (torchvision) and TensorFlow 1 (tensorflow/tpu) only",
    default_name=lambda knobs, rows: f"mnasnet_{knobs['alpha']:g}",
).builder(doc="""A MnasNet of any width (default: MnasNet-B1, torchvision's MNASNet).

    Args:
        input_shape: (height, width, channels), 32 px or more. Defaults to
            (224, 224, 3) with the classifier, open spatial dims without it.
        alpha: width multiplier (torchvision's `alpha`); widths are rounded to
            multiples of 8, the 1280-wide head is not scaled.
        include_top: add global pooling, dropout and the Dense classifier.
        weights: None or a weights file path (no Keras ImageNet file exists).
        input_tensor: optional Keras tensor to build the model on.
        classes: classifier width.
        pooling: None, "avg" or "max", for include_top=False.
        dropout_rate: dropout before the classifier (0.2, as both references).
        classifier_activation: activation of the classifier, None for logits.
        include_preprocessing: the model takes [0, 255] pixels and normalizes
            them with the ImageNet mean and standard deviation.
        name: model name.
        features_only, out_strides: return the feature maps at these strides
            (2, 4, 8, 16, 32) instead of the classifier.
        base: the stage table: "b1" (MNASNET_B1), "a1" (MNASNET_A1), or any
            ScalableNet.
        layout: "keras" (the authors' TensorFlow graph: "same" padding,
            BatchNorm epsilon 1e-3) or "torchvision" (torchvision's MNASNet:
            PyTorch's symmetric padding of the strided convolutions, BatchNorm
            epsilon 1e-5; with base "b1", its state_dict files load as weights=).
            Same layers and weights either way.
    """)


# ------------------------------------------------------------------------ the variants

_PAPER = "MnasNet: Platform-Aware Neural Architecture Search for Mobile (CVPR 2019)"
_TORCHVISION = "torchvision's MNASNet weights metadata (num_params, _ops)"
_FIGURES = {"family": "mnasnet", "paper": _PAPER, "arxiv": "1807.11626", "default_size": 224}


# registry name: (knobs, parameters M, multiply-adds M, source, reference); A1 the paper's
# Table 1, B1 and its widths torchvision's metadata.
PUBLISHED = {
    "mnasnet_a1": ({"base": "a1"}, 3.9, 312, "paper", "tensorflow/tpu mnasnet_models.mnasnet_a1"),
    "mnasnet_b1": ({"base": "b1"}, 4.383312, 314, _TORCHVISION, "torchvision.models.mnasnet1_0"),
    "mnasnet0_5": ({"alpha": 0.5}, 2.218512, 104, _TORCHVISION, "torchvision.models.mnasnet0_5"),
    "mnasnet0_75": ({"alpha": 0.75}, 3.170208, 215, _TORCHVISION, "torchvision.models.mnasnet0_75"),
    "mnasnet1_0": ({"alpha": 1.0}, 4.383312, 314, _TORCHVISION, "torchvision.models.mnasnet1_0"),
    "mnasnet1_3": ({"alpha": 1.3}, 6.282256, 526, _TORCHVISION, "torchvision.models.mnasnet1_3"),
}


def published(registry_name):
    """A variant's @variant arguments: its knobs and figures (A1 and B1 keep their own model names)."""
    knobs, params, macs, source, reference = PUBLISHED[registry_name]
    name = {"model_name": registry_name} if "base" in knobs else {}
    return {"knobs": knobs, **name, "paper_params_m": params, "paper_macs_m": macs, "figures_source": source,
            "reference": reference, **_FIGURES}


@variant("mnasnet_a1", MnasNet, **published("mnasnet_a1"))
def MnasNetA1(*args, **kwargs):
    """MnasNet-A1 (paper Figure 7, with SE) at width 1.0; MnasNet's arguments but `base`."""


@variant("mnasnet_b1", MnasNet, **published("mnasnet_b1"))
def MnasNetB1(*args, **kwargs):
    """MnasNet-B1 (no SE; torchvision's MNASNet) at width 1.0; MnasNet's arguments but `base`."""


@variant("mnasnet0_5", MnasNet, **published("mnasnet0_5"))
def MnasNet0_5(*args, **kwargs):
    """torchvision's mnasnet0_5 (B1 at width 0.5). MnasNet's arguments but `alpha`."""


@variant("mnasnet0_75", MnasNet, **published("mnasnet0_75"))
def MnasNet0_75(*args, **kwargs):
    """torchvision's mnasnet0_75 (B1 at width 0.75). MnasNet's arguments but `alpha`."""


@variant("mnasnet1_0", MnasNet, **published("mnasnet1_0"))
def MnasNet1_0(*args, **kwargs):
    """torchvision's mnasnet1_0 (B1 at width 1.0). MnasNet's arguments but `alpha`."""


@variant("mnasnet1_3", MnasNet, **published("mnasnet1_3"))
def MnasNet1_3(*args, **kwargs):
    """torchvision's mnasnet1_3 (B1 at width 1.3). MnasNet's arguments but `alpha`."""
