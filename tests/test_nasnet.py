"""NASNet-A Mobile and Large (keras_lightnets.models.nasnet): exact counts and layer names
against keras.applications built live, keras.applications' weight files (legacy Keras 2
.h5 and Keras 3 .weights.h5) giving its logits on real photos, weights="imagenet"
fetching its published files, the family builder's knobs against keras.applications'
generic NASNet, TFLite and QAT, and the errors of bad arguments.

Default suite: one NASNetMobile pair (keras.applications' and ours, at its 224 px, which
an ImageNet top needs) and a small NASNet-A (1 @ 192); the Large model and the Mobile
conversions are slow (make test-all)."""

import keras
import numpy as np
import pytest
from randomize import randomize_batch_norm  # tests/randomize.py

import keras_lightnets as kl
from keras.src.applications import nasnet as keras_nasnet
from keras_lightnets.models import nasnet

from legacy_h5 import serve_as_download  # tests/legacy_h5.py
from legacy_h5 import write_legacy_weights  # tests/legacy_h5.py: keras.applications' published layout, via h5py

ka = keras.applications
KERAS_NASNET = keras_nasnet.NASNet  # keras.applications' generic builder (exported as its module's, not by name)
MOBILE_PARAMS, LARGE_PARAMS = 5_326_716, 88_949_818  # keras.applications' count_params(), with the top
# A small NASNet-A (N @ P) for the family builder: 1 normal cell per stack, P = 192.
SMALL = {"penultimate_filters": 192, "num_blocks": 1, "stem_block_filters": 8, "skip_reduction": True,
         "filter_multiplier": 2}


def _logits(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False))  # eager: no tracing of ~800 layers


def _weighted(model):
    """[(layer name, weight shapes)] of the layers with weights, in the model's order
    (the order a legacy .h5 file is read in by keras.applications' loader)."""
    return [(layer.name, [tuple(w.shape) for w in layer.weights]) for layer in model.layers if layer.weights]


def _agree(got, expected, relative=1e-5):
    assert np.abs(expected).max() > 1e-2  # the comparison is not between zeros
    assert np.abs(expected[0] - expected[1]).max() > 5e-3 * np.abs(expected).max()  # the logits depend on the photo
    np.testing.assert_allclose(got, expected, atol=relative * np.abs(expected).max(), rtol=0)
    return float(np.abs(got - expected).max() / np.abs(expected).max())


def test_mobile_is_keras_applications_and_loads_its_imagenet_file(photos, monkeypatch, tmp_path):
    """keras.applications.NASNetMobile with random weights and BN statistics, saved as the
    published files are (legacy Keras 2 .h5), served as weights="imagenet": ours asks
    keras.utils.get_file for keras.applications' file (name, URL, hash), has its parameter
    count and its weighted layers in its order, and gives its logits on real photos at
    224 px (the size its ImageNet top needs), taking [0, 255] pixels with
    include_preprocessing=True where keras.applications takes preprocess_input's."""
    reference = ka.NASNetMobile(weights=None, classifier_activation=None)
    randomize_batch_norm(reference)
    saved = tmp_path / "nasnet_mobile.h5"
    write_legacy_weights(reference, saved)
    requested = serve_as_download(monkeypatch, saved)
    model = kl.NASNetMobile(weights="imagenet", classifier_activation=None, include_preprocessing=True)
    assert requested == [("nasnet_mobile.h5", "https://storage.googleapis.com/tensorflow/keras-applications/nasnet/"
                          "NASNet-mobile.h5", "models", "020fb642bf7360b370c678b08e0adf61")]
    assert model.count_params() == reference.count_params() == MOBILE_PARAMS
    assert _weighted(model) == _weighted(reference)
    assert len(model.layers) == len(reference.layers) + 1  # and include_preprocessing's Rescaling
    assert model.name == "nasnet_mobile" and model.input_shape == (None, 224, 224, 3)
    pixels = photos(224).astype("float32")
    _agree(_logits(model, pixels), _logits(reference, ka.nasnet.preprocess_input(pixels.copy())), relative=2e-5)


