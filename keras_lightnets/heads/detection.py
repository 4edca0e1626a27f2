"""SSDLite (Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks",
CVPR 2018, section 6.2; Howard et al., "Searching for MobileNetV3", ICCV 2019, section
6.3) on any backbone of the zoo, as torchvision 0.14 builds it
(torchvision/models/detection/ssdlite.py, ssd.py, anchor_utils.py, _utils.py).

    backbone = kl.create_model("mobilenet_v3_small", features_only=True, input_shape=(320, 320, 3))
    model = kl.heads.SSDLite(backbone, classes=4)     # outputs: bbox_regression, cls_logits
    anchors = kl.heads.anchors(model)                  # (A, 4) default boxes, x1 y1 x2 y2 pixels
    boxes, scores, classes, count = kl.heads.postprocess(model.predict(images), anchors)

The head reads two maps of the backbone (by output stride or by layer name: SSDLite on
MobileNetV2 / V3 reads the expansion of the first block at stride 32, "C4"), adds the
extra feature layers (1x1 conv to half the depth, a 3x3/2 depthwise, a 1x1 conv; each
BatchNorm-ReLU6) and on every level two predictors, each a 3x3 depthwise conv-BN-ReLU6
and a 1x1 conv with bias: box offsets (4 per default box) and class logits (`classes`
per default box, the background class 0 included). Outputs, as torchvision's SSDLiteHead:
`bbox_regression` (batch, A, 4) in torchvision's BoxCoder code (dx, dy, dw, dh, weights
10, 10, 5, 5: SSD's variances 0.1, 0.2) and `cls_logits` (batch, A, classes), the default
boxes ordered level by level, row by row, column by column, box by box.

Default boxes (SSD's, section 2.2 of Liu et al. 2016, as torchvision's
DefaultBoxGenerator): on level k of m, scale s_k = s_min + (s_max - s_min) k / (m - 1)
(0.2 to 0.95), boxes of aspect ratio 1 at s_k and at sqrt(s_k s_k+1) (s_m = 1), and
for each ratio r of the level the pair s_k sqrt(r) x s_k / sqrt(r) and its transpose;
centred on the cells, their widths and heights clipped to the image.
"""

import math
import numbers

import keras
import numpy as np
from keras import layers

from keras_lightnets.heads.segmentation import _check_backbone
from keras_lightnets.heads.segmentation import _choose
from keras_lightnets.layers.blocks import activation
from keras_lightnets.layers.blocks import batch_norm
from keras_lightnets.layers.padding import check_padding
from keras_lightnets.layers.padding import pad_for

__all__ = ["SSDLite", "DefaultBoxes", "BoxCoder", "anchors", "postprocess", "detect", "ssdlite_torch_names",
           "EXTRA_CHANNELS", "TORCHVISION_BOXES", "TF_SSDLITE_BOXES"]

# torchvision's SSDLite: BatchNorm2d(eps=0.001, momentum=0.03), 0.97 in Keras' convention.
BN_EPSILON, BN_MOMENTUM = 1e-3, 0.97
EXTRA_CHANNELS = (512, 256, 256, 128)  # the extra layers' depths (torchvision's and TF's SSDLite)


# ------------------------------------------------------------------ default boxes


