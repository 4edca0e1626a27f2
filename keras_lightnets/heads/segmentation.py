"""Segmentation heads on any backbone of the zoo: LR-ASPP (Howard et al., "Searching for
MobileNetV3", ICCV 2019, section 6.4) and DeepLabV3's ASPP (Chen et al., "Rethinking
Atrous Convolution for Semantic Image Segmentation", arXiv:1706.05587; the MobileNetV2
paper's "Mobile DeepLabv3", section 6.3), each as torchvision 0.14 builds it
(torchvision/models/segmentation/lraspp.py, deeplabv3.py).

    backbone = kl.create_model("efficientnet_lite0", features_only=True)
    model = kl.heads.LRASPP(backbone, classes=21)      # per-pixel logits at the input's size

A head takes a `features_only` model (or any Keras model of one image input whose
outputs are feature maps) and returns one flat model from the same input to per-pixel
class probabilities (or logits) at the input's height and width: the backbone's layers are the model's
own, so weights load into it by layer name and it converts to TFLite as one graph.
Feature maps are chosen by output stride (their input size over theirs), or by the name
of a backbone layer whose output is the map (torchvision's LR-ASPP on MobileNetV3 takes
its low-level features from the first block at stride 8, not the last).

Torchvision's module names for the heads' layers are in LRASPP_TORCH_NAMES and
DEEPLABV3_TORCH_NAMES (its `classifier.*`), for its checkpoints.
"""

import numbers

import keras
from keras import layers

from keras_lightnets.layers.blocks import activation
from keras_lightnets.layers.blocks import batch_norm
from keras_lightnets.layers.resize import ResizeLike

__all__ = ["LRASPP", "DeepLabV3", "feature_maps", "LRASPP_TORCH_NAMES", "DEEPLABV3_TORCH_NAMES",
           "deeplabv3_torch_names"]

# torchvision's heads use nn.BatchNorm2d's defaults (epsilon 1e-5; momentum 0.1 in
# PyTorch's convention, 0.9 in Keras'), as its reference training does.
BN_EPSILON, BN_MOMENTUM = 1e-5, 0.9
PROBE_SIZE = 512  # an input size at which an open-dims backbone's strides are read


# ----------------------------------------------------------------- the backbone's maps


