"""EfficientNet B0-B7 (Tan & Le, "EfficientNet: Rethinking Model Scaling for
Convolutional Neural Networks", ICML 2019, arXiv:1905.11946) and EfficientNet-Lite0-4
(the authors' tensorflow/tpu `lite` builder), on the shared inverted-residual builder.

B0 is Table 1 of the paper (strides and SE ratio from the authors' code); B1..B7 and
Lite1..4 are derived from it by `compound_scale` with the published coefficients.
Layer names, channel and repeat rounding, the SE width (a quarter of the block's
*input* width, floored), drop-connect and the input normalization follow
keras.applications.EfficientNetB*, so its weight files load into these models by
name and give the same outputs, and parameter counts are equal. Differences in the
graph, none touching weights or outputs: stride-2 convolutions use "same" padding
instead of an explicit ZeroPadding2D (identical for any static input size), the SE
squeeze keeps its spatial dims instead of a Reshape, and SE activations are their own
layers. The ImageNet input normalization is a Normalization layer holding the
ImageNet mean and variance; keras.applications' published files store the standard
deviation where the variance belongs (tensorflow/tensorflow#49930) and it corrects
them with an extra Rescaling, we correct the loaded variance instead.

layout="torchvision" builds torchvision's efficientnet_b0..b7 instead: the same layers
and weights, with PyTorch's symmetric padding of the strided convolutions and
torchvision's BatchNorm epsilon (1e-5; 1e-3 for B5-B7, whose weights it ported from
TensorFlow). Its state_dict files then load as `weights=` (module names mapped by
`torch_names`) and give its logits; its inputs are normalized as ours.

Lite (no keras.applications counterpart): ReLU6, no SE, and the stem (32), the head
(1280) and the depth of the first and last stages stay fixed while scaling; inputs
are normalized as (x - 127) / 128 as in the authors' code.

timm's tf_efficientnet_b0..b7 and tf_efficientnet_lite0..4 (the authors' TensorFlow
checkpoints) load on the default graphs as they are (weights/timm_names maps timm's
module names); `normalization` gives the input normalization a set was trained with:
"imagenet", "inception" (mean 0.5, std 0.5: timm's Lite and AdvProp sets) or "lite".
"""

import dataclasses
import numbers
import re

import numpy as np
from keras import layers

from keras_lightnets.layers.inverted_residual import SqueezeExciteStyle
from keras_lightnets.layers.preprocessing import TORCH_RGB_MEAN
from keras_lightnets.layers.preprocessing import TORCH_RGB_STD
from keras_lightnets.layers.preprocessing import channel_statistics
from keras_lightnets.layers.preprocessing import torch_preprocessing
from keras_lightnets.models._family import Family
from keras_lightnets.models._family import one_of
from keras_lightnets.models._family import rate
from keras_lightnets.models._family import variant
from keras_lightnets.models._inverted_residual_net import letters_index
from keras_lightnets.models._inverted_residual_net import pooled_dense_head
from keras_lightnets.models._inverted_residual_net import scaled_net_graph
from keras_lightnets.models.scaling import ScalableNet
from keras_lightnets.models.scaling import Stage
from keras_lightnets.models.scaling import compound_scale
from keras_lightnets.weights import WeightFile
from keras_lightnets.weights import load_weights_by_name

__all__ = ["EfficientNet", "EfficientNetLite"]  # and each variant, added by @variant

# ------------------------------------------------------------ the architecture as data

# Table 1 of the paper: EfficientNet-B0 (stem conv3x3 32, head conv1x1 1280).
B0_STAGES = (
    #     kernel, expansion, out, repeats, stride, SE ratio
    Stage(3, 1, 16, 1, 1, 0.25),
    Stage(3, 6, 24, 2, 2, 0.25),
    Stage(5, 6, 40, 2, 2, 0.25),
    Stage(3, 6, 80, 3, 2, 0.25),
    Stage(5, 6, 112, 3, 1, 0.25),
    Stage(5, 6, 192, 4, 2, 0.25),
    Stage(3, 6, 320, 1, 1, 0.25),
)
EFFICIENTNET_B0 = ScalableNet(B0_STAGES, stem=32, head=1280, resolution=224)
# Lite: B0 without SE; stem, head and first/last stage depth not scaled ("fix_head_stem").
EFFICIENTNET_LITE0 = ScalableNet(
    tuple(dataclasses.replace(s, se_ratio=None) for s in B0_STAGES),
    stem=32, head=1280, resolution=224, scale_stem=False, scale_head=False, fixed_depth_stages=(0, -1),
)

