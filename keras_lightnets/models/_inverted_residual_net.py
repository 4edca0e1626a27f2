"""What the inverted-residual families share: a table of stages expanded into blocks,
the walk over them, and the EfficientNet-style network (stem, stages, top conv,
pooled classifier) that EfficientNet and MnasNet both are.

MobileNetV2, MobileNetV3, MnasNet and EfficientNet (and its Lite variants) differ
only in their tables, channel rounding, SE style and layer names; everything else is
here.
"""

import dataclasses
from typing import Callable, Sequence

from keras import layers

from keras_lightnets.layers.blocks import conv_bn_act
from keras_lightnets.layers.blocks import make_divisible
from keras_lightnets.layers.inverted_residual import BlockNaming
from keras_lightnets.layers.inverted_residual import SqueezeExciteStyle
from keras_lightnets.layers.inverted_residual import fused_inverted_residual
from keras_lightnets.layers.inverted_residual import inverted_residual
from keras_lightnets.models.scaling import ScalableNet
from keras_lightnets.models.scaling import Stage


@dataclasses.dataclass(frozen=True)
class BlockStyle:
    """What a family fixes beyond its table."""

    naming: BlockNaming
    round_filters: Callable[[float, float], int]  # (paper width, alpha) -> width
    se_style: SqueezeExciteStyle = SqueezeExciteStyle()
    bn_epsilon: float = 1e-3
    bn_momentum: float = 0.999
    padding: str = "same"  # of strided convolutions: "same" (TensorFlow's) or "symmetric" (PyTorch's)
    # (input width, expansion) -> expanded width; EfficientNetV2 multiplies exactly
    expanded_width: Callable[[int, float], int] = lambda width, expansion: make_divisible(width * expansion)


def blocks_from_stages(stages: Sequence[Stage], act=None):
    """One single-block Stage per layer: each stage's `repeats` blocks, its stride on
    the first; the stage's own activation where the table gives one, else `act`."""
    return tuple(
        dataclasses.replace(s, repeats=1, stride=s.stride if i == 0 else 1, act=s.act or act)
        for s in stages
        for i in range(s.repeats)
    )


def walk_blocks(x, blocks: Sequence[Stage], alpha, style: BlockStyle, taps, stride, drop_connect_rate=0.0):
    """Applies `blocks`; records feature taps before each downsampling.

    `drop_connect_rate`: block i of n drops its residual branch with probability
    drop_connect_rate * i / n while training (EfficientNet's linear schedule).

    A block whose Stage is `fused` is a Fused-MBConv (EfficientNetV2).

    Returns (output, output stride).
    """
    for index, block in enumerate(blocks):
        if block.stride > 1:
            taps.record(x, stride)
            stride *= block.stride
        x = (fused_inverted_residual if block.fused else inverted_residual)(
            x,
            expanded_filters=style.expanded_width(x.shape[-1], block.expansion),
            out_filters=style.round_filters(block.out, alpha),
            kernel_size=block.kernel,
            stride=block.stride,
            act=block.act,
            se_ratio=block.se_ratio,
            index=index,
            naming=style.naming,
            se_style=style.se_style,
            bn_epsilon=style.bn_epsilon,
            bn_momentum=style.bn_momentum,
            skip=block.skip,
            drop_rate=drop_connect_rate * index / len(blocks),
            padding=style.padding,
            dilation=block.dilation,
        )
    return x, stride


# ------------------------------------------- the EfficientNet-style network (and MnasNet's)

SUFFIXES = {  # our block roles -> keras.applications' EfficientNet layer names
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
BN_EPSILON, BN_MOMENTUM = 1e-3, 0.99  # the authors' TPU code and keras.applications


def _stage_letters(j):
    """a, b, ..., z, then ba, bb, ... (keras.applications: chr(97 + j), j < 26)."""
    return chr(97 + j) if j < 26 else _stage_letters(j // 26) + chr(97 + j % 26)


def letters_index(letters):
    """_stage_letters inverted: a -> 0, ..., z -> 25, ba -> 26 (for maps from our block
    names to a reference's module indices)."""
    index = 0
    for letter in letters:
        index = index * 26 + ord(letter) - 97
    return index


def stage_prefixes(stages: Sequence[Stage]):
    """keras.applications' block name prefixes: block{stage}{a, b, ...}_, one per block."""
    return tuple(f"block{i + 1}{_stage_letters(j)}_" for i, stage in enumerate(stages) for j in range(stage.repeats))


def scaled_net_graph(x, taps, net: ScalableNet, *, act, se_style, drop_connect_rate=0.0, padding="same",
                     bn_epsilon=BN_EPSILON, bn_momentum=BN_MOMENTUM, suffixes=SUFFIXES, expanded_width=None):
    """Stem conv, `net`'s stages, top conv (EfficientNet's layer names), taps at
    every stride. `net` is already scaled: its widths are built as they are.
    `padding` of the strided convolutions: "same" (TensorFlow's) or "symmetric"
    (PyTorch's, for torchvision's weights, with its `bn_epsilon`). EfficientNetV2
    changes `bn_momentum`, the block layer names (`suffixes`) and `expanded_width`
    (BlockStyle's)."""
    bn = {"bn_epsilon": bn_epsilon, "bn_momentum": bn_momentum}
    x = conv_bn_act(x, net.stem, 3, strides=2, act=act, name="stem_conv", bn_name="stem_bn",
                    act_name="stem_activation", padding=padding, **bn)
    style = BlockStyle(naming=BlockNaming(prefix=stage_prefixes(net.stages).__getitem__, suffixes=suffixes),
                       round_filters=lambda filters, _: filters, se_style=se_style, padding=padding, **bn,
                       **({"expanded_width": expanded_width} if expanded_width else {}))
    x, stride = walk_blocks(x, blocks_from_stages(net.stages, act), 1.0, style, taps, stride=2,
                            drop_connect_rate=drop_connect_rate)
    x = conv_bn_act(x, net.head, 1, act=act, name="top_conv", bn_name="top_bn", act_name="top_activation", **bn)
    taps.record(x, stride)
    return x


def pooled_dense_head(x, *, classes, classifier_activation, dropout_rate, names=("avg_pool", "top_dropout")):
    """Global average pooling, dropout, the Dense classifier; `names`: the pooling and
    dropout layers' (EfficientNet's by default)."""
    x = layers.GlobalAveragePooling2D(name=names[0])(x)
    if dropout_rate > 0:
        x = layers.Dropout(dropout_rate, name=names[1])(x)
    return layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
