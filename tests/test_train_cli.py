"""`lightnets train`: an interrupted run resumes at its first unfinished epoch, with its
optimizer state; the same loop under MirroredStrategy on two logical CPUs; errors
are one line. Subprocesses: the CLI as users run it, and TF's device setup, which
must happen before TensorFlow initialises."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from keras_lightnets.training import loop

MODEL = "mobilenet_v1_025"  # the quickest registered model to build and fit
ARGS = [f"--model={MODEL}", "--image_size=32", "--batch_size=128"]
STEPS = 1437 // 128  # the digits' training split, full batches


def _env(**extra):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    env.pop(loop.STOP_AFTER_EPOCH_ENV, None)
    env.update(extra)
    return env


def _lightnets(*args, **env):
    return subprocess.run([sys.executable, "-m", "keras_lightnets.cli", "train", *args], capture_output=True,
                          text=True, env=_env(**env), timeout=900)


def test_interrupted_run_resumes_at_the_next_epoch(tmp_path):
    out = str(tmp_path / "run")
    first = _lightnets(*ARGS, "--epochs=2", f"--output_dir={out}", **{loop.STOP_AFTER_EPOCH_ENV: "1"})
    assert first.returncode == 3, first.stderr[-3000:]
    assert "interrupted: stopped after epoch 1" in first.stderr and "Traceback" not in first.stderr
    with open(os.path.join(out, "backup", "training_metadata.json")) as f:
        assert json.load(f)["epoch"] == 1

    second = _lightnets(*ARGS, "--epochs=2", f"--output_dir={out}")
    assert second.returncode == 0, second.stderr[-3000:]
    assert "Epoch 2/2" in second.stdout and "Epoch 1/2" not in second.stdout
    summary = json.loads(second.stdout[second.stdout.index("{\n"):])
    assert summary["resumed_after_epoch"] == 1 and summary["recipe"] == "mobilenet_v1"
    with open(os.path.join(out, "history.json")) as f:
        epochs = json.load(f)["epochs"]
    assert [e["epoch"] for e in epochs] == [1, 2]
    # The optimizer's state came back with the weights: its step count goes on.
    assert [e["iterations"] for e in epochs] == [STEPS, 2 * STEPS]
    assert all(np.isfinite(e["loss"]) and "val_accuracy" in e for e in epochs)
    assert not os.path.exists(os.path.join(out, "backup"))  # finished runs clean up
    assert any(name.startswith("events.out") for name in os.listdir(os.path.join(out, "logs", "train")))

    model = keras.saving.load_model(summary["model_path"], safe_mode=True)
    from keras_lightnets.data import load_digits

    _, (x_test, _) = load_digits(image_size=32)
    probs = model.predict(x_test[:4].astype("float32"), verbose=0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert probs.shape == (4, 10)


def test_cli_errors_are_one_line(tmp_path, capsys):
    from keras_lightnets import cli

    with pytest.raises(SystemExit) as exit_:
        cli.main(["lightnets", "train", "--model=mobilenet_v9", f"--output_dir={tmp_path}"])
    assert exit_.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("lightnets train: error: Unknown model 'mobilenet_v9'. Did you mean")


def test_train_errors(tmp_path):
    with pytest.raises(ValueError, match="Unknown tensorflow-datasets name 'digitz'"):
        loop.train(MODEL, "digitz", output_dir=str(tmp_path / "a"))
    with pytest.raises(ValueError, match="No training recipe for 'nope'"):
        loop.train(MODEL, recipe="nope", image_size=32, output_dir=str(tmp_path / "b"))
    # A folder holding another run's backup is not silently mixed with a new run.
    out = tmp_path / "c"
    os.makedirs(out / "backup")
    (out / "backup" / "training_metadata.json").write_text('{"epoch": 1, "batch": 0}')
    (out / "run.json").write_text(json.dumps({"model": "resnet18", "dataset": "digits", "image_size": 32,
                                              "batch_size": 32, "recipe": "auto", "num_classes": 10}))
    with pytest.raises(ValueError, match=r"holds an interrupted run with other settings \(model 'resnet18' -> "):
        loop.train(MODEL, image_size=32, output_dir=str(out))


MIRRORED = textwrap.dedent("""
    import json, sys
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])

    from keras_lightnets.training import train

    result = train("mobilenet_v1_025", "digits", epochs=1, batch_size=128, image_size=32,
                   output_dir=sys.argv[1], strategy=strategy, verbose=0)
    kernel = result.model.get_layer("conv1").kernel
    replicas = [v.numpy() for v in strategy.experimental_local_results(kernel.value)]
    print(json.dumps({
        "replicas": strategy.num_replicas_in_sync,
        "kernel_copies": len(replicas),
        "copies_equal": all(bool((r == replicas[0]).all()) for r in replicas),
        "optimizer_strategy": type(result.model.optimizer._distribution_strategy).__name__,
        "history": result.history,
    }))
""")


def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
    result = subprocess.run([sys.executable, "-c", MIRRORED, str(tmp_path / "run")], capture_output=True, text=True,
                            env=_env(), timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2 and report["kernel_copies"] == 2 and report["copies_equal"]
    assert report["optimizer_strategy"] == "MirroredStrategy"
    (epoch,) = report["history"]
    assert epoch["iterations"] == STEPS and np.isfinite(epoch["loss"]) and 0 <= epoch["val_accuracy"] <= 1
