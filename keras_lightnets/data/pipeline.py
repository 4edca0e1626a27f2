"""The one tf.data pipeline behind every source (arrays, folders, tensorflow-datasets).

    (images, labels) -> [cache] -> [shuffle] -> crop/flip or resize/centre-crop
                     -> batch -> prefetch

Batches are (float32 images in [0, 255], int32 labels). Sources pass images of any
size and 1, 3 or 4 channels; the pipeline makes them RGB at `image_size`.
"""

import os

import numpy as np
import tensorflow as tf

from keras_lightnets.data import augment
from keras_lightnets.data.augment import CROP_FRACTION
from keras_lightnets.data.augment import CROP_RATIO
from keras_lightnets.data.augment import CROP_SCALE
from keras_lightnets.data.augment import image_size_pair
from keras_lightnets.data.digits import load_digits

AUTOTUNE = tf.data.AUTOTUNE
SHUFFLE_BUFFER = 10_000  # images held for shuffling when the source is larger
DIGITS = "digits"


def build_pipeline(
    dataset,
    *,
    image_size,
    batch_size,
    training,
    num_examples=None,
    decode=None,
    cache=False,
    shuffle_buffer=None,
    seed=None,
    crop_scale=CROP_SCALE,
    crop_ratio=CROP_RATIO,
    flip=True,
    crop_fraction=CROP_FRACTION,
    drop_remainder=None,
    class_names=None,
    num_classes=None,
    parallel_calls=AUTOTUNE,
    prefetch=AUTOTUNE,
):
    """Turns a dataset of (image, label) pairs into batched, preprocessed, prefetched ones.

    Args:
        dataset: a tf.data.Dataset of (image, label); with `decode`, of (x, label)
            where `decode(x)` gives the image (e.g. file path -> pixels).
        image_size: int or (height, width) of the batches.
        training: random resized crop + flip, shuffling and full batches only
            (`drop_remainder`, default True) when True; resize + central crop otherwise.
        num_examples: the dataset's size where known; checked against `batch_size`.
        cache: False, True (in memory) or a file path prefix (on disk). Caches the
            decoded images, before the random augmentation.
        shuffle_buffer: default min(num_examples, 10,000).
        seed: makes shuffling and augmentation reproducible.
        crop_scale, crop_ratio, flip: the training augmentation (Inception defaults).
        crop_fraction: the evaluation crop (0.875: 224 of 256).
        class_names, num_classes: recorded on the returned dataset.
        parallel_calls, prefetch: the maps' parallelism and the batches prefetched
            (tf.data.AUTOTUNE, the default, tunes both; prefetch=0 turns it off).

    Returns:
        a tf.data.Dataset with attributes `class_names`, `num_classes`, `num_examples`
        and `image_size` (keras' `image_dataset_from_directory` sets `class_names` too).
    """
    size = image_size_pair(image_size)
    _check_batch_size(batch_size, num_examples)
    if not 0 < crop_fraction <= 1:
        raise ValueError(f"`crop_fraction` must be in (0, 1]; received {crop_fraction}.")
    _check_range("crop_scale", crop_scale, upper=1.0)
    _check_range("crop_ratio", crop_ratio)

    if decode is not None:
        dataset = dataset.map(lambda x, y: (decode(x), y), num_parallel_calls=AUTOTUNE)
    dataset = dataset.map(lambda x, y: (x, tf.cast(y, tf.int32)))
    if cache:
        dataset = dataset.cache("" if cache is True else os.fspath(cache))
    if training:
        buffer = shuffle_buffer or min(num_examples or SHUFFLE_BUFFER, SHUFFLE_BUFFER)
        dataset = dataset.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
        # One stateless seed pair per image: reproducible crops with `seed`.
        seeds = tf.data.Dataset.random(seed=seed).batch(2, drop_remainder=True)
        dataset = tf.data.Dataset.zip((dataset, seeds)).map(
            lambda pair, s: (augment.train_transform(pair[0], s, size, crop_scale, crop_ratio, flip), pair[1]),
            num_parallel_calls=parallel_calls,
            deterministic=seed is not None or None,
        )
    else:
        dataset = dataset.map(
            lambda x, y: (augment.eval_transform(x, size, crop_fraction), y), num_parallel_calls=parallel_calls
        )
    drop = training if drop_remainder is None else drop_remainder
    dataset = dataset.batch(batch_size, drop_remainder=drop)
    if prefetch:
        dataset = dataset.prefetch(prefetch)
    dataset.class_names = list(class_names) if class_names is not None else None
    dataset.num_classes = num_classes if num_classes is not None else (len(class_names) if class_names else None)
    dataset.num_examples = num_examples
    dataset.image_size = size
    return dataset


