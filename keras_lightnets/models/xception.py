"""Xception (Chollet, "Xception: Deep Learning with Depthwise Separable
Convolutions", CVPR 2017, arXiv:1610.02357).

Figure 5 of the paper as data: the entry flow, the middle flow (repeated 8 times)
and the exit flow are rows of one stage table that one builder walks. Layer names,
padding and batch-norm settings follow keras.applications.Xception, so its weight
files load into this model and give the same outputs.

keras.applications leaves the four 1x1 projection shortcuts (and their batch
norms) unnamed, so their names in a weight file depend on the Keras version and
session that saved it ("conv2d_1" in Keras 2 files, "conv2d" or "conv2d_57" in
Keras 3). Ours are named "block2_residual_conv", "block2_residual_bn", ...; a file
keyed by layer name that lacks these names gives them its unnamed 1x1
convolutions and batch norms in order (the order of the network).

layout="timm_legacy" builds the graph of timm's legacy_xception (Cadene's PyTorch port
of keras.applications' Xception, whose tf_in1k weights are keras.applications' file
converted): its stride-2 max-pools pad one row / column on every side (PyTorch's
MaxPool2d(3, 2, padding=1); TensorFlow's "same" pads an even-sized map on the bottom /
right only) and its batch norms have PyTorch's epsilon, 1e-5. Same layers and weights;
timm's module names are mapped by `torch_names`.
"""

import dataclasses
from typing import Tuple

from keras import layers

from keras_lightnets.layers.blocks import batch_norm
from keras_lightnets.models import _common
from keras_lightnets.models._family import Family
from keras_lightnets.models._family import one_of
from keras_lightnets.registry import register_model
from keras_lightnets.weights import WeightFile
from keras_lightnets.weights import load_weights_by_name

__all__ = ["Xception"]

# ------------------------------------------------------------ the architecture as data


@dataclasses.dataclass(frozen=True)
class XceptionFlow:
    """Rows of Figure 5: `repeats` residual modules of separable 3x3 convolutions."""

    flow: str  # "entry", "middle" (repeated `middle_repeats` times) or "exit"
    repeats: int
    filters: Tuple[int, ...]
    downsample: bool
    relu_first: bool


# Figure 5 of the paper, after the two stem convolutions (32 and 64 filters, 3x3,
# the first with stride 2, both unpadded): each row is `repeats` residual modules
# of separable 3x3 convolutions (each preceded by ReLU, except the very first).
# A downsampling module ends with 3x3/2 max pooling and has a 1x1/2 convolution
# shortcut; the others have identity shortcuts.
FLOWS = (
    XceptionFlow("entry", 1, (128, 128), downsample=True, relu_first=False),
    XceptionFlow("entry", 1, (256, 256), downsample=True, relu_first=True),
    XceptionFlow("entry", 1, (728, 728), downsample=True, relu_first=True),
    XceptionFlow("middle", 8, (728, 728, 728), downsample=False, relu_first=True),
    XceptionFlow("exit", 1, (728, 1024), downsample=True, relu_first=True),
)
STEM_FILTERS = (32, 64)
# Exit flow after the last module: separable convolutions followed by ReLU.
HEAD_FILTERS = (1536, 2048)
MIDDLE_REPEATS = 8
# keras.applications.Xception's batch norms: Keras' defaults.
BN_EPSILON, BN_MOMENTUM = 1e-3, 0.99
# The graph each layout builds: how a downsampling module's 3x3/2 max-pool pads, the
# batch norms' epsilon.
LAYOUTS = {
    "keras": {"pool_padding": "same", "bn_epsilon": BN_EPSILON},  # keras.applications.Xception
    "timm_legacy": {"pool_padding": "symmetric", "bn_epsilon": 1e-5},  # timm's legacy_xception (Cadene's port)
}

IMAGENET_FILES = {
    True: WeightFile(
        "xception_weights_tf_dim_ordering_tf_kernels.h5",
        "https://storage.googleapis.com/tensorflow/keras-applications/xception/xception_weights_tf_dim_ordering_tf_kernels.h5",
        "0a58e3b7378bc2990ea3b43d5981f1f6",
    ),
    False: WeightFile(
        "xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "https://storage.googleapis.com/tensorflow/keras-applications/xception/xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "b0042744bf5b25fce3cb969f33bebb97",
    ),
}


def modules(middle_repeats=MIDDLE_REPEATS):
    """(block number, row) of every residual module, blocks numbered as keras.applications."""
    rows = [row for row in FLOWS for _ in range(middle_repeats if row.flow == "middle" else row.repeats)]
    return list(enumerate(rows, start=2))


