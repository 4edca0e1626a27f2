"""Sub-commands on absl flags, for `lightnets` and the tflite/*.py apps.

absl has no sub-commands. Here the first argument picks a `Command`; each command
declares its flags in its own `FlagValues`, so `--output_dir` can mean one thing for
`train` and another for `demo`, and `--help` answers per command, with examples.

Quiet by default: before TensorFlow is imported, `quiet()` turns off TensorFlow's C++
logs, absl's and TensorFlow's Python INFO logs, and filters out the INFO lines that
TensorFlow and LiteRT print before any of their logging settings apply. `--verbose`
(every command has it) keeps everything.

This module imports only absl and the standard library: `lightnets --help`, `list` and
`info` answer without TensorFlow.
"""

import atexit
import dataclasses
import difflib
import os
import re
import subprocess
import sys
import textwrap
from typing import Callable

from absl import flags

HELP_ARGS = ("--help", "-h", "-?", "--helpshort", "--helpfull")
WIDTH = 100


@dataclasses.dataclass(frozen=True)
class Command:
    """One sub-command: its one-line summary, its flags, its body."""

    name: str
    summary: str  # one line, for the command list
    define_flags: Callable[[flags.FlagValues], None]
    run: Callable[[flags.FlagValues], object]  # the body; raises ValueError for bad input
    usage: str = "[--flags]"  # what follows `PROG` on the usage line
    examples: str = ""  # shell lines; "{prog}" stands for how the command is invoked
    # True when, with these flags, the body needs neither TensorFlow nor the model
    # modules (it then starts without them: `list`, `info`).
    light: Callable[[flags.FlagValues], bool] = lambda values: False

    def flag_values(self):
        values = flags.FlagValues()
        self.define_flags(values)
        flags.DEFINE_bool("verbose", False, "Show TensorFlow's C++ logs and absl's INFO logs (off by default).",
                          flag_values=values)
        return values


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


def write_json(path, data, default=None):
    """Writes `data` as JSON to `path` through a temporary file, so that a failure
    never leaves half a file."""
    import json

    from keras_lightnets._atomic import write_atomically

    write_atomically(path, json.dumps(data, indent=2, default=default))


# ---------------------------------------------------------------------------- help


# What a flag's value looks like, in the help (else: by its type, or its name in capitals).
# A command whose flag of one of these names means something else sets `.placeholder` on it.
PLACEHOLDERS = {
    "model": "NAME", "keras_file": "FILE.keras", "output": "FILE.tflite", "graph": "FILE.tflite", "labels": "FILE",
    "output_dir": "DIR", "dataset": "NAME|DIR", "pattern": "GLOB", "recipe": "NAME", "quantization": "MODE",
    "input_type": "TYPE", "output_type": "TYPE", "representative_data": "digits|NAME|FILE.npy",
    "benchmark_binary": "PATH", "adb": "PATH", "cpu_mask": "HEX", "norm_mean": "X[,X,X]", "norm_std": "X[,X,X]",
    "weights": "SET|FILE",
}


def _spelling(flag):
    if isinstance(flag.parser, _BoolOrPathParser):
        return f"--[no]{flag.name}[=PATH]"
    if flag.boolean:
        return f"--[no]{flag.name}"
    if isinstance(flag.parser, flags.EnumParser):
        return f"--{flag.name}={{{','.join(flag.parser.enum_values)}}}"
    by_type = {flags.IntegerParser: "INT", flags.FloatParser: "FLOAT", flags.ListParser: "A,B,..."}
    placeholder = getattr(flag, "placeholder", None) or PLACEHOLDERS.get(flag.name) or by_type.get(type(flag.parser)) or (
        "TEXT" if flag.name.startswith("metadata_") else flag.name.upper())
    return f"--{flag.name}={placeholder}"


def _default(flag):
    if flag.default is None or flag.default is False or flag.name == "verbose":
        return ""
    if flag.default is True:
        return " (default: on)"
    if isinstance(flag.default, list):
        return f" (default: {','.join(map(str, flag.default))})"
    return f" (default: {flag.default})"


