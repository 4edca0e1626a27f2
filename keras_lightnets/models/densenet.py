"""DenseNet (Huang et al., "Densely Connected Convolutional Networks", CVPR 2017,
arXiv:1608.06993): the ImageNet DenseNet-BC-121/169/201/264 of Table 1 and the
CIFAR DenseNet-BC-(L, k) of Table 2.

Layer names, padding and batch-norm settings follow keras.applications.DenseNet*,
so its weight files load into these models and give the same outputs; their
trainable parameters also equal torchvision's densenet121/169/201 (7,978,856 /
14,149,480 / 20,013,928), the architecture being the paper's. The ImageNet
and CIFAR networks share one dense block / transition code
(keras_lightnets.layers.dense_blocks).
"""

from keras import layers

from keras_lightnets.layers import dense_blocks
from keras_lightnets.layers.preprocessing import torch_preprocessing
from keras_lightnets.models import _common
from keras_lightnets.registry import register_model
from keras_lightnets.weights import KERAS_APPLICATIONS_URL
from keras_lightnets.weights import WeightFile

# Table 1 of the paper (growth rate k=32, bottleneck 1x1 of 4k, compression 0.5):
# name, layers per dense block, published params (M), published multiply-adds (M) at 224.
# The paper only plots the ImageNet networks' totals (Figure 3); the figures are
# torchvision's weights metadata (num_params, _ops in GFLOPS = multiply-adds).
IMAGENET_TABLE = (
    ("densenet121", (6, 12, 24, 16), 7.978856, 2834),
    ("densenet169", (6, 12, 32, 32), 14.14948, 3360),
    ("densenet201", (6, 12, 48, 32), 20.013928, 4291),
    ("densenet264", (6, 12, 64, 48), None, None),
)
BLOCK_CONFIGS = {name: blocks for name, blocks, _, _ in IMAGENET_TABLE}
GROWTH_RATE = 32
COMPRESSION = 0.5

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


def _check_knobs(growth_rate, compression, bottleneck):
    if not isinstance(growth_rate, int) or isinstance(growth_rate, bool) or growth_rate < 1:
        raise ValueError(f"`growth_rate` (k, new feature maps per layer) must be a positive integer, e.g. 12 or 32; received growth_rate={growth_rate!r}.")
    if isinstance(compression, bool) or not isinstance(compression, (int, float)) or not 0 < compression <= 1:
        raise ValueError(
            f"`compression` (theta, the fraction of feature maps a transition keeps) must be in (0, 1], "
            f"e.g. 0.5 for DenseNet-BC or 1 for no compression; received compression={compression!r}."
        )
    if not isinstance(bottleneck, bool):
        raise ValueError(f"`bottleneck` must be True (DenseNet-B's 1x1 bottleneck) or False; received bottleneck={bottleneck!r}.")


