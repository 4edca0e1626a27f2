"""VGG, VGG-BN, AlexNet and DenseNet against torchvision's own forward pass: torchvision
0.14's state_dict, read without torch and loaded through the family builder
(weights=<the .pth file>, so each family's torch_names maps our keras.applications
layer names to torchvision's module paths), gives its logits within 1e-4 of their
scale (random weights and BatchNorm statistics, classes=10).

Input sizes: VGG at 32x32, torchvision's smallest (its AdaptiveAvgPool2d((7, 7))
upsamples the 1x1 map, which layout="torchvision" reproduces; fc1 is 25088 wide
whatever the size, so every VGG checkpoint is 0.4-0.5 GB: all but VGG-11-BN are slow);
AlexNet at 64x64 (its smallest is 63); DenseNet at 64x64.

Measured at commit time (relative difference of the logits): vgg11 4.4e-6, vgg11_bn
6.6e-6, vgg13 2.7e-6, vgg13_bn 3.3e-6, vgg16 2.9e-6, vgg16_bn 3.3e-6, vgg19 3.6e-6,
vgg19_bn 3.4e-6, alexnet 6.4e-7, densenet121 1.9e-6, densenet161 1.6e-6, densenet169
8.6e-7, densenet201 1.7e-6.
"""

import pytest
from torch_reference import relative_difference
from torch_reference import torchvision_reference

import keras_lightnets as kl
from eager import infer  # tests/eager.py: model(x) as numpy, no predict trace

TORCHVISION_LAYOUT = {"layout": "torchvision"}
VGG_SIZE = 32  # torchvision's min_size for VGG: the smallest input, the cheapest run
SLOW = pytest.mark.slow  # a 0.4-0.5 GB checkpoint (fc1: 25088 x 4096), make test-all

# (our registry name, torchvision's builder, the knobs its weight sets need, input size)
ARCHITECTURES = [
    ("vgg11_bn", "vgg11_bn", TORCHVISION_LAYOUT, VGG_SIZE),
    pytest.param("vgg11", "vgg11", TORCHVISION_LAYOUT, VGG_SIZE, marks=SLOW),
    pytest.param("vgg13", "vgg13", TORCHVISION_LAYOUT, VGG_SIZE, marks=SLOW),
    pytest.param("vgg13_bn", "vgg13_bn", TORCHVISION_LAYOUT, VGG_SIZE, marks=SLOW),
    pytest.param("vgg16", "vgg16", TORCHVISION_LAYOUT, VGG_SIZE, marks=SLOW),
    pytest.param("vgg16_bn", "vgg16_bn", TORCHVISION_LAYOUT, VGG_SIZE, marks=SLOW),
    pytest.param("vgg19", "vgg19", TORCHVISION_LAYOUT, VGG_SIZE, marks=SLOW),
    pytest.param("vgg19_bn", "vgg19_bn", TORCHVISION_LAYOUT, VGG_SIZE, marks=SLOW),
    ("alexnet", "alexnet", {}, 64),
    ("densenet121", "densenet121", TORCHVISION_LAYOUT, 64),
    # DenseNet-121's code at other widths and depths, 1.4-1.6x its time: make test-all
    pytest.param("densenet161", "densenet161", TORCHVISION_LAYOUT, 64, marks=pytest.mark.slow),
    pytest.param("densenet169", "densenet169", TORCHVISION_LAYOUT, 64, marks=pytest.mark.slow),
    pytest.param("densenet201", "densenet201", TORCHVISION_LAYOUT, 64, marks=pytest.mark.slow),
]


@pytest.mark.parametrize("ours, torchvision_name, knobs, size", ARCHITECTURES)
def test_forward_pass_equals_torchvision(tmp_path, ours, torchvision_name, knobs, size):
    reference = torchvision_reference(tmp_path, torchvision_name, size=size, num_classes=10, kaiming=True)
    model = kl.create_model(ours, weights=str(reference.checkpoint), input_shape=(size, size, 3), classes=10,
                            include_preprocessing=False, classifier_activation=None, **knobs)
    difference = relative_difference(infer(model, reference.images), reference.logits)
    print(f"{ours}: relative difference {difference:.2e}")
    assert difference < 1e-4


@pytest.mark.parametrize("call, message", [
    (lambda: kl.VGG(layout="pytorch"), r"`layout` must be one of \('keras', 'torchvision'\)"),
    (lambda: kl.DenseNet121(layout="pytorch"), r"`layout` must be one of \('keras', 'torchvision'\)"),
    (lambda: kl.DenseNet121(weights="imagenet", layout="torchvision"), r"layout='keras'"),
    (lambda: kl.DenseNet161(weights="imagenet"), r"DenseNet-121/169/201 only"),
])
def test_layout_is_checked_and_keras_files_stay_on_the_keras_layout(call, message):
    with pytest.raises(ValueError, match=message):
        call()