def test_family_builder_is_keras_applications_nasnet_and_reads_keras_3_files(photos, tmp_path):
    """A NASNet-A (1 @ 192) with skip_reduction (NASNetLarge's), from the family builder and
    from keras.applications' generic NASNet: equal counts and weighted layers, and ours
    gives its logits from its Keras 3 .weights.h5 file at 32 px (the smallest input)."""
    size = 32
    reference = KERAS_NASNET(input_shape=(size, size, 3), **SMALL, weights=None, classes=10, classifier_activation=None)
    randomize_batch_norm(reference, seed=1)
    path = tmp_path / "small.weights.h5"
    reference.save_weights(path)
    model = kl.NASNet((size, size, 3), **SMALL, weights=str(path), classes=10, classifier_activation=None)
    assert _weighted(model) == _weighted(reference) and model.count_params() == reference.count_params()
    pixels = photos(size).astype("float32") / 127.5 - 1
    _agree(_logits(model, pixels), _logits(reference, pixels))


def test_features_only_gives_the_cells_outputs_at_each_stride():
    model = kl.NASNet((64, 64, 3), **SMALL, features_only=True, out_strides=(2, 4, 8, 16, 32))
    # The unpadded 3x3/2 stem gives 31 px, each reduction cell halves it (rounding up).
    # Widths (cell width 192 // 24 = 8): the stem's 8 filters, the first stem cell's 4
    # combinations of 8 // 4, then the last normal cell of each stack, 6 * 8 * 2 ** stack.
    assert [tuple(t.shape[1:]) for t in model.outputs] == [
        (31, 31, 8), (16, 16, 8), (8, 8, 48), (4, 4, 96), (2, 2, 192)]


def test_the_published_files_are_keras_applications():
    url = "https://storage.googleapis.com/tensorflow/keras-applications/nasnet/"
    expected = {
        ("nasnet_mobile", True): ("nasnet_mobile.h5", "NASNet-mobile.h5", "020fb642bf7360b370c678b08e0adf61"),
        ("nasnet_mobile", False): ("nasnet_mobile_no_top.h5", "NASNet-mobile-no-top.h5", "1ed92395b5b598bdda52abe5c0dbfd63"),
        ("nasnet_large", True): ("nasnet_large.h5", "NASNet-large.h5", "11577c9a518f0070763c2b964a382f17"),
        ("nasnet_large", False): ("nasnet_large_no_top.h5", "NASNet-large-no-top.h5", "d81d89dc07e6e56530c4e77faddd61b5"),
    }
    for (name, top), (filename, remote, md5) in expected.items():
        file, problem = nasnet._imagenet(kl.model_info(name).defaults, None, top)
        assert problem is None and (file.filename, file.url, file.file_hash) == (filename, url + remote, md5)
        assert kl.model_info(name).keras_imagenet()


def test_signatures_and_defaults_are_keras_applications():
    import inspect

    for ours, theirs in ((kl.NASNetMobile, ka.NASNetMobile), (kl.NASNetLarge, ka.NASNetLarge), (kl.NASNet, KERAS_NASNET)):
        mine, keras_own = inspect.signature(ours).parameters, inspect.signature(theirs).parameters
        assert list(mine)[:len(keras_own)] == list(keras_own)
        assert list(mine)[len(keras_own)] == "include_preprocessing"
        for name, parameter in keras_own.items():  # weights=None: we never download unasked
            assert mine[name].default == (None if name == "weights" else parameter.default), name


BAD = [
    (lambda: kl.NASNetMobile(weights="imagenet", input_shape=(96, 96, 3)), r"needs input_shape=\(224, 224, 3\)"),
    (lambda: kl.NASNetLarge(weights="imagenet", input_shape=(224, 224, 3)), r"needs input_shape=\(331, 331, 3\)"),
    (lambda: kl.NASNetMobile(weights="imagenet", classes=10), "classes=1000"),
    (lambda: kl.NASNet(penultimate_filters=1000), "multiple of 24 \\* filter_multiplier"),
    (lambda: kl.NASNet(num_blocks=0), "num_blocks"),
    (lambda: kl.NASNet(stem_block_filters=2.5), "stem_block_filters"),
    (lambda: kl.NASNet(filter_multiplier=1.5), "filter_multiplier"),
    (lambda: kl.NASNet(skip_reduction=1), "skip_reduction"),
    (lambda: kl.NASNet(default_size=16), "default_size"),
    (lambda: kl.NASNet(**SMALL, weights="imagenet", include_top=False), "Mobile and .* Large only"),
    (lambda: kl.NASNetMobile(num_blocks=3), "NASNetMobile fixes"),
    (lambda: kl.NASNetMobile(input_shape=(31, 31, 3)), "at least 32x32"),
    (lambda: kl.NASNetMobile(input_shape=(None, None, 3), include_top=False), "static input size"),
]


