"""Where the benchmarks' results live, and how a script writes them: JSON + Markdown in
benchmarks/results/, each written to a temporary file and renamed, so an interrupted run
never leaves a half-written result."""

import json
import os
import pathlib

RESULTS = pathlib.Path(__file__).resolve().parent / "results"


def load(name):
    """The saved results of `name` (benchmarks/results/NAME.json), for --render."""
    return json.loads((RESULTS / f"{name}.json").read_text())


def write_text(path, content):
    """Writes `content` to `path` through a temporary file and a rename."""
    path = pathlib.Path(path)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(content)
    os.replace(partial, path)


def save(name, results, markdown):
    """Writes benchmarks/results/NAME.json and NAME.md atomically."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    for suffix, content in (("json", json.dumps(results, indent=2) + "\n"), ("md", markdown)):
        write_text(RESULTS / f"{name}.{suffix}", content)
