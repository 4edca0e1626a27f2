"""The official benchmark_model's output: the parser of its statistics, and the check of
its settings block against the flags it was given.

The transcripts are the fake benchmark_model's (tests/fake_tools/benchmark_model), which
is RECONSTRUCTED FROM THE TOOL'S SOURCE, NOT RECORDED FROM A PHONE: its docstring names the
tensorflow/tensorflow files and commits each line comes from. One independent check is
here: the settings block and XNNPACK lines it prints for --num_threads=4
--use_xnnpack=true/false equal a vendor's published transcript of TF 2.18's tool
(TexasInstruments/processor-sdk-doc, source/linux/Foundational_Components/
Machine_Learning/tflite.rst @ b04bc774)."""

import os
import re
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "fake_tools"))

from fake_device import run_fake_tool  # noqa: E402

from keras_lightnets.bench import BenchmarkError  # noqa: E402
from keras_lightnets.bench import official_output as oo  # noqa: E402
from keras_lightnets.bench import tool_settings  # noqa: E402
from keras_lightnets.bench.settings import Settings  # noqa: E402

MODEL_BYTES = 123_456  # the tool prints the --graph file's size: 0.123456 MB


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "m.tflite"
    path.write_bytes(b"\0" * MODEL_BYTES)  # the fake only stats the file
    return str(path)


def _output(flags, env=None):
    """stdout + stderr, as the wrapper reads them."""
    completed = run_fake_tool(flags, env=env)
    return completed.stdout + completed.stderr


def _block(stdout):
    """The settings block: the lines between STARTING! and Loaded model."""
    lines = stdout.splitlines()
    return lines[1:next(i for i, line in enumerate(lines) if line.startswith("INFO: Loaded model"))]


def test_plain_run_gives_the_tools_statistics_in_microseconds(graph):
    parsed = oo.parse(_output(Settings().tool_flags(graph)))
    assert parsed["init_us"] == 28713 and parsed["first_inference_us"] == 13872
    assert parsed["warmup_avg_us"] == 10247.2 and parsed["inference_avg_us"] == 10152.6
    # 49 warm-up runs fill 0.5 s at 10247.2 us; 99 timed runs fill 1 s at 10152.6 us (the tool's loop)
    assert parsed["warmup"] == {"count": 49, "first": 13872, "curr": 10204, "min": 10011, "max": 13872, "avg": 10247.2, "std": 512}
    assert parsed["inference"] == {"count": 99, "first": 10230, "curr": 10118, "min": 9973, "max": 10794, "avg": 10152.6, "std": 141}
    assert parsed["memory"] == {"init_mb": 14.6641, "overall_mb": 16.4375}
    assert parsed["model_size_mb"] == MODEL_BYTES / 1e6
    assert parsed["op_profile"] is None


def test_op_profile_is_the_regular_runs_summary_by_node_type(graph):
    parsed = oo.parse(_output(Settings(enable_op_profiling=True).tool_flags(graph)))
    profile = parsed["op_profile"]
    # the initialization profile (ModifyGraphWithDelegate, AllocateTensors) is not part of it
    types = [row["op_type"] for row in profile["by_op_type"]]
    assert "ModifyGraphWithDelegate" not in types and "AllocateTensors" not in types
    assert types[:4] == ["Convolution (NHWC, F32) GEMM", "Convolution (NHWC, F32) DWConv", "HardSwish (NC, F32)",
                         "Convolution (NHWC, F32) IGEMM"]
    gemm = profile["by_op_type"][0]
    assert (gemm["count"], gemm["avg_ms"], gemm["times_called"], gemm["reported_percent"]) == (42, 4.855, 42, 48.265)
    assert gemm["share"] == pytest.approx(4.855 / profile["total_ms"])
    assert sum(row["share"] for row in profile["by_op_type"]) == pytest.approx(1.0, abs=1e-5)
    assert sum(row["count"] for row in profile["by_op_type"]) == profile["nodes_observed"] == 111
    assert profile["runs"] == parsed["inference"]["count"] == 95 and profile["total_ms"] == pytest.approx(10.059)
    # the share we recompute agrees with the tool's own rounded percentage
    for row in profile["by_op_type"]:
        assert row["share"] * 100 == pytest.approx(row["reported_percent"], abs=0.01)


