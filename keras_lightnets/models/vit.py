"""Vision Transformer (Dosovitskiy et al., "An Image is Worth 16x16 Words:
Transformers for Image Recognition at Scale", ICLR 2021, arXiv:2010.11929), and
the Tiny and Small sizes of DeiT (Touvron et al., "Training data-efficient image
transformers & distillation through attention", ICML 2021, arXiv:2012.12877).

As the paper (eq. 1-4) and torchvision's `vision_transformer.py`: a p x p stride-p
convolution cuts the image into patch tokens; a learned [class] token is
prepended and a learned 1-D position embedding added; L pre-norm encoder blocks
(LayerNorm eps 1e-6 -> multi-head self-attention -> residual; LayerNorm -> MLP
D -> mlp_dim -> D with GELU -> residual); a final LayerNorm; the head reads the
class token. Layer names follow torchvision's module paths (conv_proj,
class_token, pos_embedding, encoder_layer_{i}_ln_1, _self_attention, _ln_2,
_mlp_fc1/_fc2, encoder_ln, head); `torch_names` maps them onto torchvision's
state_dict (encoder.layers.encoder_layer_{i}.ln_1, ..., mlp.0 / mlp.3, heads.head),
so weights=<torchvision's .pth> loads, and gives torchvision's logits on its graph:
no knob is needed (same LayerNorm epsilon, exact GELU, class-token head, ImageNet
mean/std preprocessing). A checkpoint loads at the image size it was saved for
(e.g. 384 for ViT_B_16_Weights.IMAGENET1K_SWAG_E2E_V1): the position embedding is
not interpolated.

Parameter counts equal torchvision's at 224: vit_b_16 86,567,656, vit_b_32
88,224,232, vit_l_16 304,326,632, vit_l_32 306,535,400; and timm's DeiT/ViT Ti/16 5,717,416 and S/16
22,050,664 (same definition, smaller tables). Keras' MultiHeadAttention keeps
q, k, v and the output projection as four kernels with biases: 4D^2 + 4D
weights, exactly torch's in_proj (3D x D + 3D) and out_proj (D x D + D).

Where we differ from torchvision:
- The position embedding is sized for the input size the model is built at
  ((H/p)(W/p) + 1 tokens), so any static size divisible by the patch size
  builds, not only 224 (torchvision asserts its image_size); parameters count at
  that size. There is no interpolation of a pretrained embedding to a new size.
- Initializers are Keras' defaults (Glorot uniform, torchvision's xavier for the
  encoder), except the patch convolution (truncated normal, std sqrt(1/fan_in),
  as torchvision); torchvision zeroes the head, Keras' Glorot head gives a random
  model informative outputs.
- `stochastic_depth_rate` (DeiT's drop path, rising linearly over the blocks;
  torchvision has none) is 0 by default.

Backbone mode: a ViT is single-scale. `features_only=True` returns the final
(layer-normed) patch tokens as a (H/p, W/p, D) map at stride p, the class token
dropped; `out_strides` may only be (p,). With include_top=False and pooling=None
the model returns the same map; pooling="avg"/"max" pools it and
pooling="token" returns the class token (the head's input).
"""

import dataclasses
import re

import keras
from keras import layers

from keras_lightnets.layers.preprocessing import torch_preprocessing
from keras_lightnets.layers.transformer import ClassToken
from keras_lightnets.layers.transformer import PositionEmbedding
from keras_lightnets.layers.transformer import drop_rate
from keras_lightnets.layers.transformer import linear_drop_rates
from keras_lightnets.layers.transformer import positive_int
from keras_lightnets.layers.transformer import static_grid
from keras_lightnets.layers.transformer import stochastic_depth
from keras_lightnets.layers.transformer import transformer_mlp
from keras_lightnets.models._family import one_of
from keras_lightnets.models._family import variant
from keras_lightnets.models._transformer import TransformerFamily

__all__ = ["ViT"]  # and each variant, added by @variant

# ------------------------------------------------------------ the architecture as data


@dataclasses.dataclass(frozen=True)
class ViTSize:
    """One row of the ViT paper's Table 1 (DeiT's Table 1 for Ti and S), with the patch size."""

    patch_size: int
    depth: int  # L, layers
    width: int  # D, hidden size
    mlp_dim: int  # MLP size
    num_heads: int

    def __iter__(self):  # unpacks as the table's columns
        return iter(dataclasses.astuple(self))


