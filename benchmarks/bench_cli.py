"""The benchmark scripts' command line: absl flags through keras_lightnets/_cli_util.py,
as `lightnets` and tflite/*.py have them.

A script sets `LIGHTNETS_APP = True` before importing this module (keras_lightnets then
imports TensorFlow only when a run needs it, after quieting its logs), builds its
`command(...)` and ends with `main(COMMAND)`. What every script gets from here:

- its flags in the command's own FlagValues, defined when the command line is parsed,
  never in absl's global FLAGS at import: the tests import several of these modules
  into one process, where two definitions of one flag name clash;
- `--help`: the docstring's first paragraph, its usage lines as examples, every flag;
  it answers without TensorFlow;
- TensorFlow's and absl's logs off unless --verbose;
- bad input (an unknown flag, a ValueError from the body) as one line on stderr and
  exit status 2, no traceback;
- `--no-NAME`, argparse's spelling that these scripts took before, read as absl's
  `--noNAME` for a boolean flag (older recorded commands keep working).
"""

import os
import sys
import textwrap

from keras_lightnets import _cli_util
from keras_lightnets._cli_util import Command


def summary(doc):
    """The docstring's first paragraph, on lines of the help's width."""
    first = doc.strip().split("\n\n")[0]
    return textwrap.fill(" ".join(first.split()), _cli_util.WIDTH)


def examples(doc, script):
    """The docstring's usage lines of `script` (`python benchmarks/SCRIPT ...`, with their
    backslash continuations and the comment lines that follow one), `{prog}` standing for
    the command."""
    usage = f"python benchmarks/{script}"
    lines, indent, going_on = [], 0, False
    for line in doc.replace("{", "{{").replace("}", "}}").splitlines():
        text = line.strip()
        if usage in text:
            indent = len(line) - len(line.lstrip())
        elif not (lines and (going_on or text.startswith("#"))):  # not a continuation of the line above
            going_on = False
            continue
        lines.append(line[indent:].replace(usage, "{prog}"))  # "{prog}" becomes as long as `usage` again
        going_on = text.endswith("\\")
    return "\n".join(lines)


def command(file, doc, define_flags, run, light=lambda values: False):
    """The Command of the script at `file`: its name, the summary and examples from its
    docstring `doc`, its flags and body; `light(values)`: the run needs neither TensorFlow
    nor the models (then it starts without them, e.g. a --render from saved JSON)."""
    script = os.path.basename(file)
    return Command(script.removesuffix(".py"), summary(doc), define_flags, run, examples=examples(doc, script),
                   light=light)


def prog(command):
    return f"python benchmarks/{command.name}.py"


def absl_spelling(command, args):
    """`args` with each `--no-NAME` of a boolean flag written `--noNAME`, as absl reads it."""
    values = command.flag_values()
    booleans = {name for name in values if values[name].boolean}
    spelled = []
    for i, arg in enumerate(args):
        if arg == "--":  # what follows is not a flag
            return spelled + list(args[i:])
        spelled.append(f"--no{arg[5:]}" if arg.startswith("--no-") and arg[5:] in booleans else arg)
    return spelled


def parse(command, args):
    """The command's flags parsed from `args` (the arguments after the program), in this
    process: what a test or another script calls instead of the command line."""
    return _cli_util.parse(command, prog(command), absl_spelling(command, args), label=f"{command.name}.py")


def run(command, args=None):
    """Runs the command on `args` (default: sys.argv[1:]) as its own program: logs quiet
    unless --verbose, the package's API imported unless the run is light; returns the
    exit status."""
    args = sys.argv[1:] if args is None else args
    return _cli_util.run_single(command, prog(command), f"{command.name}.py",
                                [prog(command), *absl_spelling(command, args)], prepare=_cli_util.start)


def main(command):
    """The end of a script: `sys.exit(run(command))`."""
    sys.exit(run(command))


def chosen(models, names):
    """The entries of `models` (tuples whose second item is a registry name) named in
    `names`, all of them when `names` is empty; an unknown name is a ValueError that
    lists the known ones."""
    known = [m[1] for m in models]
    unknown = [n for n in names or () if n not in known]
    if unknown:
        raise ValueError(f"--models: {', '.join(unknown)} is not one of this benchmark's models; "
                         f"choose from {','.join(known)}.")
    return [m for m in models if not names or m[1] in names]
