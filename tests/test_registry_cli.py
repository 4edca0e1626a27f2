"""The registry and the `lightnets` command (the main job: test_demo.py)."""

import json
import subprocess
import sys

import pytest

import keras_lightnets as kl


def test_list_models_filters_by_pattern():
    assert kl.list_models("mobilenet_v3_small*") == [
        "mobilenet_v3_small", "mobilenet_v3_small_075", "mobilenet_v3_small_minimalistic",
    ]
    assert kl.list_models("no_such_family*") == []
    assert kl.list_models() == sorted(kl.list_models())


def test_create_model_applies_registry_defaults_and_user_arguments():
    model = kl.create_model("mobilenet_v3_small_075", classes=10, input_shape=(96, 96, 3))
    assert model.name == "mobilenet_v3_small_075"
    assert model.input_shape == (None, 96, 96, 3)
    assert model.output_shape == (None, 10)
    # registry models take raw pixels
    assert model.get_layer("rescaling") is not None
    assert model.count_params() == kl.MobileNetV3Small(alpha=0.75, classes=10, input_shape=(96, 96, 3)).count_params()


def test_create_model_defaults_to_the_papers_static_resolution():
    assert kl.create_model("mobilenet_v3_large").input_shape == (None, 224, 224, 3)


def test_model_info_gives_paper_figures_and_measures():
    info = kl.model_info("mobilenet_v3_large")
    assert (info.arxiv, info.default_size, info.paper_params_m, info.paper_macs_m) == ("1905.02244", 224, 5.4, 219)
    assert info.reference == "keras.applications.MobileNetV3Large"
    assert info.measured is None
    measured = kl.model_info("mobilenet_v3_small", measure=True).measured
    assert measured.params == 2_554_968
    assert measured.macs == pytest.approx(56e6, rel=0.03)
    assert json.loads(json.dumps(kl.model_info("mobilenet_v1").to_dict()))["builder"] == "MobileNet"


def _lightnets(*args):
    return subprocess.run(
        [sys.executable, "-m", "keras_lightnets.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_cli_list_and_profile():
    listed = _lightnets("list", "--pattern=mobilenet_v2*")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split() == kl.list_models("mobilenet_v2*")
    profiled = _lightnets("profile", "--model=mobilenet_v3_small", "--json")
    assert profiled.returncode == 0, profiled.stderr
    report = json.loads(profiled.stdout)
    assert report["params"] == 2_554_968
    assert report["macs"] == pytest.approx(56e6, rel=0.03)


def test_cli_errors_are_one_clear_line():
    unknown = _lightnets("profile", "--model=mobilenet_v9")
    assert unknown.returncode == 2
    assert "Unknown model 'mobilenet_v9'" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    no_command = _lightnets()
    assert no_command.returncode != 0 and "Give a command" in no_command.stderr
    no_model = _lightnets("info")
    assert no_model.returncode != 0 and "--model is required" in no_model.stderr
