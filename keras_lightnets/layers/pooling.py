"""Adaptive average pooling (PyTorch's nn.AdaptiveAvgPool2d), which torchvision's
AlexNet puts before its classifier so that any input size gives 6x6 features."""

import keras
import numpy as np
from keras import ops
from keras import layers


def adaptive_bins(in_size, out_size):
    """PyTorch's bins: output i averages inputs floor(i*in/out) .. ceil((i+1)*in/out) - 1."""
    return [((i * in_size) // out_size, -((-(i + 1) * in_size) // out_size)) for i in range(out_size)]


def _averaging_matrix(in_size, out_size):
    matrix = np.zeros((out_size, in_size), dtype="float32")
    for i, (start, end) in enumerate(adaptive_bins(in_size, out_size)):
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


@keras.saving.register_keras_serializable(package="keras_lightnets")
class AdaptiveAveragePooling2D(keras.layers.Layer):
    """Averages NHWC feature maps of a static size onto an `output_size` grid with
    PyTorch's (possibly overlapping) bins, as two small constant matrix products.
    No weights."""

    def __init__(self, output_size, **kwargs):
        super().__init__(**kwargs)
        if isinstance(output_size, int):
            output_size = (output_size, output_size)
        output_size = tuple(output_size)
        if len(output_size) != 2 or not all(isinstance(s, int) and s > 0 for s in output_size):
            raise ValueError(f"`output_size` must be a positive int or (rows, cols); received {output_size!r}.")
        self.output_size = output_size

    def build(self, input_shape):
        rows, cols = input_shape[1], input_shape[2]
        if rows is None or cols is None:
            raise ValueError(
                "AdaptiveAveragePooling2D needs static spatial dims; build the model with a fixed "
                f"input_shape, e.g. (224, 224, 3); received feature maps of shape {tuple(input_shape)}."
            )
        self._rows = _averaging_matrix(rows, self.output_size[0])
        self._cols = _averaging_matrix(cols, self.output_size[1])

    def call(self, inputs):
        rows = ops.convert_to_tensor(self._rows, dtype=inputs.dtype)
        cols = ops.convert_to_tensor(self._cols, dtype=inputs.dtype)
        return ops.einsum("ih,bhwc,jw->bijc", rows, inputs, cols)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.output_size, input_shape[3])

    def get_config(self):
        return {**super().get_config(), "output_size": self.output_size}


def adaptive_average_pool(x, output_size, name):
    """Adaptive average pooling of a static NHWC map to `output_size` x `output_size`,
    with stock layers where they are exact (the map already has that size: nothing;
    it divides the size: nearest upsampling, which is what PyTorch's bins do there;
    the size divides it: AveragePooling2D), else AdaptiveAveragePooling2D."""
    rows, cols = x.shape[1], x.shape[2]
    if rows is None or cols is None:
        raise ValueError(
            f"Adaptive pooling to {output_size}x{output_size} needs a fixed input size; pass input_shape, "
            "e.g. (224, 224, 3), or use include_top=False for open spatial dims."
        )
    if rows == cols == output_size:
        return x
    if rows == cols and output_size % rows == 0:
        return layers.UpSampling2D(output_size // rows, interpolation="nearest", name=name)(x)
    if rows % output_size == 0 and cols % output_size == 0:
        pool = (rows // output_size, cols // output_size)
        return layers.AveragePooling2D(pool, strides=pool, name=name)(x)
    return AdaptiveAveragePooling2D(output_size, name=name)(x)
