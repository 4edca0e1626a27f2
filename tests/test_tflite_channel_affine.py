"""Per-channel elementwise chains (input normalization) fused into one 1x1 depthwise
convolution: same answers as the chain, in float32 and int8 (speed:
benchmarks/int8_speed.py)."""

import keras
import numpy as np
import pytest

import keras_lightnets as kl
from keras_lightnets import tflite as kt
from keras_lightnets.data import load_digits
from keras_lightnets.tflite.passes.channel_affine import fuse_channel_affine_chains

from figures import at_least  # tests/figures.py: bounds on trained figures, measured across seeds
from figures import at_most
from eager import infer  # tests/eager.py: model(x) as numpy, no predict trace

SIZE = 32
MEAN, VARIANCE = [0.485, 0.456, 0.406], [0.229**2, 0.224**2, 0.225**2]


TINT = np.array([1.0, 0.8, 0.6], "float32")  # channels that differ, [0, 255]


@pytest.fixture(scope="module")
def digits():
    (x, y), (x_test, _) = load_digits(image_size=SIZE, num_classes=5, seed=0)
    return x * TINT, y, x_test * TINT


@pytest.fixture(scope="module")
def images(digits):
    return digits[0][:64]


def normalized_model():
    """keras.applications' EfficientNet preprocessing, then a small classifier."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Normalization(mean=MEAN, variance=VARIANCE)(x)
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(5)(x))


def test_float32_normalization_becomes_one_depthwise_op(images, tmp_path):
    model = normalized_model()
    fused = kt.convert(model, tmp_path / "fused.tflite")
    chain = kt.convert(model, tmp_path / "chain.tflite", fuse_channel_affine=False)
    assert chain.op_counts["SUB"] == 1 and chain.op_counts["MUL"] == 2
    assert "SUB" not in fused.op_counts and "MUL" not in fused.op_counts
    assert fused.op_counts["DEPTHWISE_CONV_2D"] == 1
    expected = infer(model, images)
    got = kt.run(kt.load_interpreter(str(tmp_path / "fused.tflite")), images)
    np.testing.assert_allclose(got, expected, atol=1e-5 * np.abs(expected).max())


def test_int8_fused_file_matches_the_chain(digits, tmp_path):
    # Trained, so its top-1 is decided: a random network's close logits let any one
    # rounding flip it (agreement 0.953-1.0 across seeds 0-4, against a 0.95 bound).
    # Trained 8 epochs (held-out accuracy 0.67-0.82), seeds 0-4: agreement 0.989-1.0,
    # error difference -0.0023 to -0.0008 (benchmarks/results/seed_spread.md).
    x_train, y_train, images = digits
    model = normalized_model()
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x_train, y_train, epochs=8, batch_size=32, verbose=0)
    kwargs = dict(quantization="int8", representative_data=x_train[:64])
    fused = kt.convert(model, tmp_path / "fused.tflite", **kwargs)
    kt.convert(model, tmp_path / "chain.tflite", fuse_channel_affine=False, **kwargs)
    assert fused.fully_integer and "SUB" not in fused.op_counts and fused.op_counts["DEPTHWISE_CONV_2D"] == 1
    got = kt.run(kt.load_interpreter(str(tmp_path / "fused.tflite")), images)
    chain = kt.run(kt.load_interpreter(str(tmp_path / "chain.tflite")), images)
    expected = infer(model, images)
    spread = np.abs(expected).max()
    # one rounding instead of three: no farther from the Keras model than the chain is
    at_most("int8 fused normalization: mean abs error - 1.25 x the chain's, in units of the output spread",
            (np.abs(got - expected).mean() - 1.25 * np.abs(chain - expected).mean()) / spread, 1e-3)
    at_least("int8 fused normalization: top-1 agreement with the chain", np.mean(got.argmax(1) == chain.argmax(1)), 0.95)
    # weights at +-127 exactly, one scale per channel
    interpreter = kt.load_interpreter(str(tmp_path / "fused.tflite"))
    weights = next(t for t in interpreter.get_tensor_details() if t["name"].endswith("/channel_affine_weights"))
    assert set(np.abs(interpreter.get_tensor(weights["index"])).ravel()) == {127}
    assert len(weights["quantization_parameters"]["scales"]) == 3


def test_int8_normalization_within_one_step_of_the_chain(images, tmp_path):
    # the normalization alone as the model: its int8 output, fused and as a chain
    inputs = keras.Input((SIZE, SIZE, 3))
    normalized = keras.layers.Normalization(mean=MEAN, variance=VARIANCE)(keras.layers.Rescaling(1 / 255)(inputs))
    model = keras.Model(inputs, normalized)
    kwargs = dict(quantization="int8", representative_data=images)
    kt.convert(model, tmp_path / "fused.tflite", **kwargs)
    kt.convert(model, tmp_path / "chain.tflite", fuse_channel_affine=False, **kwargs)
    fused, chain = (kt.load_interpreter(str(tmp_path / f"{k}.tflite")) for k in ("fused", "chain"))
    assert "SUB" not in {op["op_name"] for op in fused._get_ops_details()}
    got, reference = kt.run(fused, images), kt.run(chain, images)
    dequantize = next(op for op in fused._get_ops_details() if op["op_name"] == "DEQUANTIZE")
    step = fused._get_tensor_details(dequantize["inputs"][0], 0)["quantization"][0]  # the int8 output's scale
    exact = infer(model, images)
    assert np.abs(got - reference).max() <= 1.01 * step
    assert np.abs(got - exact).mean() <= np.abs(reference - exact).mean() + 1e-6


def dense_block_model():
    """DenseNet's BN -> ReLU after a concatenation: no convolution to fold the BN into."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same")(keras.layers.Rescaling(1 / 255)(inputs))
    x = keras.layers.Concatenate()([x, keras.layers.Conv2D(4, 3, padding="same")(x)])
    bn = keras.layers.BatchNormalization()
    x = keras.layers.ReLU()(bn(x))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(8, 1)(x))
    model = keras.Model(inputs, keras.layers.Dense(5)(x))
    rng = np.random.default_rng(0)  # a trained BN's statistics: channel scales spanning 100x
    bn.set_weights([rng.uniform(0.5, 2, 12), rng.normal(0, 0.5, 12), rng.normal(0, 1, 12), rng.uniform(0.01, 1, 12) ** 2])
    return model


