"""`lightnets convert` and the absl app tflite/convert.py: real runs in a subprocess,
and bad input answered with one clear line (no traceback)."""

import json
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_lightnets import cli
from keras_lightnets import tflite as kt

ROOT = pathlib.Path(__file__).resolve().parents[1]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
LABELS = ["zero", "one", "two", "three", "four"]


def run_subprocess(*args):
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=900)


def invoke(path, image):
    """Every output of the file on one image, as the file's own types."""
    interpreter = kt.load_interpreter(path)
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], image)
    interpreter.invoke()
    return [interpreter.get_tensor(detail["index"]) for detail in interpreter.get_output_details()]


def error_lines(stderr):
    return [line for line in stderr.splitlines() if ": error: " in line]


@pytest.fixture(scope="module")
def tiny_keras_file(tmp_path_factory):
    """A small saved classifier that takes [0, 255] pixels (quick to convert)."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = keras.layers.Conv2D(8, 3, strides=2)(x)
    x = keras.layers.Activation("hard_swish")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(5, activation="softmax")(x), name="tiny")
    path = tmp_path_factory.mktemp("keras") / "tiny.keras"
    model.save(path)
    return path


@pytest.fixture(scope="module")
def lrn_keras_file(tmp_path_factory):
    """A saved model with AlexNet's local response normalization, whose SQUARE and POW
    TFLite cannot quantize to 16x8."""
    from keras_lightnets.layers.normalization import LocalResponseNormalization

    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3, activation="relu")(keras.layers.Rescaling(1 / 255)(inputs))
    x = LocalResponseNormalization(size=5, alpha=1e-4, beta=0.75, k=2.0)(x)
    model = keras.Model(inputs, keras.layers.Dense(5)(keras.layers.GlobalAveragePooling2D()(x)), name="lrn_net")
    path = tmp_path_factory.mktemp("keras") / "lrn.keras"
    model.save(path)
    return path


def test_lightnets_convert_int8_with_labels(tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(LABELS) + "\n")
    out = tmp_path / "m.tflite"
    result = run_subprocess(
        "-m", "keras_lightnets.cli", "convert", "--model=mobilenet_v3_small", "--input_size=32", "--classes=5",
        "--quantization=int8", "--input_type=uint8", "--representative_data=digits", "--num_calibration_samples=16",
        f"--labels={labels}", f"--output={out}", f"--json={tmp_path / 'report.json'}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"{out}: int8" in result.stdout and "input uint8[1, 32, 32, 3]" in result.stdout
    assert "fully integer" in result.stdout and "5 labels packed" in result.stdout
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["quantization"] == "int8" and report["size_bytes"] == out.stat().st_size
    info = kt.read_metadata(out)
    assert info["labels"] == LABELS and info["name"] == "mobilenet_v3_small"
    assert info["input"]["mean"] == [0.0] and info["input"]["std"] == [1.0]  # registry models take [0, 255]
    scores = kt.run(kt.load_interpreter(out), np.zeros((2, 32, 32, 3), "float32"))
    assert scores.shape == (2, 5)


def test_absl_app_converts_a_keras_file_with_metadata_and_verifies(tiny_keras_file, tmp_path):
    out = tmp_path / "tiny.tflite"
    result = run_subprocess("tflite/convert.py", f"--keras_file={tiny_keras_file}", f"--output={out}", "--verify",
                            "--metadata_author=someone", "--norm_mean=0", "--norm_std=1", "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["quantization"] is None and report["fidelity"]["max_abs_diff"] <= 1e-5
    assert report["metadata"]["author"] == "someone" and report["metadata"]["labels"] is None
    assert kt.read_metadata(out)["name"] == "tiny"


def test_unknown_model_is_one_line_without_traceback(tmp_path):
    result = run_subprocess("-m", "keras_lightnets.cli", "convert", "--model=mobilenet_v9", f"--output={tmp_path / 'x.tflite'}")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    errors = error_lines(result.stderr)
    assert len(errors) == 1 and errors[0].startswith("lightnets convert: error: Unknown model 'mobilenet_v9'. Did you mean ")
    assert not list(tmp_path.iterdir())


def run_in_process(capsys, *args):
    """`lightnets convert ARGS` in this process: (exit status, error lines)."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["lightnets", "convert", *args])
    return exit_info.value.code, error_lines(capsys.readouterr().err)


