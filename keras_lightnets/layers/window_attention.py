"""Swin Transformer's (shifted) window attention as small layers around stock Dense
projections (Liu et al., "Swin Transformer: Hierarchical Vision Transformer using
Shifted Windows", ICCV 2021, arXiv:2103.14030, section 3.2).

One attention block of Swin is

    WindowPartition -> Dense(3C) "qkv" -> WindowAttention -> Dense(C) "proj" -> WindowReverse

so the projections, which hold nearly all of the weights and the multiply-adds,
stay stock Dense layers (and quantize as such); the layers here only move data,
except `WindowAttention`, which owns the relative position bias table
((2M - 1)^2 x heads) and computes softmax(Q K^T / sqrt(d) + B + mask) V.

Feature maps whose size is not a multiple of the window M are handled as
torchvision's `shifted_window_attention` does: they are zero-padded at the bottom
and right to a multiple of M (padded positions take part in the attention, as
there) and cropped back after it; along an axis where the padded map is no larger
than the window, the shift is 0 (`effective_shift`). The official Swin code
instead shrinks the window to the map when the map is smaller than M, which
changes the bias table's size with the input resolution; padding keeps every
weight shape independent of it, so torchvision's weights fit at any size.

Cyclic shifts are written as two slices and a concatenation (not a roll op), and
every reshape/transpose is at most 4-D, so the graph converts to TFLite builtins.
"""

import keras
import numpy as np
from keras import ops


def _pair(value, name):
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in pair):
        raise ValueError(f"`{name}` must be an int or a pair of ints; received {name}={value!r}.")
    return tuple(int(v) for v in pair)


