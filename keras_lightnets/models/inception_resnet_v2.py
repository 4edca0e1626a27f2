"""Inception-ResNet-V2 (Szegedy et al., "Inception-v4, Inception-ResNet and the Impact
of Residual Connections on Learning", AAAI 2017, arXiv:1602.07261).

The network of the paper's Figures 15 (schema), 16 (block35, "Inception-ResNet-A"), 17
(block17, "-B"), 19 (block8, "-C"), 7 and 18 (reductions), as keras.applications'
InceptionResNetV2 builds it (TF-slim's inception_resnet_v2, whose stem and mixed_5b
differ from the paper's Figure 3 stem): the modules are rows of inception branches
walked by models/inception.py's module walker with Inception V3's conv-BN-ReLU (BN
without scale, keras' defaults), and each residual block adds its 1x1 projection
(with bias, no BN) scaled by the block's factor (0.17, 0.1, 0.2; the paper's
section 3.3 residual scaling) to its input.

keras.applications' `CustomScaleLayer` (x + up * scale) is two stock layers here, a
Rescaling of the projection and an Add, which TFLite runs as MUL and ADD, both int8
(and which the QAT path quantizes). keras.applications names only some layers; its
convolutions and batch norms are otherwise `conv2d_N`, `batch_normalization_N`
(numbered in creation order, from wherever the session's counter stood). Ours are
named after TF-slim's scopes (`mixed_5b_branch_1_conv2d_0b_5x5_conv`, `..._bn`), and are
created in keras' order in a graph of keras' structure, so a Keras 3 file (.keras,
.weights.h5: keyed by class and rank) matches layer for layer, and a legacy .h5 (the
published ImageNet files) by the creation order of its automatic names.
"""

import dataclasses
import re
from typing import Optional
from typing import Tuple

from keras import layers

from keras_lightnets.models import _common
from keras_lightnets.models._family import Family
from keras_lightnets.models.inception import INCEPTION_V3_CONV
from keras_lightnets.models.inception import Conv
from keras_lightnets.models.inception import Pool
from keras_lightnets.models.inception import inception_module
from keras_lightnets.models.inception import stem
from keras_lightnets.registry import register_model
from keras_lightnets.weights import KERAS_APPLICATIONS_URL
from keras_lightnets.weights import WeightFile
from keras_lightnets.weights import load_weights_by_name

__all__ = ["InceptionResNetV2"]

# ------------------------------------------------------------ the architecture as data


def _conv(name, filters, kernel, strides=1, padding="same"):
    return Conv(name, filters, (kernel, kernel) if isinstance(kernel, int) else tuple(kernel), strides, padding)


# The stem (TF-slim's, = keras.applications'): 299 -> 35x35x192.
STEM = (
    _conv("conv2d_1a_3x3", 32, 3, strides=2, padding="valid"), _conv("conv2d_2a_3x3", 32, 3, padding="valid"),
    _conv("conv2d_2b_3x3", 64, 3), Pool("maxpool_3a_3x3", "max", 3, 2, "valid"),
    _conv("conv2d_3b_1x1", 80, 1, padding="valid"), _conv("conv2d_4a_3x3", 192, 3, padding="valid"),
    Pool("maxpool_5a_3x3", "max", 3, 2, "valid"),
)

# The modules between the residual stages: branches of convolutions and poolings,
# concatenated (keras' branch order and creation order).
MIXED_5B = (  # 35x35x320
    (_conv("branch_0_conv2d_1x1", 96, 1),),
    (_conv("branch_1_conv2d_0a_1x1", 48, 1), _conv("branch_1_conv2d_0b_5x5", 64, 5)),
    (_conv("branch_2_conv2d_0a_1x1", 64, 1), _conv("branch_2_conv2d_0b_3x3", 96, 3),
     _conv("branch_2_conv2d_0c_3x3", 96, 3)),
    (Pool("branch_3_avgpool_0a_3x3", "avg", 3, 1, "same"), _conv("branch_3_conv2d_0b_1x1", 64, 1)),
)
MIXED_6A = (  # reduction-A (Figure 7, k, l, m, n = 256, 256, 384, 384): 17x17x1088
    (_conv("branch_0_conv2d_1a_3x3", 384, 3, strides=2, padding="valid"),),
    (_conv("branch_1_conv2d_0a_1x1", 256, 1), _conv("branch_1_conv2d_0b_3x3", 256, 3),
     _conv("branch_1_conv2d_1a_3x3", 384, 3, strides=2, padding="valid")),
    (Pool("branch_2_maxpool_1a_3x3", "max", 3, 2, "valid"),),
)
MIXED_7A = (  # reduction-B (Figure 18): 8x8x2080
    (_conv("branch_0_conv2d_0a_1x1", 256, 1), _conv("branch_0_conv2d_1a_3x3", 384, 3, strides=2, padding="valid")),
    (_conv("branch_1_conv2d_0a_1x1", 256, 1), _conv("branch_1_conv2d_1a_3x3", 288, 3, strides=2, padding="valid")),
    (_conv("branch_2_conv2d_0a_1x1", 256, 1), _conv("branch_2_conv2d_0b_3x3", 288, 3),
     _conv("branch_2_conv2d_1a_3x3", 320, 3, strides=2, padding="valid")),
    (Pool("branch_3_maxpool_1a_3x3", "max", 3, 2, "valid"),),
)


