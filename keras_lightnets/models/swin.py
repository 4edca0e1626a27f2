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
`torch_names` maps them onto torchvision's state_dict (features.0.0 / .2, the
stages features.1, 3, 5, 7 and the mergings features.2, 4, 6 between them; attn.qkv,
attn.proj, mlp.0 / mlp.3), so weights=<torchvision's .pth> loads and gives
torchvision's logits on the same graph, at any input size: no knob is needed.
Backbone mode: the stage outputs at strides 4, 8, 16 and the final
(layer-normed) map at 32.
"""

import dataclasses
import numbers
import re
from typing import Tuple

from keras import layers

from keras_lightnets.layers.preprocessing import torch_preprocessing
from keras_lightnets.layers.transformer import drop_rate
from keras_lightnets.layers.transformer import linear_drop_rates
from keras_lightnets.layers.transformer import positive_int
from keras_lightnets.layers.transformer import static_grid
from keras_lightnets.layers.transformer import stochastic_depth
from keras_lightnets.layers.transformer import transformer_mlp
from keras_lightnets.layers.window_attention import PatchMerge
from keras_lightnets.layers.window_attention import WindowAttention
from keras_lightnets.layers.window_attention import WindowPartition
from keras_lightnets.layers.window_attention import WindowReverse
from keras_lightnets.layers.window_attention import effective_shift
from keras_lightnets.models._family import variant
from keras_lightnets.models._transformer import TransformerFamily

__all__ = ["SwinTransformer"]  # and each variant, added by @variant

# ------------------------------------------------------------ the architecture as data


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
LAYER_NORM_EPSILON = 1e-5  # torchvision's Swin (nn.LayerNorm's default)
PATCH_SIZE = 4

# ------------------------------------------------------------------- the graph


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


def graph(x, taps, *, embed_dim, depths, num_heads, window_size, mlp_ratio, dropout_rate, stochastic_depth_rate):
    """Patch partition, the stages (merging before all but the first), the final
    LayerNorm; taps each stage's output, the last one layer-normed."""
    depths, num_heads = tuple(depths), tuple(num_heads)
    if len(depths) != len(num_heads):
        raise ValueError(f"`depths` and `num_heads` need one entry per stage; received {len(depths)} and {len(num_heads)}.")
    for s, heads in enumerate(num_heads):
        if embed_dim * 2 ** s % heads:
            raise ValueError(f"Stage {s + 1} has {embed_dim * 2 ** s} channels, not divisible by its num_heads={heads}.")
    static_grid(x, "Swin Transformer", "its window masks are built for it", 224)
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
    return x


def head(x, *, classes, classifier_activation):
    """Global average pooling and the Linear head (torchvision's avgpool, head)."""
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return layers.Dense(classes, activation=classifier_activation, name="head")(x)


# {our layer-name suffix in a block: torchvision's module in its SwinTransformerBlock}
TORCH_BLOCK_PARTS = {"norm1": "norm1", "attn_qkv": "attn.qkv", "attn": "attn", "attn_proj": "attn.proj",
                     "norm2": "norm2", "mlp_fc1": "mlp.0", "mlp_fc2": "mlp.3"}
TORCH_NAMES = {"patch_embed": "features.0.0", "patch_embed_norm": "features.0.2"}


def torch_names(model):
    """{our layer: torchvision's SwinTransformer module}: stage s is features[2s - 1],
    the patch merging before it features[2s - 2]; norm and head are the same."""
    names = {}
    for layer in model.layers:
        block = re.fullmatch(r"stage(\d+)_block(\d+)_(\w+)", layer.name)
        merge = re.fullmatch(r"stage(\d+)_merge_(norm|reduction)", layer.name)
        if block and block.group(3) in TORCH_BLOCK_PARTS:
            stage, index, part = int(block.group(1)), block.group(2), TORCH_BLOCK_PARTS[block.group(3)]
            names[layer.name] = f"features.{2 * stage - 1}.{index}.{part}"
        elif merge:
            names[layer.name] = f"features.{2 * int(merge.group(1)) - 2}.{merge.group(2)}"
        elif layer.name in TORCH_NAMES:
            names[layer.name] = TORCH_NAMES[layer.name]
    return names


# ------------------------------------------------------------------------ the builder


def _positive_ints(example):
    def check(name, value):
        values = tuple(value) if isinstance(value, (tuple, list)) else None
        if not values or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0 for v in values):
            raise ValueError(f"`{name}` must be a non-empty sequence of positive integers, e.g. {example}; received {name}={value!r}.")

    return check


