"""Grayscale (1-channel) input, which keras.applications builds with weights=None: the
in-graph normalization gives each channel the average of the RGB statistics (a gray
value stands for R = G = B). That every registered model builds and runs on one channel
is checked with the graph rules, on the same build (tests/test_graph_rules.py)."""

import keras
import numpy as np
import pytest

import keras_lightnets as kl
from keras_lightnets.layers.preprocessing import CAFFE_BGR_MEAN
from keras_lightnets.layers.preprocessing import TORCH_RGB_MEAN
from keras_lightnets.layers.preprocessing import TORCH_RGB_STD
from keras_lightnets.layers.preprocessing import channel_statistics


def test_channel_statistics_average_rgb_for_other_channel_counts():
    assert channel_statistics(TORCH_RGB_MEAN, 3) == TORCH_RGB_MEAN
    assert channel_statistics(TORCH_RGB_MEAN, 1) == pytest.approx((np.mean(TORCH_RGB_MEAN),))
    assert channel_statistics(TORCH_RGB_STD, 4) == pytest.approx((np.mean(TORCH_RGB_STD),) * 4)


def _first_layers(model, last):
    return keras.Model(model.inputs, model.get_layer(last).output)


GRAY = 200.0
TORCH = (GRAY / 255 - np.mean(TORCH_RGB_MEAN)) / np.mean(TORCH_RGB_STD)


@pytest.mark.parametrize(
    "name, last_preprocessing_layer, expected",
    [
        ("resnet50", "caffe_preprocessing", GRAY - np.mean(CAFFE_BGR_MEAN)),  # caffe: no BGR flip for one channel
        ("densenet121", "torch_preprocessing", TORCH),
        ("efficientnet_b0", "normalization", TORCH),
        ("mnasnet1_0", "rescaling", TORCH),
    ],
)
def test_one_channel_normalization_uses_the_averaged_statistics(name, last_preprocessing_layer, expected):
    model = kl.create_model(name, input_shape=(32, 32, 1), classes=2)
    normalized = _first_layers(model, last_preprocessing_layer).predict(np.full((1, 32, 32, 1), GRAY, "float32"), verbose=0)
    np.testing.assert_allclose(normalized, np.full((1, 32, 32, 1), expected), rtol=1e-5, atol=1e-5)


def test_imagenet_weights_still_need_three_channels():
    with pytest.raises(ValueError, match="3 input channels"):
        kl.ResNet50(input_shape=(224, 224, 1), weights="imagenet")