def DenseNet(
    blocks=(6, 12, 24, 16),
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name=None,
    growth_rate=GROWTH_RATE,
    bottleneck=True,
    compression=COMPRESSION,
    stem_filters=None,
    include_preprocessing=False,
    features_only=False,
    out_strides=_common.DEFAULT_OUT_STRIDES,
):
    """An ImageNet DenseNet (paper Table 1), with keras.applications.densenet.DenseNet's
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
    """
    _common.check_channels_last()
    _common.check_pooling(pooling)
    _check_knobs(growth_rate, compression, bottleneck)
    blocks = tuple(blocks)
    if len(blocks) != 4 or not all(isinstance(n, int) and n >= 1 for n in blocks):
        raise ValueError(f"`blocks` must give the layer count of each of the 4 dense blocks, e.g. (6, 12, 24, 16); received blocks={blocks!r}.")
    stem_filters = 2 * growth_rate if stem_filters is None else stem_filters
    table_name = next((n for n, b, _, _ in IMAGENET_TABLE if b == blocks), None)
    has_top = include_top and not features_only
    problem = None
    if table_name not in _IMAGENET_HASHES:
        problem = f"keras.applications publishes DenseNet-121/169/201 only (blocks {', '.join(str(BLOCK_CONFIGS[n]) for n in _IMAGENET_HASHES)}); received blocks={blocks}"
    elif (growth_rate, bottleneck, compression, stem_filters) != (GROWTH_RATE, True, COMPRESSION, 2 * GROWTH_RATE):
        problem = "the published files need growth_rate=32, bottleneck=True, compression=0.5 and stem_filters=64"
    _common.check_weights(weights, has_top, classes, available=problem)
    image, inputs = _common.resolve_input(input_shape, input_tensor, default_size=224, min_size=32, weights=weights, static_default=has_top)

    taps = _common.FeatureTaps()
    x = torch_preprocessing(image) if include_preprocessing else image
    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)), name="zero_padding2d")(x)
    x = layers.Conv2D(stem_filters, 7, strides=2, use_bias=False, name="conv1_conv")(x)
    x = dense_blocks.batch_norm(x, "conv1_bn")
    x = layers.Activation("relu", name="conv1_relu")(x)
    taps.record(x, 2)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name="zero_padding2d_1")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    stride = 4
    for i, num_layers in enumerate(blocks):
        x = dense_blocks.dense_block(x, num_layers, growth_rate, bottleneck, name=f"conv{i + 2}")
        if i < len(blocks) - 1:
            taps.record(x, stride)
            x = dense_blocks.transition(x, compression, name=f"pool{i + 2}")
            stride *= 2
    x = dense_blocks.batch_norm(x, "bn")
    x = layers.Activation("relu", name="relu")(x)
    taps.record(x, stride)

    if has_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = _common.pool(x, pooling)
    return _common.finish(
        inputs, x,
        name=name or table_name or "densenet",
        weights=weights,
        imagenet_file=imagenet_weights(table_name, has_top) if problem is None else None,
        taps=taps, features_only=features_only, out_strides=out_strides,
    )


def _class_style(table_name):
    def builder(
        include_top=True,
        weights=None,
        input_tensor=None,
        input_shape=None,
        pooling=None,
        classes=1000,
        classifier_activation="softmax",
        name=table_name,
        include_preprocessing=False,
        features_only=False,
        out_strides=_common.DEFAULT_OUT_STRIDES,
    ):
        return DenseNet(
            BLOCK_CONFIGS[table_name], include_top=include_top, weights=weights, input_tensor=input_tensor,
            input_shape=input_shape, pooling=pooling, classes=classes, classifier_activation=classifier_activation,
            name=name, include_preprocessing=include_preprocessing, features_only=features_only, out_strides=out_strides,
        )

    builder.__name__ = builder.__qualname__ = "DenseNet" + table_name[len("densenet"):]
    builder.__doc__ = (
        f"DenseNet-{table_name[len('densenet'):]} (paper Table 1: dense blocks {BLOCK_CONFIGS[table_name]}, k=32, "
        "bottleneck 4k, compression 0.5), with keras.applications' signature and layer names. "
        "See `DenseNet` for the arguments."
    )
    return builder


DenseNet121 = _class_style("densenet121")
DenseNet169 = _class_style("densenet169")
DenseNet201 = _class_style("densenet201")
DenseNet264 = _class_style("densenet264")
DenseNet264.__doc__ += (
    " keras.applications has no DenseNet-264 (no ImageNet file). timm's `densenet264` is a different "
    "network (growth rate 48, 72.7M parameters); this one is the paper's Table 1 (k=32)."
)


def cifar_layers_per_block(depth, bottleneck=True):
    """Depth L = 3 blocks * n layers * (2 convs with the bottleneck, else 1) + 4
    (first convolution, two transitions, classifier): the paper's L=100, 190, 250."""
    per_layer = 2 if bottleneck else 1
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 3 * per_layer + 4 or (depth - 4) % (3 * per_layer):
        form = "6n+4 for DenseNet-BC (bottleneck=True), e.g. 100, 190 or 250" if bottleneck else "3n+4 without the bottleneck, e.g. 40 or 100"
        raise ValueError(f"`depth` must be of the form {form}; received depth={depth!r}.")
    return (depth - 4) // (3 * per_layer)