class DefaultBoxes:
    """SSD's default boxes (torchvision's DefaultBoxGenerator).

    Args:
        aspect_ratios: per level, the ratios r > 1 whose pair (r, 1/r) it adds to the
            two square boxes: torchvision's SSDLite ((2, 3),) * 6.
        min_scale, max_scale: s_min, s_max of the levels' scales (0.2, 0.95).
        scales: the levels' scales and one more (the last's interpolation partner);
            default from min_scale / max_scale, then 1.0.
        clip: clip widths and heights to the image (torchvision's default).
        reduce_lowest: the TF Object Detection API's `reduce_boxes_in_lowest_layer`
            (its SSDLite on MobileNetV2): level 0 has three boxes only, (0.1, ratio 1),
            (s_0, 2), (s_0, 1/2).
    """

    def __init__(self, aspect_ratios=((2, 3),) * 6, min_scale=0.2, max_scale=0.95, scales=None, clip=True,
                 reduce_lowest=False):
        self.aspect_ratios = tuple(tuple(float(r) for r in level) for level in aspect_ratios)
        if not self.aspect_ratios or any(r <= 0 for level in self.aspect_ratios for r in level):
            raise ValueError(f"`aspect_ratios` must be one tuple of positive ratios per level; received {aspect_ratios!r}.")
        levels = len(self.aspect_ratios)
        if scales is None:
            if not 0 < min_scale <= max_scale:
                raise ValueError(f"Need 0 < min_scale <= max_scale; received {min_scale}, {max_scale}.")
            step = (max_scale - min_scale) / (levels - 1) if levels > 1 else 0.0
            scales = [min_scale + step * k for k in range(levels)] + [1.0] if levels > 1 else [min_scale, max_scale]
        self.scales = tuple(float(s) for s in scales)
        if len(self.scales) != levels + 1 or any(s <= 0 for s in self.scales):
            raise ValueError(f"`scales` must be {levels + 1} positive numbers (one per level and one more); "
                             f"received {scales!r}.")
        self.min_scale, self.max_scale, self.clip, self.reduce_lowest = min_scale, max_scale, clip, reduce_lowest
        self.wh = [self._pairs(k) for k in range(levels)]

    def _pairs(self, k):
        s, s_next = self.scales[k], self.scales[k + 1]
        if k == 0 and self.reduce_lowest:
            return np.array([[0.1, 0.1], [s * math.sqrt(2), s / math.sqrt(2)], [s / math.sqrt(2), s * math.sqrt(2)]],
                            "float32")
        pairs = [[s, s], [math.sqrt(s * s_next)] * 2]
        for r in self.aspect_ratios[k]:
            pairs += [[s * math.sqrt(r), s / math.sqrt(r)], [s / math.sqrt(r), s * math.sqrt(r)]]
        return np.array(pairs, "float32")

    @property
    def levels(self):
        return len(self.aspect_ratios)

    def per_location(self):
        """Default boxes per cell on each level (torchvision's num_anchors_per_location)."""
        return [len(wh) for wh in self.wh]

    def __call__(self, grid_sizes, image_size):
        """(A, 4) boxes (x1, y1, x2, y2) in pixels of an image of (height, width) =
        `image_size`, for the levels' (rows, columns) `grid_sizes`; float32."""
        if len(grid_sizes) != self.levels:
            raise ValueError(f"{len(grid_sizes)} feature maps for default boxes of {self.levels} levels.")
        height, width = image_size
        out = []
        for (rows, cols), wh in zip(grid_sizes, self.wh):
            cy, cx = np.meshgrid((np.arange(rows) + 0.5) / rows, (np.arange(cols) + 0.5) / cols, indexing="ij")
            centres = np.repeat(np.stack([cx.ravel(), cy.ravel()], -1), len(wh), axis=0)
            sizes = np.tile(np.clip(wh, 0, 1) if self.clip else wh, (rows * cols, 1))
            out.append(np.concatenate([centres - sizes / 2, centres + sizes / 2], -1))
        boxes = np.concatenate(out).astype("float32")
        return boxes * np.array([width, height, width, height], "float32")

    def __repr__(self):
        return (f"DefaultBoxes(aspect_ratios={self.aspect_ratios}, scales={self.scales}, clip={self.clip}, "
                f"reduce_lowest={self.reduce_lowest})")


TORCHVISION_BOXES = DefaultBoxes(((2, 3),) * 6, 0.2, 0.95)  # ssdlite320_mobilenet_v3_large's
TF_SSDLITE_BOXES = DefaultBoxes(((2, 3),) * 6, 0.2, 0.95, reduce_lowest=True)  # ssdlite_mobilenet_v2_coco.config


# ------------------------------------------------------------------- box coding


