"""MobileNetV2 (Sandler et al., "MobileNetV2: Inverted Residuals and Linear
Bottlenecks", CVPR 2018, arXiv:1801.04381).

Layer names and channel rounding follow keras.applications.MobileNetV2, so its
weight files load into this model and give the same outputs. `layout="torchvision"`
builds torchvision's graph instead (its MobileNet_V2_Weights): PyTorch's symmetric
padding, BatchNorm epsilon 1e-5, ImageNet mean/std and its width rounding.
"""

import dataclasses
import functools

from keras_lightnets.layers.blocks import conv_bn_act
from keras_lightnets.layers.blocks import make_divisible
from keras_lightnets.layers.inverted_residual import BlockNaming
from keras_lightnets.layers.preprocessing import torch_preprocessing
from keras_lightnets.models import _common
from keras_lightnets.models._family import Family
from keras_lightnets.models._family import one_of
from keras_lightnets.models._family import variant
from keras_lightnets.models._inverted_residual_net import BlockStyle
from keras_lightnets.models._inverted_residual_net import blocks_from_stages
from keras_lightnets.models._inverted_residual_net import pooled_dense_head
from keras_lightnets.models._inverted_residual_net import walk_blocks
from keras_lightnets.models.scaling import Stage
from keras_lightnets.weights import KERAS_APPLICATIONS_URL
from keras_lightnets.weights import WeightFile

__all__ = ["MobileNetV2"]  # and each variant, added by @variant

# ------------------------------------------------------------ the architecture as data

# Table 2 of the paper: 3x3 blocks of expansion t, output channels c, repeated n
# times, the first with stride s.
PAPER_TABLE = (
    #     k, t,   c, n, s
    Stage(3, 1, 16, 1, 1),
    Stage(3, 6, 24, 2, 2),
    Stage(3, 6, 32, 3, 2),
    Stage(3, 6, 64, 4, 2),
    Stage(3, 6, 96, 3, 1),
    Stage(3, 6, 160, 3, 2),
    Stage(3, 6, 320, 1, 1),
)
STEM_FILTERS = 32
HEAD_FILTERS = 1280

STYLE = BlockStyle(
    naming=BlockNaming(
        prefix=lambda i: f"block_{i}_" if i else "expanded_conv_",
        suffixes={
            "expand_bn": "expand_BN",
            "expand_act": "expand_relu",
            "depthwise_bn": "depthwise_BN",
            "depthwise_act": "depthwise_relu",
            "project_bn": "project_BN",
        },
    ),
    # int() before rounding, exactly as the reference implementation.
    round_filters=lambda filters, alpha: make_divisible(int(filters * alpha)),
)

# torchvision's graph (its MobileNet_V2_Weights): PyTorch's symmetric padding of the
# strided convolutions, BatchNorm epsilon 1e-5, channels rounded without the int()
# (torchvision's _make_divisible(c * width_mult)), ImageNet mean/std on [0, 1].
LAYOUTS = ("keras", "torchvision")
TORCHVISION_STYLE = dataclasses.replace(
    STYLE, round_filters=lambda filters, alpha: make_divisible(filters * alpha), bn_epsilon=1e-5,
    padding="symmetric")


def torch_names(model):
    """{our layer: torchvision module}, from Table 2: features.0 the stem, then one
    features.i per block (its conv.0 the expansion where the block expands, then the
    depthwise Conv2dNormActivation, the projection and its BatchNorm), the last 1x1
    convolution after them, classifier.1 the logits."""
    blocks = blocks_from_stages(PAPER_TABLE)
    names = {"Conv1": "features.0.0", "bn_Conv1": "features.0.1", "predictions": "classifier.1",
             "Conv_1": f"features.{len(blocks) + 1}.0", "Conv_1_bn": f"features.{len(blocks) + 1}.1"}
    for index, block in enumerate(blocks):
        expand = block.expansion != 1
        depthwise = int(expand)  # the depthwise Conv2dNormActivation's place in `conv`
        modules = {"depthwise": f"{depthwise}.0", "depthwise_bn": f"{depthwise}.1", "project": f"{depthwise + 1}",
                   "project_bn": f"{depthwise + 2}", **({"expand": "0.0", "expand_bn": "0.1"} if expand else {})}
        names.update({STYLE.naming(index, role): f"features.{index + 1}.conv.{module}"
                      for role, module in modules.items()})
    return names


def preprocessing(x, *, layout):
    """[0, 255] pixels -> [-1, 1] (keras.applications'), or torchvision's ImageNet mean/std."""
    return torch_preprocessing(x) if layout == "torchvision" else _common.preprocessing(x)


