"""ConvNeXt (Liu et al., "A ConvNet for the 2020s", CVPR 2022, arXiv:2201.03545).

The paper's Table 9 / section 3 as data: a 4x4/4 patchifying stem, four stages of
ConvNeXt blocks (7x7 depthwise convolution -> LayerNorm -> 1x1 to 4C -> GELU -> 1x1
back to C -> layer scale -> stochastic depth, plus the input), each stage after the
first opened by LayerNorm + a 2x2/2 convolution; Tiny / Small / Base / Large / XLarge
differ only in (depths, channels). The graph is keras.applications.ConvNeXt*'s:

- layer names are keras.applications', prefixed by the model's name as there
  (`convnext_tiny_stage_0_block_0_depthwise_conv`, ...); the 1x1 convolutions are Dense
  layers on the NHWC map and the depthwise one a Conv2D with groups=C, as there, so
  the weights have its shapes;
- the layer scale is `keras_lightnets.layers.layer_scale.LayerScale` (keras' class
  name and weight), stochastic depth the shared `stochastic_depth` (keras.applications
  uses none in its variants: its weightless `_identity` layer stands in its place);
- include_preprocessing (True by default, as keras.applications) normalizes [0, 255]
  pixels with ImageNet's mean and std, keras' PreStem;
- include_top=False ends, as keras.applications, with a LayerNormalization after the
  optional pooling (on the 4-D map with pooling=None).

keras.applications wraps the stem (conv, LayerNorm) and each downsampling layer
(LayerNorm, conv) in a nested Sequential model; ours are flat (nested models have no
TFLite/QAT twin). `load_weights` maps a file's nested groups onto our layers: legacy
.h5 by the file's layer names (its model-name prefix need not be ours), Keras 3 files
(.weights.h5, .keras) by class and rank as keras.applications' model has them.

Quantization: the post-training modes convert, int8 fully integer (calibration gives
every tensor of a LayerNorm's MEAN / SQUARED_DIFFERENCE / ADD / RSQRT / SUB / MUL chain a
range, and TFLite has int8 kernels for all of them and for GELU). Quantization-aware
training cannot give a fully integer file: tensorflow-model-optimization fake-quantizes
a layer's inputs, weights and output, never the tensors inside it, and TFLite has no
fused int8 LayerNorm, so the six ops each LayerNormalization becomes keep intermediate
tensors with no trained range, which the converter leaves in float (GELU itself
quantizes). `kt.quantize_aware` refuses the model with an error naming the first
LayerNormalization; forced with quantize_configs={<each LayerNormalization>:
LayerQuantizeConfig(quantize_output=True)}, the int8 conversion reports those float ops
(tests/test_convnext.py), and allow_float_fallback=True keeps them in float.
"""

import dataclasses
import re
from typing import Tuple

import numpy as np
from keras import layers
from keras.src.utils.naming import to_snake_case  # Keras 3 files key a layer by its class name, so

from keras_lightnets.layers.layer_scale import LayerScale
from keras_lightnets.layers.preprocessing import TORCH_RGB_MEAN
from keras_lightnets.layers.preprocessing import TORCH_RGB_STD
from keras_lightnets.layers.preprocessing import standardize
from keras_lightnets.layers.transformer import drop_rate
from keras_lightnets.layers.transformer import stochastic_depth
from keras_lightnets.models._family import Family
from keras_lightnets.models._family import variant
from keras_lightnets.weights import KERAS_APPLICATIONS_URL
from keras_lightnets.weights import WeightFile
from keras_lightnets.weights import read_weight_arrays

__all__ = ["ConvNeXt"]

# ------------------------------------------------------------ the architecture as data


@dataclasses.dataclass(frozen=True)
class ConvNeXtSpec:
    """One size of the paper: blocks per stage and channels per stage (C)."""

    depths: Tuple[int, int, int, int]
    projection_dims: Tuple[int, int, int, int]


# Section 3 / Table 9 of the paper (= keras.applications' MODEL_CONFIGS).
SPECS = {
    "convnext_tiny": ConvNeXtSpec((3, 3, 9, 3), (96, 192, 384, 768)),
    "convnext_small": ConvNeXtSpec((3, 3, 27, 3), (96, 192, 384, 768)),
    "convnext_base": ConvNeXtSpec((3, 3, 27, 3), (128, 256, 512, 1024)),
    "convnext_large": ConvNeXtSpec((3, 3, 27, 3), (192, 384, 768, 1536)),
    "convnext_xlarge": ConvNeXtSpec((3, 3, 27, 3), (256, 512, 1024, 2048)),
}
STEM_PATCH = 4  # 4x4 convolution, stride 4 ("patchify")
DOWNSAMPLE = 2  # 2x2 convolution, stride 2, between stages
KERNEL = 7  # depthwise kernel
MLP_RATIO = 4  # inverted bottleneck: 1x1 to 4C
LN_EPSILON = 1e-6
LAYER_SCALE_INIT = 1e-6
MIN_SIZE = 32  # keras.applications': the 32x downsampled map is then 1x1

