"""The inverted residual with linear bottleneck (MobileNetV2, section 3.3), with the
optional squeeze-and-excitation and swappable non-linearity of MobileNetV3 / MnasNet,
and the drop-connect (stochastic depth) of EfficientNet.

    1x1 expand (skipped when the ratio is 1) -> BN -> act
    k x k depthwise (stride s)               -> BN -> act
    [squeeze-excite]
    1x1 project (linear)                     -> BN
    [drop-connect]
    + input, when stride 1, channels unchanged and the block has a skip

and its fused form, EfficientNetV2's Fused-MBConv (Tan & Le 2021, Figure 2), whose one
k x k convolution does the expansion and the depthwise's spatial work
(`fused_inverted_residual`).
"""

import dataclasses
from typing import Callable, Mapping, Optional

from keras import layers

from keras_lightnets.layers.blocks import activation
from keras_lightnets.layers.blocks import batch_norm
from keras_lightnets.layers.blocks import make_divisible
from keras_lightnets.layers.blocks import squeeze_excite
from keras_lightnets.layers.padding import pad_for


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
    """How a family sizes and activates its SE module.

    MobileNetV3 squeezes the expanded width and rounds to a multiple of 8; the TPU
    code of MnasNet and EfficientNet squeezes the block's *input* width and floors
    (`max(1, int(input width * ratio))`): `from_input=True, divisor=None`.
    """

    divisor: Optional[int] = 8  # None: floor, at least 1
    inner_act: str = "relu"
    gate_act: str = "hard_sigmoid"
    from_input: bool = False

    def reduced_filters(self, in_filters, expanded_filters, ratio):
        base = in_filters if self.from_input else expanded_filters
        if self.divisor is None:
            return max(1, int(base * ratio))
        return make_divisible(base * ratio, self.divisor)


def _block_squeeze_excite(x, name, se_style, in_filters, expanded_filters, se_ratio):
    """The block's SE module, sized by the family's `se_style` (both block kinds)."""
    se_names = {role: name(f"se_{role}") for role in ("pool", "reduce", "reduce_act", "expand", "gate", "scale")}
    reduced = se_style.reduced_filters(in_filters, expanded_filters, se_ratio)
    return squeeze_excite(x, reduced, se_style.inner_act, se_style.gate_act, se_names)


def _identity_shortcut(x, shortcut, name, applies, drop_rate):
    """Adds the input back where shapes allow (`applies`), after drop-connect while
    training (a Dropout whose noise is shared over height, width and channels)."""
    if not applies:
        return x
    if drop_rate > 0:
        x = layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=name("drop"))(x)
    return layers.Add(name=name("add"))([shortcut, x])


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
    skip=True,
    drop_rate=0.0,
    padding="same",
    dilation=1,
):
    """`skip=False` drops the identity shortcut (MnasNet's "noskip" first block);
    `drop_rate` > 0 drops the residual branch per sample while training (drop-connect,
    Huang et al.'s stochastic depth as the EfficientNet code does it: a Dropout whose
    noise is shared over height, width and channels, keras.applications' layer);
    `padding` of the strided depthwise convolution: "same" (TensorFlow's) or
    "symmetric" (PyTorch's), see layers.padding; `dilation` of the depthwise convolution
    (atrous: a dense-prediction backbone's last stage, its stride 1)."""
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
    x, depthwise_padding = pad_for(x, kernel_size, stride, padding, name("depthwise_pad"), dilation=dilation)
    x = layers.DepthwiseConv2D(
        kernel_size, strides=stride, padding=depthwise_padding, use_bias=False, name=name("depthwise"),
        dilation_rate=dilation,
    )(x)
    x = batch_norm(x, name("depthwise_bn"), bn_epsilon, bn_momentum)
    x = activation(x, act, name("depthwise_act"))

    if se_ratio:
        x = _block_squeeze_excite(x, name, se_style, in_filters, expanded_filters, se_ratio)

    x = layers.Conv2D(out_filters, 1, padding="same", use_bias=False, name=name("project"))(x)
    x = batch_norm(x, name("project_bn"), bn_epsilon, bn_momentum)

    return _identity_shortcut(x, shortcut, name, skip and stride == 1 and in_filters == out_filters, drop_rate)


def fused_inverted_residual(
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
    skip=True,
    drop_rate=0.0,
    padding="same",
    dilation=1,
):
    """Fused-MBConv (EfficientNetV2, Figure 2): the 1x1 expansion and the k x k
    depthwise of `inverted_residual` fused into one regular k x k convolution.

        k x k expand (stride s) -> BN -> act     (expansion > 1)
        [squeeze-excite]
        1x1 project (linear)    -> BN
        [drop-connect] + input, as `inverted_residual`

    With expansion 1 (`expanded_filters` equal to the input's) there is no expansion
    and the one convolution is the projection: k x k (stride s) -> BN -> act (the
    authors' code and keras.applications.EfficientNetV2). Roles: "expand",
    "expand_bn", "expand_act", the "se_*" ones, "project", "project_bn",
    "project_act", "drop", "add"; the other arguments as `inverted_residual`'s."""
    in_filters = x.shape[-1]
    shortcut = x

    def name(role):
        return naming(index, role)

    def spatial_conv(x, filters, role):
        x, conv_padding = pad_for(x, kernel_size, stride, padding, name(f"{role}_pad"), dilation=dilation)
        return layers.Conv2D(filters, kernel_size, strides=stride, padding=conv_padding, use_bias=False,
                             dilation_rate=dilation, name=name(role))(x)

    expands = expanded_filters != in_filters
    if expands:
        x = spatial_conv(x, expanded_filters, "expand")
        x = batch_norm(x, name("expand_bn"), bn_epsilon, bn_momentum)
        x = activation(x, act, name("expand_act"))

    if se_ratio:
        x = _block_squeeze_excite(x, name, se_style, in_filters, expanded_filters, se_ratio)

    if expands:
        x = layers.Conv2D(out_filters, 1, padding="same", use_bias=False, name=name("project"))(x)
        x = batch_norm(x, name("project_bn"), bn_epsilon, bn_momentum)
    else:
        x = spatial_conv(x, out_filters, "project")
        x = batch_norm(x, name("project_bn"), bn_epsilon, bn_momentum)
        x = activation(x, act, name("project_act"))

    return _identity_shortcut(x, shortcut, name, skip and stride == 1 and in_filters == out_filters, drop_rate)
