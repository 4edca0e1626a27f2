"""Pieces of the transformer encoders (ViT, Swin) that stock Keras lacks, and the
blocks both families share.

- `ClassToken`: ViT's learned [class] token, prepended to the patch tokens.
- `PositionEmbedding`: ViT's learned 1-D position embedding, added to the tokens;
  its length is the token count of the input size the model is built at.
- `transformer_mlp`: Linear -> GELU -> Dropout -> Linear -> Dropout (torchvision's
  `MLP` / ViT's `MLPBlock`), stock Dense layers.
- `stochastic_depth`: drops a residual branch per sample (torchvision's
  `StochasticDepth(p, "row")`, timm's DropPath): a stock Dropout whose noise is
  shared by every element of a sample, scaled by 1 / (1 - p) during training and
  the identity at inference, as keras.applications' EfficientNet does it.
- `positive_int`, `drop_rate`: checks of the families' arguments, as
  models/_family.py takes them; `static_grid`: both need a static input size.

Everything else of the encoders (LayerNormalization, MultiHeadAttention, Dense,
the patchifying Conv2D) is stock Keras.
"""

import numbers

import keras
from keras import layers
from keras import ops


@keras.saving.register_keras_serializable(package="keras_lightnets")
class ClassToken(keras.layers.Layer):
    """Prepends a learned token to a (batch, tokens, channels) sequence: the
    output has tokens + 1 positions, the class token first (ViT's x_class).
    Initialized to zeros, as torchvision and timm."""

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(f"ClassToken takes (batch, tokens, channels) with known channels; received {tuple(input_shape)}.")
        self.token = self.add_weight(name="token", shape=(1, 1, input_shape[-1]), initializer="zeros")

    def call(self, inputs):
        batch = ops.shape(inputs)[0]
        token = ops.broadcast_to(ops.cast(self.token, inputs.dtype), (batch, 1, inputs.shape[-1]))
        return ops.concatenate([token, inputs], axis=1)

    def compute_output_shape(self, input_shape):
        tokens = None if input_shape[1] is None else input_shape[1] + 1
        return (input_shape[0], tokens, input_shape[2])


@keras.saving.register_keras_serializable(package="keras_lightnets")
class PositionEmbedding(keras.layers.Layer):
    """Adds a learned embedding of shape (1, tokens, channels) to the sequence
    (ViT's E_pos). The token count is fixed when the layer is built, so a model
    is built for one input size; normal(std=0.02) initialization, as torchvision."""

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[1] is None or input_shape[2] is None:
            raise ValueError(
                "PositionEmbedding needs a static token count: build the model with a fixed input_shape, "
                f"e.g. (224, 224, 3); received tokens of shape {tuple(input_shape)}."
            )
        self.embedding = self.add_weight(
            name="embedding", shape=(1, input_shape[1], input_shape[2]),
            initializer=keras.initializers.RandomNormal(stddev=0.02),
        )

    def call(self, inputs):
        return inputs + ops.cast(self.embedding, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape


def transformer_mlp(x, hidden_units, dropout_rate, name):
    """fc1 (GELU, exact erf form as torch.nn.GELU) -> dropout -> fc2 -> dropout."""
    channels = x.shape[-1]
    x = layers.Dense(hidden_units, activation="gelu", name=f"{name}_fc1")(x)
    if dropout_rate:
        x = layers.Dropout(dropout_rate, name=f"{name}_drop1")(x)
    x = layers.Dense(channels, name=f"{name}_fc2")(x)
    if dropout_rate:
        x = layers.Dropout(dropout_rate, name=f"{name}_drop2")(x)
    return x


def stochastic_depth(x, rate, name):
    """Drops the whole branch `x` for a random `rate` of the samples in training
    (no layer when rate is 0)."""
    if not rate:
        return x
    return layers.Dropout(rate, noise_shape=(None,) + (1,) * (len(x.shape) - 1), name=name)(x)


def linear_drop_rates(rate, count):
    """Stochastic depth rising linearly from 0 at the first block to `rate` at the
    last (the Swin and DeiT rule; torchvision: rate * i / (count - 1))."""
    if count <= 1:
        return [0.0] * count
    return [rate * i / (count - 1) for i in range(count)]


def positive_int(example, meaning=""):
    """A check: a positive integer (`meaning`: what the error calls it, e.g. "(C)")."""

    def check(name, value):
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
            label = f"`{name}` {meaning}".rstrip()
            raise ValueError(f"{label} must be a positive integer, e.g. {example}; received {name}={value!r}.")

    return check


def drop_rate(example):
    """A check: a dropout or drop-path rate in [0, 1)."""

    def check(name, value):
        if not isinstance(value, numbers.Real) or isinstance(value, bool) or not 0 <= value < 1:
            raise ValueError(f"`{name}` must be in [0, 1), e.g. {example}; received {name}={value!r}.")

    return check


def static_grid(image, family, why, example, patch_size=1):
    """(rows, cols) of patches of `image`, whose size must be static (and divisible by
    the patch size): the position embedding or window masks are built for it."""
    rows, cols = image.shape[1:3]
    if rows is None or cols is None or rows % patch_size or cols % patch_size:
        divisible = f" divisible by patch_size={patch_size}" if patch_size > 1 else ""
        raise ValueError(
            f"{family} needs a static input size{divisible} ({why}); received input of shape "
            f"{tuple(image.shape[1:])}. Use e.g. input_shape=({example}, {example}, 3).")
    return rows // patch_size, cols // patch_size