class BoxCoder:
    """torchvision's BoxCoder (Faster R-CNN's parametrisation, SSD's variances): a box
    (x1, y1, x2, y2) relative to its default box as (wx (cx - cx_a) / w_a, wy (cy - cy_a)
    / h_a, ww log(w / w_a), wh log(h / h_a)); weights (10, 10, 5, 5) are SSD's variances
    (0.1, 0.1, 0.2, 0.2) inverted. Works on numpy arrays (ops=np) and on tensors
    (ops=keras.ops)."""

    def __init__(self, weights=(10.0, 10.0, 5.0, 5.0), clip=math.log(1000.0 / 16)):
        self.weights = tuple(float(w) for w in weights)
        self.clip = clip

    @staticmethod
    def _centre(boxes, ops):
        w, h = boxes[..., 2] - boxes[..., 0], boxes[..., 3] - boxes[..., 1]
        return boxes[..., 0] + 0.5 * w, boxes[..., 1] + 0.5 * h, w, h

    def encode(self, boxes, default_boxes, ops=np):
        """Codes (..., 4) of `boxes` against `default_boxes` (same leading shape)."""
        wx, wy, ww, wh = self.weights
        x, y, w, h = self._centre(boxes, ops)
        xa, ya, wa, ha = self._centre(default_boxes, ops)
        return ops.stack([wx * (x - xa) / wa, wy * (y - ya) / ha, ww * ops.log(w / wa), wh * ops.log(h / ha)], -1)

    def decode(self, codes, default_boxes, ops=np):
        """Boxes (..., 4) x1 y1 x2 y2 from codes against `default_boxes`."""
        wx, wy, ww, wh = self.weights
        xa, ya, wa, ha = self._centre(default_boxes, ops)
        x = codes[..., 0] / wx * wa + xa
        y = codes[..., 1] / wy * ha + ya
        w = ops.exp(ops.minimum(codes[..., 2] / ww, self.clip)) * wa
        h = ops.exp(ops.minimum(codes[..., 3] / wh, self.clip)) * ha
        return ops.stack([x - 0.5 * w, y - 0.5 * h, x + 0.5 * w, y + 0.5 * h], -1)


# ------------------------------------------------------------------------ the head


def _conv_bn_relu6(x, filters, kernel_size, name, strides=1, depthwise=False, padding="same"):
    x, conv_padding = pad_for(x, kernel_size, strides, padding, f"{name}_pad")
    if depthwise:
        x = layers.DepthwiseConv2D(kernel_size, strides=strides, padding=conv_padding, use_bias=False, name=name)(x)
    else:
        x = layers.Conv2D(filters, kernel_size, strides=strides, padding=conv_padding, use_bias=False, name=name)(x)
    x = batch_norm(x, f"{name}_bn", BN_EPSILON, BN_MOMENTUM)
    return activation(x, "relu6", f"{name}_relu6")


def _predictor(x, outputs, columns, name):
    """A 3x3 depthwise conv-BN-ReLU6 and a 1x1 conv with bias; (batch, H * W * boxes, columns)."""
    x = _conv_bn_relu6(x, None, 3, f"{name}_depthwise", depthwise=True)
    x = layers.Conv2D(outputs, 1, name=name)(x)
    return layers.Reshape((-1, columns), name=f"{name}_reshape")(x)


def _positive_int(value, name):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"`{name}` must be a positive int; received {name}={value!r}.")


