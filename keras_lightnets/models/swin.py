"""Swin Transformer (Liu et al., "Swin Transformer: Hierarchical Vision
Transformer using Shifted Windows", ICCV 2021, arXiv:2103.14030): Swin-T, -S, -B.

As the paper (section 3, Table 7) and torchvision's `swin_transformer.py`:
patch partition (4x4 stride-4 convolution + LayerNorm) -> four stages of Swin
blocks, the stages after the first preceded by patch merging (2x2 neighbours
concatenated -> LayerNorm -> bias-free Linear 4C -> 2C); within a stage, blocks
alternate regular (W-MSA) and shifted (SW-MSA, shift M/2) window attention,
M = 7, with a relative position bias table of (2M - 1)^2 x heads; each block is
x + DropPath(attn(LN(x))), then x + DropPath(MLP(LN(x))) with a 4x GELU MLP;
LayerNorm eps 1e-5 -> global average pool -> Linear head.

The stage table (C, layer numbers, heads) is section 3.3's:
Swin-T C=96 {2, 2, 6, 2}, Swin-S C=96 {2, 2, 18, 2}, Swin-B C=128 {2, 2, 18, 2},
heads C/32 per stage. Parameter counts equal torchvision's: swin_t 28,288,354,
swin_s 49,606,258, swin_b 87,768,224 (the bias tables are the only weights
besides the Dense, Conv2D and LayerNormalization layers'). Stochastic depth
rises linearly to `stochastic_depth_rate` (0.2 / 0.3 / 0.5 for T / S / B, as
the paper's training and torchvision), by per-sample Dropout.

Feature maps that are not multiples of the window (any input size that is not
224 or another multiple of 32 x 7) are padded as torchvision does, not shrunk
as the official code does; see keras_lightnets/layers/window_attention.py. So
every size from 32x32 builds with the same weights: at 96x96 the stage maps are
24, 12, 6, 3, padded to 28, 14, 7, 7, and the last two stages, one window
each, do not shift. The attention masks are built for the input size, so the
model needs a static input size (default 224).

Layer names: patch_embed, patch_embed_norm; stage{s}_block{b}_norm1, _attn_qkv,
_attn (the attention core, with the bias table), _attn_proj, _norm2, _mlp_fc1,
_mlp_fc2; stage{s}_merge_norm, stage{s}_merge_reduction; norm; head.
Backbone mode: the stage outputs at strides 4, 8, 16 and the final
(layer-normed) map at 32.
"""

import dataclasses
import numbers
from typing import Tuple

from keras import layers

from keras_lightnets.layers.preprocessing import torch_preprocessing
from keras_lightnets.layers.transformer import linear_drop_rates
from keras_lightnets.layers.transformer import stochastic_depth
from keras_lightnets.layers.transformer import transformer_mlp
from keras_lightnets.layers.window_attention import PatchMerge
from keras_lightnets.layers.window_attention import WindowAttention
from keras_lightnets.layers.window_attention import WindowPartition
from keras_lightnets.layers.window_attention import WindowReverse
from keras_lightnets.layers.window_attention import effective_shift
from keras_lightnets.models import _common
from keras_lightnets.registry import register_model

LAYER_NORM_EPSILON = 1e-5  # torchvision's Swin (nn.LayerNorm's default)
PATCH_SIZE = 4


@dataclasses.dataclass(frozen=True)
class SwinSpec:
    """One network of the family (section 3.3 of the paper)."""

    embed_dim: int  # C
    depths: Tuple[int, ...]  # layer numbers of the four stages
    num_heads: Tuple[int, ...]
    stochastic_depth_rate: float  # the paper's (and torchvision's) training value


SPECS = {
    "swin_t": SwinSpec(96, (2, 2, 6, 2), (3, 6, 12, 24), 0.2),
    "swin_s": SwinSpec(96, (2, 2, 18, 2), (3, 6, 12, 24), 0.3),
    "swin_b": SwinSpec(128, (2, 2, 18, 2), (4, 8, 16, 32), 0.5),
}


def _int_tuple(value, name, example):
    values = tuple(value) if isinstance(value, (tuple, list)) else None
    if not values or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0 for v in values):
        raise ValueError(f"`{name}` must be a non-empty sequence of positive integers, e.g. {example}; received {name}={value!r}.")
    return tuple(int(v) for v in values)


