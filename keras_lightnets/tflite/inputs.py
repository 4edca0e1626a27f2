"""The images and input shape a conversion (and QAT's calibration) takes: a static
(H, W, C) for the model, and calibration or verification images from an array, a
tf.data.Dataset or a prepared tensorflow-datasets name, checked."""

import numpy as np

DEFAULT_RESOLUTION = 224  # for models whose spatial size is left open


def static_input_shape(model, input_shape):
    """The (H, W, C) a single-input image model is converted at: `input_shape` where given
    (checked against the model's), open sizes at DEFAULT_RESOLUTION otherwise."""
    if len(model.inputs) != 1:
        raise ValueError(f"Only single-input image models convert here; {model.name!r} has {len(model.inputs)} inputs.")
    declared = tuple(model.input_shape[1:])
    if input_shape is not None:
        input_shape = tuple(input_shape)
        fits = len(input_shape) == len(declared) and all(d is None or d == s for d, s in zip(declared, input_shape))
        if not fits:
            raise ValueError(f"`input_shape={input_shape}` does not fit the model's input {declared}.")
        return input_shape
    if None in declared[:-1]:
        return tuple(DEFAULT_RESOLUTION if d is None else d for d in declared[:-1]) + declared[-1:]
    return declared


def representative_images(data, shape, limit, argument="representative_data"):
    """Calibration/verification images as float32 (N, *shape), from an array, a
    tf.data.Dataset or a tensorflow-datasets name (already prepared: nothing is
    downloaded). `argument` names the caller's argument in error messages."""
    if isinstance(data, str):
        data = _tfds_images(data, shape, argument)
    if not isinstance(data, np.ndarray):
        data = _dataset_images(data, limit)
    if data.dtype.kind not in "uif":
        raise ValueError(f"Representative data must be numeric images; received dtype {data.dtype}.")
    if data.ndim == len(shape):  # a single image
        data = data[None]
    if tuple(data.shape[1:]) != tuple(shape):
        raise ValueError(
            f"Representative data has shape {tuple(data.shape)} but the model takes {tuple(shape)} images: "
            f"resize them to {shape[0]}x{shape[1]} with {shape[-1]} channels first."
        )
    if len(data) == 0:
        raise ValueError(f"`{argument}` is empty: give a few hundred real images.")
    data = data[:limit].astype("float32")
    finite = np.isfinite(data).reshape(len(data), -1).all(axis=1)
    if not finite.all():
        # Calibration would take NaN/inf as a range and blame every op ("no int8 kernel").
        bad = np.flatnonzero(~finite)
        raise ValueError(
            f"`{argument}` holds non-finite values (NaN or inf) in {len(bad)} of its first {len(data)} images "
            f"(index {', '.join(map(str, bad[:5]))}{', ...' if len(bad) > 5 else ''}): drop or repair those images "
            "(e.g. np.nan_to_num, or check the decoding and normalization that made them)."
        )
    return data


def _dataset_images(dataset, limit):
    import tensorflow as tf

    if not isinstance(dataset, tf.data.Dataset):
        raise ValueError(f"Representative data must be a numpy array, a tf.data.Dataset or a tensorflow-datasets name; received {type(dataset).__name__}.")
    images = []
    for element in dataset.take(limit):
        image = element[0] if isinstance(element, (tuple, list)) else element
        image = image["image"] if isinstance(image, dict) else image
        images.append(np.asarray(image))
        if sum(len(i) if i.ndim == 4 else 1 for i in images) >= limit:
            break
    if not images:
        raise ValueError("The representative tf.data.Dataset yielded no elements.")
    return np.concatenate([i if i.ndim == 4 else i[None] for i in images])


def _tfds_images(name, shape, argument, limit=500):
    """The "train" split of a prepared tensorflow-datasets dataset, resized. Nothing is
    downloaded at run time (as data.from_tfds, download=False): prepare it first."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    try:
        dataset = tfds.load(name, split="train", shuffle_files=False, download=False)
    except Exception as error:  # tfds raises many types: unknown name, not prepared...
        detail = " ".join(str(error).split())[:300]
        raise ValueError(
            f"Cannot load tensorflow-datasets {name!r} for `{argument}`: {detail}. Nothing is downloaded at run time: "
            f"prepare it first (`tfds build {name}`, or kl.data.from_tfds({name!r}, download=True)), "
            "or pass the images as a numpy array."
        ) from None
    resize = lambda example: tf.image.resize(example["image"], shape[:2])  # noqa: E731
    return np.stack([np.asarray(image) for image in dataset.take(limit).map(resize)])
