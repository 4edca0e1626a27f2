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
follow the authors' TensorFlow code rather than torchvision: "same" padding (for
stride 2 and an even input, TensorFlow pads one pixel after, PyTorch one on each
side, so torchvision's weights would not give identical outputs), and batch-norm
epsilon 1e-3, momentum 0.99 (torchvision: 1e-5, and 0.9997 in TF's convention).
Layer names follow our EfficientNet models (stem_conv, block2a_expand_conv, ...,
top_conv, predictions). Inputs: [0, 255] pixels normalized with the ImageNet mean
and standard deviation, as both reference implementations train them.
"""

import numbers

from keras import layers

from keras_lightnets.layers.blocks import conv_bn_act
from keras_lightnets.layers.inverted_residual import BlockNaming
from keras_lightnets.layers.inverted_residual import SqueezeExciteStyle
from keras_lightnets.layers.preprocessing import channel_statistics
from keras_lightnets.models import _common
from keras_lightnets.models._inverted_residual_net import Family
from keras_lightnets.models._inverted_residual_net import walk_blocks
from keras_lightnets.models.efficientnet import IMAGENET_MEAN
from keras_lightnets.models.efficientnet import IMAGENET_STDDEV
from keras_lightnets.models.efficientnet import SUFFIXES
from keras_lightnets.models.efficientnet import blocks_from_table
from keras_lightnets.models.scaling import ScalableNet
from keras_lightnets.models.scaling import Stage
from keras_lightnets.models.scaling import compound_scale
from keras_lightnets.registry import register_model

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

SE_STYLE = SqueezeExciteStyle(divisor=None, inner_act="relu", gate_act="sigmoid", from_input=True)
BN_EPSILON, BN_MOMENTUM = 1e-3, 0.99


def _normalize_imagenet(x):
    """(x / 255 - mean) / std as one Rescaling layer: x * scale + offset per channel
    (any channel count: `channel_statistics`)."""
    mean = channel_statistics(IMAGENET_MEAN, x.shape[-1])
    stddev = channel_statistics(IMAGENET_STDDEV, x.shape[-1])
    return layers.Rescaling(
        scale=[float(1.0 / (255.0 * s)) for s in stddev],
        offset=[float(-m / s) for m, s in zip(mean, stddev)],
        name="rescaling",
    )(x)


def MnasNet(
    input_shape=None,
    alpha=1.0,
    include_top=True,
    weights=None,
    input_tensor=None,
    classes=1000,
    pooling=None,
    dropout_rate=0.2,
    classifier_activation="softmax",
    include_preprocessing=True,
    name=None,
    features_only=False,
    out_strides=_common.DEFAULT_OUT_STRIDES,
    base=MNASNET_B1,
):
    """A MnasNet of any width (default: MnasNet-B1, torchvision's MNASNet).

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
        base: the stage table, MNASNET_B1 or MNASNET_A1 (or any ScalableNet).
    """
    _common.check_channels_last()
    _common.check_alpha(alpha)
    _common.check_pooling(pooling)
    if not isinstance(dropout_rate, numbers.Real) or isinstance(dropout_rate, bool) or not 0 <= dropout_rate < 1:
        raise ValueError(f"`dropout_rate` must be a number in [0, 1); received dropout_rate={dropout_rate!r}.")
    has_top = include_top and not features_only
    _common.check_weights(
        weights, has_top, classes,
        available="MnasNet ImageNet weights are published for PyTorch (torchvision) and TensorFlow 1 (tensorflow/tpu) only",
    )
    net = compound_scale(base, width=alpha)
    image, inputs = _common.resolve_input(
        input_shape, input_tensor, default_size=net.resolution, weights=weights, static_default=has_top,
    )
    blocks, prefixes = blocks_from_table(net, "relu")
    family = Family(
        naming=BlockNaming(prefix=prefixes.__getitem__, suffixes=SUFFIXES),
        round_filters=lambda filters, _: filters,  # the table is already scaled
        se_style=SE_STYLE, bn_epsilon=BN_EPSILON, bn_momentum=BN_MOMENTUM,
    )

    taps = _common.FeatureTaps()
    x = _normalize_imagenet(image) if include_preprocessing else image
    x = conv_bn_act(
        x, net.stem, 3, strides=2, act="relu", name="stem_conv", bn_name="stem_bn",
        act_name="stem_activation", bn_epsilon=BN_EPSILON, bn_momentum=BN_MOMENTUM,
    )
    x, stride = walk_blocks(x, blocks, 1.0, family, taps, stride=2)
    x = conv_bn_act(
        x, net.head, 1, act="relu", name="top_conv", bn_name="top_bn",
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

    return _common.finish(
        inputs, x,
        name=name or f"mnasnet_{alpha:g}",
        weights=weights, imagenet_file=None,
        taps=taps, features_only=features_only, out_strides=out_strides,
    )


def MnasNetA1(
    input_shape=None, alpha=1.0, include_top=True, weights=None, input_tensor=None, classes=1000, pooling=None,
    dropout_rate=0.2, classifier_activation="softmax", include_preprocessing=True, name="mnasnet_a1",
    features_only=False, out_strides=_common.DEFAULT_OUT_STRIDES,
):
    """MnasNet-A1 (paper Figure 7, with SE). Arguments as `MnasNet`."""
    return MnasNet(
        input_shape, alpha, include_top, weights, input_tensor, classes, pooling, dropout_rate,
        classifier_activation, include_preprocessing, name, features_only, out_strides, base=MNASNET_A1,
    )


def MnasNetB1(
    input_shape=None, alpha=1.0, include_top=True, weights=None, input_tensor=None, classes=1000, pooling=None,
    dropout_rate=0.2, classifier_activation="softmax", include_preprocessing=True, name="mnasnet_b1",
    features_only=False, out_strides=_common.DEFAULT_OUT_STRIDES,
):
    """MnasNet-B1 (no SE; torchvision's MNASNet). Arguments as `MnasNet`."""
    return MnasNet(
        input_shape, alpha, include_top, weights, input_tensor, classes, pooling, dropout_rate,
        classifier_activation, include_preprocessing, name, features_only, out_strides, base=MNASNET_B1,
    )


_PAPER = "MnasNet: Platform-Aware Neural Architecture Search for Mobile (CVPR 2019)"
_TORCHVISION = "torchvision's MNASNet weights metadata (num_params, _ops)"
for _name, _builder, _alpha, _params, _macs, _source, _reference in (
    ("mnasnet_a1", MnasNetA1, 1.0, 3.9, 312, "paper", "tensorflow/tpu mnasnet_models.mnasnet_a1"),
    ("mnasnet_b1", MnasNetB1, 1.0, 4.383312, 314, _TORCHVISION, "torchvision.models.mnasnet1_0"),
    ("mnasnet0_5", MnasNetB1, 0.5, 2.218512, 104, _TORCHVISION, "torchvision.models.mnasnet0_5"),
    ("mnasnet0_75", MnasNetB1, 0.75, 3.170208, 215, _TORCHVISION, "torchvision.models.mnasnet0_75"),
    ("mnasnet1_0", MnasNetB1, 1.0, 4.383312, 314, _TORCHVISION, "torchvision.models.mnasnet1_0"),
    ("mnasnet1_3", MnasNetB1, 1.3, 6.282256, 526, _TORCHVISION, "torchvision.models.mnasnet1_3"),
):
    register_model(
        _name, _builder, defaults={"alpha": _alpha}, family="mnasnet", paper=_PAPER, arxiv="1807.11626",
        default_size=224, paper_params_m=_params, paper_macs_m=_macs, figures_source=_source, reference=_reference,
    )
