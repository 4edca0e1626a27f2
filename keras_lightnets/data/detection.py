"""Detection data: the offline scenes (real photos with pasted shapes, their boxes and
labels) and a tf.data pipeline that encodes SSD targets for `model.fit`.

    images, boxes, labels = kl.data.detection_scenes(64, image_size=128, seed=0)
    train = kl.data.detection_dataset(images, boxes, labels, kl.heads.anchors(model), classes=4,
                                      batch_size=8, shuffle=True)
    model.fit(train)   # batches of (float32 [0, 255] images, (box targets, class targets))
    train = kl.data.detection_dataset(..., augment=kl.data.SSDAugment())  # SSD's crop and flip, per sample

The scenes' backgrounds are scikit-image's bundled photos (random crops, no download),
the objects filled squares, disks and triangles (labels 1, 2, 3; 0 is the background)
of random colour and size, their boxes x1 y1 x2 y2 in pixels (torchvision's convention).
"""

import numpy as np
from PIL import ImageDraw

from keras_lightnets.data.scenes import SHAPES
from keras_lightnets.data.scenes import background
from keras_lightnets.data.scenes import check_scene_arguments
from keras_lightnets.data.scenes import draw_shape
from keras_lightnets.data.scenes import photos
from keras_lightnets.data.scenes import place_box

__all__ = ["SHAPES", "detection_scenes", "detection_dataset", "encode_detection_data"]

def detection_scenes(count, image_size=128, seed=0, max_objects=3, min_size=0.2, max_size=0.5):
    """`count` scenes: (images uint8 (count, size, size, 3), boxes [(k, 4) float32
    x1 y1 x2 y2 pixels], labels [(k,) int32 in 1..len(SHAPES)]): 1..max_objects shapes
    per scene, sides min_size..max_size of the image, overlapping each other by IoU
    under 0.3, on a random crop of a photo."""
    check_scene_arguments(count, image_size, min_size, max_size)
    rng = np.random.default_rng(seed)
    photo_list = photos()
    images, all_boxes, all_labels = [], [], []
    for _ in range(count):
        canvas = background(photo_list, rng, image_size)
        draw = ImageDraw.Draw(canvas)
        boxes, labels = [], []
        for _ in range(int(rng.integers(1, max_objects + 1))):
            box = place_box(rng, boxes, image_size, min_size, max_size)
            if box is None:
                continue
            label = int(rng.integers(len(SHAPES)))
            draw_shape(draw, SHAPES[label], box.tolist(), tuple(int(c) for c in rng.integers(0, 256, 3)))
            boxes.append(box)
            labels.append(label + 1)
        images.append(np.asarray(canvas))
        all_boxes.append(np.array(boxes, "float32").reshape(-1, 4))
        all_labels.append(np.array(labels, "int32"))
    return np.stack(images), all_boxes, all_labels



def detection_dataset(images, boxes, labels, default_boxes, classes, batch_size=8, shuffle=False, seed=0,
                      flip=False, iou_threshold=0.5, augment=None):
    """tf.data of (float32 images [0, 255], (box targets (A, 5), class targets (A,))),
    the targets encoded in the map (kl.training.detection.encode_targets) against
    `default_boxes` (kl.heads.anchors(model)). The annotations are checked first
    (ValueError for a box outside the image or of zero area, or a label outside
    1..classes-1). `flip`: random horizontal flips of images and boxes. `augment`: a
    callable (image, boxes, labels, numpy Generator) -> the same, such as
    kl.data.SSDAugment(), applied to each sample before its targets are encoded, with
    a Generator seeded from `seed` and the sample's draw (another each epoch)."""
    import tensorflow as tf

    from keras_lightnets.training.detection import check_annotations

    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"`images` must be (count, height, width, channels); received shape {images.shape}.")
    check_annotations(boxes, labels, images.shape[1:3], classes)
    most = max(1, max(len(b) for b in boxes))
    padded_boxes = np.zeros((len(images), most, 4), "float32")
    padded_labels = np.full((len(images), most), -1, "int32")  # -1: padding, dropped in the map
    for i, (b, l) in enumerate(zip(boxes, labels)):
        padded_boxes[i, :len(b)], padded_labels[i, :len(l)] = np.asarray(b).reshape(-1, 4), l
    data = tf.data.Dataset.from_tensor_slices((images, padded_boxes, padded_labels))
    if shuffle:
        data = data.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    return encode_detection_data(data, images.shape[1:], default_boxes, batch_size=batch_size, seed=seed, flip=flip,
                                 iou_threshold=iou_threshold, augment=augment)


FLIP_SALT = 0x5F11  # the second word of the flip's stateless seed, the first the sample's draw


def encode_detection_data(data, image_shape, default_boxes, batch_size=8, seed=0, flip=False, iou_threshold=0.5,
                          augment=None):
    """The map and batching of `detection_dataset` on a tf.data of (image (H, W, C),
    boxes (N, 4) x1 y1 x2 y2 pixels, labels (N,); labels below 0 are padding) whose
    images are all `image_shape`."""
    import tensorflow as tf

    from keras_lightnets.training.detection import encode_targets

    height, width = image_shape[:2]
    default_boxes = tf.constant(np.asarray(default_boxes, "float32"))
    if augment is not None and not callable(augment):
        raise ValueError(f"`augment` must be a callable (image, boxes, labels, rng) such as "
                         f"kl.data.SSDAugment(); received {augment!r}.")

    def augmented(image, box, label, draw):
        image, box, label = augment(image, box, label, np.random.default_rng(int(draw) % 2**63))
        return np.asarray(image, "float32"), np.asarray(box, "float32").reshape(-1, 4), np.asarray(label, "int32")

    def encode(image, box, label, draw=None):
        keep = label >= 0
        box, label = tf.boolean_mask(box, keep), tf.boolean_mask(tf.cast(label, tf.int32), keep)
        image = tf.cast(image, tf.float32)
        if augment is not None:
            image, box, label = tf.numpy_function(augmented, [image, box, label, draw],
                                                  [tf.float32, tf.float32, tf.int32], stateful=False)
            image.set_shape(tuple(image_shape))
            box.set_shape([None, 4])
            label.set_shape([None])
        if flip:  # from the sample's draw (salted apart from `augment`'s): seeded as the rest
            flipped = tf.random.stateless_uniform([], tf.stack([draw, tf.constant(FLIP_SALT, tf.int64)])) < 0.5
            image = tf.cond(flipped, lambda: image[:, ::-1], lambda: image)
            box = tf.cond(flipped, lambda: tf.stack([width - box[:, 2], box[:, 1], width - box[:, 0], box[:, 3]], -1),
                          lambda: box)
        return image, encode_targets(box, label, default_boxes, iou_threshold)

    if augment is not None or flip:  # a draw per sample and epoch, from `seed`: the same run twice gives the same samples
        draws = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        data = tf.data.Dataset.zip(data, draws).map(lambda sample, draw: (*sample, draw))
    return data.map(encode, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size).prefetch(tf.data.AUTOTUNE)
