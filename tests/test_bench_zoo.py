"""Smoke test of benchmarks/zoo.py on two models at a tiny resolution: builds, converts,
times against keras.applications' twin, writes JSON, Markdown and the plot, and
resumes from its conversion cache."""

import importlib.util
import json
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAPER_TOP1 = os.path.join(ROOT, "benchmarks", "paper_top1.json")


def _zoo():
    spec = importlib.util.spec_from_file_location("zoo", os.path.join(ROOT, "benchmarks", "zoo.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow  # three full-depth conversions (at 32x32)
def test_zoo_two_models_side_by_side_with_keras_applications(tmp_path):
    zoo = _zoo()
    work, out = tmp_path / "work", tmp_path / "out"
    argv = ["--models=mobilenet_v1_025,mobilenet_v1", "--resolution=32", "--noint8", "--warmup_runs=1", "--num_runs=3",
            "--rounds=2", f"--workdir={work}", f"--out={out}"]
    zoo.main(argv)

    data = json.loads((out / "zoo.json").read_text())
    # models with a keras.applications twin first (the twin after ours), then the rest
    assert [(r["variant"], r["name"]) for r in data["models"]] == [
        ("ours", "mobilenet_v1"), ("keras.applications", "mobilenet_v1"), ("ours", "mobilenet_v1_025")]
    records = {(r["variant"], r["name"]): r for r in data["models"]}
    ours, twin = records["ours", "mobilenet_v1"], records["keras.applications", "mobilenet_v1"]
    assert ours["params"] == twin["params"] == 4253864  # the same architecture, weight for weight
    assert ours["macs"] == twin["macs"] and ours["macs"] < records["ours", "mobilenet_v1_025"]["macs"] * 20
    for record in records.values():
        entry = record["files"]["float32"]
        assert entry.get("error") is None, entry
        assert entry["latency_ms"] > 0 and entry["size_bytes"] > 4 * record["params"] * 0.95
        assert entry["timed_runs"] == (6 if record["name"] == "mobilenet_v1" else 3)  # pairs: 2 alternating rounds
    assert data["meta"]["resolution"] == 32 and data["meta"]["modes"] == ["float32"]

    table = (out / "zoo.md").read_text()
    assert "**All models at 32x32**" in table
    row = next(line for line in table.splitlines() if line.startswith("| `mobilenet_v1` "))
    cells = [c.strip() for c in row.strip("|").split("|")]
    ratio = ours["files"]["float32"]["latency_ms"] / twin["files"]["float32"]["latency_ms"]
    assert cells[6] == f"{twin['files']['float32']['latency_ms']:.2f}" and cells[7] == f"{ratio:.2f}" and cells[-1] == "n/a"
    small_row = next(line for line in table.splitlines() if line.startswith("| `mobilenet_v1_025` "))
    assert small_row.count("| — |") == 1  # no keras.applications twin: no keras latency, no ratio
    png = (out / "zoo.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000

    # a second run reuses every converted file, and a zero time budget skips what is not cached
    before = {p.name: p.stat().st_mtime_ns for p in work.glob("*.tflite")}
    assert len(before) == 3
    zoo.main(argv + ["--models=mobilenet_v1*", "--noanchors", "--max_minutes=0", f"--accuracy={PAPER_TOP1}"])
    assert {p.name: p.stat().st_mtime_ns for p in work.glob("*.tflite")} == before
    records = json.loads((out / "zoo.json").read_text())["models"]
    assert [r["name"] for r in records if not r.get("skipped")] == ["mobilenet_v1", "mobilenet_v1_025"]
    assert {r["name"] for r in records if r.get("skipped")} == {"mobilenet_v1_050", "mobilenet_v1_075"}
    table = (out / "zoo.md").read_text()
    assert "Not converted within the run's time budget (2" in table
    # the papers' top-1 beside the measured latency, saying what it is
    assert "top-1: ImageNet top-1 as published" in table and "nor at this run's size" in table
    assert next(line for line in table.splitlines() if line.startswith("| `mobilenet_v1_025` ")).endswith("| 50.6% |")
    (out / "zoo.md").unlink()
    zoo.main([f"--out={out}", "--render_only"])  # the table and plot again, from zoo.json alone
    assert (out / "zoo.md").read_text() == table


def test_calibration_photos_are_real_varied_images():
    images = _zoo().photos(24, 8)
    assert images.shape == (8, 24, 24, 3) and images.dtype == "float32"
    assert 0 <= images.min() and images.max() <= 255 and images.std() > 30
    assert len({image.tobytes() for image in images}) == 8


def test_accuracy_files_name_registered_models_and_give_fractions(tmp_path):
    zoo = _zoo()
    top1, source = zoo.load_accuracy(PAPER_TOP1)
    assert top1["mobilenet_v3_large"] == 0.752 and source.startswith("ImageNet top-1 as published")
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps({"mobilenet_v2": 0.72}))
    assert zoo.load_accuracy(plain) == ({"mobilenet_v2": 0.72}, "trained figures from plain.json")
    for content, message in (({"mobilenet_v5": 0.8}, "no registered model is named mobilenet_v5"),
                             ({"mobilenet_v2": 72.0}, "write 0.72 for 72.0%")):
        plain.write_text(json.dumps(content))
        with pytest.raises(SystemExit, match=message):
            zoo.load_accuracy(plain)


def test_a_cifar_network_is_never_run_above_its_papers_size():
    zoo = _zoo()
    jobs = zoo.plan(zoo.parse_args(["--models=wrn_28_10,mobilenet_v1", "--resolution=128"]))
    assert {(j["name"], j["variant"]): j["resolution"] for j in jobs} == {
        ("wrn_28_10", "ours"): 32, ("mobilenet_v1", "ours"): 128, ("mobilenet_v1", "keras.applications"): 128}


def test_the_accuracy_front_keeps_the_most_accurate_model_for_its_latency():
    points = [(1.0, 50.0, "tiny"), (2.0, 60.0, "small"), (3.0, 55.0, "slow and worse"), (4.0, 70.0, "big"),
              (4.0, 65.0, "as slow, worse")]
    assert _zoo().accuracy_front(points) == [(1.0, 50.0, "tiny"), (2.0, 60.0, "small"), (4.0, 70.0, "big")]


def test_an_int8_file_with_float_fallback_is_marked_in_the_table():
    zoo = _zoo()
    meta = {"generated": "2026-11-30", "host": "cpu", "logical_cpus": 2, "litert": "2", "warmup_runs": 1, "num_runs": 3,
            "rounds": 2, "resolution": 128, "calibration": 8, "wall_seconds": 60, "command": "", "accuracy_source": None}
    record = {"variant": "ours", "name": "vit_ti16", "resolution": 128, "params": 5.7e6, "macs": 3e8, "accuracy": None,
              "files": {"float32": {"latency_ms": 4.0, "size_bytes": 23e6},
                        "int8": {"latency_ms": 3.0, "size_bytes": 6e6, "fully_integer": False, "float_ops": ["NEG"]}}}
    table = zoo.markdown([record], meta, ("float32", "int8"))
    row = next(line for line in table.splitlines() if line.startswith("| `vit_ti16` "))
    assert "| 3.00† |" in row and "| 1.33x |" in row
    assert "†: int8 with float fallback: op types TFLite's int8 kernels lack (NEG)" in table


def test_weights_load_each_models_set_and_its_published_top1_fills_the_column():
    """--weights=torchvision: a model with a torchvision set is built with it, its top-1
    cell is that set's published figure, marked, and the run says so; a model without
    one keeps random weights (re-estimated BatchNorm statistics) and n/a."""
    zoo = _zoo()
    args = zoo.parse_args(["--models=resnet18,mobilenet_v1", "--weights=torchvision", "--noanchors"])
    jobs = {job["name"]: job for job in zoo.plan(args)}
    assert jobs["resnet18"]["weights"] == "torchvision.IMAGENET1K_V1" and jobs["resnet18"]["weights_top1"] == 69.758
    assert "weights" not in jobs["mobilenet_v1"]  # keras.applications' files only
    assert zoo._key(jobs["resnet18"]).endswith("__224px__torchvision.IMAGENET1K_V1")
    assert zoo._key(jobs["mobilenet_v1"]).endswith("__224px__bn")  # the cache of random-weight runs stays valid
    v2 = zoo.plan(zoo.parse_args(["--models=resnet50", "--weights=torchvision.IMAGENET1K_V2", "--noanchors"]))
    assert v2[0]["weights_top1"] == 80.858

    meta = {"generated": "2026-12-05", "host": "cpu", "logical_cpus": 2, "litert": "2", "warmup_runs": 1, "num_runs": 3,
            "rounds": 2, "resolution": None, "calibration": 8, "wall_seconds": 60, "command": "", "accuracy_source": None,
            "weights": "torchvision"}
    files = {"float32": {"latency_ms": 4.0, "size_bytes": 4.7e7}}
    records = [{**jobs["resnet18"], "params": 11.7e6, "macs": 1.8e9, "accuracy": 0.69758, "files": files},
               {**jobs["mobilenet_v1"], "params": 4.2e6, "macs": 5.7e8, "accuracy": None, "files": files}]
    table = zoo.markdown(records, meta, ("float32",))
    assert next(line for line in table.splitlines() if line.startswith("| `resnet18` ")).endswith("| 69.8%‡ |")
    assert next(line for line in table.splitlines() if line.startswith("| `mobilenet_v1` ")).endswith("| n/a |")
    assert "Weights: each model's `torchvision` set where it has one (top-1 marked ‡" in table
    assert "top-1 otherwise: n/a (random weights)" in table


def test_the_zoo_is_of_classifiers():
    zoo = _zoo()
    chosen = zoo.select_models("*mobilenet_v3_large*")
    assert "mobilenet_v3_large" in chosen
    assert not [n for n in chosen if n.startswith(("lraspp", "deeplabv3"))]