@pytest.mark.parametrize("args, message", [
    (["--quantization=int4"], "--quantization must be one of float32, float16, dynamic, int8, int16x8; received 'int4'."),
    ([], "--output is required, e.g. --output=model.tflite."),
    (["--output=/no/such/dir/m.tflite"], "The output directory '/no/such/dir' does not exist; create it or choose another --output."),
    (["--output={tmp}/m.tflite"], "Give exactly one of --model (a registered name, see `lightnets list`) and --keras_file (a saved .keras model)."),
    (["--output={tmp}/m.tflite", "--keras_file={tmp}/missing.keras"], "--keras_file must be an existing .keras file; received '{tmp}/missing.keras'."),
    (["--output={tmp}/m.tflite", "--model=mobilenet_v1_025", "--input_size=32", "--input_type=uint8"],
     "`input_type='uint8'` is not available with quantization=None; choose from ('float32',)."),
    (["--output={tmp}/m.tflite", "--model=mobilenet_v1_025", "--input_size=32", "--norm_mean=zero"],
     "--norm_mean must be numbers, e.g. --norm_mean=127.5; received 'zero'."),
])
def test_bad_arguments(capsys, tmp_path, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert run_in_process(capsys, *args) == (2, [f"lightnets convert: error: {message.replace('{tmp}', str(tmp_path))}"])
    assert not list(tmp_path.iterdir())


def test_representative_data_of_the_wrong_shape(capsys, tmp_path):
    np.save(tmp_path / "images.npy", np.zeros((4, 64, 64, 3), "float32"))
    status, errors = run_in_process(capsys, "--model=mobilenet_v1_025", "--input_size=32", "--quantization=int8",
                                    f"--representative_data={tmp_path / 'images.npy'}", f"--output={tmp_path / 'm.tflite'}")
    assert status == 2 and len(errors) == 1
    assert "shape (4, 64, 64, 3) but the model takes (32, 32, 3) images: resize them to 32x32" in errors[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images.npy"]


def test_labels_that_do_not_match_the_classes(capsys, tmp_path):
    (tmp_path / "labels.txt").write_text("a\nb\n")
    status, errors = run_in_process(capsys, "--model=mobilenet_v1_025", "--input_size=32", "--classes=5",
                                    f"--labels={tmp_path / 'labels.txt'}", f"--output={tmp_path / 'm.tflite'}")
    assert (status, errors) == (2, ["lightnets convert: error: The model has 5 classes but 2 labels were given; "
                                    "give one label per class."])


def test_int16x8_names_the_op_without_a_kernel_and_the_fix(capsys, lrn_keras_file, tmp_path):
    out = tmp_path / "m.tflite"
    status, errors = run_in_process(capsys, f"--keras_file={lrn_keras_file}", "--quantization=int16x8",
                                    "--num_calibration_samples=8", f"--output={out}")
    assert status == 2 and len(errors) == 1
    assert "int16x8" in errors[0] and "POW, SQUARE" in errors[0] and "allow_float_fallback" in errors[0]
    assert not out.exists()
    cli.main(["lightnets", "convert", f"--keras_file={lrn_keras_file}", "--quantization=int16x8",
              "--num_calibration_samples=8", "--allow_float_fallback", f"--output={out}"])
    assert "NOT fully integer: float ops ['DIV', 'POW', 'SQUARE']" in capsys.readouterr().out
    assert kt.analyze(out.read_bytes()).op_counts["POW"] == 1


def test_lightnets_convert_writes_a_detector_for_the_task_librarys_object_detector(tmp_path):
    """A registered SSDLite at its own class count (--classes given: 3 shapes and the
    background), int8 with uint8 input, calibrated on the bundled scenes by default:
    the file ends in TFLite_Detection_PostProcess, with ObjectDetector metadata."""
    labels = tmp_path / "labels.txt"
    labels.write_text("square\ndisk\ntriangle\n")
    out = tmp_path / "det.tflite"
    result = run_subprocess(
        "-m", "keras_lightnets.cli", "convert", "--model=ssdlite320_mobilenet_v3_large", "--input_size=64",
        "--classes=4", "--quantization=int8", "--input_type=uint8", "--num_calibration_samples=8",
        "--max_detections=5", f"--labels={labels}", f"--output={out}", "--json",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert (report["task"], report["input_dtype"], report["float_ops"]) == ("detector", "uint8", ["CUSTOM"])
    assert report["op_counts"]["CUSTOM"] == 1 and report["outputs"].startswith("boxes, classes, scores, count")
    boxes, classes, scores, count = invoke(out, np.zeros((1, 64, 64, 3), "uint8"))
    assert boxes.shape == (1, 5, 4) and classes.shape == scores.shape == (1, 5) and count.shape == (1,)
    info = kt.read_metadata(out)
    assert info["labels"] == ["square", "disk", "triangle"]


def test_lightnets_convert_writes_a_segmenters_class_mask(tmp_path):
    out = tmp_path / "mask.tflite"
    result = run_subprocess("-m", "keras_lightnets.cli", "convert", "--model=lraspp_mobilenet_v3_small",
                            "--input_size=32", "--segmenter_output=mask", f"--output={out}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"segmenter {out}: float32, float32 input, outputs class mask (int32)" in result.stdout
    mask, = invoke(out, np.zeros((1, 32, 32, 3), "float32"))
    assert mask.shape == (1, 32, 32) and mask.dtype == np.int32 and 0 <= mask.min() and mask.max() < 21
