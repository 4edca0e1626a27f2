"""Keras -> .tflite in every post-training mode TFLite offers.

`convert` validates every argument first, exports the model the way Keras itself
exports to LiteRT (an ExportArchive SavedModel with a static batch-1 signature, in a
temporary directory) and converts it, runs its mode's graph-rewrite passes
(keras_lightnets.tflite.passes), checks that the file runs and is as integer as its mode
promises, optionally verifies it against the Keras model, and writes it atomically: a
failed conversion never leaves a file behind.
"""

import dataclasses
import os
import tempfile
import time
import warnings
from typing import Dict, List, Optional

import keras
import numpy as np

from keras_lightnets._atomic import write_atomically
from keras_lightnets.tflite.analyze import analyze
from keras_lightnets.tflite.inputs import representative_images
from keras_lightnets.tflite.inputs import static_input_shape
from keras_lightnets.tflite.interpreter import load_interpreter
from keras_lightnets.tflite.interpreter import run
from keras_lightnets.tflite.metadata import add_metadata
from keras_lightnets.tflite.metadata import describe_metadata
from keras_lightnets.tflite.metadata import read_metadata
from keras_lightnets.tflite.metadata import resolve_metadata
from keras_lightnets.tflite.passes import INT8_HARD_SWISH
from keras_lightnets.tflite.passes import run_passes
from keras_lightnets.tflite.qat import is_quantize_aware
from keras_lightnets.tflite.qat import is_tf_keras_model
from keras_lightnets.tflite.qat import save_for_conversion

QUANTIZATION_MODES = (None, "float16", "dynamic", "int8", "int16x8")
# Input/output tensor types each mode can be given.
IO_TYPES = {None: ("float32",), "float16": ("float32",), "dynamic": ("float32",),
            "int8": ("float32", "uint8", "int8"), "int16x8": ("float32", "int16")}
VERIFY_SAMPLES = 32


@dataclasses.dataclass
class ConversionReport:
    path: str
    quantization: Optional[str]
    input_shape: tuple
    input_dtype: str
    output_dtype: str
    size_bytes: int
    conversion_seconds: float
    op_counts: Dict[str, int]
    float_ops: List[str]  # ops left in floating point
    inner_quantize_ops: int  # QUANTIZE/DEQUANTIZE between float and integer inside the graph
    fidelity: Optional[Dict[str, float]] = None  # against the Keras model, with verify=True
    metadata: Optional[dict] = None  # the TFLite Support metadata written, as read back
    requantize_ops: int = 0  # integer-to-integer QUANTIZE (a rescale, not a float boundary)

    @property
    def fully_integer(self):
        return not self.float_ops and self.inner_quantize_ops == 0

    def __str__(self):
        lines = [
            f"{self.path}: {self.quantization or 'float32'}, {self.size_bytes / 1e6:.2f} MB, "
            f"input {self.input_dtype}{list(self.input_shape)}, output {self.output_dtype}, "
            f"converted in {self.conversion_seconds:.1f} s",
            f"ops: {sum(self.op_counts.values())} ({', '.join(f'{k} x{v}' for k, v in self.op_counts.items())})",
        ]
        if self.quantization in ("int8", "int16x8"):
            lines.append("fully integer" if self.fully_integer else
                         f"NOT fully integer: float ops {self.float_ops}, {self.inner_quantize_ops} inner (de)quantize ops")
        if self.fidelity:
            lines.append("fidelity vs Keras: " + ", ".join(f"{k} {v:.6g}" for k, v in self.fidelity.items()))
        if self.metadata:
            lines.append(describe_metadata(self.metadata))
        return "\n".join(lines)

    def to_dict(self):
        return dataclasses.asdict(self)


