"""Bilinear resizing to another tensor's size (PyTorch's
`F.interpolate(x, size=other.shape[-2:], mode="bilinear", align_corners=False)`), which
segmentation heads use to bring coarse maps to a finer one and their logits to the
input's size. Keras' `Resizing` takes a fixed size; this layer takes it from its second
input, so a model with open spatial dimensions resizes to whatever size it is fed, and a
model of a static size converts to one TFLite RESIZE_BILINEAR of a constant size."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_lightnets")
class ResizeLike(keras.layers.Layer):
    """`ResizeLike()([x, reference])`: NHWC `x` resized bilinearly to `reference`'s height
    and width (half-pixel centers, no antialiasing: TensorFlow's `tf.image.resize` and
    PyTorch's `align_corners=False`). No weights."""

    def __init__(self, interpolation="bilinear", **kwargs):
        super().__init__(**kwargs)
        if interpolation not in ("bilinear", "nearest"):
            raise ValueError(f"`interpolation` must be 'bilinear' or 'nearest'; received {interpolation!r}.")
        self.interpolation = interpolation

    def call(self, inputs):
        x, reference = inputs
        size = ops.shape(reference)[1:3]
        if tuple(ops.shape(x)[1:3]) == tuple(size) and all(isinstance(s, int) for s in size):
            return x  # already that size (a static one)
        return ops.image.resize(x, size, interpolation=self.interpolation, antialias=False, data_format="channels_last")

    def compute_output_shape(self, input_shapes):
        x, reference = input_shapes
        return (x[0], reference[1], reference[2], x[3])

    def get_config(self):
        return {**super().get_config(), "interpolation": self.interpolation}