def _window_size(name, value):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 2:
        raise ValueError(f"`{name}` (M) must be an integer >= 2, e.g. 7; received {name}={value!r}.")


def _mlp_ratio(name, value):
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"`{name}` must be a positive number, e.g. 4.0; received {name}={value!r}.")


SwinTransformer = TransformerFamily(
    "SwinTransformer", graph=graph, head=head, preprocessing=torch_preprocessing,
    knobs={"embed_dim": 96, "depths": (2, 2, 6, 2), "num_heads": (3, 6, 12, 24), "window_size": 7, "mlp_ratio": 4.0,
           "dropout_rate": 0.0, "stochastic_depth_rate": 0.0},
    order=("embed_dim", "depths", "num_heads", "window_size", "mlp_ratio", "input_shape", "include_top", "weights",
           "input_tensor", "classes", "pooling", "dropout_rate", "stochastic_depth_rate", "classifier_activation",
           "include_preprocessing", "name", "features_only", "out_strides"),
    checks={"embed_dim": positive_int(96, "(C)"), "depths": _positive_ints((2, 2, 6, 2)),
            "num_heads": _positive_ints((3, 6, 12, 24)), "window_size": _window_size, "mlp_ratio": _mlp_ratio,
            "dropout_rate": drop_rate(0.2), "stochastic_depth_rate": drop_rate(0.2)},
    defaults={"name": "swin_transformer"},
    default_name=lambda knobs, rows: "swin_transformer",
    no_imagenet="torchvision's Swin weights are PyTorch checkpoints; convert them to a Keras file and pass its path",
    torch_names=torch_names,
).builder(doc="""A Swin Transformer of any size (defaults: Swin-T's table, without stochastic depth).

    Args:
        embed_dim: C, the channels of the first stage (doubled by each merging).
        depths: Swin blocks per stage.
        num_heads: attention heads per stage.
        window_size: M, the side of the attention windows (7).
        mlp_ratio: MLP hidden size / channels (4).
        input_shape: (height, width, channels), static, at least 32x32;
            default (224, 224, 3).
        include_top: add global average pooling and the Dense head.
        weights: None or the path of a weights file (loaded by layer name), or
            of torchvision's SwinTransformer state_dict (.pth). No ImageNet file is published for Keras ("imagenet" is an error).
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
    """)


# ------------------------------------------------------------------------ the variants

_SWIN = "Swin Transformer: Hierarchical Vision Transformer using Shifted Windows (ICCV 2021)"
_SOURCE = "paper (Table 1(a): params, FLOPs = multiply-adds)"
# The paper's Table 1(a) at 224, per SPECS row: (parameters M, multiply-adds M).
PUBLISHED = {"swin_t": (28, 4500), "swin_s": (50, 8700), "swin_b": (88, 15400)}

# keras_lightnets' Swin-T/S/B took these first, by position, before the refactor.
_ORDER = ("input_shape", "include_top", "weights", "input_tensor", "classes", "pooling", "dropout_rate",
          "stochastic_depth_rate", "window_size", "classifier_activation", "include_preprocessing", "name",
          "features_only", "out_strides")  # then mlp_ratio, new since: by keyword


def released(key):
    """A variant's @variant arguments: its SPECS row fixed but the paper's drop-path rate (a default the
    caller may change), its name as the model's, its PUBLISHED figures, torchvision's model as reference."""
    table = dataclasses.asdict(SPECS[key])
    params, macs = PUBLISHED[key]
    return {"knobs": {k: v for k, v in table.items() if k != "stochastic_depth_rate"}, "model_name": key,
            "order": _ORDER, "defaults": {"stochastic_depth_rate": table["stochastic_depth_rate"]}, "family": "swin",
            "paper": _SWIN, "arxiv": "2103.14030", "default_size": 224, "paper_params_m": params,
            "paper_macs_m": macs, "figures_source": _SOURCE, "reference": f"torchvision.models.{key}"}


@variant("swin_t", SwinTransformer, **released("swin_t"))
def SwinT(*args, **kwargs):
    """Swin-T (torchvision's swin_t): 28,288,354 parameters at 224; SwinTransformer's other arguments."""


@variant("swin_s", SwinTransformer, **released("swin_s"))
def SwinS(*args, **kwargs):
    """Swin-S (torchvision's swin_s): 49,606,258 parameters at 224; SwinTransformer's other arguments."""


@variant("swin_b", SwinTransformer, **released("swin_b"))
def SwinB(*args, **kwargs):
    """Swin-B (torchvision's swin_b): 87,768,224 parameters at 224; SwinTransformer's other arguments."""
