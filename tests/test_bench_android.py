"""The adb path against a fake `adb` on PATH (tests/fake_tools/adb) that emulates a
Pixel 7 and runs a fake benchmark_model: what is pushed, pinned, run, parsed, checked and
cleaned up, and a clear error for each way it can fail.

Nothing here was recorded from a phone. The fake tool's output is RECONSTRUCTED FROM THE
TOOL'S SOURCE, NOT RECORDED FROM A PHONE (tests/fake_tools/benchmark_model names the
tensorflow/tensorflow files and commits: benchmark_model.cc, benchmark_tflite_model.cc,
command_line_flags.cc, tool_params.h, the delegate providers); its timings are
representative numbers, not a measurement, and the phone's answers are written to look
like a Pixel 7's."""

import json
import os
import re
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "fake_tools"))

from fake_device import PIXEL_7  # noqa: E402
from fake_device import PIXEL_7_MAX_FREQ  # noqa: E402
from fake_device import FakeDevice  # noqa: E402
from fake_device import fake_elf  # noqa: E402
from fake_device import tiny_tflite  # noqa: E402

from keras_lightnets import bench  # noqa: E402
from keras_lightnets.bench import BenchmarkError  # noqa: E402
from keras_lightnets.bench import BenchmarkResult  # noqa: E402

SERIAL = "28161FDH2002KZ"


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    return tiny_tflite(str(tmp_path_factory.mktemp("model") / "tiny.tflite"))


@pytest.fixture
def arm64_binary(tmp_path):
    return fake_elf(str(tmp_path / "android_aarch64_benchmark_model"), "aarch64")


def _device(tmp_path, monkeypatch, **config):
    return FakeDevice(str(tmp_path), monkeypatch, **config)


def _shell_commands(device):
    return [call[call.index("shell") + 1] for call in device.calls() if "shell" in call]


def test_runs_pinned_to_the_big_cores_with_the_papers_protocol_and_cleans_up(tmp_path, monkeypatch, graph, arm64_binary):
    device = _device(tmp_path, monkeypatch)
    result = bench.run(graph, target="android", benchmark_binary=arm64_binary, enable_op_profiling=True)

    assert result.device["model"] == "Pixel 7" and result.device["soc"] == "Google GS201"
    assert result.device["android_version"] == "14" and result.device["abis"] == ["arm64-v8a"]
    assert result.device["cpus_used"] == [6, 7] and result.device["cpu_mask"] == "c0"  # Tensor G2's two big cores
    assert result.settings["runner"] == "benchmark_model (android, adb)"
    # the fake tool's (reconstructed, not measured) numbers, in microseconds
    assert result.stats["init_us"] == 33104 and result.stats["first_inference_us"] == 14518
    assert (result.stats["count"], result.stats["mean_us"], result.stats["std_us"]) == (95, 10586.3, 166)
    assert result.stats["p50_us"] is None and any("p50" in note for note in result.notes)
    assert result.op_profile["by_op_type"][0]["op_type"] == "Convolution (NHWC, F32) GEMM"
    assert result.memory["overall_mb"] == 17.0117
    # what the tool echoed of the flags it was given, checked and kept; XNNPACK as the runtime's default
    assert {k: result.settings["tool_settings"][k] for k in ("Num threads", "#threads used for CPU inference", "Min warmup runs",
                                                             "Min num runs", "Enable op profiling")} == \
        {"Num threads": "1", "#threads used for CPU inference": "1", "Min warmup runs": "5", "Min num runs": "50",
         "Enable op profiling": "1"}
    assert result.settings["tool_settings"]["Graph"].startswith("/data/local/tmp/lightnets_")
    assert result.settings["xnnpack"] == "the runtime's default delegate"
    assert "INFO: Initialized TensorFlow Lite runtime." in result.raw_output  # the Android build's line

    calls = device.calls()
    pushes = [c for c in calls if "push" in c]
    assert [os.path.basename(c[-2]) for c in pushes] == ["android_aarch64_benchmark_model", "tiny.tflite"]
    assert all(c[:2] == ["-s", SERIAL] for c in calls if c != ["devices"])
    run = [cmd for cmd in _shell_commands(device) if "--graph=" in cmd]
    assert len(run) == 1
    assert re.fullmatch(r"taskset c0 /data/local/tmp/lightnets_\d+_android_aarch64_benchmark_model "
                        r"--graph=/data/local/tmp/lightnets_\d+_tiny.tflite --num_threads=1 --warmup_runs=5 --num_runs=50 "
                        r"--min_secs=1 --warmup_min_secs=0.5 --max_secs=150 --enable_op_profiling=true", run[0])
    assert device.remote_files() == []  # binary and model removed
    assert result.settings["remote_command"].endswith(run[0])

    data = json.loads(result.to_json())
    assert data["model"]["sha256"] == result.model["sha256"] and len(data["model"]["sha256"]) == 64
    assert data["model"]["size_bytes"] == os.path.getsize(graph)
    assert BenchmarkResult.from_dict(data).to_dict() == result.to_dict()