VIT_TABLE = {
    "vit_ti16": ViTSize(16, 12, 192, 768, 3),
    "vit_s16": ViTSize(16, 12, 384, 1536, 6),
    "vit_b16": ViTSize(16, 12, 768, 3072, 12),
    "vit_b32": ViTSize(32, 12, 768, 3072, 12),
    "vit_l16": ViTSize(16, 24, 1024, 4096, 16),
    "vit_l32": ViTSize(32, 24, 1024, 4096, 16),
}
LAYER_NORM_EPSILON = 1e-6  # torchvision's and timm's ViT
POOLINGS = (None, "avg", "max", "token")

# ------------------------------------------------------------------- the graph


def encoder_block(x, *, num_heads, mlp_dim, dropout_rate, attention_dropout, drop_path, epsilon, name):
    """One pre-norm block (paper eq. 2-3; torchvision's EncoderBlock)."""
    width = x.shape[-1]
    y = layers.LayerNormalization(epsilon=epsilon, name=f"{name}_ln_1")(x)
    y = layers.MultiHeadAttention(
        num_heads, key_dim=width // num_heads, dropout=attention_dropout, name=f"{name}_self_attention"
    )(y, y)
    if dropout_rate:
        y = layers.Dropout(dropout_rate, name=f"{name}_dropout")(y)
    y = stochastic_depth(y, drop_path, f"{name}_drop_path_1")
    x = layers.Add(name=f"{name}_add_1")([x, y])
    y = layers.LayerNormalization(epsilon=epsilon, name=f"{name}_ln_2")(x)
    y = transformer_mlp(y, mlp_dim, dropout_rate, f"{name}_mlp")
    y = stochastic_depth(y, drop_path, f"{name}_drop_path_2")
    return layers.Add(name=f"{name}_add_2")([x, y])


def graph(x, taps, *, patch_size, depth, num_heads, width, mlp_dim, dropout_rate, attention_dropout,
          stochastic_depth_rate, layer_norm_epsilon, include_top, features_only, out_strides, family_pooling=None):
    """Patch tokens, class token, position embedding, the encoder, its final LayerNorm;
    then the class token (for the head, or pooling="token") or the (H/p, W/p, D) map
    of the patch tokens, tapped at stride p."""
    if width % num_heads:
        raise ValueError(f"`width`={width} must be divisible by `num_heads`={num_heads} (each head has width / num_heads channels).")
    if features_only and tuple(out_strides) != (patch_size,):
        raise ValueError(
            f"A ViT is single-scale: features_only gives the final token map at stride {patch_size} only, so "
            f"`out_strides` must be None or ({patch_size},); received out_strides={tuple(out_strides)}."
        )
    rows, cols = static_grid(x, "ViT", "its position embedding is sized for it", patch_size * 14, patch_size)
    x = layers.Conv2D(
        width, patch_size, strides=patch_size, name="conv_proj",
        kernel_initializer=keras.initializers.VarianceScaling(1.0, "fan_in", "truncated_normal"),
    )(x)
    x = layers.Reshape((rows * cols, width), name="patch_tokens")(x)
    x = ClassToken(name="class_token")(x)
    x = PositionEmbedding(name="pos_embedding")(x)
    if dropout_rate:
        x = layers.Dropout(dropout_rate, name="encoder_dropout")(x)
    for i, drop_path in enumerate(linear_drop_rates(stochastic_depth_rate, depth)):
        x = encoder_block(
            x, num_heads=num_heads, mlp_dim=mlp_dim, dropout_rate=dropout_rate, attention_dropout=attention_dropout,
            drop_path=drop_path, epsilon=layer_norm_epsilon, name=f"encoder_layer_{i}",
        )
    x = layers.LayerNormalization(epsilon=layer_norm_epsilon, name="encoder_ln")(x)
    if (include_top and not features_only) or family_pooling == "token":
        x = layers.Cropping1D((0, rows * cols), name="class_token_select")(x)
        return layers.Flatten(name="class_token_output")(x)
    x = layers.Cropping1D((1, 0), name="patch_tokens_select")(x)
    x = layers.Reshape((rows, cols, width), name="token_map")(x)
    taps.record(x, patch_size)
    return x


def head(x, *, classes, classifier_activation):
    """The classifier on the class token (torchvision's heads.head)."""
    return layers.Dense(classes, activation=classifier_activation, name="head")(x)