def convert(
    model,
    output_path,
    quantization=None,
    representative_data=None,
    input_type="float32",
    output_type="float32",
    input_shape=None,
    verify=False,
    verify_data=None,
    num_calibration_samples=200,
    allow_float_fallback=False,
    metadata=None,
    decompose_hard_swish=True,
    fuse_channel_affine=True,
) -> ConversionReport:
    """Converts a Keras model (or a saved .keras file) to a .tflite file.

    Args:
        model: a keras.Model, or the path of a .keras file; or a tf_keras model,
            e.g. one from `quantize_aware` (QAT), which converts with
            quantization="int8" and needs no representative data (its ranges
            come from training; given, it only serves `verify`).
        output_path: where the .tflite file goes; its directory must exist.
        quantization: None (float32), "float16", "dynamic" (int8 weights, float
            activations), "int8" (full integer) or "int16x8" (int16 activations,
            int8 weights).
        representative_data: calibration images for "int8" / "int16x8": a numpy
            array (N, H, W, C), a tf.data.Dataset of images or (images, labels),
            or a tensorflow-datasets name (its "train" split, resized). Same units
            as the model's input (e.g. [0, 255] pixels for models that rescale).
        input_type, output_type: the file's input/output tensor types: "float32";
            "uint8" or "int8" for int8; "int16" for int16x8.
        input_shape: (H, W, C) for models whose spatial size is open
            (default: 224x224); the file gets a static batch-1 input.
        verify: run the file on `verify_data` (default: the representative data)
            and report its agreement with the Keras model.
        num_calibration_samples: how many representative images calibrate.
        allow_float_fallback: for "int8"/"int16x8", let ops the integer set cannot
            express run in float (TFLite's own fallback; e.g. ZFNet's local response
            normalization, POW and SQUARE) instead of failing; the report lists them.
        decompose_hard_swish: for "int8", rewrite each HARD_SWISH into int8
            ADD/MUL ops, which XNNPACK runs (it has no int8 HARD_SWISH; see
            keras_lightnets.tflite.passes.hard_swish); one whose input range is too
            narrow for XNNPACK's int8 ADD stays fused, with a warning. False
            keeps TFLite's fused op. For "int16x8", the same ops in int16 replace the float HARD_SWISH
            TFLite would leave (it has no 16x8 one); False keeps that float op.
        fuse_channel_affine: for float32, "dynamic" and "int8", turn each chain of
            elementwise ops by per-channel constants (Rescaling + Normalization
            input preprocessing) into one 1x1 DEPTHWISE_CONV_2D, which XNNPACK
            runs faster (keras_lightnets.tflite.passes.channel_affine; measured in
            benchmarks/results/channel_affine_speed.md).
        metadata: TFLite Support image-classifier metadata for Android's Task
            Library (see keras_lightnets.tflite.metadata): True for the defaults
            (name = the model's, mean 0 / std 1 when the model normalizes [0, 255]
            pixels itself, as registry models do), or a dict of name, description,
            labels (list or file), mean, std, author, version, license.
    """
    model = _load_model(model)
    output_path, shape, calibration, metadata_fields = _validate(
        model, output_path, quantization, input_type, output_type, input_shape, representative_data,
        num_calibration_samples, metadata)
    start = time.perf_counter()
    content = _export(model, shape, quantization, calibration, input_type, output_type)
    content, rewrote = run_passes(content, quantization, decompose_hard_swish=decompose_hard_swish,
                                  fuse_channel_affine=fuse_channel_affine)
    seconds = time.perf_counter() - start
    summary = _check(content, model, quantization, allow_float_fallback, rewrote)
    fidelity = _verify(model, content, quantization, shape, calibration, verify_data) if verify else None
    if metadata_fields is not None:
        content = add_metadata(content, **metadata_fields)
    write_atomically(output_path, content)
    return ConversionReport(
        path=output_path, quantization=quantization, input_shape=(1, *shape),
        input_dtype=summary.input_dtype, output_dtype=summary.output_dtype, size_bytes=len(content),
        conversion_seconds=seconds, op_counts=summary.op_counts, float_ops=summary.float_ops,
        inner_quantize_ops=summary.inner_quantize_ops, fidelity=fidelity,
        metadata=None if metadata_fields is None else read_metadata(content),
        requantize_ops=summary.requantize_ops,
    )


