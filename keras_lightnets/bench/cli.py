"""The body of the `benchmark` command, shared by `lightnets benchmark` and the absl app
tflite/benchmark.py (one definition, two entry points; the flags are defined in
keras_lightnets/cli.py, which imports no TensorFlow, so that `--help` is quick)."""

import sys

from absl import app

from keras_lightnets._cli_util import define_bool_or_path  # noqa: F401  (its home before the command framework)
from keras_lightnets.bench.errors import BenchmarkError


def benchmark(flag_values, json_flag="json"):
    """Runs the benchmark the flags describe; prints the summary (or JSON with a bare
    --json) and writes the JSON result to --json=PATH."""
    from keras_lightnets.bench import run

    v = flag_values
    if not v.graph:
        raise app.UsageError("--graph is required, e.g. --graph=mobilenet_v3_small.tflite.")
    result = run(v.graph, target=v.target, benchmark_binary=v.benchmark_binary, serial=v.serial, cpu_mask=v.cpu_mask,
                 num_threads=v.num_threads, warmup_runs=v.warmup_runs, num_runs=v.num_runs, min_secs=v.min_secs,
                 warmup_min_secs=v.warmup_min_secs, max_secs=v.max_secs, use_xnnpack=v.use_xnnpack, use_gpu=v.use_gpu,
                 enable_op_profiling=v.enable_op_profiling, timeout=v.timeout, adb=v.adb)
    output = v[json_flag].value
    if output is True:
        print(result.to_json())
        return result
    print(result)
    if isinstance(output, str) and output:
        result.save(output)
        print(f"wrote {output}")
    return result


def main_errors(command, function):
    """Runs `function`; our errors become one clear line on stderr and exit status 2
    (bad arguments) or 1 (the benchmark could not run)."""
    try:
        return function()
    except ValueError as error:
        print(f"{command}: error: {error}", file=sys.stderr)
        sys.exit(2)
    except BenchmarkError as error:
        print(f"{command}: error: {error}", file=sys.stderr)
        sys.exit(1)
