"""The ResNet family as one table-driven builder:

- ResNet v1 (He et al., "Deep Residual Learning for Image Recognition", CVPR 2016,
  arXiv:1512.03385): resnet18/34/50/101/152.
- ResNet v2, pre-activation (He et al., "Identity Mappings in Deep Residual
  Networks", ECCV 2016, arXiv:1603.05027): resnet50_v2/101_v2/152_v2.
- Wide ResNet (Zagoruyko & Komodakis, BMVC 2016, arXiv:1605.07146): the CIFAR
  wrn_28_10 and torchvision's wide_resnet50_2/101_2.
- ResNeXt (Xie et al., CVPR 2017, arXiv:1611.05431): resnext50_32x4d,
  resnext101_32x8d, resnext101_64x4d.
- SENet (Hu et al., CVPR 2018, arXiv:1709.01507): seresnet50/101/152,
  seresnext50_32x4d, seresnext101_32x4d.

Every network is a `ResNetSpec`: a stage table (repeats, planes, stride) plus the
block kind, where the bottleneck strides, cardinality, base width, SE ratio and the
reference whose layer names and conventions it follows. `build_resnet` walks it.

Which reference each network follows:

- resnet50/101/152 and the v2 nets: keras.applications (layer names, conv biases,
  BN epsilon 1.001e-5, stride on the bottleneck's first 1x1 as the paper's Caffe
  models), so its published weight files load and give the same outputs. Its
  ResNet50 has 25,636,712 parameters (torchvision's, without conv biases:
  25,557,032, -0.3%) and 3.87G MACs at 224: the paper's "3.8 GFLOPs". torchvision's
  "4.1G" is its "ResNet v1.5", stride on the 3x3 (`stride_on="3x3"` builds it).
- resnet18/34: keras.applications has none; torchvision's definition (no conv
  biases; it is the paper's, option-B projection shortcuts).
- wide_resnet50_2/101_2, resnext*: torchvision's definitions (stride on the 3x3).
- seresnet*: the SENet authors' Caffe models (as Cadene's `pretrainedmodels` and
  timm's `legacy_seresnet*`): stride on the first 1x1, so 3.87G MACs as the paper's
  Table 2; same parameters as timm's `seresnet50` (28,088,024), which strides on the
  3x3 (4.1G MACs; `stride_on="3x3"` builds it). seresnext*: stride on the 3x3, as
  the authors' and timm's. SE reduction r = 16, SE layers named as timm's (`se_fc1`).
- wrn_28_10: the authors' (szagoruyko/wide-residual-networks) CIFAR network: conv
  3x3 16, three stages of pre-activation basic blocks (16k, 32k, 64k channels),
  1x1 projection from the pre-activated input, dropout between the two convs.
"""

import dataclasses
import numbers
from typing import Optional, Tuple

from keras import layers

from keras_lightnets.layers.blocks import activation
from keras_lightnets.layers.preprocessing import CIFAR10_RGB_MEAN
from keras_lightnets.layers.preprocessing import CIFAR10_RGB_STD
from keras_lightnets.layers.preprocessing import caffe_preprocessing
from keras_lightnets.layers.preprocessing import standardize
from keras_lightnets.layers.preprocessing import torch_preprocessing
from keras_lightnets.layers.residual import BLOCK_KINDS
from keras_lightnets.layers.residual import STRIDE_ON
from keras_lightnets.layers.residual import BlockNames
from keras_lightnets.layers.residual import residual_block
from keras_lightnets.models import _common
from keras_lightnets.registry import register_model
from keras_lightnets.weights import KERAS_APPLICATIONS_URL
from keras_lightnets.weights import WeightFile


@dataclasses.dataclass(frozen=True)
class Stage:
    repeats: int
    planes: int  # torchvision's `planes`, keras' `filters`: the bottleneck width at base_width 64
    stride: int


