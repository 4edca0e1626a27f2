"""SSD's data augmentation (Liu et al., "SSD: Single Shot MultiBox Detector", ECCV 2016,
section 2.2 "Data augmentation"), as torchvision 0.14's detection references write it
(references/detection/transforms.py: RandomIoUCrop, RandomHorizontalFlip,
RandomPhotometricDistort; presets.py: "ssdlite" is the crop and the flip, "ssd" adds
the photometric distortion first).

    augment = kl.data.SSDAugment(photometric=True)
    image, boxes, labels = augment(image, boxes, labels, np.random.default_rng(0))
    train = kl.data.detection_dataset(images, boxes, labels, anchors, classes=4, augment=augment)

Images are (H, W, 3) arrays of [0, 255] pixels, boxes (N, 4) x1 y1 x2 y2 pixels,
labels (N,); every random draw comes from the numpy Generator passed in, so one seed
gives one sample. The crop is resized back to the input's size (SSD warps every
sample to its fixed input), its boxes scaled with it.
"""

import dataclasses
import numbers

import numpy as np

__all__ = ["IOU_CROP_OPTIONS", "random_iou_crop", "horizontal_flip", "photometric_distort", "SSDAugment",
           "adjust_brightness", "adjust_contrast", "adjust_saturation", "adjust_hue"]

# The SSD paper's sampler: the whole image (None), a patch whose IoU with some object is
# at least 0.1 .. 0.9, or any patch (0.0). torchvision codes None as 1.0.
IOU_CROP_OPTIONS = (0.0, 0.1, 0.3, 0.5, 0.7, 0.9, None)


def _check_sample(image, boxes, labels):
    image = np.asarray(image)
    if image.ndim != 3:
        raise ValueError(f"`image` must be (height, width, channels); received shape {image.shape}.")
    boxes = np.asarray(boxes, "float32").reshape(-1, 4)
    labels = np.asarray(labels)
    if len(boxes) != len(labels):
        raise ValueError(f"{len(boxes)} boxes but {len(labels)} labels.")
    return image, boxes, labels


def _iou_with(boxes, box):
    inter_wh = np.clip(np.minimum(boxes[:, 2:], box[2:]) - np.maximum(boxes[:, :2], box[:2]), 0, None)
    inter = inter_wh[:, 0] * inter_wh[:, 1]
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / (area + (box[2] - box[0]) * (box[3] - box[1]) - inter)


def random_iou_crop(image, boxes, labels, rng, *, options=IOU_CROP_OPTIONS, min_scale=0.3, max_scale=1.0,
                    min_aspect_ratio=0.5, max_aspect_ratio=2.0, trials=40, rounds=50):
    """torchvision's RandomIoUCrop: draw a minimum IoU from `options` (None keeps the
    whole image); up to `trials` times draw a patch (each side min_scale..max_scale of
    the image's, aspect ratio in range) and take it when some box's centre lies inside
    it and one of those boxes overlaps it by at least the minimum; else draw the minimum
    again. The boxes whose centres lie inside are kept, shifted and clipped to the
    patch (the paper: "we keep the overlapped part of the ground truth box if the
    center of it is in the sampled patch"); the others are dropped.

    Returns (cropped image, boxes, labels, the patch (left, top, right, bottom) in the
    input's pixels). An image without boxes is returned whole, and so is one whose
    drawn minima went unmet `rounds` times (torchvision draws until one is met, which
    never ends when no option can be: small boxes and options=(0.9,)).
    """
    image, boxes, labels = _check_sample(image, boxes, labels)
    height, width = image.shape[:2]
    whole = (image, boxes, labels, (0, 0, width, height))
    if not len(options):
        raise ValueError("`options` must name at least one minimum IoU (or None for the whole image).")
    if not len(boxes):
        return whole
    centre_x, centre_y = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    for _ in range(rounds):
        minimum = options[int(rng.integers(len(options)))]
        if minimum is None or minimum >= 1.0:
            return whole
        for _ in range(trials):
            scale = min_scale + (max_scale - min_scale) * rng.random(2)
            new_w, new_h = int(width * scale[0]), int(height * scale[1])
            if new_h == 0 or not min_aspect_ratio <= new_w / new_h <= max_aspect_ratio:
                continue
            offset = rng.random(2)
            left, top = int((width - new_w) * offset[0]), int((height - new_h) * offset[1])
            right, bottom = left + new_w, top + new_h
            if left == right or top == bottom:
                continue
            inside = (left < centre_x) & (centre_x < right) & (top < centre_y) & (centre_y < bottom)
            if not inside.any():
                continue
            patch = np.array([left, top, right, bottom], "float32")
            if _iou_with(boxes[inside], patch).max() < minimum:
                continue
            kept = boxes[inside] - np.array([left, top, left, top], "float32")
            kept[:, 0::2] = np.clip(kept[:, 0::2], 0, new_w)
            kept[:, 1::2] = np.clip(kept[:, 1::2], 0, new_h)
            return image[top:bottom, left:right], kept, labels[inside], (left, top, right, bottom)
    return whole


