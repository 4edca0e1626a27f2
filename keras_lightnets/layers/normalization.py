"""Local response normalization (Krizhevsky et al., "ImageNet Classification with
Deep Convolutional Neural Networks", NIPS 2012, section 3.3), which AlexNet and
ZFNet ("contrast normalization across feature maps") apply after their first two
convolutional layers.

    b[c] = a[c] / (k + alpha * sum_{j = c - n//2}^{c + (n-1)//2} a[j]^2) ^ beta

summed over the n channels centred on c that exist (the window is clipped at the
first and last channel). The paper's constants are k=2, n=5, alpha=1e-4,
beta=0.75. Conventions differ between libraries, and this layer follows the paper:

- tf.nn.local_response_normalization(depth_radius=r, bias=k, alpha, beta) is the
  same formula with n = 2r + 1 (identical outputs for odd n);
- torch.nn.LocalResponseNorm(size=n, alpha, beta, k) divides alpha by n, so the
  paper's layer is LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0) there (and
  torchvision's AlexNet has no LRN at all).
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_lightnets")
class LocalResponseNormalization(keras.layers.Layer):
    """The paper's LRN across channels (last axis, NHWC). No weights.

    Args:
        size: n, the number of adjacent channels summed over (the paper's 5).
        alpha: the paper's alpha (1e-4), NOT divided by `size` (unlike PyTorch).
        beta: the exponent (0.75).
        k: the additive constant (2.0).
    """

    def __init__(self, size=5, alpha=1e-4, beta=0.75, k=2.0, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ValueError(f"`size` (n, the channel window of LRN) must be a positive integer, e.g. 5; received size={size!r}.")
        for arg, value in (("alpha", alpha), ("beta", beta), ("k", k)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ValueError(f"`{arg}` must be a non-negative number (the paper uses k=2, alpha=1e-4, beta=0.75); received {arg}={value!r}.")
        self.size = size
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.k = float(k)

    def build(self, input_shape):
        if input_shape[-1] is None:
            raise ValueError("LocalResponseNormalization needs a known channel count (last axis).")

    def call(self, inputs):
        channels = inputs.shape[-1]
        before, after = self.size // 2, (self.size - 1) // 2
        squares = ops.square(inputs)
        padded = ops.pad(squares, [[0, 0]] * (len(inputs.shape) - 1) + [[before, after]])
        # Sum of the `size` channel-shifted copies: the window sum at every channel.
        window_sum = padded[..., 0:channels]
        for offset in range(1, self.size):
            window_sum = window_sum + padded[..., offset : offset + channels]
        return inputs / ops.power(self.k + self.alpha * window_sum, self.beta)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "size": self.size, "alpha": self.alpha, "beta": self.beta, "k": self.k}
