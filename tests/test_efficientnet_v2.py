"""EfficientNetV2 B0-B3, S, M, L: parameter counts and layer names against
keras.applications built live, its weight files (legacy Keras 2 .h5 and Keras 3
.weights.h5) loaded into ours with its logits on real photos, its published ImageNet file
fetched as it fetches it, V2's channel rounding and input normalizations, TFLite and QAT,
and bad arguments."""

import inspect

import keras
import keras.src.applications.efficientnet_v2 as keras_v2
import numpy as np
import pytest
from eager import infer
from randomize import randomize_batch_norm  # tests/randomize.py

import keras_lightnets as kl
from keras_lightnets.models import efficientnet_v2
from keras_lightnets.models.efficientnet_v2 import EFFICIENTNETV2_S
from keras_lightnets.models.scaling import ScalableNet
from keras_lightnets.models.scaling import Stage
from keras_lightnets.weights.keras_files import load_weights_by_name
from keras_lightnets.weights.keras_files import read_weight_arrays

from legacy_h5 import serve_as_download  # tests/legacy_h5.py
from legacy_h5 import write_legacy_weights  # tests/legacy_h5.py

ka = keras.applications
SIZE = 64


def _weighted(model):
    return [(layer.name, [tuple(w.shape) for w in layer.weights]) for layer in model.layers if layer.weights]


# Every block kind of the family, few layers (conversion time grows with them): Fused-MBConv
# without expansion (its activated k x k projection) and with, MBConv with SE, each with a
# residual (drop-connect from the second block on).
TINY = ScalableNet((Stage(3, 1, 16, 1, 1, fused=True), Stage(3, 4, 24, 2, 2, fused=True),
                    Stage(3, 4, 32, 2, 2, 0.25)), stem=16, head=64, resolution=32)


# ----------------------------------------------------------- keras.applications, live

VARIANTS = ["B0", "B1", "B2", "B3", "S", "M", "L"]


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANTS[1:])  # B0: test_counts_and_layers_equal_keras_applications
def test_counts_and_layers_equal_keras_applications_built_live(variant):
    """Counts do not depend on the input size: both at 32 px, the smallest either takes.
    keras.applications: B1 8,212,124, B2 10,178,374, B3 14,467,622, S 21,612,360,
    M 54,431,388, L 119,027,848 (weights=None)."""
    theirs = getattr(ka, f"EfficientNetV2{variant}")(weights=None, input_shape=(32, 32, 3))
    expected = (theirs.count_params(), _weighted(theirs), theirs.name)
    del theirs
    keras.backend.clear_session()
    ours = getattr(kl, f"EfficientNetV2{variant}")(input_shape=(32, 32, 3))
    assert (ours.count_params(), _weighted(ours), ours.name) == expected


@pytest.fixture(scope="module")
def reference():
    """keras.applications.EfficientNetV2B0 (random, perturbed) and ours, at 64 px."""
    keras.layers.Normalization(mean=0.0, variance=1.0)  # keras auto-names the reference's layers "..._<n>"
    theirs = ka.EfficientNetV2B0(weights=None, input_shape=(SIZE, SIZE, 3), classifier_activation=None)
    randomize_batch_norm(theirs, dense=True)
    ours = kl.EfficientNetV2B0(input_shape=(SIZE, SIZE, 3), classifier_activation=None)
    return theirs, ours


def test_counts_and_layers_equal_keras_applications(reference):
    """Weighted layers in keras.applications' order, names and shapes (what both by-name
    and Keras 3's by-class-and-rank loading need), the model's name, and the counts."""
    theirs, ours = reference
    assert ours.count_params() == theirs.count_params() == 7_200_312
    assert _weighted(ours) == _weighted(theirs)
    assert ours.name == theirs.name == "efficientnetv2-b0"
    names = {layer.name for layer in ours.layers}
    # Fused-MBConv: expansion 1 (block1a: the k x k projection, activated), expansion 4
    # (block2a: k x k expansion, 1x1 linear projection); MBConv with SE from stage 4.
    assert {"block1a_project_conv", "block1a_project_activation", "block2a_expand_conv", "block2b_add",
            "block4a_dwconv2", "block4a_se_reduce", "block6h_project_conv", "top_conv"} <= names
    assert ours.get_layer("block2a_expand_conv").kernel_size == (3, 3)
    assert ours.get_layer("block2a_project_conv").kernel_size == (1, 1)
    assert ours.get_layer("block1a_project_conv").kernel_size == (3, 3)
    assert not [n for n in names if n.startswith(("block1", "block2", "block3")) and "dwconv" in n]


