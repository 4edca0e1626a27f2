"""VGG, VGG-BN, AlexNet and DenseNet against torchvision's own forward pass: torchvision
0.14's state_dict, read without torch and loaded through the family builder
(weights=<the .pth file>, so each family's torch_names maps our keras.applications
layer names to torchvision's module paths), gives its logits within 1e-4 of their
scale (random weights and BatchNorm statistics, classes=10).

Input sizes: VGG at 32x32, torchvision's smallest (its AdaptiveAvgPool2d((7, 7))
upsamples the 1x1 map, which layout="torchvision" reproduces; fc1 is 25088 wide
whatever the size, so every VGG checkpoint is 0.4-0.5 GB: all but VGG-11-BN are slow);
AlexNet at 64x64 (its smallest is 63); DenseNet at 64x64.
"""

import pytest
from torch_reference import relative_difference
from torch_reference import torchvision_reference

import keras_lightnets as kl

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
    ("densenet161", "densenet161", TORCHVISION_LAYOUT, 64),
    ("densenet169", "densenet169", TORCHVISION_LAYOUT, 64),
    ("densenet201", "densenet201", TORCHVISION_LAYOUT, 64),
]


@pytest.mark.parametrize("ours, torchvision_name, knobs, size", ARCHITECTURES)
def test_forward_pass_equals_torchvision(tmp_path, ours, torchvision_name, knobs, size):
    reference = torchvision_reference(tmp_path, torchvision_name, size=size, num_classes=10)
    model = kl.create_model(ours, weights=str(reference.checkpoint), input_shape=(size, size, 3), classes=10,
                            include_preprocessing=False, classifier_activation=None, **knobs)
    difference = relative_difference(model.predict(reference.images, verbose=0), reference.logits)
    print(f"{ours}: relative difference {difference:.2e}")
    assert difference < 1e-4
