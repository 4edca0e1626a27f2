"""ResNet against torchvision's own forward pass: its state_dict, read without torch,
gives its logits (random weights and BatchNorm statistics, 64x64 input)."""

import numpy as np
import pytest
from torch_reference import relative_difference
from torch_reference import torchvision_reference

import keras_lightnets as kl
from keras_lightnets.weights import load_state_dict
from keras_lightnets.weights import read_checkpoint


@pytest.mark.parametrize("torchvision_name, builder", [("resnet18", kl.ResNet18)])
def test_forward_pass_equals_torchvision(tmp_path, torchvision_name, builder):
    reference = torchvision_reference(tmp_path, torchvision_name, num_classes=10, legacy=True)
    for checkpoint in (reference.checkpoint, reference.legacy_checkpoint):
        model = builder(input_shape=(64, 64, 3), classes=10, include_preprocessing=False, classifier_activation=None)
        load_state_dict(model, read_checkpoint(checkpoint))
        assert relative_difference(model.predict(reference.images, verbose=0), reference.logits) < 1e-4


def test_a_checkpoint_path_as_weights_loads_it(tmp_path):
    reference = torchvision_reference(tmp_path, "resnet18", num_classes=10)
    model = kl.ResNet18(weights=str(reference.checkpoint), input_shape=(64, 64, 3), classes=10,
                        include_preprocessing=False, classifier_activation=None)
    assert relative_difference(model.predict(reference.images, verbose=0), reference.logits) < 1e-4
