"""Segmentation's figure of merit: mean intersection over union (mIoU) with an ignore label.

    model.compile(optimizer, loss, metrics=[kl.training.MeanIoU(classes=21)])   # logits or probabilities
    kl.training.mean_iou(masks, infer(model, images), classes=21)              # numpy, the same figure

Both accumulate one confusion matrix over every labelled pixel (labels equal to
`ignore_class`, VOC's and torchvision's 255, are skipped), take each class's
IoU = TP / (TP + FP + FN), and average over the classes present in the labels or the
predictions. A class absent from both has no IoU (0 / 0) and is left out of the mean:
keras.metrics.MeanIoU's and mmsegmentation's convention (nanmean). torchvision's
references/segmentation ConfusionMatrix and VOC's devkit (VOCevalseg.m) compute the
same per-class IoU and average it as it is, so they return NaN there, which never
happens over a whole validation set, where they agree with this figure.
"""

import numbers

import keras
import numpy as np

__all__ = ["MeanIoU", "confusion_matrix", "mean_iou", "class_iou"]

IGNORE_CLASS = 255  # VOC's unlabelled object borders; torchvision's ignore_index


def _check_classes(classes):
    if not isinstance(classes, numbers.Integral) or isinstance(classes, bool) or classes < 2:
        raise ValueError(f"`classes` must be an int of at least 2 (the background counts); received {classes!r}.")


def confusion_matrix(labels, predictions, classes, ignore_class=IGNORE_CLASS):
    """(classes, classes) int64 counts, rows the labels, columns the predictions.

    `labels`: int class ids (N, H, W) (any shape), `ignore_class` where unlabelled.
    `predictions`: class ids of the labels' shape, or per-class scores (logits or
    probabilities) with one more axis, last, of size `classes` (argmax taken).
    A label outside 0..classes-1 other than `ignore_class` is a ValueError (Keras'
    metric drops such pixels silently; here they are a bug in the data)."""
    _check_classes(classes)
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    if predictions.shape == labels.shape + (classes,):
        predictions = predictions.argmax(-1)
    elif predictions.shape != labels.shape:
        raise ValueError(f"`predictions` must be class ids of the labels' shape {labels.shape} or scores of shape "
                         f"{labels.shape + (classes,)}; received shape {predictions.shape}.")
    if not np.issubdtype(labels.dtype, np.integer) or not np.issubdtype(predictions.dtype, np.integer):
        raise ValueError(f"`labels` (and class-id `predictions`) must be ints; received {labels.dtype}, "
                         f"{predictions.dtype}.")
    keep = labels != ignore_class if ignore_class is not None else np.ones(labels.shape, bool)
    labels, predictions = labels[keep].astype("int64"), predictions[keep].astype("int64")
    for name, ids in (("labels", labels), ("predictions", predictions)):
        bad = ids[(ids < 0) | (ids >= classes)]
        if bad.size:
            raise ValueError(f"{name} hold class ids outside 0..{classes - 1} (and not the ignore label "
                             f"{ignore_class}): {sorted(set(bad.tolist()))[:5]}; pass the right `classes`, or map "
                             f"unlabelled pixels to {ignore_class}.")
    return np.bincount(labels * classes + predictions, minlength=classes * classes).reshape(classes, classes)


def class_iou(matrix):
    """Each class's IoU from a confusion matrix; NaN for a class absent from labels and predictions."""
    matrix = np.asarray(matrix, "float64")
    true_positives = np.diag(matrix)
    union = matrix.sum(0) + matrix.sum(1) - true_positives
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, true_positives / union, np.nan)


def mean_iou(labels, predictions, classes, ignore_class=IGNORE_CLASS):
    """mIoU over the classes present in labels or predictions (module docstring); a float.
    Arguments as `confusion_matrix`'s. With no labelled pixel at all it is a ValueError."""
    matrix = confusion_matrix(labels, predictions, classes, ignore_class)
    if not matrix.sum():
        raise ValueError(f"No labelled pixel: every label is the ignore label {ignore_class}.")
    return float(np.nanmean(class_iou(matrix)))


@keras.saving.register_keras_serializable(package="keras_lightnets")
class MeanIoU(keras.metrics.MeanIoU):
    """keras.metrics.MeanIoU for a segmentation model's output: it takes per-pixel
    logits or probabilities (argmax over the last axis) against int masks, and skips
    `ignore_class` (255, VOC's borders) by default. The same figure as `mean_iou`:
    classes absent from labels and predictions are left out of the mean."""

    def __init__(self, classes, ignore_class=IGNORE_CLASS, name="mean_iou", dtype=None, **kwargs):
        _check_classes(classes)
        kwargs = {"sparse_y_true": True, "sparse_y_pred": False, **kwargs}
        kwargs.pop("num_classes", None)  # from get_config: `classes` carries it
        super().__init__(num_classes=classes, ignore_class=ignore_class, name=name, dtype=dtype, **kwargs)

    def get_config(self):
        config = super().get_config()
        config["classes"] = config.pop("num_classes")
        return config
