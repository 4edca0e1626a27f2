"""The spread across seeds of every trained figure the test suite bounds.

    python benchmarks/seed_spread.py [--seeds=5] [--tests=tests/test_resnet.py::test_fit_reduces_loss_on_real_digits,...]

Reruns each test that bounds a trained (or random-weight) figure through
tests/figures.py's `at_least` / `at_most`, once per seed offset 0..seeds-1
(KL_SEED_OFFSET, which tests/conftest.py adds to every keras.utils.set_random_seed
call), and records each figure's value. A different seed changes the weights'
initialization and the training order, a far larger perturbation than another CPU's
floating-point order, so a bound that holds with a margin across seeds holds on any
machine. Writes benchmarks/results/seed_spread.{json,md}: per figure its bound, the
values per seed, the worst one and the margin left.
"""

# keras_lightnets (bench_cli imports it) leaves TensorFlow out: this script needs none
# (keras_lightnets/__init__.py reads this).
LIGHTNETS_APP = True

import ast
import json
import os
import pathlib
import platform
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

from absl import flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_cli  # noqa: E402  (absl flags, as the package's command-line apps have them)
import results_io  # noqa: E402  (atomic writes)

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def bounded_tests(tests_dir=ROOT / "tests"):
    """Every test function that calls at_least / at_most, as a pytest node id: the
    tests to rerun, found from the source so that no new bound escapes the spread."""
    found = []
    for path in sorted(tests_dir.glob("test_*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                calls = {n.func.id for n in ast.walk(node) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
                if calls & {"at_least", "at_most"}:
                    found.append(f"tests/{path.name}::{node.name}")
    return found


def define_flags(values):
    """In the command's own flag set, not absl's global one: importing this module
    (tests/test_seed_spread_list.py does, for bounded_tests) defines no flag."""
    f = dict(flag_values=values)
    flags.DEFINE_integer("seeds", 5, "Seed offsets 0..seeds-1 (0 is the suite's own seeds).", **f)
    flags.DEFINE_list("tests", None, "pytest node ids to rerun (default: every test that calls at_least / at_most).",
                      **f)
    flags.DEFINE_string("output", str(RESULTS / "seed_spread"), "Writes OUTPUT.json and OUTPUT.md.", **f)
    values["output"].placeholder = "PATH"  # a stem, not the FILE.tflite --output is elsewhere
    flags.DEFINE_integer("workers", 2, "Seed offsets run side by side (one pytest process each).", **f)
    flags.DEFINE_bool("update", False, "Rerun only --tests and keep the other tests' figures from OUTPUT.json.", **f)


def run_seed(offset, tests, log):
    env = dict(os.environ, KL_SEED_OFFSET=str(offset), KL_FIGURES_LOG=log, TF_CPP_MIN_LOG_LEVEL="3")
    command = [sys.executable, "-m", "pytest", "-p", "no:xdist", "-q", "-p", "no:cacheprovider", *tests]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-300:]
    return done.returncode, summary


def summarize(entries, seeds):
    figures = {}
    for e in entries:
        key = (e["test"], e["figure"])
        f = figures.setdefault(key, {"test": e["test"], "figure": e["figure"], "relation": e["relation"],
                                     "bound": e["bound"], "values": {}})
        f["values"][str(e["seed_offset"])] = e["value"]
    rows = []
    for f in figures.values():
        values = list(f["values"].values())
        worst = min(values) if f["relation"] == ">=" else max(values)
        f["min"], f["max"], f["worst"] = min(values), max(values), worst
        f["margin"] = worst - f["bound"] if f["relation"] == ">=" else f["bound"] - worst
        f["holds"] = f["margin"] >= 0
        f["seeds_measured"] = len(values)
        rows.append(f)
    return sorted(rows, key=lambda f: (f["test"], f["figure"]))


def write(rows, runs, seeds, seconds, output, earlier_commands=()):
    command = "python benchmarks/seed_spread.py " + " ".join(sys.argv[1:])
    record = {"seeds": seeds, "runs": runs, "figures": rows, "wall_seconds": round(seconds),
              "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
              "command": command, "commands": [*earlier_commands, command]}
    results_io.write_text(output + ".json", json.dumps(record, indent=2) + "\n")
    lines = [
        "# Trained figures of the test suite: spread across seeds",
        "",
        " then ".join(f"`{c.strip()}`" for c in record["commands"]) + " — each test that bounds a trained figure (tests/figures.py), rerun under "
        f"seed offsets 0..{seeds - 1} (KL_SEED_OFFSET; 0 is the suite's own seeds), {record['machine']}, "
        f"{seconds / 60:.0f} min. A seed changes the initial weights and the training order, a far larger "
        "perturbation than another CPU's float order. Margin: how far the worst seed stays from the bound.",
        "",
        "| test | figure | bound | min | max | margin (worst seed) | seeds | holds |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for f in rows:
        figure = f["figure"].replace("|", "\\|")  # a literal pipe would split the table's cell
        lines.append(f"| `{f['test'].split('::')[-1]}` | {figure} | {f['relation']} {f['bound']:.4g} | {f['min']:.4g} | "
                     f"{f['max']:.4g} | {f['margin']:+.4g} | {f['seeds_measured']} | {'yes' if f['holds'] else '**no**'} |")
    lines += ["", "pytest per seed offset:", ""]
    lines += [f"- {r['seed_offset']}: {r['summary']}" + (f" (rerun of {', '.join(t.split('::')[-1] for t in r['tests'])})"
                                                          if r.get("tests") else "") for r in runs]
    results_io.write_text(output + ".md", "\n".join(lines) + "\n")


def _merged_with_saved(rows, runs, tests, output):
    """The saved figures of every test not rerun, with the new ones of those rerun."""
    saved = json.loads(pathlib.Path(output + ".json").read_text())
    rerun = lambda figure: figure["test"].split("[")[0] in tests  # noqa: E731  (a parametrized id ends in [...])
    kept = [f for f in saved["figures"] if not rerun(f)]
    runs = saved["runs"] + [dict(r, tests=tests) for r in runs]
    return sorted(kept + rows, key=lambda f: (f["test"], f["figure"])), runs, saved.get("commands", [saved["command"]])


def run(args):
    from tqdm import tqdm

    start = time.perf_counter()
    tests = args.tests or bounded_tests()
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(args.workers) as pool:
        # One log per offset: two pytest processes never append to one file.
        logs = [os.path.join(tmp, f"figures{offset}.jsonl") for offset in range(args.seeds)]
        pending = {pool.submit(run_seed, offset, tests, logs[offset]): offset for offset in range(args.seeds)}
        runs = []
        for done in tqdm(as_completed(pending), total=len(pending), desc="seed offsets"):
            offset = pending[done]
            code, summary = done.result()
            runs.append({"seed_offset": offset, "exit_code": code, "summary": summary})
            print(f"seed offset {offset}: {summary}", flush=True)
        runs.sort(key=lambda r: r["seed_offset"])
        entries = [json.loads(line) for log in logs if os.path.exists(log) for line in open(log)]
    rows = summarize(entries, args.seeds)
    earlier = ()
    if args.update:
        rows, runs, earlier = _merged_with_saved(rows, runs, tests, args.output)
    write(rows, runs, args.seeds, time.perf_counter() - start, args.output, earlier)
    print(open(args.output + ".md").read())


# The pytest processes it starts quiet their own logs; this one imports no TensorFlow.
COMMAND = bench_cli.command(__file__, __doc__, define_flags, run, light=lambda args: True)

if __name__ == "__main__":
    bench_cli.main(COMMAND)
