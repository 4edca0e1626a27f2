"""The ResNet family against torchvision 0.14's own forward pass, beyond ResNet-18,
ResNeXt-50 and Wide ResNet-50 (tests/test_torchvision_reference.py): torchvision's
state_dict, read without torch and passed as weights= (the Family path), gives its
logits within 1e-4 of their scale (random weights and BatchNorm statistics, 64x64,
10 classes).

Our resnet50/101/152 are keras.applications' ResNet v1 (stride on the first 1x1, its
names, conv biases, BN epsilon 1.001e-5, caffe preprocessing); torchvision's are its
"v1.5". layout="torchvision" builds torchvision's graph; the other networks here are
torchvision's already. torchvision's IMAGENET1K_V1 and _V2 sets of each share one
architecture (only the training recipe differs), so this one check covers both.
Measured at commit time: 6.9e-7 to 2.9e-6."""

import numpy as np
import pytest
from torch_reference import relative_difference
from torch_reference import torchvision_reference

import keras_lightnets as kl
from keras_lightnets.models import resnet
from eager import infer  # tests/eager.py: model(x) as numpy, no predict trace

TORCHVISION = {"layout": "torchvision"}
SLOW = pytest.mark.slow  # checkpoints of 170 MB and more (random weights at 10 classes)

# (our registry name, torchvision's builder, the knobs of torchvision's weight sets)
ARCHITECTURES = [
    pytest.param("resnet34", "resnet34", {}, marks=SLOW),  # resnet18's blocks, deeper: make test-all
    ("resnet50", "resnet50", TORCHVISION),
    pytest.param("resnet101", "resnet101", TORCHVISION, marks=SLOW),
    pytest.param("resnet152", "resnet152", TORCHVISION, marks=SLOW),
    pytest.param("resnext101_32x8d", "resnext101_32x8d", {}, marks=SLOW),
    pytest.param("resnext101_64x4d", "resnext101_64x4d", {}, marks=SLOW),
    pytest.param("wide_resnet101_2", "wide_resnet101_2", {}, marks=SLOW),
]


@pytest.mark.parametrize("ours, torchvision_name, knobs", ARCHITECTURES)
def test_forward_pass_equals_torchvision(tmp_path, ours, torchvision_name, knobs):
    reference = torchvision_reference(tmp_path, torchvision_name, num_classes=10, kaiming=True)
    model = kl.create_model(ours, weights=str(reference.checkpoint), input_shape=(64, 64, 3), classes=10,
                            include_preprocessing=False, classifier_activation=None, **knobs)
    assert relative_difference(infer(model, reference.images), reference.logits) < 1e-4


def test_the_keras_class_takes_the_layout_and_its_preprocessing_is_torchvisions(tmp_path):
    reference = torchvision_reference(tmp_path, "resnet50", num_classes=10)
    model = kl.ResNet50(weights=str(reference.checkpoint), input_shape=(64, 64, 3), classes=10,
                        classifier_activation=None, layout="torchvision")
    assert relative_difference(infer(model, reference.images), reference.logits) < 1e-4
    # In the graph: [0, 255] pixels, then ImageNet mean/std of [0, 1] as torchvision's transform
    # (the reference's inputs read as already normalized images).
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    with_preprocessing = kl.ResNet50(weights=str(reference.checkpoint), input_shape=(64, 64, 3), classes=10,
                                     classifier_activation=None, layout="torchvision", include_preprocessing=True)
    pixels = (reference.images * std + mean) * 255.0
    assert relative_difference(infer(with_preprocessing, pixels), reference.logits) < 1e-4


def test_the_torchvision_layout_is_torchvisions_graph():
    model = kl.ResNet50(weights=None, layout="torchvision", include_preprocessing=True)
    trainable = sum(int(np.prod(weight.shape)) for weight in model.trainable_weights)
    assert trainable == 25_557_032  # torchvision's num_params (nn.Parameters): no conv biases
    names = {layer.name for layer in model.layers}
    assert {"conv1", "bn1", "layer1_0_downsample_0", "layer4_2_conv3", "fc", "torch_preprocessing"} <= names
    assert model.get_layer("layer2_0_conv2").strides == (2, 2)  # v1.5: the 3x3 strides
    assert model.get_layer("layer2_0_conv1").strides == (1, 1)
    assert model.get_layer("bn1").epsilon == 1e-5


def test_the_default_layout_keeps_keras_applications_graph():
    model = kl.ResNet50(weights=None)
    assert model.count_params() == 25_636_712
    assert model.get_layer("conv3_block1_1_conv").strides == (2, 2)  # the paper's: the first 1x1 strides
    assert "layout" not in kl.model_info("resnet50").defaults  # a weight set's layout never clashes with it


@pytest.mark.parametrize("build, message", [
    (lambda: kl.ResNet50V2(weights=None, layout="torchvision"), "layout"),
    (lambda: kl.ResNet(depth=50, version=2, style="keras", layout="torchvision"), "pre-activation"),
    (lambda: kl.ResNet50(weights=None, layout="caffe"), "layout"),
])
def test_bad_layouts_are_named(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_layout_is_the_last_knob():
    assert resnet.ResNet.family.order[-1] == "layout"