# (width, depth, resolution, dropout) as released: efficientnet_builder.py and
# lite/efficientnet_lite_builder.py of tensorflow/tpu (keras.applications: the same).
COEFFICIENTS = {
    # EfficientNet-B0..B7
    "b0": (1.0, 1.0, 224, 0.2), "b1": (1.0, 1.1, 240, 0.2), "b2": (1.1, 1.2, 260, 0.3), "b3": (1.2, 1.4, 300, 0.3),
    "b4": (1.4, 1.8, 380, 0.4), "b5": (1.6, 2.2, 456, 0.4), "b6": (1.8, 2.6, 528, 0.5), "b7": (2.0, 3.1, 600, 0.5),
    # EfficientNet-Lite0..4 (Lite3 and Lite4 at lower resolutions and dropout than B3 and B4)
    "lite0": (1.0, 1.0, 224, 0.2), "lite1": (1.0, 1.1, 240, 0.2), "lite2": (1.1, 1.2, 260, 0.3),
    "lite3": (1.2, 1.4, 280, 0.3), "lite4": (1.4, 1.8, 300, 0.3),
}


def scaled_table(variant):
    """The stage table of a released variant ("b3", "lite2", ...), by compound scaling."""
    width, depth, resolution, _ = COEFFICIENTS[variant]
    base = EFFICIENTNET_LITE0 if variant.startswith("lite") else EFFICIENTNET_B0
    return compound_scale(base, width=width, depth=depth, resolution=resolution)




def as_released(variant):
    """A released variant's @variant arguments: its coefficients fixed, its dropout
    (overridable) and keras.applications' model name as defaults."""
    width, depth, resolution, dropout = COEFFICIENTS[variant]
    return {"knobs": {"width_coefficient": width, "depth_coefficient": depth, "default_size": resolution},
            "defaults": {"dropout_rate": dropout}, "default_size": resolution,
            "model_name": f"efficientnet_{variant}" if variant.startswith("lite") else f"efficientnet{variant}"}


SE_STYLE = SqueezeExciteStyle(divisor=None, inner_act="swish", gate_act="sigmoid", from_input=True)

# ImageNet statistics of [0, 1] pixels (the authors' MEAN_RGB / STDDEV_RGB over 255).
IMAGENET_MEAN = np.array(TORCH_RGB_MEAN, "float32")
IMAGENET_STDDEV = np.array(TORCH_RGB_STD, "float32")

WEIGHTS_URL = "https://storage.googleapis.com/keras-applications/"
_WEIGHT_HASHES = {  # keras.applications' (with top, without top)
    "b0": ("902e53a9f72be733fc0bcb005b3ebbac", "50bc09e76180e00e4465e1a485ddc09d"),
    "b1": ("1d254153d4ab51201f1646940f018540", "74c4e6b3e1f6a1eea24c589628592432"),
    "b2": ("b15cce36ff4dcbd00b6dd88e7857a6ad", "111f8e2ac8aa800a7a99e3239f7bfb39"),
    "b3": ("ffd1fdc53d0ce67064dc6a9c7960ede0", "af6d107764bb5b1abb91932881670226"),
    "b4": ("18c95ad55216b8f92d7e70b3a046e2fc", "ebc24e6d6c33eaebbd558eafbeedf1ba"),
    "b5": ("ace28f2a6363774853a83a0b21b9421a", "38879255a25d3c92d5e44e04ae6cec6f"),
    "b6": ("165f6e37dce68623721b423839de8be5", "9ecce42647a20130c1f39a5d4cb75743"),
    "b7": ("8c03f828fec3ef71311cd463b6759d99", "cbcfe4450ddf6f3ad90b1b398090fe4a"),
}


def imagenet_weights(variant, include_top):
    with_top, no_top = _WEIGHT_HASHES[variant]
    filename = f"efficientnet{variant}{'' if include_top else '_notop'}.h5"
    return WeightFile(filename, WEIGHTS_URL + filename, with_top if include_top else no_top)


