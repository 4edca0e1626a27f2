"""Input data: tf.data pipelines with ImageNet-style preprocessing, and the bundled
offline dataset.

    import keras_lightnets as kl
    train = kl.data.from_tfds("tf_flowers", "train[:90%]", image_size=224, batch_size=64, training=True)
    val = kl.data.from_directory("photos/val", image_size=224, batch_size=64)
    train = kl.data.for_model(model, "digits", "train", batch_size=32, training=True)
    (x_train, y_train), (x_test, y_test) = kl.data.load_digits(image_size=64)

Every pipeline yields batches of (float32 images in [0, 255], int32 labels): the
registry models scale pixels themselves (`include_preprocessing=True`). Training
batches are Inception-style random resized crops with horizontal flips; evaluation
batches are resized and centrally cropped (crop fraction 0.875; a weight set's own
recipe with `weight_set_transform(kl.model_info(name).weights[i])`).

`load_digits` needs only numpy and Pillow; the pipelines need TensorFlow (tf.data)
and are imported on first use, so `import keras_lightnets` stays light on other
Keras backends.
"""

import importlib

from keras_lightnets.data.digits import load_digits

# name -> submodule; loaded lazily because they import tensorflow.
_LAZY = {
    "from_arrays": "pipeline",
    "for_model": "pipeline",
    "load": "pipeline",
    "build_pipeline": "pipeline",
    "CROP_FRACTION": "pipeline",
    "from_tfds": "tfds_source",
    "from_directory": "directory",
    "random_resized_crop": "augment",
    "center_crop": "augment",
    "weight_set_transform": "augment",
    "detection_scenes": "detection",
    "detection_dataset": "detection",
    "SSDAugment": "detection_augment",
    "random_iou_crop": "detection_augment",
    "photometric_distort": "detection_augment",
    "from_tfds_detection": "tfds_detection",
    "segmentation_scenes": "segmentation",
    "segmentation_dataset": "segmentation",
    "segmentation_pipeline": "segmentation",
    "from_tfds_segmentation": "segmentation",
    "from_voc_segmentation": "segmentation",
    "SegmentationAugment": "segmentation_augment",
}

__all__ = ["load_digits", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        module = importlib.import_module(f"keras_lightnets.data.{_LAZY[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'keras_lightnets.data' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
