"""GoogLeNet / Inception V1 (Szegedy et al., "Going Deeper with Convolutions",
CVPR 2015, arXiv:1409.4842) and Inception V3 (Szegedy et al., "Rethinking the
Inception Architecture for Computer Vision", CVPR 2016, arXiv:1512.00567).

Both are built by one walker over inception modules written as data: a module is
a tuple of parallel branches, each a chain of convolutions and poolings (the last
step of a branch may fork into parallel convolutions that are concatenated, as
Inception V3's Figure 7 modules do); the branch outputs are concatenated.

- GoogLeNet's modules are the paper's Table 1, row by row (#1x1, #3x3 reduce,
  #3x3, #5x5 reduce, #5x5, pool proj).
- Inception V3's modules are keras.applications.InceptionV3's (= the paper's
  Figures 5, 6, 7 and the grid reductions of Figure 10 / Table 1), in keras'
  creation order.

Auxiliary classifiers (both papers) are built with `aux_logits=True`: the model
then has three (GoogLeNet) or two (Inception V3) outputs, main first. Train it
with the papers' loss weights, then drop the heads for inference / export with
`inference_model(model)` (weights are shared, not copied):

    model = GoogLeNet(aux_logits=True, classes=10)
    model.compile("sgd", loss=["sparse_categorical_crossentropy"] * 3,
                  loss_weights=[1.0, 0.3, 0.3])    # GoogLeNet paper, section 5
    model.fit(images, (labels, labels, labels))
    deployable = inference_model(model)            # one output: the main classifier
"""

import dataclasses
import re
from typing import Optional, Tuple

import keras
from keras import layers

from keras_lightnets.layers.blocks import batch_norm
from keras_lightnets.layers.padding import pad_for
from keras_lightnets.layers.pooling import adaptive_average_pool
from keras_lightnets.layers.normalization import LocalResponseNormalization
from keras_lightnets.models import _common
from keras_lightnets.models._family import Family
from keras_lightnets.models._family import boolean
from keras_lightnets.models._family import one_of
from keras_lightnets.models._family import rate
from keras_lightnets.registry import register_model
from keras_lightnets.weights import KERAS_APPLICATIONS_URL
from keras_lightnets.weights import WeightFile
from keras_lightnets.weights import load_weights_by_name

__all__ = ["GoogLeNet", "InceptionV1", "InceptionV3", "inference_model"]

# ------------------------------------------------------------ the architecture as data


@dataclasses.dataclass(frozen=True)
class Conv:
    """Conv2D (no bias) -> BatchNormalization -> ReLU, named `<module>_<name>_{conv,bn}` (+ `<module>_<name>` or `_relu`)."""

    name: str
    filters: int
    kernel: Tuple[int, int]
    strides: int = 1
    padding: str = "same"


@dataclasses.dataclass(frozen=True)
class Pool:
    """A pooling. padding "same" is TensorFlow's in the "keras" layout; in the "torchvision"
    layout it is PyTorch's equivalent for these networks (see ConvBN.pool)."""

    name: str
    kind: str  # "max" or "avg"
    size: int = 3
    strides: int = 1
    padding: str = "same"


@dataclasses.dataclass(frozen=True)
class Fork:
    """Parallel convolutions on the branch's tensor, concatenated (Inception V3 Figure 7)."""

    name: Optional[str]  # name of the Concatenate layer; None: `<module>_<first conv name>_concat`
    convs: Tuple[Conv, ...]


@dataclasses.dataclass(frozen=True)
class Lrn:
    """GoogLeNet's local response normalization, built only with `lrn=True`."""

    name: str


def _conv(name, filters, kh, kw=None, strides=1, padding="same"):
    return Conv(name, filters, (kh, kh if kw is None else kw), strides, padding)