@dataclasses.dataclass(frozen=True)
class ResNetSpec:
    """One network of the family: its stage table and block conventions."""

    block: str  # one of BLOCK_KINDS
    stages: Tuple[Stage, ...]
    expansion: int = 4  # output channels = planes * expansion
    stem: str = "imagenet"  # "imagenet": 7x7/2 conv + 3x3/2 max pool; "cifar": 3x3/1 conv
    stem_width: int = 64
    stride_on: str = "3x3"  # which conv of a bottleneck strides
    stride_at: str = "first"  # which block of a stage strides: "first", or "last" (keras' v2)
    cardinality: int = 1
    base_width: float = 64  # ResNeXt's d at planes 64: width = int(planes * base_width / 64) * cardinality
    se_ratio: Optional[int] = None
    dropout_rate: float = 0.0
    naming: str = "torchvision"  # "keras" or "torchvision"
    use_bias: bool = False
    bn_epsilon: float = 1e-5
    bn_momentum: float = 0.9  # torchvision's momentum 0.1 is Keras' 0.9
    preprocessing: str = "torch"  # keras.applications' preprocess_input mode
    keras_weights: Optional[str] = None  # keras.applications' weight-file stem

    @property
    def preact(self):
        return self.block.startswith("preact")

    def width(self, planes):
        return int(planes * self.base_width / 64) * self.cardinality


# Table 1 of the ResNet paper: block kind and repeats of conv2_x .. conv5_x, whose
# bottlenecks are 64, 128, 256, 512 wide (outputs x4 in bottleneck nets).
PAPER_TABLE = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
PLANES = (64, 128, 256, 512)
STRIDES_FIRST = (1, 2, 2, 2)  # the stride of each stage, on its first block
STRIDES_LAST = (2, 2, 2, 1)  # keras' v2 stack: on the last block of conv2..conv4


def imagenet_stages(depth, stride_at="first"):
    strides = STRIDES_FIRST if stride_at == "first" else STRIDES_LAST
    return tuple(Stage(n, p, s) for n, p, s in zip(PAPER_TABLE[depth][1], PLANES, strides))


def _v1(depth, **overrides):
    kind = PAPER_TABLE[depth][0]
    return ResNetSpec(block=kind, stages=imagenet_stages(depth), expansion=1 if kind == "basic" else 4, **overrides)


KERAS_V1 = dict(naming="keras", use_bias=True, bn_epsilon=1.001e-5, bn_momentum=0.99, stride_on="1x1", preprocessing="caffe")
KERAS_V2 = dict(naming="keras", use_bias=True, bn_epsilon=1.001e-5, bn_momentum=0.99, stride_on="3x3", preprocessing="tf")


def _v2(depth):
    return ResNetSpec(block="preact_bottleneck", stages=imagenet_stages(depth, "last"), stride_at="last",
                      keras_weights=f"resnet{depth}v2", **KERAS_V2)


def wrn_spec(depth=28, width=10, dropout_rate=0.0):
    """Wide ResNet for CIFAR (WRN-depth-width): (depth - 4) / 6 blocks a stage."""
    n = (depth - 4) // 6
    return ResNetSpec(
        block="preact_basic", stages=tuple(Stage(n, c * width, s) for c, s in ((16, 1), (32, 2), (64, 2))),
        expansion=1, stem="cifar", stem_width=16, dropout_rate=dropout_rate, preprocessing="cifar",
    )