IMAGENET_ALPHAS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)
IMAGENET_SIZES = (96, 128, 160, 192, 224)


def imagenet_weights(alpha, rows, include_top):
    # keras.applications publishes no hashes for these files.
    name = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{rows}{'' if include_top else '_no_top'}.h5"
    return WeightFile(name, KERAS_APPLICATIONS_URL + "mobilenet_v2/" + name)


def imagenet(knobs, rows, has_top):
    """keras.applications' file for this width at the input size (224 for sizes it lacks)."""
    if knobs.get("layout", "keras") != "keras":
        return None, "keras.applications' weights need layout='keras' (torchvision's: weights='torchvision')"
    if knobs["alpha"] not in IMAGENET_ALPHAS:
        return None, f"alpha must be one of {IMAGENET_ALPHAS}, received {knobs['alpha']}"
    return imagenet_weights(knobs["alpha"], rows if rows in IMAGENET_SIZES else 224, has_top), None


# ------------------------------------------------------------------- the graph


def atrous(blocks, output_stride, stride=2):
    """`blocks` (stride `stride` before them) keeping `output_stride`: as the authors'
    TF-slim code (mobilenet.py, the DeepLab backbone of section 6.3), a block that would
    stride beyond it runs at stride 1 and the rate it had, and every later block's
    depthwise dilation grows by the stride it skipped."""
    out, rate = [], 1
    for block in blocks:
        if stride == output_stride and block.stride > 1:
            block, rate = dataclasses.replace(block, stride=1, dilation=rate), rate * block.stride
        else:
            stride *= block.stride
            block = dataclasses.replace(block, dilation=rate)
        out.append(block)
    return tuple(out)


def graph(x, taps, *, alpha, layout="keras", output_stride=32):
    """Stem, Table 2's blocks, and the last 1x1 convolution (widened above alpha 1);
    `layout`: keras.applications' graph or torchvision's (padding, epsilon, rounding);
    `output_stride` 16 or 8: the last stages dilated instead of strided."""
    style = TORCHVISION_STYLE if layout == "torchvision" else STYLE
    bn = {"bn_epsilon": style.bn_epsilon}
    x = conv_bn_act(x, make_divisible(STEM_FILTERS * alpha), 3, strides=2, act="relu6", name="Conv1",
                    bn_name="bn_Conv1", act_name="Conv1_relu", padding=style.padding, **bn)
    blocks = atrous(blocks_from_stages(PAPER_TABLE, "relu6"), output_stride)
    x, stride = walk_blocks(x, blocks, alpha, style, taps, stride=2)
    head_filters = make_divisible(HEAD_FILTERS * alpha) if alpha > 1.0 else HEAD_FILTERS
    x = conv_bn_act(x, head_filters, 1, act="relu6", name="Conv_1", bn_name="Conv_1_bn", act_name="out_relu", **bn)
    taps.record(x, stride)
    return x


# ------------------------------------------------------------------------ the builder

MobileNetV2 = Family(
    "MobileNetV2", graph=graph, preprocessing=preprocessing,
    head=functools.partial(pooled_dense_head, names=("global_average_pooling2d", "dropout")),  # keras.applications'
    knobs={"alpha": 1.0, "dropout_rate": 0.0, "layout": "keras", "output_stride": 32},
    # keras.applications.MobileNetV2's order, then ours (issue 21).
    order=("input_shape", "alpha", "include_top", "weights", "input_tensor", "pooling", "classes",
           "classifier_activation", "name", "dropout_rate", "include_preprocessing", "features_only", "out_strides",
           "layout", "output_stride"),
    checks={"alpha": lambda name, value: _common.check_alpha(value), "layout": one_of(LAYOUTS),
            "output_stride": one_of((32, 16, 8), "32, 16 or 8")},
    imagenet=imagenet,
    torch_names=torch_names,
    default_name=lambda knobs, rows: f"mobilenetv2_{knobs['alpha']:0.2f}_{rows}",
).builder(doc="""MobileNetV2, with keras.applications.MobileNetV2's signature and layer names.

    Args:
        input_shape: (height, width, channels), spatial size 32 or more (the paper's
            resolution multiplier). Defaults to (224, 224, 3) with the classifier,
            open spatial dims without it, as keras.applications.
        alpha: width multiplier; channels are scaled and rounded to multiples of 8.
            Above 1.0 the last 1x1 convolution (1280) is widened too.
        include_top: add the global pooling + Dense classifier.
        weights: None, "imagenet" (keras.applications' published file for this
            alpha and the nearest published resolution) or a weights file path.
        input_tensor: optional Keras tensor to build the model on.
        pooling: None, "avg" or "max", for include_top=False.
        classes: classifier width.
        classifier_activation: activation of the classifier, None for logits.
        name: model name (None: keras.applications' "mobilenetv2_{alpha}_{rows}").
        dropout_rate: dropout before the classifier (the reference has none: 0).
        include_preprocessing: add a Rescaling layer so the model takes [0, 255]
            pixels. False, as keras.applications, which expects
            `preprocess_input` ([-1, 1]) to be applied by the caller.
        features_only: return the backbone's feature maps at `out_strides`
            (strides 2, 4, 8, 16, 32) instead of the classifier.
        layout: "keras" (keras.applications' graph, its weight files) or
            "torchvision" (torchvision's: PyTorch's symmetric padding of strided
            convolutions, BatchNorm epsilon 1e-5, its channel rounding and ImageNet
            mean/std preprocessing), for torchvision's checkpoints (MobileNet_V2_Weights).
        output_stride: 32 (the classifier's), or 16 / 8 for dense prediction (section
            6.3's DeepLabv3 backbone): the stages past it run at stride 1 with dilated
            depthwise convolutions (the authors' TF-slim rule), the same weights;
            features_only then offers out_strides up to it.
    """)