def residual_layer_names(middle_repeats=MIDDLE_REPEATS):
    return [f"block{b}_residual_{kind}" for b, row in modules(middle_repeats) if row.downsample for kind in ("conv", "bn")]


def _check_middle_repeats(name, value):
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"`middle_repeats` (modules in the middle flow) must be a non-negative integer, 8 in the paper; received middle_repeats={value!r}.")


# ------------------------------------------------------------------- the graph


def _max_pool(x, padding, name):
    """3x3/2 max pooling. "same": TensorFlow's (an even-sized map padded bottom / right);
    "symmetric": PyTorch's MaxPool2d(3, 2, padding=1), whose padding never wins a max:
    a 3x3/1 "same" max-pool (a window at position i covers i-1..i+1, the border's
    padding ignored) sampled at every second position."""
    if padding == "same":
        return layers.MaxPooling2D(3, strides=2, padding="same", name=name)(x)
    x = layers.MaxPooling2D(3, strides=1, padding="same", name=name)(x)
    return layers.MaxPooling2D(1, strides=2, name=f"{name}_stride")(x)


def _bn(x, name, epsilon=BN_EPSILON):
    return batch_norm(x, name, epsilon, BN_MOMENTUM)


def _module(x, filters, downsample, relu_first, prefix, bn_epsilon=BN_EPSILON, pool_padding="same"):
    """One residual module of separable convolutions (keras.applications' names)."""
    if downsample:
        residual = layers.Conv2D(filters[-1], 1, strides=2, padding="same", use_bias=False, name=f"{prefix}_residual_conv")(x)
        residual = _bn(residual, f"{prefix}_residual_bn", bn_epsilon)
    else:
        residual = x
    for j, f in enumerate(filters, start=1):
        if j > 1 or relu_first:
            x = layers.Activation("relu", name=f"{prefix}_sepconv{j}_act")(x)
        x = layers.SeparableConv2D(f, 3, padding="same", use_bias=False, name=f"{prefix}_sepconv{j}")(x)
        x = _bn(x, f"{prefix}_sepconv{j}_bn", bn_epsilon)
    if downsample:
        x = _max_pool(x, pool_padding, f"{prefix}_pool")
    return layers.Add(name=f"{prefix}_add")([x, residual])


def graph(x, taps, *, middle_repeats, layout="keras"):
    """The stem, the entry, middle and exit flows, and the exit flow's last convolutions."""
    epsilon = LAYOUTS[layout]["bn_epsilon"]
    for j, filters in enumerate(STEM_FILTERS, start=1):
        x = layers.Conv2D(filters, 3, strides=2 if j == 1 else 1, use_bias=False, name=f"block1_conv{j}")(x)
        x = _bn(x, f"block1_conv{j}_bn", epsilon)
        x = layers.Activation("relu", name=f"block1_conv{j}_act")(x)
    stride = 2
    for block, row in modules(middle_repeats):
        if row.downsample:
            taps.record(x, stride)
            stride *= 2
        x = _module(x, row.filters, row.downsample, row.relu_first, prefix=f"block{block}", **LAYOUTS[layout])
    block += 1
    for j, filters in enumerate(HEAD_FILTERS, start=1):
        x = layers.SeparableConv2D(filters, 3, padding="same", use_bias=False, name=f"block{block}_sepconv{j}")(x)
        x = _bn(x, f"block{block}_sepconv{j}_bn", epsilon)
        x = layers.Activation("relu", name=f"block{block}_sepconv{j}_act")(x)
    taps.record(x, stride)
    return x


def head(x, *, classes, classifier_activation):
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return layers.Dense(classes, activation=classifier_activation, name="predictions")(x)


def load_weights(model, path):
    """Loads by layer name; unnamed projection shortcuts of a keras.applications
    file are matched to ours in order (see the module docstring)."""
    ours = {layer.name for layer in model.layers}
    wanted = [layer.name for layer in model.layers if "_residual_" in layer.name]

    def shortcuts_in_order(arrays):
        if all(n in arrays for n in wanted):
            return {}
        spare = [k for k in arrays if k not in ours]
        pools = {
            "_conv": [k for k in spare if len(arrays[k]) == 1 and arrays[k][0].ndim == 4 and arrays[k][0].shape[:2] == (1, 1)],
            "_bn": [k for k in spare if len(arrays[k]) == 4],
        }
        return {n: pools[n[n.rindex("_"):]].pop(0) for n in wanted if pools[n[n.rindex("_"):]]}

    load_weights_by_name(model, path, rename=shortcuts_in_order, arguments="middle_repeats")


