"""benchmarks/seed_spread.py finds every test that bounds a trained figure
(tests/figures.py) from the source, so no bound escapes the measurement of its
margin across seeds; and the figures helper records, then asserts."""

import importlib.util
import json
import pathlib

import pytest

import figures

TESTS = pathlib.Path(__file__).resolve().parent
ROOT = TESTS.parent


def _seed_spread():
    spec = importlib.util.spec_from_file_location("seed_spread", ROOT / "benchmarks" / "seed_spread.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_seed_spread_finds_every_test_that_bounds_a_trained_figure():
    found = _seed_spread().bounded_tests()
    for expected in ("tests/test_demo.py::test_training_learns_the_digits",
                     "tests/test_tflite_convert.py::test_int8_is_fully_integer_with_uint8_input_and_keeps_accuracy",
                     "tests/test_resnet.py::test_fit_reduces_loss_on_real_digits",
                     "tests/test_tflite_layer_norm.py::test_a_vision_transformer_is_fully_integer_in_both_integer_modes",
                     "tests/test_qat.py::test_qat_starts_at_the_float_model_fine_tunes_with_fit_and_keeps_its_accuracy_in_int8",
                     "tests/test_qat.py::test_without_representative_data_only_the_weights_get_ranges"):
        assert expected in found
    assert len(found) >= 22  # 22 when this was written
    assert all((ROOT / t.split("::")[0]).is_file() for t in found)


def test_figures_record_then_assert(tmp_path, monkeypatch):
    log = tmp_path / "figures.jsonl"
    monkeypatch.setenv("KL_FIGURES_LOG", str(log))
    monkeypatch.setenv("KL_SEED_OFFSET", "3")
    figures.at_least("accuracy", 0.8, 0.7)
    with pytest.raises(AssertionError, match="loss ratio: 0.6 is above its bound 0.5"):
        figures.at_most("loss ratio", 0.6, 0.5)
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(e["figure"], e["value"], e["relation"], e["bound"], e["seed_offset"]) for e in entries] == [
        ("accuracy", 0.8, ">=", 0.7, 3), ("loss ratio", 0.6, "<=", 0.5, 3)]
    assert entries[0]["test"].endswith("test_figures_record_then_assert")
