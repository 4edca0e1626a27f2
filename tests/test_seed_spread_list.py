"""Every test that bounds a trained figure (tests/figures.py) is one that
benchmarks/seed_spread.py reruns under several seeds, so no bound escapes the
measurement of its margin; and the figures helper records and asserts."""

import ast
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


def _tests_that_bound_figures():
    found = set()
    for path in sorted(TESTS.glob("test_*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                calls = {n.func.id for n in ast.walk(node) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
                if calls & {"at_least", "at_most"}:
                    found.add(f"tests/{path.name}::{node.name}")
    return found


def test_seed_spread_reruns_every_test_that_bounds_a_trained_figure():
    listed = set(_seed_spread().TRAINED_TESTS)
    bounded = _tests_that_bound_figures()
    assert len(bounded) >= 15
    missing = sorted(t for t in bounded if t not in listed and t.split("::")[0] not in listed)
    assert not missing, f"add these to TRAINED_TESTS in benchmarks/seed_spread.py: {missing}"
    assert all((ROOT / t.split("::")[0]).is_file() for t in listed)


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
