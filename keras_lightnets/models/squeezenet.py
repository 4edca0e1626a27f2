"""SqueezeNet (Iandola et al., "SqueezeNet: AlexNet-level accuracy with 50x fewer
parameters and <0.5MB model size", arXiv:1602.07360, 2016), versions 1.0 (the
paper's Table 1) and 1.1 (the authors' DeepScale/SqueezeNet repository: 3x3/64
first convolution, pooling moved earlier, "2.4x less computation"), as tables of
fire modules that one builder walks.

Both are exactly torchvision's `squeezenet1_0` / `squeezenet1_1`: layer names
(its module paths, `.` -> `_`), conv biases and parameter counts (1,248,424 and
1,235,496; the paper's Table 1 total is 1,248,424), valid (unpadded) first
convolution and max pooling in ceil mode (the paper's Caffe models; an extra
row and column of zeros after the map, exact after a ReLU). The classifier is
the paper's: dropout 50%, a 1x1 convolution to the classes, ReLU, global
average pooling (the predictions are softmax of non-negative scores, as in the
paper and torchvision). Weights are initialized as torchvision's (He uniform,
the classifier N(0, 0.01)): with Keras' default the network does not train.

Where the paper and torchvision differ: the paper's Table 1 lists 111x111 maps
after conv1, i.e. 227x227 input (the Caffe model's); torchvision and we default
to 224 (conv1: 109x109), so at 224 1.0 has 819M MACs (torchvision's figure;
1.1: 349M, 2.35x less). The network takes any input from 21x21 (1.1: 17x17),
its true minimum, as torchvision's; its output stride is 16, so backbone mode
offers strides 2, 4, 8, 16.

`bypass="simple"` adds the paper's simple bypass (section 6): identity
shortcuts around the fire modules whose input and output widths match (fire3,
5, 7, 9), which adds no parameters. No ImageNet weights are published in a Keras
format (torchvision's are PyTorch files); `weights` takes None or a weights file.
"""

import keras
from keras import layers

from keras_lightnets.layers.preprocessing import torch_preprocessing
from keras_lightnets.models._conv_table import max_pool
from keras_lightnets.models._conv_table import min_input_size
from keras_lightnets.models._family import Family
from keras_lightnets.models._family import one_of
from keras_lightnets.models._family import rate
from keras_lightnets.models._family import variant

__all__ = ["SqueezeNet"]  # and each variant, added by @variant

# ------------------------------------------------------------ the architecture as data

# Rows as in models/_conv_table.py ("conv", filters, kernel, stride, padding) + ReLU;
# ("pool", kernel, stride, ceil_mode) max pooling; and ("fire", squeeze 1x1,
# expand 1x1, expand 3x3) filters.
VERSIONS = {
    "1_0": (  # the paper's Table 1
        ("conv", 96, 7, 2, 0), ("pool", 3, 2, True),
        ("fire", 16, 64, 64), ("fire", 16, 64, 64), ("fire", 32, 128, 128), ("pool", 3, 2, True),
        ("fire", 32, 128, 128), ("fire", 48, 192, 192), ("fire", 48, 192, 192), ("fire", 64, 256, 256),
        ("pool", 3, 2, True),
        ("fire", 64, 256, 256),
    ),
    "1_1": (  # DeepScale/SqueezeNet SqueezeNet_v1.1
        ("conv", 64, 3, 2, 0), ("pool", 3, 2, True),
        ("fire", 16, 64, 64), ("fire", 16, 64, 64), ("pool", 3, 2, True),
        ("fire", 32, 128, 128), ("fire", 32, 128, 128), ("pool", 3, 2, True),
        ("fire", 48, 192, 192), ("fire", 48, 192, 192), ("fire", 64, 256, 256), ("fire", 64, 256, 256),
    ),
}
BYPASS_KINDS = (None, "simple")
# torchvision's initialization (its kaiming_uniform_ is He uniform; the final conv is
# N(0, 0.01)). Keras' Glorot default shrinks the signal 5x in every expand layer
# (fan-in 16 to 64, fan-out 64 to 256), and the ReLU before the pooled scores then
# leaves nothing to train: the network stays at chance.
KERNEL_INIT = "he_uniform"
DEFAULT_OUT_STRIDES = (4, 8, 16)

# ------------------------------------------------------------------- the graph


def fire(x, squeeze, expand1x1, expand3x3, prefix, bypass=None):
    """The fire module (section 3.2): a 1x1 squeeze layer, then 1x1 and 3x3
    expand layers side by side, concatenated; every conv has a bias and a ReLU.
    With bypass="simple", the input is added when the widths match."""
    s = layers.Conv2D(squeeze, 1, kernel_initializer=KERNEL_INIT, name=f"{prefix}_squeeze")(x)
    s = layers.ReLU(name=f"{prefix}_squeeze_activation")(s)
    e1 = layers.Conv2D(expand1x1, 1, kernel_initializer=KERNEL_INIT, name=f"{prefix}_expand1x1")(s)
    e1 = layers.ReLU(name=f"{prefix}_expand1x1_activation")(e1)
    e3 = layers.Conv2D(expand3x3, 3, padding="same", kernel_initializer=KERNEL_INIT, name=f"{prefix}_expand3x3")(s)
    e3 = layers.ReLU(name=f"{prefix}_expand3x3_activation")(e3)
    y = layers.Concatenate(name=f"{prefix}_concat")([e1, e3])
    if bypass == "simple" and x.shape[-1] == y.shape[-1]:
        y = layers.Add(name=f"{prefix}_bypass")([x, y])
    return y


