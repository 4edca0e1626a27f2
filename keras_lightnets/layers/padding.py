"""Where a convolution pads: the one switch between TensorFlow's and PyTorch's graphs.

TensorFlow's "same" pads a stride-2 convolution of an even-sized input on the bottom
and right only (TF-slim, keras.applications, timm's `tf_` models); PyTorch pads
kernel // 2 on every side (torchvision, timm). Weights trained on one reproduce their
publisher's outputs only with its padding, so a weight set names the padding it
needs and the families pass it here. At stride 1 with an odd kernel the two agree.
"""

from keras import layers

PADDINGS = ("same", "symmetric")


def check_padding(name, value):
    if value not in PADDINGS:
        raise ValueError(f"{name} must be one of {list(PADDINGS)} ('same': TensorFlow's, for keras.applications' "
                         f"and TF-ported weights; 'symmetric': PyTorch's, for torchvision's), got {value!r}.")


def pad_for(x, kernel_size, strides, padding, name, dilation=1):
    """(x, the padding argument for the convolution that follows). With "symmetric" and
    a stride above 1, an explicit ZeroPadding2D of (kernel - 1) * dilation // 2 per side
    and "valid"; otherwise "same"."""
    check_padding("padding", padding)
    kernel = kernel_size if isinstance(kernel_size, int) else kernel_size[0]
    stride = strides if isinstance(strides, int) else strides[0]
    if padding == "symmetric" and stride > 1 and kernel > 1:
        return layers.ZeroPadding2D((kernel - 1) * dilation // 2, name=name)(x), "valid"
    return x, "same"