# {our layer-name suffix in encoder block i: torchvision's module in encoder_layer_{i}}
TORCH_BLOCK_PARTS = {"ln_1": "ln_1", "self_attention": "self_attention", "ln_2": "ln_2", "mlp_fc1": "mlp.0",
                     "mlp_fc2": "mlp.3"}
TORCH_NAMES = {"class_token": "", "pos_embedding": "encoder", "encoder_ln": "encoder.ln", "head": "heads.head"}


def torch_names(model):
    """{our layer: torchvision's VisionTransformer module} where they differ (conv_proj is the same)."""
    names = {}
    for layer in model.layers:
        block = re.fullmatch(r"(encoder_layer_\d+)_(\w+)", layer.name)
        if block and block.group(2) in TORCH_BLOCK_PARTS:
            names[layer.name] = f"encoder.layers.{block.group(1)}.{TORCH_BLOCK_PARTS[block.group(2)]}"
        elif layer.name in TORCH_NAMES:
            names[layer.name] = TORCH_NAMES[layer.name]
    return names


# ------------------------------------------------------------------------ the builder

ViT = TransformerFamily(
    "ViT", graph=graph, head=head, preprocessing=torch_preprocessing,
    knobs={"patch_size": 16, "depth": 12, "num_heads": 12, "width": 768, "mlp_dim": 3072, "dropout_rate": 0.0,
           "attention_dropout": 0.0, "stochastic_depth_rate": 0.0, "layer_norm_epsilon": LAYER_NORM_EPSILON},
    order=("patch_size", "depth", "num_heads", "width", "mlp_dim", "input_shape", "include_top", "weights",
           "input_tensor", "classes", "pooling", "dropout_rate", "attention_dropout", "stochastic_depth_rate",
           "classifier_activation", "include_preprocessing", "layer_norm_epsilon", "name", "features_only",
           "out_strides"),
    checks={"patch_size": positive_int(16), "depth": positive_int(12), "num_heads": positive_int(12),
            "width": positive_int(768), "mlp_dim": positive_int(3072), "dropout_rate": drop_rate(0.1),
            "attention_dropout": drop_rate(0.1), "stochastic_depth_rate": drop_rate(0.1),
            "pooling": one_of(POOLINGS, f"one of {POOLINGS} for a ViT")},
    defaults={"name": "vit", "out_strides": None},
    default_size=lambda knobs: 224 if 224 % knobs["patch_size"] == 0 else knobs["patch_size"] * 14,
    min_size=lambda knobs: knobs["patch_size"],
    default_name=lambda knobs, rows: "vit",
    no_imagenet="torchvision's ViT weights are PyTorch checkpoints; convert them to a Keras file and pass its path",
    poolings=("token",),
    default_out_strides=lambda knobs: (knobs["patch_size"],),
    torch_names=torch_names,
).builder(doc="""A Vision Transformer of any size (defaults: ViT-B/16).

    Args:
        patch_size: p, the side of the square patches (and the stride of the
            patch tokens).
        depth: L, the number of encoder blocks.
        num_heads: attention heads (width must be divisible by it).
        width: D, the hidden size of the tokens.
        mlp_dim: the hidden size of each block's MLP.
        input_shape: (height, width, channels), both sides static and divisible
            by patch_size; default (224, 224, 3).
        include_top: add the classifier on the class token.
        weights: None or the path of a weights file (loaded by layer name, at the
            same input size: the position embedding's shape depends on it), or
            of torchvision's VisionTransformer state_dict (.pth).
            No ImageNet file is published for Keras ("imagenet" is an error).
        input_tensor: optional Keras tensor to build the model on.
        classes: classifier width.
        pooling: with include_top=False: None (the (H/p, W/p, D) token map),
            "avg" or "max" (pooled map) or "token" (the class token).
        dropout_rate: torchvision's `dropout`: after the position embedding, the
            attention output and both MLP layers.
        attention_dropout: dropout on the attention weights.
        stochastic_depth_rate: drop-path rate of the last block, linear from 0
            (DeiT's 0.1 for Ti/S); 0 as torchvision.
        classifier_activation: activation of the classifier, None for logits.
        include_preprocessing: take [0, 255] RGB pixels (ImageNet mean/std
            normalization, torchvision's transforms, as layers).
        layer_norm_epsilon: 1e-6 as torchvision and timm.
        name: model name.
        features_only: return the final token map at stride p (see the module
            docstring); out_strides: None or (p,).
    """)


# ------------------------------------------------------------------------ the variants

_VIT = ("An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale (ICLR 2021)", "2010.11929")
_DEIT = ("Training data-efficient image transformers & distillation through attention (ICML 2021)", "2012.12877")

