"""Training SSD-style detectors with `model.fit` (torchvision 0.14's SSD recipe,
torchvision/models/detection/ssd.py and _utils.py; Liu et al., "SSD: Single Shot
MultiBox Detector", ECCV 2016, section 2.2).

    anchors = kl.heads.anchors(model)
    train = kl.data.detection_dataset(images, boxes, labels, anchors, classes=4, batch_size=8)
    model.compile("adam", loss=kl.training.detection.multibox_loss())
    model.fit(train, epochs=10)

- Matching (torchvision's SSDMatcher): each default box takes the ground-truth box it
  overlaps most when their IoU is at least 0.5, and each ground-truth box also takes
  the default box it overlaps most (so every object is matched).
- Targets, made in the tf.data map (`encode_targets`): box targets (A, 5), the matched
  box's BoxCoder code (10, 10, 5, 5) and a 1 on positives (0 on the rest), and class
  targets (A,), the matched label or 0 (the background).
- The multibox loss: smooth L1 (beta 1) of the positives' codes, and softmax cross
  entropy of the positives and of the hardest negatives, three per positive in each
  image (hard-negative mining), each summed and divided by the batch's positives; or
  (`focal=True`) a sigmoid focal loss (Lin et al. 2017, alpha 0.25, gamma 2) over every
  default box and foreground class, without mining.
- `mean_average_precision`: PASCAL VOC's all-point AP per class at an IoU threshold
  (COCO's mAP averages it over 0.5:0.95; pycocotools is not needed for these scenes).
"""

import numbers

import keras
import numpy as np
from keras import ops

from keras_lightnets.heads.detection import BoxCoder

__all__ = ["box_iou", "match", "encode_targets", "check_annotations", "BoxRegressionLoss",
           "MultiboxClassificationLoss", "multibox_loss", "mean_average_precision", "COCO_METRICS", "coco_evaluate"]


def box_iou(a, b, xp=np):
    """IoU (len(a), len(b)) of boxes x1 y1 x2 y2 (numpy, or `xp=tf.math`-like ops with
    tf tensors via `tf`)."""
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    left_top = xp.maximum(a[:, None, :2], b[None, :, :2])
    right_bottom = xp.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = xp.maximum(right_bottom - left_top, 0.0)
    inter = wh[..., 0] * wh[..., 1]
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def match(gt_boxes, default_boxes, iou_threshold=0.5):
    """(A,) int32: the ground-truth index each default box is matched to, -1 for the
    background (torchvision's SSDMatcher). TensorFlow ops, for a tf.data map."""
    import tensorflow as tf

    count = tf.shape(default_boxes)[0]

    def matched():
        iou = box_iou(gt_boxes, default_boxes, tf.math)  # (G, A)
        best = tf.cast(tf.argmax(iou, axis=0), tf.int32)
        matches = tf.where(tf.reduce_max(iou, axis=0) >= iou_threshold, best, -1)
        forced = tf.cast(tf.argmax(iou, axis=1), tf.int32)  # each box's best default box
        return tf.tensor_scatter_nd_update(matches, forced[:, None], tf.range(tf.shape(gt_boxes)[0]))

    return tf.cond(tf.shape(gt_boxes)[0] > 0, matched, lambda: tf.fill([count], -1))


def encode_targets(gt_boxes, gt_labels, default_boxes, iou_threshold=0.5, coder=None):
    """(box targets (A, 5): code and positive flag, class targets (A,) int32) of one
    image's boxes (G, 4) x1 y1 x2 y2 pixels and labels (G,) in 1..classes-1."""
    import tensorflow as tf

    coder = coder or BoxCoder()
    gt_boxes = tf.convert_to_tensor(gt_boxes, tf.float32)
    gt_labels = tf.convert_to_tensor(gt_labels, tf.int32)
    default_boxes = tf.convert_to_tensor(default_boxes, tf.float32)
    matches = match(gt_boxes, default_boxes, iou_threshold)
    positive = matches >= 0
    index = tf.maximum(matches, 0)
    safe_boxes = tf.concat([gt_boxes, tf.constant([[0.0, 0.0, 1.0, 1.0]])], 0)  # a box for empty images
    codes = coder.encode(tf.gather(safe_boxes, index), default_boxes, ops=keras.ops)
    flag = tf.cast(positive, tf.float32)[:, None]
    box_targets = tf.concat([codes * flag, flag], -1)
    class_targets = tf.where(positive, tf.gather(tf.concat([gt_labels, [0]], 0), index), 0)
    return box_targets, class_targets


