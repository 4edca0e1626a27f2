"""NASNet-A Mobile and Large (Zoph, Vasudevan, Shlens & Le, "Learning Transferable
Architectures for Scalable Image Recognition", CVPR 2018, arXiv:1707.07012).

Figure 4 of the paper as data: a cell is five combinations, each adding two operations
(a separable convolution, a pooling or the identity) applied to the cell's two inputs
(h: this cell's input, squeezed by a 1x1 convolution; p: the previous cell's output,
adjusted to h's shape) or to an earlier combination; the cell concatenates what it
lists. One builder walks a cell's table; the macro-architecture (Figure 2: a 3x3
stem, two reduction cells at the stem, then N normal cells, a reduction cell, N normal
cells, a reduction cell, N normal cells) is a list of cells the same walker builds.
NASNet-A (N @ P) names the number of blocks N and the penultimate filters P, the last
cells' output: 6 branches of the last stack's width, filter_multiplier ** 2 times the
first stack's (P // 24 with the multiplier 2).

Layer names, padding and batch-norm settings follow keras.applications.NASNetMobile /
NASNetLarge, so its weight files load into these models and give its outputs, and the
parameter counts are equal. The layers keras.applications leaves unnamed (ReLUs,
the factorized reduction's shift, two additions, the pooling) have names here; none
holds weights. Its cells pad a strided operation by the parity of the map
(keras.applications' `correct_pad`), which needs static input sizes: both variants build
at their default size when no size is given (keras.applications' NASNetLarge without
the top builds open dims, on which its cells cannot decide whether to reduce).
"""

import dataclasses
import numbers
from typing import Optional, Tuple

from keras import layers

from keras_lightnets.layers.blocks import batch_norm
from keras_lightnets.models import _common
from keras_lightnets.models._family import Family
from keras_lightnets.models._family import boolean
from keras_lightnets.models._family import variant
from keras_lightnets.weights import WeightFile

__all__ = ["NASNet"]  # and each variant, added by @variant

# ------------------------------------------------------------ the architecture as data


@dataclasses.dataclass(frozen=True)
class Operation:
    """One operation of a combination: `kind` applied to `source`.

    kind: "sep3", "sep5", "sep7" (two ReLU-separable-BN units, the first strided in a
    reduction cell), "avg3", "max3" (3x3 pooling) or "identity".
    source: "h", "p" (the cell's inputs; a reduction cell strides operations on them),
    or "c1", "c2", ... (an earlier combination's output, at stride 1).
    name: keras.applications' name of the operation (`{cell}_{name}_{block}`).
    """

    kind: str
    source: str
    name: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class Combination:
    """left + right, the addition named `{cell}_{add}_{block}`."""

    left: Operation
    right: Operation
    add: str


@dataclasses.dataclass(frozen=True)
class Cell:
    """A cell of Figure 4: its combinations, and the outputs it concatenates."""

    kind: str  # "normal" or "reduction": the prefix of its layer names
    stride: int  # of the operations on h and p
    combinations: Tuple[Combination, ...]
    concat: Tuple[str, ...]  # "p", "h", "c1", ...


def _op(kind, source, name=None):
    return Operation(kind, source, name)


# Figure 4 (left), NASNet-A's normal cell. keras.applications' names: the operations of
# combination i are left{i} / right{i}, its addition add_{i}.
NORMAL = Cell("normal", 1, (
    Combination(_op("sep5", "h", "left1"), _op("sep3", "p", "right1"), "add_1"),
    Combination(_op("sep5", "p", "left2"), _op("sep3", "p", "right2"), "add_2"),
    Combination(_op("avg3", "h", "left3"), _op("identity", "p"), "add_3"),
    Combination(_op("avg3", "p", "left4"), _op("avg3", "p", "right4"), "add_4"),
    Combination(_op("sep3", "h", "left5"), _op("identity", "h"), "add_5"),
), concat=("p", "c1", "c2", "c3", "c4", "c5"))

