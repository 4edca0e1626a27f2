"""The host path for real (LiteRT in-process on a tiny converted model), the official
binary on the host (a fake benchmark_model), pinning and its undoing, the result format,
and the command line (`lightnets benchmark`, tflite/benchmark.py) in subprocesses.

The fake benchmark_model's output is RECONSTRUCTED FROM THE TOOL'S SOURCE, NOT RECORDED
(tests/fake_tools/benchmark_model names the tensorflow/tensorflow files and commits); its
timings are representative numbers, not a measurement."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "fake_tools"))

from fake_device import FAKE_BENCHMARK_MODEL  # noqa: E402
from fake_device import FakeDevice  # noqa: E402
from fake_device import fake_elf  # noqa: E402
from fake_device import tiny_tflite  # noqa: E402

from keras_lightnets import bench  # noqa: E402
from keras_lightnets.bench import BenchmarkError  # noqa: E402
from keras_lightnets.bench import BenchmarkResult  # noqa: E402
from keras_lightnets.bench import host  # noqa: E402
from keras_lightnets.bench.settings import Settings  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    return {"float32": tiny_tflite(str(folder / "tiny.tflite")), "int8": tiny_tflite(str(folder / "tiny_int8.tflite"), "int8")}


@pytest.fixture
def no_official_binary(monkeypatch, tmp_path):
    """PATH without benchmark_model, so the host path is the in-process interpreter."""
    monkeypatch.setenv("PATH", os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep)
                                               if not os.path.exists(os.path.join(p, "benchmark_model"))))


@pytest.mark.parametrize("mode", ["float32", "int8"])
def test_in_process_host_run_reports_the_tools_statistics(models, mode, no_official_binary):
    result = bench.run(models[mode], num_runs=30, warmup_runs=4, min_secs=0, warmup_min_secs=0)
    s = result.stats
    assert s["count"] == 30 and s["warmup_runs"] == 4
    assert 0 < s["min_us"] <= s["p50_us"] <= s["p90_us"] <= s["p99_us"] <= s["max_us"]
    assert s["min_us"] <= s["mean_us"] <= s["max_us"] and s["std_us"] >= 0
    assert s["init_us"] > 0 and s["first_inference_us"] > 0 and s["warmup_avg_us"] > 0
    assert result.settings["runner"].startswith("LiteRT interpreter in-process")
    assert result.settings["num_threads"] == 1 and result.settings["batch_size"] == 1
    assert result.device["kind"] == "host" and result.device["platform"]
    assert result.memory["peak_rss_mb"] > 0 and "getrusage" in result.memory["method"]
    assert result.model["size_bytes"] == os.path.getsize(models[mode])
    assert result.median_ms == pytest.approx(s["p50_us"] / 1e3)


def test_min_secs_extends_the_runs_like_the_tool(models, no_official_binary):
    result = bench.run(models["float32"], num_runs=1, warmup_runs=0, min_secs=0.3, warmup_min_secs=0)
    assert result.stats["count"] > 1  # kept running for 0.3 s
    assert result.stats["warmup_runs"] == 0 and result.stats["warmup_avg_us"] is None
    assert any("warmup_runs=0" in note for note in result.notes)


def test_in_process_op_profiling_is_absent_with_the_reason(models, no_official_binary):
    result = bench.run(models["float32"], num_runs=3, warmup_runs=1, min_secs=0, warmup_min_secs=0,
                       enable_op_profiling=True, use_xnnpack=False)
    assert result.op_profile is None
    assert "no per-op timer" in result.op_profile_note and "--benchmark_binary" in result.op_profile_note
    assert result.settings["use_xnnpack"] is False
    assert json.loads(result.to_json())["op_profile"] is None
    with pytest.raises(ValueError, match="use_gpu needs the official benchmark_model binary"):
        bench.run(models["float32"], use_gpu=True)


def test_host_with_the_official_binary_parses_its_output_and_profile(models, tmp_path):
    result = bench.run(models["float32"], benchmark_binary=FAKE_BENCHMARK_MODEL, enable_op_profiling=True,
                       cpu_mask=format(1 << min(os.sched_getaffinity(0)), "x"))
    assert result.settings["runner"] == "benchmark_model (host)"
    assert result.device["cpus_used"] == [min(os.sched_getaffinity(0))]
    assert (result.stats["count"], result.stats["mean_us"]) == (95, 10586.3)
    assert result.settings["tool_settings"]["Enable op profiling"] == "1"
    assert result.settings["tool_settings"]["Graph"] == os.path.abspath(models["float32"])
    assert result.op_profile["by_op_type"][1]["op_type"] == "Convolution (NHWC, F32) DWConv"
    assert "Operator-wise Profiling Info" in result.raw_output and "raw_output" not in result.to_dict()
    path = result.save(str(tmp_path / "r.json"))
    assert BenchmarkResult.load(path).op_profile == result.op_profile
    # a save that fails half way keeps the previous file whole, and leaves no temporary
    result.settings["unserializable"] = object()
    with pytest.raises(TypeError):
        result.save(path)
    assert BenchmarkResult.load(path).op_profile == result.op_profile and os.listdir(tmp_path) == ["r.json"]
    del result.settings["unserializable"]
    assert "Convolution (NHWC, F32) GEMM 48.3%" in str(result)


@pytest.mark.parametrize("runner", ["benchmark_model", "in-process"])
def test_a_pinned_run_restores_the_affinity_it_found(models, tmp_path, monkeypatch, no_official_binary, runner):
    original = os.sched_getaffinity(0)
    cpus = sorted(original)
    found = set(cpus[:2])  # the caller's affinity: a proper subset of the CPUs where there are more than 2
    target = cpus[1] if len(cpus) > 1 else cpus[0]  # the run is pinned to one of them
    inside = []  # the affinity seen during the run
    if runner == "benchmark_model":
        record = tmp_path / "affinity.json"
        monkeypatch.setenv("FAKE_BM_AFFINITY_FILE", str(record))
        kwargs = {"benchmark_binary": FAKE_BENCHMARK_MODEL}
    else:
        set_inputs = host._set_random_inputs
        monkeypatch.setattr(host, "_set_random_inputs",
                            lambda interpreter: (inside.append(os.sched_getaffinity(0)), set_inputs(interpreter)))
        kwargs = {"num_runs": 3, "warmup_runs": 1, "min_secs": 0, "warmup_min_secs": 0}
    calls = []  # every affinity change, observed on its way to the kernel
    set_affinity = os.sched_setaffinity
    try:
        os.sched_setaffinity(0, found)
        monkeypatch.setattr(os, "sched_setaffinity", lambda pid, mask: (calls.append(set(mask)), set_affinity(pid, mask)))
        result = bench.run(models["float32"], cpu_mask=format(1 << target, "x"), **kwargs)
        after = os.sched_getaffinity(0)
    finally:
        set_affinity(0, original)
    if runner == "benchmark_model":
        inside.append(set(json.loads(record.read_text())))
    assert result.device["cpus_used"] == [target]
    assert inside == [{target}]  # pinned while it ran
    assert after == found  # and given back: the affinity it found, not all CPUs and not the pinned one
    assert calls == [{target}, found]  # (on a 1-CPU machine found == {target}: this is what shows the undo)


def test_official_binary_found_on_path_is_used(models, tmp_path, monkeypatch):
    os.symlink(FAKE_BENCHMARK_MODEL, tmp_path / "benchmark_model")
    monkeypatch.setenv("PATH", str(tmp_path) + os.pathsep + os.environ["PATH"])
    assert bench.run(models["float32"]).settings["runner"] == "benchmark_model (host)"


def test_host_errors_are_clear(models, tmp_path, monkeypatch, no_official_binary):
    with pytest.raises(ValueError, match="does not exist"):
        bench.run(str(tmp_path / "missing.tflite"))
    corrupt = tmp_path / "corrupt.tflite"
    corrupt.write_bytes(b"\0" * 64)
    with pytest.raises(ValueError, match="is not a TFLite model"):
        bench.run(str(corrupt))
    with pytest.raises(ValueError, match="is built for aarch64 and cannot run on this x86_64 host"):
        bench.run(models["float32"], benchmark_binary=fake_elf(str(tmp_path / "bm"), "aarch64"))
    with pytest.raises(ValueError, match="target must be one of"):
        bench.run(models["float32"], target="ios")
    with pytest.raises(ValueError, match="num_runs must be an integer >= 1"):
        bench.run(models["float32"], num_runs=0)
    with pytest.raises(ValueError, match="cores .* that this process may not use"):
        bench.run(models["float32"], cpu_mask=format(1 << 63, "x"))
    monkeypatch.setenv("FAKE_BM_MODE", "hang")
    with pytest.raises(BenchmarkError, match="benchmark_model did not finish within 2 s"):
        bench.run(models["float32"], benchmark_binary=FAKE_BENCHMARK_MODEL, timeout=2)
    monkeypatch.setenv("FAKE_BM_MODE", "error")
    with pytest.raises(BenchmarkError, match="Failed to apply GPU delegate.*exit status 1"):
        bench.run(models["float32"], benchmark_binary=FAKE_BENCHMARK_MODEL, use_gpu=True)


@pytest.mark.parametrize("env, misspell, message", [
    ({}, True, r"benchmark_model did not understand --num_thread=1: it printed 'Unconsumed cmdline flags: "
               r"--num_thread=1' and ran with its default instead.*Likely cause: a misspelt flag"),
    ({"FAKE_BM_REWRITE": "warmup_runs=1"}, False,
     r"benchmark_model reports 'Min warmup runs: \[1\]' but was asked for --warmup_runs=5"),
    ({"FAKE_BM_WITHOUT": "enable_op_profiling"}, False, r"did not understand --enable_op_profiling=true"),
])
def test_a_tool_that_did_not_run_with_the_flags_asked_is_an_error(models, monkeypatch, env, misspell, message):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    if misspell:  # as if the wrapper had a typo: the real tool only warns, then runs with num_threads=-1 (its default)
        flags = Settings.tool_flags
        monkeypatch.setattr(Settings, "tool_flags", lambda self, graph: [f.replace("--num_threads=", "--num_thread=")
                                                                         for f in flags(self, graph)])
    with pytest.raises(BenchmarkError, match=message):
        bench.run(models["float32"], benchmark_binary=FAKE_BENCHMARK_MODEL, enable_op_profiling=True)


def test_errors_become_one_line_and_an_exit_status(capsys):
    from keras_lightnets.bench.cli import main_errors

    def broken():
        raise BenchmarkError("device 'A1' is offline")

    with pytest.raises(SystemExit) as exit_info:
        main_errors("lightnets benchmark", broken)
    assert exit_info.value.code == 1
    assert capsys.readouterr().err == "lightnets benchmark: error: device 'A1' is offline\n"


def _run(command, env=None):
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})})


def test_cli_benchmarks_on_the_host_and_writes_json(models, tmp_path):
    out = tmp_path / "result.json"
    completed = _run([sys.executable, "-m", "keras_lightnets.cli", "benchmark", f"--graph={models['int8']}",
                      "--num_runs=5", "--warmup_runs=1", "--min_secs=0", "--warmup_min_secs=0", f"--json={out}"],
                     env={"PATH": os.path.dirname(sys.executable) + os.pathsep + "/usr/bin:/bin"})
    assert completed.returncode == 0, completed.stderr
    assert "inference over 5 runs" in completed.stdout and f"wrote {out}" in completed.stdout
    data = json.loads(out.read_text())
    assert data["schema"] == "keras_lightnets.bench/1" and data["stats"]["count"] == 5
    assert data["model"]["path"] == os.path.abspath(models["int8"])


def test_absl_app_benchmarks_on_android(models, tmp_path, monkeypatch):
    device = FakeDevice(str(tmp_path), monkeypatch)
    binary = fake_elf(str(tmp_path / "android_aarch64_benchmark_model"), "aarch64")
    out = tmp_path / "android.json"
    command = [sys.executable, "tflite/benchmark.py", f"--graph={models['float32']}", "--target=android",
               f"--benchmark_binary={binary}", "--num_threads=1", "--warmup_runs=5", "--num_runs=50",
               "--enable_op_profiling", f"--json={out}"]
    completed = _run(command)
    assert completed.returncode == 0, completed.stderr
    result = json.loads(out.read_text())
    assert result["device"]["model"] == "Pixel 7" and result["device"]["cpu_mask"] == "c0"
    assert result["op_profile"]["by_op_type"][0]["share"] == pytest.approx(0.4827, abs=1e-4)
    assert np.isclose(result["stats"]["mean_us"], 10586.3)
    assert device.remote_files() == []