def horizontal_flip(image, boxes):
    """The image mirrored left to right, and its boxes with it (x -> width - x)."""
    image = np.asarray(image)
    boxes = np.asarray(boxes, "float32").reshape(-1, 4)
    width = image.shape[1]
    return image[:, ::-1], np.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], -1)


# ------------------------------------------------- torchvision's colour adjustments
# (torchvision/transforms/functional_tensor.py on float images: blends clipped to the
# pixel range; the grey image is ITU-R 601-2 luma.)


def _grey(image):
    return image[..., 0] * 0.2989 + image[..., 1] * 0.587 + image[..., 2] * 0.114


def _blend(image, other, factor):
    return np.clip(factor * image + (1.0 - factor) * other, 0.0, 255.0)


def adjust_brightness(image, factor):
    return _blend(image, 0.0, factor)


def adjust_contrast(image, factor):
    return _blend(image, _grey(image).mean(), factor)


def adjust_saturation(image, factor):
    return _blend(image, _grey(image)[..., None], factor)


def adjust_hue(image, shift):
    """Hue turned by `shift` of a full turn (-0.5..0.5), in HSV."""
    from matplotlib.colors import hsv_to_rgb
    from matplotlib.colors import rgb_to_hsv

    hsv = rgb_to_hsv(np.clip(image / 255.0, 0.0, 1.0))
    hsv[..., 0] = (hsv[..., 0] + shift) % 1.0
    return hsv_to_rgb(hsv) * 255.0


def photometric_distort(image, rng, *, brightness=(0.875, 1.125), contrast=(0.5, 1.5), saturation=(0.5, 1.5),
                        hue=(-0.05, 0.05), p=0.5):
    """torchvision's RandomPhotometricDistort (its ranges): each of brightness,
    contrast (before or after the colour changes, at even odds), saturation, hue and a
    random permutation of the channels, with probability `p`. A float32 image of the
    same shape; the boxes do not move."""
    image = np.asarray(image, "float32")
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"photometric_distort takes (height, width, 3) RGB images; received shape {image.shape}.")
    draws = rng.random(7)
    uniform = lambda bounds: float(rng.uniform(*bounds))  # noqa: E731
    if draws[0] < p:
        image = adjust_brightness(image, uniform(brightness))
    contrast_first = draws[1] < 0.5
    if contrast_first and draws[2] < p:
        image = adjust_contrast(image, uniform(contrast))
    if draws[3] < p:
        image = adjust_saturation(image, uniform(saturation))
    if draws[4] < p:
        image = adjust_hue(image, uniform(hue))
    if not contrast_first and draws[5] < p:
        image = adjust_contrast(image, uniform(contrast))
    if draws[6] < p:
        image = image[..., rng.permutation(3)]
    return image.astype("float32")


def _resize(image, height, width):
    from PIL import Image

    if image.shape[:2] == (height, width):
        return image.astype("float32")
    channels = [Image.fromarray(np.ascontiguousarray(image[..., c], "float32")).resize(
        (width, height), Image.BILINEAR) for c in range(image.shape[-1])]
    return np.stack([np.asarray(c) for c in channels], -1)


def _probability(value, name):
    if not isinstance(value, numbers.Real) or not 0 <= value <= 1:
        raise ValueError(f"`{name}` must be a probability in [0, 1]; received {value!r}.")


@dataclasses.dataclass(frozen=True)
class SSDAugment:
    """One training sample as torchvision's SSD presets make it: photometric
    distortion (`photometric`, the "ssd" preset; off in "ssdlite"), the IoU-constrained
    crop (`crop`) resized back to the input's size, and a horizontal flip with
    probability `flip`. Call with (image, boxes, labels, numpy Generator); returns
    (float32 image of the input's shape, boxes, labels). The "ssd" preset's zoom-out
    (RandomZoomOut, the paper's "expansion" for small objects) is not among them."""

    photometric: bool = False
    crop: bool = True
    flip: float = 0.5
    options: tuple = IOU_CROP_OPTIONS
    min_scale: float = 0.3

    def __post_init__(self):
        _probability(self.flip, "flip")
        if not 0 < self.min_scale <= 1:
            raise ValueError(f"`min_scale` must be in (0, 1]; received {self.min_scale!r}.")
        for option in self.options:
            if option is not None and not (isinstance(option, numbers.Real) and 0 <= option <= 1):
                raise ValueError(f"Each crop option must be a minimum IoU in [0, 1] or None (the whole image); "
                                 f"received {option!r}.")

    def __call__(self, image, boxes, labels, rng):
        image, boxes, labels = _check_sample(image, boxes, labels)
        height, width = image.shape[:2]
        image = image.astype("float32")
        if self.photometric:
            image = photometric_distort(image, rng)
        if self.crop:
            image, boxes, labels, _ = random_iou_crop(image, boxes, labels, rng, options=self.options,
                                                      min_scale=self.min_scale)
            crop_h, crop_w = image.shape[:2]
            image = _resize(image, height, width)
            boxes = boxes * np.array([width / crop_w, height / crop_h] * 2, "float32")
        if rng.random() < self.flip:
            image, boxes = horizontal_flip(image, boxes)
        return np.ascontiguousarray(image, "float32"), boxes.astype("float32"), labels