# Figure 4 (right), NASNet-A's reduction cell. keras.applications' names as it gives
# them: combination 4 adds its pooling of c1 ("left4") to c2, in that order, unnamed
# there ("add_4" here); combination 5's separable convolution is named "left4" too, its
# addition "add4", combination 3's "add3".
REDUCTION = Cell("reduction", 2, (
    Combination(_op("sep5", "h", "left1"), _op("sep7", "p", "right1"), "add_1"),
    Combination(_op("max3", "h", "left2"), _op("sep7", "p", "right2"), "add_2"),
    Combination(_op("avg3", "h", "left3"), _op("sep5", "p", "right3"), "add3"),
    Combination(_op("identity", "c2"), _op("avg3", "c1", "left4"), "add_4"),
    Combination(_op("sep3", "c1", "left4"), _op("max3", "h", "right5"), "add4"),
), concat=("c2", "c3", "c4", "c5"))

CELLS = {"normal": NORMAL, "reduction": REDUCTION}


@dataclasses.dataclass(frozen=True)
class CellPlacement:
    """A cell of Figure 2: which cell, its width (filters * multiplier ** exponent),
    its block id in layer names, and the output stride after it."""

    cell: str
    width_exponent: int
    block_id: str
    stride: int


def macro_plan(num_blocks):
    """Figure 2 (ImageNet): two stem reduction cells, then three stacks of `num_blocks`
    normal cells, a reduction cell between stacks; block ids as keras.applications'."""
    plan = [CellPlacement("reduction", -2, "stem_1", 4), CellPlacement("reduction", -1, "stem_2", 8)]
    for stack in range(3):
        if stack:
            plan.append(CellPlacement("reduction", stack, f"reduce_{stack * num_blocks}", 8 * 2 ** stack))
        plan += [CellPlacement("normal", stack, f"{stack * num_blocks + i + (1 if stack else 0)}", 8 * 2 ** stack)
                 for i in range(num_blocks)]
    return plan


# The published configurations (keras.applications' NASNetMobile / NASNetLarge), their
# input sizes, and keras.applications' weight files for them.
MOBILE = {"penultimate_filters": 1056, "num_blocks": 4, "stem_block_filters": 32, "skip_reduction": False,
          "filter_multiplier": 2}
LARGE = {"penultimate_filters": 4032, "num_blocks": 6, "stem_block_filters": 96, "skip_reduction": True,
         "filter_multiplier": 2}
_URL = "https://storage.googleapis.com/tensorflow/keras-applications/nasnet/"
PUBLISHED = (
    (MOBILE, 224, {True: WeightFile("nasnet_mobile.h5", f"{_URL}NASNet-mobile.h5", "020fb642bf7360b370c678b08e0adf61"),
                   False: WeightFile("nasnet_mobile_no_top.h5", f"{_URL}NASNet-mobile-no-top.h5",
                                     "1ed92395b5b598bdda52abe5c0dbfd63")}),
    (LARGE, 331, {True: WeightFile("nasnet_large.h5", f"{_URL}NASNet-large.h5", "11577c9a518f0070763c2b964a382f17"),
                  False: WeightFile("nasnet_large_no_top.h5", f"{_URL}NASNet-large-no-top.h5",
                                    "d81d89dc07e6e56530c4e77faddd61b5")}),
)
DEFAULT_SIZE = 331  # keras.applications' NASNet with default_size=None
# keras.applications' NASNet batch norms.
BN_EPSILON, BN_MOMENTUM = 1e-3, 0.9997


def _published(knobs):
    """(input size, {has_top: WeightFile}) of the published configuration, or None."""
    for config, size, files in PUBLISHED:
        if all(knobs[k] == v for k, v in config.items()):
            return size, files
    return None


def _positive_int(meaning):
    def check(name, value):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"`{name}` ({meaning}) must be a positive integer; received {name}={value!r}.")

    return check


def _check_default_size(name, value):
    if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 32):
        raise ValueError(f"`default_size` must be None (331) or an integer of at least 32; received default_size={value!r}.")


def _check_penultimate_filters(name, value):
    _positive_int("filters of the last normal cell, P in NASNet-A (N @ P)")(name, value)


# ------------------------------------------------------------------- the graph


def _bn(x, name):
    return batch_norm(x, name, BN_EPSILON, BN_MOMENTUM)


def _correct_pad(x, kernel_size):
    """keras.applications' `correct_pad`: what a 'valid' stride-2 window needs to give
    TensorFlow's 'same' output size (k // 2 on each side of an odd map, one less on
    top / left of an even one)."""
    rows, cols = x.shape[1:3]
    half = kernel_size // 2
    return ((half - (1 - rows % 2), half), (half - (1 - cols % 2), half))