def test_the_settings_block_echoes_the_flags_given_and_only_those(graph):
    flags = Settings(num_threads=4, warmup_runs=2, num_runs=20, min_secs=0.25, use_xnnpack=True,
                     enable_op_profiling=True).tool_flags(graph)
    assert _block(run_fake_tool(flags).stdout) == [
        "INFO: Log parameter values verbosely: [0]",
        "INFO: Min num runs: [20]",
        "INFO: Min runs duration (seconds): [0.25]",
        "INFO: Max runs duration (seconds): [150]",
        "INFO: Num threads: [4]",
        "INFO: Min warmup runs: [2]",
        "INFO: Min warmup runs duration (seconds): [0.5]",
        f"INFO: Graph: [{graph}]",
        "INFO: Signature to run: []",
        "INFO: Enable op profiling: [1]",
        "INFO: #threads used for CPU inference: [4]",
        "INFO: Use xnnpack: [1]",
    ]
    # a parameter no flag set is not printed (LOG_TOOL_PARAM), except Graph and Signature to run
    assert _block(run_fake_tool([f"--graph={graph}"]).stdout) == [
        "INFO: Log parameter values verbosely: [0]", f"INFO: Graph: [{graph}]", "INFO: Signature to run: []"]


@pytest.mark.parametrize("flags, warmup, timed", [
    (["--num_runs=300"], 49, 300),                                      # more runs than 1 s holds
    (["--num_runs=20", "--min_secs=0"], 49, 20),                        # exactly num_runs
    (["--warmup_runs=0", "--warmup_min_secs=0", "--num_runs=3", "--min_secs=0"], 0, 3),
    (["--num_runs=100", "--min_secs=0", "--max_secs=0.05"], 5, 5),      # no run starts after 50 ms
    (["--num_runs=1", "--min_secs=0"], 49, 1),
])
def test_run_counts_follow_the_flags_as_the_tools_loop_does(graph, flags, warmup, timed):
    parsed = oo.parse(_output([f"--graph={graph}", *flags]))
    assert (parsed["warmup"]["count"], parsed["inference"]["count"]) == (warmup, timed)
    if timed == 1:  # Stat prints `count=1 curr=X` when every run took the same time
        assert parsed["inference"]["std"] == 0 and parsed["inference_avg_us"] == parsed["inference"]["curr"]
    if warmup == 0:  # an empty Stat: first() 0, avg() int64's quiet_NaN, which is 0
        assert parsed["first_inference_us"] == 0 and parsed["warmup_avg_us"] == 0


# TexasInstruments/processor-sdk-doc, source/linux/Foundational_Components/Machine_Learning/tflite.rst
# @ b04bc774: TF 2.18's benchmark_model on an AM62x board (a Linux host build), stdout and stderr
# as a terminal shows them, up to the model file size line.
_TI_GRAPH = "/usr/share/oob-demo-assets/models/ssd_mobilenet_v2_coco.tflite"
_TI_HEAD = ["INFO: STARTING!", "INFO: Log parameter values verbosely: [0]", "INFO: Num threads: [4]",
            f"INFO: Graph: [{_TI_GRAPH}]", "INFO: Signature to run: []", "INFO: #threads used for CPU inference: [4]"]
_TI_TRANSCRIPTS = {
    "true": _TI_HEAD + ["INFO: Use xnnpack: [1]", f"INFO: Loaded model {_TI_GRAPH}",
                        "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.", "INFO: XNNPACK delegate created.",
                        "INFO: Explicitly applied XNNPACK delegate, and the model graph will be partially executed by "
                        "the delegate w/ 1 delegate kernels.",
                        "INFO: The input model file size (MB): 67.3128"],
    "false": _TI_HEAD + ["INFO: Use xnnpack: [0]", f"INFO: Loaded model {_TI_GRAPH}",
                         "INFO: The input model file size (MB): 67.3128"],
}
# Their SSD has ops XNNPACK lacks; the fake's model (MobileNetV3-Small) is delegated whole.
_OURS = {"partially executed by the delegate w/ 1 delegate kernels.": "completely executed by the delegate."}