# GoogLeNet, paper Table 1: the stem, then (name, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj).
GOOGLENET_STEM = (
    _conv("conv1", 64, 7, strides=2), Pool("maxpool1", "max", 3, 2), Lrn("lrn1"),
    _conv("conv2", 64, 1), _conv("conv3", 192, 3), Lrn("lrn2"), Pool("maxpool2", "max", 3, 2),
)
GOOGLENET_TABLE = (
    ("inception3a", 64, 96, 128, 16, 32, 32),
    ("inception3b", 128, 128, 192, 32, 96, 64),
    # max pool 3x3/2
    ("inception4a", 192, 96, 208, 16, 48, 64),
    ("inception4b", 160, 112, 224, 24, 64, 64),
    ("inception4c", 128, 128, 256, 24, 64, 64),
    ("inception4d", 112, 144, 288, 32, 64, 64),
    ("inception4e", 256, 160, 320, 32, 128, 128),
    # max pool 3x3/2
    ("inception5a", 256, 160, 320, 32, 128, 128),
    ("inception5b", 384, 192, 384, 48, 128, 128),
)
GOOGLENET_POOL_AFTER = ("inception3b", "inception4e")  # 3x3/2 max pools of Table 1
# torchvision's googlenet departs from Table 1 in two sizes (its layout="torchvision"): the
# "#5x5" convolution is a 3x3 (pytorch/vision#906) and the max pool after inception4e 2x2/2.
GOOGLENET_5X5 = {"keras": 5, "torchvision": 3}
GOOGLENET_MAXPOOL4 = {"keras": 3, "torchvision": 2}
GOOGLENET_AUX_AFTER = ("inception4a", "inception4d")  # paper section 5
# torchvision's modules of the auxiliary heads: its published file holds them (untrained),
# a model built without aux_logits leaves them out (Family.torch_optional).
GOOGLENET_TORCH_AUX = ("aux1.", "aux2.")
GOOGLENET_MIN_SIZE = 32
GOOGLENET_TORCHVISION_MIN_SIZE = 15  # torchvision's meta (its ceil_mode pools keep a 1x1 map)
GOOGLENET_AUX_MIN_SIZE = 65  # the stride-16 map must be 5x5 for the aux 5x5 pooling
# The paper gives no LRN constants; these are the authors' reference Caffe model's
# (BVLC GoogLeNet: local_size 5, alpha 1e-4, beta 0.75, k 1), whose alpha Caffe
# divides by local_size, which LocalResponseNormalization does not.
GOOGLENET_LRN = {"size": 5, "alpha": 1e-4 / 5, "beta": 0.75, "k": 1.0}


def googlenet_module(n1x1, n3x3red, n3x3, n5x5red, n5x5, pool_proj, five=5):
    """One row of Table 1 as branches (names: torchvision's module paths)."""
    return (
        (_conv("branch1", n1x1, 1),),
        (_conv("branch2_0", n3x3red, 1), _conv("branch2_1", n3x3, 3)),
        # The paper's 5x5; torchvision uses a 3x3 here (`five`, GOOGLENET_5X5).
        (_conv("branch3_0", n5x5red, 1), _conv("branch3_1", n5x5, five)),
        (Pool("branch4_0", "max", 3, 1), _conv("branch4_1", pool_proj, 1)),
    )


# Inception V3: keras.applications.InceptionV3's stem (its layer names, with `_conv`
# and `_bn` for its convolutions and batch norms) and modules.
INCEPTION_V3_STEM = (
    _conv("conv2d_1a_3x3", 32, 3, strides=2, padding="valid"), _conv("conv2d_2a_3x3", 32, 3, padding="valid"),
    _conv("conv2d_2b_3x3", 64, 3), Pool("maxpool_3a_3x3", "max", 3, 2, "valid"),
    _conv("conv2d_3b_1x1", 80, 1, padding="valid"), _conv("conv2d_4a_3x3", 192, 3, padding="valid"),
    Pool("maxpool_5a_3x3", "max", 3, 2, "valid"),
)


def _v3_a(pool_proj):  # 35x35, Figure 5 (5x5 kept as keras/TF-slim do)
    return (
        (_conv("branch1x1", 64, 1),),
        (_conv("branch5x5_1", 48, 1), _conv("branch5x5_2", 64, 5)),
        (_conv("branch3x3dbl_1", 64, 1), _conv("branch3x3dbl_2", 96, 3), _conv("branch3x3dbl_3", 96, 3)),
        (Pool("branch_pool_pool", "avg"), _conv("branch_pool", pool_proj, 1)),
    )


def _v3_b(_):  # 35x35 -> 17x17 grid reduction
    return (
        (_conv("branch3x3", 384, 3, strides=2, padding="valid"),),
        (_conv("branch3x3dbl_1", 64, 1), _conv("branch3x3dbl_2", 96, 3),
         _conv("branch3x3dbl_3", 96, 3, strides=2, padding="valid")),
        (Pool("branch_pool", "max", 3, 2, "valid"),),
    )


def _v3_c(c7):  # 17x17, Figure 6 with n = 7
    return (
        (_conv("branch1x1", 192, 1),),
        (_conv("branch7x7_1", c7, 1), _conv("branch7x7_2", c7, 1, 7), _conv("branch7x7_3", 192, 7, 1)),
        (_conv("branch7x7dbl_1", c7, 1), _conv("branch7x7dbl_2", c7, 7, 1), _conv("branch7x7dbl_3", c7, 1, 7),
         _conv("branch7x7dbl_4", c7, 7, 1), _conv("branch7x7dbl_5", 192, 1, 7)),
        (Pool("branch_pool_pool", "avg"), _conv("branch_pool", 192, 1)),
    )


def _v3_d(_):  # 17x17 -> 8x8 grid reduction
    return (
        (_conv("branch3x3_1", 192, 1), _conv("branch3x3_2", 320, 3, strides=2, padding="valid")),
        (_conv("branch7x7x3_1", 192, 1), _conv("branch7x7x3_2", 192, 1, 7), _conv("branch7x7x3_3", 192, 7, 1),
         _conv("branch7x7x3_4", 192, 3, strides=2, padding="valid")),
        (Pool("branch_pool", "max", 3, 2, "valid"),),
    )