def _validate(model, output_path, quantization, input_type, output_type, input_shape, representative_data,
              num_calibration_samples, metadata):
    """Every argument checked before the slow part; returns the output path, the input shape,
    the calibration images (None where the mode or a QAT model needs none) and the metadata
    fields."""
    if quantization not in QUANTIZATION_MODES:
        raise ValueError(f"`quantization` must be one of {QUANTIZATION_MODES}; received {quantization!r}.")
    for name, value in (("input_type", input_type), ("output_type", output_type)):
        if value not in IO_TYPES[quantization]:
            raise ValueError(f"`{name}={value!r}` is not available with quantization={quantization!r}; "
                             f"choose from {IO_TYPES[quantization]}.")
    output_path = os.fspath(output_path)
    directory = os.path.dirname(os.path.abspath(output_path))
    if not os.path.isdir(directory):
        raise ValueError(f"The output directory {directory!r} does not exist; create it or choose another `output_path`.")
    shape = static_input_shape(model, input_shape)
    calibration = None
    qat = is_quantize_aware(model)
    if qat and quantization != "int8":
        raise ValueError(f"{model.name!r} is a quantization-aware (QAT) model: convert it with quantization='int8' "
                         f"(its trained ranges make the int8 file); received quantization={quantization!r}.")
    if quantization in ("int8", "int16x8"):
        if representative_data is None and not qat:
            raise ValueError(f"quantization={quantization!r} needs `representative_data` (a few hundred training images) to calibrate activation ranges.")
        if representative_data is not None:
            calibration = representative_images(representative_data, shape, num_calibration_samples, "representative_data")
    return output_path, shape, calibration, resolve_metadata(metadata, model, input_type)


def _load_model(model):
    if isinstance(model, keras.Model) or is_tf_keras_model(model):
        return model
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if not (path.endswith(".keras") and os.path.isfile(path)):
            raise ValueError(f"`model` must be a keras.Model or an existing .keras file; received {path!r}.")
        return keras.models.load_model(path, safe_mode=True)
    raise ValueError(f"`model` must be a keras.Model or the path of a .keras file; received {type(model).__name__}.")


def configure_converter(converter, quantization, calibration, quantize_aware, input_type, output_type):
    """A TFLiteConverter's settings for `quantization`'s mode (None: float32), shared by
    `convert` and the detectors' export (whose post-process op gives float32 outputs)."""
    import tensorflow as tf

    if quantization is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quantize_aware:
        # Fake-quant ops carry every range: no calibration, and TFLite's default op set
        # (an INT8-only set demands a representative dataset); `convert` checks the result.
        converter.inference_input_type = tf.as_dtype(input_type)
        converter.inference_output_type = tf.as_dtype(output_type)
    elif calibration is not None:
        converter.representative_dataset = lambda: ([image[None]] for image in calibration)
        # Float builtins allowed here whatever allow_float_fallback says: the converter
        # leaves an op it cannot quantize in float (int16x8 would refuse LayerNorm's
        # NEG outright), the rewrites make some of them integer, and `convert`'s
        # strict check then names the ones left. int8 files come out byte-identical.
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.TFLITE_BUILTINS_INT8 if quantization == "int8"
            else tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8,
            tf.lite.OpsSet.TFLITE_BUILTINS]
        converter.inference_input_type = tf.as_dtype(input_type)
        converter.inference_output_type = tf.as_dtype(output_type)


def _export(model, shape, quantization, calibration, input_type, output_type):
    """The converter's .tflite bytes: the model exported as a batch-1 SavedModel in a
    temporary directory, converted in `quantization`'s mode."""
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as saved_model_dir:
        if is_tf_keras_model(model):
            save_for_conversion(model, shape, saved_model_dir)
        else:
            archive = keras.export.ExportArchive()
            archive.track(model)
            archive.add_endpoint(
                "serve", lambda images: model(images, training=False),
                input_signature=[keras.InputSpec(shape=(1, *shape), dtype="float32")],
            )
            archive.write_out(saved_model_dir, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir)
        configure_converter(converter, quantization, calibration, is_quantize_aware(model), input_type, output_type)
        try:
            return converter.convert()
        except Exception as error:  # ConverterError and friends: say which mode failed
            first_line = str(error).strip().splitlines()[0].rstrip(".") if str(error).strip() else type(error).__name__
            raise ValueError(
                f"TFLite cannot express {model.name!r} with quantization={quantization!r}: {first_line}. "
                "Try quantization='dynamic' or 'float16', or replace the unsupported layer."
            ) from None


