"""AlexNet (Krizhevsky, Sutskever & Hinton, "ImageNet Classification with Deep
Convolutional Neural Networks", NIPS 2012) and ZFNet (Zeiler & Fergus,
"Visualizing and Understanding Convolutional Networks", ECCV 2014,
arXiv:1311.2901): five convolutions and three fully connected layers, written as
two tables that one builder walks.

AlexNet is torchvision's single-tower form (torchvision.models.alexnet, the
"one weird trick" variant, arXiv:1404.5997): 64-192-384-256-256 filters instead of
the paper's two-GPU 96-256-384-384-256, no grouping, no LRN, and an adaptive
average pooling to 6x6 before the classifier. It has 61,100,840 parameters, as
torchvision; the paper's two-tower network has "60 million" (1.8% fewer).
`lrn=True` adds the paper's local response normalization (k=2, n=5, alpha=1e-4,
beta=0.75) after the first and second convolutions (after their ReLU, before the
pooling, as in the paper's section 3.5); it has no weights.

ZFNet is the paper's Figure 3: 96 7x7/2, 3x3/2 max pooling, contrast
normalization, 256 5x5/2, pooling, normalization, 384 3x3, 384 3x3, 256 3x3,
pooling, 4096, 4096, classes, at 224x224; dropout 0.5 on the outputs of layers 6
and 7. The map sizes of Figure 3 (110, 55, 26, 13, 13, 13, 6) come from Caffe's
conventions, reproduced here: the first convolution pads 1 and every max pooling
rounds its output size up (Caffe's ceil mode: one row and column of zeros after
the map, exact because pooling follows a ReLU). The paper prints no totals, and
no reference implementation publishes any: measured here (kl.profile), this
architecture has 62,357,608 parameters and 1.17G multiply-adds at 224.

Layer names are torchvision's module paths in `features` (features_0, ...); the
normalization layers, which torchvision lacks, are lrn1 and lrn2 and shift no
index, so AlexNet's weights move between lrn=False and lrn=True. The classifier's
layers are numbered by the table's rows (classifier_1, classifier_3, classifier_4),
where torchvision's Sequential also counts each ReLU (classifier.1, .4, .6):
`torch_names` maps them, so torchvision's checkpoints load (weights="x.pth").
"""

import dataclasses
import functools
from typing import Optional, Tuple

from keras import layers

from keras_lightnets.layers.normalization import LocalResponseNormalization
from keras_lightnets.layers.pooling import adaptive_average_pool
from keras_lightnets.layers.preprocessing import torch_preprocessing
from keras_lightnets.models._conv_table import flatten
from keras_lightnets.models._conv_table import max_pool
from keras_lightnets.models._conv_table import min_input_size
from keras_lightnets.models._family import Family
from keras_lightnets.models._family import one_of
from keras_lightnets.models._family import rate
from keras_lightnets.registry import register_model

__all__ = ["AlexNet", "ZFNet"]

# ------------------------------------------------------------ the architecture as data


@dataclasses.dataclass(frozen=True)
class ConvFCTable:
    """Five convolutions and three fully connected layers.

    `features`, in order: ("conv", filters, kernel, stride, padding) followed by a
    ReLU; ("pool", kernel, stride, ceil_mode) max pooling, ceil_mode rounding the
    output size up (Caffe); ("lrn",) the paper's local response normalization.
    `adaptive_pool`: the size the last map is adaptive-pooled to (None: flattened
    as is). `head`: ("dropout",), ("fc", units) followed by a ReLU, ("classifier",).
    """

    features: Tuple[tuple, ...]
    adaptive_pool: Optional[int]
    head: Tuple[tuple, ...]

    def rows(self, lrn=None):
        """The features with (True) or without (False) the normalization rows, or as written (None)."""
        return tuple(row for row in self.features if lrn is not False or row[0] != "lrn")