def test_keras_applications_weights_load_and_agree(reference, photos, tmp_path):
    """keras.applications' weights written as the published files are (the legacy Keras 2
    layout, its layers auto-named where it leaves them unnamed) load through weights=, and
    as Keras 3's .weights.h5 (keyed by class and rank) by the same loader; both give its
    logits on real photos, with the input normalization in both graphs ([0, 255] pixels
    in)."""
    theirs, _ = reference
    legacy, keras3 = tmp_path / "reference.h5", tmp_path / "reference.weights.h5"
    write_legacy_weights(theirs, legacy)
    theirs.save_weights(keras3)
    x = photos(SIZE).astype("float32")
    expected = infer(theirs, x)
    scale = np.abs(expected).max()
    assert scale > 1e-1 and len(set(expected.argmax(1))) > 1  # not between near-zeros; photos told apart
    ours = kl.EfficientNetV2B0(weights=str(legacy), input_shape=(SIZE, SIZE, 3), classifier_activation=None)
    assert np.abs(infer(ours, x) - expected).max() <= 1e-5 * scale
    randomize_batch_norm(ours, seed=1, dense=True)  # what it held must be replaced
    load_weights_by_name(ours, keras3)
    assert np.abs(infer(ours, x) - expected).max() <= 1e-5 * scale


def test_include_preprocessing_is_keras_applications_normalization(reference, photos):
    """B variants: (x / 255 - mean) / std with ImageNet's statistics, weightless, as
    keras.applications; without it the model takes normalized inputs."""
    _, ours = reference
    x = photos(SIZE).astype("float32")
    normalized = infer(keras.Model(ours.inputs, ours.get_layer("normalization").output), x)
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(normalized, (x / 255.0 - mean) / std, atol=1e-5)
    assert not ours.get_layer("normalization").weights and not ours.get_layer("rescaling").weights
    with_it = kl.EfficientNetV2(blocks_args=TINY, normalization="imagenet", input_shape=(SIZE, SIZE, 3))
    bare = kl.EfficientNetV2(blocks_args=TINY, input_shape=(SIZE, SIZE, 3), include_preprocessing=False)
    bare.set_weights(with_it.get_weights())
    np.testing.assert_allclose(infer(bare, normalized), infer(with_it, x), atol=1e-6)


def test_the_s_table_scaled_down_equals_keras_applications(photos, tmp_path):
    """S's table (Table 4) at width 0.25 / depth 0.3 through keras.applications' own
    EfficientNetV2 builder and ours: same layers, and its weights give its logits, with
    S's (x - 128) / 128 normalization (which keras.applications picks by the name)."""
    kwargs = {"width_coefficient": 0.25, "depth_coefficient": 0.3, "default_size": 32}
    theirs = keras_v2.EfficientNetV2(**kwargs, name="efficientnetv2-s", weights=None, input_shape=(32, 32, 3),
                                     classifier_activation=None, classes=10)
    randomize_batch_norm(theirs, dense=True)
    ours = kl.EfficientNetV2(**kwargs, blocks_args="efficientnetv2-s", input_shape=(32, 32, 3),
                             classifier_activation=None, classes=10)
    assert _weighted(ours) == _weighted(theirs)
    write_legacy_weights(theirs, tmp_path / "s.h5")
    loaded = kl.EfficientNetV2(**kwargs, blocks_args=EFFICIENTNETV2_S, weights=str(tmp_path / "s.h5"),
                               input_shape=(32, 32, 3), classifier_activation=None, classes=10)
    x = photos(32).astype("float32")
    expected = infer(theirs, x)
    np.testing.assert_allclose(infer(loaded, x), expected, atol=1e-5 * np.abs(expected).max(), rtol=0)
    rescaled = infer(keras.Model(ours.inputs, ours.get_layer("rescaling").output), x)
    np.testing.assert_allclose(rescaled, (x - 128.0) / 128.0, atol=1e-6)


def test_backbone_mode_gives_multiscale_features():
    """S's table at width 0.25: the last map of each stride (the top conv's at 32)."""
    model = kl.EfficientNetV2(0.25, 0.3, blocks_args="efficientnetv2-s", input_shape=(64, 64, 3), features_only=True,
                              out_strides=(2, 4, 8, 16, 32))
    assert [tuple(t.shape[1:]) for t in model.outputs] == [
        (32, 32, 8), (16, 16, 16), (8, 8, 16), (4, 4, 40), (2, 2, 320)]


