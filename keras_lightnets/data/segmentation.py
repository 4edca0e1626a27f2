"""Segmentation data: the offline scenes (real photos with pasted objects and their
masks), a tf.data pipeline with DeepLab's augmentations, and the real sets' loaders.

    images, masks = kl.data.segmentation_scenes(64, image_size=128, seed=0)
    train = kl.data.segmentation_dataset(images, masks, batch_size=8, shuffle=True,
                                         augment=kl.data.SegmentationAugment(crop_size=128))
    model.fit(train, ...)  # batches of (float32 [0, 255] images, int32 masks (B, H, W), 255 unlabelled)
    train = kl.data.from_tfds_segmentation("cityscapes/semantic_segmentation", "train", image_size=(512, 1024))
    train = kl.data.from_voc_segmentation("~/data/VOCdevkit/VOC2012", "train", image_size=512)

The scenes' backgrounds are scikit-image's bundled photos (random crops, no download),
as kl.data.detection_scenes'; the objects filled squares, disks and triangles (labels
1, 2, 3) or scikit-learn's handwritten digit scans (labels 1..10 for digits 0..9) of
random colour and size; 0 is the background. `border=r` marks the pixels within r of a
label change 255, VOC's unlabelled object outlines.

The real sets: tensorflow-datasets has Cityscapes' masks (`cityscapes/
semantic_segmentation`, label ids mapped to the 19 training ids, the rest 255, as
cityscapesScripts' labels.py and torchvision's Cityscapes.classes) and the Oxford-IIIT
pets' trimaps; its `voc/2012` holds boxes only (features image, objects, labels), so
VOC's masks are read from the VOCdevkit folder (torchvision's VOCSegmentation layout).
"""

import numbers
import os

import numpy as np
from PIL import Image
from PIL import ImageDraw

from keras_lightnets.data.scenes import SHAPES
from keras_lightnets.data.scenes import background
from keras_lightnets.data.scenes import check_scene_arguments
from keras_lightnets.data.scenes import draw_shape
from keras_lightnets.data.scenes import photos
from keras_lightnets.data.scenes import place_box

__all__ = ["segmentation_scenes", "segmentation_dataset", "segmentation_pipeline", "SCENE_CLASSES",
           "CITYSCAPES_TRAIN_IDS", "CITYSCAPES_CLASSES", "VOC_CLASSES", "VOC_URL", "VOC_MD5", "SEGMENTATION_SETS",
           "tfds_segmentation_example", "from_tfds_segmentation", "from_voc_segmentation"]

IGNORE_CLASS = 255
SCENE_CLASSES = {"shapes": ("background", *SHAPES), "digits": ("background", *(str(d) for d in range(10)))}

# ----------------------------------------------------------------- the offline scenes


def _digit_scans():
    from sklearn.datasets import load_digits  # deferred: heavy import

    digits = load_digits()
    return digits.images, digits.target


def _digit_stencil(scan, size):
    """A digit scan (8x8, ink 0..16) upsampled to size x size: its inked pixels (ink
    above half the scale)."""
    ink = Image.fromarray((scan * (255.0 / 16.0)).astype("uint8")).resize((size, size), Image.BILINEAR)
    return np.asarray(ink) > 127


def _shape_stencil(shape, box, image_size):
    """The pixels kl.data.detection_scenes paints for `shape` in `box`."""
    stencil = Image.new("L", (image_size, image_size), 0)
    draw_shape(ImageDraw.Draw(stencil), shape, box, 1)
    return np.asarray(stencil) > 0


def _outline(mask, radius):
    """The pixels within `radius` (a square window) of a pixel of another label."""
    padded = np.pad(mask, radius, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, (2 * radius + 1, 2 * radius + 1))
    return windows.max((-1, -2)) != windows.min((-1, -2))


