"""Quantization-aware training (kt.quantize_aware): the tf_keras twin computes what
the Keras 3 model computes, QAT models start where the float model is, train with
fit and convert to fully-integer .tflite files; for every CNN of the zoo; and what
cannot be quantized fails with a message that names the layer and the fix.

Every registered CNN is covered through the local patterns that decide how a layer
is quantized (its role and what consumes it, see tests/qat_motifs.py):
`zoo_motif_model` holds all of them, built from the zoo's own blocks, and goes the
whole way here (QAT, a fit step, fully-integer int8); tests/test_graph_rules.py
checks that each registered CNN has no pattern outside it. (The whole way for each
registered CNN is benchmarks/qat_zoo.py; its results are committed.)
"""

import numpy as np
import pytest

import keras
from keras import layers

import keras_lightnets as kl
from keras_lightnets import tflite as kt
from keras_lightnets.data import load_digits
from keras_lightnets.tflite.qat import is_quantize_aware
from keras_lightnets.training import recalibrate_batch_norm

from figures import at_least, at_most  # tests/figures.py
from qat_motifs import CLASSES, SIZE, zoo_motif_model  # tests/qat_motifs.py


# ---------------------------------------------------------------- the whole way

# Every test here builds its models under this seed (the autouse fixture below). The
# bounds on trained or random-weight figures go through tests/figures.py, so that
# benchmarks/seed_spread.py reruns these tests under seed offsets 0-4 and writes each
# figure's spread beside its bound (benchmarks/results/seed_spread.md); each bound's
# comment quotes it. Where a figure can be taken against the QAT model's own int8 file
# instead of a freshly trained float model, it is: that does not move with a CPU's
# floating-point order.
SEED = 0


@pytest.fixture(autouse=True)
def _seeded():
    keras.utils.set_random_seed(SEED)


@pytest.fixture(scope="module")
def digits():
    return load_digits(image_size=SIZE, num_classes=CLASSES, seed=0)