def check_annotations(boxes, labels, image_size, classes):
    """Raises ValueError for a box outside the image or of zero area, or a label that is
    not a foreground class id (1..classes-1). `boxes`, `labels`: one array per image."""
    height, width = image_size
    if len(boxes) != len(labels):
        raise ValueError(f"{len(boxes)} images' boxes but {len(labels)} images' labels.")
    for i, (b, l) in enumerate(zip(boxes, labels)):
        b, l = np.asarray(b, "float32").reshape(-1, 4) if len(b) else np.zeros((0, 4), "float32"), np.asarray(l)
        if len(b) != len(l):
            raise ValueError(f"Image {i}: {len(b)} boxes but {len(l)} labels.")
        if not np.all(np.isfinite(b)):
            raise ValueError(f"Image {i}: a box is not finite: {b.tolist()}.")
        outside = (b[:, 0] < 0) | (b[:, 1] < 0) | (b[:, 2] > width) | (b[:, 3] > height)
        if outside.any():
            raise ValueError(f"Image {i}: box {b[outside][0].tolist()} (x1, y1, x2, y2 pixels) lies outside the "
                             f"{width}x{height} image; clip it or drop it.")
        empty = (b[:, 2] <= b[:, 0]) | (b[:, 3] <= b[:, 1])
        if empty.any():
            raise ValueError(f"Image {i}: box {b[empty][0].tolist()} has zero area (x2 <= x1 or y2 <= y1).")
        bad = (l < 1) | (l >= classes) | (l != np.round(l))
        if bad.any():
            raise ValueError(f"Image {i}: label {l[bad][0]!r} is not a foreground class id 1..{classes - 1} "
                             f"(classes={classes} counts the background, 0).")


# ------------------------------------------------------------------------- losses