def segmentation_scenes(count, image_size=64, seed=0, objects="shapes", max_objects=3, min_size=0.25, max_size=0.5,
                        border=0):
    """`count` scenes: (images uint8 (count, size, size, 3), masks uint8 (count, size,
    size)). Each is a random crop of a photo with 1..max_objects objects pasted on it,
    sides min_size..max_size of the image, their boxes overlapping by IoU under 0.3
    (a later object covers an earlier one). `objects`: "shapes" (labels 1..3,
    SCENE_CLASSES["shapes"]) or "digits" (labels 1..10). `border`: pixels within this
    many of a label change become 255 (VOC's unlabelled outlines); 0 leaves none."""
    check_scene_arguments(count, image_size, min_size, max_size)
    if objects not in SCENE_CLASSES:
        raise ValueError(f"`objects` must be one of {sorted(SCENE_CLASSES)}; received {objects!r}.")
    if not isinstance(border, numbers.Integral) or border < 0:
        raise ValueError(f"`border` must be an int >= 0 (a width in pixels); received {border!r}.")
    rng = np.random.default_rng(seed)
    photo_list = photos()
    scans, digits = _digit_scans() if objects == "digits" else (None, None)
    images, masks = [], []
    for _ in range(count):
        pixels = np.array(background(photo_list, rng, image_size))
        labels = np.zeros((image_size, image_size), "uint8")
        boxes = []
        for _ in range(int(rng.integers(1, max_objects + 1))):
            box = place_box(rng, boxes, image_size, min_size, max_size)
            if box is None:
                continue
            boxes.append(box)
            x1, y1, size = int(box[0]), int(box[1]), int(box[2] - box[0])
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            if objects == "shapes":
                label = int(rng.integers(len(SHAPES)))
                stencil = _shape_stencil(SHAPES[label], box.tolist(), image_size)
                label += 1
            else:
                index = int(rng.integers(len(scans)))
                stencil = np.zeros((image_size, image_size), bool)
                stencil[y1:y1 + size, x1:x1 + size] = _digit_stencil(scans[index], size)
                label = int(digits[index]) + 1
            pixels[stencil], labels[stencil] = colour, label  # the mask is where the object is painted
        if border:
            labels[_outline(labels, border)] = IGNORE_CLASS
        images.append(pixels)
        masks.append(labels)
    return np.stack(images), np.stack(masks)


# ------------------------------------------------------------------------ pipelines


def _check_masks(masks, classes):
    bad = np.setdiff1d(np.unique(masks), [*range(classes), IGNORE_CLASS])
    if bad.size:
        raise ValueError(f"`masks` hold labels {bad[:5].tolist()} outside 0..{classes - 1} and the ignore label "
                         f"{IGNORE_CLASS}; pass the right `classes` or map those pixels to {IGNORE_CLASS}.")


def segmentation_dataset(images, masks, batch_size=8, shuffle=False, seed=0, augment=None, classes=None):
    """tf.data of (float32 images [0, 255] (B, H, W, C), int32 masks (B, H, W)) from
    arrays: images (N, H, W, C), masks (N, H, W) (or (N, H, W, 1)). `augment`: a
    SegmentationAugment (or any callable (image, mask, seed) -> the pair), given a
    seed per sample and epoch drawn from `seed`. `classes`: when given, labels other
    than 0..classes-1 and 255 are a ValueError."""
    import tensorflow as tf

    images, masks = np.asarray(images), np.asarray(masks)
    if masks.ndim == 4 and masks.shape[-1] == 1:
        masks = masks[..., 0]
    if images.ndim != 4 or masks.shape != images.shape[:3]:
        raise ValueError(f"`images` must be (count, height, width, channels) and `masks` (count, height, width) of "
                         f"the same count and size; received shapes {images.shape} and {masks.shape}.")
    if not np.issubdtype(masks.dtype, np.integer):
        raise ValueError(f"`masks` must hold int class ids; received dtype {masks.dtype}.")
    if classes is not None:
        _check_masks(masks, classes)
    data = tf.data.Dataset.from_tensor_slices((images, masks.astype("int32")))
    if shuffle:
        data = data.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    return segmentation_pipeline(data, batch_size=batch_size, seed=seed, augment=augment)


def segmentation_pipeline(data, batch_size=8, seed=0, augment=None, image_size=None):
    """The map and batching of a tf.data of (image (H, W, C), mask (H, W) ints):
    `image_size` (int or (height, width)) resizes each pair first (image bilinear,
    mask nearest; needed when sizes differ and there is no crop), then `augment`."""
    import tensorflow as tf

    from keras_lightnets.data.segmentation_augment import _pair
    from keras_lightnets.data.segmentation_augment import _resize

    if augment is not None and not callable(augment):
        raise ValueError(f"`augment` must be a callable (image, mask, seed) such as "
                         f"kl.data.SegmentationAugment(crop_size=...); received {augment!r}.")
    if not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive int; received {batch_size!r}.")
    size = _pair(image_size, "image_size") if image_size is not None else None

    def prepare(image, mask, draw=None):
        image, mask = tf.cast(image, tf.float32), tf.cast(mask, tf.int32)
        if size is not None:
            image, mask = _resize(image, mask, size, "bilinear")
        if augment is not None:
            image, mask = augment(image, mask, tf.stack([draw, tf.constant(0, tf.int64)]))
        return image, mask

    if augment is not None:  # a draw per sample and epoch, from `seed`: the same run twice gives the same samples
        draws = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        data = tf.data.Dataset.zip(data, draws).map(lambda sample, draw: (*sample, draw))
    return data.map(prepare, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size).prefetch(tf.data.AUTOTUNE)