# ------------------------------------------------------------------------ the variants
# Figures: the paper's Tables 4 and 6 for 1.0 and 1.4; the authors' checkpoint table
# for the rest.

_PAPER = "MobileNetV2: Inverted Residuals and Linear Bottlenecks (CVPR 2018)"
_CHECKPOINTS = "the authors' checkpoint table (tensorflow/models slim)"
_FIGURES = {"family": "mobilenet_v2", "paper": _PAPER, "arxiv": "1801.04381", "default_size": 224,
            "reference": "keras.applications.MobileNetV2"}
_NOTE_140 = (
    "The paper prints 6.9M parameters for width 1.4; the architecture it describes (and the "
    "authors' own 1.4 checkpoint, listed at 6.06M) has 6.11M trainable parameters, as "
    "keras.applications.MobileNetV2(alpha=1.4) has (6,108,776)."
)


# alpha: (parameters M, multiply-adds M, their source); the paper's Tables 4 and 6 for 1.0
# and 1.4, the authors' checkpoint table for the other widths.
PUBLISHED = {
    1.0: (3.4, 300, "paper"), 1.4: (6.9, 585, "paper"), 1.3: (5.3, 509, _CHECKPOINTS),
    0.75: (2.61, 209, _CHECKPOINTS), 0.5: (1.95, 97, _CHECKPOINTS), 0.35: (1.66, 59, _CHECKPOINTS),
}


def at_width(alpha):
    """The variant at `alpha`'s @variant arguments: the width fixed, its figures."""
    params, macs, source = PUBLISHED[alpha]
    return {"knobs": {"alpha": alpha}, "paper_params_m": params, "paper_macs_m": macs, "figures_source": source,
            "note": _NOTE_140 if alpha == 1.4 else "", **_FIGURES}


@variant("mobilenet_v2", MobileNetV2, **at_width(1.0))
def MobileNetV2_100(*args, **kwargs):
    """MobileNetV2 1.0 (Table 4): 3.4M parameters, 300M MACs. MobileNetV2's arguments but `alpha`."""


@variant("mobilenet_v2_140", MobileNetV2, **at_width(1.4))
def MobileNetV2_140(*args, **kwargs):
    """MobileNetV2 1.4 (Table 6): 6.11M parameters, 585M MACs. MobileNetV2's arguments but `alpha`."""


@variant("mobilenet_v2_130", MobileNetV2, **at_width(1.3))
def MobileNetV2_130(*args, **kwargs):
    """MobileNetV2 1.3: 5.3M parameters, 509M MACs. MobileNetV2's arguments but `alpha`."""


@variant("mobilenet_v2_075", MobileNetV2, **at_width(0.75))
def MobileNetV2_075(*args, **kwargs):
    """MobileNetV2 0.75: 2.61M parameters, 209M MACs. MobileNetV2's arguments but `alpha`."""


@variant("mobilenet_v2_050", MobileNetV2, **at_width(0.5))
def MobileNetV2_050(*args, **kwargs):
    """MobileNetV2 0.5: 1.95M parameters, 97M MACs. MobileNetV2's arguments but `alpha`."""


@variant("mobilenet_v2_035", MobileNetV2, **at_width(0.35))
def MobileNetV2_035(*args, **kwargs):
    """MobileNetV2 0.35: 1.66M parameters, 59M MACs. MobileNetV2's arguments but `alpha`."""