@dataclasses.dataclass(frozen=True)
class ResidualStage:
    """`repeats` residual inception blocks `kind`: branches concatenated, projected back
    to the input's channels by a 1x1 convolution with bias, scaled, added."""

    kind: str  # keras' block_type: "block35", "block17", "block8"
    repeats: int
    scale: float
    branches: Tuple[Tuple[Conv, ...], ...]
    last_scale: Optional[float] = None  # the last block's factor, when it differs
    last_activation: bool = True  # whether the last block ends with ReLU


STAGES = (
    ResidualStage("block35", 10, 0.17, (  # Figure 16, 35x35
        (_conv("branch_0_conv2d_1x1", 32, 1),),
        (_conv("branch_1_conv2d_0a_1x1", 32, 1), _conv("branch_1_conv2d_0b_3x3", 32, 3)),
        (_conv("branch_2_conv2d_0a_1x1", 32, 1), _conv("branch_2_conv2d_0b_3x3", 48, 3),
         _conv("branch_2_conv2d_0c_3x3", 64, 3)))),
    ResidualStage("block17", 20, 0.1, (  # Figure 17, 17x17
        (_conv("branch_0_conv2d_1x1", 192, 1),),
        (_conv("branch_1_conv2d_0a_1x1", 128, 1), _conv("branch_1_conv2d_0b_1x7", 160, (1, 7)),
         _conv("branch_1_conv2d_0c_7x1", 192, (7, 1))))),
    ResidualStage("block8", 10, 0.2, (  # Figure 19, 8x8
        (_conv("branch_0_conv2d_1x1", 192, 1),),
        (_conv("branch_1_conv2d_0a_1x1", 192, 1), _conv("branch_1_conv2d_0b_1x3", 224, (1, 3)),
         _conv("branch_1_conv2d_0c_3x1", 256, (3, 1)))),
        # TF-slim's (and keras'): the last block8 is unscaled (1.0) and has no ReLU
        last_scale=1.0, last_activation=False),
)
# Each residual stage follows a module: (module name, its branches).
REDUCTIONS = (("mixed_5b", MIXED_5B), ("mixed_6a", MIXED_6A), ("mixed_7a", MIXED_7A))
HEAD_CONV = _conv("conv_7b", 1536, 1)  # keras names it conv_7b (and conv_7b_bn)
MIN_SIZE = 75  # keras.applications': the valid stem and three valid reductions leave 1x1