# keras.applications' files: BASE_WEIGHTS_PATH + name + (".h5" | "_notop.h5"), SHA-256 (with top, without).
WEIGHTS_URL = KERAS_APPLICATIONS_URL + "convnext/"
WEIGHTS_HASHES = {
    "convnext_tiny": ("8ae6e78ce2933352b1ef4008e6dd2f17bc40771563877d156bc6426c7cf503ff",
                      "d547c096cabd03329d7be5562c5e14798aa39ed24b474157cef5e85ab9e49ef1"),
    "convnext_small": ("ce1277d8f1ee5a0ef0e171469089c18f5233860ceaf9b168049cb9263fd7483c",
                       "6fc8009faa2f00c1c1dfce59feea9b0745eb260a7dd11bee65c8e20843da6eab"),
    "convnext_base": ("52cbb006d3dadd03f6e095a8ca1aca47aecdd75acb4bc74bce1f5c695d0086e6",
                      "40a20c5548a5e9202f69735ecc06c990e6b7c9d2de39f0361e27baeb24cb7c45"),
    "convnext_large": ("070c5ed9ed289581e477741d3b34beffa920db8cf590899d6d2c67fba2a198a6",
                       "96f02b6f0753d4f543261bc9d09bed650f24dd6bc02ddde3066135b63d23a1cd"),
    "convnext_xlarge": ("c1f5ccab661354fc3a79a10fa99af82f0fbf10ec65cb894a3ae0815f17a889ee",
                        "de3f8a54174130e0cecdc71583354753d557fcf1f4487331558e2a16ba0cfe05"),
}


def imagenet_weights(variant_name, include_top=True):
    """keras.applications' published file for a size ("convnext_tiny", ...)."""
    filename = f"{variant_name}{'' if include_top else '_notop'}.h5"
    return WeightFile(filename, WEIGHTS_URL + filename, WEIGHTS_HASHES[variant_name][0 if include_top else 1])


def spec_name(depths, projection_dims):
    """The size with this table ("convnext_tiny", ...), or None."""
    table = ConvNeXtSpec(tuple(depths), tuple(projection_dims))
    return next((name for name, spec in SPECS.items() if spec == table), None)


def _four_positive_ints(example):
    def check(name, value):
        if (not isinstance(value, (tuple, list)) or len(value) != 4
                or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)):
            raise ValueError(f"`{name}` must be four positive integers (one per stage), e.g. {example}; "
                             f"received {name}={value!r}.")

    return check


def _layer_scale(name, value):
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
        raise ValueError(f"`{name}` must be None (no layer scale) or a non-negative number, e.g. 1e-6; "
                         f"received {name}={value!r}.")


# ------------------------------------------------------------------- the graph


def _prefix(name, depths, projection_dims):
    """keras.applications prefixes every layer with the model's name."""
    return name or spec_name(depths, projection_dims) or "convnext"


def _layer_norm(x, name):
    return layers.LayerNormalization(epsilon=LN_EPSILON, name=name)(x)


def convnext_block(x, projection_dim, drop_path_rate, layer_scale_init_value, name):
    """One block (the paper's Figure 4 right, keras.applications' ConvNeXtBlock)."""
    shortcut = x
    x = layers.Conv2D(projection_dim, KERNEL, padding="same", groups=projection_dim, name=f"{name}_depthwise_conv")(x)
    x = _layer_norm(x, f"{name}_layernorm")
    x = layers.Dense(MLP_RATIO * projection_dim, name=f"{name}_pointwise_conv_1")(x)
    x = layers.Activation("gelu", name=f"{name}_gelu")(x)
    x = layers.Dense(projection_dim, name=f"{name}_pointwise_conv_2")(x)
    if layer_scale_init_value is not None:
        x = LayerScale(layer_scale_init_value, projection_dim, name=f"{name}_layer_scale")(x)
    if drop_path_rate:
        x = stochastic_depth(x, drop_path_rate, f"{name}_stochastic_depth")
    else:
        x = layers.Activation("linear", name=f"{name}_identity")(x)
    return layers.Add(name=f"{name}_add")([shortcut, x])


