"""Parser of the official TFLite benchmark tool's output (`benchmark_model`).

The tool (tensorflow/lite/tools/benchmark) logs, in this order:

    INFO: Initialized session in 31.52ms.
    INFO: Running benchmark for at least 5 iterations and at least 0.5 seconds ...
    INFO: count=58 first=8712 curr=8421 min=8390 max=8712 avg=8466.2 std=61
    INFO: Running benchmark for at least 50 iterations and at least 1 seconds ...
    INFO: count=119 first=8440 curr=8407 min=8380 max=8630 avg=8431.5 std=40
    INFO: Inference timings in us: Init: 31520, First inference: 8712, Warmup (avg): 8466.2, Inference (avg): 8431.5
    INFO: Memory footprint delta from the start of the tool (MB): init=3.1 overall=9.4

and with --enable_op_profiling=true the profile tables of
tensorflow/core/util/stats_calculator.cc, first for initialization, then under
"Operator-wise Profiling Info for Regular Benchmark Runs:" (one block a subgraph),
each ending with a "Summary by node type" table and a "Timings (microseconds):" line.
Older builds print "Average inference timings in us: Warmup: ..., Init: ..., Inference: ..."
instead; both are read. A stat line is `Stat::OutputToStream`: key=value pairs in
either of the orders TensorFlow has used, or `count=1 curr=...` when all runs were equal.
"""

import re
from typing import Dict, List, Optional

REGULAR_PROFILE_HEADER = "Operator-wise Profiling Info for Regular Benchmark Runs:"
INIT_PROFILE_HEADER = "Profiling Info for Benchmark Initialization:"
SUMMARY_HEADER = "Summary by node type"

_TIMINGS = re.compile(
    r"Inference timings in us: Init: (?P<init>[\d.eE+-]+), First inference: (?P<first>[\d.eE+-]+), "
    r"Warmup \(avg\): (?P<warmup>[\d.eE+-]+|nan|-?inf), Inference \(avg\): (?P<inference>[\d.eE+-]+|nan|-?inf)"
)
_OLD_TIMINGS = re.compile(
    r"Average inference timings in us: Warmup: (?P<warmup>[\d.eE+-]+|nan), Init: (?P<init>[\d.eE+-]+), "
    r"(?:no stats: )?Inference: (?P<inference>[\d.eE+-]+|nan)"
)
_MEMORY = re.compile(r"Memory footprint delta from the start of the tool \(MB\): init=(?P<init>[\d.eE+-]+) overall=(?P<overall>[\d.eE+-]+)")
_PEAK = re.compile(r"Overall peak memory footprint \(MB\) via periodic monitoring: (?P<peak>[\d.eE+-]+)")
_MODEL_SIZE = re.compile(r"The input model file size \(MB\): (?P<size>[\d.eE+-]+)")
_RUN_START = re.compile(r"Running benchmark for at least (?P<n>\d+) iterations")
_STAT = re.compile(r"(?:^|\s)(count|first|curr|min|max|avg|std)=(-?[\d.eE+]+|nan)")
_PERCENT = re.compile(r"^-?[\d.]+%$")


class OfficialOutputError(ValueError):
    """The text is not a completed run of the official benchmark tool."""


def parse_stat_line(line) -> Optional[Dict[str, float]]:
    """`count=50 first=.. curr=.. min=.. max=.. avg=.. std=..` -> dict (microseconds).

    When every run took the same time the tool prints only `count=N curr=X(all same)`:
    min, max, avg and first are then X and std 0."""
    text = line.split("INFO:", 1)[-1]
    pairs = {key: float(value) for key, value in _STAT.findall(text)}
    if "count" not in pairs:
        return None
    if pairs["count"] and "avg" not in pairs and "curr" in pairs:  # "(all same)"
        value = pairs["curr"]
        pairs.update(first=value, min=value, max=value, avg=value, std=0.0)
    pairs["count"] = int(pairs["count"])
    return pairs


