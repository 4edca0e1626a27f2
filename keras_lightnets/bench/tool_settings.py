"""What benchmark_model says it ran with, checked against the flags we gave it.

Why: the tool does not stop on a flag it does not know. Flags::Parse leaves an unknown
argument in argv, BenchmarkModel::ParseFlags logs `WARN: Unconsumed cmdline flags: ...`
and the run goes on with the default. A misspelt flag, or one that an old build does not
have yet, would silently benchmark something else (all cores instead of one, XNNPACK on
instead of off). So every run's settings block is read back and compared.

How the tool prints it (tensorflow/tensorflow, the files below): after parsing, LogParams
logs `INFO: <description>: [<value>]` for each parameter that a command-line flag set
(LOG_TOOL_PARAM: `verbose || params.HasValueSet(name)`); a parameter left at its default
is printed only with --verbose=true, except Graph and Signature to run, printed always.
Ints and floats are printed by a C++ ostream (1.0f -> "1", 0.5f -> "0.5"), bools as 1/0.

    tensorflow/lite/tools/command_line_flags.cc    @ 379b8fb2  "--name=" prefix match; unknown args stay in argv
    tensorflow/lite/tools/benchmark/benchmark_model.cc @ 08df8c40  LogParams, "Unconsumed cmdline flags" (WARN)
    tensorflow/lite/tools/tool_params.h            @ 0f563557  LOG_TOOL_PARAM
    tensorflow/lite/tools/logging.h                @ 202a7abd  "INFO: "/"WARN: " to stdout, "ERROR: " to stderr
    tensorflow/lite/tools/benchmark/benchmark_tflite_model.cc  LogParams (Graph, Enable op profiling)
    tensorflow/lite/tools/delegates/default_execution_provider.cc @ 08df8c40  "#threads used for CPU inference"
    tensorflow/lite/tools/delegates/xnnpack_delegate_provider.cc  @ a8fe5b40  "Use xnnpack"
    tensorflow/lite/tools/delegates/gpu_delegate_provider.cc      "Use gpu"

Builds from before 2020 print the same lines without the "INFO: " prefix; both are read.
"""

import math
import re
from typing import Dict, List

from keras_lightnets.bench.errors import BenchmarkError

# flag -> (type, the descriptions the tool echoes it under). num_threads is echoed twice:
# by BenchmarkModel ("Num threads") and by the default execution provider, which shares
# the parameter ("#threads used for CPU inference"; builds before 2020 lack that line).
ECHOES = {
    "graph": ("str", ("Graph",)),
    "num_threads": ("int", ("Num threads", "#threads used for CPU inference")),
    "warmup_runs": ("int", ("Min warmup runs",)),
    "num_runs": ("int", ("Min num runs",)),
    "min_secs": ("float", ("Min runs duration (seconds)",)),
    "warmup_min_secs": ("float", ("Min warmup runs duration (seconds)",)),
    "max_secs": ("float", ("Max runs duration (seconds)",)),
    "use_xnnpack": ("bool", ("Use xnnpack",)),
    "use_gpu": ("bool", ("Use gpu",)),
    "enable_op_profiling": ("bool", ("Enable op profiling",)),
}

_PARAM_LINE = re.compile(r"^(?:INFO: )?(?P<description>[^\[\]:][^\[\]]*?): \[(?P<value>.*)\]\s*$")
_UNCONSUMED = re.compile(r"^(?:WARN: |WARNING: )?Unconsumed cmdline flags: (?P<args>.*?)\s*$")
_EXPLICIT = re.compile(r"Explicitly applied (?P<name>\S+) delegate, and the model graph will be "
                       r"(?:(?P<all>completely)|partially) executed by the delegate(?: w/ (?P<kernels>\d+) delegate kernels)?")
_UNUSED = re.compile(r"Though (?P<name>\S+) delegate is explicitly applied, the model graph will not be executed")
DEFAULT_XNNPACK_LINE = "Created TensorFlow Lite XNNPACK delegate for CPU."


def echoed_settings(text) -> Dict[str, str]:
    """{description: value} of the settings block, first occurrence of each."""
    settings: Dict[str, str] = {}
    for line in text.splitlines():
        match = _PARAM_LINE.match(line.strip())
        if match:
            settings.setdefault(match["description"], match["value"])
    return settings


def unconsumed_flags(text) -> List[str]:
    """The arguments the tool said it did not understand."""
    found: List[str] = []
    for line in text.splitlines():
        match = _UNCONSUMED.match(line.strip())
        if match:
            found += match["args"].split()
    return found


def check(flags, text) -> Dict[str, str]:
    """Raises BenchmarkError unless the tool echoed every flag in `flags` with the value
    we gave it and understood all of them; returns the echoed settings block."""
    unknown = unconsumed_flags(text)
    if unknown:
        raise BenchmarkError(
            f"benchmark_model did not understand {' '.join(unknown)}: it printed 'Unconsumed cmdline flags: "
            f"{' '.join(unknown)}' and ran with its default instead, so its numbers are not for the settings "
            "asked for. Likely cause: a misspelt flag, or a benchmark_model build older than the flag; use a "
            "current build (the TensorFlow Lite nightly benchmark_model).")
    echoed = echoed_settings(text)
    for flag in flags:
        name, _, asked = flag[2:].partition("=")
        if name not in ECHOES:
            raise BenchmarkError(f"keras_lightnets cannot check --{name}: it has no entry in "
                                 "keras_lightnets.bench.tool_settings.ECHOES (a bug in the wrapper).")
        kind, descriptions = ECHOES[name]
        present = [d for d in descriptions if d in echoed]
        if not present:
            raise BenchmarkError(
                f"benchmark_model did not echo {flag} (no '{descriptions[0]}: [...]' line in its settings block), "
                "so it cannot be confirmed that the run used it. Likely cause: the binary is not TFLite's "
                "benchmark_model, or a build whose log lines this wrapper does not know; run it by hand with "
                f"{flag} and compare its settings block.")
        for description in present:
            if not _same(kind, asked, echoed[description]):
                raise BenchmarkError(
                    f"benchmark_model reports '{description}: [{echoed[description]}]' but was asked for {flag}: "
                    "its numbers are not for the settings asked for. Likely cause: a wrapper script or vendor "
                    "build that rewrites the flags, or an old build that reads them differently; run the binary "
                    f"by hand with {flag} and read its settings block.")
    return echoed


def xnnpack_report(text) -> str:
    """How the tool's log says XNNPACK ran: applied explicitly (--use_xnnpack=true) to
    all or part of the graph, applied by the runtime as its default delegate, or not at all."""
    for line in text.splitlines():
        match = _EXPLICIT.search(line)
        if match and match["name"] == "XNNPACK":
            return ("explicit: the whole graph" if match["all"]
                    else f"explicit: part of the graph ({match['kernels']} delegate kernels)")
        match = _UNUSED.search(line)
        if match and match["name"] == "XNNPACK":
            return "explicit, but no op was delegated"
    if DEFAULT_XNNPACK_LINE in text:
        return "the runtime's default delegate"
    return "not used"


def _same(kind, asked, reported):
    try:
        if kind == "int":
            return int(asked) == int(reported)
        if kind == "float":  # the tool holds a float32 and prints 6 significant digits
            return math.isclose(float(asked), float(reported), rel_tol=1e-5, abs_tol=1e-9)
        if kind == "bool":
            return _bool(asked) == _bool(reported)
    except ValueError:
        return False
    return asked == reported


def _bool(text):
    if text in ("1", "true"):
        return True
    if text in ("0", "false"):
        return False
    raise ValueError(text)
