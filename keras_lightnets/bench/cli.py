"""The `benchmark` command's flags and body, shared by `lightnets benchmark` and the
absl app tflite/benchmark.py (one definition, two entry points)."""

import sys

from absl import app
from absl import flags

from keras_lightnets.bench.errors import BenchmarkError


class _BoolOrPathParser(flags.ArgumentParser):
    """`--json` (print JSON), `--nojson`, or `--json=result.json` (write it there)."""

    def parse(self, argument):
        if isinstance(argument, bool) or argument is None:
            return argument
        if str(argument).lower() in ("true", "t", "1"):
            return True
        if str(argument).lower() in ("false", "f", "0"):
            return False
        return str(argument)

    def flag_type(self):
        return "bool or path"


def define_bool_or_path(name, default, help_string, flag_values=flags.FLAGS):
    """A flag that is a switch when bare (`--json`) and a path when given one (`--json=out.json`)."""
    flags.DEFINE_flag(flags.Flag(_BoolOrPathParser(), flags.ArgumentSerializer(), name, default, help_string, boolean=True),
                      flag_values)


def define_flags(flag_values=flags.FLAGS):
    f = dict(flag_values=flag_values)
    flags.DEFINE_string("graph", None, "`benchmark`: the .tflite file to benchmark.", **f)
    flags.DEFINE_enum("target", "host", ["host", "android"], "`benchmark`: this machine, or an Android phone over adb.", **f)
    flags.DEFINE_string("benchmark_binary", None, "`benchmark`: the official TFLite benchmark_model (required for "
                        "android, e.g. android_aarch64_benchmark_model; on the host, default: benchmark_model on PATH, "
                        "else the LiteRT interpreter in-process).", **f)
    flags.DEFINE_string("serial", None, "`benchmark`: adb serial of the phone, when several are connected.", **f)
    flags.DEFINE_string("cpu_mask", None, "`benchmark`: hexadecimal affinity mask (taskset), e.g. f0; android "
                        "default: the fastest cluster.", **f)
    flags.DEFINE_integer("num_threads", 1, "`benchmark`: threads (the papers: 1, on one big core).", **f)
    flags.DEFINE_integer("warmup_runs", 5, "`benchmark`: minimum warm-up runs.", **f)
    flags.DEFINE_integer("num_runs", 50, "`benchmark`: minimum timed runs.", **f)
    flags.DEFINE_float("min_secs", 1.0, "`benchmark`: minimum seconds of timed runs (the tool's default).", **f)
    flags.DEFINE_float("warmup_min_secs", 0.5, "`benchmark`: minimum seconds of warm-up (the tool's default).", **f)
    flags.DEFINE_float("max_secs", 150.0, "`benchmark`: stop starting runs after this many seconds.", **f)
    flags.DEFINE_bool("use_xnnpack", None, "`benchmark`: force XNNPACK on/off (default: the runtime's default).", **f)
    flags.DEFINE_bool("use_gpu", False, "`benchmark`: the GPU delegate (official binary only).", **f)
    flags.DEFINE_bool("enable_op_profiling", False, "`benchmark`: per-op-type profile (official binary only).", **f)
    flags.DEFINE_float("timeout", 600.0, "`benchmark`: seconds before a hung run is abandoned.", **f)
    flags.DEFINE_string("adb", None, "`benchmark`: path of adb (default: $ADB, else adb on PATH).", **f)


def benchmark(flag_values=flags.FLAGS, json_flag="json"):
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