def test_an_explicit_mask_is_used_and_checked(tmp_path, monkeypatch, graph, arm64_binary):
    device = _device(tmp_path, monkeypatch)
    result = bench.run(graph, target="android", benchmark_binary=arm64_binary, cpu_mask="f0", num_runs=20, warmup_runs=2)
    assert result.device["cpus_used"] == [4, 5, 6, 7]
    assert any(cmd.startswith("taskset f0 ") and "--num_runs=20 --min_secs" in cmd for cmd in _shell_commands(device))
    assert result.op_profile is None and result.op_profile_note is None
    with pytest.raises(ValueError, match=r"cpu_mask='300' names cores \[8, 9\] that Pixel 7 does not have"):
        bench.run(graph, target="android", benchmark_binary=arm64_binary, cpu_mask="300")
    with pytest.raises(ValueError, match="not a hexadecimal affinity mask"):
        bench.run(graph, target="android", benchmark_binary=arm64_binary, cpu_mask="big")


def test_without_adb_the_error_says_how_to_get_it(tmp_path, monkeypatch, graph, arm64_binary):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("ADB", raising=False)
    with pytest.raises(BenchmarkError, match="`adb` was not found on PATH: install Android platform-tools"):
        bench.run(graph, target="android", benchmark_binary=arm64_binary)


@pytest.mark.parametrize("devices, serial, message", [
    ({}, None, r"no Android device connected \(`adb devices` lists none\)"),
    ({"A1": "device", "B2": "device"}, None, r"several devices connected \(A1 \(device\), B2 \(device\)\): choose one with serial="),
    ({"A1": "device"}, "C3", r"device 'C3' is not connected; adb devices lists: A1 \(device\)"),
    ({"A1": "unauthorized"}, None, r"device 'A1' is unauthorized: unlock the phone and accept the 'Allow USB debugging\?' prompt"),
    ({"A1": "offline"}, None, r"device 'A1' is offline: reconnect the cable or run `adb reconnect`"),
])
def test_device_selection_errors(tmp_path, monkeypatch, graph, arm64_binary, devices, serial, message):
    device = _device(tmp_path, monkeypatch, devices=devices)
    with pytest.raises(BenchmarkError, match=message):
        bench.run(graph, target="android", benchmark_binary=arm64_binary, serial=serial)
    assert not any("push" in c for c in device.calls())


def test_serial_picks_one_of_several_devices(tmp_path, monkeypatch, graph, arm64_binary):
    device = _device(tmp_path, monkeypatch, devices={"A1": "device", SERIAL: "device"})
    result = bench.run(graph, target="android", benchmark_binary=arm64_binary, serial=SERIAL)
    assert result.device["serial"] == SERIAL
    assert all(c[:2] == ["-s", SERIAL] for c in device.calls() if c != ["devices"])


@pytest.mark.parametrize("arch, abilist, message", [
    ("x86_64", "arm64-v8a", r"'bm' is built for x86_64, but Pixel 7 runs arm64-v8a \(aarch64\): use the benchmark_model build"),
    ("aarch64", "armeabi-v7a,armeabi", r"is built for aarch64, but Pixel 7 runs armeabi-v7a, armeabi \(arm\)"),
])
def test_a_binary_for_another_architecture_is_refused_before_pushing(tmp_path, monkeypatch, graph, arch, abilist, message):
    device = _device(tmp_path, monkeypatch, props={**PIXEL_7, "ro.product.cpu.abilist": abilist})
    with pytest.raises(ValueError, match=message):
        bench.run(graph, target="android", benchmark_binary=fake_elf(str(tmp_path / "bm"), arch))
    assert not any("push" in c for c in device.calls())


def test_an_armv7_binary_runs_on_a_64_bit_phone_that_lists_armeabi(tmp_path, monkeypatch, graph):
    _device(tmp_path, monkeypatch, props={**PIXEL_7, "ro.product.cpu.abilist": "arm64-v8a,armeabi-v7a,armeabi"})
    result = bench.run(graph, target="android", benchmark_binary=fake_elf(str(tmp_path / "bm"), "arm"))
    assert result.stats["mean_us"] == 10152.6


def test_bad_binaries_and_models_are_clear_errors(tmp_path, monkeypatch, graph, arm64_binary):
    _device(tmp_path, monkeypatch)
    script = tmp_path / "benchmark_model.sh"
    script.write_text("#!/bin/sh\n")
    with pytest.raises(ValueError, match="is not an ELF executable"):
        bench.run(graph, target="android", benchmark_binary=str(script))
    with pytest.raises(ValueError, match="target='android' needs the official benchmark_model"):
        bench.run(graph, target="android")
    with pytest.raises(ValueError, match="does not exist"):
        bench.run(graph, target="android", benchmark_binary=str(tmp_path / "missing"))
    corrupt = tmp_path / "corrupt.tflite"
    corrupt.write_bytes(b"not a flatbuffer at all")
    with pytest.raises(ValueError, match="is not a TFLite model"):
        bench.run(str(corrupt), target="android", benchmark_binary=arm64_binary)


