"""ConvNeXt: exact counts against keras.applications (every size, built live),
keras.applications' weight files (legacy .h5 and Keras 3 .weights.h5) loaded into ours
giving the same logits on real photos, its published files asked for by
weights="imagenet", its signatures, TFLite float32 / int8, QAT's clear refusal, and the
errors of bad arguments."""

import inspect

import keras
import numpy as np
import pytest

import keras_lightnets as kl
from keras_lightnets import tflite as kt
from keras_lightnets.models import convnext

from legacy_h5 import serve_as_download  # tests/legacy_h5.py
from legacy_h5 import write_legacy_weights  # tests/legacy_h5.py: keras.applications' published layout, via h5py
from eager import infer  # tests/eager.py: model(x) as numpy, no predict trace

ka = keras.applications
SIZE = convnext.MIN_SIZE  # 32: the smallest input keras.applications' ConvNeXt takes
SMALL_TABLE = {"depths": (1, 1, 2, 1), "projection_dims": (8, 16, 24, 32)}


# Tiny's counts and names are also checked by the weights test below, in the default suite.
@pytest.mark.slow
@pytest.mark.parametrize("ours, theirs", [
    (kl.ConvNeXtTiny, ka.ConvNeXtTiny),
    pytest.param(kl.ConvNeXtSmall, ka.ConvNeXtSmall, marks=pytest.mark.slow),
    pytest.param(kl.ConvNeXtBase, ka.ConvNeXtBase, marks=pytest.mark.slow),
    pytest.param(kl.ConvNeXtLarge, ka.ConvNeXtLarge, marks=pytest.mark.slow),
    pytest.param(kl.ConvNeXtXLarge, ka.ConvNeXtXLarge, marks=pytest.mark.slow),
], ids=["tiny", "small", "base", "large", "xlarge"])
def test_counts_equal_keras_applications_built_live(ours, theirs):
    shape = (SIZE, SIZE, 3)
    reference = theirs(weights=None, input_shape=shape)
    model = ours(input_shape=shape)
    assert model.count_params() == reference.count_params()
    assert kl.profile(model).macs == kl.profile(reference).macs
    assert model.name == reference.name
    # Every weighted layer of keras' (its nested stem / downsampling Sequentials flattened) is ours, by name.
    theirs_weighted = [inner.name for layer in reference.layers
                       for inner in (layer.layers if isinstance(layer, keras.Sequential) else [layer]) if inner.weights]
    assert [layer.name for layer in model.layers if layer.weights] == theirs_weighted


def _randomize(model, seed=0):
    """Non-trivial LayerNorms, layer scales and biases (keras initializes them to 1, 1e-6, 0:
    a block would then add almost nothing, and a mis-assigned block weight would not show)."""
    rng = np.random.RandomState(seed)
    layers = [inner for layer in model.layers for inner in (layer.layers if isinstance(layer, keras.Sequential) else [layer])]
    for layer in layers:
        values = layer.get_weights()
        if values:
            layer.set_weights([v if v.ndim > 1 else rng.uniform(0.5, 1.5, v.shape).astype(v.dtype) * (1 if i == 0 else 0.2)
                               for i, v in enumerate(values)])


def test_keras_applications_weights_load_and_agree(photos, tmp_path):
    """keras.applications.ConvNeXtTiny's weights, saved in the legacy layout of its
    published files and as Keras 3 .weights.h5, give ours the same logits on real photos
    (both with include_preprocessing, the default: raw [0, 255] pixels)."""
    reference = ka.ConvNeXtTiny(weights=None, input_shape=(SIZE, SIZE, 3), classifier_activation=None)
    _randomize(reference)
    legacy, keras3 = tmp_path / "convnext_tiny.h5", tmp_path / "convnext_tiny.weights.h5"
    write_legacy_weights(reference, legacy)
    reference.save_weights(keras3)
    pixels = photos(SIZE).astype("float32")
    expected = infer(reference, pixels)
    assert np.abs(expected).max() > 1e-2
    scale = max(1.0, float(np.abs(expected).max()))
    model = kl.ConvNeXtTiny(weights=str(keras3), input_shape=(SIZE, SIZE, 3), classifier_activation=None)
    np.testing.assert_allclose(infer(model, pixels), expected, atol=1e-5 * scale, rtol=0)
    assert model.count_params() == reference.count_params() == 28_589_128
    assert model.name == reference.name == "convnext_tiny"
    # A legacy file's layers are found under its model's name whatever ours is called.
    renamed = kl.ConvNeXtTiny(weights=str(legacy), input_shape=(SIZE, SIZE, 3), classifier_activation=None, name="mine")
    assert renamed.layers[2].name == "mine_stem_conv"
    np.testing.assert_allclose(infer(renamed, pixels), expected, atol=1e-5 * scale, rtol=0)


@pytest.mark.slow
def test_imagenet_weights_fetch_the_published_file_and_agree_without_top(monkeypatch, photos, tmp_path):
    """weights="imagenet" asks keras.utils.get_file for keras.applications' file (name,
    URL, SHA-256); only the download is replaced, by a file this test writes from
    keras.applications' model without top, whose unnamed final LayerNorm ours takes."""
    reference = ka.ConvNeXtTiny(weights=None, include_top=False, input_shape=(SIZE, SIZE, 3))
    _randomize(reference, seed=1)
    saved = tmp_path / "convnext_tiny_notop.h5"
    write_legacy_weights(reference, saved)
    requested = serve_as_download(monkeypatch, saved)
    model = kl.ConvNeXtTiny(weights="imagenet", include_top=False, input_shape=(SIZE, SIZE, 3))
    assert requested == [(
        "convnext_tiny_notop.h5", "https://storage.googleapis.com/tensorflow/keras-applications/convnext/convnext_tiny_notop.h5",
        "models", "d547c096cabd03329d7be5562c5e14798aa39ed24b474157cef5e85ab9e49ef1")]
    pixels = photos(SIZE).astype("float32")
    np.testing.assert_allclose(infer(model, pixels), infer(reference, pixels), atol=1e-4, rtol=0)
    assert convnext.imagenet_weights("convnext_xlarge").file_hash.startswith("c1f5ccab")