def check_swin_args(embed_dim, depths, num_heads, window_size, mlp_ratio, dropout_rate, stochastic_depth_rate):
    if not isinstance(embed_dim, numbers.Integral) or isinstance(embed_dim, bool) or embed_dim < 1:
        raise ValueError(f"`embed_dim` (C) must be a positive integer, e.g. 96; received embed_dim={embed_dim!r}.")
    depths = _int_tuple(depths, "depths", (2, 2, 6, 2))
    num_heads = _int_tuple(num_heads, "num_heads", (3, 6, 12, 24))
    if len(depths) != len(num_heads):
        raise ValueError(f"`depths` and `num_heads` need one entry per stage; received {len(depths)} and {len(num_heads)}.")
    for s, heads in enumerate(num_heads):
        dim = embed_dim * 2 ** s
        if dim % heads:
            raise ValueError(f"Stage {s + 1} has {dim} channels, not divisible by its num_heads={heads}.")
    if not isinstance(window_size, numbers.Integral) or isinstance(window_size, bool) or window_size < 2:
        raise ValueError(f"`window_size` (M) must be an integer >= 2, e.g. 7; received window_size={window_size!r}.")
    if not isinstance(mlp_ratio, numbers.Real) or isinstance(mlp_ratio, bool) or mlp_ratio <= 0:
        raise ValueError(f"`mlp_ratio` must be a positive number, e.g. 4.0; received mlp_ratio={mlp_ratio!r}.")
    for value, name in ((dropout_rate, "dropout_rate"), (stochastic_depth_rate, "stochastic_depth_rate")):
        if not isinstance(value, numbers.Real) or isinstance(value, bool) or not 0 <= value < 1:
            raise ValueError(f"`{name}` must be in [0, 1), e.g. 0.2; received {name}={value!r}.")
    return depths, num_heads


def swin_block(x, *, num_heads, window_size, shifted, mlp_ratio, dropout_rate, drop_path, name):
    """One Swin block (paper eq. 3) on a (batch, H, W, C) map."""
    height, width, channels = x.shape[1:]
    window = (window_size, window_size)
    shift = effective_shift((height, width), window, (window_size // 2,) * 2 if shifted else (0, 0))
    y = layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name=f"{name}_norm1")(x)
    y = WindowPartition(window, shift, name=f"{name}_attn_partition")(y)
    y = layers.Dense(3 * channels, name=f"{name}_attn_qkv")(y)
    y = WindowAttention(num_heads, window, (height, width), shift, name=f"{name}_attn")(y)
    y = layers.Dense(channels, name=f"{name}_attn_proj")(y)
    if dropout_rate:
        y = layers.Dropout(dropout_rate, name=f"{name}_attn_dropout")(y)
    y = WindowReverse(window, (height, width), shift, name=f"{name}_attn_reverse")(y)
    y = stochastic_depth(y, drop_path, f"{name}_drop_path1")
    x = layers.Add(name=f"{name}_add1")([x, y])
    y = layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name=f"{name}_norm2")(x)
    y = transformer_mlp(y, int(channels * mlp_ratio), dropout_rate, f"{name}_mlp")
    y = stochastic_depth(y, drop_path, f"{name}_drop_path2")
    return layers.Add(name=f"{name}_add2")([x, y])


def patch_merging(x, name):
    """2x2 neighbours -> LayerNorm(4C) -> Linear(2C, no bias): half the size, twice the channels."""
    channels = x.shape[-1]
    x = PatchMerge(name=f"{name}_gather")(x)
    x = layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name=f"{name}_norm")(x)
    return layers.Dense(2 * channels, use_bias=False, name=f"{name}_reduction")(x)