def drop_path_rates(drop_path_rate, blocks):
    """Linear from 0 at the first block to `drop_path_rate` at the last (the paper's code)."""
    return [float(r) for r in np.linspace(0.0, drop_path_rate, blocks)]


def graph(x, taps, *, depths, projection_dims, drop_path_rate, layer_scale_init_value, include_preprocessing,
          include_top, features_only, pooling, name):
    """PreStem, stem, the four stages; without the classifier, keras' final LayerNorm."""
    prefix = _prefix(name, depths, projection_dims)
    if include_preprocessing:  # keras' PreStem ([0, 255] -> ImageNet-standardized)
        x = standardize(x, [m * 255 for m in TORCH_RGB_MEAN], [s * 255 for s in TORCH_RGB_STD],
                        name=f"{prefix}_prestem_normalization")
    x = layers.Conv2D(projection_dims[0], STEM_PATCH, strides=STEM_PATCH, name=f"{prefix}_stem_conv")(x)
    x = _layer_norm(x, f"{prefix}_stem_layernorm")
    rates = iter(drop_path_rates(drop_path_rate, sum(depths)))
    stride = STEM_PATCH
    for stage, (depth, dim) in enumerate(zip(depths, projection_dims)):
        if stage:
            taps.record(x, stride)
            x = _layer_norm(x, f"{prefix}_downsampling_layernorm_{stage - 1}")
            x = layers.Conv2D(dim, DOWNSAMPLE, strides=DOWNSAMPLE, name=f"{prefix}_downsampling_conv_{stage - 1}")(x)
            stride *= DOWNSAMPLE
        for block in range(depth):
            x = convnext_block(x, dim, next(rates), layer_scale_init_value, f"{prefix}_stage_{stage}_block_{block}")
    taps.record(x, stride)
    if not include_top and not features_only:
        x = _pooled_layer_norm(x, pooling, prefix)
    return x


def _pooled_layer_norm(x, pooling, prefix):
    """keras.applications' include_top=False: LayerNorm(pooling(x)). The builder pools
    after the graph, so the pooling is applied here keeping a 1x1 map (the LayerNorm
    over channels is the same on it) and the builder's pooling of that 1x1 map is the
    identity."""
    if pooling == "avg":
        x = layers.GlobalAveragePooling2D(keepdims=True, name=f"{prefix}_features_avg_pool")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(keepdims=True, name=f"{prefix}_features_max_pool")(x)
    return _layer_norm(x, f"{prefix}{FEATURES_NORM}")


FEATURES_NORM = "_features_layernorm"  # keras.applications leaves it unnamed ("layer_normalization")


def head(x, *, classes, classifier_activation, depths, projection_dims, name):
    prefix = _prefix(name, depths, projection_dims)
    x = layers.GlobalAveragePooling2D(name=f"{prefix}_head_gap")(x)
    x = _layer_norm(x, f"{prefix}_head_layernorm")
    return layers.Dense(classes, activation=classifier_activation, name=f"{prefix}_head_dense")(x)


# ------------------------------------------------------------------- loading weights

_GROUPED = re.compile(r"_(?:stem_(conv|layernorm)|downsampling_(layernorm|conv)_(\d+))$")
_AUTO_LAYER_NORM = re.compile(r"^layer_normalization(?:_\d+)?$")


def keras_units(model):
    """keras.applications' weighted layers, in its model's order, as ours:
    (class name, its name without the model prefix, our layers). The stem and each
    downsampling layer are one nested Sequential there, two layers here."""
    stems = [layer.name for layer in model.layers if layer.name.endswith("_stem_conv")]
    if len(stems) != 1:
        raise ValueError(f"{model.name!r} is not a ConvNeXt model of this package (no single '*_stem_conv' layer).")
    prefix = stems[0][: -len("_stem_conv")]
    units = []
    for layer in model.layers:
        if not layer.weights:
            continue
        suffix = layer.name[len(prefix):]
        grouped = _GROUPED.search(suffix)
        if grouped:
            group = "_stem" if grouped.group(1) else f"_downsampling_block_{grouped.group(3)}"
            if units and units[-1][1] == group:
                units[-1][2].append(layer)
            else:
                units.append(("Sequential", group, [layer]))
        else:
            units.append((type(layer).__name__, suffix, [layer]))
    return units