# ------------------------------------------------------------------------ real sets

# Cityscapes' label ids 0..33 -> training ids (19 classes; 255 ignored), cityscapesScripts'
# helpers/labels.py, as torchvision 0.14's datasets/cityscapes.py Cityscapes.classes lists them.
CITYSCAPES_TRAIN_IDS = (255, 255, 255, 255, 255, 255, 255, 0, 1, 255, 255, 2, 3, 4, 255, 255, 255, 5, 255, 6, 7, 8, 9,
                        10, 11, 12, 13, 14, 15, 255, 255, 16, 17, 18)
CITYSCAPES_CLASSES = ("road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
                      "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle",
                      "bicycle")
# VOC 2012's segmentation classes, the indices of its SegmentationClass PNGs (255: object outlines)
VOC_CLASSES = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
               "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
               "tvmonitor")
# VOC 2012's train/val archive (2 GB) and its md5, as torchvision's datasets/voc.py downloads it
VOC_URL = "http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar"
VOC_MD5 = "6cd6e144f989b92b3379bac3b3de84fd"

# tfds family -> (image feature, mask feature, mask value -> label (256 entries), class names)
_PET_TRIMAP = {1: 1, 2: 0}  # the pet 1, background 2, "not classified" outline 3 (-> 255)
SEGMENTATION_SETS = {
    "cityscapes": ("image_left", "segmentation_label",
                   CITYSCAPES_TRAIN_IDS + (IGNORE_CLASS,) * (256 - len(CITYSCAPES_TRAIN_IDS)), CITYSCAPES_CLASSES),
    "oxford_iiit_pet": ("image", "segmentation_mask", tuple(_PET_TRIMAP.get(v, IGNORE_CLASS) for v in range(256)),
                        ("background", "pet")),
}


def _set(name):
    family = name.split("/")[0].split(":")[0] if isinstance(name, str) else None
    if family == "voc":
        raise ValueError(f"tensorflow-datasets' {name!r} has boxes but no masks (its features: image, objects, "
                         f"labels); read VOC's masks from its VOCdevkit folder with "
                         f"kl.data.from_voc_segmentation(root, split) (the archive: {VOC_URL}).")
    if family not in SEGMENTATION_SETS:
        raise ValueError(f"from_tfds_segmentation reads {', '.join(sorted(SEGMENTATION_SETS))} (e.g. "
                         f"'cityscapes/semantic_segmentation'); received {name!r}.")
    return SEGMENTATION_SETS[family]


def tfds_segmentation_example(example, name="cityscapes/semantic_segmentation"):
    """One tfds example (a dict of tensors; Cityscapes': "image_left" (H, W, 3) uint8,
    "segmentation_label" (H, W, 1) uint8 label ids; the pets': "image",
    "segmentation_mask" trimap 1..3) -> (uint8 image (H, W, 3), int32 mask (H, W) of
    training ids, 255 unlabelled)."""
    import tensorflow as tf

    image_key, mask_key, table, _ = _set(name)
    mask = tf.cast(tf.squeeze(example[mask_key], -1), tf.int32)
    return example[image_key], tf.gather(tf.constant(table, tf.int32), mask)