def padded_size(size, window):
    """(height, width) rounded up to multiples of the window."""
    return tuple(-(-s // w) * w for s, w in zip(size, window))


def _window_count(size, window):
    pad_h, pad_w = padded_size(size, window)
    return (pad_h // window[0]) * (pad_w // window[1])


def effective_shift(size, window, shift):
    """The shift torchvision applies: none along an axis where the padded map
    fits in one window."""
    return tuple(0 if w >= p else s for p, w, s in zip(padded_size(size, window), window, shift))


def relative_position_index(window):
    """(N, N) indices into the ((2Mh - 1)(2Mw - 1), heads) bias table, N = Mh * Mw:
    the index of the relative offset between tokens i and j (Swin's B-hat)."""
    mh, mw = window
    coords = np.stack(np.meshgrid(np.arange(mh), np.arange(mw), indexing="ij")).reshape(2, -1)
    relative = (coords[:, :, None] - coords[:, None, :]).transpose(1, 2, 0)
    relative[:, :, 0] += mh - 1
    relative[:, :, 1] += mw - 1
    relative[:, :, 0] *= 2 * mw - 1
    return relative.sum(-1)


def shifted_window_mask(size, window, shift):
    """(windows, N, N) additive mask of the shifted windows: -100 between tokens
    that come from different regions of the cyclically shifted map, else 0
    (the paper's masked MSA, built as torchvision builds it on the padded map)."""
    pad_h, pad_w = padded_size(size, window)
    regions = np.zeros((pad_h, pad_w), dtype="float32")
    count = 0
    # Assigned in this order, so a zero shift makes the last slice cover the axis.
    h_slices = ((0, -window[0]), (-window[0], -shift[0]), (-shift[0], None))
    w_slices = ((0, -window[1]), (-window[1], -shift[1]), (-shift[1], None))
    for h0, h1 in h_slices:
        for w0, w1 in w_slices:
            regions[h0:h1, w0:w1] = count
            count += 1
    windows = regions.reshape(pad_h // window[0], window[0], pad_w // window[1], window[1])
    windows = windows.transpose(0, 2, 1, 3).reshape(-1, window[0] * window[1])
    differ = windows[:, None, :] != windows[:, :, None]
    return np.where(differ, -100.0, 0.0).astype("float32")


def _roll(x, shift, axis):
    """torch.roll(x, shift, axis) on a static axis, as two slices."""
    size = x.shape[axis]
    shift %= size
    if not shift:
        return x
    cut = size - shift
    head = [slice(None)] * len(x.shape)
    tail = [slice(None)] * len(x.shape)
    head[axis], tail[axis] = slice(cut, None), slice(None, cut)
    return ops.concatenate([x[tuple(head)], x[tuple(tail)]], axis=axis)


class _WindowLayer(keras.layers.Layer):
    """Shared config: window size and (effective) shift, both (rows, cols)."""

    def __init__(self, window_size, shift_size=(0, 0), **kwargs):
        super().__init__(**kwargs)
        self.window_size = _pair(window_size, "window_size")
        self.shift_size = _pair(shift_size, "shift_size")
        if min(self.window_size) < 1:
            raise ValueError(f"`window_size` must be positive; received {self.window_size}.")
        if any(not 0 <= s < w for s, w in zip(self.shift_size, self.window_size)):
            raise ValueError(f"`shift_size` must be in [0, window_size); received {self.shift_size} for window {self.window_size}.")

    @property
    def tokens(self):
        return self.window_size[0] * self.window_size[1]

    def get_config(self):
        return {**super().get_config(), "window_size": self.window_size, "shift_size": self.shift_size}


@keras.saving.register_keras_serializable(package="keras_lightnets")
class WindowPartition(_WindowLayer):
    """(batch, H, W, C) -> (batch, windows, M*M, C): pads H and W to multiples of
    M, shifts the map cyclically by -shift (Swin's SW-MSA), and cuts it into
    non-overlapping windows in row-major order. No weights."""

    def build(self, input_shape):
        if len(input_shape) != 4 or None in input_shape[1:]:
            raise ValueError(
                "WindowPartition needs static (batch, height, width, channels) feature maps: build the model "
                f"with a fixed input_shape, e.g. (224, 224, 3); received {tuple(input_shape)}."
            )

    def call(self, inputs):
        height, width, channels = inputs.shape[1:]
        (mh, mw), (pad_h, pad_w) = self.window_size, padded_size((height, width), self.window_size)
        x = inputs
        if (pad_h, pad_w) != (height, width):
            x = ops.pad(x, [[0, 0], [0, pad_h - height], [0, pad_w - width], [0, 0]])
        x = _roll(x, -self.shift_size[0], 1)
        x = _roll(x, -self.shift_size[1], 2)
        cols = pad_w // mw
        # (B, H, W, C) -> (B*gh, Mh, gw, Mw*C) -> (B*gh, gw, Mh, Mw*C) -> (B, gh*gw, Mh*Mw, C)
        x = ops.reshape(x, (-1, mh, cols, mw * channels))
        x = ops.transpose(x, (0, 2, 1, 3))
        return ops.reshape(x, (-1, (pad_h // mh) * cols, mh * mw, channels))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], _window_count(input_shape[1:3], self.window_size), self.tokens, input_shape[3])


@keras.saving.register_keras_serializable(package="keras_lightnets")
class WindowReverse(_WindowLayer):
    """(batch, windows, M*M, C) -> (batch, H, W, C), the inverse of
    WindowPartition: reassembles the windows, undoes the shift and crops the
    padding. `feature_size` is (H, W) before padding. No weights."""

    def __init__(self, window_size, feature_size, shift_size=(0, 0), **kwargs):
        super().__init__(window_size, shift_size, **kwargs)
        self.feature_size = _pair(feature_size, "feature_size")

    def build(self, input_shape):
        windows = _window_count(self.feature_size, self.window_size)
        if tuple(input_shape[1:3]) != (windows, self.tokens):
            raise ValueError(
                f"WindowReverse expects {windows} windows of {self.tokens} tokens for a {self.feature_size} map "
                f"and window {self.window_size}; received {tuple(input_shape)}."
            )

    def call(self, inputs):
        (mh, mw), (pad_h, pad_w) = self.window_size, padded_size(self.feature_size, self.window_size)
        channels = inputs.shape[-1]
        cols = pad_w // mw
        x = ops.reshape(inputs, (-1, cols, mh, mw * channels))
        x = ops.transpose(x, (0, 2, 1, 3))
        x = ops.reshape(x, (-1, pad_h, pad_w, channels))
        x = _roll(x, self.shift_size[0], 1)
        x = _roll(x, self.shift_size[1], 2)
        height, width = self.feature_size
        if (pad_h, pad_w) != (height, width):
            x = x[:, :height, :width, :]
        return x

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.feature_size, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "feature_size": self.feature_size}


@keras.saving.register_keras_serializable(package="keras_lightnets")
class WindowAttention(_WindowLayer):
    """Multi-head self-attention inside each window, from the projected
    (batch, windows, N, 3C) queries, keys and values (channels ordered
    q | k | v, head-major within each, as torchvision's `qkv` Linear) to
    (batch, windows, N, C):

        softmax(Q K^T / sqrt(d) + B + mask) V,   d = C / heads

    B comes from the learned relative position bias table ((2Mh - 1)(2Mw - 1),
    heads), the only weight; mask (shifted windows only) is -100 between tokens
    of different regions. `feature_size` is the (H, W) map before padding."""

    def __init__(self, num_heads, window_size, feature_size, shift_size=(0, 0), **kwargs):
        super().__init__(window_size, shift_size, **kwargs)
        if not isinstance(num_heads, int) or isinstance(num_heads, bool) or num_heads < 1:
            raise ValueError(f"`num_heads` must be a positive integer; received num_heads={num_heads!r}.")
        self.num_heads = num_heads
        self.feature_size = _pair(feature_size, "feature_size")

    def build(self, input_shape):
        windows = _window_count(self.feature_size, self.window_size)
        if len(input_shape) != 4 or tuple(input_shape[1:3]) != (windows, self.tokens) or input_shape[-1] is None:
            raise ValueError(
                f"WindowAttention expects (batch, {windows}, {self.tokens}, 3 * channels) for a {self.feature_size} map "
                f"and window {self.window_size}; received {tuple(input_shape)}."
            )
        if input_shape[-1] % (3 * self.num_heads):
            raise ValueError(
                f"WindowAttention's input has {input_shape[-1]} channels: it must be 3 * channels, with channels "
                f"divisible by num_heads={self.num_heads}."
            )
        mh, mw = self.window_size
        self.relative_position_bias_table = self.add_weight(
            name="relative_position_bias_table", shape=((2 * mh - 1) * (2 * mw - 1), self.num_heads),
            initializer=keras.initializers.TruncatedNormal(stddev=0.02),
        )
        self._index = relative_position_index(self.window_size).reshape(-1).astype("int32")
        self._mask = shifted_window_mask(self.feature_size, self.window_size, self.shift_size) if any(self.shift_size) else None

    def relative_position_bias(self):
        """(heads, N, N): the bias table gathered at every token pair."""
        n = self.tokens
        bias = ops.take(self.relative_position_bias_table, ops.convert_to_tensor(self._index), axis=0)
        return ops.transpose(ops.reshape(bias, (n, n, self.num_heads)), (2, 0, 1))

    def call(self, inputs):
        windows, n, channels = inputs.shape[1], self.tokens, inputs.shape[-1] // 3
        heads, depth = self.num_heads, channels // self.num_heads

        def split_heads(t):  # (B, windows, N, C) -> (B*windows, heads, N, d)
            return ops.transpose(ops.reshape(t, (-1, n, heads, depth)), (0, 2, 1, 3))

        q = split_heads(inputs[..., :channels]) * (depth ** -0.5)
        k = split_heads(inputs[..., channels:2 * channels])
        v = split_heads(inputs[..., 2 * channels:])
        scores = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2)))  # (B*windows, heads, N, N)
        bias = ops.cast(self.relative_position_bias(), inputs.dtype)
        if self._mask is None:
            scores = scores + bias
        else:
            # One (windows * heads, N, N) term: bias for every window, mask for every head.
            bias = bias[None] + ops.convert_to_tensor(self._mask, inputs.dtype)[:, None]
            scores = ops.reshape(scores, (-1, windows * heads, n, n)) + ops.reshape(bias, (windows * heads, n, n))
            scores = ops.reshape(scores, (-1, heads, n, n))
        weights = ops.softmax(scores, axis=-1)
        out = ops.transpose(ops.matmul(weights, v), (0, 2, 1, 3))  # (B*windows, N, heads, d)
        return ops.reshape(out, (-1, windows, n, channels))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] // 3)

    def multiply_adds(self, input_shapes, output_shapes):
        """(MACs, other FLOPs) per image, for keras_lightnets.profiling: Q K^T and
        A V in every window and head (the projections are the Dense layers
        around this one); one op per attention score for the softmax."""
        windows, n, channels = input_shapes[0][1], self.tokens, input_shapes[0][-1] // 3
        scores = windows * self.num_heads * n * n
        return 2 * windows * n * n * channels, scores

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "feature_size": self.feature_size}


@keras.saving.register_keras_serializable(package="keras_lightnets")
class PatchMerge(keras.layers.Layer):
    """Swin's patch merging, data part: (batch, H, W, C) -> (batch, ceil(H/2),
    ceil(W/2), 4C), concatenating each 2x2 neighbourhood in torchvision's order
    x[0::2, 0::2], x[1::2, 0::2], x[0::2, 1::2], x[1::2, 1::2] (odd sizes are
    zero-padded at the bottom/right first). A LayerNormalization and a bias-free
    Dense(2C) follow it as stock layers. No weights."""

    def build(self, input_shape):
        if len(input_shape) != 4 or None in input_shape[1:]:
            raise ValueError(f"PatchMerge needs static (batch, height, width, channels) maps; received {tuple(input_shape)}.")

    def call(self, inputs):
        height, width = inputs.shape[1:3]
        x = inputs
        if height % 2 or width % 2:
            x = ops.pad(x, [[0, 0], [0, height % 2], [0, width % 2], [0, 0]])
        return ops.concatenate([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], axis=-1)

    def compute_output_shape(self, input_shape):
        rows, cols = (None if s is None else -(-s // 2) for s in input_shape[1:3])
        return (input_shape[0], rows, cols, None if input_shape[3] is None else 4 * input_shape[3])
