"""One builder for the inverted-residual family: it walks a paper's block table.

MobileNetV2, MobileNetV3, MnasNet and EfficientNet (and its Lite variants) differ
only in their tables, channel rounding, SE style and layer names; everything else is
here.
"""

import dataclasses
from typing import Callable, Optional, Sequence

from keras_lightnets.layers.blocks import make_divisible
from keras_lightnets.layers.inverted_residual import BlockNaming
from keras_lightnets.layers.inverted_residual import SqueezeExciteStyle
from keras_lightnets.layers.inverted_residual import inverted_residual


@dataclasses.dataclass(frozen=True)
class Block:
    """One inverted-residual block, as one row of a paper's table."""

    kernel: int
    expansion: float  # expanded width / input width
    out: int  # output width at width multiplier 1.0
    se_ratio: Optional[float]
    act: str
    stride: int
    skip: bool = True  # identity shortcut where shapes allow (MnasNet's first block: no)


@dataclasses.dataclass(frozen=True)
class Family:
    """What a family fixes beyond its table."""

    naming: BlockNaming
    round_filters: Callable[[float, float], int]  # (paper width, alpha) -> width
    se_style: SqueezeExciteStyle = SqueezeExciteStyle()
    bn_epsilon: float = 1e-3
    bn_momentum: float = 0.999


def walk_blocks(x, blocks: Sequence[Block], alpha, family: Family, taps, stride, drop_connect_rate=0.0):
    """Applies `blocks`; records feature taps before each downsampling.

    `drop_connect_rate`: block i of n drops its residual branch with probability
    drop_connect_rate * i / n while training (EfficientNet's linear schedule).

    Returns (output, output stride).
    """
    for index, block in enumerate(blocks):
        if block.stride > 1:
            taps.record(x, stride)
            stride *= block.stride
        x = inverted_residual(
            x,
            expanded_filters=make_divisible(x.shape[-1] * block.expansion),
            out_filters=family.round_filters(block.out, alpha),
            kernel_size=block.kernel,
            stride=block.stride,
            act=block.act,
            se_ratio=block.se_ratio,
            index=index,
            naming=family.naming,
            se_style=family.se_style,
            bn_epsilon=family.bn_epsilon,
            bn_momentum=family.bn_momentum,
            skip=block.skip,
            drop_rate=drop_connect_rate * index / len(blocks),
        )
    return x, stride