SPECS = {
    "resnet18": _v1(18),
    "resnet34": _v1(34),
    "resnet50": _v1(50, keras_weights="resnet50", **KERAS_V1),
    "resnet101": _v1(101, keras_weights="resnet101", **KERAS_V1),
    "resnet152": _v1(152, keras_weights="resnet152", **KERAS_V1),
    "resnet50_v2": _v2(50),
    "resnet101_v2": _v2(101),
    "resnet152_v2": _v2(152),
    "wide_resnet50_2": _v1(50, base_width=128),
    "wide_resnet101_2": _v1(101, base_width=128),
    "resnext50_32x4d": _v1(50, cardinality=32, base_width=4),
    "resnext101_32x8d": _v1(101, cardinality=32, base_width=8),
    "resnext101_64x4d": _v1(101, cardinality=64, base_width=4),
    "seresnet50": _v1(50, se_ratio=16, stride_on="1x1"),
    "seresnet101": _v1(101, se_ratio=16, stride_on="1x1"),
    "seresnet152": _v1(152, se_ratio=16, stride_on="1x1"),
    "seresnext50_32x4d": _v1(50, se_ratio=16, cardinality=32, base_width=4),
    "seresnext101_32x4d": _v1(101, se_ratio=16, cardinality=32, base_width=4),
    "wrn_28_10": wrn_spec(28, 10),
}
_WEIGHT_HASHES = {  # keras.applications' (top, no top), from keras/src/applications/resnet.py
    "resnet50": ("2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626"),
    "resnet101": ("f1aeb4b969a6efcfb50fad2f0c20cfc5", "88cf7a10940856eca736dc7b7e228a21"),
    "resnet152": ("100835be76be38e30d865e96f2aaae62", "ee4c566cf9a93f14d82f913c2dc6dd0c"),
    "resnet50v2": ("3ef43a0b657b3be2300d5770ece849e0", "fac2f116257151a9d068a22e544a4917"),
    "resnet101v2": ("6343647c601c52e1368623803854d971", "c0ed64b8031c3730f411d2eb4eea35b5"),
    "resnet152v2": ("a49b44d1979771252814e80f8ec446f9", "ed17cf2e0169df9d443503ef94b23b33"),
}


def imagenet_weights(stem, include_top):
    filename = f"{stem}_weights_tf_dim_ordering_tf_kernels{'' if include_top else '_notop'}.h5"
    return WeightFile(filename, KERAS_APPLICATIONS_URL + "resnet/" + filename, _WEIGHT_HASHES[stem][0 if include_top else 1])


def _preprocess(x, mode):
    if mode == "caffe":
        return caffe_preprocessing(x)
    if mode == "torch":
        return torch_preprocessing(x)
    if mode == "cifar":
        return standardize(x, CIFAR10_RGB_MEAN, CIFAR10_RGB_STD, name="cifar_preprocessing")  # the WRN authors' normalization
    return _common.preprocessing(x)  # "tf": [-1, 1]


def check_spec(spec: ResNetSpec):
    """ValueErrors naming the argument at fault, for knobs set by users."""

    def positive_int(value, name, example):
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
            raise ValueError(f"`{name}` must be a positive integer, e.g. {example}; received {name}={value!r}.")

    if spec.block not in BLOCK_KINDS:
        raise ValueError(f"`block` must be one of {BLOCK_KINDS}; received block={spec.block!r}.")
    if spec.stride_on not in STRIDE_ON:
        raise ValueError(f"`stride_on` must be '1x1' (the paper's, keras.applications') or '3x3' (torchvision's v1.5); received stride_on={spec.stride_on!r}.")
    positive_int(spec.cardinality, "cardinality", 32)
    if not isinstance(spec.base_width, numbers.Real) or isinstance(spec.base_width, bool) or spec.base_width <= 0:
        raise ValueError(f"`base_width` must be a positive number, e.g. 4 (ResNeXt 32x4d) or 64; received base_width={spec.base_width!r}.")
    if spec.block.endswith("basic") and (spec.cardinality != 1 or spec.base_width != 64):
        raise ValueError(
            f"Basic blocks have no grouped convolution: `cardinality` must be 1 and `base_width` 64 "
            f"(received cardinality={spec.cardinality}, base_width={spec.base_width}); use a bottleneck network (depth 50+)."
        )
    for stage in spec.stages:
        per_group = int(stage.planes * spec.base_width / 64)
        if per_group < 1:
            raise ValueError(
                f"`base_width`={spec.base_width} leaves int({stage.planes} * {spec.base_width} / 64) = {per_group} channels per group "
                f"in the {stage.planes}-plane stage: each of the `cardinality`={spec.cardinality} groups needs at least one; "
                f"use base_width >= {64 / stage.planes:g}."
            )
    if spec.se_ratio is not None:
        positive_int(spec.se_ratio, "se_ratio", 16)
        smallest = min(s.planes for s in spec.stages) * spec.expansion
        if spec.se_ratio > smallest:
            raise ValueError(f"`se_ratio`={spec.se_ratio} exceeds the narrowest block ({smallest} channels): use se_ratio <= {smallest}, e.g. 16, or None for no SE.")
    if not isinstance(spec.dropout_rate, numbers.Real) or not 0 <= spec.dropout_rate < 1:
        raise ValueError(f"`dropout_rate` must be in [0, 1), e.g. 0.3; received dropout_rate={spec.dropout_rate!r}.")