def from_tfds_segmentation(name, split, image_size, batch_size=8, training=None, augment=None, seed=0, data_dir=None,
                           download=False):
    """A batched pipeline of (float32 images, int32 masks) over tensorflow-datasets'
    `name` / `split`: each pair resized to `image_size` (int or (height, width)), then,
    in training, `augment` (default SegmentationAugment(crop_size=image_size): scale
    0.5-2.0, crop, flip). Cityscapes needs its manual download in tfds' manual_dir,
    as tfds documents. Sets `class_names` and `num_classes` on the dataset."""
    import tensorflow_datasets as tfds  # deferred: heavy import

    from keras_lightnets.data.tfds_source import _builder
    from keras_lightnets.data.tfds_source import prepared_split

    _, _, _, class_names = _set(name)
    if training is None:
        training = str(split).startswith("train")
    builder = _builder(tfds, name, data_dir)
    dataset = prepared_split(builder, name, split, training, download)
    if training:
        dataset = dataset.shuffle(256, seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.map(lambda example: tfds_segmentation_example(example, name))
    return _loader_pipeline(dataset, class_names, training, augment, image_size, batch_size, seed)


def _voc_root(root):
    root = os.path.expanduser(os.fspath(root))
    for candidate in (root, os.path.join(root, "VOC2012"), os.path.join(root, "VOCdevkit", "VOC2012")):
        if os.path.isdir(os.path.join(candidate, "ImageSets", "Segmentation")):
            return candidate
    raise ValueError(f"No VOC segmentation folder at {root!r}: expected VOCdevkit/VOC2012 (ImageSets/Segmentation, "
                     f"JPEGImages, SegmentationClass), as {VOC_URL} unpacks.")


def from_voc_segmentation(root=None, split="train", image_size=512, batch_size=8, training=None, augment=None, seed=0,
                          masks="SegmentationClass", download=False):
    """VOC 2012's segmentation set from its VOCdevkit folder (torchvision's
    VOCSegmentation layout): the ids of ImageSets/Segmentation/<split>.txt, images
    JPEGImages/<id>.jpg, masks <masks>/<id>.png (palette indices 0..20, 255 on the
    outlines; "SegmentationClassAug" for the SBD-augmented set). Batched as
    from_tfds_segmentation's; `class_names` (VOC_CLASSES) and `num_classes` set.
    `download=True` (and no `root`): VOC_URL fetched, checked against VOC_MD5 and
    unpacked by keras.utils.get_file into the Keras cache, once."""
    import tensorflow as tf

    if download and root is None:
        import keras

        root = keras.utils.get_file(fname="voc2012_trainval", origin=VOC_URL, file_hash=VOC_MD5, extract=True,
                                    cache_subdir="datasets")
    if root is None:
        raise ValueError("from_voc_segmentation needs the VOCdevkit folder as `root`, or download=True to fetch "
                         f"{VOC_URL} (2 GB).")
    folder = _voc_root(root)
    listing = os.path.join(folder, "ImageSets", "Segmentation", f"{split}.txt")
    if not os.path.isfile(listing):
        splits = sorted(f[:-4] for f in os.listdir(os.path.dirname(listing)) if f.endswith(".txt"))
        raise ValueError(f"VOC has no segmentation split {split!r} in {folder!r}; its splits: {splits}.")
    with open(listing) as f:
        ids = [line.strip() for line in f if line.strip()]
    if training is None:
        training = split.startswith("train")

    def read(index):  # PIL: a palette PNG's indices are the labels (tf.io.decode_png would give its colours)
        name = ids[int(index)]
        image = np.asarray(Image.open(os.path.join(folder, "JPEGImages", name + ".jpg")).convert("RGB"))
        mask = np.asarray(Image.open(os.path.join(folder, masks, name + ".png")))
        if mask.shape != image.shape[:2]:
            raise ValueError(f"VOC {name}: mask {mask.shape} and image {image.shape[:2]} differ in size.")
        return image, mask.astype("int32")

    def load(index):
        image, mask = tf.numpy_function(read, [index], [tf.uint8, tf.int32], stateful=False)
        image.set_shape([None, None, 3])
        mask.set_shape([None, None])
        return image, mask

    data = tf.data.Dataset.range(len(ids))
    if training:
        data = data.shuffle(len(ids), seed=seed, reshuffle_each_iteration=True)
    data = data.map(load, num_parallel_calls=tf.data.AUTOTUNE)
    return _loader_pipeline(data, VOC_CLASSES, training, augment, image_size, batch_size, seed)


def _loader_pipeline(examples, class_names, training, augment, image_size, batch_size, seed):
    """A real dataset's (image, mask) examples as batches: augmented in training (by
    default DeepLab's scale, crop and flip at `image_size`), resized otherwise; with
    `class_names` and `num_classes` set."""
    from keras_lightnets.data.segmentation_augment import SegmentationAugment

    if training and augment is None:
        augment = SegmentationAugment(crop_size=image_size)
    data = segmentation_pipeline(examples, batch_size=batch_size, seed=seed, augment=augment if training else None,
                                 image_size=image_size)
    data.class_names, data.num_classes = class_names, len(class_names)
    return data
