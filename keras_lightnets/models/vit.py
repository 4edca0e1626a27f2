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
_mlp_fc1/_fc2, encoder_ln, head).

Parameter counts equal torchvision's at 224: vit_b_16 86,567,656, vit_b_32
88,224,232, vit_l_16 304,326,632; and timm's DeiT/ViT Ti/16 5,717,416 and S/16
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

import numbers

import keras
from keras import layers

from keras_lightnets.layers.preprocessing import torch_preprocessing
from keras_lightnets.layers.transformer import ClassToken
from keras_lightnets.layers.transformer import PositionEmbedding
from keras_lightnets.layers.transformer import linear_drop_rates
from keras_lightnets.layers.transformer import stochastic_depth
from keras_lightnets.layers.transformer import transformer_mlp
from keras_lightnets.models import _common
from keras_lightnets.registry import register_model

LAYER_NORM_EPSILON = 1e-6  # torchvision's and timm's ViT
POOLINGS = (None, "avg", "max", "token")

# ViT paper Table 1 (Base, Large) and DeiT Table 1 (Ti, S):
#            patch, layers, hidden D, MLP size, heads
VIT_TABLE = {
    "vit_ti16": (16, 12, 192, 768, 3),
    "vit_s16": (16, 12, 384, 1536, 6),
    "vit_b16": (16, 12, 768, 3072, 12),
    "vit_b32": (32, 12, 768, 3072, 12),
    "vit_l16": (16, 24, 1024, 4096, 16),
}


def _positive_int(value, name, example):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer, e.g. {example}; received {name}={value!r}.")


def _rate(value, name):
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not 0 <= value < 1:
        raise ValueError(f"`{name}` must be in [0, 1), e.g. 0.1; received {name}={value!r}.")


def check_vit_args(patch_size, depth, num_heads, width, mlp_dim, dropout_rate, attention_dropout, stochastic_depth_rate):
    _positive_int(patch_size, "patch_size", 16)
    _positive_int(depth, "depth", 12)
    _positive_int(num_heads, "num_heads", 12)
    _positive_int(width, "width", 768)
    _positive_int(mlp_dim, "mlp_dim", 3072)
    if width % num_heads:
        raise ValueError(f"`width`={width} must be divisible by `num_heads`={num_heads} (each head has width / num_heads channels).")
    for value, name in ((dropout_rate, "dropout_rate"), (attention_dropout, "attention_dropout"),
                        (stochastic_depth_rate, "stochastic_depth_rate")):
        _rate(value, name)


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


def _static_grid(image, patch_size):
    rows, cols = image.shape[1:3]
    if rows is None or cols is None or rows % patch_size or cols % patch_size:
        raise ValueError(
            f"ViT needs a static input size divisible by patch_size={patch_size} (its position embedding is sized "
            f"for it); received input of shape {tuple(image.shape[1:])}. Use e.g. input_shape=({patch_size * 14}, "
            f"{patch_size * 14}, 3)."
        )
    return rows // patch_size, cols // patch_size


def ViT(
    patch_size=16,
    depth=12,
    num_heads=12,
    width=768,
    mlp_dim=3072,
    input_shape=None,
    include_top=True,
    weights=None,
    input_tensor=None,
    classes=1000,
    pooling=None,
    dropout_rate=0.0,
    attention_dropout=0.0,
    stochastic_depth_rate=0.0,
    classifier_activation="softmax",
    include_preprocessing=False,
    layer_norm_epsilon=LAYER_NORM_EPSILON,
    name="vit",
    features_only=False,
    out_strides=None,
):
    """A Vision Transformer of any size (defaults: ViT-B/16).

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
            same input size: the position embedding's shape depends on it).
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
    """
    _common.check_channels_last()
    check_vit_args(patch_size, depth, num_heads, width, mlp_dim, dropout_rate, attention_dropout, stochastic_depth_rate)
    if pooling not in POOLINGS:
        raise ValueError(f"`pooling` must be one of {POOLINGS} for a ViT; received pooling={pooling!r}.")
    out_strides = (patch_size,) if out_strides is None else tuple(out_strides)
    if features_only and out_strides != (patch_size,):
        raise ValueError(
            f"A ViT is single-scale: features_only gives the final token map at stride {patch_size} only, so "
            f"`out_strides` must be None or ({patch_size},); received out_strides={out_strides}."
        )
    head = include_top and not features_only
    _common.check_weights(
        weights, head, classes,
        available="torchvision's ViT weights are PyTorch checkpoints; convert them to a Keras file and pass its path",
    )
    default_size = 224 if 224 % patch_size == 0 else patch_size * 14
    image, inputs = _common.resolve_input(
        input_shape, input_tensor, default_size=default_size, min_size=patch_size, weights=weights, static_default=True
    )
    rows, cols = _static_grid(image, patch_size)

    x = torch_preprocessing(image) if include_preprocessing else image
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

    taps = _common.FeatureTaps()
    if head or pooling == "token":
        x = layers.Cropping1D((0, rows * cols), name="class_token_select")(x)
        x = layers.Flatten(name="class_token_output")(x)
        if head:
            x = layers.Dense(classes, activation=classifier_activation, name="head")(x)
    else:
        x = layers.Cropping1D((1, 0), name="patch_tokens_select")(x)
        x = layers.Reshape((rows, cols, width), name="token_map")(x)
        taps.record(x, patch_size)
        x = _common.pool(x, pooling)
    return _common.finish(
        inputs, x, name=name, weights=weights, imagenet_file=None,
        taps=taps, features_only=features_only, out_strides=out_strides,
    )


