"""Argument checks, input resolution, heads and finishing touches shared by builders.

They reproduce keras.applications' conventions (argument names, defaults, error
cases), so our builders are drop-in replacements.
"""

import numbers
import os
from typing import Dict, Optional, Sequence

import keras
from keras import layers

from keras_lightnets.weights import WeightFile
from keras_lightnets.weights import load_weights_by_name

DEFAULT_OUT_STRIDES = (4, 8, 16, 32)


def check_channels_last():
    if keras.config.image_data_format() != "channels_last":
        raise ValueError(
            "keras_lightnets builds channels_last (NHWC) models, the layout of TFLite and "
            "mobile runtimes; call keras.config.set_image_data_format('channels_last')."
        )


def check_alpha(alpha):
    if not isinstance(alpha, numbers.Real) or isinstance(alpha, bool) or alpha <= 0:
        raise ValueError(f"`alpha` (the width multiplier) must be a positive number, e.g. 0.75 or 1.0; received alpha={alpha!r}.")


def check_weights(weights, include_top, classes, available: Optional[str] = None):
    """`available`: None when ImageNet weights exist for the configuration, else why not."""
    if weights is None:
        return
    if weights == "imagenet":
        if include_top and classes != 1000:
            raise ValueError(
                f"`weights='imagenet'` with `include_top=True` needs `classes=1000` (received classes={classes}); "
                "for another class count use `include_top=False` and add your own head, or `weights=None`."
            )
        if available is not None:
            raise ValueError(f"No ImageNet weights for this configuration: {available}.")
        return
    if not (isinstance(weights, (str, os.PathLike)) and os.path.exists(weights)):
        raise ValueError(
            f"`weights` must be None (random initialization), 'imagenet', or the path to an existing weights "
            f"file (.h5, .weights.h5 or .keras, or a PyTorch .pth / .safetensors checkpoint); received weights={weights!r}."
            + (" Weight sets such as 'torchvision' are published per model: use a named variant "
               "(kl.ResNet18(weights='torchvision')) or kl.create_model(name, weights=...); "
               "kl.list_pretrained() lists them." if isinstance(weights, str) and os.path.sep not in weights else "")
        )


def check_pooling(pooling):
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"`pooling` must be None, 'avg' or 'max'; received pooling={pooling!r}.")


def resolve_input(
    input_shape,
    input_tensor,
    *,
    default_size: int,
    min_size: int = 32,
    static_default: bool,
    weights=None,
):
    """Returns (image input tensor, model inputs), as keras.applications resolves them.

    `static_default`: when neither `input_shape` nor `input_tensor` is given, use
    (default_size, default_size, 3) instead of open (None, None, 3) spatial dims.
    """
    if input_tensor is not None and not keras.backend.is_keras_tensor(input_tensor):
        raise ValueError(f"`input_tensor` must be a Keras tensor, e.g. keras.Input((224, 224, 3)); received {type(input_tensor).__name__}.")
    if input_shape is None:
        if input_tensor is not None:
            input_shape = tuple(input_tensor.shape[1:])
        elif static_default:
            input_shape = (default_size, default_size, 3)
        else:
            input_shape = (None, None, 3)
    input_shape = tuple(input_shape)
    if len(input_shape) != 3:
        raise ValueError(f"`input_shape` must be (height, width, channels), e.g. ({default_size}, {default_size}, 3); received {input_shape}.")
    rows, cols, channels = input_shape
    if any(d is not None and d < min_size for d in (rows, cols)):
        raise ValueError(
            f"Input size must be at least {min_size}x{min_size} for this network; received input_shape={input_shape}. "
            f"Upsample the images or use input_shape=({max(min_size, default_size)}, {max(min_size, default_size)}, {channels})."
        )
    if weights is not None and channels != 3:
        raise ValueError(f"Pretrained weights expect 3 input channels; received input_shape={input_shape}. Use weights=None for {channels}-channel input.")
    if input_tensor is None:
        image = layers.Input(shape=input_shape, name="input_layer")
        return image, image
    if tuple(input_tensor.shape[1:]) != input_shape:
        raise ValueError(f"`input_shape` {input_shape} does not match `input_tensor` shape {tuple(input_tensor.shape[1:])}.")
    return input_tensor, keras.utils.get_source_inputs(input_tensor)


def preprocessing(x):
    """Maps [0, 255] pixels to [-1, 1], the input range these networks were trained on."""
    return layers.Rescaling(scale=1.0 / 127.5, offset=-1.0, name="rescaling")(x)


def pool(x, pooling):
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name="max_pool")(x)
    return x


class FeatureTaps:
    """Records the last tensor at each output stride, for backbone (features_only) mode."""

    def __init__(self):
        self.by_stride: Dict[int, keras.KerasTensor] = {}

    def record(self, x, stride):
        self.by_stride[stride] = x

    def select(self, out_strides: Sequence[int]):
        unknown = [s for s in out_strides if s not in self.by_stride]
        if unknown or not out_strides:
            raise ValueError(f"`out_strides` must be a non-empty subset of {sorted(self.by_stride)}; received {tuple(out_strides)}.")
        return [self.by_stride[s] for s in out_strides]


def finish(
    inputs,
    outputs,
    *,
    name,
    weights,
    imagenet_file: Optional[WeightFile],
    taps: FeatureTaps,
    features_only: bool,
    out_strides: Sequence[int],
    load_imagenet=None,
):
    """Builds the Model, loads weights, and returns it or its multi-scale backbone.
    `load_imagenet(model, path)` reads the ImageNet file when layer names do not."""
    if features_only:
        feature_maps = taps.select(out_strides)  # check before the expensive part
    model = keras.Model(inputs, outputs, name=name)
    if weights == "imagenet":
        (load_imagenet or load_weights_by_name)(model, imagenet_file.fetch())
    elif weights is not None:
        load_weights_by_name(model, weights)
    if features_only:
        return keras.Model(inputs, feature_maps, name=f"{name}_features")
    return model