def _kernels_moved_by_a_fit_step(qat, x, y):
    import tf_keras

    qat.compile(tf_keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy", run_eagerly=True)
    kernels = [w for w in qat.trainable_weights if "kernel" in w.name]
    before = [w.numpy().copy() for w in kernels]
    history = qat.fit(x, y, batch_size=len(x), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    return [not np.array_equal(b, w.numpy()) for b, w in zip(before, kernels)]


def motif_figures(digits, path, seed=SEED):
    """The motif model the whole way: (model, qat, which kernels a fit step moved, report)."""
    (x, y), (x_test, _) = digits
    keras.utils.set_random_seed(seed)
    model = recalibrate_batch_norm(zoo_motif_model(), x[:64])
    qat = kt.quantize_aware(model, representative_data=x[:64])
    moved = _kernels_moved_by_a_fit_step(qat, x[:16], y[:16])
    report = kt.convert(qat, path, quantization="int8", input_type="uint8", verify=True, verify_data=x_test[:16])
    return model, qat, moved, report


def test_every_pattern_of_the_zoo_trains_and_converts_fully_integer(digits, tmp_path):
    model, qat, moved, report = motif_figures(digits, tmp_path / "qat.tflite")
    assert is_quantize_aware(qat) and not is_quantize_aware(model)
    # Gradients pass every fake-quant op (straight-through) down to the first convolution.
    # Seeds 0-4: every kernel moved, in every run.
    assert moved[0] and moved[-1], moved
    at_least("motif model: fraction of kernels a fit step moved", np.mean(moved), 0.9)
    assert report.fully_integer, report
    assert report.float_ops == [] and report.inner_quantize_ops == 0
    assert report.input_dtype == "uint8"
    # The file computes what the QAT model does. Seeds 0-4: max |prob diff| 0.004-0.014.
    at_most("motif model: max |int8 file - QAT model| probability", report.fidelity["max_abs_diff"], 0.05)


# -------------------------------------------------------- weights and fidelity


def test_tf_keras_twin_computes_what_the_keras_3_model_computes(photos):
    """Weights copied by name through every kind of twin: stock layers, preprocessing
    and standalone BN as 1x1 depthwise maps, LRN, h-sigmoid, separable convs."""
    from keras_lightnets.tflite.qat.twin import to_tf_keras

    images = photos(SIZE).astype("float32")
    model = recalibrate_batch_norm(zoo_motif_model(), images)
    logits = keras.Model(model.inputs, model.get_layer("fc2").output)  # before the softmax
    expected = logits.predict(images, verbose=0)
    for quantizable in (False, True):
        twin = to_tf_keras(logits, quantizable=quantizable)
        got = twin.predict(images, verbose=0)
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())
    assert type(twin.get_layer("lrn")).__name__ == "LRNScale"
    assert type(twin.get_layer("dense_block1_0_bn")).__name__ == "DepthwiseConv2D"  # BN after a concat
    assert type(twin.get_layer("expand_bn")).__name__ == "BatchNormalization"  # BN after its conv: folded by TFLite


def train_float(x, y, seed=SEED):
    """MobileNetV2-0.35 trained on the digits in float, as QAT expects to start."""
    keras.utils.set_random_seed(seed)
    model = kl.create_model("mobilenet_v2_035", classes=CLASSES, input_shape=(SIZE, SIZE, 3))
    model.compile(keras.optimizers.Adam(2e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=32, epochs=4, verbose=0)
    # 56 steps are too few for moving statistics with momentum 0.999 to forget their
    # initial values: re-estimate them from the training images for the final weights.
    return recalibrate_batch_norm(model, x[:256])


@pytest.fixture(scope="module")
def trained(digits):
    (x, y), _ = digits
    return train_float(x, y)


def _accuracy(predictions, labels):
    return float(np.mean(np.asarray(predictions).argmax(1) == labels))


def qat_figures(trained, digits, path, seed=SEED):
    """A trained float model the QAT way: calibrated, one epoch of compiled fit,
    converted. Returns the conversion report and the figures the test bounds."""
    import tf_keras

    (x, y), (x_test, y_test) = digits
    expected = trained.predict(x_test, verbose=0)
    figures = {"test_images": len(x_test), "float_accuracy": _accuracy(expected, y_test)}
    qat = kt.quantize_aware(trained, representative_data=x[:200])
    start = qat(x_test, training=False).numpy()  # eager: no tracing
    figures["start_agreement_with_float"] = _accuracy(start, expected.argmax(1))
    figures["start_mean_abs_diff"] = float(np.abs(start - expected).mean())

    keras.utils.set_random_seed(seed)  # fit's shuffling
    qat.compile(tf_keras.optimizers.Adam(1e-4), "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = qat.fit(x[:256], y[:256], batch_size=32, epochs=1, verbose=0)  # compiled (graph) training
    figures["fit_accuracy"] = float(history.history["accuracy"][0])
    tuned = qat(x_test, training=False).numpy()
    figures["qat_accuracy"] = _accuracy(tuned, y_test)
    report = kt.convert(qat, path, quantization="int8", input_type="uint8")
    got = kt.run(kt.load_interpreter(path), x_test)
    figures["int8_accuracy"] = _accuracy(got, y_test)
    figures["int8_agreement_with_qat"] = _accuracy(got, tuned.argmax(1))
    figures["int8_mean_abs_diff_from_qat"] = float(np.abs(got - tuned).mean())
    return report, figures


def test_qat_starts_at_the_float_model_fine_tunes_with_fit_and_keeps_its_accuracy_in_int8(trained, digits, tmp_path):
    """Calibrated on representative images, the QAT model starts at the float model
    (its weights are the Keras model's), up to int8 rounding; it trains with a
    compiled fit; its int8 file computes what it computes, and keeps the accuracy.

    The figures against the float model move with the CPU's floating-point order (an
    AMD Zen 4 host trains another model from the same seed: 95.3% start agreement where
    this host gave 100%); their bounds sit below the spread over seeds 0-4 (quoted,
    from benchmarks/results/seed_spread.md). The file against its own QAT model is
    what the conversion must keep on any CPU. 107 test images: one is 0.93 points."""
    report, f = qat_figures(trained, digits, tmp_path / "qat.tflite")
    assert f["test_images"] == 107
    # Seeds 0-4 on this host (benchmarks/results/seed_spread.md), min-max; each bound
    # sits at least one whole spread below the worst seed.
    at_least("QAT: float model accuracy", f["float_accuracy"], 0.80)  # 0.869-0.935: trained, real margins
    # 0.935-1.000 (an AMD Zen 4 host, seed 0: 0.953)
    at_least("QAT: start top-1 agreement with the float model", f["start_agreement_with_float"], 0.85)
    at_most("QAT: start mean |QAT - float| probability", f["start_mean_abs_diff"], 0.06)  # 0.015-0.035
    at_least("QAT: fit accuracy", f["fit_accuracy"], 0.75)  # 0.883-0.988
    assert report.fully_integer and report.input_dtype == "uint8"
    # The file against its own QAT model: what the conversion must keep, whatever the CPU.
    at_least("QAT: int8 file top-1 agreement with its QAT model", f["int8_agreement_with_qat"], 0.93)  # 0.972-1.000
    at_most("QAT: mean |int8 file - QAT model| probability", f["int8_mean_abs_diff_from_qat"], 0.05)  # 0.010-0.025
    at_least("QAT: int8 - QAT accuracy", f["int8_accuracy"] - f["qat_accuracy"], -0.04)  # -0.009-+0.009
    at_least("QAT: int8 - float accuracy", f["int8_accuracy"] - f["float_accuracy"], -0.06)  # -0.009-+0.037


def calibration_figures(seed=SEED):
    """A small random model QAT'd with and without representative images:
    (model, uncalibrated QAT model, max |diff| from the float model calibrated, uncalibrated).
    Images in [0, 1]: [0, 255] saturates this small model's softmax (both errors 0 for some seeds)."""
    keras.utils.set_random_seed(seed)
    model = _small(lambda x: layers.ReLU(name="relu")(x))
    images = np.random.RandomState(0).uniform(0, 1, (16, 8, 8, 3)).astype("float32")
    expected = model.predict(images, verbose=0)
    calibrated = kt.quantize_aware(model, representative_data=images)(images, training=False).numpy()
    qat = kt.quantize_aware(model)
    uncalibrated = qat(images, training=False).numpy()
    return model, qat, float(np.abs(calibrated - expected).max()), float(np.abs(uncalibrated - expected).max())


def test_without_representative_data_only_the_weights_get_ranges():
    model, qat, calibrated, uncalibrated = calibration_figures()

    def variables(layer):
        return {w.name.split("/")[-1].split(":")[0]: w.numpy() for w in qat.get_layer(layer).weights}

    kernel = model.get_layer("conv").get_weights()[0]
    np.testing.assert_allclose(variables("quant_conv")["kernel_max"], np.abs(kernel).max(axis=(0, 1, 2)), rtol=1e-6)
    np.testing.assert_allclose(variables("quant_relu")["output_max"], 6.0)  # tfmot's initial range
    # tfmot's [-6, 6] start rounds far coarser than a calibrated ReLU range. Seeds 0-4: the
    # uncalibrated error is 58-130x the calibrated one (0.00025-0.0014 vs 0.025-0.17).
    at_least("QAT: uncalibrated / calibrated max |diff| from the float model", uncalibrated / calibrated, 10)


# ----------------------------------------------------------------------- errors


@keras.saving.register_keras_serializable(package="test_qat")
class Doubling(keras.layers.Layer):
    """A weightless custom layer written with keras.ops: QAT wraps it generically."""

    def call(self, inputs):
        return keras.ops.multiply(inputs, 2.0)


class Unregistered(keras.layers.Layer):
    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones")

    def call(self, inputs):
        return inputs * self.scale


def _small(middle):
    inputs = keras.Input((8, 8, 3))
    x = layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    x = middle(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, layers.Dense(2, activation="softmax", name="fc")(x))


def custom_layer_figures(seed=SEED):
    """A random model with a weightless custom layer, QAT'd: (QAT model, max |diff| from
    the float model, max |diff| of the float model without the custom layer). Images in
    [0, 1]: [0, 255] saturates this small model's softmax, where any two models agree."""
    keras.utils.set_random_seed(seed)
    model = _small(lambda x: Doubling(name="double")(layers.ReLU(name="relu")(x)))
    without = _small(lambda x: layers.ReLU(name="relu")(x))
    without.set_weights(model.get_weights())
    images = np.random.RandomState(0).uniform(0, 1, (16, 8, 8, 3)).astype("float32")
    qat = kt.quantize_aware(model, representative_data=images)
    expected = model.predict(images, verbose=0)
    return (qat, float(np.abs(qat.predict(images, verbose=0) - expected).max()),
            float(np.abs(without.predict(images, verbose=0) - expected).max()))


def test_a_weightless_registered_custom_layer_is_wrapped_and_converts(tmp_path):
    qat, max_abs_diff, without_the_layer = custom_layer_figures()
    # Seeds 0-4: the QAT model within 0.0005-0.0021 of the float model; the float model
    # without the doubling 0.025-0.134 away: the bound tells them apart.
    at_most("QAT with a custom layer: max |QAT - float| probability", max_abs_diff, 0.01)
    at_least("float model without the custom layer: max |diff| probability", without_the_layer, 0.01)
    assert kt.convert(qat, tmp_path / "d.tflite", quantization="int8").fully_integer


def test_a_lambda_layer_is_named_with_the_fix():
    model = _small(lambda x: layers.Lambda(lambda t: t * 2, name="times_two")(x))
    with pytest.raises(ValueError, match=r"'times_two'.*Lambda.*register_twin"):
        kt.quantize_aware(model)


def test_a_custom_layer_with_weights_is_named_with_the_fix():
    model = _small(lambda x: Unregistered(name="scaler")(x))
    with pytest.raises(ValueError, match=r"'scaler'.*Unregistered.*no tf_keras twin.*register_twin"):
        kt.quantize_aware(model)


def test_a_layer_with_no_rule_is_named_and_an_override_fixes_it(tmp_path):
    from keras_lightnets.tflite.qat.quantize_configs import LayerQuantizeConfig

    model = _small(lambda x: layers.LayerNormalization(name="norm")(x))
    with pytest.raises(ValueError, match=r"'norm'.*LayerNormalization.*no quantization rule.*quantize_configs=\{'norm'"):
        kt.quantize_aware(model)
    qat = kt.quantize_aware(model, quantize_configs={"norm": LayerQuantizeConfig(quantize_output=True)})
    assert "quant_norm" in [layer.name for layer in qat.layers]
    with pytest.raises(ValueError, match=r"names layers the model does not have: \['nope'\]"):
        kt.quantize_aware(model, quantize_configs={"nope": LayerQuantizeConfig()})


def test_a_qat_file_that_is_not_fully_integer_fails_unless_float_fallback_is_allowed(tmp_path):
    """A range taken away (the Add's output): TFLite keeps the op in float; `convert` says so."""
    from keras_lightnets.tflite.qat.quantize_configs import LayerQuantizeConfig

    def residual(x):
        y = layers.Conv2D(4, 1, name="branch")(x)
        return layers.Add(name="add")([x, y])

    model = _small(residual)
    images = np.random.RandomState(0).uniform(0, 255, (16, 8, 8, 3)).astype("float32")
    qat = kt.quantize_aware(model, representative_data=images, quantize_configs={"add": LayerQuantizeConfig()})
    path = tmp_path / "f.tflite"
    with pytest.raises(ValueError, match=r"did not convert fully integer: float ops \[.*'ADD'.*allow_float_fallback=True"):
        kt.convert(qat, path, quantization="int8")
    assert not path.exists()
    report = kt.convert(qat, path, quantization="int8", allow_float_fallback=True)
    assert "ADD" in report.float_ops and not report.fully_integer


def test_a_qat_model_converts_in_int8_only(tmp_path):
    model = _small(lambda x: layers.ReLU(name="relu")(x))
    qat = kt.quantize_aware(model)
    with pytest.raises(ValueError, match=r"quantization-aware \(QAT\) model: convert it with quantization='int8'"):
        kt.convert(qat, tmp_path / "x.tflite", quantization="float16")


def test_a_saved_qat_model_loads_back(tmp_path):
    model = _small(lambda x: Doubling(name="double")(layers.Activation("hard_sigmoid", name="gate")(x)))
    images = np.random.RandomState(0).uniform(0, 255, (8, 8, 8, 3)).astype("float32")
    qat = kt.quantize_aware(model, representative_data=images)
    qat.save(tmp_path / "qat.h5")  # tfmot's documented format for QAT models
    loaded = kt.load_quantize_aware(tmp_path / "qat.h5")
    np.testing.assert_array_equal(loaded.predict(images, verbose=0), qat.predict(images, verbose=0))
