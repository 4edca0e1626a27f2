"""DenseNet (Huang et al., "Densely Connected Convolutional Networks", CVPR 2017,
arXiv:1608.06993): the ImageNet DenseNet-BC-121/169/201/264 of Table 1 and the
CIFAR DenseNet-BC-(L, k) of Table 2.

Layer names, padding and batch-norm settings follow keras.applications.DenseNet*,
so its weight files load into these models and give the same outputs; their
trainable parameters also equal torchvision's densenet121/169/201 (7,978,856 /
14,149,480 / 20,013,928), the architecture being the paper's. The ImageNet
and CIFAR networks share one dense block / transition code
(keras_lightnets.layers.dense_blocks).

torchvision's DenseNets are the same graph (its stem's symmetric padding and
-inf-padded max pooling equal keras.applications' ZeroPadding2D after a ReLU, its
norm5 + ReLU + average pooling + classifier are our bn, relu, avg_pool,
predictions) with BatchNorm epsilon 1e-5 where keras.applications has 1.001e-5:
layout="torchvision" sets it, and `torch_names` maps our layer names to its module
paths (conv2_block1_1_conv -> features.denseblock1.denselayer1.conv1, ...).
DenseNet-161 (k=48, 96 stem filters, blocks 6-12-36-24) is torchvision's (the
authors' ImageNet model of the paper's Table 3); keras.applications has none.
"""

import re


from keras import layers

from keras_lightnets.layers import dense_blocks
from keras_lightnets.layers.preprocessing import CIFAR10_RGB_MEAN
from keras_lightnets.layers.preprocessing import CIFAR10_RGB_STD
from keras_lightnets.layers.preprocessing import standardize
from keras_lightnets.layers.preprocessing import torch_preprocessing
from keras_lightnets.models._family import Family
from keras_lightnets.models._family import one_of
from keras_lightnets.models._family import variant
from keras_lightnets.weights import KERAS_APPLICATIONS_URL
from keras_lightnets.weights import WeightFile

__all__ = ["DenseNet", "DenseNetCifar"]  # and each variant, added by @variant

# ------------------------------------------------------------ the architecture as data

# Table 1 of the paper (growth rate k=32, bottleneck 1x1 of 4k, compression 0.5):
# layers per dense block.
IMAGENET_BLOCKS = {
    "densenet121": (6, 12, 24, 16),
    "densenet169": (6, 12, 32, 32),
    "densenet201": (6, 12, 48, 32),
    "densenet264": (6, 12, 64, 48),
}
GROWTH_RATE = 32
COMPRESSION = 0.5
# The authors' wider ImageNet network (paper Table 3, k=48), torchvision's densenet161.
DENSENET161 = {"blocks": (6, 12, 36, 24), "growth_rate": 48, "stem_filters": 96}
LAYOUTS = ("keras", "torchvision")  # "torchvision": BatchNorm epsilon 1e-5, as torchvision's BatchNorm2d

# Our layer names (keras.applications') -> torchvision's module paths, by pattern.
TORCH_NAMES = (
    (r"conv1_conv", "features.conv0"),
    (r"conv1_bn", "features.norm0"),
    (r"conv(\d+)_block(\d+)_0_bn", "features.denseblock{0}.denselayer{1}.norm1"),
    (r"conv(\d+)_block(\d+)_1_conv", "features.denseblock{0}.denselayer{1}.conv1"),
    (r"conv(\d+)_block(\d+)_1_bn", "features.denseblock{0}.denselayer{1}.norm2"),
    (r"conv(\d+)_block(\d+)_2_conv", "features.denseblock{0}.denselayer{1}.conv2"),
    (r"pool(\d+)_bn", "features.transition{0}.norm"),
    (r"pool(\d+)_conv", "features.transition{0}.conv"),
    (r"bn", "features.norm5"),
    (r"predictions", "classifier"),
)

# keras.applications' published files (no-top hash second) for the configurations it has.
_IMAGENET_HASHES = {
    "densenet121": ("9d60b8095a5708f2dcce2bca79d332c7", "30ee3e1110167f948a6b9946edeeb738"),
    "densenet169": ("d699b8f76981ab1b30698df4c175e90b", "b8c4d4c20dd625c148057b9ff1c1176b"),
    "densenet201": ("1ceb130c1ea1b78c3bf6114dbdfd8807", "c13680b51ded0fb44dff2d8f86ac8bb1"),
}


