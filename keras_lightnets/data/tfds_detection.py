"""tensorflow-datasets detection sets (coco/2017, coco/2014, voc/2007, voc/2012) as SSD
training pipelines.

    train = kl.data.from_tfds_detection("voc/2012", "train", kl.heads.anchors(model), image_size=320,
                                        augment=kl.data.SSDAugment())
    model.fit(train)   # batches as kl.data.detection_dataset's

tfds gives each example's boxes as [ymin, xmin, ymax, xmax] fractions of the image
(tfds.features.BBoxFeature) and its labels from 0; SSD warps every image to its fixed
input, so an example becomes (image resized to image_size x image_size, boxes x1 y1 x2
y2 in that image's pixels, labels + 1: 0 is the background). As torchvision's COCO
reference (references/detection/coco_utils.py, ConvertCocoPolysToMask), crowd
annotations and boxes of zero area are dropped; VOC's "difficult" objects are dropped
unless `keep_difficult=True` (ssd.pytorch's VOCAnnotationTransform default).

The data must already be prepared in `data_dir` (tfds' default ~/tensorflow_datasets)
unless `download=True`; COCO and VOC are downloaded by tfds' own loaders.
"""

from keras_lightnets.data.detection import encode_detection_data

__all__ = ["DETECTION_SETS", "COCO_CATEGORY_IDS", "tfds_detection_example", "from_tfds_detection"]

# tfds family -> its objects' flag that drops an annotation from training
DETECTION_SETS = {"coco": "is_crowd", "voc": "is_difficult"}

# COCO's 80 categories in tfds' order (its label 0..79) -> the 91 ids of the annotation
# files, which torchvision's and the TF Object Detection API's COCO checkpoints predict.
COCO_CATEGORY_IDS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28,
                     31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55,
                     56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84,
                     85, 86, 87, 88, 89, 90)


def _family(name):
    if not isinstance(name, str) or name.split("/")[0].split(":")[0] not in DETECTION_SETS:
        raise ValueError(f"from_tfds_detection reads {', '.join(f'{k}/...' for k in DETECTION_SETS)} "
                         f"(e.g. 'coco/2017', 'voc/2012'); received {name!r}.")
    return name.split("/")[0].split(":")[0]


def tfds_detection_example(example, image_size, name="coco/2017", keep_difficult=False, coco_category_ids=False):
    """One tfds example (a dict of tensors: "image" (H, W, 3) uint8, "objects": {"bbox"
    (N, 4) ymin xmin ymax xmax fractions, "label" (N,), "is_crowd" or "is_difficult"})
    -> (float32 image (image_size, image_size, 3) in [0, 255], boxes (M, 4) x1 y1 x2 y2
    pixels of that image, int32 labels (M,) from 1). `coco_category_ids`: COCO's labels
    as the annotation files' ids (1..90, COCO_CATEGORY_IDS) instead of 1..80."""
    import tensorflow as tf

    family = _family(name)
    objects = example["objects"]
    image = tf.image.resize(tf.cast(example["image"], tf.float32), (image_size, image_size))
    ymin, xmin, ymax, xmax = tf.unstack(tf.reshape(tf.cast(objects["bbox"], tf.float32), (-1, 4)), axis=-1)
    boxes = tf.clip_by_value(tf.stack([xmin, ymin, xmax, ymax], -1), 0.0, 1.0) * float(image_size)
    labels = tf.cast(objects["label"], tf.int32)
    labels = tf.gather(tf.constant((0,) + COCO_CATEGORY_IDS, tf.int32), labels + 1) \
        if family == "coco" and coco_category_ids else labels + 1
    keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    if not (family == "voc" and keep_difficult):
        keep &= ~tf.cast(objects[DETECTION_SETS[family]], tf.bool)
    return image, tf.boolean_mask(boxes, keep), tf.boolean_mask(labels, keep)


def from_tfds_detection(name, split, default_boxes, image_size=320, batch_size=8, training=None, augment=None,
                        seed=0, iou_threshold=0.5, keep_difficult=False, coco_category_ids=False, data_dir=None,
                        download=False):
    """A batched pipeline of SSD targets over tensorflow-datasets' `name` / `split`.

    Args:
        name: "coco/2017", "coco/2014", "voc/2007" or "voc/2012".
        split: a tfds split, slices included ("train[:10%]").
        default_boxes: (A, 4) x1 y1 x2 y2 pixels of the model's input (kl.heads.anchors(model)).
        training: shuffled files and examples; defaults to True for "train..." splits.
        augment: as kl.data.detection_dataset's (kl.data.SSDAugment()).

    Returns:
        a tf.data.Dataset of (float32 images, (box targets, class targets)), with
        `num_classes` (background included) and `class_names` set.
    """
    import tensorflow_datasets as tfds  # deferred: heavy import

    from keras_lightnets.data.tfds_source import _builder
    from keras_lightnets.data.tfds_source import prepared_split

    _family(name)
    if training is None:
        training = str(split).startswith("train")
    builder = _builder(tfds, name, data_dir)
    dataset = prepared_split(builder, name, split, training, download)
    if training:
        dataset = dataset.shuffle(1024, seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.map(lambda example: tfds_detection_example(example, image_size, name, keep_difficult,
                                                                 coco_category_ids))
    data = encode_detection_data(dataset, (image_size, image_size, 3), default_boxes, batch_size=batch_size, seed=seed,
                                 iou_threshold=iou_threshold, augment=augment)
    names = builder.info.features["objects"]["label"].names
    if coco_category_ids and _family(name) == "coco":  # the 91 ids' names, "" for the 11 ids COCO leaves unused
        by_id = dict(zip(COCO_CATEGORY_IDS, names))
        names = [by_id.get(i, "") for i in range(1, max(COCO_CATEGORY_IDS) + 1)]
    data.class_names = ("background", *names)
    data.num_classes = len(data.class_names)
    return data