def SSDLite(backbone, classes, *, features=(16, None), extra_channels=EXTRA_CHANNELS, default_boxes=None,
            padding="same", name=None):
    """SSDLite's extra layers and box / class predictors on a backbone.

    Args:
        backbone: a features_only model of a fixed input size (any of the zoo's), or a
            Keras model of one image input whose outputs are feature maps.
        classes: number of classes, the background (class 0) included: 91 for COCO
            as torchvision's (90 ids and the background).
        features: the two maps the head reads: each an output stride among the
            backbone's outputs or the name of a backbone layer (None: the deepest
            output). Default (16, None): the stride-16 output and the deepest.
        extra_channels: the extra layers' depths after the second map, each halving
            the resolution: (512, 256, 256, 128), SSDLite's four.
        default_boxes: a DefaultBoxes of 2 + len(extra_channels) levels (default:
            torchvision's, ratios (2, 3) on every level: 6 boxes per cell).
        padding: the extra layers' stride-2 depthwise padding: "same" (TensorFlow's)
            or "symmetric" (PyTorch's, for torchvision's checkpoints).
        name: the model's name (default: the backbone's, "_ssdlite").

    Returns:
        A keras.Model from the backbone's input to [bbox_regression (batch, A, 4),
        cls_logits (batch, A, classes)], with the attribute `default_boxes`.
    """
    _check_backbone(backbone)
    _positive_int(classes, "classes")
    check_padding("padding", padding)
    if len(tuple(features)) != 2:
        raise ValueError(f"`features` must name two maps (stride or layer name, None: the deepest); received {features!r}.")
    extra_channels = tuple(extra_channels)
    for depth in extra_channels:
        _positive_int(depth, "extra_channels")
    boxes = default_boxes if default_boxes is not None else DefaultBoxes(((2, 3),) * (2 + len(extra_channels)))
    if not isinstance(boxes, DefaultBoxes) or boxes.levels != 2 + len(extra_channels):
        raise ValueError(f"`default_boxes` must be a DefaultBoxes of {2 + len(extra_channels)} levels (two backbone "
                         f"maps and {len(extra_channels)} extra layers); received {default_boxes!r}.")
    image = backbone.inputs[0]
    if image.shape[1] is None or image.shape[2] is None:
        raise ValueError(f"SSDLite needs a backbone of a fixed input size (its default boxes tile each map); "
                         f"{backbone.name!r} takes {tuple(image.shape)}: build it with input_shape=(320, 320, 3).")
    maps = []
    for role, which in zip(("features[0]", "features[1]"), features):
        try:
            maps.append(_choose(backbone, which, role)[1])
        except ValueError as error:
            raise ValueError(f"SSDLite needs backbone maps {features!r}: {error}") from None
    x = maps[-1]
    for i, depth in enumerate(extra_channels):
        x = _conv_bn_relu6(x, depth // 2, 1, f"ssdlite_extra_{i}_reduce")
        x = _conv_bn_relu6(x, None, 3, f"ssdlite_extra_{i}_depthwise", strides=2, depthwise=True, padding=padding)
        x = _conv_bn_relu6(x, depth, 1, f"ssdlite_extra_{i}_project")
        maps.append(x)
    regression, logits = [], []
    for level, (x, count) in enumerate(zip(maps, boxes.per_location())):
        regression.append(_predictor(x, 4 * count, 4, f"ssdlite_box_{level}"))
        logits.append(_predictor(x, classes * count, classes, f"ssdlite_class_{level}"))
    regression = layers.Concatenate(axis=1, name="bbox_regression")(regression)
    logits = layers.Concatenate(axis=1, name="cls_logits")(logits)
    model = keras.Model(backbone.input, [regression, logits], name=name or f"{backbone.name}_ssdlite")
    model.default_boxes = boxes
    return model


def grid_sizes(model):
    """The (rows, columns) of each level's map in an SSDLite model."""
    sizes, level = [], 0
    while True:
        try:
            layer = model.get_layer(f"ssdlite_box_{level}")
        except ValueError:
            return sizes
        sizes.append(tuple(layer.output.shape[1:3]))
        level += 1


def anchors(model, default_boxes=None):
    """The model's default boxes, (A, 4) x1 y1 x2 y2 in pixels of its input, in the order
    of its outputs (`default_boxes`: the model's own by default; a model loaded from a
    file has torchvision's unless given)."""
    boxes = default_boxes or getattr(model, "default_boxes", None) or TORCHVISION_BOXES
    out = boxes(grid_sizes(model), tuple(model.inputs[0].shape[1:3]))
    if len(out) != model.outputs[0].shape[1]:
        raise ValueError(f"{boxes!r} gives {len(out)} default boxes but {model.name!r} predicts "
                         f"{model.outputs[0].shape[1]}: pass the model's own `default_boxes` (e.g. "
                         "kl.heads.detection.TF_SSDLITE_BOXES for ssdlite_mobilenet_v2).")
    return out


# ----------------------------------------------------------------- post-processing


def postprocess(outputs, default_boxes, *, score_threshold=0.001, iou_threshold=0.55, max_detections=300,
                max_per_class=300, score_activation="softmax", coder=None):
    """Decodes and suppresses: per-class NMS (tf.image.combined_non_max_suppression, as
    torchvision's SSD postprocess: score 0.001, IoU 0.55, 300 detections).

    Args:
        outputs: [bbox_regression (N, A, 4), cls_logits (N, A, classes)] (the model's).
        default_boxes: (A, 4) default boxes x1 y1 x2 y2 (`anchors(model)`).
        score_activation: "softmax" (the multibox loss's logits) or "sigmoid" (the
            focal loss's); the background column 0 is dropped either way.

    Returns:
        numpy (boxes (N, max_detections, 4) x1 y1 x2 y2 pixels, scores (N, D),
        classes (N, D) int32 ids 1..classes-1, count (N,) int32): the first count rows
        of each image are its detections, best first.
    """
    import tensorflow as tf

    regression, logits = outputs
    if score_activation not in ("softmax", "sigmoid"):
        raise ValueError(f"`score_activation` must be 'softmax' or 'sigmoid'; received {score_activation!r}.")
    coder = coder or BoxCoder()
    boxes = coder.decode(tf.convert_to_tensor(regression, tf.float32),
                         tf.convert_to_tensor(default_boxes, tf.float32)[None], ops=keras.ops)
    logits = tf.convert_to_tensor(logits, tf.float32)
    scores = tf.nn.softmax(logits) if score_activation == "softmax" else tf.sigmoid(logits)
    nmsed = tf.image.combined_non_max_suppression(
        tf.gather(boxes, [1, 0, 3, 2], axis=-1)[:, :, None, :], scores[..., 1:], max_per_class, max_detections,
        iou_threshold=iou_threshold, score_threshold=score_threshold, clip_boxes=False, pad_per_class=False)
    out_boxes = tf.gather(nmsed.nmsed_boxes, [1, 0, 3, 2], axis=-1).numpy()
    return (out_boxes, nmsed.nmsed_scores.numpy(), nmsed.nmsed_classes.numpy().astype("int32") + 1,
            nmsed.valid_detections.numpy().astype("int32"))


def detect(model, images, **kwargs):
    """`postprocess(model.predict(images), anchors(model), **kwargs)`."""
    return postprocess(model.predict(images, verbose=0), anchors(model), **kwargs)


# ---------------------------------------------------------- torchvision's names


def ssdlite_torch_names(levels=6, extras=4):
    """{our layer: torchvision module} of SSDLite's extra layers (`backbone.extra.*`) and
    head (`head.regression_head.*`, `head.classification_head.*`)."""
    names = {}
    for i in range(extras):
        for j, part in enumerate(("reduce", "depthwise", "project")):
            names[f"ssdlite_extra_{i}_{part}"] = f"backbone.extra.{i}.{j}.0"
            names[f"ssdlite_extra_{i}_{part}_bn"] = f"backbone.extra.{i}.{j}.1"
    for level in range(levels):
        for ours, theirs in (("box", "regression_head"), ("class", "classification_head")):
            names[f"ssdlite_{ours}_{level}_depthwise"] = f"head.{theirs}.module_list.{level}.0.0"
            names[f"ssdlite_{ours}_{level}_depthwise_bn"] = f"head.{theirs}.module_list.{level}.0.1"
            names[f"ssdlite_{ours}_{level}"] = f"head.{theirs}.module_list.{level}.1"
    return names
