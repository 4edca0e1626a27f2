"""The package's rules for the graph, checked on every registered model: layers only (no
Lambda, no raw tf op on a symbolic tensor, which would become a TFOpLambda layer that
breaks QAT and safe loading; and, for CNNs, only layer patterns the QAT tests convert),
safe .keras round trip with identical outputs, trains with model.fit, backbone mode."""

import keras
import numpy as np
import pytest

import keras_lightnets as kl
from keras_lightnets.data import load_digits

from qat_motifs import TRANSFORMERS, motifs, zoo_motif_model  # tests/qat_motifs.py
from registry_wide import DEEPER_TWINS  # tests/registry_wide.py
from figures import at_least  # tests/figures.py: bounds on trained figures, measured across seeds
from figures import at_most

# 96 px: above every family's minimum input (InceptionV3 75, Xception 71).
SMALL = {"input_shape": (96, 96, 3), "classes": 7}


def test_every_model_is_registered_under_its_family():
    names = kl.list_models("mobilenet*")
    for expected in ("mobilenet_v1", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small",
                     "mobilenet_v3_large_minimalistic", "mobilenet_v3_small_minimalistic"):
        assert expected in names


@pytest.fixture(scope="module")
def qat_patterns():
    return motifs(zoo_motif_model())


SIZES = (32, 64, 75)  # the smallest size each family builds at (Inception V3: 75)


def test_each_deeper_twin_has_its_smaller_twin_in_the_default_suite():
    """tests/registry_wide.py: a variant checked in make test-all only names one that CI checks."""
    for name, twin in DEEPER_TWINS.items():
        assert twin not in DEEPER_TWINS, (name, twin)
        assert kl.model_info(name).family == kl.model_info(twin).family, (name, twin)


def _build_smallest(name, channels):
    for size in SIZES:
        try:
            return kl.create_model(name, input_shape=(size, size, channels), classes=2), size
        except ValueError as error:
            if "at least" not in str(error):
                raise
    raise AssertionError(f"{name} builds at none of {SIZES} px")


@pytest.mark.parametrize("name", kl.list_models())  # deeper twins: slow (conftest.py)
def test_every_model_is_stock_layers_in_patterns_qat_covers_and_runs_on_one_channel(name, qat_patterns):
    """One build per model, the smallest it takes, on grayscale input (which keras.applications
    builds with weights=None): the graph rules, then a forward pass on a gray image."""
    model, size = _build_smallest(name, channels=1)
    if kl.model_info(name).family not in TRANSFORMERS:  # QAT works for every CNN
        missing = motifs(model) - qat_patterns
        assert not missing, (
            f"{name} has (layer role, consumer) patterns no QAT test converts: {sorted(missing)}. "
            "Add them to tests/qat_motifs.py's zoo_motif_model (and a rule or twin if QAT fails on them)."
        )
    for operation in model.operations:
        # A raw op (e.g. `x + 3.0` on a symbolic tensor) would appear here as a
        # non-Layer Operation, and as a TFOpLambda in tf_keras.
        assert isinstance(operation, keras.layers.Layer), f"{operation} is not a layer"
        # Stock Keras layers, or our own registered ones (the rule: what has no
        # Keras layer gets a small registered class written with keras.ops).
        module = type(operation).__module__
        assert module.startswith(("keras.src.layers", "keras_lightnets.layers")), type(operation)
        assert not isinstance(operation, keras.layers.Lambda)
    assert len({layer.name for layer in model.layers}) == len(model.layers)

    gray = np.full((1, size, size, 1), 128.0, "float32")
    outputs = model(gray, training=False)  # eager: no tracing, faster than predict
    family = kl.model_info(name).family
    if family == "detection":  # [box codes (1, boxes, 4), class logits (1, boxes, 2)]
        outputs = outputs[1]
    outputs = keras.ops.convert_to_numpy(outputs)
    dense = {"segmentation": (size, size), "detection": outputs.shape[1:2]}.get(family, ())  # per-pixel / per-box
    assert outputs.shape == (1, *dense, 2) and np.all(np.isfinite(outputs))
    keras.backend.clear_session()


@pytest.mark.parametrize("name", ["mobilenet_v1_050", "mobilenet_v2_035", "mobilenet_v3_large", "mobilenet_v3_small_minimalistic"])
def test_keras_file_round_trip_in_safe_mode(name, photos, tmp_path):
    model = kl.create_model(name, **SMALL)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)  # no custom_objects
    x = photos(96).astype("float32")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert [w.shape for w in loaded.weights] == [w.shape for w in model.weights]


