"""The main job at tiny settings: train, three .tflite files with metadata, their
accuracy through the interpreter, host latency, table, JSON and plot."""

import json
import os

import numpy as np
import pytest

from keras_lightnets.demo import LABELS
from keras_lightnets.demo import PLOT_PNG
from keras_lightnets.demo import RESULTS_JSON
from keras_lightnets.demo import format_result
from keras_lightnets.demo import run_demo
from keras_lightnets.tflite import load_interpreter
from keras_lightnets.tflite import read_metadata


# The whole job (training, QAT, three conversions): minutes on two shared cores.
slow = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    output_dir = str(tmp_path_factory.mktemp("demo_output"))
    model, result = run_demo("mobilenet_v3_small", image_size=32, epochs=4, verbose=0, output_dir=output_dir,
                             benchmark_runs=5, benchmark_min_secs=0.05)
    return model, result, output_dir


@slow
def test_training_learns_the_digits(demo):
    model, result, _ = demo
    assert result.train_loss[-1] < result.train_loss[0]
    assert result.test_accuracy > 0.5  # chance is 0.1
    assert result.params == model.count_params()


@slow
def test_three_files_with_the_right_types_metadata_and_sizes(demo):
    _, result, output_dir = demo
    assert [v.name for v in result.variants] == ["float32", "int8_ptq", "int8_qat"]
    dtypes, sizes = {}, {}
    for v in result.variants:
        assert os.path.dirname(v.path) == output_dir
        dtypes[v.name] = np.dtype(load_interpreter(v.path).get_input_details()[0]["dtype"]).name
        sizes[v.name] = os.path.getsize(v.path)
        assert read_metadata(v.path)["labels"] == LABELS
    assert dtypes == {"float32": "float32", "int8_ptq": "uint8", "int8_qat": "uint8"}
    assert sizes["int8_ptq"] < sizes["float32"] / 2 and sizes["int8_qat"] < sizes["float32"] / 2
    assert {v.name: v.size_bytes for v in result.variants} == sizes


@slow
def test_tflite_accuracies_are_measured_and_real(demo):
    _, result, _ = demo
    by_name = {v.name: v for v in result.variants}
    # the float32 file computes what the Keras model does
    assert abs(by_name["float32"].accuracy - result.test_accuracy) < 0.01
    for name in ("int8_ptq", "int8_qat"):
        assert by_name[name].accuracy > 0.3, name  # chance is 0.1
    for v in result.variants:
        assert v.latency_ms > 0
        assert v.speedup == pytest.approx(by_name["float32"].latency_ms / v.latency_ms)


@slow
def test_table_json_and_plot(demo):
    _, result, output_dir = demo
    text = format_result(result)
    for v in result.variants:
        assert os.path.basename(v.path) in text
    assert "speed-up" in text and "test accuracy" in text
    with open(os.path.join(output_dir, RESULTS_JSON)) as f:
        saved = json.load(f)
    assert saved["variants"] == [vars(v) for v in result.variants]
    with open(os.path.join(output_dir, PLOT_PNG), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_qat_needs_at_least_one_epoch():
    with pytest.raises(ValueError, match="qat_epochs"):
        run_demo(qat_epochs=0)