def load_weights(model, path):
    """Loads a keras.applications ConvNeXt file (or one saved from ours) into `model`:
    legacy .h5 by layer name under the file's model prefix, Keras 3 files by class and
    rank as keras.applications' model has them (see the module docstring)."""
    arrays, keyed_by = read_weight_arrays(path)
    units = keras_units(model)
    if keyed_by == "name":
        stems = [k for k in arrays if k.endswith("_stem")]
        if len(stems) != 1:
            raise ValueError(f"Weights in {str(path)!r} are not a keras.applications ConvNeXt file "
                             "(no single '<model name>_stem' layer).")
        file_prefix = stems[0][: -len("_stem")]
        keys = [file_prefix + suffix for _, suffix, _ in units]
        spare = [k for k in arrays if _AUTO_LAYER_NORM.match(k)]  # keras' unnamed final LayerNorm (no top)
        keys = [spare[-1] if k not in arrays and k.endswith(FEATURES_NORM) and spare else k for k in keys]
    else:
        ranks, keys = {}, []
        for class_name, _, _ in units:
            base = to_snake_case(class_name)
            keys.append(base if base not in ranks else f"{base}_{ranks[base] + 1}")
            ranks[base] = ranks.get(base, -1) + 1
    problems = []
    for key, (class_name, _, ours) in zip(keys, units):
        if key not in arrays:
            problems.append(f"no weights for {', '.join(layer.name for layer in ours)} ({key!r})")
            continue
        values = list(arrays[key])
        if class_name == "Sequential" and keyed_by != "name":
            ours = sorted(ours, key=lambda layer: type(layer).__name__ != "Conv2D")  # Keras 3: conv2d, then layer_normalization
        for layer in ours:
            taken, values = values[: len(layer.weights)], values[len(layer.weights):]
            if [tuple(w.shape) for w in layer.weights] != [tuple(v.shape) for v in taken]:
                problems.append(f"{layer.name}: model {[tuple(w.shape) for w in layer.weights]} vs file "
                                f"{[tuple(v.shape) for v in taken]} ({key!r})")
                continue
            layer.set_weights(taken)
    if problems:
        raise ValueError(
            f"Weights in {str(path)!r} do not fit model {model.name!r}: {'; '.join(problems[:4])}"
            f"{' ...' if len(problems) > 4 else ''}. Build the model with the same depths, projection_dims, "
            "classes and include_top as the keras.applications ConvNeXt that saved the file.")


# ------------------------------------------------------------------------ the builder


def _imagenet(knobs, rows, has_top):
    variant_name = spec_name(knobs["depths"], knobs["projection_dims"])
    if variant_name is None:
        return None, "keras.applications publishes files for the five sizes' (depths, projection_dims) only"
    if knobs["layer_scale_init_value"] is None:
        return None, "keras.applications' files have layer scale (layer_scale_init_value=None removes it)"
    return imagenet_weights(variant_name, has_top), None


_ORDER = ("include_top", "include_preprocessing", "weights", "input_tensor", "input_shape", "pooling", "classes",
          "classifier_activation", "name", "features_only", "out_strides", "drop_path_rate", "layer_scale_init_value",
          "depths", "projection_dims")

ConvNeXt = Family(
    "ConvNeXt", graph=graph, head=head, preprocessing=lambda x: x,  # keras' PreStem is in `graph` (named by the model)
    knobs={"drop_path_rate": 0.0, "layer_scale_init_value": LAYER_SCALE_INIT,
           "depths": SPECS["convnext_tiny"].depths, "projection_dims": SPECS["convnext_tiny"].projection_dims},
    order=_ORDER,
    checks={"depths": _four_positive_ints((3, 3, 9, 3)), "projection_dims": _four_positive_ints((96, 192, 384, 768)),
            "drop_path_rate": drop_rate(0.1), "layer_scale_init_value": _layer_scale},
    defaults={"include_preprocessing": True},
    default_size=224, min_size=lambda knobs: MIN_SIZE,
    default_name=lambda knobs, rows: _prefix(None, knobs["depths"], knobs["projection_dims"]),
    imagenet=_imagenet, load_weights=load_weights,
).builder(doc="""ConvNeXt of any table, with keras.applications.ConvNeXt*'s graph and layer names.

    Args:
        include_top, include_preprocessing, weights, input_tensor, input_shape,
        pooling, classes, classifier_activation, name: as keras.applications'
            ConvNeXt* (default input 224x224, at least 32x32; include_preprocessing
            True: the model takes [0, 255] pixels). `weights="imagenet"` loads
            keras.applications' file for the five published tables (ImageNet-1k
            for Tiny / Small, ImageNet-22k pre-trained then fine-tuned on 1k for
            Base / Large / XLarge). Every layer name starts with `name`, as there.
            Without the classifier the output is layer-normed after `pooling`.
        features_only, out_strides: the four stages' outputs (strides 4, 8, 16, 32).
        drop_path_rate: stochastic depth of the last block, linear from 0 (0 in
            keras.applications' variants; the paper trains T/S/B/L with 0.1 / 0.4 /
            0.5 / 0.5 on ImageNet-1k).
        layer_scale_init_value: initial layer scale (1e-6); None: no layer scale.
        depths, projection_dims: blocks and channels of the four stages.

    Post-training int8 is fully integer; quantization-aware training cannot be (the
    ops inside each LayerNormalization get no trained range: see the module docstring).
    """)


