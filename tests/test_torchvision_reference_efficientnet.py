"""EfficientNet B0-B7 and MnasNet (B1) against torchvision's own forward pass:
torchvision 0.14's state_dict, read without torch (weights=<the .pth file>, through the
family's torch_names), gives its logits within 1e-4 of their scale with
layout="torchvision" (random weights and BatchNorm statistics, 64x64 input, 10 classes).
Measured at commit time: see the commit message."""

import numpy as np
import pytest
from torch_reference import relative_difference
from torch_reference import torchvision_reference

import keras_lightnets as kl
from eager import infer  # tests/eager.py: model(x) as numpy, no predict trace

TORCHVISION = {"layout": "torchvision"}

# (our registry name, torchvision's builder, the knobs its weight sets need). In the default
# suite: B0, B1 (its IMAGENET1K_V1 and _V2 load on the same graph; depth rounding) and two
# MnasNet widths; the other widths and depths run the same code (make test-all), B4-B7 over
# 20 s each, B6-B7 over 150 MB. B5-B7 use torchvision's BatchNorm epsilon 1e-3.
# Measured (relative logit difference, 64x64, 10 classes): B0 5.8e-7, B1 1.3e-6, B2 1.8e-6,
# B3 7.0e-7, B4 1.2e-6, B5 8.2e-7, B6 3.1e-6, B7 1.5e-6; MnasNet 0.5 3.5e-7, 0.75 8.4e-7,
# 1.0 6.9e-7, 1.3 8.8e-7.
ARCHITECTURES = [
    ("efficientnet_b0", "efficientnet_b0", TORCHVISION),
    # B1..B7 and MnasNet 0.75..1.3: the same blocks, scaled; make test-all (CI's 30 minutes)
    *(pytest.param(f"efficientnet_b{i}", f"efficientnet_b{i}", TORCHVISION, marks=pytest.mark.slow)
      for i in range(1, 8)),
    ("mnasnet0_5", "mnasnet0_5", TORCHVISION),
    pytest.param("mnasnet1_0", "mnasnet1_0", TORCHVISION, marks=pytest.mark.slow),
    pytest.param("mnasnet0_75", "mnasnet0_75", TORCHVISION, marks=pytest.mark.slow),
    pytest.param("mnasnet1_3", "mnasnet1_3", TORCHVISION, marks=pytest.mark.slow),
]


@pytest.mark.parametrize("ours, torchvision_name, knobs", ARCHITECTURES)
def test_forward_pass_equals_torchvision(tmp_path, ours, torchvision_name, knobs):
    reference = torchvision_reference(tmp_path, torchvision_name, num_classes=10, kaiming=True)
    model = kl.create_model(ours, weights=str(reference.checkpoint), input_shape=(64, 64, 3), classes=10,
                            include_preprocessing=False, classifier_activation=None, **knobs)
    assert relative_difference(infer(model, reference.images), reference.logits) < 1e-4


@pytest.mark.parametrize("builder, torchvision_params", [(kl.EfficientNetB0, 5_288_548), (kl.MnasNet1_0, 4_383_312)])
def test_the_layouts_hold_the_same_weights(builder, torchvision_params):
    """layout="keras" (the default: keras.applications' graph and files) and "torchvision"
    differ only in padding and BatchNorm epsilon: the same weights, torchvision's count.
    (Their input normalization differs only in kind: keras.applications' files carry the
    statistics of EfficientNet's Normalization layer, torchvision's have none.)"""
    keras_layout = builder(input_shape=(64, 64, 3), include_preprocessing=False)
    torchvision_layout = builder(input_shape=(64, 64, 3), include_preprocessing=False, layout="torchvision")
    assert keras_layout.count_params() == torchvision_layout.count_params()
    # BatchNorm's moving statistics are in Keras' count, not in torchvision's parameters
    assert sum(int(np.prod(w.shape)) for w in torchvision_layout.trainable_weights) == torchvision_params
    assert not any(layer.name.endswith("_pad") for layer in keras_layout.layers)


@pytest.mark.parametrize("builder, kwargs, message", [
    (kl.EfficientNetB0, {"layout": "pytorch"}, r"layout.*'keras', 'torchvision'"),
    (kl.MnasNet, {"layout": "tf"}, r"layout.*'keras', 'torchvision'"),
    (kl.EfficientNetB0, {"layout": "torchvision", "weights": "imagenet"}, r"layout='keras'"),
])
def test_bad_layouts(builder, kwargs, message):
    with pytest.raises(ValueError, match=message):
        builder(**kwargs)