# The input normalizations weight sets were trained with (`normalization`), on [0, 255]
# pixels: ImageNet's mean / std of [0, 1] pixels (keras.applications, torchvision, timm's
# tf_efficientnet_b* except AdvProp), timm's "inception" mean 0.5 / std 0.5, i.e. [-1, 1]
# (timm's tf_efficientnet_lite* and tf_efficientnet_b*.ap_in1k), and the Lite authors'
# (x - 127) / 128.
NORMALIZATIONS = ("imagenet", "inception", "lite")


def _normalize_imagenet(x, layout="keras", normalization="imagenet"):
    """keras.applications' Rescaling + Normalization, the latter set to ImageNet's
    statistics (keras.applications leaves it at mean 0, variance 1 until weights load).
    layout="torchvision": the same arithmetic with fixed statistics (no weights, so
    torchvision's state_dict is every weight the model has). Another `normalization`:
    that one (weightless)."""
    if normalization != "imagenet":
        return _fixed_normalization(x, normalization)
    if layout == "torchvision":
        return torch_preprocessing(x)
    x = layers.Rescaling(1.0 / 255.0, name="rescaling")(x)
    norm = layers.Normalization(axis=-1, name="normalization")
    x = norm(x)
    channels = x.shape[-1]  # other than 3 (grayscale): the statistics' average on every channel
    mean = np.array(channel_statistics(IMAGENET_MEAN, channels), "float32")
    stddev = np.array(channel_statistics(IMAGENET_STDDEV, channels), "float32")
    _set_normalization(norm, mean, stddev**2)
    return x


def _lite_preprocessing(x, normalization="lite"):
    """The authors' inception-style (x - 127) / 128, kinder to quantization; or another
    `normalization` (timm's Lite sets: "inception", (x - 127.5) / 127.5)."""
    return _fixed_normalization(x, normalization)


def _fixed_normalization(x, normalization):
    """One of NORMALIZATIONS as weightless layers."""
    if normalization == "lite":
        return layers.Rescaling(1.0 / 128.0, offset=-127.0 / 128.0, name="rescaling")(x)
    if normalization == "inception":
        return layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescaling")(x)
    return torch_preprocessing(x)


def set_imagenet_normalization(model):
    """Sets an EfficientNet's input Normalization layer (ours, or keras.applications'
    built with weights=None, which leaves it an identity) to ImageNet's mean and
    variance, as the published weights do. Returns the model."""
    for layer in model.layers:  # (a weightless Normalization, EfficientNetV2's or ConvNeXt's, is left alone)
        if isinstance(layer, layers.Normalization) and layer.weights and layer.get_weights()[0].shape[-1:] == (3,):
            mean, variance, _ = layer.get_weights()
            _set_normalization(layer, IMAGENET_MEAN.reshape(mean.shape), (IMAGENET_STDDEV**2).reshape(variance.shape))
    return model


def _set_normalization(norm, mean, variance):
    norm.set_weights([mean, variance, norm.get_weights()[2]])
    norm.finalize_state()  # Normalization reads its statistics from a cache


_AUTO_NORMALIZATION = re.compile(r"^normalization(_\d+)?$")


def load_weights(model, path):
    """Loads a weight file by layer name (ours or keras.applications', its published
    ImageNet files included), then refreshes and corrects the input normalization."""

    def auto_named_normalization(arrays):
        # keras.applications leaves Rescaling/Normalization unnamed: "normalization_3"
        # in a legacy .h5 written after other models were built in the same session.
        if "normalization" in arrays:
            return {}
        found = [key for key in arrays if _AUTO_NORMALIZATION.match(key)]
        return {"normalization": found[0]} if len(found) == 1 else {}

    load_weights_by_name(model, path, rename=auto_named_normalization)
    norm = next((layer for layer in model.layers if isinstance(layer, layers.Normalization)), None)
    if norm is not None:
        mean, variance, _ = norm.get_weights()
        if variance.shape == IMAGENET_STDDEV.shape and np.allclose(variance, IMAGENET_STDDEV, rtol=0, atol=1e-6):
            variance = IMAGENET_STDDEV**2  # the published files' std-for-variance (see the module doc)
        _set_normalization(norm, mean, variance)


# ------------------------------------------------------------------- the graph


def _check_base(name, value):
    if not isinstance(value, ScalableNet):
        raise ValueError(f"`{name}` must be a ScalableNet (e.g. EFFICIENTNET_B0, or one from compound_scale); received {type(value).__name__}.")