class BoxRegressionLoss(keras.losses.Loss):
    """Smooth L1 (beta 1) of the positives' codes, summed, over the batch's positives.
    y_true: (N, A, 5) (encode_targets' box targets); y_pred: (N, A, 4)."""

    def __init__(self, name="box_regression_loss", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        flag = y_true[..., 4]
        diff = ops.abs(y_pred - y_true[..., :4])
        smooth = ops.where(diff < 1.0, 0.5 * diff * diff, diff - 0.5)
        return ops.sum(ops.sum(smooth, -1) * flag) / ops.maximum(ops.sum(flag), 1.0)


class MultiboxClassificationLoss(keras.losses.Loss):
    """SSD's classification loss with hard-negative mining (softmax cross entropy of
    the positives and of the `negatives_per_positive` highest-loss negatives of each
    image), or `focal=True`: a sigmoid focal loss over the foreground classes of every
    default box; either summed over the batch's positives. y_true: (N, A) class
    targets (0: background); y_pred: (N, A, classes) logits."""

    def __init__(self, negatives_per_positive=3, focal=False, alpha=0.25, gamma=2.0,
                 name="multibox_classification_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        if not isinstance(negatives_per_positive, numbers.Real) or negatives_per_positive < 0:
            raise ValueError(f"`negatives_per_positive` must be a number >= 0; received {negatives_per_positive!r}.")
        self.negatives_per_positive, self.focal, self.alpha, self.gamma = negatives_per_positive, focal, alpha, gamma

    def call(self, y_true, y_pred):
        labels = ops.cast(y_true, "int32")
        positive = labels > 0
        positives = ops.maximum(ops.sum(ops.cast(positive, "float32")), 1.0)
        if self.focal:
            one_hot = ops.one_hot(labels, ops.shape(y_pred)[-1])[..., 1:]
            logits = y_pred[..., 1:]
            p = ops.sigmoid(logits)
            ce = ops.maximum(logits, 0) - logits * one_hot + ops.log1p(ops.exp(-ops.abs(logits)))
            p_t = p * one_hot + (1 - p) * (1 - one_hot)
            alpha_t = self.alpha * one_hot + (1 - self.alpha) * (1 - one_hot)
            return ops.sum(alpha_t * (1 - p_t) ** self.gamma * ce) / positives
        ce = ops.sparse_categorical_crossentropy(labels, y_pred, from_logits=True)  # (N, A)
        per_image = ops.sum(ops.cast(positive, "float32"), axis=1, keepdims=True)
        negative_loss = ops.where(positive, -np.inf, ce)
        rank = ops.argsort(ops.argsort(-negative_loss, axis=1), axis=1)
        negative = ops.cast(rank, "float32") < self.negatives_per_positive * per_image
        return ops.sum(ops.where(positive | negative, ce, 0.0)) / positives

    def get_config(self):
        return {**super().get_config(), "negatives_per_positive": self.negatives_per_positive, "focal": self.focal,
                "alpha": self.alpha, "gamma": self.gamma}


def multibox_loss(negatives_per_positive=3, focal=False):
    """[box loss, class loss] for model.compile on an SSDLite model's two outputs
    (their sum is torchvision's SSD loss)."""
    return [BoxRegressionLoss(), MultiboxClassificationLoss(negatives_per_positive, focal=focal)]


# -------------------------------------------------------------------- evaluation


def mean_average_precision(detections, ground_truth, classes, iou_threshold=0.5):
    """PASCAL VOC's all-point interpolated AP per foreground class, averaged over the
    classes that have ground truth; {"mAP": ..., "AP": {class: AP}}.

    Args:
        detections: per image (boxes (D, 4), scores (D,), labels (D,)).
        ground_truth: per image (boxes (G, 4), labels (G,)).
        classes: number of classes, the background included.
        iou_threshold: a detection is a true positive when it overlaps an unmatched
            ground-truth box of its class by at least this IoU (greedy, best score first).
    """
    if len(detections) != len(ground_truth):
        raise ValueError(f"{len(detections)} images of detections but {len(ground_truth)} of ground truth.")
    per_class = {}
    for c in range(1, classes):
        scored, total = [], 0
        for (boxes, scores, labels), (gt_boxes, gt_labels) in zip(detections, ground_truth):
            gt = np.asarray(gt_boxes, "float32").reshape(-1, 4)[np.asarray(gt_labels) == c]
            total += len(gt)
            keep = np.asarray(labels) == c
            mine = np.asarray(boxes, "float32").reshape(-1, 4)[keep]
            order = np.argsort(-np.asarray(scores)[keep], kind="stable")
            taken = np.zeros(len(gt), bool)
            iou = box_iou(mine[order], gt) if len(gt) and len(mine) else np.zeros((len(mine), len(gt)))
            for rank, i in enumerate(order):
                hit = False
                if len(gt):
                    candidates = np.where(taken, -1.0, iou[rank])
                    j = int(np.argmax(candidates))
                    if candidates[j] >= iou_threshold:
                        taken[j], hit = True, True
                scored.append((float(np.asarray(scores)[keep][i]), hit))
        if total == 0:
            continue
        scored.sort(key=lambda item: -item[0])
        hits = np.array([hit for _, hit in scored], bool)
        tp, fp = np.cumsum(hits), np.cumsum(~hits)
        recall = np.concatenate([[0.0], tp / total, [1.0]]) if len(hits) else np.array([0.0, 1.0])
        precision = np.concatenate([[0.0], tp / np.maximum(tp + fp, 1), [0.0]]) if len(hits) else np.zeros(2)
        precision = np.maximum.accumulate(precision[::-1])[::-1]
        steps = np.flatnonzero(recall[1:] != recall[:-1])
        per_class[c] = float(np.sum((recall[steps + 1] - recall[steps]) * precision[steps + 1]))
    return {"mAP": float(np.mean(list(per_class.values()))) if per_class else 0.0, "AP": per_class}


# COCOeval.stats, in its order (pycocotools/cocoeval.py, COCOeval.summarize)
COCO_METRICS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")


def _coco_boxes(boxes):
    boxes = np.asarray(boxes, "float64").reshape(-1, 4)
    return np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], -1)  # x y w h, COCO's


