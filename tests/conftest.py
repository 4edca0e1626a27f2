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


@pytest.fixture(scope="session")
def digits_32px_5_classes():
    """The bundled digits at 32x32, 5 classes: ((x, y), (x_test, y_test))."""
    from keras_lightnets.data import load_digits

    return load_digits(image_size=32, num_classes=5, seed=0)


@pytest.fixture(scope="session")
def trained_mobilenet_v3_small(digits_32px_5_classes):
    """MobileNetV3-Small (h-swish, squeeze-excite) trained for real on the digits (5
    epochs; test accuracy 0.97-0.99 over seeds 0-7), so its outputs have a trained
    network's margins and int8 rounding does not flip its top-1 by chance, as it does
    for random weights. Shared by the converter tests (one training per worker)."""
    import keras

    import keras_lightnets as kl

    (x, y), _ = digits_32px_5_classes
    x, y = x[:704], y[:704]  # whole batches of 32: a last, smaller batch would trace the step again
    keras.utils.set_random_seed(0)
    model = kl.create_model("mobilenet_v3_small", input_shape=(32, 32, 3), classes=5)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.9  # a short run: let the moving statistics keep up
    model.compile(keras.optimizers.Adam(2e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=32, epochs=5, verbose=0)
    return model


def pytest_collection_modifyitems(config, items):
    """The registry-wide tests check a deeper or wider twin of a variant in `make test-all`
    only (tests/registry_wide.py says which, and why)."""
    from registry_wide import DEEPER_TWINS
    from registry_wide import REGISTRY_WIDE_FILES

    for item in items:
        callspec = getattr(item, "callspec", None)
        if (callspec is not None and item.path.name in REGISTRY_WIDE_FILES
                and callspec.params.get("name") in DEEPER_TWINS):
            item.add_marker(pytest.mark.slow)