def _stem(x, spec, taps):
    if spec.stem == "cifar":
        x = layers.Conv2D(spec.stem_width, 3, padding="same", use_bias=spec.use_bias, name="conv1")(x)
        taps.record(x, 1)
        return x, 1
    keras_names = spec.naming == "keras"
    conv, bn, relu, pad, pool = (
        ("conv1_conv", "conv1_bn", "conv1_relu", "pool1_pad", "pool1_pool") if keras_names
        else ("conv1", "bn1", "relu", "maxpool_pad", "maxpool")
    )
    x = layers.ZeroPadding2D(3, name="conv1_pad")(x)
    x = layers.Conv2D(spec.stem_width, 7, strides=2, use_bias=spec.use_bias, name=conv)(x)
    if not spec.preact:
        x = layers.BatchNormalization(epsilon=spec.bn_epsilon, momentum=spec.bn_momentum, name=bn)(x)
        x = activation(x, "relu", relu)
    taps.record(x, 2)
    # Zero padding equals PyTorch's -inf padding after a ReLU; in v2 it is keras'.
    x = layers.ZeroPadding2D(1, name=pad)(x)
    x = layers.MaxPooling2D(3, strides=2, name=pool)(x)
    taps.record(x, 4)
    return x, 4


def walk_stages(x, spec: ResNetSpec, taps, stride):
    """Applies every block of the stage table; returns (x, output stride)."""
    for s, stage in enumerate(spec.stages):
        for b in range(stage.repeats):
            strides_here = b == (0 if spec.stride_at == "first" else stage.repeats - 1)
            block_stride = stage.stride if strides_here else 1
            prefix = f"conv{s + 2}_block{b + 1}" if spec.naming == "keras" else f"layer{s + 1}_{b}"
            x = residual_block(
                x,
                kind=spec.block,
                width=spec.width(stage.planes) if not spec.block.endswith("basic") else stage.planes,
                out_channels=stage.planes * spec.expansion,
                stride=block_stride,
                stride_on=spec.stride_on,
                groups=spec.cardinality,
                se_ratio=spec.se_ratio,
                dropout_rate=spec.dropout_rate,
                use_bias=spec.use_bias,
                bn_epsilon=spec.bn_epsilon,
                bn_momentum=spec.bn_momentum,
                names=BlockNames(spec.naming, prefix, spec.preact),
            )
            stride *= block_stride
            taps.record(x, stride)
    return x, stride