def flags_help(values):
    """Each flag of `values`, in the order defined: its spelling, then its help."""
    lines = []
    for name in values:
        flag = values[name]
        if name != flag.name:  # a short name
            continue
        text = flag.help
        if isinstance(flag.parser, flags.EnumParser) and text.startswith("<"):
            text = text.split(": ", 1)[-1]  # absl's "<a|b>: " prefix: the spelling shows the choices
        lines.append(f"  {_spelling(flag)}")
        lines += textwrap.wrap(text + _default(flag), WIDTH, initial_indent=" " * 6, subsequent_indent=" " * 6)
    return "\n".join(lines)


def command_help(command, prog):
    """`PROG --help` for one command: usage, summary, examples, flags."""
    parts = [f"usage: {prog} {command.usage}", "", command.summary]
    if command.examples:
        parts += ["", "examples:", textwrap.indent(command.examples.format(prog=prog).strip("\n"), "  ")]
    parts += ["", "flags:", flags_help(command.flag_values())]
    return "\n".join(parts)


def commands_help(prog, description, commands):
    """`PROG --help`: the commands, one line each."""
    width = max(len(c.name) for c in commands)
    return "\n".join([
        f"usage: {prog} COMMAND [--flags]", "", description, "", "commands:",
        *(f"  {c.name.ljust(width)}  {c.summary}" for c in commands), "",
        f"`{prog} COMMAND --help` lists a command's flags, with examples. Every command takes",
        "--verbose (TensorFlow's and absl's INFO logs, off by default).",
    ])


# ---------------------------------------------------------------------------- running


class Failed(Exception):
    """The command could not do its job (a device went away, a run hung): one line on
    stderr and exit status 1."""


class _Exit(Exception):
    """Ends the run with `code` after writing `message` (stderr if code, else stdout)."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def parse(command, prog, args, label=None):
    """The command's FlagValues, parsed from `args` (the arguments after the command).
    `--help` ends the run with the command's help; a bad flag, with one error line
    that starts with `label` (default: `prog`)."""
    label = label or prog
    if any(arg in HELP_ARGS for arg in args):
        raise _Exit(0, command_help(command, prog))
    values = command.flag_values()
    try:
        rest = values([prog, *args])[1:]
    except flags.Error as error:
        raise _Exit(2, f"{label}: error: {error}. See `{prog} --help`.") from None
    if rest:
        raise _Exit(2, f"{label}: error: Unexpected arguments {rest}; options are --flags (see `{prog} --help`).")
    return values


def execute(command, label, values, prepare=None):
    """Runs the command's body; bad input (ValueError, absl's UsageError) becomes one
    line on stderr and exit status 2, a file error or `Failed` status 1; no traceback."""
    from absl.app import UsageError

    if prepare is not None:
        prepare(command, values)
    try:
        status = command.run(values)
    except BrokenPipeError:  # `lightnets list | head`: the reader has all it wants
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0
    except (ValueError, UsageError) as error:
        raise _Exit(2, f"{label}: error: {error}") from None
    except (OSError, Failed) as error:
        raise _Exit(1, f"{label}: error: {error}") from None
    return status if isinstance(status, int) else 0


def finish(run):
    """Calls `run()`; returns its exit status, printing an `_Exit`'s message."""
    try:
        return run()
    except _Exit as done:
        print(str(done), file=sys.stderr if done.code else sys.stdout)
        return done.code


def dispatch(prog, description, commands, argv, prepare=None):
    """`PROG COMMAND [--flags]`: picks the command, parses its flags, runs it. Returns the
    exit status. `prepare(command, values)` runs after parsing, before the body."""

    def run():
        by_name = {c.name: c for c in commands}
        args = list(argv[1:])
        if not args:
            raise _Exit(2, f"{commands_help(prog, description, commands)}\n\n"
                           f"{prog}: error: Give a command: {prog} {{{'|'.join(by_name)}}} [--flags].")
        if args[0] in HELP_ARGS:
            raise _Exit(0, commands_help(prog, description, commands))
        name = args.pop(0)
        if name not in by_name:
            close = difflib.get_close_matches(name, list(by_name), n=1)
            hint = f" Did you mean `{prog} {close[0]}`?" if close else ""
            raise _Exit(2, f"{prog}: error: Give a command first: {prog} {{{'|'.join(by_name)}}} [--flags]; "
                           f"received {name!r}.{hint} See `{prog} --help`.")
        command = by_name[name]
        return execute(command, f"{prog} {name}", parse(command, f"{prog} {name}", args), prepare)

    return finish(run)


