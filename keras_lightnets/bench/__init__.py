"""Benchmark .tflite files the way the papers did: the standard TFLite benchmark tool,
one big core, batch 1, warm-up first; on a host or on an Android phone over adb.

    from keras_lightnets import bench
    result = bench.run("m.tflite")                               # host: LiteRT in-process
    result = bench.run("m.tflite", benchmark_binary="benchmark_model", enable_op_profiling=True)
    result = bench.run("m.tflite", target="android", benchmark_binary="android_aarch64_benchmark_model")
    print(result); result.save("result.json")                   # one JSON format for all paths
"""

import os

from keras_lightnets.bench.errors import BenchmarkError
from keras_lightnets.bench.result import BenchmarkResult
from keras_lightnets.bench.settings import Settings

TARGETS = ("host", "android")


def run(
    graph,
    target="host",
    benchmark_binary=None,
    serial=None,
    cpu_mask=None,
    num_threads=1,
    warmup_runs=5,
    num_runs=50,
    min_secs=1.0,
    warmup_min_secs=0.5,
    max_secs=150.0,
    use_xnnpack=None,
    use_gpu=False,
    enable_op_profiling=False,
    timeout=600.0,
    adb=None,
) -> BenchmarkResult:
    """Benchmarks a .tflite file and returns a BenchmarkResult (.to_dict(), .to_json(), .save()).

    Args:
        graph: the .tflite file.
        target: "host" (this machine) or "android" (a phone over adb).
        benchmark_binary: the official benchmark_model. On the host it is optional
            (default: `benchmark_model` on PATH, else the LiteRT interpreter
            in-process); for Android it is required and must be built for the
            phone's ABI (its ELF header is checked).
        serial: the adb serial, when several devices are connected.
        cpu_mask: hexadecimal affinity mask (`taskset`), e.g. "f0". Android default:
            the fastest cluster (highest cpuinfo_max_freq); host default: unpinned.
        num_threads, warmup_runs, num_runs, min_secs, warmup_min_secs, max_secs: the
            tool's flags of the same names; the in-process runner applies the same
            rules. Statistics are in microseconds, as the tool reports them.
        use_xnnpack: None keeps the runtime's default; True/False forces it.
        use_gpu: the GPU delegate (official binary only).
        enable_op_profiling: per-op-type time and share, parsed from the tool's
            "Summary by node type" (official binary only; in-process results say why
            there is none).
        timeout: seconds before a hung run is abandoned (BenchmarkError).
        adb: path of adb (default: $ADB, else adb on PATH).

    Raises:
        ValueError: bad arguments, a missing/corrupt model, a binary for the wrong
            architecture.
        BenchmarkError: no adb, no/several/unready devices, a device that disconnects,
            a run that hangs or fails, or a benchmark_model whose settings block does
            not echo the flags it was given (a misspelt flag or one an old build lacks,
            which the tool only warns about as "Unconsumed cmdline flags"; a wrapper
            script that rewrites them).
    """
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}; received {target!r}.")
    graph = os.fspath(graph)
    settings = Settings(num_threads=num_threads, warmup_runs=warmup_runs, num_runs=num_runs, min_secs=min_secs,
                        warmup_min_secs=warmup_min_secs, max_secs=max_secs, use_xnnpack=use_xnnpack, use_gpu=use_gpu,
                        enable_op_profiling=enable_op_profiling, cpu_mask=cpu_mask, timeout=timeout)
    if target == "android":
        from keras_lightnets.bench.android import run_android

        return run_android(graph, settings, benchmark_binary, serial=serial, adb=adb)
    if serial is not None:
        raise ValueError("serial is for target='android'.")
    from keras_lightnets.bench.host import run_host

    return run_host(graph, settings, benchmark_binary)


__all__ = ["run", "BenchmarkResult", "BenchmarkError", "Settings", "TARGETS"]