def _class_builder(class_name, key, summary):
    patch, depth, width, mlp_dim, heads = VIT_TABLE[key]

    def builder(
        input_shape=None, include_top=True, weights=None, input_tensor=None, classes=1000, pooling=None,
        dropout_rate=0.0, attention_dropout=0.0, stochastic_depth_rate=0.0, classifier_activation="softmax",
        include_preprocessing=False, name=key, features_only=False, out_strides=None,
    ):
        return ViT(
            patch_size=patch, depth=depth, num_heads=heads, width=width, mlp_dim=mlp_dim,
            input_shape=input_shape, include_top=include_top, weights=weights, input_tensor=input_tensor,
            classes=classes, pooling=pooling, dropout_rate=dropout_rate, attention_dropout=attention_dropout,
            stochastic_depth_rate=stochastic_depth_rate, classifier_activation=classifier_activation,
            include_preprocessing=include_preprocessing, name=name, features_only=features_only,
            out_strides=out_strides,
        )

    builder.__name__ = builder.__qualname__ = class_name
    builder.__doc__ = (
        f"{summary}\n\n    patch {patch}, {depth} layers, width {width}, MLP {mlp_dim}, {heads} heads. "
        "Arguments as `ViT` (the architecture is fixed)."
    )
    return builder


ViTTi16 = _class_builder("ViTTi16", "vit_ti16", "ViT-Ti/16 (DeiT-Ti; timm's vit_tiny_patch16_224): 5,717,416 parameters at 224.")
ViTS16 = _class_builder("ViTS16", "vit_s16", "ViT-S/16 (DeiT-S; timm's vit_small_patch16_224): 22,050,664 parameters at 224.")
ViTB16 = _class_builder("ViTB16", "vit_b16", "ViT-B/16 (torchvision's vit_b_16): 86,567,656 parameters at 224.")
ViTB32 = _class_builder("ViTB32", "vit_b32", "ViT-B/32 (torchvision's vit_b_32): 88,224,232 parameters at 224.")
ViTL16 = _class_builder("ViTL16", "vit_l16", "ViT-L/16 (torchvision's vit_l_16): 304,326,632 parameters at 224.")

_VIT = "An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale (ICLR 2021)"
_DEIT = "Training data-efficient image transformers & distillation through attention (ICML 2021)"
# (name, builder, paper, arXiv, params M, MACs M at 224, figures source, reference, note)
REGISTRY_TABLE = (
    ("vit_ti16", ViTTi16, _DEIT, "2012.12877", 5.7, 1300,
     "timm (deit_tiny_patch16_224: 5.7M params, 1.3 GMACs; the DeiT paper prints '5M')",
     "timm vit_tiny_patch16_224 / deit_tiny_patch16_224",
     "The published '1.3 GMACs' is rounded to two digits; the architecture has 1.254G multiply-adds "
     "(projections, QK^T and AV of 197 tokens, MLPs, patch embedding, head), 3.5% below."),
    ("vit_s16", ViTS16, _DEIT, "2012.12877", 22.1, 4600,
     "timm (deit_small_patch16_224: 22.1M, 4.6 GMACs; the Swin paper's Table 1 gives DeiT-S 22M, 4.6G)",
     "timm vit_small_patch16_224 / deit_small_patch16_224", ""),
    ("vit_b16", ViTB16, _VIT, "2010.11929", 86.6, 17600,
     "torchvision (num_params, _ops 17.6 GFLOPS = multiply-adds); the paper's Table 1 rounds to 86M",
     "torchvision.models.vit_b_16", ""),
    ("vit_b32", ViTB32, _VIT, "2010.11929", 88.2, 4400,
     "torchvision (num_params, _ops 4.4); the paper's Table 1 gives 86M for every ViT-Base",
     "torchvision.models.vit_b_32", ""),
    ("vit_l16", ViTL16, _VIT, "2010.11929", 304.3, 61600,
     "torchvision (num_params, _ops 61.6); the paper's Table 1 rounds to 307M",
     "torchvision.models.vit_l_16", ""),
)
for _name, _builder, _paper, _arxiv, _params, _macs, _source, _reference, _note in REGISTRY_TABLE:
    register_model(
        _name, _builder, family="vit", paper=_paper, arxiv=_arxiv, default_size=224,
        paper_params_m=_params, paper_macs_m=_macs, figures_source=_source, reference=_reference, note=_note,
    )