def _v3_e(fork_name):  # 8x8, Figure 7
    return (
        (_conv("branch1x1", 320, 1),),
        (_conv("branch3x3_1", 384, 1),
         Fork(fork_name, (_conv("branch3x3_2a", 384, 1, 3), _conv("branch3x3_2b", 384, 3, 1)))),
        (_conv("branch3x3dbl_1", 448, 1), _conv("branch3x3dbl_2", 384, 3),
         Fork(None, (_conv("branch3x3dbl_3a", 384, 1, 3), _conv("branch3x3dbl_3b", 384, 3, 1)))),
        (Pool("branch_pool_pool", "avg"), _conv("branch_pool", 192, 1)),
    )


# Inception V3 after the stem: (concat name = keras.applications', torchvision's module, module type, its argument).
# Types: A = 35x35 (arg: pool projection), B = reduction to 17x17, C = 17x17
# (arg: width of the 7x7 factorized branches), D = reduction to 8x8, E = 8x8
# (arg: keras' name for the inner concatenation; keras names mixed10's "mixed9_1").
INCEPTION_V3_TABLE = (
    ("mixed0", "Mixed_5b", "A", 32), ("mixed1", "Mixed_5c", "A", 64), ("mixed2", "Mixed_5d", "A", 64),
    ("mixed3", "Mixed_6a", "B", None),
    ("mixed4", "Mixed_6b", "C", 128), ("mixed5", "Mixed_6c", "C", 160), ("mixed6", "Mixed_6d", "C", 160),
    ("mixed7", "Mixed_6e", "C", 192),
    ("mixed8", "Mixed_7a", "D", None),
    ("mixed9", "Mixed_7b", "E", "mixed9_0"), ("mixed10", "Mixed_7c", "E", "mixed9_1"),
)
# torchvision's modules: a module's units have our names under its name (Mixed_6b.branch7x7_2),
# the stem's are ours capitalized (Conv2d_1a_3x3); the heads' units and classifiers:
INCEPTION_V3_TORCH_AUX_UNITS = (("aux_conv0", "AuxLogits.conv0"), ("aux_conv1", "AuxLogits.conv1"))
INCEPTION_V3_TORCH_CLASSIFIERS = {"predictions": "fc", "aux_predictions": "AuxLogits.fc"}
INCEPTION_V3_TORCH_AUX = ("AuxLogits.",)  # in its published file; left out without aux_logits
INCEPTION_V3_DROPOUT = {"keras": 0.0, "torchvision": 0.5}  # before the classifier (torchvision's Inception3)
_V3_TYPES = {"A": _v3_a, "B": _v3_b, "C": _v3_c, "D": _v3_d, "E": _v3_e}
INCEPTION_V3_AUX_AFTER = "mixed7"  # the last 17x17 module (paper section 4; torchvision, TF-slim)
INCEPTION_V3_MIN_SIZE = 75
INCEPTION_V3_AUX_MIN_SIZE = 299  # the aux head's 5x5 conv needs the full 17x17 grid

INCEPTION_V3_WEIGHTS = WeightFile(
    "inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
    KERAS_APPLICATIONS_URL + "inception_v3/inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
    "9a0d58056eeedaa3f26cb7ebd46da564",
)
INCEPTION_V3_WEIGHTS_NO_TOP = WeightFile(
    "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
    KERAS_APPLICATIONS_URL + "inception_v3/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
    "bcbd6486424b2319ff4ef7d526e38f63",
)

# ------------------------------------------------------------------- the graph


@dataclasses.dataclass(frozen=True)
class ConvBN:
    """How a layout builds the table's steps: Conv -> BN -> ReLU with a family's batch norm
    (epsilon 1e-3 in all) and activation names, and its pooling.

    `padding`: of strided "same" convolutions, pad_for's "same" (TensorFlow's) or
    "symmetric" (PyTorch's). `torch_pools`: the "same" poolings as PyTorch computes them
    (see `pool`)."""

    bn_momentum: float
    bn_scale: bool
    act_suffix: str
    padding: str = "same"
    torch_pools: bool = False

    def __call__(self, x, conv: Conv, name):
        padding = conv.padding
        if padding == "same":
            x, padding = pad_for(x, conv.kernel, conv.strides, self.padding, name=f"{name}_pad")
        x = layers.Conv2D(conv.filters, conv.kernel, strides=conv.strides, padding=padding,
                          use_bias=False, name=f"{name}_conv")(x)
        x = batch_norm(x, f"{name}_bn", epsilon=1e-3, momentum=self.bn_momentum, scale=self.bn_scale)
        return layers.Activation("relu", name=f"{name}{self.act_suffix}")(x)

    def pool(self, x, pool: Pool, name):
        """keras' pooling; with `torch_pools`, a "same" pooling is PyTorch's: a strided max
        pool is torchvision's ceil_mode one (zeros on the bottom/right, stride - 1 rows and
        columns, then "valid": exact, as every pooled map here follows a ReLU, and every
        window keeps an input), an average pool counts its zero padding (F.avg_pool2d's
        count_include_pad) and a stride-1 max pool is the same in both."""
        padding = pool.padding
        if self.torch_pools and padding == "same" and (pool.kind == "avg" or pool.strides > 1):
            pad = ((0, pool.strides - 1),) * 2 if pool.kind == "max" else pool.size // 2
            x, padding = layers.ZeroPadding2D(pad, name=f"{name}_pad")(x), "valid"
        cls = layers.MaxPooling2D if pool.kind == "max" else layers.AveragePooling2D
        return cls(pool.size, strides=pool.strides, padding=padding, name=name)(x)