def _check_divisor(name, value):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer (8 in the paper); received {name}={value!r}.")


def scaled(width_coefficient, depth_coefficient, default_size, depth_divisor, base, **unused):
    """The table the arguments describe: `base` compound-scaled."""
    base = dataclasses.replace(base, divisor=int(depth_divisor))
    return compound_scale(base, width=width_coefficient, depth=depth_coefficient, resolution=default_size)


def released(knobs):
    """The released variant ("b3", "lite2", ...) the arguments build, or None."""
    if knobs["depth_divisor"] != 8:
        return None
    for name, (width, depth, _, _) in COEFFICIENTS.items():
        base, activation = (EFFICIENTNET_LITE0, "relu6") if name.startswith("lite") else (EFFICIENTNET_B0, "swish")
        if (knobs["base"], knobs["activation"], knobs["width_coefficient"], knobs["depth_coefficient"]) == (
                base, activation, width, depth):
            return name
    return None


def scaled_table(variant):
    """The stage table of a released variant ("b3", "lite2", ...), by compound scaling."""
    base = EFFICIENTNET_LITE0 if variant.startswith("lite") else EFFICIENTNET_B0
    return scaled(**as_released(variant)["knobs"], depth_divisor=8, base=base)


def torchvision_bn_epsilon(knobs):
    """torchvision's BatchNorm epsilon for these coefficients: 1e-3 for B5-B7 (its
    efficientnet_b5..b7 builders: weights ported from TensorFlow), else BatchNorm2d's 1e-5."""
    return 1e-3 if released(knobs) in ("b5", "b6", "b7") else 1e-5


def graph(x, taps, *, width_coefficient, depth_coefficient, default_size, depth_divisor, base, activation,
          drop_connect_rate, layout="keras"):
    """EfficientNet's layout (stem, stages, top conv) on the compound-scaled table.
    layout="torchvision": PyTorch's symmetric padding of the strided convolutions and
    torchvision's BatchNorm epsilon (the same layers, names and weights otherwise)."""
    net = scaled(width_coefficient, depth_coefficient, default_size, depth_divisor, base)
    graph_of_layout = {}  # "keras": scaled_net_graph's defaults, TensorFlow's padding and epsilon
    if layout == "torchvision":
        knobs = {"width_coefficient": width_coefficient, "depth_coefficient": depth_coefficient,
                 "depth_divisor": depth_divisor, "base": base, "activation": activation}
        graph_of_layout = {"padding": "symmetric", "bn_epsilon": torchvision_bn_epsilon(knobs)}
    return scaled_net_graph(x, taps, net, act=activation, se_style=SE_STYLE, drop_connect_rate=drop_connect_rate,
                            **graph_of_layout)


_BLOCK = re.compile(r"^block(\d+)([a-z]+)_(.+)$")



def torch_names(model):
    """{our layer: torchvision module} for torchvision's EfficientNet B0-B7: features.0
    the stem, features.<stage>.<block>.block.<k> the blocks (k counts the block's
    Conv2dNormActivations and its SqueezeExcitation, the expansion conv only where
    the block has one), features.<stages + 1> the top conv, classifier.1 the Dense."""
    ours = {layer.name for layer in model.layers}
    stages = max((int(m.group(1)) for m in map(_BLOCK.match, ours) if m), default=0)
    names = {"stem_conv": "features.0.0", "stem_bn": "features.0.1", "top_conv": f"features.{stages + 1}.0",
             "top_bn": f"features.{stages + 1}.1", "predictions": "classifier.1"}
    roles = {"expand_conv": (0, "0"), "expand_bn": (0, "1"), "dwconv": (1, "0"), "bn": (1, "1"),
             "se_reduce": (2, "fc1"), "se_expand": (2, "fc2"), "project_conv": (3, "0"), "project_bn": (3, "1")}
    for layer in ours:
        match = _BLOCK.match(layer)
        if match is None or match.group(3) not in roles:
            continue
        stage, letters, role = match.groups()
        position, part = roles[role]
        if f"block{stage}{letters}_expand_conv" not in ours:  # expansion 1: no expansion conv, one fewer
            position -= 1
        names[layer] = f"features.{stage}.{letters_index(letters)}.block.{position}.{part}"
    return names


