"""Conv-BN-activation, squeeze-and-excitation and channel rounding."""

from keras import layers

from keras_lightnets.layers.padding import pad_for

# Activation kinds the papers use, by the short names their tables use.
_ACTIVATIONS = {
    "relu": lambda name: layers.ReLU(name=name),
    "relu6": lambda name: layers.ReLU(6.0, name=name),
    # h-swish(x) = x * ReLU6(x + 3) / 6 and h-sigmoid(x) = ReLU6(x + 3) / 6
    # (MobileNetV3, section 5.2); Keras 3 defines both exactly this way.
    "hard_swish": lambda name: layers.Activation("hard_swish", name=name),
    "hard_sigmoid": lambda name: layers.Activation("hard_sigmoid", name=name),
    "swish": lambda name: layers.Activation("swish", name=name),
    "sigmoid": lambda name: layers.Activation("sigmoid", name=name),
}
ACTIVATION_KINDS = tuple(_ACTIVATIONS)


def activation(x, kind, name=None):
    """Applies the activation `kind` ("relu", "relu6", "hard_swish", ...) as a layer."""
    if kind not in _ACTIVATIONS:
        raise ValueError(f"Unknown activation {kind!r}; expected one of {ACTIVATION_KINDS}.")
    return _ACTIVATIONS[kind](name)(x)


def make_divisible(value, divisor=8, min_value=None):
    """Rounds a channel count to the nearest multiple of `divisor`, never dropping
    more than 10% (the rule of the TF-slim MobileNet code every later paper reuses)."""
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def batch_norm(x, name, epsilon=1e-3, momentum=0.999, scale=True):
    """BatchNormalization; scale=False drops gamma (keras.applications' InceptionV3)."""
    return layers.BatchNormalization(epsilon=epsilon, momentum=momentum, scale=scale, name=name)(x)


def conv_bn_act(
    x,
    filters,
    kernel_size,
    strides=1,
    act="relu",
    name="conv",
    bn_name=None,
    act_name=None,
    bn_epsilon=1e-3,
    bn_momentum=0.999,
    padding="same",
):
    """Conv2D (no bias) -> BatchNormalization -> activation (None for linear).
    `padding`: "same" (TensorFlow's) or "symmetric" (PyTorch's; see layers.padding)."""
    x, conv_padding = pad_for(x, kernel_size, strides, padding, f"{name}_pad")
    x = layers.Conv2D(
        filters, kernel_size, strides=strides, padding=conv_padding, use_bias=False, name=name
    )(x)
    x = batch_norm(x, bn_name or f"{name}_bn", bn_epsilon, bn_momentum)
    if act is not None:
        x = activation(x, act, act_name or f"{name}_{act}")
    return x


def squeeze_excite(x, reduced_filters, inner_act, gate_act, names):
    """Squeeze-and-excitation (Hu et al. 2018): global pool -> 1x1 reduce -> act
    -> 1x1 expand -> gate -> channel-wise scaling of `x`.

    `names` maps the roles "pool", "reduce", "reduce_act", "expand", "gate" and
    "scale" to layer names, so families can keep their reference layer names.
    """
    filters = x.shape[-1]
    s = layers.GlobalAveragePooling2D(keepdims=True, name=names["pool"])(x)
    s = layers.Conv2D(reduced_filters, 1, padding="same", name=names["reduce"])(s)
    s = activation(s, inner_act, names["reduce_act"])
    s = layers.Conv2D(filters, 1, padding="same", name=names["expand"])(s)
    s = activation(s, gate_act, names["gate"])
    return layers.Multiply(name=names["scale"])([x, s])


def depthwise_separable(
    x, pointwise_filters, strides, names, depth_multiplier=1, act="relu6", bn_epsilon=1e-3, bn_momentum=0.99
):
    """MobileNetV1's depthwise separable convolution (Figure 3 of the paper):
    3x3 depthwise -> BN -> act -> 1x1 pointwise -> BN -> act.

    `names` maps "depthwise", "depthwise_bn", "depthwise_act", "pointwise",
    "pointwise_bn" and "pointwise_act" to layer names.
    """
    x = layers.DepthwiseConv2D(
        3, strides=strides, padding="same", depth_multiplier=depth_multiplier,
        use_bias=False, name=names["depthwise"],
    )(x)
    x = batch_norm(x, names["depthwise_bn"], bn_epsilon, bn_momentum)
    x = activation(x, act, names["depthwise_act"])
    x = layers.Conv2D(pointwise_filters, 1, padding="same", use_bias=False, name=names["pointwise"])(x)
    x = batch_norm(x, names["pointwise_bn"], bn_epsilon, bn_momentum)
    return activation(x, act, names["pointwise_act"])
