"""Our models against timm's own forward pass (timm 0.9.16 on torch 1.13, from
`make reference`): timm's state_dict, read without torch and passed as weights=, gives
timm's logits within 1e-4 of their scale (random weights and BatchNorm statistics,
64x64 input, 10 classes). timm's `tf_` EfficientNets and MobileNetV3s are the authors'
TensorFlow graphs (TensorFlow padding, BatchNorm epsilon 1e-3): ours as they are
(keras.applications' layout). Measured at commit time: 1.1e-6 to 8.3e-6."""

import pytest
from torch_reference import relative_difference
from torch_reference import timm_reference

import keras_lightnets as kl

# (our registry name, timm model)
ARCHITECTURES = [
    ("efficientnet_lite0", "tf_efficientnet_lite0"),
    ("efficientnet_b0", "tf_efficientnet_b0"),
    pytest.param("efficientnet_lite2", "tf_efficientnet_lite2", marks=pytest.mark.slow),
    pytest.param("efficientnet_b3", "tf_efficientnet_b3", marks=pytest.mark.slow),
    ("mobilenet_v3_small", "tf_mobilenetv3_small_100"), ("mobilenet_v3_large", "tf_mobilenetv3_large_100"),
    pytest.param("mobilenet_v3_large_075", "tf_mobilenetv3_large_075", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("ours, timm_name", ARCHITECTURES)
def test_forward_pass_equals_timm(tmp_path, ours, timm_name):
    reference = timm_reference(tmp_path, timm_name, num_classes=10)
    model = kl.create_model(ours, weights=str(reference.checkpoint), input_shape=(64, 64, 3), classes=10,
                            include_preprocessing=False, classifier_activation=None)
    assert relative_difference(model.predict(reference.images, verbose=0), reference.logits) < 1e-4