def imagenet(knobs, rows, has_top):
    """keras.applications' B0-B7 file, for B0's table at a released variant's coefficients."""
    if knobs.get("layout", "keras") != "keras":
        return None, "keras.applications' ImageNet files are for layout='keras' (TensorFlow's padding and BatchNorm)"
    if knobs.get("normalization", "imagenet") != "imagenet":
        return None, "keras.applications' ImageNet files were trained with normalization='imagenet'"
    variant_name = released(knobs)
    if variant_name is None or variant_name.startswith("lite"):
        return None, "keras.applications publishes B0-B7 with their own width and depth coefficients only"
    return imagenet_weights(variant_name, has_top), None


# ------------------------------------------------------------------------ the builders

_ORDER = ("width_coefficient", "depth_coefficient", "default_size", "dropout_rate", "drop_connect_rate",
          "depth_divisor", "activation", "base", "name", "include_top", "weights", "input_tensor", "input_shape",
          "pooling", "classes", "classifier_activation", "include_preprocessing", "features_only", "out_strides")
_CHECKS = {"base": _check_base, "depth_divisor": _check_divisor, "dropout_rate": rate("0.2"),
           "drop_connect_rate": rate("0.2")}
_ARGS_DOC = """
    Args:
        width_coefficient, depth_coefficient: channel and depth multipliers of
            `base` (channels rounded to multiples of `depth_divisor`, repeats up).
        default_size: the resolution the network is scaled for (its default
            input); None: the base table's (224 for B0 and Lite0).
        dropout_rate: dropout before the classifier.
        drop_connect_rate: drop-connect of the last block's residual branch (block i
            of n drops with drop_connect_rate * i / n while training).
        depth_divisor: channel rounding divisor.
        activation: {activation}.
        base: the table to scale, a ScalableNet ({base}, or any table,
            e.g. one returned by `compound_scale`).
        include_top, weights, input_tensor, input_shape, pooling, classes,
            classifier_activation, name: as keras.applications. {weights}
        include_preprocessing: the model takes [0, 255] pixels and {preprocessing}.
        features_only, out_strides: return the feature maps at these strides
            (2, 4, 8, 16, 32) instead of the classifier.{layout}
    """

EfficientNet = Family(
    "EfficientNet", graph=graph, head=pooled_dense_head, preprocessing=_normalize_imagenet,
    knobs={"width_coefficient": 1.0, "depth_coefficient": 1.0, "default_size": None, "dropout_rate": 0.2,
           "drop_connect_rate": 0.2, "depth_divisor": 8, "activation": "swish", "base": EFFICIENTNET_B0,
           "layout": "keras", "normalization": "imagenet"},
    order=(*_ORDER, "layout", "normalization"),
    checks={**_CHECKS, "layout": one_of(("keras", "torchvision")), "normalization": one_of(NORMALIZATIONS)},
    defaults={"include_preprocessing": True, "name": "efficientnet"},
    default_size=lambda knobs: scaled(**knobs).resolution,
    imagenet=imagenet, load_weights=load_weights, torch_names=torch_names,
    default_name=lambda knobs, rows: "efficientnet",
).builder(doc="""An EfficientNet of any compound-scaling coefficients, with
    keras.applications.efficientnet.EfficientNet's signature.
    """ + _ARGS_DOC.format(
    activation='"swish" (the paper), or "relu6", "relu", "hard_swish"', base="EFFICIENTNET_B0",
    weights='`weights` is None,\n            "imagenet" (keras.applications\' published B0-B7 files, for B0\'s table\n'
            '            at their coefficients) or a weights file path.',
    preprocessing="normalizes them\n            with the ImageNet statistics (keras.applications always does)",
    layout="""
        layout: "keras" (keras.applications' graph: TensorFlow's "same" padding,
            BatchNorm epsilon 1e-3; its ImageNet files) or "torchvision"
            (torchvision's efficientnet_b0..b7: PyTorch's symmetric padding of the
            strided convolutions, BatchNorm epsilon 1e-5, 1e-3 for B5-B7; its
            state_dict files load as weights=, by torch_names). Same layers and
            weights either way, and the same ImageNet input normalization.
        normalization: the input normalization of include_preprocessing:
            "imagenet" (ImageNet's mean / std; keras.applications' files),
            "inception" (mean 0.5, std 0.5: [-1, 1], timm's AdvProp sets
            tf_efficientnet_b*.ap_in1k) or "lite" ((x - 127) / 128)."""))