def _stride(rows, map_rows):
    """The output stride s at which a map of `map_rows` rows comes from `rows` rows: the
    least power of two with ceil(rows / s) == map_rows (TensorFlow's "same" and PyTorch's
    symmetric padding both round up)."""
    stride = 1
    while stride <= rows:
        if -(-rows // stride) == map_rows:
            return stride
        stride *= 2
    return None


def _check_backbone(backbone):
    if not isinstance(backbone, keras.Model):
        raise ValueError(f"`backbone` must be a Keras model of the zoo's features_only mode, e.g. "
                         "kl.create_model('mobilenet_v3_large', features_only=True); "
                         f"received {type(backbone).__name__}.")
    if len(backbone.inputs) != 1 or len(backbone.inputs[0].shape) != 4:
        raise ValueError(f"`backbone` must take one image input (batch, height, width, channels); "
                         f"{backbone.name!r} takes {[tuple(i.shape) for i in backbone.inputs]}.")


def feature_maps(backbone, names=()):
    """{output stride: feature map} of `backbone`'s outputs (the deepest kept where two
    share a stride), and {name: (stride, map)} for the backbone layers `names`."""
    _check_backbone(backbone)
    image = backbone.inputs[0]
    outputs = list(backbone.outputs)
    named = [backbone.get_layer(name).output for name in names]
    rows = image.shape[1]
    if rows is None:  # open dims: the strides at a probe size
        probe = keras.Model(backbone.inputs, outputs + named)
        shapes = probe.compute_output_shape((1, PROBE_SIZE, PROBE_SIZE, image.shape[-1]))
        rows, map_rows = PROBE_SIZE, [shape[1] for shape in shapes]
    else:
        map_rows = [tensor.shape[1] for tensor in outputs + named]
    strides = [_stride(rows, r) for r in map_rows]
    for tensor, stride in zip(outputs + named, strides):
        if stride is None or len(tensor.shape) != 4:
            raise ValueError(f"`backbone` {backbone.name!r} has an output that is not a feature map of its input "
                             f"({tuple(tensor.shape)}); build it with features_only=True.")
    by_stride = dict(zip(strides[:len(outputs)], outputs))
    by_name = {name: (stride, tensor) for name, stride, tensor in zip(names, strides[len(outputs):], named)}
    return by_stride, by_name


def _choose(backbone, which, role):
    """(stride, map) for `which`: an output stride among the backbone's outputs, a layer
    name of the backbone, or None: its deepest output."""
    names = (which,) if isinstance(which, str) else ()
    if isinstance(which, str):
        try:
            backbone.get_layer(which)
        except ValueError:
            raise ValueError(f"`{role}`={which!r} is not a layer of backbone {backbone.name!r}.") from None
    by_stride, by_name = feature_maps(backbone, names)
    if which is None:
        stride = max(by_stride)
        return stride, by_stride[stride]
    if isinstance(which, str):
        return by_name[which]
    if not isinstance(which, numbers.Integral) or isinstance(which, bool) or which not in by_stride:
        raise ValueError(f"`{role}` must be one of the output strides of backbone {backbone.name!r}, "
                         f"{sorted(by_stride)}, or the name of one of its layers; received {role}={which!r}. "
                         "A features_only backbone offers the strides in its out_strides.")
    return which, by_stride[which]


def _check_head_arguments(classes, classifier_activation):
    if not isinstance(classes, numbers.Integral) or isinstance(classes, bool) or classes < 1:
        raise ValueError(f"`classes` must be a positive int (the background included); received classes={classes!r}.")
    try:
        keras.activations.get(classifier_activation)
    except (ValueError, TypeError):
        raise ValueError(f"`classifier_activation` must be 'softmax', None (logits) or another Keras activation; "
                         f"received {classifier_activation!r}.") from None


def _conv_bn_relu(x, filters, kernel_size, name, dilation=1):
    x = layers.Conv2D(filters, kernel_size, padding="same", dilation_rate=dilation, use_bias=False, name=name)(x)
    x = batch_norm(x, f"{name}_bn", BN_EPSILON, BN_MOMENTUM)
    return activation(x, "relu", f"{name}_relu")


def _finish(backbone, logits, classifier_activation, name, default_name):
    """Logits at the input's size (bilinear, as torchvision), the activation, the model."""
    image = backbone.inputs[0]
    x = ResizeLike(name=f"{default_name}_resize")([logits, image])
    x = layers.Activation(classifier_activation, name="predictions")(x)
    return keras.Model(backbone.input, x, name=name or f"{backbone.name}_{default_name}")


# ------------------------------------------------------------------------------ LR-ASPP


LRASPP_TORCH_NAMES = {
    "lraspp_cbr_conv": "classifier.cbr.0",
    "lraspp_cbr_conv_bn": "classifier.cbr.1",
    "lraspp_scale_conv": "classifier.scale.1",
    "lraspp_low_classifier": "classifier.low_classifier",
    "lraspp_high_classifier": "classifier.high_classifier",
}


def LRASPP(backbone, classes, *, low=8, high=None, inter_channels=128, classifier_activation="softmax", name=None):
    """Lite R-ASPP (MobileNetV3 paper, section 6.4 and Figure 10, as torchvision's
    LRASPPHead): the high-level map through a 1x1 conv-BN-ReLU, gated by a sigmoid of
    its globally pooled 1x1 projection, upsampled to the low-level map and classified;
    plus a classifier of the low-level map; the sum upsampled to the input's size.

    Args:
        backbone: a features_only model (any of the zoo's), or a Keras model of one
            image input whose outputs are feature maps.
        classes: number of classes, the background included.
        low: the low-level map: an output stride among the backbone's outputs (8, the
            paper's), or the name of a backbone layer whose output it is.
        high: the high-level map, likewise; None: the backbone's deepest output.
        inter_channels: the high branch's width (128, the paper's and torchvision's).
        classifier_activation: "softmax" (per-pixel class probabilities, as the
            zoo's classifiers), or None for per-pixel logits (torchvision's 'out').
        name: the model's name (default: the backbone's, "_lraspp").

    Returns:
        A keras.Model from the backbone's input to (batch, height, width, classes).
    """
    _check_head_arguments(classes, classifier_activation)
    if not isinstance(inter_channels, numbers.Integral) or isinstance(inter_channels, bool) or inter_channels < 1:
        raise ValueError(f"`inter_channels` must be a positive int; received inter_channels={inter_channels!r}.")
    low_stride, low_map = _choose(backbone, low, "low")
    high_stride, high_map = _choose(backbone, high, "high")
    if low_stride >= high_stride:
        raise ValueError(f"LR-ASPP needs a low-level map finer than the high-level one; backbone {backbone.name!r} "
                         f"gives low at stride {low_stride} and high at stride {high_stride}. Build it with "
                         "out_strides that include both (e.g. (8, 16) or (8, 32)).")
    x = layers.Conv2D(inter_channels, 1, use_bias=False, name="lraspp_cbr_conv")(high_map)
    x = batch_norm(x, "lraspp_cbr_conv_bn", BN_EPSILON, BN_MOMENTUM)
    x = activation(x, "relu", "lraspp_cbr_relu")
    s = layers.GlobalAveragePooling2D(keepdims=True, name="lraspp_scale_pool")(high_map)
    s = layers.Conv2D(inter_channels, 1, use_bias=False, name="lraspp_scale_conv")(s)
    s = activation(s, "sigmoid", "lraspp_scale_sigmoid")
    x = layers.Multiply(name="lraspp_scale_mul")([x, s])
    x = ResizeLike(name="lraspp_upsample")([x, low_map])
    low_logits = layers.Conv2D(classes, 1, name="lraspp_low_classifier")(low_map)
    high_logits = layers.Conv2D(classes, 1, name="lraspp_high_classifier")(x)
    logits = layers.Add(name="lraspp_add")([low_logits, high_logits])
    return _finish(backbone, logits, classifier_activation, name, "lraspp")


# ---------------------------------------------------------------------------- DeepLabV3


def deeplabv3_torch_names(rates):
    """torchvision's module names of DeepLabV3's head layers with these atrous rates."""
    names = {"aspp_conv": "classifier.0.convs.0.0", "aspp_conv_bn": "classifier.0.convs.0.1"}
    for i, rate in enumerate(rates, start=1):
        names.update({f"aspp_conv_rate{rate}": f"classifier.0.convs.{i}.0",
                      f"aspp_conv_rate{rate}_bn": f"classifier.0.convs.{i}.1"})
    pool = len(rates) + 1
    names.update({"aspp_pool_conv": f"classifier.0.convs.{pool}.1", "aspp_pool_conv_bn": f"classifier.0.convs.{pool}.2",
                  "aspp_project": "classifier.0.project.0", "aspp_project_bn": "classifier.0.project.1",
                  "deeplabv3_conv": "classifier.1", "deeplabv3_conv_bn": "classifier.2",
                  "deeplabv3_classifier": "classifier.4"})
    return names


DEEPLABV3_RATES = (12, 24, 36)  # torchvision's DeepLabHead (the paper's at output stride 8; 6, 12, 18 at 16)
DEEPLABV3_TORCH_NAMES = deeplabv3_torch_names(DEEPLABV3_RATES)


def DeepLabV3(backbone, classes, *, feature=None, atrous_rates=DEEPLABV3_RATES, channels=256, dropout_rate=0.5,
              refine=True, classifier_activation="softmax", name=None):
    """DeepLabV3's head (torchvision's DeepLabHead): atrous spatial pyramid pooling (a 1x1
    conv, one 3x3 conv per atrous rate, and image pooling: each conv-BN-ReLU of `channels`),
    concatenated, projected by a 1x1 conv-BN-ReLU and dropout, then (`refine`) a 3x3
    conv-BN-ReLU and the 1x1 classifier; upsampled bilinearly to the input's size.

    Args:
        backbone: a features_only model (any of the zoo's), or a Keras model of one
            image input whose outputs are feature maps.
        classes: number of classes, the background included.
        feature: the map the head reads: an output stride among the backbone's outputs
            or a backbone layer's name; None: its deepest output.
        atrous_rates: the 3x3 branches' dilations (torchvision's 12, 24, 36).
        channels: every branch's width and the projection's (256).
        dropout_rate: after the projection, while training (0.5).
        refine: torchvision's 3x3 conv-BN-ReLU between the projection and the
            classifier (DeepLabHead's); False: the projection feeds the classifier, as
            the DeepLab authors' code (the MobileNetV2 paper's Mobile DeepLabv3).
        classifier_activation: "softmax" (per-pixel class probabilities), or None
            for per-pixel logits (torchvision's 'out').
        name: the model's name (default: the backbone's, "_deeplabv3").
    """
    _check_head_arguments(classes, classifier_activation)
    rates = tuple(atrous_rates)
    if not all(isinstance(r, numbers.Integral) and not isinstance(r, bool) and r >= 1 for r in rates):
        raise ValueError(f"`atrous_rates` must be positive ints, e.g. (12, 24, 36), or () for none (the 1x1 and "
                         f"image pooling branches only); received {atrous_rates!r}.")
    if len(set(rates)) != len(rates):
        raise ValueError(f"`atrous_rates` must differ from each other; received {atrous_rates!r}.")
    if not isinstance(channels, numbers.Integral) or isinstance(channels, bool) or channels < 1:
        raise ValueError(f"`channels` must be a positive int; received channels={channels!r}.")
    if isinstance(dropout_rate, bool) or not isinstance(dropout_rate, numbers.Real) or not 0 <= dropout_rate < 1:
        raise ValueError(f"`dropout_rate` must be a number in [0, 1); received dropout_rate={dropout_rate!r}.")
    _, x = _choose(backbone, feature, "feature")
    branches = [_conv_bn_relu(x, channels, 1, "aspp_conv")]
    branches += [_conv_bn_relu(x, channels, 3, f"aspp_conv_rate{rate}", dilation=rate) for rate in rates]
    pooled = layers.GlobalAveragePooling2D(keepdims=True, name="aspp_pool")(x)
    pooled = _conv_bn_relu(pooled, channels, 1, "aspp_pool_conv")
    branches.append(ResizeLike(name="aspp_pool_resize")([pooled, x]))
    x = layers.Concatenate(name="aspp_concat")(branches)
    x = _conv_bn_relu(x, channels, 1, "aspp_project")
    if dropout_rate > 0:
        x = layers.Dropout(dropout_rate, name="aspp_dropout")(x)
    if refine:
        x = _conv_bn_relu(x, channels, 3, "deeplabv3_conv")
    logits = layers.Conv2D(classes, 1, name="deeplabv3_classifier")(x)
    return _finish(backbone, logits, classifier_activation, name, "deeplabv3")