def DenseNetCifar(
    depth=100,
    growth_rate=12,
    compression=0.5,
    bottleneck=True,
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=10,
    classifier_activation="softmax",
    include_preprocessing=False,
    name=None,
    features_only=False,
    out_strides=(1, 2, 4),
):
    """The CIFAR/SVHN DenseNet (paper section 3, Table 2): a 3x3 convolution with 2k
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
    """
    _common.check_channels_last()
    _common.check_pooling(pooling)
    _check_knobs(growth_rate, compression, bottleneck)
    num_layers = cifar_layers_per_block(depth, bottleneck)
    has_top = include_top and not features_only
    _common.check_weights(weights, has_top, classes, available="no published ImageNet weights for the CIFAR DenseNets")
    image, inputs = _common.resolve_input(input_shape, input_tensor, default_size=32, min_size=8, weights=weights, static_default=has_top)

    taps = _common.FeatureTaps()
    x = dense_blocks.standardize(image, dense_blocks.CIFAR_MEAN, dense_blocks.CIFAR_STD) if include_preprocessing else image
    x = layers.Conv2D(2 * growth_rate if bottleneck else 16, 3, padding="same", use_bias=False, name="conv1_conv")(x)
    stride = 1
    for i in range(3):
        x = dense_blocks.dense_block(x, num_layers, growth_rate, bottleneck, name=f"conv{i + 2}")
        if i < 2:
            taps.record(x, stride)
            x = dense_blocks.transition(x, compression, name=f"pool{i + 2}")
            stride *= 2
    x = dense_blocks.batch_norm(x, "bn")
    x = layers.Activation("relu", name="relu")(x)
    taps.record(x, stride)

    if has_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = _common.pool(x, pooling)
    default_name = f"densenet{'_bc' if bottleneck and compression < 1 else ''}_{depth}_{growth_rate}"
    return _common.finish(
        inputs, x, name=name or default_name, weights=weights, imagenet_file=None,
        taps=taps, features_only=features_only, out_strides=out_strides,
    )


_PAPER = "Densely Connected Convolutional Networks (CVPR 2017)"
_FIGURES_IMAGENET = ("torchvision's weights metadata (num_params; _ops GFLOPS = multiply-adds); "
                     "the paper only plots them (Figure 3)")
_NOTE_264 = (
    "The paper gives DenseNet-264 (k=32) only as Table 1's architecture and a point in Figure 3 "
    "(about 33M parameters); our build has 33,736,232 parameters (33,337,704 trainable) and "
    "5.75G multiply-adds at 224x224. "
    "timm's densenet264 is another network (growth rate 48)."
)
for _name, _blocks, _params, _macs in IMAGENET_TABLE:
    register_model(
        _name, DenseNet, defaults={"blocks": _blocks}, family="densenet", paper=_PAPER, arxiv="1608.06993",
        default_size=224, paper_params_m=_params, paper_macs_m=_macs,
        figures_source=_FIGURES_IMAGENET if _params else "measured here, no published figure",
        reference=f"keras.applications.DenseNet{_name[len('densenet'):]}" if _name in _IMAGENET_HASHES else None,
        note=_NOTE_264 if _name == "densenet264" else "",
    )

# Table 2 of the paper (CIFAR-10): DenseNet-BC (L, k) and its parameter count.
CIFAR_TABLE = (
    ("densenet_bc_100_12", 100, 12, 0.8),
    ("densenet_bc_250_24", 250, 24, 15.3),
    ("densenet_bc_190_40", 190, 40, 25.6),
)
for _name, _depth, _k, _params in CIFAR_TABLE:
    register_model(
        _name, DenseNetCifar, defaults={"depth": _depth, "growth_rate": _k, "compression": 0.5, "classes": 10},
        family="densenet", paper=_PAPER, arxiv="1608.06993", default_size=32,
        paper_params_m=_params, paper_macs_m=None,
        figures_source="paper Table 2 (params, CIFAR-10, 10 classes); MACs: none published, ours measured here",
        reference=None,
    )
