"""Tables of plain convolution and pooling rows, as AlexNet, ZFNet and SqueezeNet
write them (torchvision's `features` Sequential): their output size, their true
minimum input size, and PyTorch's ceil-mode max pooling; and the Flatten that the
fully connected classifiers of AlexNet, ZFNet and VGG start with.

Rows: ("conv", filters, kernel, stride, padding); ("pool", kernel, stride, ceil_mode);
any other row (a fire module, LRN) keeps the size.
"""

from keras import layers

from keras_lightnets.layers.pooling import adaptive_average_pool


def output_size(features, size):
    """The feature extractor's output size for an input of `size`, or None if some
    layer's input is smaller than its window."""
    for row in features:
        if row[0] == "conv":
            _, _, kernel, stride, padding = row
            size += 2 * padding
        elif row[0] == "pool":
            _, kernel, stride, ceil_mode = row
            size += ceil_mode  # at most one row of padding for stride 2 (see max_pool)
        else:
            continue
        if size < kernel:
            return None
        size = (size - kernel) // stride + 1
    return size


def min_input_size(features):
    return next(s for s in range(1, 2048) if output_size(features, s))


def max_pool(x, kernel, stride, ceil_mode, name):
    """Max pooling, in PyTorch's ceil mode when asked (the Caffe models')."""
    if ceil_mode:
        # Caffe's ceil((H - k) / s) + 1 equals floor((H + 1 - k) / s) + 1 for s = 2:
        # one extra row/column after the map. Zeros are exact after a ReLU.
        if stride != 2:
            raise ValueError("ceil_mode pooling is written for stride 2 only.")
        x = layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"{name}_pad")(x)
    return layers.MaxPooling2D(kernel, strides=stride, padding="valid", name=name)(x)


def flatten(x, network, pool_to=None):
    """The Flatten a fully connected classifier starts with, after adaptive average
    pooling to `pool_to` x `pool_to` if given: the first Dense layer is sized by the
    map, so the map must have a fixed size."""
    if x.shape[1] is None or x.shape[2] is None:
        raise ValueError(
            f"`include_top=True` flattens the last feature map, so {network} needs a fixed `input_shape`, e.g. "
            f"(224, 224, 3); its last feature map is {tuple(x.shape[1:])}. Use include_top=False (with pooling='avg') "
            "for open sizes."
        )
    if pool_to:
        x = adaptive_average_pool(x, pool_to, name="avgpool")
    return layers.Flatten(name="flatten")(x)
