"""Channel shuffle (Zhang et al., "ShuffleNet", CVPR 2018, arXiv:1707.01083,
section 3.1) and the channel split of ShuffleNet V2 (Ma et al., ECCV 2018,
arXiv:1807.11164, section 4): the two operations of the ShuffleNets that Keras
has no layer for. Both are weightless data moves written with keras.ops.

Channel shuffle, as the paper defines it: the g * n channels of a grouped
convolution's output are reshaped to (g, n), transposed to (n, g) and flattened,
so output channel j * g + i is input channel i * n + j, and every group of the
next grouped convolution sees channels from every group of this one. It equals
torchvision's `channel_shuffle(x, groups)` (ShuffleNet V2 uses groups=2). The
ShuffleNet authors' V1 code (megvii-model/ShuffleNet-Series) reshapes to (n, g)
instead, the inverse permutation; the two differ only by a relabelling of
channels, i.e. of weights.
"""

import keras
from keras import ops


def _check_groups(groups, name="groups"):
    if not isinstance(groups, int) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"`{name}` must be a positive integer, e.g. 2 or 3; received {name}={groups!r}.")


def _check_channels(channels, groups, layer):
    if channels is None:
        raise ValueError(f"{layer} needs a known channel count (last axis).")
    if channels % groups:
        raise ValueError(f"{layer}: {channels} channels cannot be divided into {groups} equal groups; channels must be a multiple of groups.")


@keras.saving.register_keras_serializable(package="keras_lightnets")
class ChannelShuffle(keras.layers.Layer):
    """Shuffles the channels (last axis) of an NHWC tensor across `groups` groups.

    Implemented as reshape (N, H*W, g, n) -> transpose -> reshape: a 4-D
    transpose, which every TFLite kernel (float and int8) supports. No weights.
    """

    def __init__(self, groups, **kwargs):
        super().__init__(**kwargs)
        _check_groups(groups)
        self.groups = groups

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(f"ChannelShuffle expects NHWC (4-D) input; received shape {tuple(input_shape)}.")
        _check_channels(input_shape[-1], self.groups, "ChannelShuffle")

    def call(self, inputs):
        if self.groups == 1:
            return inputs
        shape = ops.shape(inputs)  # static ints where known, tensors for open dims
        rows, cols, channels = shape[1], shape[2], inputs.shape[-1]
        x = ops.reshape(inputs, (-1, rows * cols, self.groups, channels // self.groups))
        x = ops.transpose(x, (0, 1, 3, 2))
        return ops.reshape(x, (-1, rows, cols, channels))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "groups": self.groups}


@keras.saving.register_keras_serializable(package="keras_lightnets")
class ChannelSplit(keras.layers.Layer):
    """Splits the channels (last axis) into `groups` equal, consecutive parts and
    returns them as a list (torch's `x.chunk(groups, dim=1)`). No weights."""

    def __init__(self, groups=2, **kwargs):
        super().__init__(**kwargs)
        _check_groups(groups)
        self.groups = groups

    def build(self, input_shape):
        _check_channels(input_shape[-1], self.groups, "ChannelSplit")

    def call(self, inputs):
        width = inputs.shape[-1] // self.groups
        return [inputs[..., i * width : (i + 1) * width] for i in range(self.groups)]

    def compute_output_shape(self, input_shape):
        width = input_shape[-1] // self.groups
        return [(*input_shape[:-1], width) for _ in range(self.groups)]

    def get_config(self):
        return {**super().get_config(), "groups": self.groups}
