"""Benchmarks on this machine: the official benchmark_model binary when one is given
or on PATH, otherwise the LiteRT interpreter in-process with the same statistics.

In-process measurement follows the tool (benchmark_model.cc): init is the time to
load the model and allocate tensors, inputs are random in the tool's ranges and set
once, warm-up runs come first (the first of them is "first inference"), then the
timed runs; each run is one `invoke()` timed with a monotonic clock. Memory is what
the tool reports (the resident-set growth from before loading, in MB, read from
/proc/self/statm) plus the process's peak RSS from resource.getrusage, which counts
everything this Python process ever held (TensorFlow included), not the model alone.
tracemalloc is not used: it sees only Python allocations, not the interpreter's arena.
"""

import contextlib
import os
import platform
import resource
import shutil
import subprocess
import sys
import time

import numpy as np

from keras_lightnets.bench import official_output
from keras_lightnets.bench import tool_settings
from keras_lightnets.bench.device_info import cpus_of_mask
from keras_lightnets.bench.device_info import elf_architecture
from keras_lightnets.bench.device_info import host_device
from keras_lightnets.bench.errors import BenchmarkError
from keras_lightnets.bench.result import BenchmarkResult
from keras_lightnets.bench.result import model_file
from keras_lightnets.bench.settings import TOOL_PERCENTILES_NOTE
from keras_lightnets.bench.settings import stats_from_tool
from keras_lightnets.tflite.interpreter import load_interpreter

OFFICIAL_BINARY_NAMES = ("benchmark_model", "linux_x86-64_benchmark_model", "linux_aarch64_benchmark_model")
NO_OP_PROFILE_IN_PROCESS = ("the LiteRT Python interpreter has no per-op timer; give the official benchmark_model "
                            "binary (--benchmark_binary) for an op-level profile")
_HOST_ARCH = {"amd64": "x86_64", "x86_64": "x86_64", "arm64": "aarch64", "aarch64": "aarch64", "i686": "x86", "i386": "x86"}


def find_official_binary(binary=None):
    """The given binary (checked), else benchmark_model on PATH, else None."""
    if binary:
        path = os.fspath(binary)
        resolved = path if os.path.sep in path else (shutil.which(path) or path)
        if not os.path.isfile(resolved):
            raise ValueError(f"benchmark binary {path!r} does not exist.")
        if not os.access(resolved, os.X_OK):
            raise ValueError(f"benchmark binary {path!r} is not executable (chmod +x it).")
        return resolved
    for name in OFFICIAL_BINARY_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def run_host(graph, settings, benchmark_binary=None):
    binary = find_official_binary(benchmark_binary)
    if binary:
        return run_official_binary(graph, binary, settings)
    if settings.use_gpu:
        raise ValueError("use_gpu needs the official benchmark_model binary (the in-process LiteRT interpreter has no "
                         "GPU delegate): pass benchmark_binary=... / --benchmark_binary.")
    return run_in_process(graph, settings)


@contextlib.contextmanager
def pinned(mask):
    """Runs the block (and the processes it starts) on the cores of `mask`."""
    if mask is None:
        yield None
        return
    cpus = cpus_of_mask(mask)
    if not hasattr(os, "sched_setaffinity"):
        raise ValueError(f"cpu_mask is not supported on {platform.system()} (no sched_setaffinity).")
    before = os.sched_getaffinity(0)
    missing = sorted(set(cpus) - before)
    if missing:
        raise ValueError(f"cpu_mask={mask!r} names cores {missing} that this process may not use (allowed: {sorted(before)}).")
    os.sched_setaffinity(0, cpus)
    try:
        yield cpus
    finally:
        os.sched_setaffinity(0, before)


def run_official_binary(graph, binary, settings):
    load_interpreter(graph)  # a missing or corrupt model is our clear error, not the tool's
    arch = _elf_arch_or_none(binary)
    host_arch = _HOST_ARCH.get(platform.machine().lower(), platform.machine())
    if arch is not None and arch != host_arch:
        raise ValueError(f"{os.path.basename(binary)!r} is built for {arch} and cannot run on this {host_arch} host; "
                         f"use --target=android for a phone binary, or the {host_arch} build of benchmark_model.")
    command = [binary, *settings.tool_flags(os.path.abspath(graph))]
    with pinned(settings.cpu_mask) as cpus:
        try:
            completed = subprocess.run(command, capture_output=True, text=True, timeout=settings.timeout)
        except subprocess.TimeoutExpired:
            raise BenchmarkError(f"benchmark_model did not finish within {settings.timeout:g} s (hung?); "
                                 f"raise `timeout` for slow models.") from None
    output = completed.stdout + completed.stderr
    try:
        parsed = official_output.parse(output)
    except official_output.OfficialOutputError as error:
        raise BenchmarkError(f"{error} (exit status {completed.returncode}; command: {' '.join(command)})") from None
    echoed = tool_settings.check(command[1:], output)  # the tool ran with what we asked, or a clear error
    notes = [TOOL_PERCENTILES_NOTE]
    if completed.returncode != 0:
        notes.append(f"benchmark_model exited with status {completed.returncode} after reporting its timings.")
    return _tool_result(graph, parsed, output, settings, host_device(cpus), "benchmark_model (host)", binary, notes,
                        echoed)