ALEXNET = ConvFCTable(
    features=(
        ("conv", 64, 11, 4, 2), ("lrn",), ("pool", 3, 2, False),
        ("conv", 192, 5, 1, 2), ("lrn",), ("pool", 3, 2, False),
        ("conv", 384, 3, 1, 1),
        ("conv", 256, 3, 1, 1),
        ("conv", 256, 3, 1, 1), ("pool", 3, 2, False),
    ),
    adaptive_pool=6,
    head=(("dropout",), ("fc", 4096), ("dropout",), ("fc", 4096), ("classifier",)),  # torchvision's order
)
ZFNET = ConvFCTable(
    features=(
        ("conv", 96, 7, 2, 1), ("pool", 3, 2, True), ("lrn",),
        ("conv", 256, 5, 2, 0), ("pool", 3, 2, True), ("lrn",),
        ("conv", 384, 3, 1, 1),
        ("conv", 384, 3, 1, 1),
        ("conv", 256, 3, 1, 1), ("pool", 3, 2, True),
    ),
    adaptive_pool=None,
    head=(("fc", 4096), ("dropout",), ("fc", 4096), ("dropout",), ("classifier",)),  # the paper's
)
LRN = {"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 2.0}  # AlexNet section 3.3; ZFNet reuses it

# ------------------------------------------------------------------- the graph


def _conv(x, filters, kernel, stride, padding, name):
    if stride == 1 and 2 * padding == kernel - 1:
        return layers.Conv2D(filters, kernel, padding="same", name=name)(x)  # the same symmetric padding
    if padding:
        x = layers.ZeroPadding2D(padding, name=f"{name}_pad")(x)
    return layers.Conv2D(filters, kernel, strides=stride, padding="valid", name=name)(x)


def graph(x, taps, *, table, lrn=None):
    """Walks the table's features (layer names: torchvision's `features` indices; the
    normalizations, which torchvision lacks, are lrn1 and lrn2 and shift no index)."""
    index, stride, lrn_count = 0, 1, 0
    for row in table.rows(lrn):
        kind = row[0]
        if kind in ("conv", "pool") and row[-2 if kind == "conv" else 2] > 1 and stride > 1:
            taps.record(x, stride)  # the last tensor at this stride
        if kind == "conv":
            _, filters, kernel, conv_stride, padding = row
            x = _conv(x, filters, kernel, conv_stride, padding, f"features_{index}")
            x = layers.ReLU(name=f"features_{index + 1}")(x)
            index, stride = index + 2, stride * conv_stride
        elif kind == "pool":
            _, kernel, pool_stride, ceil_mode = row
            x = max_pool(x, kernel, pool_stride, ceil_mode, f"features_{index}")
            index, stride = index + 1, stride * pool_stride
        else:
            lrn_count += 1
            x = LocalResponseNormalization(**LRN, name=f"lrn{lrn_count}")(x)
    taps.record(x, stride)
    return x


def head(x, *, table, network, classes, classifier_activation, dropout_rate):
    """The table's classifier on the flattened (AlexNet: first adaptive-pooled) map.
    A dropout row ahead of the first fc (torchvision's AlexNet) drops from the pooled
    map just before the Flatten: the same element-wise dropout, and the first Dense
    stays fed by the Flatten, which is where load_state_dict finds that a PyTorch
    checkpoint's weights were flattened in C,H,W order."""
    if table.adaptive_pool and None not in x.shape[1:3]:  # an open size: flatten's error below
        x = adaptive_average_pool(x, table.adaptive_pool, name="avgpool")
    leading = next(i for i, row in enumerate(table.head) if row[0] != "dropout")
    for index in range(leading):
        x = layers.Dropout(dropout_rate, name=f"classifier_{index}")(x)
    x = flatten(x, network)
    for index, row in enumerate(table.head):
        if index < leading:
            continue
        if row[0] == "dropout":
            x = layers.Dropout(dropout_rate, name=f"classifier_{index}")(x)
        elif row[0] == "fc":
            x = layers.Dense(row[1], name=f"classifier_{index}")(x)
            x = layers.ReLU(name=f"classifier_{index}_relu")(x)
        else:
            x = layers.Dense(classes, activation=classifier_activation, name=f"classifier_{index}")(x)
    return x


def torch_names(model, table=ALEXNET):
    """{our classifier layer: torchvision module}: the table's head rows numbered as
    torchvision's Sequential numbers them (a ReLU after each hidden Linear takes an
    index too). The `features` layers already carry torchvision's indices."""
    names, index = {}, 0
    for row, kind in enumerate(r[0] for r in table.head):
        if kind != "dropout":
            names[f"classifier_{row}"] = f"classifier.{index}"
        index += 2 if kind == "fc" else 1
    return names


# ------------------------------------------------------------------------ the builders


def _family(name, table, knobs, order, **parts):
    """AlexNet and ZFNet: the same walk over their own tables."""
    network = name.lower()
    return Family(
        name, graph=functools.partial(graph, table=table), head=functools.partial(head, table=table, network=network),
        preprocessing=torch_preprocessing, knobs=knobs, order=order,
        checks={"dropout_rate": rate("0.5 (the paper's)"),
                **({"lrn": one_of((None, True, False), "True or False")} if "lrn" in knobs else {})},
        defaults={"include_preprocessing": True},
        min_size=lambda knobs: min_input_size(table.rows(knobs.get("lrn"))),
        default_name=lambda knobs, rows: network,
        no_imagenet=f"no ImageNet weights are published for {network} in a Keras format (torchvision's are PyTorch files)",
        **parts,
    )


AlexNet = _family(
    "AlexNet", ALEXNET, {"dropout_rate": 0.5, "lrn": False},
    order=("include_top", "weights", "input_tensor", "input_shape", "pooling", "classes", "classifier_activation",
           "dropout_rate", "lrn", "include_preprocessing", "name", "features_only", "out_strides"),
    torch_names=torch_names,
).builder(doc="""AlexNet as torchvision.models.alexnet (61.1M parameters), keras.applications-style.

    Args:
        include_top: add adaptive average pooling to 6x6 -> dropout -> 4096 ->
            dropout -> 4096 -> classes (torchvision's classifier).
        weights: None or a weights file path: a Keras file, or a PyTorch
            checkpoint of torchvision's alexnet (its module names map to ours).
            No ImageNet file is published in a Keras format; "imagenet" raises.
        input_tensor: optional Keras tensor to build the model on.
        input_shape: (height, width, channels), 63x63 or more (the smallest size
            whose last pooling still has a 3x3 window, as in torchvision). With
            include_top the size must be fixed; the last map (6x6 at 224, 1x1 at
            63-94) is adaptive-pooled to 6x6 with PyTorch's bins, so outputs match
            torchvision's at every size.
        pooling: None, "avg" or "max", for include_top=False.
        classes: classifier width.
        classifier_activation: activation of the classifier, None for logits.
        dropout_rate: dropout before fc6 and fc7 (torchvision's places; 0.5).
        lrn: add the paper's local response normalization after conv1 and conv2
            (False: torchvision's network).
        include_preprocessing: take [0, 255] RGB pixels, normalized with the
            ImageNet mean/std of torchvision's weights (keras' "torch" mode).
            True by default: keras.applications has no AlexNet to be a drop-in for.
        name: model name.
        features_only: return the feature maps at `out_strides` (4, 8, 16, 32).
    """)

ZFNet = _family(
    "ZFNet", ZFNET, {"dropout_rate": 0.5},
    order=("include_top", "weights", "input_tensor", "input_shape", "pooling", "classes", "classifier_activation",
           "dropout_rate", "include_preprocessing", "name", "features_only", "out_strides"),
).builder(doc="""ZFNet, the paper's Figure 3 (62.4M parameters at 224x224, measured here), keras.applications-style.

    Args:
        include_top: add Flatten -> 4096 -> dropout -> 4096 -> dropout -> classes
            (the paper's layers 6-8; fc6's width follows the input size, 6x6x256
            at the paper's 224x224).
        weights: None or a weights file path ("imagenet" raises: none published).
        input_tensor: optional Keras tensor to build the model on.
        input_shape: (height, width, channels), 47x47 or more; 224x224 by default.
        pooling: None, "avg" or "max", for include_top=False.
        classes: classifier width.
        classifier_activation: activation of the classifier, None for logits.
        dropout_rate: dropout on the outputs of layers 6 and 7 (the paper's 0.5).
        include_preprocessing: take [0, 255] RGB pixels (ImageNet mean/std
            normalization, keras' "torch" mode; the paper subtracts a per-pixel
            mean image instead).
        name: model name.
        features_only: return the feature maps at `out_strides` (2, 4, 8, 16, 32).
    """)

# ------------------------------------------------------------------------ the registry
# Each builder is its one network (no variants to declare): registered as it is.

register_model(
    "alexnet", AlexNet, family="alexnet",
    paper="ImageNet Classification with Deep Convolutional Neural Networks (NIPS 2012)", arxiv="",
    default_size=224, paper_params_m=60, paper_macs_m=714,
    figures_source="paper (params: '60 million'); MACs: torchvision's AlexNet_Weights metadata "
                   "(_ops 0.714 GFLOPS = multiply-adds; the paper prints none)",
    reference="torchvision.models.alexnet",
    note="torchvision's single-tower AlexNet (61.1M) rather than the paper's two-tower network (60M)",
)
register_model(
    "zfnet", ZFNet, family="zfnet",
    paper="Visualizing and Understanding Convolutional Networks (ECCV 2014)", arxiv="1311.2901",
    default_size=224, paper_params_m=None, paper_macs_m=None,
    figures_source="measured here, no published figure (the paper prints no totals; ours are of its Figure 3's layers)",
    reference=None,
)