def separable_unit(x, filters, kernel_size, stride, block):
    """Two [ReLU, separable convolution, BN]; the first strided (explicitly padded)."""
    x = layers.Activation("relu", name=f"separable_conv_1_relu_{block}")(x)
    padding = "same"
    if stride == 2:
        x = layers.ZeroPadding2D(_correct_pad(x, kernel_size), name=f"separable_conv_1_pad_{block}")(x)
        padding = "valid"
    x = layers.SeparableConv2D(filters, kernel_size, strides=stride, padding=padding, use_bias=False,
                               name=f"separable_conv_1_{block}")(x)
    x = _bn(x, f"separable_conv_1_bn_{block}")
    x = layers.Activation("relu", name=f"separable_conv_2_relu_{block}")(x)
    x = layers.SeparableConv2D(filters, kernel_size, padding="same", use_bias=False, name=f"separable_conv_2_{block}")(x)
    return _bn(x, f"separable_conv_2_bn_{block}")


def adjust(p, ip, filters, block_id):
    """The previous cell's output made to match this cell's input: a factorized
    reduction (two 1x1 convolutions on the map and on the map shifted by one pixel,
    both sampled at stride 2, concatenated) where the map is larger, a 1x1 projection
    where only the width differs (keras.applications' `_adjust_block`)."""
    if p is None:
        return ip
    if p.shape[1:3] != ip.shape[1:3]:
        p = layers.Activation("relu", name=f"adjust_relu_1_{block_id}")(p)
        p1 = layers.AveragePooling2D(1, strides=2, name=f"adjust_avg_pool_1_{block_id}")(p)
        p1 = layers.Conv2D(filters // 2, 1, padding="same", use_bias=False, name=f"adjust_conv_1_{block_id}")(p1)
        p2 = layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"adjust_pad_2_{block_id}")(p)
        p2 = layers.Cropping2D(((1, 0), (1, 0)), name=f"adjust_crop_2_{block_id}")(p2)
        p2 = layers.AveragePooling2D(1, strides=2, name=f"adjust_avg_pool_2_{block_id}")(p2)
        p2 = layers.Conv2D(filters // 2, 1, padding="same", use_bias=False, name=f"adjust_conv_2_{block_id}")(p2)
        p = layers.Concatenate(name=f"adjust_concat_{block_id}")([p1, p2])
        return _bn(p, f"adjust_bn_{block_id}")
    if p.shape[-1] != filters:
        p = layers.Activation("relu", name=f"adjust_relu_projection_{block_id}")(p)
        p = layers.Conv2D(filters, 1, padding="same", use_bias=False, name=f"adjust_conv_projection_{block_id}")(p)
        return _bn(p, f"adjust_bn_{block_id}")
    return p


def _operation(op, tensors, padded, cell, filters, block_id):
    stride = cell.stride if op.source in ("h", "p") else 1
    x = tensors[op.source]
    name = f"{cell.kind}_{op.name}_{block_id}"
    if op.kind == "identity":
        return x
    if op.kind.startswith("sep"):
        return separable_unit(x, filters, int(op.kind[3:]), stride, name)
    pool = {"avg3": layers.AveragePooling2D, "max3": layers.MaxPooling2D}[op.kind]
    if stride == 1:
        return pool(3, strides=1, padding="same", name=name)(x)
    return pool(3, strides=stride, padding="valid", name=name)(padded[op.source])  # keras.applications' zero padding


def cell_block(x, p, cell, filters, block_id):
    """One cell walked from its table: returns (its output, its input: the next cell's p)."""
    p = adjust(p, x, filters, block_id)
    h = layers.Activation("relu", name=f"{cell.kind}_relu_1_{block_id}")(x)
    h = layers.Conv2D(filters, 1, padding="same", use_bias=False, name=f"{cell.kind}_conv_1_{block_id}")(h)
    h = _bn(h, f"{cell.kind}_bn_1_{block_id}")
    padded = {}
    if cell.stride == 2:  # strided pools read h padded as a 3x3 'same' window would be
        padded["h"] = layers.ZeroPadding2D(_correct_pad(h, 3), name=f"{cell.kind}_pad_1_{block_id}")(h)
    tensors = {"h": h, "p": p}
    for i, combination in enumerate(cell.combinations, start=1):
        left = _operation(combination.left, tensors, padded, cell, filters, block_id)
        right = _operation(combination.right, tensors, padded, cell, filters, block_id)
        tensors[f"c{i}"] = layers.Add(name=f"{cell.kind}_{combination.add}_{block_id}")([left, right])
    out = layers.Concatenate(name=f"{cell.kind}_concat_{block_id}")([tensors[k] for k in cell.concat])
    return out, x


def _width(filters, multiplier, exponent):
    """filters * multiplier ** exponent, as keras.applications rounds it (floor division
    for the narrower stem cells)."""
    return filters * multiplier ** exponent if exponent >= 0 else filters // multiplier ** -exponent


def graph(x, taps, *, penultimate_filters, num_blocks, stem_block_filters, skip_reduction, filter_multiplier,
          weights, include_top, features_only):
    """The stem convolution, then the cells of `macro_plan`; ends with a ReLU."""
    rows, cols = x.shape[1:3]
    if rows is None or cols is None:
        raise ValueError(f"NASNet needs a static input size (its strided cells pad by the parity of each map, as "
                         f"keras.applications'); received a {rows}x{cols} input. Pass e.g. input_shape=(224, 224, 3).")
    published = _published({"penultimate_filters": penultimate_filters, "num_blocks": num_blocks,
                            "stem_block_filters": stem_block_filters, "skip_reduction": skip_reduction,
                            "filter_multiplier": filter_multiplier})
    if weights == "imagenet" and include_top and not features_only and published and (rows, cols) != (published[0],) * 2:
        raise ValueError(f"`weights='imagenet'` with `include_top=True` needs input_shape=({published[0]}, "
                         f"{published[0]}, 3) for this NASNet, as keras.applications; received a {rows}x{cols} input. "
                         "Use include_top=False for other sizes.")
    _check_filters(penultimate_filters, filter_multiplier)
    filters = penultimate_filters // 24
    x = layers.Conv2D(stem_block_filters, 3, strides=2, padding="valid", use_bias=False, name="stem_conv1")(x)
    x = _bn(x, "stem_bn1")
    taps.record(x, 2)
    p = None
    for placement in macro_plan(num_blocks):
        before = p
        width = _width(filters, filter_multiplier, placement.width_exponent)
        x, p = cell_block(x, p, CELLS[placement.cell], width, placement.block_id)
        if placement.cell == "reduction" and skip_reduction and not placement.block_id.startswith("stem"):
            p = before  # the next cell's p skips the reduction cell's input (keras.applications' skip_reduction)
        taps.record(x, placement.stride)
    x = layers.Activation("relu", name="final_relu")(x)
    taps.record(x, 32)
    return x


def head(x, *, classes, classifier_activation):
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return layers.Dense(classes, activation=classifier_activation, name="predictions")(x)


# ------------------------------------------------------------------------ the builder


def _imagenet(knobs, rows, has_top):
    """keras.applications' files, for its two configurations."""
    published = _published(knobs)
    if published is None:
        return None, ("keras.applications publishes NASNet weights for NASNet-A (4 @ 1056) Mobile and (6 @ 4032) "
                      "Large only (use NASNetMobile / NASNetLarge)")
    return published[1][has_top], None


def _check_filters(penultimate_filters, filter_multiplier):
    if penultimate_filters % (24 * filter_multiplier ** 2):
        raise ValueError(
            "`penultimate_filters` must be a multiple of 24 * filter_multiplier ** 2 (NASNet-A's last cell "
            f"concatenates 6 branches, its first cells are filter_multiplier ** 2 times narrower); received "
            f"penultimate_filters={penultimate_filters}, filter_multiplier={filter_multiplier}.")


_KNOBS = {"penultimate_filters": 4032, "num_blocks": 6, "stem_block_filters": 96, "skip_reduction": True,
          "filter_multiplier": 2, "default_size": None}
# keras.applications.NASNet's order, then ours.
_ORDER = ("input_shape", "penultimate_filters", "num_blocks", "stem_block_filters", "skip_reduction",
          "filter_multiplier", "include_top", "weights", "input_tensor", "pooling", "classes", "default_size",
          "classifier_activation", "name", "include_preprocessing", "features_only", "out_strides")


NASNet = Family(
    "NASNet", graph=graph, head=head, preprocessing=_common.preprocessing,
    knobs=_KNOBS, order=_ORDER,
    checks={"penultimate_filters": _check_penultimate_filters,
            "num_blocks": _positive_int("normal cells per stack, N in NASNet-A (N @ P)"),
            "stem_block_filters": _positive_int("filters of the stem convolution"),
            "skip_reduction": boolean(),
            "filter_multiplier": _positive_int("width ratio between stacks, 2 in the paper"),
            "default_size": _check_default_size},
    defaults={"name": "NASNet"}, static_default="always",
    default_size=lambda knobs: knobs["default_size"] or DEFAULT_SIZE, min_size=lambda knobs: 32,
    default_name=lambda knobs, rows: "NASNet", imagenet=_imagenet,
).builder(doc="""A NASNet-A (N @ P) of any size, with keras.applications.NASNet's signature.

    Args:
        input_shape: (height, width, channels), 32 px or more; static (the default:
            default_size, with or without the top).
        penultimate_filters: P, the filters of the last normal cells (24 times the
            cell width; a multiple of 24 * filter_multiplier ** 2).
        num_blocks: N, the normal cells of each of the three stacks.
        stem_block_filters: filters of the 3x3 stem convolution.
        skip_reduction: whether the cell after a reduction cell takes, as its p, the
            reduction cell's p instead of its input (NASNetLarge: True).
        filter_multiplier: the width ratio between stacks (2).
        include_top, weights, input_tensor, pooling, classes,
        classifier_activation, name: as keras.applications. `weights="imagenet"`
            loads keras.applications' file for the Mobile (4 @ 1056) and Large
            (6 @ 4032) configurations; with the top, at their sizes (224, 331).
        default_size: the input size when none is given (None: 331).
        include_preprocessing: add a Rescaling layer so the model takes [0, 255]
            pixels (`preprocess_input`'s [-1, 1]). False, as keras.applications.
        features_only: the feature maps at `out_strides` (2, 4, 8, 16, 32).
    """)


_PAPER = "Learning Transferable Architectures for Scalable Image Recognition (CVPR 2018)"
_FIGURES = {"family": "nasnet", "paper": _PAPER, "arxiv": "1707.07012"}
# The paper's figures, per variant: (configuration, input size, parameters M, mult-adds M,
# their source, the reference implementation).
PAPER_FIGURES = {
    "nasnet_mobile": (MOBILE, 224, 5.3, 564, "paper Table 3 (NASNet-A (4 @ 1056), 224x224: 5.3M parameters, "
                      "564M mult-adds, top-1 74.0%, top-5 91.6%)", "keras.applications.NASNetMobile"),
    "nasnet_large": (LARGE, 331, 88.9, 23800, "paper Table 2 (NASNet-A (6 @ 4032), 331x331: 88.9M parameters, "
                     "23.8B mult-adds, top-1 82.7%, top-5 96.2%)", "keras.applications.NASNetLarge"),
}
# keras.applications.NASNetMobile / NASNetLarge's order, then ours.
_VARIANT_ORDER = ("input_shape", "include_top", "weights", "input_tensor", "pooling", "classes",
                  "classifier_activation", "name", "include_preprocessing", "features_only", "out_strides")


def released(key):
    """A variant's @variant arguments: its configuration and input size fixed, its name as the model's,
    its PAPER_FIGURES."""
    config, size, params, macs, source, reference = PAPER_FIGURES[key]
    return {"knobs": {**config, "default_size": size}, "order": _VARIANT_ORDER, "model_name": key,
            "default_size": size, "paper_params_m": params, "paper_macs_m": macs, "figures_source": source,
            "reference": reference, **_FIGURES}


@variant("nasnet_mobile", NASNet, **released("nasnet_mobile"))
def NASNetMobile(*args, **kwargs):
    """NASNet-A (4 @ 1056), keras.applications.NASNetMobile: 5,326,716 parameters at 224; NASNet's other arguments."""


@variant("nasnet_large", NASNet, **released("nasnet_large"))
def NASNetLarge(*args, **kwargs):
    """NASNet-A (6 @ 4032), keras.applications.NASNetLarge: 88,949,818 parameters at 331; NASNet's other arguments."""