def imagenet_weights(name, include_top):
    filename = f"{name}_weights_tf_dim_ordering_tf_kernels{'' if include_top else '_notop'}.h5"
    file_hash = _IMAGENET_HASHES[name][0 if include_top else 1]
    return WeightFile(filename, KERAS_APPLICATIONS_URL + "densenet/" + filename, file_hash)


def table_name(blocks):
    """The Table 1 network with these dense blocks ("densenet121", ...), or None."""
    return next((name for name, b in IMAGENET_BLOCKS.items() if b == tuple(blocks)), None)


def cifar_layers_per_block(depth, bottleneck=True):
    """Depth L = 3 blocks * n layers * (2 convs with the bottleneck, else 1) + 4
    (first convolution, two transitions, classifier): the paper's L=100, 190, 250."""
    per_layer = 2 if bottleneck else 1
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 3 * per_layer + 4 or (depth - 4) % (3 * per_layer):
        form = "6n+4 for DenseNet-BC (bottleneck=True), e.g. 100, 190 or 250" if bottleneck else "3n+4 without the bottleneck, e.g. 40 or 100"
        raise ValueError(f"`depth` must be of the form {form}; received depth={depth!r}.")
    return (depth - 4) // (3 * per_layer)


def _check_growth_rate(name, value):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"`growth_rate` (k, new feature maps per layer) must be a positive integer, e.g. 12 or 32; received growth_rate={value!r}.")


def _check_compression(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise ValueError(
            f"`compression` (theta, the fraction of feature maps a transition keeps) must be in (0, 1], "
            f"e.g. 0.5 for DenseNet-BC or 1 for no compression; received compression={value!r}."
        )


def _check_bottleneck(name, value):
    if not isinstance(value, bool):
        raise ValueError(f"`bottleneck` must be True (DenseNet-B's 1x1 bottleneck) or False; received bottleneck={value!r}.")


def _check_blocks(name, value):
    blocks = tuple(value)
    if len(blocks) != 4 or not all(isinstance(n, int) and n >= 1 for n in blocks):
        raise ValueError(f"`blocks` must give the layer count of each of the 4 dense blocks, e.g. (6, 12, 24, 16); received blocks={blocks!r}.")


CHECKS = {"growth_rate": _check_growth_rate, "compression": _check_compression, "bottleneck": _check_bottleneck}

# ------------------------------------------------------------------- the graph


def dense_stages(x, taps, stride, blocks, growth_rate, bottleneck, compression, epsilon=dense_blocks.BN_EPSILON):
    """Dense blocks joined by transitions, then BN-ReLU; taps the end of each block."""
    for i, num_layers in enumerate(blocks):
        x = dense_blocks.dense_block(x, num_layers, growth_rate, bottleneck, name=f"conv{i + 2}", epsilon=epsilon)
        if i < len(blocks) - 1:
            taps.record(x, stride)
            x = dense_blocks.transition(x, compression, name=f"pool{i + 2}", epsilon=epsilon)
            stride *= 2
    x = dense_blocks.batch_norm(x, "bn", epsilon)
    x = layers.Activation("relu", name="relu")(x)
    taps.record(x, stride)
    return x


def imagenet_graph(x, taps, *, blocks, growth_rate, bottleneck, compression, stem_filters, layout):
    """Stem: 7x7/2 convolution with 2k filters, 3x3/2 max pooling; four dense blocks."""
    epsilon = dense_blocks.TORCH_BN_EPSILON if layout == "torchvision" else dense_blocks.BN_EPSILON
    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)), name="zero_padding2d")(x)
    x = layers.Conv2D(2 * growth_rate if stem_filters is None else stem_filters, 7, strides=2, use_bias=False, name="conv1_conv")(x)
    x = dense_blocks.batch_norm(x, "conv1_bn", epsilon)
    x = layers.Activation("relu", name="conv1_relu")(x)
    taps.record(x, 2)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name="zero_padding2d_1")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    return dense_stages(x, taps, 4, tuple(blocks), growth_rate, bottleneck, compression, epsilon)