# The layouts (knob `layout`): "keras", today's graphs; "torchvision", torchvision 0.14's.
GOOGLENET_CONV = ConvBN(bn_momentum=0.9, bn_scale=True, act_suffix="_relu")  # torch BN: eps 1e-3, momentum 0.1
INCEPTION_V3_CONV = ConvBN(bn_momentum=0.99, bn_scale=False, act_suffix="")  # keras.applications' BN defaults
GOOGLENET_OPS = {"keras": GOOGLENET_CONV,
                 "torchvision": dataclasses.replace(GOOGLENET_CONV, padding="symmetric", torch_pools=True)}
INCEPTION_V3_OPS = {"keras": INCEPTION_V3_CONV,  # torchvision's BN has gamma, torch's momentum
                    "torchvision": ConvBN(0.9, True, "", padding="symmetric", torch_pools=True)}
LAYOUT = one_of(("keras", "torchvision"))


def stem(x, taps, steps, conv_bn, lrn=False):
    """Walks a stem's convolutions and poolings; taps the map before each strided pooling."""
    stride = 1
    for step in steps:
        if isinstance(step, Conv):
            x = conv_bn(x, step, step.name)
            stride *= step.strides
        elif isinstance(step, Pool):
            taps.record(x, stride)
            x = conv_bn.pool(x, step, step.name)
            stride *= step.strides
        elif lrn:
            x = LocalResponseNormalization(**GOOGLENET_LRN, name=step.name)(x)
    return x


def inception_module(x, branches, name, conv_bn):
    """Walks one module's branches (in order) and concatenates them as `name`."""
    outputs = []
    for branch in branches:
        y = x
        for step in branch:
            if isinstance(step, Conv):
                y = conv_bn(y, step, f"{name}_{step.name}")
            elif isinstance(step, Pool):
                y = conv_bn.pool(y, step, f"{name}_{step.name}")
            else:  # Fork
                parts = [conv_bn(y, c, f"{name}_{c.name}") for c in step.convs]
                y = layers.Concatenate(name=step.name or f"{name}_{step.convs[0].name}_concat")(parts)
        outputs.append(y)
    return layers.Concatenate(name=name)(outputs)


def _check_aux(aux_logits, include_top, features_only):
    if aux_logits and (not include_top or features_only):
        raise ValueError(
            "`aux_logits=True` adds auxiliary classifiers, which need the classifier: use include_top=True and "
            f"features_only=False (received include_top={include_top}, features_only={features_only})."
        )


def _aux_error(name, min_size, aux_map):
    return ValueError(
        f"`aux_logits=True` needs input of at least {min_size}x{min_size} for {name}'s auxiliary classifier "
        f"(its 5x5 average pooling); the input gives it a {aux_map[0]}x{aux_map[1]} map. "
        "Use a larger input_shape or aux_logits=False."
    )


def googlenet_graph(x, taps, *, lrn, aux_logits, include_top, features_only, layout):
    """Table 1: the stem and the inception modules, with the paper's max pools between
    them. With aux_logits, also hands the head the maps the auxiliary classifiers read."""
    _check_aux(aux_logits, include_top, features_only)
    ops = GOOGLENET_OPS[layout]
    x = stem(x, taps, GOOGLENET_STEM, ops, lrn)
    stride, aux_inputs = 8, []
    for module_name, *widths in GOOGLENET_TABLE:
        x = inception_module(x, googlenet_module(*widths, five=GOOGLENET_5X5[layout]), module_name, ops)
        if module_name in GOOGLENET_AUX_AFTER:
            aux_inputs.append(x)
        if module_name in GOOGLENET_POOL_AFTER:
            taps.record(x, stride)
            stride *= 2
            size = GOOGLENET_MAXPOOL4[layout] if module_name == GOOGLENET_POOL_AFTER[-1] else 3
            name = f"maxpool{stride.bit_length() - 2}"
            x = ops.pool(x, Pool(name, "max", size, 2), name)
    taps.record(x, stride)
    return (x, aux_inputs) if aux_logits else x