def test_channel_rounding_is_v2s():
    """V2 rounds to the nearest multiple of 8 without V1's 10% guard (B3: 16 * 1.2 = 19.2
    -> 16, where V1 gives 24); the same as keras.applications' round_filters everywhere."""
    for width in (0.1, 0.25, 0.5, 0.9, 1.0, 1.1, 1.2, 1.4, 2.0, 3.7):
        for filters in (16, 24, 32, 48, 64, 96, 112, 160, 192, 256, 640, 1280):
            assert efficientnet_v2.round_filters(filters, width) == keras_v2.round_filters(filters, width, 8, 8)
    b3 = efficientnet_v2.scaled(1.2, 1.4, None, 8, 8, "efficientnetv2-b3")
    assert (b3.stem, [(s.out, s.repeats) for s in b3.stages], b3.head, b3.resolution) == (
        40, [(16, 2), (40, 3), (56, 3), (112, 5), (136, 7), (232, 12)], 1536, 224)


def test_imagenet_weights_fetch_the_published_file(reference, monkeypatch, tmp_path):
    """weights="imagenet" asks keras.utils.get_file for keras.applications' file (name,
    URL, hash: its WEIGHTS_HASHES and BASE_WEIGHTS_PATH); only the download is replaced,
    by a legacy file this test writes (the classifier in it is left out, as by keras)."""
    saved = tmp_path / "efficientnetv2-b0_notop.h5"
    write_legacy_weights(reference[0], saved)
    requested = serve_as_download(monkeypatch, saved)
    model = kl.EfficientNetV2B0(weights="imagenet", include_top=False, input_shape=(SIZE, SIZE, 3))
    assert requested == [(
        "efficientnetv2-b0_notop.h5",
        "https://storage.googleapis.com/tensorflow/keras-applications/efficientnet_v2/efficientnetv2-b0_notop.h5",
        "models", "893217f2bb855e2983157299931e43ff")]
    arrays, _ = read_weight_arrays(saved)
    for layer in model.layers:
        for got, want in zip(layer.get_weights(), arrays.get(layer.name, [])):
            np.testing.assert_array_equal(got, want)
    for variant, (with_top, no_top) in keras_v2.WEIGHTS_HASHES.items():  # every file, keras' table
        ours = variant.lstrip("-")
        assert efficientnet_v2.imagenet_weights(ours, True).file_hash == with_top
        assert efficientnet_v2.imagenet_weights(ours, False).url == keras_v2.BASE_WEIGHTS_PATH + f"efficientnetv2-{ours}_notop.h5"
        assert efficientnet_v2.imagenet_weights(ours, False).file_hash == no_top


def test_signatures_are_keras_applications():
    """keras.applications' arguments first, in its order, with its defaults (`weights`:
    None here, documented), then ours."""
    for variant in VARIANTS:
        theirs = list(inspect.signature(getattr(ka, f"EfficientNetV2{variant}")).parameters.values())
        ours = list(inspect.signature(getattr(kl, f"EfficientNetV2{variant}")).parameters.values())[: len(theirs)]
        assert [p.name for p in ours] == [p.name for p in theirs]
        assert {p.name: p.default for p in ours if p.name != "weights"} == {
            p.name: p.default for p in theirs if p.name != "weights"}
        assert kl.model_info(f"efficientnet_v2_{variant.lower()}").default_size == efficientnet_v2.RELEASED[variant.lower()][2]


# ------------------------------------------------------------------------ TFLite, QAT


def _small(classes=4):
    return kl.EfficientNetV2(blocks_args=TINY, input_shape=(32, 32, 3), classes=classes)


def test_tflite_float32_and_int8_fully_integer(photos, tmp_path):
    keras.utils.set_random_seed(0)
    model = _small()
    randomize_batch_norm(model, dense=True)
    images = photos(32).astype("float32")
    f32 = kl.tflite.convert(model, tmp_path / "f32.tflite", verify=True, verify_data=images)
    assert f32.fidelity["max_abs_diff"] <= 1e-4 and f32.fidelity["top1_agreement"] == 1.0
    int8 = kl.tflite.convert(model, tmp_path / "int8.tflite", quantization="int8", input_type="uint8",
                             representative_data=images, verify=True, verify_data=images)
    assert int8.fully_integer and int8.input_dtype == "uint8", int8


