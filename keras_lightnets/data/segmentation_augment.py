"""The segmentation augmentations of DeepLab and torchvision's references/segmentation:
random scale, random crop (padding what the crop overhangs), horizontal flip, each
applied to the image and its mask together.

    augment = kl.data.SegmentationAugment(crop_size=512)           # scale 0.5-2.0, flip
    image, mask = augment(image, mask, seed=tf.constant([7, 0]))     # float32 (512, 512, 3), int32 (512, 512)

The image is resized bilinearly and the mask by nearest neighbour (a resized label is
one of the labels). The crop pads the bottom and right of a smaller image with 0 and
of its mask with the ignore label, as torchvision's pad_if_smaller (fill 0, mask 255)
and DeepLab's input_preprocess (pad_to_bounding_box at offset 0) do, then takes a
random window. Scale factors are uniform in [0.5, 2.0] (DeepLab's min/max_scale_factor;
torchvision draws the short side in [0.5, 2.0] x its base size). Random draws are
TensorFlow's stateless ops: one seed (a shape [2] int tensor) fixes a sample's
transform.
"""

import numbers

__all__ = ["SegmentationAugment", "random_scale", "pad_and_random_crop"]

SCALE_RANGE = (0.5, 2.0)  # DeepLab's train.py min_scale_factor / max_scale_factor


def _pair(size, name):
    if isinstance(size, numbers.Integral) and not isinstance(size, bool):
        size = (size, size)
    if (not isinstance(size, (tuple, list)) or len(size) != 2
            or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) and s > 0 for s in size)):
        raise ValueError(f"`{name}` must be a positive int or a (height, width) pair of them; received {size!r}.")
    return int(size[0]), int(size[1])


def _resize(image, mask, size, interpolation):
    import tensorflow as tf

    image = tf.image.resize(image, size, method=interpolation)
    mask = tf.image.resize(mask[..., None], size, method="nearest")[..., 0]
    return image, mask


def random_scale(image, mask, seed, scale_range=SCALE_RANGE, interpolation="bilinear"):
    """Image (H, W, C) and mask (H, W) resized by one factor drawn uniformly in
    `scale_range` (sides rounded): image by `interpolation`, mask by nearest neighbour."""
    import tensorflow as tf

    factor = tf.random.stateless_uniform([], seed, scale_range[0], scale_range[1])
    size = tf.cast(tf.round(tf.cast(tf.shape(mask)[:2], tf.float32) * factor), tf.int32)
    return _resize(tf.cast(image, tf.float32), mask, tf.maximum(size, 1), interpolation)


def pad_and_random_crop(image, mask, crop_size, seed, ignore_class=255, fill=0.0):
    """A random `crop_size` window of image (H, W, C) and mask (H, W), after padding
    the bottom and right up to `crop_size` (image with `fill`, mask with `ignore_class`)."""
    import tensorflow as tf

    height, width = _pair(crop_size, "crop_size")
    shape = tf.shape(mask)
    pad_height, pad_width = tf.maximum(height - shape[0], 0), tf.maximum(width - shape[1], 0)
    image = tf.pad(tf.cast(image, tf.float32), [[0, pad_height], [0, pad_width], [0, 0]], constant_values=fill)
    mask = tf.pad(mask, [[0, pad_height], [0, pad_width]], constant_values=ignore_class)
    # one crop of image and mask stacked: the same window for both (mask values are exact in float32)
    stacked = tf.concat([image, tf.cast(mask[..., None], tf.float32)], -1)
    channels = image.shape[-1] if image.shape[-1] is not None else tf.shape(image)[-1]
    stacked = tf.image.stateless_random_crop(stacked, tf.stack([height, width, tf.shape(stacked)[-1]]), seed)
    return stacked[..., :channels], tf.cast(stacked[..., -1], mask.dtype)


class SegmentationAugment:
    """Random scale, pad-and-crop to `crop_size` and horizontal flip of an (image,
    mask) pair (module docstring). `scale_range=None` skips the scale, `flip=False` the
    flip; `interpolation` is the image's resize method (the mask's is always nearest)."""

    def __init__(self, crop_size, scale_range=SCALE_RANGE, flip=True, ignore_class=255, fill=0.0,
                 interpolation="bilinear"):
        self.crop_size = _pair(crop_size, "crop_size")
        if scale_range is not None:
            if (not isinstance(scale_range, (tuple, list)) or len(scale_range) != 2
                    or not 0 < scale_range[0] <= scale_range[1]):
                raise ValueError(f"`scale_range` must be (low, high) with 0 < low <= high, e.g. {SCALE_RANGE}, or "
                                 f"None; received {scale_range!r}.")
            scale_range = (float(scale_range[0]), float(scale_range[1]))
        if interpolation not in ("bilinear", "nearest", "bicubic", "area"):
            raise ValueError(f"`interpolation` must be 'bilinear', 'nearest', 'bicubic' or 'area'; "
                             f"received {interpolation!r}.")
        self.scale_range, self.flip, self.ignore_class, self.fill = scale_range, bool(flip), ignore_class, fill
        self.interpolation = interpolation

    def __call__(self, image, mask, seed):
        """(image (H, W, C), mask (H, W) ints, seed shape [2] ints) -> (float32 image
        (crop_h, crop_w, C), mask (crop_h, crop_w) of the mask's dtype)."""
        import tensorflow as tf

        scale_seed, crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
        image = tf.cast(image, tf.float32)
        if self.scale_range is not None:
            image, mask = random_scale(image, mask, scale_seed, self.scale_range, self.interpolation)
        image, mask = pad_and_random_crop(image, mask, self.crop_size, crop_seed, self.ignore_class, self.fill)
        if self.flip:
            flipped = tf.random.stateless_uniform([], flip_seed) < 0.5
            image, mask = tf.cond(flipped, lambda: (image[:, ::-1], mask[:, ::-1]), lambda: (image, mask))
        return image, mask

    def __repr__(self):
        return (f"SegmentationAugment(crop_size={self.crop_size}, scale_range={self.scale_range}, flip={self.flip}, "
                f"ignore_class={self.ignore_class})")