def test_batch_norm_after_concatenation_with_its_relu(images, tmp_path):
    model = dense_block_model()
    chain = kt.convert(model, tmp_path / "chain.tflite", fuse_channel_affine=False)
    fused = kt.convert(model, tmp_path / "fused.tflite")
    assert chain.op_counts["MUL"] == 1 and chain.op_counts["ADD"] == 1, chain.op_counts
    assert "MUL" not in fused.op_counts and "ADD" not in fused.op_counts and fused.op_counts["DEPTHWISE_CONV_2D"] == 1
    expected = infer(model, images)
    np.testing.assert_allclose(kt.run(kt.load_interpreter(str(tmp_path / "fused.tflite")), images), expected,
                               atol=1e-5 * np.abs(expected).max())

    kwargs = dict(quantization="int8", representative_data=images)
    kt.convert(model, tmp_path / "chain8.tflite", fuse_channel_affine=False, **kwargs)
    assert kt.convert(model, tmp_path / "fused8.tflite", **kwargs).fully_integer
    errors = {key: np.abs(kt.run(kt.load_interpreter(str(tmp_path / f"{key}.tflite")), images) - expected).mean()
              for key in ("chain8", "fused8")}
    # one op instead of two: the same int8 output grid, one rounding less on the way
    assert errors["fused8"] <= 1.2 * errors["chain8"], errors
    assert errors["fused8"] <= 0.02 * np.abs(expected).mean(), errors


def test_constant_first_sub_and_div(images, tmp_path):
    # 2 - x * w and x / k: the chain's sign flip and division are folded correctly
    keras.utils.set_random_seed(0)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Rescaling([0.01, 0.02, 0.03])(inputs)
    x = keras.layers.Lambda(lambda t: 2.0 - t)(x)
    x = keras.layers.Lambda(lambda t: t / keras.ops.convert_to_tensor([[[[2.0, 4.0, 8.0]]]]))(x)
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(x))
    model = keras.Model(inputs, x)
    report = kt.convert(model, tmp_path / "m.tflite")
    assert report.op_counts["DEPTHWISE_CONV_2D"] == 1, report.op_counts
    assert not {"SUB", "MUL", "DIV", "ADD"} & set(report.op_counts), report.op_counts
    expected = infer(model, images)
    np.testing.assert_allclose(kt.run(kt.load_interpreter(str(tmp_path / "m.tflite")), images), expected,
                               atol=1e-5 * np.abs(expected).max())


def test_a_shared_intermediate_tensor_stays(images, tmp_path):
    # the Rescaling's output also feeds a sigmoid: its MUL stays, SUB -> MUL fuse
    keras.utils.set_random_seed(0)
    inputs = keras.Input((SIZE, SIZE, 3))
    rescaled = keras.layers.Rescaling(1 / 255)(inputs)
    normalized = keras.layers.Normalization(mean=MEAN, variance=VARIANCE)(rescaled)
    x = keras.layers.Add()([keras.layers.Conv2D(4, 3)(normalized), keras.layers.Conv2D(4, 3)(keras.layers.Activation("sigmoid")(rescaled))])
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
    report = kt.convert(model, tmp_path / "m.tflite")
    assert report.op_counts["MUL"] == 1 and report.op_counts["DEPTHWISE_CONV_2D"] == 1, report.op_counts
    expected = infer(model, images)
    np.testing.assert_allclose(kt.run(kt.load_interpreter(str(tmp_path / "m.tflite")), images), expected,
                               atol=1e-5 * np.abs(expected).max())


def test_scalar_only_and_spatial_constants_are_left_alone(tmp_path):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)  # scalars: XNNPACK's fast path already
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(x)))
    content = kt.convert(model, tmp_path / "scalar.tflite").path
    _, count = fuse_channel_affine_chains(open(content, "rb").read())
    assert count == 0

    ramp = np.linspace(0, 1, SIZE, dtype="float32").reshape(1, SIZE, 1, 1)  # varies along the rows
    spatial = keras.layers.Lambda(lambda t: (t + ramp) * keras.ops.convert_to_tensor([[[[1.0, 2.0, 3.0]]]]))(inputs)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(spatial)))
    report = kt.convert(model, tmp_path / "spatial.tflite")
    assert "DEPTHWISE_CONV_2D" not in report.op_counts, report.op_counts


def test_efficientnet_input_normalization_is_fused(images, tmp_path):
    keras.utils.set_random_seed(0)
    model = kl.create_model("efficientnet_b0", input_shape=(SIZE, SIZE, 3), classes=5)
    report = kt.convert(model, tmp_path / "b0.tflite", verify=True, verify_data=images[:8])
    assert "SUB" not in report.op_counts and report.op_counts["DEPTHWISE_CONV_2D"] == 16 + 1
    assert report.fidelity["max_abs_diff"] <= 1e-4