def torch_names(model):
    """{our layer: torchvision module} for the weighted layers (TORCH_NAMES' patterns;
    torchvision numbers dense blocks and transitions from 1 where keras.applications'
    conv/pool stages start at 2)."""
    names = {}
    for layer in model.layers:
        for pattern, torch_name in TORCH_NAMES:
            found = re.fullmatch(pattern, layer.name)
            if found:
                numbers = [int(n) for n in found.groups()]
                if numbers:
                    numbers[0] -= 1  # keras.applications' stage conv2 / pool2 is torchvision's denseblock1 / transition1
                names[layer.name] = torch_name.format(*numbers)
                break
    return names


def cifar_graph(x, taps, *, depth, growth_rate, bottleneck, compression):
    """A 3x3 convolution with 2k filters (16 without the bottleneck), three dense blocks."""
    num_layers = cifar_layers_per_block(depth, bottleneck)
    x = layers.Conv2D(2 * growth_rate if bottleneck else 16, 3, padding="same", use_bias=False, name="conv1_conv")(x)
    return dense_stages(x, taps, 1, (num_layers,) * 3, growth_rate, bottleneck, compression)


def head(x, *, classes, classifier_activation):
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return layers.Dense(classes, activation=classifier_activation, name="predictions")(x)


def imagenet_file(knobs, rows, has_top):
    """keras.applications' file for DenseNet-121/169/201 at the paper's knobs."""
    if knobs["layout"] != "keras":
        return None, "keras.applications' files are for layout='keras' (torchvision's: weights='torchvision')"
    name = table_name(knobs["blocks"])
    if name not in _IMAGENET_HASHES:
        published = ", ".join(str(IMAGENET_BLOCKS[n]) for n in _IMAGENET_HASHES)
        return None, f"keras.applications publishes DenseNet-121/169/201 only (blocks {published}); received blocks={tuple(knobs['blocks'])}"
    stem_filters = 2 * knobs["growth_rate"] if knobs["stem_filters"] is None else knobs["stem_filters"]
    if (knobs["growth_rate"], knobs["bottleneck"], knobs["compression"], stem_filters) != (GROWTH_RATE, True, COMPRESSION, 64):
        return None, "the published files need growth_rate=32, bottleneck=True, compression=0.5 and stem_filters=64"
    return imagenet_weights(name, has_top), None


def cifar_preprocessing(x):
    """[0, 255] pixels standardized with the CIFAR-10 channel statistics of the authors' code."""
    return standardize(x, CIFAR10_RGB_MEAN, CIFAR10_RGB_STD, name="normalization")


# ------------------------------------------------------------------------ the builders

DenseNet = Family(
    "DenseNet", graph=imagenet_graph, head=head, preprocessing=torch_preprocessing,
    knobs={"blocks": IMAGENET_BLOCKS["densenet121"], "growth_rate": GROWTH_RATE, "bottleneck": True,
           "compression": COMPRESSION, "stem_filters": None, "layout": "keras"},
    order=("blocks", "include_top", "weights", "input_tensor", "input_shape", "pooling", "classes", "classifier_activation",
           "name", "growth_rate", "bottleneck", "compression", "stem_filters", "include_preprocessing", "features_only",
           "out_strides", "layout"),
    checks={**CHECKS, "blocks": _check_blocks, "layout": one_of(LAYOUTS)},
    default_name=lambda knobs, rows: table_name(knobs["blocks"]) or "densenet",
    imagenet=imagenet_file, torch_names=torch_names,
).builder(doc="""An ImageNet DenseNet (paper Table 1), with keras.applications.densenet.DenseNet's
    signature (blocks first) and layer names.

    Stem: 7x7/2 convolution with 2k filters, 3x3/2 max pooling; four dense blocks
    joined by transitions; BN-ReLU, global average pooling and the classifier.

    Args:
        blocks: layers in each of the four dense blocks, e.g. (6, 12, 24, 16) for
            DenseNet-121.
        include_top, weights, input_tensor, input_shape, pooling, classes,
        classifier_activation, name: as keras.applications. `weights="imagenet"`
            loads keras.applications' files for DenseNet-121/169/201 (default knobs).
        growth_rate: k, the feature maps each layer adds (32 in the paper's
            ImageNet models).
        bottleneck: DenseNet-B: a 1x1 convolution to 4k maps before each 3x3.
        compression: theta, transitions keep floor(theta * m) of m maps (0.5: -C).
        stem_filters: filters of the first convolution (default 2k, the paper's).
        include_preprocessing: add layers that take [0, 255] RGB pixels and apply
            keras.applications' "torch" `preprocess_input` (/255, ImageNet mean and
            std). False, as keras.applications.
        features_only: return the feature maps at `out_strides` (2, 4, 8, 16, 32).
        layout: "keras" (keras.applications' BatchNorm epsilon 1.001e-5) or
            "torchvision" (1e-5, torchvision's: the graph its checkpoints were
            trained on; weights="torchvision" sets it). PyTorch files load by
            torchvision's module names either way.
    """)

