"""What the offline detection and segmentation scenes share: scikit-image's bundled
photos as backgrounds (random crops, no download), the shapes pasted on them, and where
each object goes (a square box overlapping the others by IoU under 0.3).

Both generators draw from one numpy Generator in the same order (the crop, then per
object its box, then its kind and colour), so a seed gives the same scenes release after
release; the tests' bounds on trained figures are measured on them.
"""

import numbers

import numpy as np
from PIL import Image

SHAPES = ("square", "disk", "triangle")  # labels 1, 2, 3; 0 is the background
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field", "camera",
          "coins", "moon", "page")
OVERLAP = 0.3  # the most IoU a new object's box may have with an earlier one
ATTEMPTS = 20  # draws of a box before the object is left out


def photos():
    """The background photos, RGB uint8."""
    try:
        import skimage.data
    except ImportError:
        raise ImportError("The offline scenes take their backgrounds from scikit-image's bundled photos: "
                          "pip install scikit-image") from None
    out = []
    for name in PHOTOS:
        image = np.asarray(getattr(skimage.data, name)())
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, -1)
        out.append(image[..., :3].astype("uint8"))
    return out


def check_scene_arguments(count, image_size, min_size, max_size):
    if not isinstance(count, numbers.Integral) or count < 1:
        raise ValueError(f"`count` must be a positive int; received {count!r}.")
    if not isinstance(image_size, numbers.Integral) or image_size < 16:
        raise ValueError(f"`image_size` must be an int of at least 16; received {image_size!r}.")
    if not 0 < min_size <= max_size <= 1:
        raise ValueError(f"Need 0 < min_size <= max_size <= 1; received {min_size}, {max_size}.")


def background(photo_list, rng, image_size):
    """A random square crop of a random photo, at least half its shorter side, resized
    to `image_size` (a PIL image)."""
    photo = photo_list[rng.integers(len(photo_list))]
    side = int(rng.integers(min(photo.shape[:2]) // 2, min(photo.shape[:2]) + 1))
    top, left = rng.integers(photo.shape[0] - side + 1), rng.integers(photo.shape[1] - side + 1)
    return Image.fromarray(photo[top:top + side, left:left + side]).resize((image_size, image_size), Image.BILINEAR)


def iou(box, boxes):
    """IoU of one x1 y1 x2 y2 box with each of `boxes`."""
    from keras_lightnets.training.detection import box_iou  # deferred: it imports Keras

    return box_iou(box[None], boxes)[0]


def place_box(rng, boxes, image_size, min_size, max_size):
    """A square box (x1 y1 x2 y2 pixels, float32), its side min_size..max_size of the
    image, overlapping each of `boxes` by IoU under OVERLAP; None after ATTEMPTS draws."""
    for _attempt in range(ATTEMPTS):
        size = int(round(rng.uniform(min_size, max_size) * image_size))
        x1, y1 = (int(v) for v in rng.integers(0, image_size - size + 1, 2))
        box = np.array([x1, y1, x1 + size, y1 + size], "float32")
        if not boxes or iou(box, np.array(boxes)).max() < OVERLAP:
            return box
    return None


def draw_shape(draw, shape, box, colour):
    """One of SHAPES filling `box` on a PIL ImageDraw."""
    x1, y1, x2, y2 = box
    if shape == "square":
        draw.rectangle([x1, y1, x2 - 1, y2 - 1], fill=colour)
    elif shape == "disk":
        draw.ellipse([x1, y1, x2 - 1, y2 - 1], fill=colour)
    else:
        draw.polygon([((x1 + x2 - 1) / 2, y1), (x1, y2 - 1), (x2 - 1, y2 - 1)], fill=colour)