@pytest.mark.parametrize("use_xnnpack", ["true", "false"])
def test_the_fake_prints_what_a_published_tf_2_18_transcript_shows(tmp_path, use_xnnpack):
    graph = tmp_path / _TI_GRAPH.lstrip("/")
    graph.parent.mkdir(parents=True)
    with open(graph, "wb") as f:
        f.truncate(67_312_800)  # their file's size (sparse: no disk used)
    lines = run_fake_tool([f"--graph={_TI_GRAPH}", "--num_threads=4", f"--use_xnnpack={use_xnnpack}"],
                          env={"FAKE_BM_ROOT": str(tmp_path)}, merged=True).stdout.splitlines()
    expected = _TI_TRANSCRIPTS[use_xnnpack]
    for theirs, ours in _OURS.items():
        expected = [line.replace(theirs, ours) for line in expected]
    assert lines[:len(expected)] == expected


@pytest.mark.parametrize("use_xnnpack, stdout_lines, stderr_lines", [
    # not given: no explicit delegate; the runtime applies XNNPACK by default in AllocateTensors
    (None, [], ["INFO: Created TensorFlow Lite XNNPACK delegate for CPU."]),
    (True, ["INFO: Use xnnpack: [1]", "INFO: XNNPACK delegate created.",
            "INFO: Explicitly applied XNNPACK delegate, and the model graph will be completely executed by the delegate."],
     ["INFO: Created TensorFlow Lite XNNPACK delegate for CPU."]),
    # false: BuiltinOpResolverWithoutDefaultDelegates, no XNNPACK at all
    (False, ["INFO: Use xnnpack: [0]"], []),
])
@pytest.mark.parametrize("platform", ["linux", "android"])
def test_xnnpack_lines_follow_use_xnnpack(graph, use_xnnpack, stdout_lines, stderr_lines, platform):
    completed = run_fake_tool(Settings(use_xnnpack=use_xnnpack).tool_flags(graph), env={"FAKE_BM_PLATFORM": platform})
    assert completed.returncode == 0
    xnnpack_stdout = [line for line in completed.stdout.splitlines() if "xnnpack" in line.lower()]
    assert xnnpack_stdout == stdout_lines
    # the runtime's own log (minimal_logging, stderr); "Initialized TensorFlow Lite runtime." only on mobile
    assert completed.stderr.splitlines() == (["INFO: Initialized TensorFlow Lite runtime."] if platform == "android" else []) + stderr_lines
    report = {None: "the runtime's default delegate", True: "explicit: the whole graph", False: "not used"}[use_xnnpack]
    assert tool_settings.xnnpack_report(completed.stdout + completed.stderr) == report


def test_an_unknown_or_bare_flag_is_only_warned_about_and_the_run_goes_on(graph):
    completed = run_fake_tool([f"--graph={graph}", "--num_thread=1", "--enable_op_profiling"])
    assert completed.returncode == 0  # as the real tool: a warning, then the defaults
    assert "WARN: Unconsumed cmdline flags: --num_thread=1 --enable_op_profiling" in completed.stdout.splitlines()
    assert "Num threads" not in completed.stdout and "Enable op profiling" not in completed.stdout
    assert oo.parse(completed.stdout)["op_profile"] is None