# timm's legacy_xception module names (Cadene's port): our block b is its block{b-1},
# whose `rep` Sequential holds [ReLU,] SeparableConv2d, BatchNorm2d per convolution (the
# first module has no leading ReLU) and whose projection shortcut is skip / skipbn; the
# stem is conv1 / bn1, conv2 / bn2, the exit flow's last convolutions conv3 / bn3,
# conv4 / bn4, the classifier fc.
TIMM_STEM = {"block1_conv1": "conv1", "block1_conv1_bn": "bn1", "block1_conv2": "conv2", "block1_conv2_bn": "bn2"}
TIMM_RESIDUAL = {"residual_conv": "skip", "residual_bn": "skipbn"}
TIMM_HEAD = ("conv3", "conv4")  # our last block's sepconv1, sepconv2 (their BNs bn3, bn4)


def torch_names(model):
    """{our layer: timm legacy_xception module} (any middle_repeats)."""
    residual_modules = sum(layer.name.endswith("_add") for layer in model.layers)
    blocks = modules(middle_repeats=residual_modules - (len(FLOWS) - 1))  # one row of FLOWS is the middle flow
    names = {**TIMM_STEM, "predictions": "fc"}
    for block, row in blocks:
        theirs = f"block{block - 1}"
        if row.downsample:
            names.update({f"block{block}_{kind}": f"{theirs}.{module}" for kind, module in TIMM_RESIDUAL.items()})
        for j in range(1, len(row.filters) + 1):
            sep = 3 * (j - 1) + (1 if row.relu_first else 0)  # ReLU, SeparableConv2d, BatchNorm2d per convolution
            names[f"block{block}_sepconv{j}"] = f"{theirs}.rep.{sep}"
            names[f"block{block}_sepconv{j}_bn"] = f"{theirs}.rep.{sep + 1}"
    last = blocks[-1][0] + 1
    for j, conv in enumerate(TIMM_HEAD, start=1):
        names[f"block{last}_sepconv{j}"] = conv
        names[f"block{last}_sepconv{j}_bn"] = conv.replace("conv", "bn")
    return names


# ------------------------------------------------------------------------ the builder

def _imagenet(knobs, rows, has_top):
    """keras.applications' file, for its own graph only."""
    if knobs["middle_repeats"] != MIDDLE_REPEATS:
        return None, f"the published file has middle_repeats=8, received {knobs['middle_repeats']}"
    if knobs["layout"] != "keras":
        return None, (f"keras.applications' file is for layout='keras', received layout={knobs['layout']!r} "
                      "(timm's port of it: weights='timm')")
    return IMAGENET_FILES[has_top], None


_ORDER = ("include_top", "weights", "input_tensor", "input_shape", "pooling", "classes", "classifier_activation", "name",
          "middle_repeats", "include_preprocessing", "features_only", "out_strides", "layout")

Xception = Family(
    "Xception", graph=graph, head=head, preprocessing=_common.preprocessing,
    knobs={"middle_repeats": MIDDLE_REPEATS, "layout": "keras"}, order=_ORDER,
    checks={"middle_repeats": _check_middle_repeats, "layout": one_of(tuple(LAYOUTS))},
    defaults={"name": "xception"}, default_size=299, min_size=lambda knobs: 71,
    default_name=lambda knobs, rows: "xception",
    imagenet=_imagenet, load_weights=load_weights, torch_names=torch_names,
).builder(doc="""Xception, with keras.applications.Xception's signature and layer names.

    Args:
        include_top, weights, input_tensor, input_shape, pooling, classes,
        classifier_activation, name: as keras.applications (default input
            299x299, at least 71x71). `weights="imagenet"` loads keras.applications'
            published file (middle_repeats=8 only).
        middle_repeats: modules in the middle flow (8 in the paper).
        include_preprocessing: add a Rescaling layer so the model takes [0, 255]
            pixels. False, as keras.applications (`preprocess_input` gives [-1, 1]).
        features_only: the feature maps at `out_strides` (2, 4, 8, 16, 32; the
            unpadded stem makes them slightly smaller than input / stride).
        layout: "keras" (keras.applications' graph: TensorFlow's "same"
            max-pool padding, BatchNorm epsilon 1e-3) or "timm_legacy" (timm's
            legacy_xception, Cadene's PyTorch port: max-pools padded on every
            side, epsilon 1e-5; its state_dict files load as weights=, and
            weights="timm" is its tf_in1k set). Same layers and weights.
    """)


register_model(
    "xception", Xception, family="xception",
    paper="Xception: Deep Learning with Depthwise Separable Convolutions (CVPR 2017)", arxiv="1610.02357",
    default_size=299, paper_params_m=22.855952, paper_macs_m=None,
    figures_source="paper Table 3 (22,855,952 parameters); MACs: none published, ours measured here "
                   "(equal to keras.applications.Xception's, tests/test_paper_tables.py)",
    reference="keras.applications.Xception",
)
