"""Compound scaling (Tan & Le, "EfficientNet: Rethinking Model Scaling for
Convolutional Neural Networks", ICML 2019, section 3.3), for any inverted-residual
network written as a stage table.

    b3 = compound_scale(EFFICIENTNET_B0, width=1.2, depth=1.4, resolution=300)
    mine = compound_scale(MNASNET_A1, phi=1)     # the paper's rule, eq. (3)

The paper scales depth by alpha^phi, width by beta^phi and resolution by gamma^phi
(alpha=1.2, beta=1.1, gamma=1.15, found by grid search on B0 under
alpha * beta^2 * gamma^2 ~ 2, so each unit of phi about doubles the multiply-adds).
Channels are rounded as the authors' code does (`round_filters`: nearest multiple
of 8, never more than 10% down) and repeats rounded up (`round_repeats`: ceil).
"""

import dataclasses
import math
import numbers
from typing import Optional
from typing import Tuple

from keras_lightnets.layers.blocks import make_divisible

__all__ = ["ScalableNet", "Stage", "compound_scale"]

ALPHA, BETA, GAMMA = 1.2, 1.1, 1.15  # depth, width, resolution bases (paper, eq. 3)


@dataclasses.dataclass(frozen=True)
class Stage:
    """One row of a paper's stage table: `repeats` blocks, the first with `stride`."""

    kernel: int
    expansion: float
    out: int
    repeats: int
    stride: int
    se_ratio: Optional[float] = None
    skip: bool = True  # identity shortcuts where shapes allow
    act: Optional[str] = None  # the row's non-linearity where the table gives one (MobileNetV3's NL)
    dilation: int = 1  # of the depthwise convolution (a dilated stage keeps its resolution: stride 1, dilation 2)
    fused: bool = False  # Fused-MBConv (EfficientNetV2): one k x k convolution for expansion and depthwise


@dataclasses.dataclass(frozen=True)
class ScalableNet:
    """A network as compound scaling sees it: stem width, stage table, head width and
    input resolution. What a family keeps fixed while scaling is part of it."""

    stages: Tuple[Stage, ...]
    stem: int
    head: int
    resolution: int
    divisor: int = 8
    scale_stem: bool = True
    scale_head: bool = True
    fixed_depth_stages: Tuple[int, ...] = ()  # stage indices whose repeats never scale


def round_filters(filters, width, divisor=8):
    """Channels at width coefficient `width`, as the EfficientNet/MnasNet code."""
    return make_divisible(filters * width, divisor)


def round_repeats(repeats, depth):
    """Blocks in a stage at depth coefficient `depth` (rounded up)."""
    return int(math.ceil(depth * repeats))


def _check_positive(name, value):
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"`{name}` must be a positive number; received {name}={value!r}.")


def compound_scale(
    base: ScalableNet,
    phi=None,
    *,
    width=None,
    depth=None,
    resolution=None,
    alpha=ALPHA,
    beta=BETA,
    gamma=GAMMA,
) -> ScalableNet:
    """Scales `base` and returns the scaled table (concrete channels and repeats).

    Either `phi`, the paper's compound coefficient: width beta^phi, depth alpha^phi,
    resolution round(base.resolution * gamma^phi) pixels; or explicit coefficients
    `width`, `depth` (multipliers) and `resolution` (pixels), each defaulting to the
    base's. Not both.

    The released EfficientNets do not follow the rule exactly: the authors rounded
    its values by hand (efficientnet_builder.py), e.g. B1 is (width 1.0, depth 1.1,
    240 px) where phi=1 gives (1.1, 1.2, 258 px), and B7 (2.0, 3.1, 600) where phi=7
    gives (1.95, 3.58, 596). B1..B7 are therefore built from their published
    coefficients (efficientnet.COEFFICIENTS), which is how keras.applications,
    timm and the authors build them; `phi` gives the paper's rule for other sizes.
    """
    if not isinstance(base, ScalableNet):
        raise ValueError(f"`base` must be a ScalableNet (e.g. efficientnet.EFFICIENTNET_B0); received {type(base).__name__}.")
    for name, value in (("alpha", alpha), ("beta", beta), ("gamma", gamma)):
        _check_positive(name, value)
    explicit = {k: v for k, v in (("width", width), ("depth", depth), ("resolution", resolution)) if v is not None}
    if phi is not None:
        if explicit:
            raise ValueError(
                f"Pass either `phi` (the paper's rule) or explicit coefficients, not both; received phi={phi!r} "
                f"and {', '.join(f'{k}={v!r}' for k, v in explicit.items())}."
            )
        if not isinstance(phi, numbers.Real) or isinstance(phi, bool) or not math.isfinite(phi) or phi < 0:
            raise ValueError(
                f"`phi` (the compound coefficient) must be a number >= 0, e.g. 1 for about twice the multiply-adds; "
                f"received phi={phi!r}. To scale down, pass width, depth and resolution explicitly."
            )
        width, depth, resolution = beta**phi, alpha**phi, int(round(base.resolution * gamma**phi))
    width = 1.0 if width is None else width
    depth = 1.0 if depth is None else depth
    resolution = base.resolution if resolution is None else resolution
    _check_positive("width", width)
    _check_positive("depth", depth)
    if not isinstance(resolution, numbers.Integral) or isinstance(resolution, bool) or resolution < 32:
        raise ValueError(f"`resolution` is the input size in pixels, an integer of at least 32 (e.g. 240); received resolution={resolution!r}.")

    fixed = {i % len(base.stages) for i in base.fixed_depth_stages}
    stages = tuple(
        dataclasses.replace(
            stage,
            out=round_filters(stage.out, width, base.divisor),
            repeats=stage.repeats if i in fixed else round_repeats(stage.repeats, depth),
        )
        for i, stage in enumerate(base.stages)
    )
    return dataclasses.replace(
        base,
        stages=stages,
        stem=round_filters(base.stem, width, base.divisor) if base.scale_stem else base.stem,
        head=round_filters(base.head, width, base.divisor) if base.scale_head else base.head,
        resolution=int(resolution),
    )