def graph(x, taps, *, version, bypass):
    """The version's table: conv1 and pools as torchvision's `features` indices, fire
    modules in between; taps the last map at each stride."""
    index, stride = 0, 1
    for row in VERSIONS[version]:
        kind = row[0]
        if kind == "conv":
            _, filters, kernel, conv_stride, padding = row  # padding 0 in both versions
            x = layers.Conv2D(filters, kernel, strides=conv_stride, padding="valid", kernel_initializer=KERNEL_INIT,
                              name=f"features_{index}")(x)
            x = layers.ReLU(name=f"features_{index + 1}")(x)
            index, stride = index + 2, stride * conv_stride
        elif kind == "pool":
            taps.record(x, stride)  # the last tensor at this stride
            _, kernel, pool_stride, ceil_mode = row
            x = max_pool(x, kernel, pool_stride, ceil_mode, f"features_{index}")
            index, stride = index + 1, stride * pool_stride
        else:
            _, squeeze, expand1x1, expand3x3 = row
            x = fire(x, squeeze, expand1x1, expand3x3, f"features_{index}", bypass)
            index += 1
    taps.record(x, stride)
    return x


def head(x, *, classes, dropout_rate, classifier_activation):
    """The paper's classifier: dropout, a 1x1 convolution to the classes, ReLU, global
    average pooling (softmax of non-negative scores, as the paper and torchvision)."""
    if dropout_rate > 0:
        x = layers.Dropout(dropout_rate, name="classifier_0")(x)
    x = layers.Conv2D(classes, 1, kernel_initializer=keras.initializers.RandomNormal(stddev=0.01), name="classifier_1")(x)
    x = layers.ReLU(name="classifier_2")(x)
    x = layers.GlobalAveragePooling2D(name="classifier_3")(x)
    return layers.Activation(classifier_activation, name="predictions")(x)


# ------------------------------------------------------------------------ the builder

SqueezeNet = Family(
    "SqueezeNet", graph=graph, head=head, preprocessing=torch_preprocessing,
    knobs={"version": "1_0", "bypass": None, "dropout_rate": 0.5},
    order=("input_shape", "version", "bypass", "include_top", "weights", "input_tensor", "classes", "pooling",
           "dropout_rate", "classifier_activation", "include_preprocessing", "name", "features_only", "out_strides"),
    checks={"version": one_of(VERSIONS), "bypass": one_of(BYPASS_KINDS, "None or 'simple' (the paper's identity bypass)"),
            "dropout_rate": rate("0.5 (the paper's)")},
    defaults={"include_preprocessing": True, "out_strides": DEFAULT_OUT_STRIDES},
    min_size=lambda knobs: min_input_size(VERSIONS[knobs["version"]]),
    static_default=False,  # open spatial dims even with the classifier (it pools globally)
    default_name=lambda knobs, rows: f"squeezenet{knobs['version']}",
    no_imagenet="no ImageNet weights are published for SqueezeNet in a Keras format (torchvision's are PyTorch files)",
).builder(doc="""SqueezeNet 1.0 (paper Table 1) or 1.1; torchvision's layer names and counts.

    Args:
        input_shape: (height, width, channels), at least 21x21 (1.1: 17x17);
            default open spatial dims (None, None, 3): give a size to profile or
            convert.
        version: "1_0" (the paper's) or "1_1" (the authors' v1.1).
        bypass: None, or "simple" for the paper's identity bypass around fire3,
            5, 7 and 9 (section 6; no extra parameters).
        include_top: add the paper's classifier (dropout, 1x1 conv to `classes`,
            ReLU, global average pooling).
        weights: None or the path of a weights file, loaded by layer name. No
            ImageNet weights exist in a Keras format.
        input_tensor: optional Keras tensor to build the model on.
        classes: classifier width.
        pooling: None, "avg" or "max", for include_top=False.
        dropout_rate: dropout before the classifier conv (the paper's 0.5).
        classifier_activation: activation on the pooled scores, None for them as is.
        include_preprocessing: take [0, 255] RGB pixels (adds torchvision's
            ImageNet mean/std normalization as layers).
        name: model name.
        features_only: return the feature maps at `out_strides` (2: conv1, 4, 8,
            16: the last fire module at each stride).
        out_strides: strides of the feature maps, default (4, 8, 16).
    """)


# ------------------------------------------------------------------------ the variants

_PAPER = "SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB model size (2016)"
# Per version: (parameters M, multiply-adds M at 224, their source).
PUBLISHED = {
    "1_0": (1.248424, 819, "paper (Table 1) for params; MACs: torchvision's model table at 224"),
    "1_1": (1.235496, 349, "torchvision's model table (no paper: the authors' v1.1 release)"),
}


def released(version):
    """A version's @variant arguments: `version` fixed, its class name as the model's, its PUBLISHED figures."""
    params_m, macs_m, source = PUBLISHED[version]
    return dict(knobs={"version": version}, model_name=f"SqueezeNet{version}", family="squeezenet", paper=_PAPER,
                arxiv="1602.07360", default_size=224, paper_params_m=params_m, paper_macs_m=macs_m,
                figures_source=source, reference=f"torchvision.models.squeezenet{version}")


@variant("squeezenet1_0", SqueezeNet, **released("1_0"))
def SqueezeNet1_0(*args, **kwargs):
    """SqueezeNet 1.0 (the paper's Table 1): torchvision's squeezenet1_0, 1,248,424 parameters; SqueezeNet's others."""


@variant("squeezenet1_1", SqueezeNet, **released("1_1"))
def SqueezeNet1_1(*args, **kwargs):
    """SqueezeNet 1.1 (the authors' v1.1): torchvision's squeezenet1_1, 1,235,496 parameters; SqueezeNet's others."""