def from_arrays(x, y, image_size=None, batch_size=32, training=False, num_classes=None, class_names=None, **options):
    """A pipeline over in-memory images.

    x: (N, H, W, C) images in [0, 255] (uint8 or float), C in 1, 3, 4; y: N integer
    labels. `image_size` defaults to the arrays' own size. Other options as in
    `build_pipeline` (seed, cache, crop_scale, crop_fraction...).
    """
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 4 or x.shape[-1] not in (1, 3, 4):
        raise ValueError(f"`x` must be images of shape (N, height, width, 1|3|4); received shape {x.shape}.")
    if y.ndim != 1 or len(y) != len(x):
        raise ValueError(f"`y` must hold one integer label per image: {len(x)} labels; received shape {y.shape}.")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"`y` must be integer class indices; received dtype {y.dtype}.")
    if num_classes is None and class_names is None and len(y):
        num_classes = int(y.max()) + 1
    dataset = tf.data.Dataset.from_tensor_slices((x, y))
    return build_pipeline(
        dataset,
        image_size=image_size or tuple(x.shape[1:3]),
        batch_size=batch_size,
        training=training,
        num_examples=len(x),
        shuffle_buffer=options.pop("shuffle_buffer", None) or max(len(x), 1),
        num_classes=num_classes,
        class_names=class_names,
        **options,
    )


def load(source, split="train", image_size=224, batch_size=32, training=None, **options):
    """A pipeline from any source: "digits" (bundled), a tensorflow-datasets name, a
    folder (class per sub-folder; `split` picks a sub-folder such as train/ or val/
    when there is one), or an (x, y) pair of arrays.

    `training` defaults to True for the "train" split.
    """
    if training is None:
        training = str(split).startswith("train")
    common = dict(image_size=image_size, batch_size=batch_size, training=training, **options)
    if isinstance(source, tuple) and len(source) == 2:
        return from_arrays(*source, **common)
    if not isinstance(source, (str, os.PathLike)):
        raise ValueError(f"`source` must be 'digits', a tensorflow-datasets name, a folder path or (x, y) arrays; received {type(source).__name__}.")
    source = os.fspath(source)
    if source == DIGITS:
        return _digits(split, **common)
    if _looks_like_path(source):
        from keras_lightnets.data.directory import from_directory

        return from_directory(_split_folder(source, split), **common)
    from keras_lightnets.data.tfds_source import from_tfds

    return from_tfds(source, split, **common)


def for_model(model, source=DIGITS, split="train", batch_size=32, training=None, **options):
    """`load` sized for `model`: the image size is read from `model.input_shape`."""
    shape = model.input_shape
    if isinstance(shape, list):
        raise ValueError(f"Model {model.name!r} has {len(shape)} inputs; pipelines feed single-image-input models.")
    height, width = shape[1:3]
    image_size = options.pop("image_size", None)
    if image_size is None:
        if height is None or width is None:
            raise ValueError(
                f"Model {model.name!r} has open spatial dims {shape}; pass image_size=, "
                "or build it with a static input_shape=(size, size, 3)."
            )
        image_size = (int(height), int(width))
    return load(source, split, image_size=image_size, batch_size=batch_size, training=training, **options)


def _digits(split, image_size, **common):
    if split not in ("train", "test"):
        raise ValueError(f"The bundled digits have splits 'train' and 'test'; received split={split!r}.")
    height, width = image_size_pair(image_size)
    train, test = load_digits(image_size=max(height, width))
    x, y = train if split == "train" else test
    return from_arrays(x, y, image_size=(height, width), class_names=[str(d) for d in range(10)], **common)


def _split_folder(path, split):
    """`path/split` when the folder is divided into splits, else `path` itself."""
    if not os.path.isdir(path):
        raise ValueError(f"Dataset folder {path!r} does not exist.")
    candidates = {"train": ("train",), "validation": ("validation", "val", "valid"), "test": ("test",)}
    names = candidates.get(str(split), (str(split),))
    for name in names:
        if os.path.isdir(os.path.join(path, name)):
            return os.path.join(path, name)
    if split == "train":
        return path  # a folder not divided into splits is all training data
    raise ValueError(f"Dataset folder {path!r} has no {split!r} split: looked for sub-folder(s) {', '.join(names)}.")


def _looks_like_path(source):
    # tensorflow-datasets names may hold a "/" too ("imagenette/160px").
    parent = os.path.dirname(source)
    return (os.path.isdir(source) or os.path.isabs(source) or source.startswith((".", "~"))
            or bool(parent and os.path.isdir(parent)))


def _check_batch_size(batch_size, num_examples):
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive int; received {batch_size!r}.")
    if num_examples is not None and batch_size > num_examples:
        raise ValueError(
            f"batch_size={batch_size} is larger than the data ({num_examples} examples): "
            f"use batch_size <= {num_examples}."
        )


def _check_range(name, value, upper=None):
    low, high = value
    if not 0 < low <= high or (upper is not None and high > upper):
        bound = f" <= {upper}" if upper is not None else ""
        raise ValueError(f"`{name}` must be (low, high) with 0 < low <= high{bound}; received {value!r}.")
