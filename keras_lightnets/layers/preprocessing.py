"""keras.applications' `preprocess_input` modes as stock, weightless layers, so a
model can take [0, 255] RGB pixels (include_preprocessing=True).

- "caffe" (VGG, ResNet v1): RGB -> BGR, then subtract the ImageNet BGR mean.
- "torch" (DenseNet; torchvision's weights): /255, then (x - mean) / std per channel.

The RGB -> BGR flip has no Keras layer; it is written with stock weightless
layers (Permute, Cropping2D, Concatenate), so the graph stays layers-only and
converts to TFLite and to tf_keras as is: channels are moved to the rows axis,
each one cropped out, and they are stacked back in reverse order.

The statistics are RGB ones. A model built for another channel count (grayscale:
input_shape=(H, W, 1), as keras.applications allows with weights=None) gets their
average on every channel: a gray value stands for R = G = B, and there is no RGB
order to reverse.
"""

from keras import layers

CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)  # keras.applications.imagenet_utils
# ImageNet's channel statistics on [0, 1] pixels: torchvision's, and the TPU code's
# MEAN_RGB / STDDEV_RGB over 255 (EfficientNet, MnasNet); the one copy in the package.
TORCH_RGB_MEAN = (0.485, 0.456, 0.406)
TORCH_RGB_STD = (0.229, 0.224, 0.225)
# CIFAR-10's channel statistics on [0, 255] pixels, as the WRN and DenseNet authors'
# CIFAR code (fb.resnet.torch's data loader) standardizes them.
CIFAR10_RGB_MEAN = (125.3, 123.0, 113.9)
CIFAR10_RGB_STD = (63.0, 62.1, 66.7)


def channel_statistics(values, channels):
    """RGB statistics for a `channels`-channel input: as they are for 3 channels,
    else their average repeated (see the module docstring)."""
    values = tuple(float(v) for v in values)
    if channels == len(values):
        return values
    return (sum(values) / len(values),) * channels


def reverse_channels(x, name="rgb_to_bgr"):
    """Reverses the channel order of an NHWC tensor (any spatial size)."""
    channels = x.shape[-1]
    t = layers.Permute((3, 1, 2), name=f"{name}_to_chw")(x)  # (C, H, W)
    parts = [
        layers.Cropping2D(((c, channels - 1 - c), (0, 0)), name=f"{name}_channel{c}")(t)
        for c in reversed(range(channels))
    ]
    t = layers.Concatenate(axis=1, name=f"{name}_concat")(parts)
    return layers.Permute((2, 3, 1), name=f"{name}_to_hwc")(t)


def caffe_preprocessing(x, name="caffe_preprocessing"):
    """[0, 255] RGB -> keras.applications' caffe mode (BGR, mean-subtracted)."""
    channels = x.shape[-1]
    if channels == 3:
        x = reverse_channels(x, name=f"{name}_bgr")
    return layers.Normalization(mean=channel_statistics(CAFFE_BGR_MEAN, channels), variance=(1.0,) * channels, name=name)(x)


def torch_preprocessing(x, name="torch_preprocessing"):
    """[0, 255] RGB -> keras.applications' torch mode (x/255 - mean) / std."""
    x = layers.Rescaling(1.0 / 255.0, name=f"{name}_rescaling")(x)
    return standardize(x, TORCH_RGB_MEAN, TORCH_RGB_STD, name=name)


def standardize(x, mean, std, name="normalization"):
    """Fixed per-channel (x - mean) / std with RGB statistics, as a weightless
    Normalization layer, for any channel count (`channel_statistics`)."""
    channels = x.shape[-1]
    mean, std = channel_statistics(mean, channels), channel_statistics(std, channels)
    return layers.Normalization(mean=mean, variance=tuple(s * s for s in std), name=name)(x)