IMAGENET_FILES = {
    True: WeightFile(
        "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels.h5",
        KERAS_APPLICATIONS_URL + "inception_resnet_v2/inception_resnet_v2_weights_tf_dim_ordering_tf_kernels.h5",
        "e693bd0210a403b3192acc6073ad2e96"),
    False: WeightFile(
        "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels_notop.h5",
        KERAS_APPLICATIONS_URL + "inception_resnet_v2/inception_resnet_v2_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "d19885ff4a710c122648d3b5c3b684e4"),
}

# ------------------------------------------------------------------- the graph

CONV_BN = INCEPTION_V3_CONV  # Conv2D (no bias) -> BatchNormalization (no scale, keras' defaults) -> ReLU


def residual_block(x, stage: ResidualStage, index):
    """keras.applications' inception_resnet_block: x + scale * conv1x1(concat(branches))."""
    block = f"{stage.kind}_{index}"
    last = index == stage.repeats
    scale = stage.last_scale if last and stage.last_scale is not None else stage.scale
    activation = stage.last_activation or not last
    mixed = inception_module(x, stage.branches, f"{block}_mixed", CONV_BN)
    up = layers.Conv2D(x.shape[-1], 1, use_bias=True, name=f"{block}_conv")(mixed)
    up = layers.Rescaling(scale, name=f"{block}_scale")(up)
    x = layers.Add(name=f"{block}_add")([x, up])
    return layers.Activation("relu", name=f"{block}_ac")(x) if activation else x


def graph(x, taps):
    """The stem, then each module and its residual stage, then conv_7b."""
    x = stem(x, taps, STEM, CONV_BN)
    stride = 8
    for (module, branches), stage in zip(REDUCTIONS, STAGES):
        if module != "mixed_5b":  # the reductions halve the map
            taps.record(x, stride)
            stride *= 2
        x = inception_module(x, branches, module, CONV_BN)
        for index in range(1, stage.repeats + 1):
            x = residual_block(x, stage, index)
    x = CONV_BN(x, HEAD_CONV, HEAD_CONV.name)
    taps.record(x, stride)
    return x


def head(x, *, classes, classifier_activation):
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return layers.Dense(classes, activation=classifier_activation, name="predictions")(x)


# ------------------------------------------------------------------- loading weights

_AUTO_NAME = re.compile(r"^(conv2d|batch_normalization)(?:_(\d+))?$")


def conv_units():
    """Our conv-BN-ReLU units, in creation order (keras')."""
    units = [step.name for step in STEM if isinstance(step, Conv)]
    for (module, branches), stage in zip(REDUCTIONS, STAGES):
        units += [f"{module}_{c.name}" for branch in branches for c in branch if isinstance(c, Conv)]
        for index in range(1, stage.repeats + 1):
            units += [f"{stage.kind}_{index}_mixed_{c.name}" for branch in stage.branches for c in branch]
    return units + [HEAD_CONV.name]


def load_weights(model, path):
    """Loads keras.applications' InceptionResNetV2 files (or ours) into `model`: Keras 3
    files and ours by `load_weights_by_name`; keras' legacy .h5 files by the creation
    order of their automatic names (see the module docstring), conv_7b by its name."""
    units = conv_units()[:-1]  # keras names conv_7b itself
    ours = {"conv2d": [f"{u}_conv" for u in units], "batch_normalization": [f"{u}_bn" for u in units]}

    def creation_order(arrays):
        if all(n in arrays for n in ours["conv2d"]):
            return {}
        theirs = {}
        for key in arrays:
            match = _AUTO_NAME.match(key)
            if match:
                theirs.setdefault(match.group(1), []).append((int(match.group(2) or 0), key))
        renamed = {f"{HEAD_CONV.name}_conv": HEAD_CONV.name}
        for base, names in ours.items():
            keys = [key for _, key in sorted(theirs.get(base, []))]
            if len(keys) != len(names):
                raise ValueError(
                    f"Weights in {str(path)!r} do not fit model {model.name!r}: {len(keys)} automatically named "
                    f"{base} layers in the file, {len(names)} in the model. Expected a keras.applications."
                    "InceptionResNetV2 file (or one saved from this model).")
            renamed.update(zip(names, keys))
        return renamed

    load_weights_by_name(model, path, rename=creation_order, arguments="input size")


# ------------------------------------------------------------------------ the builder

InceptionResNetV2 = Family(
    "InceptionResNetV2", graph=graph, head=head, preprocessing=_common.preprocessing, knobs={},
    order=("include_top", "weights", "input_tensor", "input_shape", "pooling", "classes", "classifier_activation",
           "name", "include_preprocessing", "features_only", "out_strides"),
    defaults={"name": "inception_resnet_v2"}, default_size=299, min_size=lambda knobs: MIN_SIZE,
    default_name=lambda knobs, rows: "inception_resnet_v2",
    imagenet=lambda knobs, rows, has_top: (IMAGENET_FILES[has_top], None), load_weights=load_weights,
).builder(doc="""Inception-ResNet-V2, exactly keras.applications.InceptionResNetV2 (55,873,736 parameters).

    Args:
        include_top, weights, input_tensor, input_shape, pooling, classes,
        classifier_activation, name: as keras.applications (default input
            299x299, at least 75x75). `weights="imagenet"` loads its published
            files (their automatic layer names matched in creation order).
        include_preprocessing: add a Rescaling layer so the model takes [0, 255]
            pixels. False, as keras.applications (inputs in [-1, 1] from
            `keras.applications.inception_resnet_v2.preprocess_input`).
        features_only, out_strides: the feature maps at strides 2, 4, 8, 16, 32
            (conv2d_2b_3x3, conv2d_4a_3x3, block35_10, block17_20, conv_7b;
            "valid" paddings make them 147, 71, 35, 17, 8 at 299).
    """)

register_model(
    "inception_resnet_v2", InceptionResNetV2, family="inception_resnet",
    paper="Inception-v4, Inception-ResNet and the Impact of Residual Connections on Learning (AAAI 2017)",
    arxiv="1602.07261", default_size=299, paper_params_m=None, paper_macs_m=None,
    figures_source="none published in the paper (it gives no parameter or operation counts); "
                   "params and MACs measured here, equal to keras.applications.InceptionResNetV2's "
                   "(55,873,736 parameters and MACs: tests/test_inception_resnet_v2.py)",
    reference="keras.applications.InceptionResNetV2",
)
