"""Residual blocks of the ResNet family (v1, v2, Wide ResNet, ResNeXt, SENet), as
one function over a block kind, and the layer-naming schemes of the references.

Block kinds (He et al. 2015, arXiv:1512.03385; He et al. 2016, arXiv:1603.05027):

- "basic":             3x3 -> BN -> ReLU -> 3x3 -> BN, + shortcut, ReLU
- "bottleneck":        1x1 -> BN -> ReLU -> 3x3 (grouped for ResNeXt) -> BN -> ReLU
                       -> 1x1 -> BN, + shortcut, ReLU
- "preact_basic":      BN -> ReLU -> 3x3 -> BN -> ReLU -> (dropout) -> 3x3, + shortcut
                       (Wide ResNet's block)
- "preact_bottleneck": BN -> ReLU -> 1x1 -> BN -> ReLU -> 3x3 -> BN -> ReLU -> 1x1,
                       + shortcut (keras.applications' ResNetV2 block)

Squeeze-and-excitation (Hu et al. 2018) goes on any kind: after the last BN of the
residual branch (the last conv, in pre-activation blocks), before the addition.

Post-activation blocks project the shortcut (1x1 conv + BN, "option B") when the
stride or the width changes; pre-activation blocks project (1x1 conv, from the
pre-activated input) when the width changes and otherwise subsample with a 1x1
max pool when they stride, as keras.applications' ResNetV2.
"""

import dataclasses

from keras import layers

from keras_lightnets.layers.blocks import activation
from keras_lightnets.layers.blocks import batch_norm
from keras_lightnets.layers.blocks import squeeze_excite

BLOCK_KINDS = ("basic", "bottleneck", "preact_basic", "preact_bottleneck")
STRIDE_ON = ("1x1", "3x3")
NAMING_SCHEMES = ("keras", "torchvision")

_SE_ROLES = ("pool", "reduce", "reduce_act", "expand", "gate", "scale")
_SE_NAMES = {
    # keras.applications' EfficientNet-style names for its own blocks ...
    "keras": dict(zip(_SE_ROLES, ("se_squeeze", "se_reduce", "se_relu", "se_expand", "se_sigmoid", "se_excite"))),
    # ... timm's SEModule (`layer1.0.se.fc1`, `.fc2`) for torchvision-style nets.
    "torchvision": dict(zip(_SE_ROLES, ("se_pool", "se_fc1", "se_relu", "se_fc2", "se_gate", "se_scale"))),
}


@dataclasses.dataclass(frozen=True)
class ResidualBlockNames:
    """Layer names of one block: keras.applications' (`conv2_block1_1_conv`) or
    torchvision's module paths (`layer1_0_conv1`), by role."""

    scheme: str
    prefix: str
    preact: bool

    def __call__(self, role, i=None):
        p = self.prefix
        if self.scheme == "keras":
            if role in ("conv", "bn", "relu", "pad"):
                return f"{p}_{i}_{role}"
            fixed = {
                "preact_bn": "preact_bn", "preact_relu": "preact_relu", "shortcut_conv": "0_conv",
                "shortcut_bn": "0_bn", "shortcut_pool": "0_pool", "dropout": "dropout",
                "add": "out" if self.preact else "add", "out": "out",
            }
        else:
            shift = 1 if self.preact else 0  # torch pre-act blocks: bn1 precedes conv1
            if role == "conv":
                return f"{p}_conv{i}"
            if role in ("bn", "relu"):
                return f"{p}_{role}{i + shift}"
            if role == "pad":
                return f"{p}_conv{i}_pad"
            fixed = {
                "preact_bn": "bn1", "preact_relu": "relu1",
                "shortcut_conv": "shortcut" if self.preact else "downsample_0",
                "shortcut_bn": "downsample_1", "shortcut_pool": "downsample_pool", "dropout": "dropout",
                "add": "add", "out": "relu",
            }
        if role.startswith("se_"):
            return f"{p}_{_SE_NAMES[self.scheme][role[3:]]}"
        return f"{p}_{fixed[role]}"

    def se(self):
        return {role: self(f"se_{role}") for role in _SE_ROLES}


