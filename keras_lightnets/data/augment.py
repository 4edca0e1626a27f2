"""ImageNet-style image preprocessing for tf.data, on single images in [0, 255].

Training: an Inception-style random resized crop (Szegedy et al. 2015, the
preprocessing of the MobileNet, EfficientNet and ResNet reference trainers: a crop
covering 8%-100% of the image area with aspect ratio 3/4-4/3, resized to the
network's input) and a random horizontal flip. Evaluation: resize so that the
central `crop_fraction` (0.875, i.e. 224 of 256) of the image covers the input, then
crop the centre.

Randomness is stateless (a per-image seed pair), so a pipeline built with a seed
yields the same crops every time.
"""

import tensorflow as tf

CROP_SCALE = (0.08, 1.0)  # area range of the random crop
CROP_RATIO = (3.0 / 4.0, 4.0 / 3.0)  # aspect-ratio range of the random crop
CROP_FRACTION = 0.875


def image_size_pair(image_size):
    """An int or (height, width) -> (height, width), validated."""
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    if len(size) != 2 or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in size):
        raise ValueError(f"`image_size` must be a positive int or (height, width); received {image_size!r}.")
    return size


def to_rgb(image):
    """Grayscale -> 3 channels, RGBA -> RGB, in the input's dtype (the resize that
    follows gives float32: casting after the crop keeps big images cheap)."""
    channels = image.shape[-1]
    if channels == 1:
        image = tf.image.grayscale_to_rgb(image)
    elif channels == 4:
        image = image[..., :3]
    elif channels != 3:
        raise ValueError(f"Images must have 1, 3 or 4 channels; received shape {image.shape}.")
    return image


def random_resized_crop(image, image_size, seed, scale=CROP_SCALE, ratio=CROP_RATIO):
    """A random crop of `scale` of the area and `ratio` aspect, resized to `image_size`.

    As TF's Inception preprocessing: `sample_distorted_bounding_box` with
    min_object_covered=0.1 over the whole image, 10 attempts, the whole image when
    none fits. `seed`: an int tensor of shape [2].
    """
    height, width = image_size_pair(image_size)
    whole = tf.constant([[[0.0, 0.0, 1.0, 1.0]]], tf.float32)
    begin, crop_size, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.shape(image),
        bounding_boxes=whole,
        seed=seed,
        min_object_covered=0.1,
        aspect_ratio_range=ratio,
        area_range=scale,
        max_attempts=10,
        use_image_if_no_bounding_boxes=True,
    )
    crop = tf.slice(image, begin, crop_size)
    return tf.cast(tf.image.resize(crop, (height, width), method="bilinear"), tf.float32)


def center_crop(image, image_size, crop_fraction=CROP_FRACTION, method="bilinear"):
    """Resize so the central `crop_fraction` covers `image_size`, then crop the centre
    (`method`: tf.image.resize's, "bilinear" or "bicubic")."""
    height, width = image_size_pair(image_size)
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = tf.maximum(height / crop_fraction / shape[0], width / crop_fraction / shape[1])
    new_height = tf.maximum(height, tf.cast(tf.round(shape[0] * scale), tf.int32))
    new_width = tf.maximum(width, tf.cast(tf.round(shape[1] * scale), tf.int32))
    resized = tf.cast(tf.image.resize(image, tf.stack([new_height, new_width]), method=method), tf.float32)
    top = (new_height - height) // 2
    left = (new_width - width) // 2
    return tf.slice(resized, tf.stack([top, left, 0]), [height, width, 3])


def train_transform(image, seed, image_size, scale=CROP_SCALE, ratio=CROP_RATIO, flip=True):
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    image = random_resized_crop(to_rgb(image), image_size, crop_seed, scale, ratio)
    if flip:
        image = tf.image.stateless_random_flip_left_right(image, flip_seed)
    return image


def eval_transform(image, image_size, crop_fraction=CROP_FRACTION):
    return center_crop(to_rgb(image), image_size, crop_fraction)


def weight_set_transform(weight_set):
    """The evaluation transform a weight set was published with (torchvision's: shorter
    side resized to `resize`, centre `crop`, its interpolation), as image -> float32
    [0, 255] pixels; the model's own preprocessing then normalizes them."""
    recipe = weight_set.preprocessing
    if "crop" not in recipe:
        raise ValueError(f"{weight_set.model}'s set {weight_set.name!r} publishes no resize/crop recipe; "
                         "use center_crop(image, size) with the model's default size.")
    fraction = recipe["crop"] / recipe.get("resize", recipe["crop"])
    method = recipe.get("interpolation", "bilinear")
    return lambda image: center_crop(to_rgb(image), recipe["crop"], fraction, method)
