"""MobileNetV2 and V3 against torchvision's own forward pass: with layout="torchvision"
(PyTorch's symmetric padding, V2's BatchNorm epsilon 1e-5, ImageNet mean/std) our
models, loaded from torchvision 0.14's state_dict through weights= (the Family path,
which maps our keras.applications layer names to torchvision's modules), give its
logits within 1e-4 of their scale (random weights and BatchNorm statistics, 64x64
input, 10 classes). One graph per architecture serves every torchvision weight set of
it (MobileNet_V2_Weights IMAGENET1K_V1 and V2, MobileNet_V3_Large_Weights IMAGENET1K_V1
and V2, MobileNet_V3_Small_Weights IMAGENET1K_V1: the same modules, other values).
Measured at commit time: see the commit message."""

import numpy as np
import pytest
from torch_reference import relative_difference
from torch_reference import torchvision_reference

import keras_lightnets as kl
from eager import infer  # tests/eager.py: model(x) as numpy, no predict trace

TORCHVISION = {"layout": "torchvision"}

# (our registry name, torchvision's builder, its keyword arguments, our knobs)
ARCHITECTURES = [
    ("mobilenet_v2", "mobilenet_v2", {}, TORCHVISION),
    ("mobilenet_v3_large", "mobilenet_v3_large", {}, TORCHVISION),
    ("mobilenet_v3_small", "mobilenet_v3_small", {}, TORCHVISION),
    # Widths torchvision publishes no weights for: its width_mult rounds as our alpha does
    # with layout="torchvision" (V2: no int() before rounding; V3: the stem, each expansion
    # and the 1280 / 1024 scaled too), unlike keras.applications. make test-all.
    pytest.param("mobilenet_v2_075", "mobilenet_v2", {"width_mult": 0.75}, TORCHVISION, marks=pytest.mark.slow),
    pytest.param("mobilenet_v3_small_075", "mobilenet_v3_small", {"width_mult": 0.75}, TORCHVISION,
                 marks=pytest.mark.slow),
    pytest.param("mobilenet_v3_large", "mobilenet_v3_large", {"width_mult": 0.5}, {**TORCHVISION, "alpha": 0.5},
                 marks=pytest.mark.slow),
]


def _case_id(case):
    ours, _, kwargs, _ = getattr(case, "values", case)
    return ours + "".join(f"-{k}={v}" for k, v in kwargs.items())


@pytest.mark.parametrize("ours, torchvision_name, torchvision_kwargs, knobs", ARCHITECTURES,
                         ids=[_case_id(a) for a in ARCHITECTURES])
def test_forward_pass_equals_torchvision(tmp_path, ours, torchvision_name, torchvision_kwargs, knobs):
    reference = torchvision_reference(tmp_path, torchvision_name, num_classes=10, kaiming=True, **torchvision_kwargs)
    model = kl.create_model(ours, weights=str(reference.checkpoint), input_shape=(64, 64, 3), classes=10,
                            include_preprocessing=False, classifier_activation=None, **knobs)
    assert relative_difference(infer(model, reference.images), reference.logits) < 1e-4


def test_the_keras_layout_is_not_torchvisions(tmp_path):
    """The knob matters: keras.applications' padding gives other logits from the same file."""
    reference = torchvision_reference(tmp_path, "mobilenet_v3_small", num_classes=10)
    model = kl.create_model("mobilenet_v3_small", weights=str(reference.checkpoint), input_shape=(64, 64, 3),
                            classes=10, include_preprocessing=False, classifier_activation=None)
    assert relative_difference(infer(model, reference.images), reference.logits) > 1e-3


@pytest.mark.parametrize("ours", ["mobilenet_v2", "mobilenet_v3_small"])
def test_torchvision_layout_preprocesses_with_imagenet_mean_and_std(ours):
    model = kl.create_model(ours, layout="torchvision", input_shape=(32, 32, 3), features_only=True,
                            out_strides=(2,))
    pixels = np.full((1, 32, 32, 3), 255.0 * np.array([0.485, 0.456, 0.406]), "float32")
    normalized = model.get_layer("torch_preprocessing")(model.get_layer("torch_preprocessing_rescaling")(pixels))
    np.testing.assert_allclose(np.asarray(normalized), 0.0, atol=1e-5)


@pytest.mark.parametrize("builder, kwargs, keras_count, torchvision_count", [
    # keras.applications' counts (as today, layout="keras"); torchvision's num_params
    (kl.MobileNetV2, {}, 3_538_984, 3_504_872),
    (kl.MobileNetV3Large, {}, 5_507_432, 5_483_032),
    (kl.MobileNetV3Small, {}, 2_554_968, 2_542_856),
])
def test_parameter_counts_of_both_layouts(builder, kwargs, keras_count, torchvision_count):
    """layout="keras" keeps keras.applications' count (BatchNorm statistics included);
    layout="torchvision" has torchvision's num_params (its parameters, statistics not)."""
    assert builder(**kwargs).count_params() == keras_count
    model = builder(**kwargs, layout="torchvision")
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == torchvision_count


def test_keras_applications_weights_need_the_keras_layout():
    with pytest.raises(ValueError, match="layout='keras'"):
        kl.MobileNetV3Small(weights="imagenet", layout="torchvision")
    with pytest.raises(ValueError, match="layout"):
        kl.MobileNetV2(layout="pytorch")
