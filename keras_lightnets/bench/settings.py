"""The benchmark protocol, validated once and spoken to the official tool as its flags.

Defaults are the MobileNetV3 paper's protocol ("a single large core, batch size 1,
the standard TFLite benchmark tool"): 1 thread, batch 1 (the converted files have a
static batch-1 input), warm-up before timing; and the tool's own defaults for how
long it runs (at least `num_runs` runs and at least `min_secs` seconds, warm-up at
least `warmup_runs` runs and `warmup_min_secs` seconds, never past `max_secs`). The
in-process runner follows the same rules so both paths time the same way.
"""

import dataclasses
from typing import Optional


@dataclasses.dataclass(frozen=True)
class Settings:
    num_threads: int = 1
    warmup_runs: int = 5
    num_runs: int = 50
    min_secs: float = 1.0
    warmup_min_secs: float = 0.5
    max_secs: float = 150.0
    use_xnnpack: Optional[bool] = None  # None: the runtime's default (XNNPACK on for float CPU in current builds)
    use_gpu: bool = False
    enable_op_profiling: bool = False
    cpu_mask: Optional[str] = None  # hexadecimal affinity mask; Android default: the fastest cluster
    timeout: float = 600.0  # seconds for the whole benchmark command

    def __post_init__(self):
        if not isinstance(self.num_threads, int) or self.num_threads == 0 or self.num_threads < -1:
            raise ValueError(f"num_threads must be a positive integer (or -1 for the runtime's default); received {self.num_threads!r}.")
        if not isinstance(self.warmup_runs, int) or self.warmup_runs < 0:
            raise ValueError(f"warmup_runs must be an integer >= 0; received {self.warmup_runs!r}.")
        if not isinstance(self.num_runs, int) or self.num_runs < 1:
            raise ValueError(f"num_runs must be an integer >= 1; received {self.num_runs!r}.")
        for name in ("min_secs", "warmup_min_secs", "max_secs", "timeout"):
            if not isinstance(getattr(self, name), (int, float)) or getattr(self, name) < 0:
                raise ValueError(f"{name} must be a number of seconds >= 0; received {getattr(self, name)!r}.")
        if self.timeout == 0:
            raise ValueError("timeout must be > 0 seconds.")

    def tool_flags(self, graph):
        """The official benchmark_model's command-line flags for these settings."""
        flags = [f"--graph={graph}", f"--num_threads={self.num_threads}", f"--warmup_runs={self.warmup_runs}",
                 f"--num_runs={self.num_runs}", f"--min_secs={self.min_secs:g}",
                 f"--warmup_min_secs={self.warmup_min_secs:g}", f"--max_secs={self.max_secs:g}"]
        if self.use_xnnpack is not None:
            flags.append(f"--use_xnnpack={str(self.use_xnnpack).lower()}")
        if self.use_gpu:
            flags.append("--use_gpu=true")
        if self.enable_op_profiling:
            flags.append("--enable_op_profiling=true")
        return flags

    def to_dict(self):
        return {**dataclasses.asdict(self), "batch_size": 1}


def stats_from_tool(parsed) -> dict:
    """The result's `stats` from official_output.parse(): microseconds, as the tool
    prints them. The tool prints no percentiles, so p50/p90/p99 are None."""
    inference = parsed["inference"] or {}
    warmup = parsed["warmup"] or {}
    return {
        "init_us": parsed["init_us"],
        "first_inference_us": parsed["first_inference_us"],
        "warmup_runs": warmup.get("count"),
        "warmup_avg_us": parsed["warmup_avg_us"],
        "count": inference.get("count"),
        "mean_us": inference.get("avg", parsed["inference_avg_us"]),
        "std_us": inference.get("std"),
        "min_us": inference.get("min"),
        "max_us": inference.get("max"),
        "p50_us": None, "p90_us": None, "p99_us": None,
    }


TOOL_PERCENTILES_NOTE = "benchmark_model reports count/min/max/avg/std only, so p50/p90/p99 are not available on this path."