# MobileNetV2 trains in tests/test_qat.py's `trained` fixture (accuracy asserted there), and
# MobileNetV3-Small in tests/test_demo.py's run (the main job): this one is for make test-all.
@pytest.mark.slow
@pytest.mark.parametrize("name", ["mobilenet_v3_small"])
def test_fit_reduces_loss_on_real_digits(name):
    keras.utils.set_random_seed(1)
    (x, y), _ = load_digits(image_size=32, num_classes=5)
    x, y = x[:704], y[:704]  # whole batches of 32: a last, smaller batch would trace the step again
    model = kl.create_model(name, input_shape=(32, 32, 3), classes=5)
    model.compile(keras.optimizers.Adam(2e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=32, epochs=4, verbose=0)
    losses = history.history["loss"]
    at_most(f"{name}: last / first epoch loss", losses[-1] / losses[0], 0.5)
    at_least(f"{name}: last epoch accuracy", history.history["accuracy"][-1], 0.7)


# (name, expected channels at strides 2, 4, 8, 16, 32)
BACKBONES = [
    ("mobilenet_v1", (64, 128, 256, 512, 1024)),
    ("mobilenet_v2", (16, 24, 32, 96, 1280)),
    ("mobilenet_v3_large", (16, 24, 40, 112, 960)),
    ("mobilenet_v3_small", (16, 16, 24, 48, 576)),
]


@pytest.mark.parametrize("name, channels", BACKBONES)
def test_backbone_mode_gives_multiscale_features(name, channels):
    size = 128
    model = kl.create_model(name, input_shape=(size, size, 3), features_only=True, out_strides=(2, 4, 8, 16, 32))
    shapes = [tuple(t.shape[1:]) for t in model.outputs]
    assert shapes == [(size // s, size // s, c) for s, c in zip((2, 4, 8, 16, 32), channels)]
    default = kl.create_model(name, input_shape=(size, size, 3), features_only=True)
    assert [t.shape[1] for t in default.outputs] == [size // 4, size // 8, size // 16, size // 32]


def test_backbone_mode_carries_loaded_weights(tmp_path):
    full = kl.MobileNetV3Small(input_shape=(96, 96, 3))
    full.save(tmp_path / "full.keras")
    backbone = kl.MobileNetV3Small(input_shape=(96, 96, 3), weights=str(tmp_path / "full.keras"), features_only=True)
    np.testing.assert_array_equal(backbone.get_layer("conv").get_weights()[0], full.get_layer("conv").get_weights()[0])


@pytest.mark.parametrize("size", [32, 33, 97, 160, 225])
def test_any_input_resolution_from_32(size):
    model = kl.MobileNetV3Small(input_shape=(size, size, 3), classes=3)
    out = model.predict(np.zeros((1, size, size, 3), "float32"), verbose=0)
    assert out.shape == (1, 3)
    np.testing.assert_allclose(out.sum(), 1.0, rtol=1e-5)


def test_open_spatial_dims_accept_several_sizes():
    model = kl.MobileNetV3Large(include_top=False, pooling="avg")
    assert model.input_shape == (None, None, None, 3)
    for size in (64, 96):
        assert model.predict(np.zeros((1, size, size, 3), "float32"), verbose=0).shape == (1, 960)


@pytest.mark.parametrize("alpha", [0.1, 0.6, 1.25, 2.0])
def test_any_positive_alpha_rounds_channels_to_multiples_of_8(alpha):
    model = kl.MobileNetV3Small(alpha=alpha, input_shape=(64, 64, 3), classes=2)
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D) and layer.name not in ("logits",):
            assert layer.filters % 8 == 0, (layer.name, layer.filters)


def test_input_tensor_is_used_as_the_input():
    tensor = keras.Input((96, 96, 3))
    model = kl.MobileNetV2(input_tensor=tensor, alpha=0.35, classes=4)
    assert model.inputs[0] is tensor


def test_builders_contain_no_tensorflow_code():
    """Backend-agnostic: the models and layers import keras (and keras.ops), never TensorFlow."""
    import ast
    import pathlib

    package = pathlib.Path(kl.__file__).parent
    for folder in ("models", "layers"):
        for source in (package / folder).glob("*.py"):
            for node in ast.walk(ast.parse(source.read_text())):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom):
                    modules = [node.module or ""]
                else:
                    continue
                assert not any(m.split(".")[0] in ("tensorflow", "tf_keras") for m in modules), (source, modules)