def test_a_value_that_does_not_parse_stops_the_tool(graph):
    completed = run_fake_tool([f"--graph={graph}", "--num_threads=two", "--use_xnnpack=yes"])
    assert completed.returncode == 1
    errors = completed.stderr.splitlines()
    assert errors[:2] == ["ERROR: Failed to parse flag 'num_threads' against argv '--num_threads=two'",
                          "ERROR: Failed to parse flag 'use_xnnpack' against argv '--use_xnnpack=yes'"]
    assert errors[-1] == "ERROR: Benchmarking failed." and "Log parameter values" not in completed.stdout
    with pytest.raises(oo.OfficialOutputError, match="Failed to parse flag 'num_threads' against argv '--num_threads=two'"):
        oo.parse(completed.stdout + completed.stderr)


# --- the wrapper's check of the settings block (keras_lightnets.bench.tool_settings) ---

def test_every_flag_the_wrapper_can_give_has_a_known_echo(graph):
    everything = Settings(use_xnnpack=False, use_gpu=True, enable_op_profiling=True).tool_flags(graph)
    assert {flag[2:].split("=")[0] for flag in everything} == set(tool_settings.ECHOES)


def test_the_settings_the_tool_echoes_are_accepted_and_returned(graph):
    flags = Settings(num_threads=2, min_secs=0.1, use_xnnpack=True).tool_flags(graph)
    echoed = tool_settings.check(flags, _output(flags))
    assert echoed["Num threads"] == echoed["#threads used for CPU inference"] == "2"
    assert (echoed["Min runs duration (seconds)"], echoed["Use xnnpack"], echoed["Graph"]) == ("0.1", "1", graph)


@pytest.mark.parametrize("env, make_flags, message", [
    # a wrapper script in front of the tool rewrites --num_threads
    ({"FAKE_BM_REWRITE": "num_threads=4"}, None,
     r"benchmark_model reports 'Num threads: \[4\]' but was asked for --num_threads=1: its numbers are not for the "
     r"settings asked for\. Likely cause: a wrapper script or vendor build that rewrites the flags"),
    ({"FAKE_BM_REWRITE": "min_secs=2"}, None, r"reports 'Min runs duration \(seconds\): \[2\]' but was asked for --min_secs=1"),
    # a build from before --use_xnnpack existed
    ({"FAKE_BM_WITHOUT": "use_xnnpack"}, None,
     r"benchmark_model did not understand --use_xnnpack=true: it printed 'Unconsumed cmdline flags: "
     r"--use_xnnpack=true' and ran with its default instead.*a misspelt flag, or a benchmark_model build older than the flag"),
    # a misspelt flag: the real tool only warns
    ({}, lambda flags: [f.replace("--num_threads=", "--num_thread=") for f in flags],
     r"did not understand --num_thread=1: .*Likely cause: a misspelt flag"),
])
def test_a_tool_that_ran_with_other_settings_is_an_error(graph, env, make_flags, message):
    flags = Settings(use_xnnpack=True).tool_flags(graph)
    given = make_flags(flags) if make_flags else flags
    output = _output(given, env=env)
    assert oo.parse(output)["inference_avg_us"] == 10152.6  # the run itself "succeeded"
    with pytest.raises(BenchmarkError, match=message):
        tool_settings.check(given, output)


def test_a_setting_the_tool_did_not_echo_is_an_error(graph):
    flags = Settings().tool_flags(graph)
    output = "\n".join(line for line in _output(flags).splitlines() if "Min warmup runs:" not in line)
    with pytest.raises(BenchmarkError, match=r"benchmark_model did not echo --warmup_runs=5 \(no 'Min warmup runs: "
                                             r"\[\.\.\.\]' line in its settings block\)"):
        tool_settings.check(flags, output)


def test_builds_that_print_without_the_severity_prefix_are_read():
    text = "STARTING!\nUnconsumed cmdline flags: --allow_fp16\nLog parameter values verbosely: [0]\nNum threads: [4]\n"
    assert tool_settings.unconsumed_flags(text) == ["--allow_fp16"]
    assert tool_settings.echoed_settings(text) == {"Log parameter values verbosely": "0", "Num threads": "4"}


# --- the statistics parser on the stat-line variants TensorFlow has printed ---