def run_single(command, prog, label, argv, prepare=None):
    """An app of one command (`python tflite/convert.py [--flags]`): as dispatch()."""
    return finish(lambda: execute(command, label, parse(command, prog, argv[1:], label), prepare))


# ---------------------------------------------------------------------------- quiet


# Lines that TensorFlow, its converter and LiteRT write straight to the process's
# stderr, where no logging setting reaches: absl's preamble and INFO lines from before
# absl::InitializeLog() (oneDNN, CUDA stubs), the MLIR quantizer's settings line and
# LiteRT's one-time XNNPACK notice. Anything else passes.
NOISE = (
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$",
    r"I\d{4} [\d:.]+ +\d+ \S+:\d+\] ",  # absl: severity I, date, time, thread, file:line
    r"INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.$",
    r"fully_quantize: \d+, inference_type: \d+, input_inference_type: \w+, output_inference_type: \w+$",
)
NOISE_RE = re.compile("|".join(f"(?:{p})" for p in NOISE))

# Runs in a child process, so what it has read is written out even if this process
# dies (a C++ abort prints its reason, then kills the process before a thread could
# pass it on).
_FILTER = r"""
import re, sys
noise = re.compile(sys.argv[1].encode())
out = sys.stdout.buffer
for line in iter(sys.stdin.buffer.readline, b""):
    if not noise.match(line.rstrip(b"\r\n")):
        out.write(line)
        out.flush()
"""


def quiet(verbose):
    """Call before TensorFlow is imported. Unless `verbose`: TF_CPP_MIN_LOG_LEVEL=3 (if
    not set), absl at WARNING, the "tensorflow" Python logger at ERROR, and the
    process's C-level stderr through a filter that drops the NOISE lines. Python's own
    writes (sys.stderr: tracebacks, warnings, progress bars) bypass the filter."""
    import logging

    from absl import logging as absl_logging

    flags.FLAGS.mark_as_parsed()  # absl logging: no "before flag parsing" notice
    if verbose:
        absl_logging.use_absl_handler()
        absl_logging.set_verbosity(absl_logging.INFO)
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    absl_logging.set_verbosity(absl_logging.WARNING)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    _filter_c_stderr()


def import_api(command, values):
    """Imports the package's API (every model registered, every layer known to Keras)
    unless the command is light. The command-line apps defer it (keras_lightnets/__init__.py)."""
    if not command.light(values):
        import keras_lightnets

        keras_lightnets._import_api()


def start(command, values):
    """The `prepare` of a command-line app's process: quiet() (before TensorFlow is
    imported), then import_api(); a light command needs neither."""
    if not command.light(values):
        quiet(values.verbose)
    import_api(command, values)


def _filter_c_stderr():
    sys.stderr.flush()
    real = os.dup(2)
    child = subprocess.Popen([sys.executable, "-S", "-u", "-c", _FILTER, NOISE_RE.pattern], stdin=subprocess.PIPE,
                             stdout=real, stderr=real)
    os.dup2(child.stdin.fileno(), 2)
    child.stdin.close()  # fd 2 holds the pipe now
    python_stderr = sys.stderr
    sys.stderr = open(os.dup(real), "w", buffering=1, encoding=python_stderr.encoding, errors="backslashreplace")

    def restore():
        sys.stderr.flush()
        os.dup2(real, 2)  # closes this process's end of the pipe: the filter sees EOF
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:  # a child process of ours still holds the pipe
            pass

    atexit.register(restore)