def _tool_result(graph, parsed, output, settings, device, runner, binary, notes, echoed):
    note = None
    if settings.enable_op_profiling and parsed["op_profile"] is None:
        note = "benchmark_model printed no 'Summary by node type' table for the regular runs."
    memory = parsed["memory"]
    if memory is not None:
        memory = {**memory, "method": "benchmark_model: memory footprint delta from the start of the tool"}
    return BenchmarkResult(
        model=model_file(graph), device=device,
        settings={"target": device["kind"], "runner": runner, "binary": binary, **settings.to_dict(), "cpus": device.get("cpus_used"),
                  "tool_settings": echoed, "xnnpack": tool_settings.xnnpack_report(output)},
        stats=stats_from_tool(parsed), memory=memory, op_profile=parsed["op_profile"] if settings.enable_op_profiling else None,
        op_profile_note=note, notes=notes, raw_output=output,
    )


def _elf_arch_or_none(binary):
    with open(binary, "rb") as f:
        if f.read(4) != b"\x7fELF":
            return None  # a wrapper script: let the OS decide
    return elf_architecture(binary)


def run_in_process(graph, settings):
    """Times the LiteRT interpreter in this process (see the module docstring)."""
    with pinned(settings.cpu_mask) as cpus:
        rss_start = _rss_mb()
        start = time.perf_counter_ns()
        interpreter = _interpreter(graph, settings)
        init_us = (time.perf_counter_ns() - start) / 1e3
        rss_init = _rss_mb()
        _set_random_inputs(interpreter)
        deadline = time.perf_counter() + settings.max_secs
        warmup = _timed_runs(interpreter, settings.warmup_runs, settings.warmup_min_secs, deadline)
        runs = _timed_runs(interpreter, settings.num_runs, settings.min_secs, deadline)
        rss_end = _rss_mb()
    if not runs:
        raise BenchmarkError(f"no timed run finished within max_secs={settings.max_secs:g} s.")
    times = np.asarray(runs, dtype="float64")
    p50, p90, p99 = np.percentile(times, [50, 90, 99])
    stats = {
        "init_us": round(init_us, 1),
        "first_inference_us": (warmup or runs)[0],
        "warmup_runs": len(warmup),
        "warmup_avg_us": float(np.mean(warmup)) if warmup else None,
        "count": len(runs),
        "mean_us": float(times.mean()),
        "std_us": float(times.std()),  # population std, as the tool's Stat
        "min_us": float(times.min()),
        "max_us": float(times.max()),
        "p50_us": float(p50), "p90_us": float(p90), "p99_us": float(p99),
    }
    memory = {
        "init_mb": None if rss_start is None else round(rss_init - rss_start, 3),
        "overall_mb": None if rss_start is None else round(rss_end - rss_start, 3),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "method": "resident-set growth from before loading (/proc/self/statm), as benchmark_model; "
                  "peak_rss_mb is the whole Python process's high-water mark (resource.getrusage)",
    }
    from ai_edge_litert import __version__ as litert_version

    device = host_device(cpus)
    notes = [] if settings.warmup_runs else ["warmup_runs=0: first_inference_us is the first timed run."]
    return BenchmarkResult(
        model=model_file(graph), device=device,
        settings={"target": "host", "runner": f"LiteRT interpreter in-process (ai-edge-litert {litert_version})",
                  "binary": None, **settings.to_dict(), "use_xnnpack": settings.use_xnnpack is not False, "cpus": cpus},
        stats=stats, memory=memory, op_profile=None,
        op_profile_note=NO_OP_PROFILE_IN_PROCESS if settings.enable_op_profiling else None, notes=notes,
    )


def _interpreter(graph, settings):
    threads = None if settings.num_threads == -1 else settings.num_threads
    if settings.use_xnnpack is not False:
        return load_interpreter(graph, num_threads=threads)  # XNNPACK is LiteRT's default CPU path
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_litert.interpreter import OpResolverType

    load_interpreter(graph)  # its clear errors for missing/corrupt files
    interpreter = Interpreter(model_path=os.fspath(graph), num_threads=threads,
                              experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter.allocate_tensors()
    return interpreter


def _set_random_inputs(interpreter, seed=0):
    """Random inputs in benchmark_model's ranges (CreateRandomTensorData)."""
    rng = np.random.default_rng(seed)
    for detail in interpreter.get_input_details():
        shape, dtype = detail["shape"], np.dtype(detail["dtype"])
        if dtype.kind == "f":
            value = rng.uniform(-0.5, 0.5, shape)
        elif dtype == np.uint8:
            value = rng.integers(0, 255, shape)
        elif dtype == np.int8:
            value = rng.integers(-127, 128, shape)
        elif dtype == np.bool_:
            value = rng.integers(0, 2, shape)
        else:
            value = rng.integers(0, 100, shape)
        interpreter.set_tensor(detail["index"], value.astype(dtype))


def _timed_runs(interpreter, min_runs, min_secs, deadline):
    """At least `min_runs` runs and at least `min_secs` seconds, never past `deadline`
    (the tool's loop); returns each run's microseconds."""
    times = []
    invoke = interpreter.invoke
    clock = time.perf_counter_ns
    start = time.perf_counter()
    while (len(times) < min_runs or time.perf_counter() - start < min_secs) and time.perf_counter() <= deadline:
        t0 = clock()
        invoke()
        times.append((clock() - t0) / 1e3)
    return times


def _rss_mb():
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return None


def _peak_rss_mb():
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux
