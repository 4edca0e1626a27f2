"""A folder of images, one sub-folder per class (the ImageNet / keras
`image_dataset_from_directory` layout), as a pipeline:

    path/
      daisy/   a.jpg b.png ...
      tulip/   c.jpg ...

Classes are the sub-folder names in sorted order. Files are found recursively;
files with other extensions are ignored, as keras does. Images are checked before
training starts (`validate=True`): an unreadable file or a class folder without
images is an error naming it, not a crash in the middle of an epoch.
"""

import os

import tensorflow as tf

from keras_lightnets.data.pipeline import build_pipeline

# What tf.io.decode_image reads.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
_PIL_FORMATS = ("JPEG", "MPO", "PNG", "BMP", "GIF")
_MAX_LISTED = 5


def from_directory(path, image_size=224, batch_size=32, training=False, class_names=None, validate=True, **options):
    """A batched, preprocessed pipeline over `path/<class>/<images>`.

    Args:
        class_names: the classes to use, in label order (default: every sub-folder, sorted).
        validate: open every file's header with Pillow before training (about 0.1 ms
            a file) and report unreadable ones; False skips the check for huge folders.
        options: as in `keras_lightnets.data.build_pipeline` (seed, cache, ...).
    """
    path = os.path.expanduser(os.fspath(path))
    if not os.path.isdir(path):
        raise ValueError(f"Dataset folder {path!r} does not exist.")
    found = sorted(e.name for e in os.scandir(path) if e.is_dir() and not e.name.startswith("."))
    if class_names is None:
        class_names = found
    missing = sorted(set(class_names) - set(found))
    if missing:
        raise ValueError(f"Class folder(s) {missing} not found in {path!r}; it has {found}.")
    if not class_names:
        raise ValueError(f"Dataset folder {path!r} has no class sub-folders; expected {path}/<class name>/<images>.")

    files, labels = [], []
    for label, name in enumerate(class_names):
        images, others = _list_images(os.path.join(path, name))
        if not images:
            seen = f"; it holds {len(others)} other file(s), e.g. {others[0]!r}" if others else ""
            raise ValueError(
                f"Class folder {os.path.join(path, name)!r} holds no images ({', '.join(IMAGE_EXTENSIONS)}){seen}."
            )
        files += images
        labels += [label] * len(images)
    if validate:
        _validate(files)

    dataset = tf.data.Dataset.from_tensor_slices((files, labels))
    return build_pipeline(
        dataset,
        decode=_decode,
        image_size=image_size,
        batch_size=batch_size,
        training=training,
        num_examples=len(files),
        class_names=class_names,
        **options,
    )


def _list_images(folder):
    images, others = [], []
    for root, dirs, names in os.walk(folder, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if name.startswith("."):
                continue
            (images if name.lower().endswith(IMAGE_EXTENSIONS) else others).append(os.path.join(root, name))
    return images, others


def _validate(files):
    from PIL import Image

    bad = []
    for file in files:
        try:
            with Image.open(file) as image:
                fmt = image.format
                image.verify()
            if fmt not in _PIL_FORMATS:
                raise ValueError(f"{fmt} is not one of {', '.join(_PIL_FORMATS)}")
        except Exception as error:  # Pillow raises many types for bad files
            bad.append(f"{file} ({type(error).__name__}: {error})")
    if bad:
        listed = "; ".join(bad[:_MAX_LISTED]) + (f"; and {len(bad) - _MAX_LISTED} more" if len(bad) > _MAX_LISTED else "")
        raise ValueError(f"{len(bad)} unreadable image file(s): {listed}. Remove or replace them.")


def _decode(file):
    image = tf.io.decode_image(tf.io.read_file(file), channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    return image