def SwinTransformer(
    embed_dim=96,
    depths=(2, 2, 6, 2),
    num_heads=(3, 6, 12, 24),
    window_size=7,
    mlp_ratio=4.0,
    input_shape=None,
    include_top=True,
    weights=None,
    input_tensor=None,
    classes=1000,
    pooling=None,
    dropout_rate=0.0,
    stochastic_depth_rate=0.0,
    classifier_activation="softmax",
    include_preprocessing=False,
    name="swin_transformer",
    features_only=False,
    out_strides=_common.DEFAULT_OUT_STRIDES,
):
    """A Swin Transformer of any size (defaults: Swin-T's table, without stochastic depth).

    Args:
        embed_dim: C, the channels of the first stage (doubled by each merging).
        depths: Swin blocks per stage.
        num_heads: attention heads per stage.
        window_size: M, the side of the attention windows (7).
        mlp_ratio: MLP hidden size / channels (4).
        input_shape: (height, width, channels), static, at least 32x32;
            default (224, 224, 3).
        include_top: add global average pooling and the Dense head.
        weights: None or the path of a weights file (loaded by layer name).
            No ImageNet file is published for Keras ("imagenet" is an error).
        input_tensor: optional Keras tensor to build the model on.
        classes: classifier width.
        pooling: None, "avg" or "max", for include_top=False.
        dropout_rate: torchvision's `dropout` (attention output and MLP).
        stochastic_depth_rate: drop-path rate of the last block, linear from 0.
        classifier_activation: activation of the head, None for logits.
        include_preprocessing: take [0, 255] RGB pixels (ImageNet mean/std, as layers).
        name: model name.
        features_only: return the feature maps at `out_strides` (4, 8, 16, 32:
            the four stages' outputs, the last one layer-normed).
    """
    _common.check_channels_last()
    depths, num_heads = check_swin_args(embed_dim, depths, num_heads, window_size, mlp_ratio, dropout_rate, stochastic_depth_rate)
    _common.check_pooling(pooling)
    head = include_top and not features_only
    _common.check_weights(
        weights, head, classes,
        available="torchvision's Swin weights are PyTorch checkpoints; convert them to a Keras file and pass its path",
    )
    image, inputs = _common.resolve_input(input_shape, input_tensor, default_size=224, weights=weights, static_default=True)
    if None in image.shape[1:3]:
        raise ValueError(
            f"Swin Transformer needs a static input size (its window masks are built for it); received input of "
            f"shape {tuple(image.shape[1:])}. Use e.g. input_shape=(224, 224, 3)."
        )

    taps = _common.FeatureTaps()
    x = torch_preprocessing(image) if include_preprocessing else image
    x = layers.Conv2D(embed_dim, PATCH_SIZE, strides=PATCH_SIZE, name="patch_embed")(x)
    x = layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name="patch_embed_norm")(x)
    stride = PATCH_SIZE
    rates = iter(linear_drop_rates(stochastic_depth_rate, sum(depths)))
    for s, (depth, heads) in enumerate(zip(depths, num_heads), start=1):
        if s > 1:
            x = patch_merging(x, f"stage{s}_merge")
            stride *= 2
        for b in range(depth):
            x = swin_block(
                x, num_heads=heads, window_size=window_size, shifted=b % 2 == 1, mlp_ratio=mlp_ratio,
                dropout_rate=dropout_rate, drop_path=next(rates), name=f"stage{s}_block{b}",
            )
        taps.record(x, stride)
    x = layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name="norm")(x)
    taps.record(x, stride)
    if head:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dense(classes, activation=classifier_activation, name="head")(x)
    else:
        x = _common.pool(x, pooling)
    return _common.finish(
        inputs, x, name=name, weights=weights, imagenet_file=None,
        taps=taps, features_only=features_only, out_strides=out_strides,
    )


def _class_builder(class_name, key, summary):
    spec = SPECS[key]

    def builder(
        input_shape=None, include_top=True, weights=None, input_tensor=None, classes=1000, pooling=None,
        dropout_rate=0.0, stochastic_depth_rate=spec.stochastic_depth_rate, window_size=7,
        classifier_activation="softmax", include_preprocessing=False, name=key, features_only=False,
        out_strides=_common.DEFAULT_OUT_STRIDES,
    ):
        return SwinTransformer(
            embed_dim=spec.embed_dim, depths=spec.depths, num_heads=spec.num_heads, window_size=window_size,
            input_shape=input_shape, include_top=include_top, weights=weights, input_tensor=input_tensor,
            classes=classes, pooling=pooling, dropout_rate=dropout_rate, stochastic_depth_rate=stochastic_depth_rate,
            classifier_activation=classifier_activation, include_preprocessing=include_preprocessing, name=name,
            features_only=features_only, out_strides=out_strides,
        )

    builder.__name__ = builder.__qualname__ = class_name
    builder.__doc__ = (
        f"{summary}\n\n    C={spec.embed_dim}, depths {spec.depths}, heads {spec.num_heads}, window 7, "
        f"stochastic depth {spec.stochastic_depth_rate}. Arguments as `SwinTransformer`."
    )
    return builder


SwinT = _class_builder("SwinT", "swin_t", "Swin-T (torchvision's swin_t): 28,288,354 parameters, 4.5G MACs at 224.")
SwinS = _class_builder("SwinS", "swin_s", "Swin-S (torchvision's swin_s): 49,606,258 parameters, 8.7G MACs at 224.")
SwinB = _class_builder("SwinB", "swin_b", "Swin-B (torchvision's swin_b): 87,768,224 parameters, 15.4G MACs at 224.")

_SWIN = "Swin Transformer: Hierarchical Vision Transformer using Shifted Windows (ICCV 2021)"
for _name, _builder, _params, _macs in (
    ("swin_t", SwinT, 28, 4500),
    ("swin_s", SwinS, 50, 8700),
    ("swin_b", SwinB, 88, 15400),
):
    register_model(
        _name, _builder, family="swin", paper=_SWIN, arxiv="2103.14030", default_size=224,
        paper_params_m=_params, paper_macs_m=_macs, figures_source="paper (Table 1(a): params, FLOPs = multiply-adds)",
        reference=f"torchvision.models.{_name}",
    )