def _conv(x, filters, kernel, stride, groups, use_bias, names, i):
    if kernel > 1 and stride > 1:
        # Explicit symmetric padding (Caffe/PyTorch semantics), as keras.applications:
        # "same" would pad only bottom/right on even inputs.
        x = layers.ZeroPadding2D(kernel // 2, name=names("pad", i))(x)
        padding = "valid"
    else:
        padding = "same" if kernel > 1 else "valid"
    return layers.Conv2D(
        filters, kernel, strides=stride, padding=padding, groups=groups, use_bias=use_bias, name=names("conv", i)
    )(x)


def branch_convs(kind, width, out_channels, stride, stride_on, groups):
    """(kernel, filters, stride, groups) of the residual branch's convolutions."""
    if kind in ("basic", "preact_basic"):
        return ((3, width, stride, 1), (3, out_channels, 1, 1))
    first, middle = (stride, 1) if stride_on == "1x1" else (1, stride)
    return ((1, width, first, 1), (3, width, middle, groups), (1, out_channels, 1, 1))


def residual_block(
    x,
    *,
    kind,
    width,
    out_channels,
    stride=1,
    stride_on="3x3",
    groups=1,
    se_ratio=None,
    dropout_rate=0.0,
    use_bias=False,
    bn_epsilon=1e-5,
    bn_momentum=0.9,
    names: ResidualBlockNames,
):
    """One residual block of `kind` (see the module docstring).

    width: channels of the inner convolutions (bottleneck width x cardinality);
    out_channels: channels of the block's output; stride_on: which conv of a
    bottleneck strides ("1x1": the original Caffe ResNet and keras.applications;
    "3x3": torchvision's "ResNet v1.5"); groups: ResNeXt's cardinality (the 3x3);
    se_ratio: squeeze-excitation reduction r (None: no SE); dropout_rate: dropout
    before the last conv of the branch (Wide ResNet); use_bias: biases on the
    convolutions (keras.applications' v1 has them on every conv; its v2 only on the
    convs that no BN follows).
    """
    if kind not in BLOCK_KINDS:
        raise ValueError(f"Unknown residual block kind {kind!r}; expected one of {BLOCK_KINDS}.")
    convs = branch_convs(kind, width, out_channels, stride, stride_on, groups)
    preact = kind.startswith("preact")
    in_channels = x.shape[-1]
    if preact:
        y = batch_norm(x, names("preact_bn"), bn_epsilon, bn_momentum)
        y = activation(y, "relu", names("preact_relu"))
        if in_channels != out_channels:
            shortcut = layers.Conv2D(out_channels, 1, strides=stride, use_bias=use_bias, name=names("shortcut_conv"))(y)
        elif stride > 1:
            shortcut = layers.MaxPooling2D(1, strides=stride, name=names("shortcut_pool"))(x)
        else:
            shortcut = x
    else:
        y = x
        if stride != 1 or in_channels != out_channels:
            shortcut = layers.Conv2D(out_channels, 1, strides=stride, use_bias=use_bias, name=names("shortcut_conv"))(x)
            shortcut = batch_norm(shortcut, names("shortcut_bn"), bn_epsilon, bn_momentum)
        else:
            shortcut = x
    last = len(convs)
    for i, (kernel, filters, conv_stride, conv_groups) in enumerate(convs, start=1):
        if i == last and dropout_rate:
            y = layers.Dropout(dropout_rate, name=names("dropout"))(y)
        followed_by_bn = not (preact and i == last)
        y = _conv(y, filters, kernel, conv_stride, conv_groups, use_bias and (not preact or not followed_by_bn), names, i)
        if followed_by_bn:
            y = batch_norm(y, names("bn", i), bn_epsilon, bn_momentum)
            if i < last:
                y = activation(y, "relu", names("relu", i))
    if se_ratio:
        y = squeeze_excite(y, se_channels(out_channels, se_ratio), "relu", "sigmoid", names.se())
    y = layers.Add(name=names("add"))([shortcut, y])
    if not preact:
        y = activation(y, "relu", names("out"))
    return y


def se_channels(channels, ratio):
    """The SE bottleneck width C / r (the paper's; timm rounds to a multiple of 8,
    which is the same for every standard ResNet width and r = 16)."""
    return max(1, channels // ratio)
