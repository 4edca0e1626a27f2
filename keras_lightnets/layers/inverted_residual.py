"""The inverted residual with linear bottleneck (MobileNetV2, section 3.3), with the
optional squeeze-and-excitation and swappable non-linearity of MobileNetV3 / MnasNet.

    1x1 expand (skipped when the ratio is 1) -> BN -> act
    k x k depthwise (stride s)               -> BN -> act
    [squeeze-excite]
    1x1 project (linear)                     -> BN
    + input, when stride 1 and channels unchanged
"""

import dataclasses
from typing import Callable, Mapping, Optional

from keras import layers

from keras_lightnets.layers.blocks import activation
from keras_lightnets.layers.blocks import batch_norm
from keras_lightnets.layers.blocks import make_divisible
from keras_lightnets.layers.blocks import squeeze_excite


@dataclasses.dataclass(frozen=True)
class BlockNaming:
    """Layer names of one family: `prefix(index) + suffix(role)`.

    Families keep their reference implementation's layer names (keras.applications),
    so its weight files load into our models by name.
    """

    prefix: Callable[[int], str]
    suffixes: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def __call__(self, index, role):
        return self.prefix(index) + self.suffixes.get(role, role)


@dataclasses.dataclass(frozen=True)
class SqueezeExciteStyle:
    """How a family sizes and activates its SE module."""

    divisor: int = 8  # reduced width = make_divisible(expanded width * ratio, divisor)
    inner_act: str = "relu"
    gate_act: str = "hard_sigmoid"


def inverted_residual(
    x,
    *,
    expanded_filters,
    out_filters,
    kernel_size,
    stride,
    act,
    se_ratio: Optional[float],
    index,
    naming: BlockNaming,
    se_style: SqueezeExciteStyle = SqueezeExciteStyle(),
    bn_epsilon=1e-3,
    bn_momentum=0.999,
):
    in_filters = x.shape[-1]
    shortcut = x

    def name(role):
        return naming(index, role)

    if expanded_filters != in_filters:
        x = layers.Conv2D(expanded_filters, 1, padding="same", use_bias=False, name=name("expand"))(x)
        x = batch_norm(x, name("expand_bn"), bn_epsilon, bn_momentum)
        x = activation(x, act, name("expand_act"))

    # "same" padding is TF-slim's choice; for every static input size it pads exactly
    # as keras.applications' explicit ZeroPadding2D + "valid", with one op fewer.
    x = layers.DepthwiseConv2D(
        kernel_size, strides=stride, padding="same", use_bias=False, name=name("depthwise")
    )(x)
    x = batch_norm(x, name("depthwise_bn"), bn_epsilon, bn_momentum)
    x = activation(x, act, name("depthwise_act"))

    if se_ratio:
        se_names = {role: name(f"se_{role}") for role in ("pool", "reduce", "reduce_act", "expand", "gate", "scale")}
        reduced = make_divisible(expanded_filters * se_ratio, se_style.divisor)
        x = squeeze_excite(x, reduced, se_style.inner_act, se_style.gate_act, se_names)

    x = layers.Conv2D(out_filters, 1, padding="same", use_bias=False, name=name("project"))(x)
    x = batch_norm(x, name("project_bn"), bn_epsilon, bn_momentum)

    if stride == 1 and in_filters == out_filters:
        x = layers.Add(name=name("add"))([shortcut, x])
    return x