def parse(text) -> dict:
    """The statistics of one run of benchmark_model, in microseconds.

    Returns a dict with init_us, first_inference_us, warmup_avg_us, inference_avg_us,
    warmup and inference (stat dicts), memory (MB deltas as the tool reports them),
    model_size_mb, and op_profile (None unless the output has the regular-run
    profile). Raises OfficialOutputError, quoting the tool's own ERROR lines, when
    the run did not complete.
    """
    lines = text.splitlines()
    result = {"init_us": None, "first_inference_us": None, "warmup_avg_us": None, "inference_avg_us": None,
              "warmup": None, "inference": None, "memory": None, "model_size_mb": None, "op_profile": None}
    stats: List[dict] = []
    expecting_stat = False
    for line in lines:
        if _RUN_START.search(line):
            expecting_stat = True
            continue
        if expecting_stat:
            stat = parse_stat_line(line)
            if stat is not None:
                stats.append(stat)
                expecting_stat = False
                continue
        match = _TIMINGS.search(line)
        if match:
            result.update(init_us=float(match["init"]), first_inference_us=float(match["first"]),
                          warmup_avg_us=float(match["warmup"]), inference_avg_us=float(match["inference"]))
            continue
        match = _OLD_TIMINGS.search(line)
        if match and result["inference_avg_us"] is None:
            result.update(init_us=float(match["init"]), warmup_avg_us=float(match["warmup"]),
                          inference_avg_us=float(match["inference"]))
            continue
        match = _MEMORY.search(line)
        if match:
            result["memory"] = {"init_mb": float(match["init"]), "overall_mb": float(match["overall"])}
            continue
        match = _PEAK.search(line)
        if match:
            result["memory"] = {**(result["memory"] or {}), "peak_mb": float(match["peak"])}
            continue
        match = _MODEL_SIZE.search(line)
        if match:
            result["model_size_mb"] = float(match["size"])

    if result["inference_avg_us"] is None:
        errors = [line.strip() for line in lines if line.lstrip().startswith(("ERROR", "FATAL", "F "))]
        tail = errors or [line.strip() for line in lines if line.strip()][-5:]
        raise OfficialOutputError(
            "benchmark_model did not report inference timings"
            + (": " + " | ".join(tail) if tail else " (no output)") + "."
        )
    if len(stats) >= 2:
        result["warmup"], result["inference"] = stats[0], stats[1]
    elif len(stats) == 1:
        result["inference"] = stats[0]
    if result["first_inference_us"] is None and result["warmup"]:
        result["first_inference_us"] = result["warmup"]["first"]
    result["op_profile"] = parse_op_profile(text)
    return result


def parse_op_profile(text) -> Optional[dict]:
    """The "Summary by node type" of the regular runs, merged over subgraphs.

    Returns {"total_ms", "runs", "nodes_observed", "by_op_type": [{op_type, count,
    avg_ms, share, times_called}, ...]} sorted by time, or None without a profile.
    `share` is the op type's fraction of the summed per-op time (0..1), recomputed
    from avg_ms so that subgraphs merge; the tool's own percentage is kept as
    `reported_percent` (it rounds to 3 decimals)."""
    start = text.find(REGULAR_PROFILE_HEADER)
    if start < 0:
        return None
    section = text[start + len(REGULAR_PROFILE_HEADER):].splitlines()
    merged: Dict[str, dict] = {}
    runs = None
    nodes_observed = 0
    in_summary = False
    for line in section:
        stripped = line.strip()
        if SUMMARY_HEADER in stripped:
            in_summary = True
            continue
        if in_summary:
            if not stripped:
                in_summary = False
                continue
            if stripped.startswith("[") or stripped.startswith("="):  # column header line
                continue
            row = _summary_row(stripped)
            if row is None:
                in_summary = False
            else:
                entry = merged.setdefault(row["op_type"], {"op_type": row["op_type"], "count": 0, "avg_ms": 0.0,
                                                           "times_called": 0, "reported_percent": 0.0})
                for key in ("count", "avg_ms", "times_called", "reported_percent"):
                    entry[key] += row[key]
                continue
        if stripped.startswith("Timings (microseconds):") and runs is None:
            stat = parse_stat_line(stripped.replace("Timings (microseconds):", ""))
            runs = stat["count"] if stat else None
        match = re.match(r"(\d+) nodes observed", stripped)
        if match:
            nodes_observed += int(match.group(1))
    if not merged:
        return None
    total = sum(e["avg_ms"] for e in merged.values())
    rows = sorted(merged.values(), key=lambda e: -e["avg_ms"])
    for e in rows:
        e["avg_ms"] = round(e["avg_ms"], 6)
        e["share"] = round(e["avg_ms"] / total, 6) if total else 0.0
        e["reported_percent"] = round(e["reported_percent"], 3)
    return {"total_ms": round(total, 6), "runs": runs, "nodes_observed": nodes_observed or None,
            "source": "benchmark_model --enable_op_profiling (Summary by node type)", "by_op_type": rows}


def _summary_row(line):
    """`Convolution (NHWC, F32) GEMM   62   5.236   34.361%   34.361%   0.000   101`:
    the node type may contain spaces and commas, so the six numbers are read from the right."""
    parts = line.split()
    if len(parts) < 7:
        return None
    count, avg_ms, percent, cdf, _mem_kb, times_called = parts[-6:]
    if not (_PERCENT.match(percent) and _PERCENT.match(cdf)):
        return None
    try:
        return {"op_type": " ".join(parts[:-6]), "count": int(count), "avg_ms": float(avg_ms),
                "reported_percent": float(percent[:-1]), "times_called": int(times_called)}
    except ValueError:
        return None