def build_resnet(
    spec: ResNetSpec,
    *,
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    include_preprocessing=False,
    name="resnet",
    features_only=False,
    out_strides=_common.DEFAULT_OUT_STRIDES,
    default_size=224,
    min_size=32,
    published_spec: Optional[ResNetSpec] = None,
):
    """Builds the network `spec` describes (the one builder of the family).

    `published_spec`: the configuration keras.applications' weight files were
    trained for; weights="imagenet" needs `spec` to equal it.
    """
    _common.check_channels_last()
    check_spec(spec)
    _common.check_pooling(pooling)
    head = include_top and not features_only
    if spec.keras_weights is None:
        unavailable = "keras.applications publishes ImageNet weights only for ResNet50/101/152 and their V2; use weights=None or a file"
    elif spec != published_spec:
        unavailable = "the published file is for the default architecture; leave stride_on, se_ratio, cardinality and base_width at their defaults"
    else:
        unavailable = None
    _common.check_weights(weights, head, classes, available=unavailable)
    image, inputs = _common.resolve_input(
        input_shape, input_tensor, default_size=default_size, min_size=min_size, weights=weights, static_default=head
    )
    taps = _common.FeatureTaps()
    x = _preprocess(image, spec.preprocessing) if include_preprocessing else image
    x, stride = _stem(x, spec, taps)
    x, stride = walk_stages(x, spec, taps, stride)
    if spec.preact:
        x = layers.BatchNormalization(epsilon=spec.bn_epsilon, momentum=spec.bn_momentum, name="post_bn")(x)
        x = activation(x, "relu", "post_relu")
        taps.record(x, stride)
    if head:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions" if spec.naming == "keras" else "fc")(x)
    else:
        x = _common.pool(x, pooling)
    return _common.finish(
        inputs, x, name=name, weights=weights,
        imagenet_file=imagenet_weights(spec.keras_weights, head) if spec.keras_weights else None,
        taps=taps, features_only=features_only, out_strides=out_strides,
    )


_COMMON_DOC = """
    Args (keras.applications' signature):
        include_top: add global average pooling and the Dense classifier.
        weights: None (random), "imagenet" (keras.applications' published file,
            for the networks it publishes: ResNet50/101/152 and their V2) or a
            weights file path (.h5, .weights.h5, .keras), loaded by layer name.
        input_tensor: optional Keras tensor to build the model on.
        input_shape: (height, width, channels); (224, 224, 3) with the classifier,
            open spatial dims without it; at least 32x32.
        pooling: None, "avg" or "max", for include_top=False.
        classes: classifier width.
        classifier_activation: activation of the classifier, None for logits.
        include_preprocessing: take [0, 255] RGB pixels (adds keras.applications'
            `preprocess_input` as layers). False, as keras.applications.
        name: model name.
        features_only: return the backbone's feature maps at `out_strides`
            (2: stem conv, 4, 8, 16, 32: the outputs of the four stages).
        out_strides: strides of the feature maps, default (4, 8, 16, 32).
    Architecture knobs (keyword-only): {knobs}.
"""
_KNOB_DOCS = {
    "stride_on": "'1x1' or '3x3', which bottleneck conv strides",
    "se_ratio": "squeeze-excitation reduction r on every block (None: no SE)",
    "cardinality": "groups of the 3x3 conv (ResNeXt's C)",
    "base_width": "width of each group at 64 planes (ResNeXt's d; 64: plain, 128: wide)",
}


def _class_builder(class_name, registry_name, summary, knobs=("se_ratio",)):
    base = SPECS[registry_name]

    def builder(
        include_top=True,
        weights=None,
        input_tensor=None,
        input_shape=None,
        pooling=None,
        classes=1000,
        classifier_activation="softmax",
        include_preprocessing=False,
        name=None,
        features_only=False,
        out_strides=_common.DEFAULT_OUT_STRIDES,
        **overrides,
    ):
        unknown = sorted(set(overrides) - set(knobs))
        if unknown:
            raise ValueError(f"{class_name} got unknown argument(s) {unknown}; its architecture knobs are {list(knobs)}.")
        return build_resnet(
            dataclasses.replace(base, **overrides),
            include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
            pooling=pooling, classes=classes, classifier_activation=classifier_activation,
            include_preprocessing=include_preprocessing, name=name or base.keras_weights or registry_name,
            features_only=features_only, out_strides=out_strides, published_spec=base,
        )

    builder.__name__ = builder.__qualname__ = class_name
    builder.__doc__ = summary + _COMMON_DOC.format(knobs=", ".join(f"{k} ({_KNOB_DOCS[k]})" for k in knobs))
    return builder


_BOTTLENECK = ("stride_on", "se_ratio")
_GROUPED = ("cardinality", "base_width", "stride_on", "se_ratio")