@pytest.mark.parametrize("line, expected", [
    ("INFO: count=50 first=79449 curr=81350 min=77385 max=88213 avg=79732 std=1929",
     {"count": 50, "first": 79449, "curr": 81350, "min": 77385, "max": 88213, "avg": 79732, "std": 1929}),
    # TensorFlow 1.x order: curr first, no `first`
    ("curr=81350 count=50 min=77385 max=88213 avg=79732 std=1929",
     {"count": 50, "curr": 81350, "min": 77385, "max": 88213, "avg": 79732, "std": 1929}),
    # every run took the same time: the tool prints only count and curr
    ("count=3 curr=25347(all same)", {"count": 3, "curr": 25347, "first": 25347, "min": 25347, "max": 25347, "avg": 25347, "std": 0}),
    ("Timings (microseconds): count=1 curr=11409",
     {"count": 1, "curr": 11409, "first": 11409, "min": 11409, "max": 11409, "avg": 11409, "std": 0}),
    ("count=0", {"count": 0}),
    ("INFO: Loaded model m.tflite", None),
])
def test_stat_lines_in_every_format(line, expected):
    assert oo.parse_stat_line(line) == expected


def test_old_average_timings_line_is_read():
    text = ("Running benchmark for at least 50 iterations and at least 1 seconds\n"
            "count=50 first=79449 curr=81350 min=77385 max=88213 avg=79732 std=1929\n\n"
            "Average inference timings in us: Warmup: 83235, Init: 38467, Inference: 79760.9\n")
    parsed = oo.parse(text)
    assert (parsed["init_us"], parsed["warmup_avg_us"], parsed["inference_avg_us"]) == (38467, 83235, 79760.9)
    assert parsed["inference"]["max"] == 88213 and parsed["warmup"] is None


def test_subgraph_profiles_are_merged_by_op_type():
    row = "\t{:>24}\t{:>9}\t{:>10.3f}\t{:>10.3f}%\t{:>10.3f}%\t{:>10.3f}\t{:>9}\n"
    table = ("============================== Summary by node type ==============================\n"
             "\t             [Node type]\t  [count]\t  [avg ms]\t    [avg %]\t    [cdf %]\t  [mem KB]\t[times called]\n")
    text = ("INFO: Inference timings in us: Init: 1, First inference: 2, Warmup (avg): 3, Inference (avg): 4\n"
            "INFO: Operator-wise Profiling Info for Regular Benchmark Runs:\nPrimary graph profile:\n" + table
            + row.format("CONV_2D", 3, 3.0, 75.0, 75.0, 0, 3) + row.format("WHILE", 1, 1.0, 25.0, 100.0, 0, 1)
            + "\nTimings (microseconds): count=10 first=5 curr=5 min=4 max=6 avg=5 std=1\n4 nodes observed\n\n"
            + "Subgraph (index: 1) profile:\n" + table + row.format("CONV_2D", 2, 1.0, 100.0, 100.0, 0, 20)
            + "\nSubgraph (index: 1) Timings (microseconds): count=10 first=1 curr=1 min=1 max=1 avg=1 std=0\n2 nodes observed\n")
    profile = oo.parse(text)["op_profile"]
    assert profile["by_op_type"][0] == {"op_type": "CONV_2D", "count": 5, "avg_ms": 4.0, "times_called": 23,
                                        "reported_percent": 175.0, "share": 0.8}
    assert profile["by_op_type"][1]["share"] == 0.2
    assert profile["nodes_observed"] == 6 and profile["runs"] == 10


def test_a_failed_run_is_an_error_quoting_the_tool(graph):
    text = _output(["--graph=/data/local/tmp/missing.tflite"])
    with pytest.raises(oo.OfficialOutputError, match=re.escape("did not report inference timings: ERROR: Failed to mmap "
                                                               "model /data/local/tmp/missing.tflite | ERROR: Benchmarking failed.")):
        oo.parse(text)
    with pytest.raises(oo.OfficialOutputError, match=r"\(no output\)"):
        oo.parse("")
