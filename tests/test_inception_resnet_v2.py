"""Inception-ResNet-V2: exact counts against keras.applications (built live),
keras.applications' weight files (legacy .h5 with its automatic layer names, and Keras 3
.weights.h5) loaded into ours giving the same logits on real photos, its published files
asked for by weights="imagenet", its signature, TFLite, and the errors of bad arguments.

The network has no small configuration (55.9M parameters at any input size): the
full-model checks are slow (make test-all), and so is the conversion of a small network
made of its own blocks (the scaled residual: Rescaling and Add, int8 in TFLite); the
default suite builds it in the zoo-wide tests (graph rules and QAT patterns, grayscale,
the paper table) and checks its signature and errors here."""

import inspect

import keras
import numpy as np
import pytest
from randomize import randomize_batch_norm  # tests/randomize.py

import keras_lightnets as kl
from keras_lightnets import tflite as kt
from keras_lightnets.models import inception_resnet_v2 as irv2

from conftest import tf_preprocess  # [0, 255] -> [-1, 1], keras' "tf" preprocess_input
from legacy_h5 import serve_as_download  # tests/legacy_h5.py
from legacy_h5 import write_legacy_weights  # tests/legacy_h5.py: keras.applications' published layout, via h5py
from eager import infer  # tests/eager.py: model(x) as numpy, no predict trace

ka = keras.applications
SIZE = irv2.MIN_SIZE  # 75


@pytest.mark.slow
def test_counts_equal_keras_applications_built_live():
    reference = ka.InceptionResNetV2(weights=None, input_shape=(SIZE, SIZE, 3))
    model = kl.InceptionResNetV2(input_shape=(SIZE, SIZE, 3))
    assert model.count_params() == reference.count_params() == 55_873_736
    assert kl.profile(model).macs == kl.profile(reference).macs
    assert [type(layer).__name__ for layer in model.layers if layer.weights] == [
        type(layer).__name__ for layer in reference.layers if layer.weights]


@pytest.mark.slow
def test_keras_applications_weights_load_and_agree(photos, tmp_path):
    """keras.applications' weights, saved in the legacy layout of its published files
    (automatic names conv2d_N, ...) and as Keras 3 .weights.h5, give ours the same
    logits on real photos at 75x75; with include_preprocessing ours takes raw pixels."""
    reference = ka.InceptionResNetV2(weights=None, input_shape=(SIZE, SIZE, 3), classifier_activation=None)
    randomize_batch_norm(reference, conv_bias=True)
    legacy, keras3 = tmp_path / "irv2.h5", tmp_path / "irv2.weights.h5"
    write_legacy_weights(reference, legacy)
    reference.save_weights(keras3)
    pixels = photos(SIZE).astype("float32")
    expected = infer(reference, tf_preprocess(pixels))
    assert np.abs(expected).max() > 1e-2
    scale = max(1.0, float(np.abs(expected).max()))
    model = kl.InceptionResNetV2(weights=str(legacy), input_shape=(SIZE, SIZE, 3), classifier_activation=None)
    np.testing.assert_allclose(infer(model, tf_preprocess(pixels)), expected, atol=1e-5 * scale, rtol=0)
    raw = kl.InceptionResNetV2(weights=str(keras3), input_shape=(SIZE, SIZE, 3), classifier_activation=None,
                               include_preprocessing=True)
    np.testing.assert_allclose(infer(raw, pixels), expected, atol=1e-4 * scale, rtol=0)


@pytest.mark.slow
def test_imagenet_weights_fetch_the_published_file(monkeypatch, tmp_path):
    saved = tmp_path / irv2.IMAGENET_FILES[False].filename
    write_legacy_weights(ka.InceptionResNetV2(weights=None, include_top=False, input_shape=(SIZE, SIZE, 3)), saved)
    requested = serve_as_download(monkeypatch, saved)
    model = kl.InceptionResNetV2(weights="imagenet", include_top=False, pooling="avg", input_shape=(SIZE, SIZE, 3))
    assert requested == [(
        "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "https://storage.googleapis.com/tensorflow/keras-applications/inception_resnet_v2/"
        "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "models", "d19885ff4a710c122648d3b5c3b684e4")]
    assert model.output_shape == (None, 1536)
    assert irv2.IMAGENET_FILES[True].file_hash == "e693bd0210a403b3192acc6073ad2e96"


@pytest.mark.slow
def test_tflite_float32_agrees_on_the_whole_network(photos, tmp_path):
    model = kl.InceptionResNetV2(input_shape=(SIZE, SIZE, 3), classes=10, include_preprocessing=True)
    report = kt.convert(model, tmp_path / "irv2.tflite", verify=True, verify_data=photos(SIZE))
    assert report.fidelity["max_abs_diff"] <= 1e-4


def _blocks_model():
    """A small network of Inception-ResNet-V2's own pieces: a conv-BN-ReLU stem, one
    scaled residual block of each kind (narrowed), the unscaled last one."""
    inputs = keras.Input((32, 32, 3))
    x = irv2.CONV_BN(keras.layers.Rescaling(1 / 127.5, -1)(inputs), irv2._conv("stem", 16, 3, strides=2), "stem")
    for stage in irv2.STAGES:
        narrow = irv2.ResidualStage(stage.kind, 1, stage.scale, tuple(
            tuple(irv2._conv(c.name, 8, c.kernel) for c in branch) for branch in stage.branches),
            stage.last_scale, stage.last_activation)
        x = irv2.residual_block(x, narrow, 1)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(5, activation="softmax")(x))


@pytest.mark.slow  # (25 s) the default suite converts ConvNeXt (tests/test_convnext.py), IRv2's ops are the zoo's
def test_tflite_of_its_blocks_float32_agrees_and_int8_is_fully_integer(photos, tmp_path):
    model = _blocks_model()
    pixels = photos(32).astype("float32")
    report = kt.convert(model, tmp_path / "f32.tflite", verify=True, verify_data=pixels)
    assert report.fidelity["max_abs_diff"] <= 1e-4
    report = kt.convert(model, tmp_path / "int8.tflite", quantization="int8", representative_data=pixels,
                        input_type="uint8")
    assert report.fully_integer, report
    assert report.op_counts["ADD"] >= 3  # the residual additions (the converter folds each scaling into its projection)


@pytest.mark.slow
def test_quantization_aware_training_of_its_blocks_is_fully_integer(photos, tmp_path):
    """The QAT path on its own blocks (tests/test_graph_rules.py checks that the whole
    network has no pattern outside the QAT-tested motif model)."""
    pixels = photos(32).astype("float32")
    qat = kt.quantize_aware(_blocks_model(), representative_data=pixels)
    report = kt.convert(qat, tmp_path / "qat.tflite", quantization="int8", input_type="uint8")
    assert report.fully_integer, report


def test_signature_is_keras_applications():
    expected = [(p.name, p.default) for p in inspect.signature(ka.InceptionResNetV2).parameters.values()]
    got = [(p.name, p.default) for p in inspect.signature(kl.InceptionResNetV2).parameters.values()][: len(expected)]
    assert got == [(n, None if n == "weights" else d) for n, d in expected]  # weights=None: no download unasked


@pytest.mark.parametrize("kwargs, message", [
    ({"input_shape": (74, 74, 3)}, r"at least 75x75"),
    ({"weights": "imagenet", "classes": 10}, r"classes"),
    ({"weights": "imagenet", "input_shape": (75, 75, 1)}, r"3 input channels"),
], ids=["too-small", "imagenet-classes", "imagenet-gray"])
def test_bad_arguments_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        kl.InceptionResNetV2(**kwargs)
