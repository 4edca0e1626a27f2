"""The parser of the official benchmark_model's output, on recorded transcripts and on
the variants of its stat lines that TensorFlow has printed over the years."""

import os

import pytest

from keras_lightnets.bench import official_output as oo

RECORDINGS = os.path.join(os.path.dirname(__file__), "fake_tools", "recordings")


def _recording(name):
    with open(os.path.join(RECORDINGS, name)) as f:
        return f.read()


def test_plain_run_gives_the_tools_statistics_in_microseconds():
    parsed = oo.parse(_recording("pixel_benchmark_model.txt"))
    assert parsed["init_us"] == 28713 and parsed["first_inference_us"] == 13872
    assert parsed["warmup_avg_us"] == 10247.2 and parsed["inference_avg_us"] == 10152.6
    assert parsed["warmup"] == {"count": 49, "first": 13872, "curr": 10204, "min": 10011, "max": 13872, "avg": 10247.2, "std": 512}
    assert parsed["inference"] == {"count": 98, "first": 10230, "curr": 10118, "min": 9973, "max": 10794, "avg": 10152.6, "std": 141}
    assert parsed["memory"] == {"init_mb": 14.6641, "overall_mb": 16.4375}
    assert parsed["model_size_mb"] == 10.2154
    assert parsed["op_profile"] is None


def test_op_profile_is_the_regular_runs_summary_by_node_type():
    parsed = oo.parse(_recording("pixel_benchmark_model_op_profiling.txt"))
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
    assert profile["runs"] == 95 and profile["total_ms"] == pytest.approx(10.059)
    # the share we recompute agrees with the tool's own rounded percentage
    for row in profile["by_op_type"]:
        assert row["share"] * 100 == pytest.approx(row["reported_percent"], abs=0.01)


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


def test_a_failed_run_is_an_error_quoting_the_tool():
    text = "INFO: STARTING!\nINFO: Graph: [/data/local/tmp/m.tflite]\nERROR: Failed to mmap model /data/local/tmp/m.tflite\n"
    with pytest.raises(oo.OfficialOutputError, match="did not report inference timings: ERROR: Failed to mmap model"):
        oo.parse(text)
    with pytest.raises(oo.OfficialOutputError, match=r"\(no output\)"):
        oo.parse("")