def _googlenet_aux(x, name, classes, classifier_activation, layout):
    """Paper section 5: 5x5/3 average pool (torchvision: adaptive average pooling to 4x4),
    1x1 conv 128, FC 1024 + ReLU, dropout 0.7, FC classes."""
    if layout == "torchvision":
        x = adaptive_average_pool(x, 4, name=f"{name}_pool")
    else:
        x = layers.AveragePooling2D(5, strides=3, padding="valid", name=f"{name}_pool")(x)
    x = GOOGLENET_OPS[layout](x, _conv("conv", 128, 1), f"{name}_conv")
    x = layers.Flatten(name=f"{name}_flatten")(x)
    x = layers.Dense(1024, activation="relu", name=f"{name}_fc1")(x)
    x = layers.Dropout(0.7, name=f"{name}_dropout")(x)
    return layers.Dense(classes, activation=classifier_activation, name=f"{name}_fc2")(x)


def googlenet_head(x, *, classes, classifier_activation, dropout_rate, aux_logits, layout):
    """Global average pooling, the paper's 40% dropout, the classifier; and the two
    auxiliary classifiers after it with aux_logits."""
    x, aux_inputs = x if aux_logits else (x, ())
    x = layers.GlobalAveragePooling2D(name="avgpool")(x)
    if dropout_rate > 0:
        x = layers.Dropout(dropout_rate, name="dropout")(x)
    x = layers.Dense(classes, activation=classifier_activation, name="fc")(x)
    if not aux_logits:
        return x
    for a in aux_inputs:
        if layout == "keras" and any(d is not None and d < 5 for d in a.shape[1:3]):
            raise _aux_error("GoogLeNet", GOOGLENET_AUX_MIN_SIZE, a.shape[1:3])
        if None in a.shape[1:3]:
            raise ValueError("`aux_logits=True` needs a fixed input size (its FC layers see a flattened map); "
                             f"received an open size (auxiliary input {tuple(a.shape[1:])}).")
    return [x] + [_googlenet_aux(a, f"aux{i}", classes, classifier_activation, layout)
                  for i, a in enumerate(aux_inputs, start=1)]


def inception_v3_graph(x, taps, *, aux_logits, include_top, features_only, layout):
    """keras.applications.InceptionV3's stem and modules, in keras' creation order.
    With aux_logits, also hands the head mixed7, which the auxiliary classifier reads."""
    _check_aux(aux_logits, include_top, features_only)
    ops = INCEPTION_V3_OPS[layout]
    x = stem(x, taps, INCEPTION_V3_STEM, ops)
    stride, aux_input = 8, None
    for module_name, _, kind, arg in INCEPTION_V3_TABLE:
        if kind in ("B", "D"):
            taps.record(x, stride)
            stride *= 2
        x = inception_module(x, _V3_TYPES[kind](arg), module_name, ops)
        if module_name == INCEPTION_V3_AUX_AFTER:
            aux_input = x
    taps.record(x, stride)
    return (x, aux_input) if aux_logits else x


def _inception_v3_aux(x, classes, classifier_activation, layout):
    """Section 4 / torchvision's InceptionAux: 5x5/3 average pool, 1x1 conv 128,
    5x5 conv 768 (valid), global average pool, FC classes; all convs with BN (the
    paper's "BN-auxiliary")."""
    x = layers.AveragePooling2D(5, strides=3, padding="valid", name="aux_pool")(x)
    x = INCEPTION_V3_OPS[layout](x, _conv("conv0", 128, 1), "aux_conv0")
    x = INCEPTION_V3_OPS[layout](x, _conv("conv1", 768, 5, padding="valid"), "aux_conv1")
    x = layers.GlobalAveragePooling2D(name="aux_avg_pool")(x)
    return layers.Dense(classes, activation=classifier_activation, name="aux_predictions")(x)


def inception_v3_head(x, *, classes, classifier_activation, aux_logits, layout):
    """keras.applications' classifier (torchvision's: with 50% dropout before it); with
    aux_logits, the auxiliary one after it (its layers created after keras' ones, so they
    do not shift the creation order)."""
    x, aux_input = x if aux_logits else (x, None)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if INCEPTION_V3_DROPOUT[layout]:
        x = layers.Dropout(INCEPTION_V3_DROPOUT[layout], name="dropout")(x)
    x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    if not aux_logits:
        return x
    if any(d is not None and d < 17 for d in aux_input.shape[1:3]):
        raise _aux_error("InceptionV3", INCEPTION_V3_AUX_MIN_SIZE, aux_input.shape[1:3])
    return [x, _inception_v3_aux(aux_input, classes, classifier_activation, layout)]


# ------------------------------------------------------------------- loading weights

_AUTO_NAME = re.compile(r"^(.*?)(?:_(\d+))?$")