@pytest.mark.slow  # QAT's patterns: test_graph_rules (efficientnet_v2_b0) and test_qat, in the default suite
def test_qat_file_is_fully_integer(photos, tmp_path):
    from keras_lightnets.tflite.qat import quantize_aware

    keras.utils.set_random_seed(0)
    model = _small()
    images = photos(32).astype("float32")
    qat = kl.tflite.convert(quantize_aware(model, images), tmp_path / "qat.tflite", quantization="int8",
                            input_type="uint8", verify=True, verify_data=images)
    assert qat.fully_integer and qat.float_ops == [], qat


@pytest.mark.slow
def test_b0_converts_float32_int8_and_qat_at_64px(photos, tmp_path):
    from keras_lightnets.tflite.qat import quantize_aware

    keras.utils.set_random_seed(0)
    model = kl.EfficientNetV2B0(input_shape=(SIZE, SIZE, 3), classes=10)
    images = photos(SIZE).astype("float32")
    f32 = kl.tflite.convert(model, tmp_path / "f32.tflite", verify=True, verify_data=images)
    assert f32.fidelity["max_abs_diff"] <= 1e-4
    int8 = kl.tflite.convert(model, tmp_path / "int8.tflite", quantization="int8", input_type="uint8",
                             representative_data=images, verify=True, verify_data=images)
    qat = kl.tflite.convert(quantize_aware(model, images), tmp_path / "qat.tflite", quantization="int8",
                            input_type="uint8", verify=True, verify_data=images)
    assert int8.fully_integer and qat.fully_integer


# ---------------------------------------------------------------------- bad arguments


@pytest.mark.parametrize(
    "builder, kwargs, message",
    [
        (kl.EfficientNetV2B0, {"input_shape": (16, 16, 3)}, r"at least 32x32"),
        (kl.EfficientNetV2S, {"weights": "imagenet", "classes": 10}, r"classes=1000.*include_top=False"),
        (kl.EfficientNetV2B0, {"weights": "imagenet", "normalization": "v2"}, r"publishes B0-B3, S, M and L with their own"),
        (kl.EfficientNetV2, {"width_coefficient": 1.3, "weights": "imagenet"}, r"publishes B0-B3, S, M and L"),
        (kl.EfficientNetV2, {"width_coefficient": 0}, r"`width_coefficient` must be a positive number"),
        (kl.EfficientNetV2, {"depth_coefficient": "deep"}, r"`depth_coefficient` must be a positive number"),
        (kl.EfficientNetV2, {"default_size": 16}, r"`default_size`.*at least 32"),
        (kl.EfficientNetV2, {"blocks_args": "default"}, r"`blocks_args` must be one of .*efficientnetv2-s"),
        (kl.EfficientNetV2, {"depth_divisor": 0}, r"`depth_divisor` must be a positive integer"),
        (kl.EfficientNetV2, {"min_depth": 2.5}, r"`min_depth` must be a positive integer"),
        (kl.EfficientNetV2, {"bn_momentum": 1.0}, r"bn_momentum.*\[0, 1\)"),
        (kl.EfficientNetV2, {"normalization": "torch"}, r"`normalization` must be one of"),
        (kl.EfficientNetV2B0, {"drop_connect_rate": 1.0}, r"drop_connect_rate.*\[0, 1\)"),
        (kl.EfficientNetV2B0, {"include_top": False, "pooling": "mean"}, r"pooling.*'avg' or 'max'"),
        (kl.EfficientNetV2B0, {"weights": "no/such/file.h5"}, r"weights.*no/such/file.h5"),
        (kl.EfficientNetV2B0, {"width_coefficient": 2.0}, r"fixes \['width_coefficient'\]"),
    ],
)
def test_builders_reject_bad_arguments(builder, kwargs, message):
    with pytest.raises(ValueError, match=message):
        builder(**kwargs)


def test_a_table_with_an_empty_stage_is_refused():
    import dataclasses

    table = dataclasses.replace(EFFICIENTNETV2_S, stages=(dataclasses.replace(EFFICIENTNETV2_S.stages[0], repeats=0),))
    with pytest.raises(ValueError, match=r"repeats >= 1"):
        kl.EfficientNetV2(blocks_args=table)