def _check(content, model, quantization, allow_float_fallback, rewrote):
    """The file runs, and is as integer as its mode promises; returns its summary."""
    summary = analyze(content)
    if INT8_HARD_SWISH.name in rewrote:
        _warn_about_fused_hard_swish(summary.op_counts.get("HARD_SWISH", 0), model.name)
    _check_it_runs(content, model.name, quantization)
    if allow_float_fallback:
        return summary
    if is_quantize_aware(model) and (summary.float_ops or summary.inner_quantize_ops):
        raise ValueError(
            f"The QAT model {model.name!r} did not convert fully integer: float ops {summary.float_ops}, "
            f"{summary.inner_quantize_ops} QUANTIZE/DEQUANTIZE inside the graph (tensors with no trained range). "
            "Pass allow_float_fallback=True to keep them in float."
        )
    if not is_quantize_aware(model) and quantization in ("int8", "int16x8") and summary.float_ops:
        # the converter leaves an op with no integer kernel in float without a word
        raise ValueError(
            f"The {quantization} file of {model.name!r} is not fully integer: {', '.join(summary.float_ops)} "
            f"ha{'s' if len(summary.float_ops) == 1 else 've'} no {quantization} kernel in TFLite and would run in float "
            f"between {summary.inner_quantize_ops} QUANTIZE/DEQUANTIZE ops. Pass allow_float_fallback=True to accept "
            "that, or replace the layer that makes them."
        )
    return summary


def _warn_about_fused_hard_swish(left, name):
    """The int8 rewrite leaves a HARD_SWISH fused where its input's range is too narrow for
    XNNPACK's int8 ADD (keras_lightnets.tflite.passes.hard_swish); such an op runs outside
    XNNPACK, which is slow, so it is said rather than left to the op counts."""
    if left:
        warnings.warn(
            f"{left} HARD_SWISH op(s) of {name!r} stay fused in the int8 file: their calibrated input range is too "
            "narrow for XNNPACK's int8 ADD, so they run on TFLite's own kernel, outside XNNPACK (slower). This is "
            "typical of untrained BatchNorm statistics: calibrate a trained model, or re-estimate its BatchNorm "
            "statistics on real images (keras_lightnets.training.recalibrate_batch_norm) first.",
            stacklevel=4,  # convert()'s caller
        )


def _check_it_runs(content, name, quantization):
    """One invoke on zeros: the converter can emit an op in a type the interpreter's
    kernels do not take (an int16 SQUARED_DIFFERENCE, before passes/layer_norm.py), which
    would otherwise be found only when a user runs the file."""
    from ai_edge_litert.interpreter import Interpreter

    try:
        interpreter = Interpreter(model_content=content, num_threads=1)
        interpreter.allocate_tensors()
        interpreter.invoke()  # the input tensors start zeroed
    except (RuntimeError, ValueError) as error:
        detail = " ".join(str(error).split())[:300].rstrip(".")
        raise ValueError(
            f"The {quantization or 'float32'} file of {name!r} converts but the LiteRT interpreter cannot run it: "
            f"{detail}. Choose another quantization mode (int8 with allow_float_fallback=True, 'dynamic' or 'float16')."
        ) from None


def _verify(model, content, quantization, shape, calibration, verify_data):
    """The file's agreement with the Keras model on `verify_data`, or else the calibration images."""
    images = calibration if verify_data is None else representative_images(verify_data, shape, VERIFY_SAMPLES, "verify_data")
    if images is None:
        raise ValueError("verify=True needs `verify_data` (or `representative_data`): real images in the model's input units.")
    return measure_fidelity(model, content, images[:VERIFY_SAMPLES], quantization)


def measure_fidelity(model, content, images, quantization):
    """The file against the Keras model on the same images."""
    expected = model.predict(images, verbose=0, batch_size=16)
    got = run(load_interpreter(content), images)
    diff = np.abs(got - expected)
    fidelity = {"max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean())}
    if expected.ndim == 2 and expected.shape[1] > 1:
        fidelity["top1_agreement"] = float(np.mean(got.argmax(1) == expected.argmax(1)))
    fidelity["samples"] = len(images)
    return fidelity