def _inception_v3_units():
    """(our prefix, torchvision's module) of the main network's conv-BN-ReLU units, in
    creation order (keras')."""
    units = [(step.name, step.name.capitalize()) for step in INCEPTION_V3_STEM if isinstance(step, Conv)]
    for module_name, torch_module, kind, arg in INCEPTION_V3_TABLE:
        for branch in _V3_TYPES[kind](arg):
            for step in branch:
                convs = step.convs if isinstance(step, Fork) else (step,) if isinstance(step, Conv) else ()
                units += [(f"{module_name}_{c.name}", f"{torch_module}.{c.name}") for c in convs]
    return units


def _inception_v3_conv_names():
    """The prefixes of the main network's conv-BN-ReLU units, in creation order (keras')."""
    return [ours for ours, _ in _inception_v3_units()]


def inception_v3_torch_names(model):
    """{our layer: torchvision's module} for a torchvision Inception3 state_dict: each unit's
    `<prefix>_conv` / `_bn` is `<module>.conv` / `.bn` (Mixed_6b.branch7x7_2.conv), and the heads'."""
    table = dict(INCEPTION_V3_TORCH_CLASSIFIERS)
    for ours, theirs in [*_inception_v3_units(), *INCEPTION_V3_TORCH_AUX_UNITS]:
        table.update({f"{ours}_conv": f"{theirs}.conv", f"{ours}_bn": f"{theirs}.bn"})
    return {layer.name: table[layer.name] for layer in model.layers if layer.name in table}


def load_keras_inception_v3(model, path):
    """Loads a keras.applications.InceptionV3 weight file (or one of ours) into `model`.

    Keras 3 formats (.keras, .weights.h5) key layers by class and rank, which
    match because our graph has keras' structure; `load_weights_by_name` does it.
    Legacy .h5 files are keyed by layer name. Ours load by name. keras'
    (its published ImageNet files included) carry its automatic names
    (conv2d_N, batch_normalization_N, numbered in creation order), so they are
    matched in creation order, the order in which both builders create layers.
    """
    prefixes = _inception_v3_conv_names()
    conv_names, bn_names = [f"{p}_conv" for p in prefixes], [f"{p}_bn" for p in prefixes]

    def creation_order(arrays):
        if all(n in arrays for n in conv_names):
            return {}
        by_base = {}
        for key in arrays:
            base, number = _AUTO_NAME.match(key).groups()
            by_base.setdefault(base, []).append((int(number or 0), key))
        renamed = {}
        for base, ours in (("conv2d", conv_names), ("batch_normalization", bn_names)):
            theirs = [key for _, key in sorted(by_base.get(base, []))]
            if len(theirs) != len(ours):
                raise ValueError(
                    f"Weights in {str(path)!r} do not fit model {model.name!r}: {len(theirs)} {base} layers in the file, "
                    f"{len(ours)} in the model. Expected a keras.applications.InceptionV3 file."
                )
            renamed.update(zip(ours, theirs))
        return renamed

    load_weights_by_name(model, path, rename=creation_order)


def _main_view_without_aux(load):
    """`load`, but a file without the auxiliary heads (keras.applications', or one
    saved from `inference_model`) loads into the main-output view; the heads keep
    their random initialization."""

    def load_into(model, path):
        if len(model.outputs) == 1:
            return load(model, path)
        try:
            load(model, path)
        except ValueError:
            load(keras.Model(model.inputs, model.outputs[0], name=model.name), path)

    return load_into


def inference_model(model):
    """The model without its auxiliary classifiers: the main output only.

    For a model built with `aux_logits=True` (trained with the auxiliary losses),
    returns a Model on the same input whose single output is the main classifier;
    it shares the trained layers (no copy), so predictions equal the main output
    of `model`. Use it for evaluation, saving and TFLite export. A model with one
    output is returned unchanged.
    """
    if not isinstance(model, keras.Model):
        raise ValueError(f"`model` must be a keras.Model; received {type(model).__name__}.")
    if len(model.outputs) == 1:
        return model
    return keras.Model(model.inputs, model.outputs[0], name=model.name)


googlenet_inference_model = inference_model
inception_v3_inference_model = inference_model

# ------------------------------------------------------------------------ the builders


AUX_LOGITS = boolean("True (training: main + auxiliary outputs) or False")