def test_a_device_that_disconnects_mid_run(tmp_path, monkeypatch, graph, arm64_binary):
    device = _device(tmp_path, monkeypatch, mode="disconnect")
    with pytest.raises(BenchmarkError, match=f"device '{SERIAL}' disconnected during the benchmark .*reconnect it and run again"):
        bench.run(graph, target="android", benchmark_binary=arm64_binary)
    assert any(cmd.startswith("rm -f ") for cmd in _shell_commands(device))  # cleanup was still attempted


def test_a_hung_run_times_out_and_is_cleaned_up(tmp_path, monkeypatch, graph, arm64_binary):
    device = _device(tmp_path, monkeypatch, mode="hang")
    with pytest.raises(BenchmarkError, match=f"the benchmark on {SERIAL} did not finish within 3 s"):
        bench.run(graph, target="android", benchmark_binary=arm64_binary, timeout=3)
    commands = _shell_commands(device)
    assert any(cmd.startswith("pkill -f /data/local/tmp/lightnets_") for cmd in commands)
    assert device.remote_files() == []


def test_a_failing_tool_is_reported_with_its_own_error_and_cleaned_up(tmp_path, monkeypatch, graph, arm64_binary):
    device = _device(tmp_path, monkeypatch, tool_mode="error")
    with pytest.raises(BenchmarkError, match="ERROR: Failed to apply GPU delegate.*exit status 1"):
        bench.run(graph, target="android", benchmark_binary=arm64_binary, use_gpu=True)
    assert any("--use_gpu=true" in cmd for cmd in _shell_commands(device))
    assert device.remote_files() == []


@pytest.mark.parametrize("use_xnnpack, reported", [(True, "explicit: the whole graph"), (False, "not used")])
def test_use_xnnpack_is_given_echoed_and_reported(tmp_path, monkeypatch, graph, arm64_binary, use_xnnpack, reported):
    device = _device(tmp_path, monkeypatch)
    result = bench.run(graph, target="android", benchmark_binary=arm64_binary, use_xnnpack=use_xnnpack)
    flag = f"--use_xnnpack={str(use_xnnpack).lower()}"
    assert any(cmd.endswith(flag) for cmd in _shell_commands(device))
    assert result.settings["tool_settings"]["Use xnnpack"] == str(int(use_xnnpack))
    assert result.settings["xnnpack"] == reported


@pytest.mark.parametrize("tool_env, kwargs, message", [
    # a wrapper script on the phone that rewrites --num_threads (the tool echoes what it got)
    ({"FAKE_BM_REWRITE": "num_threads=4"}, {},
     r"benchmark_model reports 'Num threads: \[4\]' but was asked for --num_threads=1: its numbers are not for the "
     r"settings asked for\. Likely cause: a wrapper script or vendor build that rewrites the flags"),
    # a build older than --use_xnnpack: the real tool warns "Unconsumed cmdline flags" and runs on
    ({"FAKE_BM_WITHOUT": "use_xnnpack"}, {"use_xnnpack": False},
     r"benchmark_model did not understand --use_xnnpack=false: it printed 'Unconsumed cmdline flags: "
     r"--use_xnnpack=false' and ran with its default instead.*a benchmark_model build older than the flag"),
])
def test_a_tool_that_ran_with_other_settings_is_an_error_and_cleaned_up(tmp_path, monkeypatch, graph, arm64_binary,
                                                                       tool_env, kwargs, message):
    device = _device(tmp_path, monkeypatch, tool_env=tool_env)
    with pytest.raises(BenchmarkError, match=message):
        bench.run(graph, target="android", benchmark_binary=arm64_binary, **kwargs)
    assert device.remote_files() == []


def test_without_cpufreq_the_run_is_not_pinned_and_says_so(tmp_path, monkeypatch, graph, arm64_binary):
    device = _device(tmp_path, monkeypatch, freqs={})
    result = bench.run(graph, target="android", benchmark_binary=arm64_binary)
    assert result.device["cpus_used"] is None
    assert any("not pinned" in note for note in result.notes)
    assert not any(cmd.startswith("taskset") for cmd in _shell_commands(device))


def test_max_freqs_pick_the_fastest_cluster():
    from keras_lightnets.bench.device_info import cpu_mask
    from keras_lightnets.bench.device_info import fastest_cluster
    from keras_lightnets.bench.device_info import parse_max_freqs

    text = "".join(f"/sys/devices/system/cpu/cpu{c}/cpufreq/cpuinfo_max_freq:{f}\n" for c, f in PIXEL_7_MAX_FREQ.items())
    assert cpu_mask(fastest_cluster(parse_max_freqs(text))) == "c0"
    pixel_2 = {0: 1900800, 1: 1900800, 2: 1900800, 3: 1900800, 4: 2457600, 5: 2457600, 6: 2457600, 7: 2457600}
    assert cpu_mask(fastest_cluster(pixel_2)) == "f0"  # the README's Pixel 2 example
    assert cpu_mask(fastest_cluster({c: 2000000 + 100 * (c == 10) for c in range(12)})) == "400"
