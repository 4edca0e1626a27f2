"""tensorflow-datasets image-classification sets as pipelines (tf_flowers, imagenette,
imagenet2012, cifar10, ...).

The data must already be prepared in `data_dir` (tfds' default ~/tensorflow_datasets)
unless `download=True`; ImageNet needs its manual download, as tfds documents.
"""

import difflib

from keras_lightnets.data.pipeline import build_pipeline


def from_tfds(name, split="train", image_size=224, batch_size=32, training=None, data_dir=None, download=False, **options):
    """A batched, preprocessed pipeline over tensorflow-datasets' `name` / `split`.

    Args:
        name: a tfds name, with its config if any ("imagenette/320px").
        split: a tfds split, slices included ("train[:90%]").
        training: augmentation and shuffling; defaults to True for "train..." splits.
        data_dir: where tfds keeps prepared datasets.
        download: download and prepare the data when it is not there.
        options: as in `keras_lightnets.data.build_pipeline` (seed, cache, ...).

    Returns:
        a tf.data.Dataset of (float32 images in [0, 255], int32 labels) with
        `class_names`, `num_classes` and `num_examples` set.
    """
    import tensorflow_datasets as tfds  # deferred: heavy import

    if training is None:
        training = str(split).startswith("train")
    builder = _builder(tfds, name, data_dir)
    image_key, label_key = _supervised_keys(builder, name)
    label = builder.info.features[label_key]
    dataset = prepared_split(builder, name, split, training, download)
    dataset = dataset.map(lambda example: (example[image_key], example[label_key]))
    return build_pipeline(
        dataset,
        image_size=image_size,
        batch_size=batch_size,
        training=training,
        num_examples=_num_examples(builder, split),
        class_names=getattr(label, "names", None),
        num_classes=getattr(label, "num_classes", None),
        **options,
    )


def prepared_split(builder, name, split, training, download):
    """`split` of a tfds builder as a tf.data.Dataset of examples (its files shuffled
    when training), prepared first when `download`; a clear error when the data is not
    prepared or the split does not exist."""
    if download:
        builder.download_and_prepare()
    try:
        return builder.as_dataset(split=split, shuffle_files=training)
    except AssertionError as error:  # tfds' way of saying "not prepared"
        raise ValueError(
            f"tensorflow-datasets {name!r} is not prepared in {builder.data_dir!r}: pass download=True "
            f"(or run `tfds build {name}`); {error}"
        ) from None
    except ValueError as error:  # bad split names
        raise ValueError(f"tensorflow-datasets {name!r}: {error}") from None


def _builder(tfds, name, data_dir):
    if not isinstance(name, str) or not name:
        raise ValueError(f"`name` must be a tensorflow-datasets name such as 'tf_flowers'; received {name!r}.")
    base = name.split("/")[0].split(":")[0]
    known = tfds.list_builders()
    if base not in known:
        close = difflib.get_close_matches(base, known, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"Unknown tensorflow-datasets name {name!r}.{hint} `tfds.list_builders()` lists them.")
    try:
        return tfds.builder(name, data_dir=data_dir)
    except Exception as error:  # unknown config or version: tfds raises several types
        raise ValueError(f"tensorflow-datasets {name!r}: {str(error).splitlines()[0]}") from None


def _supervised_keys(builder, name):
    keys = builder.info.supervised_keys
    features = builder.info.features
    if not keys or len(keys) != 2 or type(features[keys[0]]).__name__ != "Image" or not hasattr(features[keys[1]], "num_classes"):
        raise ValueError(f"tensorflow-datasets {name!r} is not an image-classification dataset (its supervised keys are {keys}).")
    return keys


def _num_examples(builder, split):
    try:
        return builder.info.splits[split].num_examples or None
    except (KeyError, ValueError):  # splits unknown until the data is prepared (and under tfds' mock data)
        return None