EfficientNetLite = Family(
    "EfficientNetLite", graph=graph, head=pooled_dense_head, preprocessing=_lite_preprocessing,
    knobs={"width_coefficient": 1.0, "depth_coefficient": 1.0, "default_size": None, "dropout_rate": 0.2,
           "drop_connect_rate": 0.2, "depth_divisor": 8, "activation": "relu6", "base": EFFICIENTNET_LITE0,
           "normalization": "lite"},
    order=(*_ORDER, "normalization"), checks={**_CHECKS, "normalization": one_of(NORMALIZATIONS)},
    defaults={"include_preprocessing": True, "name": "efficientnet_lite"},
    default_size=lambda knobs: scaled(**knobs).resolution,
    no_imagenet="the EfficientNet-Lite checkpoints are published for TensorFlow 1 only (tensorflow/tpu), not as Keras files",
    load_weights=load_weights,
    default_name=lambda knobs, rows: "efficientnet_lite",
).builder(doc="""An EfficientNet-Lite of any coefficients (tensorflow/tpu's lite builder:
    ReLU6, no SE; stem, head and first/last stage depth fixed).
    """ + _ARGS_DOC.format(
    activation='"relu6" (the authors\'), or "swish", "relu", "hard_swish"', base="EFFICIENTNET_LITE0",
    weights="`weights` is None or a\n            weights file path: no Keras ImageNet file is published.",
    preprocessing="maps them as\n            (x - 127) / 128 (the authors')", layout="""
        normalization: the input normalization of include_preprocessing: "lite"
            ((x - 127) / 128, the authors'), "inception" (mean 0.5, std 0.5 of
            [0, 1] pixels: (x - 127.5) / 127.5, timm's tf_efficientnet_lite* sets)
            or "imagenet" (ImageNet's mean / std)."""))


# ------------------------------------------------------------------------ the variants
# Figures: the paper's Table 2 (its "FLOPS" are multiply-adds), and the Lite README's table.
_PAPER = "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks (ICML 2019)"
_LITE_SOURCE = "tensorflow/tpu models/official/efficientnet/lite/README.md"
_NOTE_B4_B5 = (
    "Table 2 prints {paper} multiply-adds; the released coefficients ({coefficients}) give {ours}, "
    "as torchvision publishes ({torchvision} GFLOPS) and keras.applications' model counts (the same "
    "convolutions, layer for layer). The other six variants are within 2% of the table."
)
_NOTE_LITE = (
    "The Lite README's MAdds run 3-6% above the convolutions its builder defines, while its parameter "
    "counts match ours: Lite0 has exactly B0's convolutions less the squeeze-excite (ours: 385.2M, "
    "keras.applications' B0 385.8M; the paper's B0 figure is 390M), yet the README gives Lite0 407M, so "
    "it counts operations beyond the multiply-adds. Ours equal keras.applications' EfficientNet builder "
    "given Lite's changes (no squeeze-excite; stem, head and first and last stage depth unscaled), "
    "built live in tests/test_paper_tables.py."
)
_VARIANT_ORDER = ("include_top", "weights", "input_tensor", "input_shape", "pooling", "classes",  # keras.applications'
                  "classifier_activation", "name", "include_preprocessing", "dropout_rate", "drop_connect_rate",
                  "features_only", "out_strides")  # then the family's other knobs, new since: by keyword
_B = {"family": "efficientnet", "paper": _PAPER, "arxiv": "1905.11946",
      "figures_source": "paper (Table 2; FLOPS = multiply-adds)"}
_LITE = {"family": "efficientnet_lite", "paper": _PAPER, "arxiv": "1905.11946", "figures_source": _LITE_SOURCE,
         "reference": "tensorflow/tpu efficientnet_lite_builder", "note": _NOTE_LITE}
PUBLISHED = {  # (parameters M, multiply-adds M)
    # the paper's Table 2
    "b0": (5.3, 390), "b1": (7.8, 700), "b2": (9.2, 1000), "b3": (12, 1800),
    "b4": (19, 4200), "b5": (30, 9900), "b6": (43, 19000), "b7": (66, 37000),
    # the Lite README
    "lite0": (4.7, 407), "lite1": (5.4, 631), "lite2": (6.1, 899), "lite3": (8.2, 1440), "lite4": (13.0, 2640),
}
NOTES = {
    "b4": _NOTE_B4_B5.format(paper="4.2B", coefficients="1.4, 1.8, 380 px", ours="4.39G", torchvision="4.394"),
    "b5": _NOTE_B4_B5.format(paper="9.9B", coefficients="1.6, 2.2, 456 px", ours="10.27G", torchvision="10.266"),
}


