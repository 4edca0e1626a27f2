"""The bundled offline dataset: scikit-learn's handwritten digits, upsampled.

1,797 real 8x8 scans of handwritten digits (UCI ML digits, shipped inside
scikit-learn), bilinearly resized and repeated to 3 channels, so any ImageNet-style
network can train on real images with no download.
"""

import numpy as np
from PIL import Image

NUM_CLASSES = 10


def load_digits(image_size=64, test_fraction=0.2, seed=0, num_classes=NUM_CLASSES):
    """Returns ((x_train, y_train), (x_test, y_test)).

    Images are uint8 RGB in [0, 255], shape (N, image_size, image_size, 3); labels
    int32. The split is stratified by class and fixed by `seed`. `num_classes` < 10
    keeps only the digits 0..num_classes-1 (smaller tests).
    """
    from sklearn.datasets import load_digits as sklearn_digits  # deferred: heavy import

    if not 2 <= num_classes <= NUM_CLASSES:
        raise ValueError(f"`num_classes` must be between 2 and {NUM_CLASSES}; received {num_classes}.")
    if not 0 < test_fraction < 1:
        raise ValueError(f"`test_fraction` must be in (0, 1); received {test_fraction}.")
    if image_size < 8:
        raise ValueError(f"`image_size` must be at least 8 (the scans are 8x8); received {image_size}.")
    digits = sklearn_digits()
    keep = digits.target < num_classes
    scans, labels = digits.images[keep], digits.target[keep].astype("int32")
    images = np.stack([_upsample(scan, image_size) for scan in scans])

    rng = np.random.RandomState(seed)
    test = np.zeros(len(labels), bool)
    for c in range(num_classes):
        members = rng.permutation(np.flatnonzero(labels == c))
        test[members[: int(round(len(members) * test_fraction))]] = True
    return (images[~test], labels[~test]), (images[test], labels[test])


def _upsample(scan, size):
    # Scans hold ink intensities 0..16.
    gray = Image.fromarray((scan * (255.0 / 16.0)).astype("uint8"))
    gray = np.asarray(gray.resize((size, size), Image.BILINEAR))
    return np.repeat(gray[:, :, None], 3, axis=2)