# ------------------------------------------------------------------------ the variants

_PAPER = "A ConvNet for the 2020s (CVPR 2022)"
_SOURCE = ("paper Table 1 / the official repository's README (facebookresearch/ConvNeXt: #params, FLOPs = "
           "multiply-adds, at 224)")


def _knobs(key):
    return dataclasses.asdict(SPECS[key])


@variant("convnext_tiny", ConvNeXt, knobs=_knobs("convnext_tiny"), model_name="convnext_tiny", family="convnext",
         paper=_PAPER, arxiv="2201.03545", default_size=224, paper_params_m=28, paper_macs_m=4500,
         figures_source=_SOURCE, reference="keras.applications.ConvNeXtTiny")
def ConvNeXtTiny(include_top=True, **kwargs):
    """ConvNeXt-T (keras.applications.ConvNeXtTiny): depths (3, 3, 9, 3), C = 96, 192, 384, 768.
    28,589,128 parameters; 82.1% ImageNet-1k top-1 (paper)."""


@variant("convnext_small", ConvNeXt, knobs=_knobs("convnext_small"), model_name="convnext_small", family="convnext",
         paper=_PAPER, arxiv="2201.03545", default_size=224, paper_params_m=50, paper_macs_m=8700,
         figures_source=_SOURCE, reference="keras.applications.ConvNeXtSmall")
def ConvNeXtSmall(include_top=True, **kwargs):
    """ConvNeXt-S (keras.applications.ConvNeXtSmall): depths (3, 3, 27, 3), C = 96, 192, 384, 768.
    50,223,688 parameters; 83.1% ImageNet-1k top-1 (paper)."""


@variant("convnext_base", ConvNeXt, knobs=_knobs("convnext_base"), model_name="convnext_base", family="convnext",
         paper=_PAPER, arxiv="2201.03545", default_size=224, paper_params_m=89, paper_macs_m=15400,
         figures_source=_SOURCE, reference="keras.applications.ConvNeXtBase")
def ConvNeXtBase(include_top=True, **kwargs):
    """ConvNeXt-B (keras.applications.ConvNeXtBase): depths (3, 3, 27, 3), C = 128, 256, 512, 1024.
    88,591,464 parameters; 83.8% top-1 trained on ImageNet-1k, 85.8% pre-trained on 22k (paper;
    keras.applications' file is the 22k one)."""


@variant("convnext_large", ConvNeXt, knobs=_knobs("convnext_large"), model_name="convnext_large", family="convnext",
         paper=_PAPER, arxiv="2201.03545", default_size=224, paper_params_m=198, paper_macs_m=34400,
         figures_source=_SOURCE, reference="keras.applications.ConvNeXtLarge")
def ConvNeXtLarge(include_top=True, **kwargs):
    """ConvNeXt-L (keras.applications.ConvNeXtLarge): depths (3, 3, 27, 3), C = 192, 384, 768, 1536.
    197,767,336 parameters; 84.3% top-1 trained on ImageNet-1k, 86.6% pre-trained on 22k (paper)."""


@variant("convnext_xlarge", ConvNeXt, knobs=_knobs("convnext_xlarge"), model_name="convnext_xlarge",
         family="convnext", paper=_PAPER, arxiv="2201.03545", default_size=224, paper_params_m=350,
         paper_macs_m=60900, figures_source=_SOURCE, reference="keras.applications.ConvNeXtXLarge")
def ConvNeXtXLarge(include_top=True, **kwargs):
    """ConvNeXt-XL (keras.applications.ConvNeXtXLarge): depths (3, 3, 27, 3), C = 256, 512, 1024, 2048.
    350,196,968 parameters; 87.0% top-1 pre-trained on ImageNet-22k (paper; no 1k-only model)."""