def variant_arguments(variant):
    """A released variant's @variant arguments: `as_released`'s, keras.applications' order and its figures."""
    params, macs = PUBLISHED[variant]
    figures = _LITE if variant.startswith("lite") else {
        **_B, "reference": f"keras.applications.EfficientNet{variant.upper()}", "note": NOTES.get(variant, "")}
    return {**as_released(variant), "order": _VARIANT_ORDER, "paper_params_m": params, "paper_macs_m": macs, **figures}


@variant("efficientnet_b0", EfficientNet, **variant_arguments("b0"))
def EfficientNetB0(*args, **kwargs):
    """EfficientNet-B0: width 1.0, depth 1.0, 224 px, dropout 0.2; EfficientNet's other arguments."""


@variant("efficientnet_b1", EfficientNet, **variant_arguments("b1"))
def EfficientNetB1(*args, **kwargs):
    """EfficientNet-B1: width 1.0, depth 1.1, 240 px, dropout 0.2; EfficientNet's other arguments."""


@variant("efficientnet_b2", EfficientNet, **variant_arguments("b2"))
def EfficientNetB2(*args, **kwargs):
    """EfficientNet-B2: width 1.1, depth 1.2, 260 px, dropout 0.3; EfficientNet's other arguments."""


@variant("efficientnet_b3", EfficientNet, **variant_arguments("b3"))
def EfficientNetB3(*args, **kwargs):
    """EfficientNet-B3: width 1.2, depth 1.4, 300 px, dropout 0.3; EfficientNet's other arguments."""


@variant("efficientnet_b4", EfficientNet, **variant_arguments("b4"))
def EfficientNetB4(*args, **kwargs):
    """EfficientNet-B4: width 1.4, depth 1.8, 380 px, dropout 0.4; EfficientNet's other arguments."""


@variant("efficientnet_b5", EfficientNet, **variant_arguments("b5"))
def EfficientNetB5(*args, **kwargs):
    """EfficientNet-B5: width 1.6, depth 2.2, 456 px, dropout 0.4; EfficientNet's other arguments."""


@variant("efficientnet_b6", EfficientNet, **variant_arguments("b6"))
def EfficientNetB6(*args, **kwargs):
    """EfficientNet-B6: width 1.8, depth 2.6, 528 px, dropout 0.5; EfficientNet's other arguments."""


@variant("efficientnet_b7", EfficientNet, **variant_arguments("b7"))
def EfficientNetB7(*args, **kwargs):
    """EfficientNet-B7: width 2.0, depth 3.1, 600 px, dropout 0.5; EfficientNet's other arguments."""


@variant("efficientnet_lite0", EfficientNetLite, **variant_arguments("lite0"))
def EfficientNetLite0(*args, **kwargs):
    """EfficientNet-Lite0: width 1.0, depth 1.0, 224 px, dropout 0.2; EfficientNetLite's other arguments."""


@variant("efficientnet_lite1", EfficientNetLite, **variant_arguments("lite1"))
def EfficientNetLite1(*args, **kwargs):
    """EfficientNet-Lite1: width 1.0, depth 1.1, 240 px, dropout 0.2; EfficientNetLite's other arguments."""


@variant("efficientnet_lite2", EfficientNetLite, **variant_arguments("lite2"))
def EfficientNetLite2(*args, **kwargs):
    """EfficientNet-Lite2: width 1.1, depth 1.2, 260 px, dropout 0.3; EfficientNetLite's other arguments."""


@variant("efficientnet_lite3", EfficientNetLite, **variant_arguments("lite3"))
def EfficientNetLite3(*args, **kwargs):
    """EfficientNet-Lite3: width 1.2, depth 1.4, 280 px, dropout 0.3; EfficientNetLite's other arguments."""


@variant("efficientnet_lite4", EfficientNetLite, **variant_arguments("lite4"))
def EfficientNetLite4(*args, **kwargs):
    """EfficientNet-Lite4: width 1.4, depth 1.8, 300 px, dropout 0.3; EfficientNetLite's other arguments."""
