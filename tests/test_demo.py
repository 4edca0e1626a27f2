"""The main job, `lightnets demo`, end to end at tiny settings, as a user runs it: train,
three .tflite files with metadata, their accuracy through the interpreter, host
latency, the table, results.json and the plot."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import keras_lightnets as kl
from keras_lightnets.demo import LABELS
from keras_lightnets.demo import PLOT_PNG
from keras_lightnets.demo import RESULTS_JSON
from keras_lightnets.tflite import load_interpreter
from keras_lightnets.tflite import read_metadata

from figures import at_least  # tests/figures.py: bounds on trained figures, with their seed spread
from figures import at_most
from figures import seed_offset

IMAGE_SIZE, EPOCHS = 32, 4


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """One run of the installed `lightnets` command (about two minutes on two cores)."""
    output_dir = str(tmp_path_factory.mktemp("demo_output"))
    command = [os.path.join(os.path.dirname(sys.executable), "lightnets"), "demo", f"--image_size={IMAGE_SIZE}",
               f"--epochs={EPOCHS}", f"--seed={seed_offset()}", f"--output_dir={output_dir}"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=1200,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert done.returncode == 0, done.stderr[-3000:]
    with open(os.path.join(output_dir, RESULTS_JSON)) as f:
        return json.load(f), done.stdout, output_dir


def test_training_learns_the_digits(demo):
    result, _, _ = demo
    assert result["train_loss"][-1] < result["train_loss"][0]
    # chance is 0.1; 5 seeds: see benchmarks/results/seed_spread.md
    at_least("demo: Keras float accuracy", result["test_accuracy"], 0.5)
    expected = kl.create_model("mobilenet_v3_small", input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3), classes=10)
    assert result["params"] == expected.count_params()


def test_three_files_with_the_right_types_metadata_and_sizes(demo):
    result, _, output_dir = demo
    assert [v["name"] for v in result["variants"]] == ["float32", "int8_ptq", "int8_qat"]
    dtypes, sizes = {}, {}
    for v in result["variants"]:
        assert os.path.dirname(v["path"]) == output_dir
        dtypes[v["name"]] = np.dtype(load_interpreter(v["path"]).get_input_details()[0]["dtype"]).name
        sizes[v["name"]] = os.path.getsize(v["path"])
        assert read_metadata(v["path"])["labels"] == LABELS
    assert dtypes == {"float32": "float32", "int8_ptq": "uint8", "int8_qat": "uint8"}
    assert sizes["int8_ptq"] < sizes["float32"] / 2 and sizes["int8_qat"] < sizes["float32"] / 2
    assert {v["name"]: v["size_bytes"] for v in result["variants"]} == sizes


def test_tflite_accuracies_are_measured_and_real(demo):
    result, _, _ = demo
    by_name = {v["name"]: v for v in result["variants"]}
    # the float32 file computes what the Keras model does: within 1 point (3 of the 360 held-out digits)
    at_most("demo: |float32 file - Keras| accuracy", abs(by_name["float32"]["accuracy"] - result["test_accuracy"]), 0.01)
    for name in ("int8_ptq", "int8_qat"):
        at_least(f"demo: {name} file accuracy", by_name[name]["accuracy"], 0.3)  # chance is 0.1
    for v in result["variants"]:
        assert v["latency_ms"] > 0
        assert v["speedup"] == pytest.approx(by_name["float32"]["latency_ms"] / v["latency_ms"])


def test_table_json_and_plot(demo):
    result, stdout, output_dir = demo
    for stage in range(1, 6):
        assert f"[{stage}/5]" in stdout
    for v in result["variants"]:
        assert os.path.basename(v["path"]) in stdout
    assert "speed-up" in stdout and "test accuracy" in stdout
    with open(os.path.join(output_dir, PLOT_PNG), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