ResNet18 = _class_builder(
    "ResNet18", "resnet18", "ResNet-18 (paper Table 1). keras.applications has none: torchvision's resnet18 "
    "(layer names `layer1_0_conv1`, no conv biases), 11,689,512 parameters.", ("se_ratio",))
ResNet34 = _class_builder(
    "ResNet34", "resnet34", "ResNet-34 (paper Table 1). keras.applications has none: torchvision's resnet34 "
    "(no conv biases), 21,797,672 parameters.", ("se_ratio",))
ResNet50 = _class_builder(
    "ResNet50", "resnet50", "ResNet-50, exactly keras.applications.ResNet50 (25,636,712 parameters with its conv "
    "biases; torchvision's has none: 25,557,032, -0.3%). Stride on the first 1x1 of a bottleneck as the paper's "
    "Caffe model: 3.87G MACs (paper: 3.8 GFLOPs); stride_on='3x3' gives torchvision's v1.5 (4.09G).", _BOTTLENECK)
ResNet101 = _class_builder(
    "ResNet101", "resnet101", "ResNet-101, exactly keras.applications.ResNet101 (44,707,176 parameters; "
    "torchvision's: 44,549,160, -0.4%).", _BOTTLENECK)
ResNet152 = _class_builder(
    "ResNet152", "resnet152", "ResNet-152, exactly keras.applications.ResNet152 (60,419,944 parameters; "
    "torchvision's: 60,192,808, -0.4%).", _BOTTLENECK)
ResNet50V2 = _class_builder(
    "ResNet50V2", "resnet50_v2", "ResNet-50 v2 (pre-activation), exactly keras.applications.ResNet50V2 "
    "(stride on the last block of each stage).", ("se_ratio",))
ResNet101V2 = _class_builder("ResNet101V2", "resnet101_v2", "ResNet-101 v2, exactly keras.applications.ResNet101V2.", ("se_ratio",))
ResNet152V2 = _class_builder("ResNet152V2", "resnet152_v2", "ResNet-152 v2, exactly keras.applications.ResNet152V2.", ("se_ratio",))
WideResNet50_2 = _class_builder(
    "WideResNet50_2", "wide_resnet50_2", "Wide ResNet-50-2: torchvision's wide_resnet50_2 (bottlenecks twice "
    "as wide), 68,883,240 parameters.", _GROUPED)
WideResNet101_2 = _class_builder(
    "WideResNet101_2", "wide_resnet101_2", "Wide ResNet-101-2: torchvision's wide_resnet101_2, 126,886,696 parameters.", _GROUPED)
ResNeXt50_32x4d = _class_builder(
    "ResNeXt50_32x4d", "resnext50_32x4d", "ResNeXt-50 (32x4d): torchvision's resnext50_32x4d, 25,028,904 "
    "parameters (paper: 25.0M, 4.2G).", _GROUPED)
ResNeXt101_32x8d = _class_builder(
    "ResNeXt101_32x8d", "resnext101_32x8d", "ResNeXt-101 (32x8d): torchvision's resnext101_32x8d, 88,791,336 parameters.", _GROUPED)
ResNeXt101_64x4d = _class_builder(
    "ResNeXt101_64x4d", "resnext101_64x4d", "ResNeXt-101 (64x4d): torchvision's resnext101_64x4d, 83,455,272 "
    "parameters (paper: 83.5M, 15.6G).", _GROUPED)
SEResNet50 = _class_builder(
    "SEResNet50", "seresnet50", "SE-ResNet-50 (r=16): 28,088,024 parameters as timm's seresnet50 (no conv biases); "
    "stride on the first 1x1 as the authors' Caffe model (timm's legacy_seresnet50), 3.87G MACs as the paper.", _BOTTLENECK)
SEResNet101 = _class_builder("SEResNet101", "seresnet101", "SE-ResNet-101 (r=16), as SEResNet50.", _BOTTLENECK)
SEResNet152 = _class_builder("SEResNet152", "seresnet152", "SE-ResNet-152 (r=16), as SEResNet50.", _BOTTLENECK)
SEResNeXt50_32x4d = _class_builder(
    "SEResNeXt50_32x4d", "seresnext50_32x4d", "SE-ResNeXt-50 (32x4d, r=16): timm's seresnext50_32x4d "
    "(stride on the 3x3, as the authors').", _GROUPED)
