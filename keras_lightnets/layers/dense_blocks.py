"""DenseNet's building blocks (Huang et al., arXiv:1608.06993, section 3).

Layer names follow keras.applications.densenet ("conv2_block1_0_bn",
"conv2_block1_1_conv", "pool2_conv", ...), so its weight files load by name.
"""

from keras import layers

from keras_lightnets.layers import blocks

# keras.applications' DenseNet batch-norm epsilon (the Torch default 1e-5, as the
# authors' Torch code, plus a margin) and Keras' default momentum; torchvision's
# BatchNorm2d keeps the 1e-5 (its checkpoints' graph: epsilon=TORCH_BN_EPSILON).
BN_EPSILON = 1.001e-5
TORCH_BN_EPSILON = 1e-5
BN_MOMENTUM = 0.99


def batch_norm(x, name, epsilon=BN_EPSILON):
    return blocks.batch_norm(x, name, epsilon, BN_MOMENTUM)


def dense_layer(x, growth_rate, bottleneck, name, bottleneck_width=4, epsilon=BN_EPSILON):
    """One composite layer H_l: BN-ReLU-Conv(3x3, k), preceded in DenseNet-B by the
    bottleneck BN-ReLU-Conv(1x1, 4k); its k new maps are concatenated to its input."""
    y = batch_norm(x, f"{name}_0_bn", epsilon)
    y = layers.Activation("relu", name=f"{name}_0_relu")(y)
    if bottleneck:
        y = layers.Conv2D(bottleneck_width * growth_rate, 1, use_bias=False, name=f"{name}_1_conv")(y)
        y = batch_norm(y, f"{name}_1_bn", epsilon)
        y = layers.Activation("relu", name=f"{name}_1_relu")(y)
    y = layers.Conv2D(growth_rate, 3, padding="same", use_bias=False, name=f"{name}_2_conv")(y)
    return layers.Concatenate(axis=-1, name=f"{name}_concat")([x, y])


def dense_block(x, num_layers, growth_rate, bottleneck, name, epsilon=BN_EPSILON):
    for i in range(num_layers):
        x = dense_layer(x, growth_rate, bottleneck, name=f"{name}_block{i + 1}", epsilon=epsilon)
    return x


def transition(x, compression, name, epsilon=BN_EPSILON):
    """Transition layer: BN-ReLU-Conv(1x1) to floor(theta * m) maps, 2x2 average pooling."""
    x = batch_norm(x, f"{name}_bn", epsilon)
    x = layers.Activation("relu", name=f"{name}_relu")(x)
    x = layers.Conv2D(int(x.shape[-1] * compression), 1, use_bias=False, name=f"{name}_conv")(x)
    return layers.AveragePooling2D(2, strides=2, name=f"{name}_pool")(x)