GoogLeNet = Family(
    "GoogLeNet", graph=googlenet_graph, head=googlenet_head, preprocessing=_common.preprocessing,
    knobs={"aux_logits": False, "dropout_rate": 0.4, "lrn": False, "layout": "keras"},
    order=("include_top", "weights", "input_tensor", "input_shape", "pooling", "classes", "classifier_activation",
           "aux_logits", "dropout_rate", "lrn", "include_preprocessing", "name", "features_only", "out_strides",
           "layout"),
    checks={"aux_logits": AUX_LOGITS, "dropout_rate": rate("0.4 (the paper's)"), "lrn": boolean(), "layout": LAYOUT},
    min_size=lambda knobs: GOOGLENET_TORCHVISION_MIN_SIZE if knobs["layout"] == "torchvision" else GOOGLENET_MIN_SIZE,
    default_name=lambda knobs, rows: "googlenet",
    no_imagenet="keras.applications publishes no GoogLeNet weights; pass weights=None or a file",
    load_weights=_main_view_without_aux(load_weights_by_name),  # no ImageNet file: reads the others
    torch_optional=GOOGLENET_TORCH_AUX,
).builder(doc="""GoogLeNet (Inception V1), the network of the paper's Table 1.

    Follows torchvision's `googlenet` (BatchNorm after every convolution, with
    `transform_input` off; layer names are its module paths, e.g.
    `inception4a_branch2_1_conv`) except where torchvision departs from the
    paper: the "5x5" branch here is the paper's 5x5 convolution (torchvision uses
    a 3x3, a known quirk of its port), which adds
    16 * sum(#5x5 reduce * #5x5) = 380,928 weights: 7,005,832 trainable parameters
    against torchvision's 6,624,904 (both exclude the auxiliary heads and the BN
    running statistics; `count_params()` adds those statistics, 2 x 7,280). The
    paper's "6.8M" sums Table 1's params column, whose K is 1024: our kernels
    total 6,990,272 = 6,826 such K. The max pool after inception4e is the
    paper's 3x3/2 (torchvision: 2x2/2), the dropout before the classifier the
    paper's 40% (torchvision: 20%); neither changes the count. `layout="torchvision"`
    builds torchvision's graph itself, for its checkpoints.

    Args:
        include_top, weights, input_tensor, input_shape, pooling, classes,
        classifier_activation: as keras.applications (default input 224x224,
            minimum 32x32; 65x65 with `aux_logits`). No ImageNet weights are
            published for it by keras.applications: `weights` is None or a file.
        aux_logits: add the paper's two auxiliary classifiers (after inception4a
            and inception4d: 5x5/3 average pool, 1x1 conv 128, FC 1024 + ReLU,
            dropout 70%, FC classes). The model then has three outputs
            [main, aux1, aux2]; train with the paper's loss weights (section 5:
            the auxiliary losses weighted by 0.3),
            `model.compile(loss=[loss] * 3, loss_weights=[1.0, 0.3, 0.3])`, fit on
            `(labels, labels, labels)`, and drop the heads
            with `inference_model(model)` before export. Their FC 1024 sees the
            flattened 4x4x128 map at 224x224 (2048 inputs); at other sizes its input
            width follows the map size. Default False (inference, export).
        dropout_rate: dropout before the classifier (paper: 0.4).
        lrn: add the paper's local response normalization after the stem's first
            max pool and after conv3 (layers `lrn1`, `lrn2`; constants of the
            authors' Caffe model, GOOGLENET_LRN). Default False: torchvision, like
            most ports, leaves it out, BN doing its job. No weights.
        include_preprocessing: add a Rescaling layer so the model takes [0, 255]
            pixels; False expects [-1, 1] inputs (the Inception convention of
            TF-slim and keras.applications.inception_v3.preprocess_input).
        name, features_only, out_strides: as the other builders (feature maps at
            strides 2, 4, 8, 16, 32: conv1, conv3, inception3b, 4e, 5b).
        layout: "keras" (default): the paper's graph above. "torchvision":
            torchvision 0.14's `googlenet`, which its state_dict files load into
            (weights="...pth"; names are its module paths) and reproduce: 3x3 for
            the "5x5", conv1 padded 3 on every side, ceil_mode max pools, a 2x2/2
            pool after inception4e, adaptive 4x4 pooling in the auxiliary heads
            (any fixed size); 6,624,904 parameters, minimum 15x15. Its
            IMAGENET1K_V1 set (`create_model("googlenet", weights="torchvision")`)
            holds the (untrained) auxiliary heads: they load with aux_logits=True
            and are left out without. torchvision's googlenet(weights=...) sets
            transform_input: the network sees (x - 0.5) / 0.5 of [0, 1] pixels,
            the [-1, 1] that include_preprocessing gives.
    """)

InceptionV1 = GoogLeNet