SEResNeXt101_32x4d = _class_builder(
    "SEResNeXt101_32x4d", "seresnext101_32x4d", "SE-ResNeXt-101 (32x4d, r=16): timm's seresnext101_32x4d.", _GROUPED)


def WideResNet(
    depth=28,
    width=10,
    dropout_rate=0.0,
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
    """Wide ResNet WRN-depth-width for CIFAR (Zagoruyko & Komodakis 2016, Table 1),
    as the authors' code: conv3x3(16) -> three stages of (depth - 4) / 6
    pre-activation basic blocks with 16k, 32k, 64k channels (strides 1, 2, 2) ->
    BN -> ReLU -> average pool -> Dense. No conv biases. WRN-28-10: 36,479,194
    parameters (paper: 36.5M), 5.25G MACs at 32x32.

    Args: depth (6n + 4), width (k), dropout_rate (between the two convs of each
    block; the paper's best CIFAR results use 0.3), input 32x32 by default (at
    least 8x8), 10 classes; include_preprocessing adds the authors' CIFAR-10
    mean/std normalization. Backbone strides: 1, 2, 4. The rest as ResNet50.
    """
    if not isinstance(depth, numbers.Integral) or isinstance(depth, bool) or depth < 10 or (depth - 4) % 6:
        raise ValueError(f"`depth` of a Wide ResNet must be 6n + 4 with n >= 1 blocks a stage, e.g. 16, 22, 28 or 40; received depth={depth!r}.")
    if not isinstance(width, numbers.Integral) or isinstance(width, bool) or width < 1:
        raise ValueError(f"`width` (the widening factor k) must be a positive integer, e.g. 10; received width={width!r}.")
    return build_resnet(
        wrn_spec(depth, width, dropout_rate),
        include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
        pooling=pooling, classes=classes, classifier_activation=classifier_activation,
        include_preprocessing=include_preprocessing, name=name or f"wrn_{depth}_{width}",
        features_only=features_only, out_strides=out_strides, default_size=32, min_size=8,
    )


# (registry name, builder, paper, arXiv, published params M, published MACs M at 224, their source,
#  reference implementation, note)
_RESNET = "Deep Residual Learning for Image Recognition (CVPR 2016)"
_V2 = "Identity Mappings in Deep Residual Networks (ECCV 2016)"
_WRN = "Wide Residual Networks (BMVC 2016)"
_RESNEXT = "Aggregated Residual Transformations for Deep Neural Networks (CVPR 2017)"
_KERAS_V2_SOURCE = ("keras.applications' documented parameter count; MACs: none published (the v2 paper prints no "
                    "ImageNet figures for these depths), ours measured here")
_SENET = "Squeeze-and-Excitation Networks (CVPR 2018)"
# The ResNet paper prints FLOPs (multiply-adds) in Table 1 but no parameter counts.
_RESNET_SOURCE = "paper (Table 1: GFLOPs = multiply-adds); params: torchvision's weights metadata (num_params)"
_TORCHVISION_SOURCE = "torchvision's weights metadata (num_params; _ops GFLOPS = multiply-adds)"
REGISTRY_TABLE = (
    ("resnet18", ResNet18, _RESNET, "1512.03385", 11.7, 1800, _RESNET_SOURCE, "torchvision.models.resnet18", ""),
    ("resnet34", ResNet34, _RESNET, "1512.03385", 21.8, 3600, _RESNET_SOURCE, "torchvision.models.resnet34", ""),
    ("resnet50", ResNet50, _RESNET, "1512.03385", 25.6, 3800, _RESNET_SOURCE,
     "keras.applications.ResNet50",
     "Stride on the bottleneck's first 1x1 (the paper's Caffe model, keras.applications): 3.87G MACs. "
     "The often quoted 4.1G is torchvision's 'v1.5' (stride on the 3x3)."),
    ("resnet101", ResNet101, _RESNET, "1512.03385", 44.5, 7600, _RESNET_SOURCE, "keras.applications.ResNet101", ""),
    ("resnet152", ResNet152, _RESNET, "1512.03385", 60.2, 11300, _RESNET_SOURCE, "keras.applications.ResNet152", ""),
    # The v2 paper gives no ImageNet figures for these depths: params as keras.applications
    # prints them, no MACs (ours are in the README's table).
    ("resnet50_v2", ResNet50V2, _V2, "1603.05027", 25.6, None, _KERAS_V2_SOURCE, "keras.applications.ResNet50V2", ""),
    ("resnet101_v2", ResNet101V2, _V2, "1603.05027", 44.7, None, _KERAS_V2_SOURCE, "keras.applications.ResNet101V2", ""),
    ("resnet152_v2", ResNet152V2, _V2, "1603.05027", 60.4, None, _KERAS_V2_SOURCE, "keras.applications.ResNet152V2", ""),
    ("wide_resnet50_2", WideResNet50_2, _WRN, "1605.07146", 68.9, 11400, _TORCHVISION_SOURCE, "torchvision.models.wide_resnet50_2", ""),
    ("wide_resnet101_2", WideResNet101_2, _WRN, "1605.07146", 126.9, 22800, _TORCHVISION_SOURCE, "torchvision.models.wide_resnet101_2", ""),
    ("resnext50_32x4d", ResNeXt50_32x4d, _RESNEXT, "1611.05431", 25.0, 4200, "paper (Table 1: 25.0M params, 4.2 GFLOPs)", "torchvision.models.resnext50_32x4d", ""),
    ("resnext101_32x8d", ResNeXt101_32x8d, _RESNEXT, "1611.05431", 88.8, 16400, _TORCHVISION_SOURCE + " (not in the paper's tables)",
     "torchvision.models.resnext101_32x8d", ""),
    ("resnext101_64x4d", ResNeXt101_64x4d, _RESNEXT, "1611.05431", 83.455272, 15460,
     _TORCHVISION_SOURCE + " (the paper prints no totals for it)", "torchvision.models.resnext101_64x4d", ""),
    ("seresnet50", SEResNet50, _SENET, "1709.01507", 28.1, 3870, "paper (MACs, Table 2); params: timm", "timm seresnet50 / legacy_seresnet50", ""),
    ("seresnet101", SEResNet101, _SENET, "1709.01507", 49.3, 7600, "paper (MACs, Table 2); params: timm", "timm seresnet101", ""),
    ("seresnet152", SEResNet152, _SENET, "1709.01507", 66.8, 11320, "paper (MACs, Table 2); params: timm", "timm seresnet152", ""),
    ("seresnext50_32x4d", SEResNeXt50_32x4d, _SENET, "1709.01507", 27.6, 4250, "paper (MACs, Table 2); params: timm",
     "timm seresnext50_32x4d", ""),
    ("seresnext101_32x4d", SEResNeXt101_32x4d, _SENET, "1709.01507", 49.0, 8000, "paper (MACs, Table 2); params: timm",
     "timm seresnext101_32x4d", ""),
)

for _name, _builder, _paper, _arxiv, _params, _macs, _source, _reference, _note in REGISTRY_TABLE:
    register_model(
        _name, _builder, family="resnet", paper=_paper, arxiv=_arxiv, default_size=224,
        paper_params_m=_params, paper_macs_m=_macs, figures_source=_source, reference=_reference, note=_note,
    )
register_model(
    "wrn_28_10", WideResNet, defaults={"depth": 28, "width": 10}, family="resnet", paper=_WRN, arxiv="1605.07146",
    default_size=32, paper_params_m=36.5, paper_macs_m=None,
    figures_source="paper (params, Table 4); MACs: none published, ours measured here",
    reference="szagoruyko/wide-residual-networks",
)
