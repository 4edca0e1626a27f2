"""torchvision 0.14's published weight sets of the detection and segmentation heads
(ssdlite320_mobilenet_v3_large, lraspp_mobilenet_v3_large, deeplabv3_mobilenet_v3_large),
as its `Weights` enums declare them in the installed torchvision 0.14.1a0
(/usr/lib/python3/dist-packages/torchvision/models/detection/ssdlite.py,
models/segmentation/lraspp.py and deeplabv3.py; the categories from models/_meta.py):
the URL (its file name carries the first hex digits of the file's SHA-256), the
parameter count, the published COCO val2017 figures, the categories and the evaluation
transform. tests/test_head_weights.py holds these equal to the installed enums.

The COCO detector predicts torchvision's 91 COCO ids (the background and 90 ids, of
which COCO uses 80: "N/A" marks the 10 unused ones); the segmentation sets were trained
on the COCO images that hold the 20 Pascal VOC categories, with VOC's 21 labels.
DeepLabV3's file holds its training-only auxiliary FCN head (`aux_classifier.*`,
torchvision builds it with aux_loss=True for these weights): the loader leaves it out.

Pure data and the standard library, as weights/sets.py, which lists these with the
classifiers' sets (`lightnets list` reads them without TensorFlow).
"""

import dataclasses
from typing import Any, Mapping, Tuple

from keras_lightnets.weights import sets

TORCHVISION_VERSION = "0.14.1a0"
FIGURES_SOURCE = f"torchvision {TORCHVISION_VERSION}'s Weights.meta['_metrics']"
LICENSE = ("torchvision's code is BSD-3-Clause; the weights were trained on COCO 2017 (images under Flickr's terms, "
           "annotations CC BY 4.0) from an ImageNet-1k backbone, whose terms allow non-commercial research and "
           "education only")

COCO_CATEGORIES = (
    "__background__", "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "N/A", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse",
    "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "N/A", "backpack", "umbrella", "N/A", "N/A", "handbag",
    "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove",
    "skateboard", "surfboard", "tennis racket", "bottle", "N/A", "wine glass", "cup", "fork", "knife", "spoon",
    "bowl", "banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake",
    "chair", "couch", "potted plant", "bed", "N/A", "dining table", "N/A", "N/A", "toilet", "N/A", "tv", "laptop",
    "mouse", "remote", "keyboard", "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "N/A",
    "book", "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush",
)
VOC_CATEGORIES = (
    "__background__", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)

# torchvision's evaluation transforms: ObjectDetection converts to [0, 1] and SSD's own
# GeneralizedRCNNTransform resizes to 320x320 and normalizes with mean = std = 0.5;
# SemanticSegmentation resizes the shorter side to 520 and normalizes with ImageNet's.
DETECTION_TRANSFORM = {"resize": [320, 320], "interpolation": "bilinear", "mean": [0.5, 0.5, 0.5],
                       "std": [0.5, 0.5, 0.5]}
SEGMENTATION_TRANSFORM = {"resize": 520, "interpolation": "bilinear", "mean": [0.485, 0.456, 0.406],
                          "std": [0.229, 0.224, 0.225]}
TORCHVISION_GRAPH = {"layout": "torchvision"}  # PyTorch's padding, BatchNorm and preprocessing

# our registry name -> (torchvision builder, the knobs its checkpoints were trained with,
# {enum member: its Weights}); each model's forward pass is checked against torchvision's
# in tests/test_detection.py and tests/test_segmentation.py.
HEADS = {
    "ssdlite320_mobilenet_v3_large": (
        "ssdlite320_mobilenet_v3_large", {**TORCHVISION_GRAPH, "reduced_tail": True},
        {"COCO_V1": {
            "url": "https://download.pytorch.org/models/ssdlite320_mobilenet_v3_large_coco-a79551df.pth",
            "sha256_prefix": "a79551df", "num_params": 3440060, "categories": COCO_CATEGORIES,
            "metrics": {"COCO-val2017": {"box_map": 21.3}}, "transform": DETECTION_TRANSFORM,
            "recipe": "https://github.com/pytorch/vision/tree/main/references/detection#ssdlite320-mobilenetv3-large",
            "default": True}}),
    "lraspp_mobilenet_v3_large": (
        "lraspp_mobilenet_v3_large", {**TORCHVISION_GRAPH, "reduced_tail": False, "dilated": True},
        {"COCO_WITH_VOC_LABELS_V1": {
            "url": "https://download.pytorch.org/models/lraspp_mobilenet_v3_large-d234d4ea.pth",
            "sha256_prefix": "d234d4ea", "num_params": 3221538, "categories": VOC_CATEGORIES,
            "metrics": {"COCO-val2017-VOC-labels": {"miou": 57.9, "pixel_acc": 91.2}},
            "transform": SEGMENTATION_TRANSFORM,
            "recipe": "https://github.com/pytorch/vision/tree/main/references/segmentation#lraspp_mobilenet_v3_large",
            "default": True}}),
    # num_params counts the auxiliary head (11,029,328; 11,025,477 without it, as ours builds)
    "deeplabv3_mobilenet_v3_large": (
        "deeplabv3_mobilenet_v3_large", {**TORCHVISION_GRAPH, "reduced_tail": False, "dilated": True},
        {"COCO_WITH_VOC_LABELS_V1": {
            "url": "https://download.pytorch.org/models/deeplabv3_mobilenet_v3_large-fc3c493d.pth",
            "sha256_prefix": "fc3c493d", "num_params": 11029328, "categories": VOC_CATEGORIES,
            "metrics": {"COCO-val2017-VOC-labels": {"miou": 60.3, "pixel_acc": 91.2}},
            "transform": SEGMENTATION_TRANSFORM,
            "recipe": "https://github.com/pytorch/vision/tree/main/references/segmentation#deeplabv3_mobilenet_v3_large",
            "default": True}}),
}


@dataclasses.dataclass(frozen=True)
class HeadWeightSet(sets.WeightSet):
    """A detection or segmentation set: the publisher's COCO figures (`metrics`, as
    torchvision's `_metrics`: box mAP, or mIoU and pixel accuracy, %) and its label list
    (`categories`, index = class id, 0 the background); no ImageNet top-1 / top-5."""

    metrics: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    categories: Tuple[str, ...] = ()

    @property
    def class_names(self) -> Tuple[str, ...]:
        return self.categories


def weight_sets(model):
    """The published sets of our registry model `model` (none for a classifier)."""
    if model not in HEADS:
        return ()
    torchvision_model, knobs, enums = HEADS[model]
    return tuple(HeadWeightSet(
        model, f"torchvision.{enum}", f"torchvision {TORCHVISION_VERSION} {torchvision_model} weights {enum} "
        f"({entry['recipe']})", entry["url"], entry["sha256_prefix"], LICENSE, dict(knobs), dict(entry["transform"]),
        None, None, FIGURES_SOURCE, classes=len(entry["categories"]), default=entry["default"],
        metrics=entry["metrics"], categories=tuple(entry["categories"])) for enum, entry in enums.items())
