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
reference whose layer names and conventions it follows; one graph walks it. The
family builders make it from their knobs: `ResNet` (Table 1's depth, version, the
reference's style, ResNeXt and SE knobs) and `WideResNet` (the CIFAR WRN);
`build_resnet` builds any spec.

Which reference each network follows:

- resnet50/101/152 and the v2 nets: keras.applications (layer names, conv biases,
  BN epsilon 1.001e-5, stride on the bottleneck's first 1x1 as the paper's Caffe
  models), so its published weight files load and give the same outputs. Its
  ResNet50 has 25,636,712 parameters (torchvision's, without conv biases:
  25,557,032, -0.3%) and 3.87G MACs at 224: the paper's "3.8 GFLOPs". torchvision's
  "4.1G" is its "ResNet v1.5", stride on the 3x3 (`stride_on="3x3"` builds it).
  layout="torchvision" builds torchvision's own resnet50/101/152 instead (its names,
  no conv biases, BN epsilon 1e-5, stride on the 3x3, ImageNet mean/std): the graph
  torchvision's checkpoints load on (tests/test_torchvision_reference_resnet.py).
- resnet18/34: keras.applications has none; torchvision's definition (no conv
  biases; it is the paper's, option-B projection shortcuts).
- wide_resnet50_2/101_2, resnext*: torchvision's definitions (stride on the 3x3).
- seresnet*: the SENet authors' Caffe models (as Cadene's `pretrainedmodels` and
  timm's `legacy_seresnet*`): stride on the first 1x1, so 3.87G MACs as the paper's
  Table 2; same parameters as timm's `seresnet50` (28,088,024), which strides on the
  3x3 (4.1G MACs; `stride_on="3x3"` or layout="torchvision" builds it; not yet checked
  against timm's forward pass). seresnext*: stride on the 3x3, as
  the authors' and timm's. SE reduction r = 16, SE layers named as timm's (`se_fc1`).
- wrn_28_10: the authors' (szagoruyko/wide-residual-networks) CIFAR network: conv
  3x3 16, three stages of pre-activation basic blocks (16k, 32k, 64k channels),
  1x1 projection from the pre-activated input, dropout between the two convs.
"""

import dataclasses
import inspect
import numbers
from typing import Optional, Tuple

from keras import layers

from keras_lightnets.layers.blocks import activation
from keras_lightnets.layers.blocks import batch_norm
from keras_lightnets.layers.preprocessing import CIFAR10_RGB_MEAN
from keras_lightnets.layers.preprocessing import CIFAR10_RGB_STD
from keras_lightnets.layers.preprocessing import caffe_preprocessing
from keras_lightnets.layers.preprocessing import standardize
from keras_lightnets.layers.preprocessing import torch_preprocessing
from keras_lightnets.layers.residual import BLOCK_KINDS
from keras_lightnets.layers.residual import STRIDE_ON
from keras_lightnets.layers.residual import ResidualBlockNames
from keras_lightnets.layers.residual import residual_block
from keras_lightnets.models import _common
from keras_lightnets.models._family import Family
from keras_lightnets.models._family import one_of
from keras_lightnets.models._family import variant
from keras_lightnets.registry import list_models
from keras_lightnets.registry import model_info
from keras_lightnets.weights import KERAS_APPLICATIONS_URL
from keras_lightnets.weights import WeightFile

__all__ = ["ResNet", "WideResNet"]  # and each variant, added by @variant

# ------------------------------------------------------------ the architecture as data


@dataclasses.dataclass(frozen=True)
class ResNetStage:
    """One row of a stage table: `repeats` blocks of `planes`, the first (or, in keras'
    v2, the last) striding by `stride`."""

    repeats: int
    planes: int  # torchvision's `planes`, keras' `filters`: the bottleneck width at base_width 64
    stride: int


@dataclasses.dataclass(frozen=True)
class ResNetSpec:
    """One network of the family: its stage table and block conventions."""

    block: str  # one of BLOCK_KINDS
    stages: Tuple[ResNetStage, ...]
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
    return tuple(ResNetStage(n, p, s) for n, p, s in zip(PAPER_TABLE[depth][1], PLANES, strides))




# The references' conventions (ResNetSpec's defaults are torchvision's).
KERAS_V1 = dict(naming="keras", use_bias=True, bn_epsilon=1.001e-5, bn_momentum=0.99, preprocessing="caffe")
KERAS_V2 = dict(KERAS_V1, preprocessing="tf", block="preact_bottleneck", stride_at="last")
STYLES = ("keras", "torchvision")
LAYOUTS = ("keras", "torchvision")  # "torchvision": torchvision's graph, whatever style and stride_on say
VERSIONS = (1, 2)


def resnet_spec(depth=50, version=1, style="torchvision", stride_on="3x3", cardinality=1, base_width=64, se_ratio=None,
                layout="keras"):
    """The ImageNet network of the ResNet paper's Table 1 at `depth` (v2: pre-activation,
    keras.applications' ResNetV2), with `style`'s conventions and the ResNeXt/SENet knobs.
    layout="torchvision": torchvision's graph of that network whatever `style` and
    `stride_on` say (its "v1.5": stride on the 3x3; its names, no conv biases, BN epsilon
    1e-5, ImageNet mean/std), the graph its checkpoints load on; "keras": the knobs as given."""
    if layout == "torchvision":
        if version != 1:
            raise ValueError("layout='torchvision' builds torchvision's ResNets, which are all v1 (torchvision has no "
                             f"pre-activation ResNet); received version={version!r}. Use version=1 or layout='keras'.")
        style, stride_on = "torchvision", "3x3"
    kind = PAPER_TABLE[depth][0]
    conventions = {1: KERAS_V1, 2: KERAS_V2}[version] if style == "keras" else {}
    stem = f"resnet{depth}{'v2' if version == 2 else ''}"
    return ResNetSpec(**{
        "block": kind, "stages": imagenet_stages(depth, conventions.get("stride_at", "first")),
        "expansion": 1 if kind == "basic" else 4, "stride_on": stride_on, "cardinality": cardinality,
        "base_width": base_width, "se_ratio": se_ratio,
        "keras_weights": stem if style == "keras" and stem in _WEIGHT_HASHES else None, **conventions})


def wrn_spec(depth=28, width=10, dropout_rate=0.0):
    """Wide ResNet for CIFAR (WRN-depth-width): (depth - 4) / 6 blocks a stage."""
    n = (depth - 4) // 6
    return ResNetSpec(
        block="preact_basic", stages=tuple(ResNetStage(n, c * width, s) for c, s in ((16, 1), (32, 2), (64, 2))),
        expansion=1, stem="cifar", stem_width=16, dropout_rate=dropout_rate, preprocessing="cifar",
    )


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


def spec_imagenet(spec, has_top):
    """(keras.applications' file, None) when it was trained for `spec`, else (None, why not)."""
    if spec.keras_weights is None:
        return None, "keras.applications publishes ImageNet weights only for ResNet50/101/152 and their V2; use weights=None or a file"
    published = next(s for s in SPECS.values() if s.keras_weights == spec.keras_weights)
    if spec != published:
        return None, "the published file is for the default architecture; leave stride_on, se_ratio, cardinality and base_width at their defaults"
    return imagenet_weights(spec.keras_weights, has_top), None


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


# ------------------------------------------------------------------- the graph


def _preprocess(x, mode):
    if mode == "caffe":
        return caffe_preprocessing(x)
    if mode == "torch":
        return torch_preprocessing(x)
    if mode == "cifar":
        return standardize(x, CIFAR10_RGB_MEAN, CIFAR10_RGB_STD, name="cifar_preprocessing")  # the WRN authors' normalization
    return _common.preprocessing(x)  # "tf": [-1, 1]


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
        x = batch_norm(x, bn, spec.bn_epsilon, spec.bn_momentum)
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
                names=ResidualBlockNames(spec.naming, prefix, spec.preact),
            )
            stride *= block_stride
            taps.record(x, stride)
    return x, stride


def spec_graph(x, taps, *, spec):
    """The network `spec` describes: its stem, stage table and, in pre-activation nets,
    the final BN-ReLU."""
    check_spec(spec)
    x, stride = _stem(x, spec, taps)
    x, stride = walk_stages(x, spec, taps, stride)
    if spec.preact:
        x = batch_norm(x, "post_bn", spec.bn_epsilon, spec.bn_momentum)
        x = activation(x, "relu", "post_relu")
        taps.record(x, stride)
    return x


def _classifier(x, classes, classifier_activation, naming):
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return layers.Dense(classes, activation=classifier_activation, name="predictions" if naming == "keras" else "fc")(x)


def spec_head(x, *, classes, classifier_activation, spec):
    return _classifier(x, classes, classifier_activation, spec.naming)


def resnet_graph(x, taps, *, depth, version, style, stride_on, cardinality, base_width, se_ratio, layout):
    return spec_graph(x, taps, spec=resnet_spec(depth, version, style, stride_on, cardinality, base_width, se_ratio,
                                                layout))


def resnet_head(x, *, classes, classifier_activation, style, layout):
    return _classifier(x, classes, classifier_activation, "torchvision" if layout == "torchvision" else style)


def wrn_graph(x, taps, *, depth, width, dropout_rate):
    return spec_graph(x, taps, spec=wrn_spec(depth, width, dropout_rate))


def wrn_head(x, *, classes, classifier_activation):
    return _classifier(x, classes, classifier_activation, "torchvision")


# ------------------------------------------------------------------------ the builders

# keras.applications.ResNet50's order (`name` last of its own, issue 21), then ours.
_KERAS_ORDER = ("include_top", "weights", "input_tensor", "input_shape", "pooling", "classes", "classifier_activation",
                "name", "include_preprocessing", "features_only", "out_strides")
_RESNET_KNOBS = dict(inspect.signature(resnet_spec).parameters)


def _check_depth(name, depth):
    if not isinstance(depth, numbers.Integral) or isinstance(depth, bool) or depth < 10 or (depth - 4) % 6:
        raise ValueError(f"`depth` of a Wide ResNet must be 6n + 4 with n >= 1 blocks a stage, e.g. 16, 22, 28 or 40; received depth={depth!r}.")


def _check_width(name, width):
    if not isinstance(width, numbers.Integral) or isinstance(width, bool) or width < 1:
        raise ValueError(f"`width` (the widening factor k) must be a positive integer, e.g. 10; received width={width!r}.")


# Each network takes its reference's preprocessing (keras.applications' caffe or tf
# mode, torchvision's, the WRN authors' CIFAR statistics): it depends on the knobs.
def spec_preprocessing(x, *, spec):
    return _preprocess(x, spec.preprocessing)


def resnet_preprocessing(x, *, depth, version, style, stride_on, cardinality, base_width, se_ratio, layout):
    spec = resnet_spec(depth, version, style, stride_on, cardinality, base_width, se_ratio, layout)
    return _preprocess(x, spec.preprocessing)


def wrn_preprocessing(x, *, depth, width, dropout_rate):
    return _preprocess(x, wrn_spec(depth, width, dropout_rate).preprocessing)


build_resnet = Family(
    "build_resnet", graph=spec_graph, head=spec_head, preprocessing=spec_preprocessing,
    knobs={"spec": resnet_spec()}, order=("spec",) + _KERAS_ORDER,
    checks={"spec": lambda name, spec: check_spec(spec)},
    default_size=lambda knobs: 32 if knobs["spec"].stem == "cifar" else 224,
    min_size=lambda knobs: 8 if knobs["spec"].stem == "cifar" else 32,
    default_name=lambda knobs, rows: "resnet",
    imagenet=lambda knobs, rows, has_top: spec_imagenet(knobs["spec"], has_top),
).builder(doc="""Builds the network a `ResNetSpec` describes (any stage table and conventions);
    the other arguments as ResNet's. weights="imagenet" needs `spec` to be one that
    keras.applications published (SPECS["resnet50"], ...).""")

ResNet = Family(
    "ResNet", graph=resnet_graph, head=resnet_head, preprocessing=resnet_preprocessing,
    knobs={k: p.default for k, p in _RESNET_KNOBS.items()}, order=_KERAS_ORDER + tuple(_RESNET_KNOBS),
    checks={"depth": one_of(PAPER_TABLE), "version": one_of(VERSIONS), "style": one_of(STYLES),
            "layout": one_of(LAYOUTS)},
    default_name=lambda knobs, rows: f"resnet{knobs['depth']}",
    imagenet=lambda knobs, rows, has_top: spec_imagenet(resnet_spec(**knobs), has_top),
).builder(doc="""A ResNet of the paper's Table 1 (v1, or v2: pre-activation) with the ResNeXt
    (cardinality, base_width) and SENet (se_ratio) knobs, as keras.applications
    (style="keras": its layer names, conv biases and preprocessing; its ImageNet files
    for ResNet50/101/152 and their V2) or torchvision (style="torchvision").

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
        name: model name (ResNet50 & co.: keras.applications' "resnet50", ...).
        include_preprocessing: take [0, 255] RGB pixels (adds keras.applications'
            `preprocess_input` as layers). False, as keras.applications.
        features_only: return the backbone's feature maps at `out_strides`
            (2: stem conv, 4, 8, 16, 32: the outputs of the four stages).
        out_strides: strides of the feature maps, default (4, 8, 16, 32).
    Architecture knobs:
        depth: 18, 34, 50, 101 or 152 (Table 1).
        version: 1, or 2 (pre-activation; keras.applications' ResNetV2, style "keras").
        style: "keras" or "torchvision", the reference whose conventions it follows.
        stride_on: '1x1' or '3x3', which bottleneck conv strides.
        cardinality: groups of the 3x3 conv (ResNeXt's C).
        base_width: width of each group at 64 planes (ResNeXt's d; 64: plain, 128: wide).
        se_ratio: squeeze-excitation reduction r on every block (None: no SE).
        layout: "keras" (the knobs as given: ResNet50/101/152 are keras.applications')
            or "torchvision": torchvision's graph of the network (its "v1.5", stride
            on the 3x3; its layer names, no conv biases, BN epsilon 1e-5, ImageNet
            mean/std preprocessing), overriding style and stride_on: the graph its
            checkpoints load on (weights="torchvision" sets it). v1 only.
    """)

WideResNet = Family(
    "WideResNet", graph=wrn_graph, head=wrn_head, preprocessing=wrn_preprocessing,
    knobs={"depth": 28, "width": 10, "dropout_rate": 0.0},
    order=("depth", "width", "dropout_rate") + _KERAS_ORDER,
    checks={"depth": _check_depth, "width": _check_width,
            "dropout_rate": lambda name, rate: check_spec(wrn_spec(dropout_rate=rate))},
    defaults={"classes": 10, "out_strides": (1, 2, 4)}, default_size=32, min_size=lambda knobs: 8,
    default_name=lambda knobs, rows: f"wrn_{knobs['depth']}_{knobs['width']}",
    no_imagenet="keras.applications publishes ImageNet weights only for ResNet50/101/152 and their V2; use weights=None or a file",
).builder(doc="""Wide ResNet WRN-depth-width for CIFAR (Zagoruyko & Komodakis 2016, Table 1),
    as the authors' code: conv3x3(16) -> three stages of (depth - 4) / 6
    pre-activation basic blocks with 16k, 32k, 64k channels (strides 1, 2, 2) ->
    BN -> ReLU -> average pool -> Dense. No conv biases. WRN-28-10: 36,479,194
    parameters (paper: 36.5M), 5.25G MACs at 32x32.

    Args: depth (6n + 4), width (k), dropout_rate (between the two convs of each
    block; the paper's best CIFAR results use 0.3), input 32x32 by default (at
    least 8x8), 10 classes; include_preprocessing adds the authors' CIFAR-10
    mean/std normalization. Backbone strides: 1, 2, 4. The rest as ResNet.
    """)


# ------------------------------------------------------------------------ the variants

_RESNET = dict(family="resnet", paper="Deep Residual Learning for Image Recognition (CVPR 2016)", arxiv="1512.03385",
               default_size=224,  # The paper prints FLOPs (multiply-adds) in Table 1 but no parameter counts.
               figures_source="paper (Table 1: GFLOPs = multiply-adds); params: torchvision's weights metadata (num_params)")
_V2 = dict(family="resnet", paper="Identity Mappings in Deep Residual Networks (ECCV 2016)", arxiv="1603.05027",
           default_size=224, paper_macs_m=None,
           # The v2 paper gives no ImageNet figures for these depths: params as keras.applications prints them.
           figures_source="keras.applications' documented parameter count; MACs: none published (the v2 paper prints no "
                          "ImageNet figures for these depths), ours measured here")
_TORCHVISION_SOURCE = "torchvision's weights metadata (num_params; _ops GFLOPS = multiply-adds)"
_WRN = dict(family="resnet", paper="Wide Residual Networks (BMVC 2016)", arxiv="1605.07146")
_RESNEXT = dict(family="resnet", paper="Aggregated Residual Transformations for Deep Neural Networks (CVPR 2017)",
                arxiv="1611.05431", default_size=224)
_SENET = dict(family="resnet", paper="Squeeze-and-Excitation Networks (CVPR 2018)", arxiv="1709.01507", default_size=224,
              figures_source="paper (MACs, Table 2); params: timm")
# The architecture knobs each kind of network takes.
_PLAIN = ("se_ratio",)
_BOTTLENECK = ("stride_on", "se_ratio")
_GROUPED = ("cardinality", "base_width", "stride_on", "se_ratio")
_KERAS_V1 = {"style": "keras", "stride_on": "1x1"}  # the paper's Caffe models' stride
_KERAS_V2 = {"version": 2, "style": "keras"}
_SE = {"se_ratio": 16}
_RESNEXT_32X4D = {"cardinality": 32, "base_width": 4}


def resnet_variant(registry_name, *, knobs, tunable=(), model_name=None, **figures):
    """@variant over the ResNet family, in keras.applications' positional order: `knobs`
    fix the architecture except the `tunable` ones, whose values there are the variant's
    defaults; the family's other knobs it does not take (as before the family builder,
    e.g. ResNet18 takes no `cardinality`), except `layout` on the v1 networks whose graph
    is not torchvision's already (keras.applications' ResNet50/101/152, the SE-ResNets):
    they take it at the family's default, outside their registered defaults, so a weight
    set's layout="torchvision" does not clash with them. The model is named `model_name`
    (default: the registry name), as keras.applications names its models."""
    fixed = {**ResNet.family.knobs, **knobs}
    takes_layout = fixed["version"] == 1 and (fixed["style"], fixed["stride_on"]) != ("torchvision", "3x3")
    return variant(registry_name, ResNet, knobs={k: v for k, v in knobs.items() if k not in tunable},
                   defaults={k: v for k, v in knobs.items() if k in tunable}, order=_KERAS_ORDER,
                   model_name=model_name or registry_name,
                   hide=[k for k in ResNet.family.knobs if k not in knobs and k not in tunable
                         and not (k == "layout" and takes_layout)], **figures)


@resnet_variant("resnet18", knobs={"depth": 18}, tunable=_PLAIN, **_RESNET, paper_params_m=11.7, paper_macs_m=1800,
               reference="torchvision.models.resnet18")
def ResNet18(*args, **kwargs):
    """ResNet-18 (paper Table 1). keras.applications has none: torchvision's resnet18
    (layer names `layer1_0_conv1`, no conv biases), 11,689,512 parameters. See `ResNet`."""


@resnet_variant("resnet34", knobs={"depth": 34}, tunable=_PLAIN, **_RESNET, paper_params_m=21.8, paper_macs_m=3600,
               reference="torchvision.models.resnet34")
def ResNet34(*args, **kwargs):
    """ResNet-34 (paper Table 1). keras.applications has none: torchvision's resnet34
    (no conv biases), 21,797,672 parameters. See `ResNet`."""


@resnet_variant("resnet50", knobs={"depth": 50, **_KERAS_V1}, tunable=_BOTTLENECK, **_RESNET, paper_params_m=25.6,
               paper_macs_m=3800, reference="keras.applications.ResNet50",
               note="Stride on the bottleneck's first 1x1 (the paper's Caffe model, keras.applications): 3.87G MACs. "
                    "The often quoted 4.1G is torchvision's 'v1.5' (stride on the 3x3).")
def ResNet50(*args, **kwargs):
    """ResNet-50, exactly keras.applications.ResNet50 (25,636,712 parameters with its conv
    biases; torchvision's has none: 25,557,032, -0.3%). Stride on the first 1x1 of a
    bottleneck as the paper's Caffe model: 3.87G MACs (paper: 3.8 GFLOPs); stride_on='3x3'
    gives torchvision's v1.5 (4.09G). See `ResNet`."""


@resnet_variant("resnet101", knobs={"depth": 101, **_KERAS_V1}, tunable=_BOTTLENECK, **_RESNET,
               paper_params_m=44.5, paper_macs_m=7600, reference="keras.applications.ResNet101")
def ResNet101(*args, **kwargs):
    """ResNet-101, exactly keras.applications.ResNet101 (44,707,176 parameters;
    torchvision's: 44,549,160, -0.4%). See `ResNet`."""


@resnet_variant("resnet152", knobs={"depth": 152, **_KERAS_V1}, tunable=_BOTTLENECK, **_RESNET,
               paper_params_m=60.2, paper_macs_m=11300, reference="keras.applications.ResNet152")
def ResNet152(*args, **kwargs):
    """ResNet-152, exactly keras.applications.ResNet152 (60,419,944 parameters;
    torchvision's: 60,192,808, -0.4%). See `ResNet`."""


@resnet_variant("resnet50_v2", knobs={"depth": 50, **_KERAS_V2}, tunable=_PLAIN, model_name="resnet50v2", **_V2,
               paper_params_m=25.6, reference="keras.applications.ResNet50V2")
def ResNet50V2(*args, **kwargs):
    """ResNet-50 v2 (pre-activation), exactly keras.applications.ResNet50V2 (stride on the
    last block of each stage). See `ResNet`."""


@resnet_variant("resnet101_v2", knobs={"depth": 101, **_KERAS_V2}, tunable=_PLAIN, model_name="resnet101v2", **_V2,
               paper_params_m=44.7, reference="keras.applications.ResNet101V2")
def ResNet101V2(*args, **kwargs):
    """ResNet-101 v2, exactly keras.applications.ResNet101V2. See `ResNet`."""


@resnet_variant("resnet152_v2", knobs={"depth": 152, **_KERAS_V2}, tunable=_PLAIN, model_name="resnet152v2", **_V2,
               paper_params_m=60.4, reference="keras.applications.ResNet152V2")
def ResNet152V2(*args, **kwargs):
    """ResNet-152 v2, exactly keras.applications.ResNet152V2. See `ResNet`."""


@resnet_variant("wide_resnet50_2", knobs={"depth": 50, "base_width": 128}, tunable=_GROUPED, **_WRN, default_size=224,
               paper_params_m=68.9, paper_macs_m=11400, figures_source=_TORCHVISION_SOURCE,
               reference="torchvision.models.wide_resnet50_2")
def WideResNet50_2(*args, **kwargs):
    """Wide ResNet-50-2: torchvision's wide_resnet50_2 (bottlenecks twice as wide),
    68,883,240 parameters. See `ResNet`."""


@resnet_variant("wide_resnet101_2", knobs={"depth": 101, "base_width": 128}, tunable=_GROUPED, **_WRN, default_size=224,
               paper_params_m=126.9, paper_macs_m=22800, figures_source=_TORCHVISION_SOURCE,
               reference="torchvision.models.wide_resnet101_2")
def WideResNet101_2(*args, **kwargs):
    """Wide ResNet-101-2: torchvision's wide_resnet101_2, 126,886,696 parameters. See `ResNet`."""


@resnet_variant("resnext50_32x4d", knobs={"depth": 50, **_RESNEXT_32X4D}, tunable=_GROUPED, **_RESNEXT,
               paper_params_m=25.0, paper_macs_m=4200, figures_source="paper (Table 1: 25.0M params, 4.2 GFLOPs)",
               reference="torchvision.models.resnext50_32x4d")
def ResNeXt50_32x4d(*args, **kwargs):
    """ResNeXt-50 (32x4d): torchvision's resnext50_32x4d, 25,028,904 parameters (paper:
    25.0M, 4.2G). See `ResNet`."""


@resnet_variant("resnext101_32x8d", knobs={"depth": 101, "cardinality": 32, "base_width": 8}, tunable=_GROUPED,
               **_RESNEXT, paper_params_m=88.8, paper_macs_m=16400,
               figures_source=_TORCHVISION_SOURCE + " (not in the paper's tables)", reference="torchvision.models.resnext101_32x8d")
def ResNeXt101_32x8d(*args, **kwargs):
    """ResNeXt-101 (32x8d): torchvision's resnext101_32x8d, 88,791,336 parameters. See `ResNet`."""


@resnet_variant("resnext101_64x4d", knobs={"depth": 101, "cardinality": 64, "base_width": 4}, tunable=_GROUPED,
               **_RESNEXT, paper_params_m=83.455272, paper_macs_m=15460,
               figures_source=_TORCHVISION_SOURCE + " (the paper prints no totals for it)",
               reference="torchvision.models.resnext101_64x4d")
def ResNeXt101_64x4d(*args, **kwargs):
    """ResNeXt-101 (64x4d): torchvision's resnext101_64x4d, 83,455,272 parameters (paper:
    83.5M, 15.6G). See `ResNet`."""


@resnet_variant("seresnet50", knobs={"depth": 50, **_SE, "stride_on": "1x1"}, tunable=_BOTTLENECK, **_SENET,
               paper_params_m=28.1, paper_macs_m=3870, reference="timm seresnet50 / legacy_seresnet50")
def SEResNet50(*args, **kwargs):
    """SE-ResNet-50 (r=16): 28,088,024 parameters as timm's seresnet50 (no conv biases);
    stride on the first 1x1 as the authors' Caffe model (timm's legacy_seresnet50), 3.87G
    MACs as the paper. See `ResNet`."""


@resnet_variant("seresnet101", knobs={"depth": 101, **_SE, "stride_on": "1x1"}, tunable=_BOTTLENECK, **_SENET,
               paper_params_m=49.3, paper_macs_m=7600, reference="timm seresnet101")
def SEResNet101(*args, **kwargs):
    """SE-ResNet-101 (r=16), as SEResNet50."""


@resnet_variant("seresnet152", knobs={"depth": 152, **_SE, "stride_on": "1x1"}, tunable=_BOTTLENECK, **_SENET,
               paper_params_m=66.8, paper_macs_m=11320, reference="timm seresnet152")
def SEResNet152(*args, **kwargs):
    """SE-ResNet-152 (r=16), as SEResNet50."""


@resnet_variant("seresnext50_32x4d", knobs={"depth": 50, **_SE, **_RESNEXT_32X4D}, tunable=_GROUPED, **_SENET,
               paper_params_m=27.6, paper_macs_m=4250, reference="timm seresnext50_32x4d")
def SEResNeXt50_32x4d(*args, **kwargs):
    """SE-ResNeXt-50 (32x4d, r=16): timm's seresnext50_32x4d (stride on the 3x3, as the
    authors'). See `ResNet`."""


@resnet_variant("seresnext101_32x4d", knobs={"depth": 101, **_SE, **_RESNEXT_32X4D}, tunable=_GROUPED, **_SENET,
               paper_params_m=49.0, paper_macs_m=8000, reference="timm seresnext101_32x4d")
def SEResNeXt101_32x4d(*args, **kwargs):
    """SE-ResNeXt-101 (32x4d, r=16): timm's seresnext101_32x4d. See `ResNet`."""


@variant("wrn_28_10", WideResNet, knobs={"depth": 28, "width": 10}, order=_KERAS_ORDER,
         **_WRN, default_size=32,
               paper_params_m=36.5, paper_macs_m=None,
               figures_source="paper (params, Table 4); MACs: none published, ours measured here",
               reference="szagoruyko/wide-residual-networks")
def WideResNet28_10(*args, **kwargs):
    """WRN-28-10 (the paper's Table 4): 36,479,194 parameters. See `WideResNet`."""


# Every registered network's spec, by registry name.
_SPEC_OF = {ResNet: resnet_spec, WideResNet: wrn_spec}
SPECS = {name: _SPEC_OF[model_info(name).builder](**model_info(name).defaults)
         for name in list_models() if model_info(name).builder in _SPEC_OF}