def coco_evaluate(detections, ground_truth, classes, max_detections=100):
    """COCO's box metrics by pycocotools' COCOeval: {"AP", "AP50", "AP75", "APs", "APm",
    "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"} (its `stats`, the 12 figures
    `summarize()` prints; areas in pixels, small below 32^2, large above 96^2) and
    "per_class": {class: AP at 0.5:0.95}. A figure COCO cannot compute (no ground truth
    in an area range) is -1, as COCOeval gives it.

    Args:
        detections: per image (boxes (D, 4) x1 y1 x2 y2 pixels, scores (D,), labels (D,)).
        ground_truth: per image (boxes (G, 4) x1 y1 x2 y2 pixels, labels (G,)), the
            class ids 1..classes-1 (kl.training.detection.check_annotations's).
        classes: number of classes, the background included.
        max_detections: the most detections per image that count (COCO's 100; the
            AR1 / AR10 figures stay at 1 and 10).
    """
    import contextlib
    import io

    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError:
        raise ImportError("coco_evaluate needs pycocotools: pip install pycocotools") from None
    if len(detections) != len(ground_truth):
        raise ValueError(f"{len(detections)} images of detections but {len(ground_truth)} of ground truth.")
    if not isinstance(max_detections, numbers.Integral) or max_detections < 10:
        raise ValueError(f"`max_detections` must be an int of at least 10 (AR10 counts ten); "
                         f"received {max_detections!r}.")
    categories = [{"id": c, "name": str(c)} for c in range(1, classes)]
    images, annotations, results = [], [], []
    for image_id, ((boxes, scores, labels), (gt_boxes, gt_labels)) in enumerate(zip(detections, ground_truth), 1):
        images.append({"id": image_id})
        for box, label in zip(_coco_boxes(gt_boxes), np.asarray(gt_labels).reshape(-1)):
            if not 1 <= label < classes:
                raise ValueError(f"Image {image_id - 1}: ground-truth label {label} is not a foreground class id "
                                 f"1..{classes - 1}.")
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": int(label),
                                "bbox": box.tolist(), "area": float(box[2] * box[3]), "iscrowd": 0})
        scores = np.asarray(scores, "float64").reshape(-1)
        labels = np.asarray(labels).reshape(-1)
        boxes = _coco_boxes(boxes)
        if not len(boxes) == len(scores) == len(labels):
            raise ValueError(f"Image {image_id - 1}: {len(boxes)} detected boxes, {len(scores)} scores and "
                             f"{len(labels)} labels; they must be as many.")
        for box, score, label in zip(boxes, scores, labels):
            results.append({"id": len(results) + 1, "image_id": image_id, "category_id": int(label),
                            "bbox": box.tolist(), "area": float(box[2] * box[3]), "score": float(score),
                            "iscrowd": 0})
    truth, detected = COCO(), COCO()  # built in memory (loadRes refuses an empty list of results)
    truth.dataset = {"images": images, "annotations": annotations, "categories": categories}
    detected.dataset = {"images": images, "annotations": results, "categories": categories}
    with contextlib.redirect_stdout(io.StringIO()):  # COCOeval reports progress on stdout
        truth.createIndex()
        detected.createIndex()
        evaluation = COCOeval(truth, detected, "bbox")
        evaluation.params.maxDets = [1, 10, max_detections]
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    out = {name: float(value) for name, value in zip(COCO_METRICS, evaluation.stats)}
    precision = evaluation.eval["precision"][:, :, :, 0, -1]  # (IoU, recall, class) at area "all", most detections
    out["per_class"] = {}
    for k, c in enumerate(evaluation.params.catIds):
        valid = precision[:, :, k][precision[:, :, k] > -1]
        if valid.size:
            out["per_class"][int(c)] = float(valid.mean())
    return out