DenseNetCifar = Family(
    "DenseNetCifar", graph=cifar_graph, head=head, preprocessing=cifar_preprocessing,
    knobs={"depth": 100, "growth_rate": 12, "compression": 0.5, "bottleneck": True},
    order=("depth", "growth_rate", "compression", "bottleneck", "include_top", "weights", "input_tensor", "input_shape",
           "pooling", "classes", "classifier_activation", "include_preprocessing", "name", "features_only", "out_strides"),
    checks=CHECKS,
    defaults={"classes": 10, "out_strides": (1, 2, 4)},
    default_size=32,
    min_size=lambda knobs: 8,
    default_name=lambda knobs, rows: (
        f"densenet{'_bc' if knobs['bottleneck'] and knobs['compression'] < 1 else ''}_{knobs['depth']}_{knobs['growth_rate']}"),
    no_imagenet="no published ImageNet weights for the CIFAR DenseNets",
).builder(doc="""The CIFAR/SVHN DenseNet (paper section 3, Table 2): a 3x3 convolution with 2k
    filters (16 without the bottleneck), three dense blocks of n = (L-4)/6 layers
    (BC) on 32x32, 16x16 and 8x8 maps, transitions with compression theta, BN-ReLU,
    global average pooling and the classifier. No keras.applications counterpart.

    Args:
        depth: L, e.g. 100 (DenseNet-BC-100, k=12: 0.8M parameters), 250 (k=24) or
            190 (k=40).
        growth_rate: k.
        compression: theta in (0, 1] (0.5 for DenseNet-BC, 1 for DenseNet/-B).
        bottleneck: the 1x1 bottleneck to 4k maps (DenseNet-B).
        include_preprocessing: add a Normalization layer taking [0, 255] pixels and
            standardizing them with the CIFAR-10 channel statistics of the authors'
            code. False: the caller standardizes.
        features_only: feature maps at `out_strides` (1, 2, 4: the ends of the three
            dense blocks, the last one after the final BN-ReLU).
        The other arguments are keras.applications'; `classes` defaults to 10
        (CIFAR-10); `weights` is None or a weights file (no published weights).
    """)

# ------------------------------------------------------------------------ the variants

_PAPER = "Densely Connected Convolutional Networks (CVPR 2017)"
# The paper only plots the ImageNet networks' totals (Figure 3); the figures are
# torchvision's weights metadata (num_params, _ops in GFLOPS = multiply-adds).
# keras.applications.DenseNet121's positional order, then ours.
_KERAS_ORDER = ("include_top", "weights", "input_tensor", "input_shape", "pooling", "classes", "classifier_activation", "name",
                "include_preprocessing", "features_only", "out_strides")
_IMAGENET_FIGURES = dict(
    order=_KERAS_ORDER, family="densenet", paper=_PAPER, arxiv="1608.06993", default_size=224,
    figures_source="torchvision's weights metadata (num_params; _ops GFLOPS = multiply-adds); the paper only plots them (Figure 3)")
_CIFAR_FIGURES = dict(
    order=_KERAS_ORDER, defaults={"classes": 10}, family="densenet", paper=_PAPER, arxiv="1608.06993", default_size=32, paper_macs_m=None, reference=None,
    figures_source="paper Table 2 (params, CIFAR-10, 10 classes); MACs: none published, ours measured here")


@variant("densenet121", DenseNet, knobs={"blocks": IMAGENET_BLOCKS["densenet121"]}, model_name="densenet121", **_IMAGENET_FIGURES,
               paper_params_m=7.978856, paper_macs_m=2834, reference="keras.applications.DenseNet121")