def test_signatures_are_keras_applications():
    for ours, theirs in ((kl.ConvNeXtTiny, ka.ConvNeXtTiny), (kl.ConvNeXtXLarge, ka.ConvNeXtXLarge)):
        expected = [(p.name, p.default) for p in inspect.signature(theirs).parameters.values()]
        got = [(p.name, p.default) for p in inspect.signature(ours).parameters.values()][: len(expected)]
        # weights=None: we never download unasked (documented); everything else as keras.
        assert got == [(n, None if n == "weights" else d) for n, d in expected]


def test_small_table_pools_norms_and_taps_like_keras():
    model = kl.ConvNeXt(**SMALL_TABLE, include_top=False, pooling="max", input_shape=(64, 64, 3), drop_path_rate=0.1)
    assert model.output_shape == (None, 32) and model.name == "convnext"
    assert sum(isinstance(layer, keras.layers.Dropout) for layer in model.layers) == 4  # drop path, all but the first block
    backbone = kl.ConvNeXt(**SMALL_TABLE, features_only=True, input_shape=(64, 64, 3))
    assert [tuple(t.shape[1:]) for t in backbone.outputs] == [(16, 16, 8), (8, 8, 16), (4, 4, 24), (2, 2, 32)]


def test_tflite_float32_agrees_and_int8_is_fully_integer(photos, tmp_path):
    model = kl.ConvNeXt(**SMALL_TABLE, input_shape=(SIZE, SIZE, 3), classes=10)
    _randomize(model)
    pixels = photos(SIZE).astype("float32")
    report = kt.convert(model, tmp_path / "f32.tflite", verify=True, verify_data=pixels)
    assert report.fidelity["max_abs_diff"] <= 1e-4
    report = kt.convert(model, tmp_path / "int8.tflite", quantization="int8", representative_data=pixels,
                        input_type="uint8")
    assert report.fully_integer, report


def test_quantization_aware_training_is_refused_naming_layer_norm():
    model = kl.ConvNeXt(**SMALL_TABLE, input_shape=(SIZE, SIZE, 3), classes=10)
    with pytest.raises(ValueError, match="LayerNormalization"):
        kt.quantize_aware(model)


@pytest.mark.slow
def test_quantization_aware_training_forced_leaves_the_layer_norm_ops_in_float(tmp_path):
    """What the module docstring states: with a fake-quantized output per LayerNormalization
    the QAT model trains, but the ops inside each LayerNorm have no trained range, and the
    int8 conversion says which stay float (GELU is not among them)."""
    from keras_lightnets.tflite.qat.quantize_configs import LayerQuantizeConfig

    model = kl.ConvNeXt(**SMALL_TABLE, input_shape=(SIZE, SIZE, 3), classes=10)
    images = np.random.default_rng(0).uniform(0, 255, (16, SIZE, SIZE, 3)).astype("float32")
    norms = {layer.name: LayerQuantizeConfig(quantize_output=True) for layer in model.layers
             if isinstance(layer, keras.layers.LayerNormalization)}
    qat = kt.quantize_aware(model, representative_data=images, quantize_configs=norms)
    with pytest.raises(ValueError, match=r"did not convert fully integer: float ops \['ADD', 'MEAN', 'MUL', 'RSQRT', "
                                         r"'SQUARED_DIFFERENCE', 'SUB'\]"):
        kt.convert(qat, tmp_path / "qat.tflite", quantization="int8", input_type="uint8")


@pytest.mark.parametrize("kwargs, message", [
    ({"input_shape": (31, 31, 3)}, r"at least 32x32"),
    ({"weights": "imagenet", "classes": 10}, r"classes"),
    ({"weights": "imagenet", "layer_scale_init_value": None}, r"layer scale"),
    ({"depths": (3, 3, 9)}, r"`depths` must be four positive integers"),
    ({"layer_scale_init_value": -1.0}, r"`layer_scale_init_value` must be None"),
    ({"drop_path_rate": 1.0}, r"`drop_path_rate` must be in \[0, 1\)"),
], ids=["too-small", "imagenet-classes", "imagenet-no-layer-scale", "depths", "layer-scale", "drop-path"])
def test_bad_arguments_are_clear_errors(kwargs, message):
    builder = kl.ConvNeXtTiny if "depths" not in kwargs else kl.ConvNeXt
    with pytest.raises(ValueError, match=message):
        builder(**kwargs)


def test_a_file_of_another_size_is_refused_by_name(tmp_path):
    small = kl.ConvNeXt(**SMALL_TABLE, input_shape=(SIZE, SIZE, 3), classes=10, name="convnext_tiny")
    small.save_weights(tmp_path / "small.weights.h5")
    with pytest.raises(ValueError, match=r"do not fit model 'convnext'.*same depths, projection_dims"):
        kl.ConvNeXt(**{**SMALL_TABLE, "projection_dims": (8, 16, 24, 40)}, input_shape=(SIZE, SIZE, 3), classes=10,
                    weights=str(tmp_path / "small.weights.h5"))