# The published figures at 224, per VIT_TABLE row: (paper, parameters M, multiply-adds M,
# where the figures come from, the reference implementation). Parameter counts equal
# the references' (see the module docstring).
PUBLISHED = {
    "vit_ti16": (_DEIT, 5.7, 1300, "timm (deit_tiny_patch16_224: 5.7M params, 1.3 GMACs; the DeiT paper prints '5M')",
                 "timm vit_tiny_patch16_224 / deit_tiny_patch16_224"),
    "vit_s16": (_DEIT, 22.1, 4600,
                "timm (deit_small_patch16_224: 22.1M, 4.6 GMACs; the Swin paper's Table 1 gives DeiT-S 22M, 4.6G)",
                "timm vit_small_patch16_224 / deit_small_patch16_224"),
    "vit_b16": (_VIT, 86.6, 17600,
                "torchvision (num_params, _ops 17.6 GFLOPS = multiply-adds); the paper's Table 1 rounds to 86M",
                "torchvision.models.vit_b_16"),
    "vit_b32": (_VIT, 88.2, 4400,
                "torchvision (num_params, _ops 4.4); the paper's Table 1 gives 86M for every ViT-Base",
                "torchvision.models.vit_b_32"),
    "vit_l16": (_VIT, 304.3, 61600, "torchvision (num_params, _ops 61.6); the paper's Table 1 rounds to 307M",
                "torchvision.models.vit_l_16"),
    "vit_l32": (_VIT, 306.5, 15400,
                "torchvision (ViT_L_32_Weights num_params 306,535,400; _ops 15.378 GFLOPS = multiply-adds); "
                "the paper's Table 1 (ViT-Large: 24 layers, D 1024, MLP 4096, 16 heads) rounds to 307M",
                "torchvision.models.vit_l_32"),
}
NOTES = {
    "vit_ti16": "The published '1.3 GMACs' is rounded to two digits; the architecture has 1.254G multiply-adds "
                "(projections, QK^T and AV of 197 tokens, MLPs, patch embedding, head), 3.5% below.",
}
# keras_lightnets' ViT variants took these, by position, before the refactor;
# layer_norm_epsilon, added since, comes last.
_ORDER = ("input_shape", "include_top", "weights", "input_tensor", "classes", "pooling", "dropout_rate",
          "attention_dropout", "stochastic_depth_rate", "classifier_activation", "include_preprocessing", "name",
          "features_only", "out_strides")


def released(key):
    """A variant's @variant arguments: its VIT_TABLE row fixed, its name as the model's, its PUBLISHED figures."""
    (paper, arxiv), params, macs, source, reference = PUBLISHED[key]
    return {"knobs": dataclasses.asdict(VIT_TABLE[key]), "model_name": key, "order": _ORDER, "family": "vit",
            "paper": paper, "arxiv": arxiv, "default_size": 224, "paper_params_m": params, "paper_macs_m": macs,
            "figures_source": source, "reference": reference, "note": NOTES.get(key, "")}


@variant("vit_ti16", ViT, **released("vit_ti16"))
def ViTTi16(*args, **kwargs):
    """ViT-Ti/16 (DeiT-Ti; timm's vit_tiny_patch16_224): 5,717,416 parameters at 224; ViT's other arguments."""


@variant("vit_s16", ViT, **released("vit_s16"))
def ViTS16(*args, **kwargs):
    """ViT-S/16 (DeiT-S; timm's vit_small_patch16_224): 22,050,664 parameters at 224; ViT's other arguments."""


@variant("vit_b16", ViT, **released("vit_b16"))
def ViTB16(*args, **kwargs):
    """ViT-B/16 (torchvision's vit_b_16): 86,567,656 parameters at 224; ViT's other arguments."""


@variant("vit_b32", ViT, **released("vit_b32"))
def ViTB32(*args, **kwargs):
    """ViT-B/32 (torchvision's vit_b_32): 88,224,232 parameters at 224; ViT's other arguments."""


@variant("vit_l16", ViT, **released("vit_l16"))
def ViTL16(*args, **kwargs):
    """ViT-L/16 (torchvision's vit_l_16): 304,326,632 parameters at 224; ViT's other arguments."""


@variant("vit_l32", ViT, **released("vit_l32"))
def ViTL32(*args, **kwargs):
    """ViT-L/32 (torchvision's vit_l_32): 306,535,400 parameters at 224; ViT's other arguments."""