def DenseNet121(*args, **kwargs):
    """DenseNet-121 (paper Table 1: dense blocks (6, 12, 24, 16), k=32, bottleneck 4k,
    compression 0.5), with keras.applications' signature and layer names. See `DenseNet`
    for the arguments."""


@variant("densenet169", DenseNet, knobs={"blocks": IMAGENET_BLOCKS["densenet169"]}, model_name="densenet169", **_IMAGENET_FIGURES,
               paper_params_m=14.14948, paper_macs_m=3360, reference="keras.applications.DenseNet169")
def DenseNet169(*args, **kwargs):
    """DenseNet-169 (paper Table 1: dense blocks (6, 12, 32, 32)), as DenseNet121."""


@variant("densenet201", DenseNet, knobs={"blocks": IMAGENET_BLOCKS["densenet201"]}, model_name="densenet201", **_IMAGENET_FIGURES,
               paper_params_m=20.013928, paper_macs_m=4291, reference="keras.applications.DenseNet201")
def DenseNet201(*args, **kwargs):
    """DenseNet-201 (paper Table 1: dense blocks (6, 12, 48, 32)), as DenseNet121."""


@variant("densenet161", DenseNet, knobs=DENSENET161, model_name="densenet161", **{
    **_IMAGENET_FIGURES, "figures_source": (
        "torchvision's weights docs, DenseNet161_Weights.IMAGENET1K_V1 (num_params 28,681,000; GFLOPS 7.73: its "
        "meta's _ops 7.728, multiply-adds, torchvision >= 0.15); the paper prints neither (Table 3: errors only)")},
    paper_params_m=28.681, paper_macs_m=7728, reference="torchvision.models.densenet161",
    note="torchvision's DenseNet-161 (the authors' k=48 ImageNet model); keras.applications has none, so no "
         "weights='imagenet'")
def DenseNet161(*args, **kwargs):
    """DenseNet-161 (growth rate k=48, 96 stem filters, dense blocks (6, 12, 36, 24): the
    authors' wider ImageNet model, paper Table 3; torchvision's densenet161), as DenseNet121.
    keras.applications has no DenseNet-161 (no weights='imagenet')."""


@variant("densenet264", DenseNet, knobs={"blocks": IMAGENET_BLOCKS["densenet264"]}, model_name="densenet264", **{
    **_IMAGENET_FIGURES, "figures_source": "measured here, no published figure"},
    paper_params_m=None, paper_macs_m=None, reference=None,
    note="The paper gives DenseNet-264 (k=32) only as Table 1's architecture and a point in Figure 3 "
         "(about 33M parameters); our build has 33,736,232 parameters (33,337,704 trainable) and "
         "5.75G multiply-adds at 224x224. timm's densenet264 is another network (growth rate 48).")
def DenseNet264(*args, **kwargs):
    """DenseNet-264 (paper Table 1: dense blocks (6, 12, 64, 48), k=32), as DenseNet121.
    keras.applications has no DenseNet-264 (no ImageNet file). timm's `densenet264` is a
    different network (growth rate 48, 72.7M parameters); this one is the paper's Table 1."""


# Table 2 of the paper (CIFAR-10): DenseNet-BC (L, k) and its parameter count.
@variant("densenet_bc_100_12", DenseNetCifar, knobs={"depth": 100, "growth_rate": 12, "compression": 0.5},
         **_CIFAR_FIGURES, paper_params_m=0.8)
def DenseNetBC100_12(*args, **kwargs):
    """DenseNet-BC (L=100, k=12), paper Table 2: 0.8M parameters. See `DenseNetCifar`."""


@variant("densenet_bc_250_24", DenseNetCifar, knobs={"depth": 250, "growth_rate": 24, "compression": 0.5},
         **_CIFAR_FIGURES, paper_params_m=15.3)
def DenseNetBC250_24(*args, **kwargs):
    """DenseNet-BC (L=250, k=24), paper Table 2: 15.3M parameters. See `DenseNetCifar`."""


@variant("densenet_bc_190_40", DenseNetCifar, knobs={"depth": 190, "growth_rate": 40, "compression": 0.5},
         **_CIFAR_FIGURES, paper_params_m=25.6)
def DenseNetBC190_40(*args, **kwargs):
    """DenseNet-BC (L=190, k=40), paper Table 2: 25.6M parameters. See `DenseNetCifar`."""
