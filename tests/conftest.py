import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest
from PIL import Image

# Real photos shipped inside scikit-image (no download).
PHOTO_NAMES = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field")


def load_photos(size, names=PHOTO_NAMES):
    """Real photos, center-cropped square and resized: uint8 (N, size, size, 3)."""
    import skimage.data

    out = []
    for name in names:
        image = getattr(skimage.data, name)()[..., :3]
        h, w = image.shape[:2]
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        square = Image.fromarray(image[top : top + side, left : left + side])
        out.append(np.asarray(square.resize((size, size), Image.BILINEAR)))
    return np.stack(out)


@pytest.fixture(scope="session")
def photos():
    cache = {}

    def get(size):
        if size not in cache:
            cache[size] = load_photos(size)
        return cache[size]

    return get


def tf_preprocess(images):
    """keras.applications' "tf" mode preprocess_input: [0, 255] -> [-1, 1]."""
    return images.astype("float32") / 127.5 - 1.0


def _offset_every_seed():
    """KL_SEED_OFFSET=k shifts every keras.utils.set_random_seed(s) call (tests' and the
    package's) to s + k, so `benchmarks/seed_spread.py` can rerun the trained tests under
    other seeds without editing them (see tests/figures.py)."""
    import keras

    from figures import seed_offset

    offset = seed_offset()
    if not offset or getattr(keras.utils.set_random_seed, "offset", None) == offset:
        return
    original = keras.utils.set_random_seed

    def set_random_seed(seed):
        original(seed + offset)

    set_random_seed.offset = offset
    keras.utils.set_random_seed = set_random_seed


_offset_every_seed()