@pytest.mark.parametrize("call, match", BAD, ids=[
    "imagenet_top_mobile_size", "imagenet_top_large_size", "imagenet_classes", "penultimate_filters", "num_blocks",
    "stem_block_filters", "filter_multiplier", "skip_reduction", "default_size", "imagenet_other_config",
    "variant_knob", "too_small", "open_dims"])
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ------------------------------------------------------------- make test-all


@pytest.mark.slow
def test_large_counts_and_layers_equal_keras_applications_built_live():
    """NASNet-A (6 @ 4032) at the smallest input (parameters do not depend on it)."""
    model, reference = kl.NASNetLarge(input_shape=(32, 32, 3)), ka.NASNetLarge(weights=None, input_shape=(32, 32, 3))
    assert model.count_params() == reference.count_params() == LARGE_PARAMS
    assert _weighted(model) == _weighted(reference) and len(model.layers) == len(reference.layers)
    assert kl.NASNetLarge(include_top=False).input_shape == (None, 331, 331, 3)  # its fixed default size


@pytest.mark.slow
def test_mobile_reads_keras_3_files_at_the_smallest_size(photos, tmp_path):
    size = 32
    reference = ka.NASNetMobile(weights=None, input_shape=(size, size, 3), classifier_activation=None)
    randomize_batch_norm(reference, seed=2)
    path = tmp_path / "mobile.weights.h5"
    reference.save_weights(path)
    model = kl.NASNetMobile(input_shape=(size, size, 3), weights=str(path), classifier_activation=None)
    pixels = photos(size).astype("float32") / 127.5 - 1
    _agree(_logits(model, pixels), _logits(reference, pixels))


@pytest.fixture(scope="module")
def mobile_32(photos):
    from keras_lightnets.training import recalibrate_batch_norm

    keras.utils.set_random_seed(0)
    model = kl.NASNetMobile(input_shape=(32, 32, 3), classes=5, include_preprocessing=True)
    return recalibrate_batch_norm(model, photos(32).astype("float32"))


@pytest.mark.slow
def test_mobile_tflite_float32_agrees_and_int8_is_fully_integer(mobile_32, photos, tmp_path):
    from keras_lightnets import tflite as kt

    images = photos(32)
    report = kt.convert(mobile_32, tmp_path / "f32.tflite", verify=True, verify_data=images)
    assert report.fidelity["max_abs_diff"] < 1e-4, report.fidelity
    report = kt.convert(mobile_32, tmp_path / "int8.tflite", quantization="int8", representative_data=images,
                        input_type="uint8", verify=True, verify_data=images)
    assert report.fully_integer and report.float_ops == [], report


@pytest.mark.slow
def test_mobile_quantization_aware_file_is_fully_integer(mobile_32, photos, tmp_path):
    from keras_lightnets import tflite as kt

    images = photos(32)
    qat = kt.quantize_aware(mobile_32, representative_data=images)
    report = kt.convert(qat, tmp_path / "qat.tflite", quantization="int8", input_type="uint8", verify=True,
                        verify_data=images)
    assert report.fully_integer and report.float_ops == [] and report.inner_quantize_ops == 0, report


@pytest.mark.slow
def test_mobile_converts_in_the_other_post_training_modes(mobile_32, photos, tmp_path):
    """float16 and dynamic range shrink the file and stay near the Keras model (random
    weights through ~800 layers: float16 max |probability difference| 0.039, mean 0.010;
    dynamic range, whose activation ranges are taken per inference, max 0.25, mean 0.06,
    measured); int16x8 is fully integer."""
    from keras_lightnets import tflite as kt

    images = photos(32)
    float_size = kt.convert(mobile_32, tmp_path / "f32.tflite").size_bytes
    for mode, shrink in (("float16", 0.6), ("dynamic", 0.35)):
        report = kt.convert(mobile_32, tmp_path / f"{mode}.tflite", quantization=mode, verify=True, verify_data=images)
        assert report.size_bytes < shrink * float_size and report.fidelity["samples"] == len(images), (mode, report)
        assert report.fidelity["max_abs_diff"] < (0.1 if mode == "float16" else 0.5), (mode, report.fidelity)
    report = kt.convert(mobile_32, tmp_path / "int16x8.tflite", quantization="int16x8", representative_data=images,
                        input_type="int16", output_type="int16")
    assert report.fully_integer and report.input_dtype == "int16", report