InceptionV3 = Family(
    "InceptionV3", graph=inception_v3_graph, head=inception_v3_head, preprocessing=_common.preprocessing,
    knobs={"aux_logits": False, "layout": "keras"},
    # keras.applications.InceptionV3's order and `name` default, then ours (issue 21).
    order=("include_top", "weights", "input_tensor", "input_shape", "pooling", "classes", "classifier_activation",
           "name", "aux_logits", "include_preprocessing", "features_only", "out_strides", "layout"),
    defaults={"name": "inception_v3"},
    checks={"aux_logits": AUX_LOGITS, "layout": LAYOUT},
    default_size=299, min_size=lambda knobs: INCEPTION_V3_MIN_SIZE,
    default_name=lambda knobs, rows: "inception_v3",
    imagenet=lambda knobs, rows, has_top: (
        ((INCEPTION_V3_WEIGHTS if has_top else INCEPTION_V3_WEIGHTS_NO_TOP), None) if knobs["layout"] == "keras" else
        (None, "keras.applications' files are for layout='keras' (no BN scales); layout='torchvision' takes "
               "torchvision's checkpoint (a .pth path)")),
    load_weights=_main_view_without_aux(load_keras_inception_v3),
    torch_names=inception_v3_torch_names,
    torch_optional=INCEPTION_V3_TORCH_AUX,
).builder(doc="""Inception V3, exactly keras.applications.InceptionV3 (23,851,784 parameters).

    keras.applications names its convolutions and batch norms automatically
    (conv2d_N, batch_normalization_N), names that depend on what was built
    before in the session; ours are descriptive (torchvision's module names under
    keras' concatenation names: `mixed4_branch7x7dbl_3_conv`, `..._bn`, and the
    activation `mixed4_branch7x7dbl_3`). Its weights load all the same: layers
    are created in keras' order, in a graph of keras' structure, so the Keras 3
    files (.keras, .weights.h5, keyed by class and rank) match layer for layer,
    and its legacy .h5 files, the published ImageNet ones included, are matched
    by their automatic names' creation order (`weights="imagenet"` uses them).

    Args:
        include_top, weights, input_tensor, input_shape, pooling, classes,
        classifier_activation, name: as keras.applications, in its order (default
            input 299x299, minimum 75x75; name "inception_v3"), except weights=None.
        aux_logits: add the paper's auxiliary classifier on the last 17x17 module
            (mixed7; torchvision's / TF-slim's InceptionAux: 5x5/3 average pool,
            1x1 conv 128, 5x5 conv 768, FC classes, BN after the convs), which
            keras.applications leaves out. The model then has two outputs
            [main, aux]; the paper gives no loss weight, TF-slim's and
            torchvision's training scripts use 0.4 (`loss_weights=[1.0, 0.4]`). torchvision's 27,161,264
            parameters include this head (our trainable count plus the 18,112
            BN scales that Keras' InceptionV3 leaves out, exactly). Needs 299x299
            or larger. With weights from keras.applications the head stays random.
            Drop it with `inference_model(model)`.
        include_preprocessing: add a Rescaling layer so the model takes [0, 255]
            pixels. False, as keras.applications (inputs in [-1, 1] from
            `keras.applications.inception_v3.preprocess_input`).
        features_only, out_strides: as the other builders (feature maps at
            strides 2, 4, 8, 16, 32: conv2d_2b_3x3, conv2d_4a_3x3, mixed2, mixed7,
            mixed10; "valid" paddings make them 147, 71, 35, 17, 8 at 299).
        layout: "keras" (default): keras.applications' graph above. "torchvision":
            torchvision 0.14's `inception_v3`, which its state_dict files load into
            (weights="...pth", module names mapped by `inception_v3_torch_names`)
            and reproduce: BN with scales (gamma), average pools that count their
            zero padding, 50% dropout before the classifier; 27,161,264
            parameters with aux_logits=True, as torchvision counts. Its
            IMAGENET1K_V1 set (`create_model("inception_v3", weights="torchvision")`)
            holds the AuxLogits head: it loads with aux_logits=True and is left
            out without. torchvision's inception_v3(weights=...) sets
            transform_input: the network sees (x - 0.5) / 0.5 of [0, 1] pixels,
            the [-1, 1] that include_preprocessing gives.
            keras.applications' files (weights="imagenet") need "keras".
    """)

# ------------------------------------------------------------------------ the registry
# Each builder is its one network (no variants to declare): registered as it is.

register_model(
    "googlenet", GoogLeNet, family="inception", paper="Going Deeper with Convolutions (CVPR 2015)",
    arxiv="1409.4842", default_size=224, paper_params_m=6.8, paper_macs_m=1500,
    figures_source="paper (Table 1's params and ops columns, summed)",
    reference="torchvision.models.googlenet (with the paper's 5x5 convolutions)",
    note=("Table 1 prints 34M multiply-adds for conv1, but a 7x7x3 convolution to 64 maps at 112x112 "
          "costs 118M (and inception 5a's row, 54M, does not follow from its widths: 51M); corrected, "
          "the table sums to the 1.58G we measure. torchvision's googlenet, with 3x3 convolutions where "
          "the paper has 5x5, publishes 1.498 GFLOPS: ours less that difference."),
)
register_model(
    "inception_v3", InceptionV3, family="inception",
    paper="Rethinking the Inception Architecture for Computer Vision (CVPR 2016)", arxiv="1512.00567",
    default_size=299, paper_params_m=23.85, paper_macs_m=5000,
    figures_source="paper abstract for MACs ('5 billion multiply-adds', '< 25 million parameters'); "
                   "params from keras.applications.InceptionV3 (23,851,784)",
    reference="keras.applications.InceptionV3",
    note=("The abstract's '5 billion multiply-adds' is a rounded figure; the network it specifies "
          "(keras.applications' and torchvision's inception_v3 alike) costs 5.71G; torchvision publishes "
          "5.713 GFLOPS."),
)
