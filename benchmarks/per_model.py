"""Run a measurement over the zoo, one model per Python process, resumably.

The zoo-wide benchmarks (qat_zoo.py, modes_zoo.py) measure one model at a time in a
fresh interpreter: TensorFlow does not give memory back between models, and a model
whose process dies (killed for memory, a crash in a converter) must become a row of
the results, not the end of the run. Results are saved after every model, so an
interrupted run resumes where it stopped.

A script hands its measurement to `main(...)`, which gives it the common command
line, absl flags as the package's apps have them (benchmarks/bench_cli.py): --models,
--redo, --jobs, --render, and `--one=NAME`, with which the runner starts each model's
process (it prints one row as JSON on the last line of stdout); the measurement calls
`stage(...)` as it goes, so a killed process still says where it died.

Importing this module defines no flag and imports neither absl's flags nor
keras_lightnets (a measurement process imports it for `stage`).
"""

import concurrent.futures
import fnmatch
import json
import os
import subprocess
import sys

from tqdm import tqdm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import results_io  # noqa: E402  (the benchmarks' atomic writer; light: no keras_lightnets)


def stage(name):
    """Announce the stage a model is at (read back if its process dies)."""
    print(f"stage {name}", file=sys.stderr, flush=True)


def measure_in_subprocess(script, name):
    """`python script --one=name` in a fresh interpreter; its row, or why the process gave none."""
    done = subprocess.run([sys.executable, str(script), f"--one={name}"], capture_output=True, text=True)
    lines = done.stdout.strip().splitlines()
    if done.returncode == 0 and lines:
        return json.loads(lines[-1])
    cause = "killed (out of memory?)" if done.returncode in (-9, 137) else f"exit status {done.returncode}"
    stages = [line.split(" ", 1)[1] for line in done.stderr.splitlines() if line.startswith("stage ")]
    tail = [line for line in done.stderr.strip().splitlines() if not line.startswith("stage ")][-1:]
    if tail and done.returncode not in (-9, 137):
        cause += f": {tail[0][:300]}"
    return {"model": name, "status": f"process died at {stages[-1] if stages else 'build'}", "error": cause}


def select(names, patterns, done, redo=False):
    """The names matching any of the comma-separated shell patterns, less those done (unless redo)."""
    chosen = [n for n in names if any(fnmatch.fnmatch(n, p) for p in patterns.split(","))]
    return [n for n in chosen if redo or n not in done]


def run_all(script, names, on_row, jobs=1, desc="models"):
    """Measures each name in its own process (`jobs` at a time), calling on_row(row)
    as each finishes (in completion order), with a progress bar."""
    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        futures = [pool.submit(measure_in_subprocess, script, name) for name in names]
        for future in tqdm(concurrent.futures.as_completed(futures), total=len(names), desc=desc, unit="model"):
            row = future.result()
            on_row(row)
            note = f" ({row.get('error')})" if row["status"] != "ok" and row.get("error") else ""
            tqdm.write(f"{row['model']}: {row['status']}{note}")


def write_atomically(path, text):
    """Writes text to path (its folder made if missing) with the benchmarks' one atomic
    writer."""
    path.parent.mkdir(parents=True, exist_ok=True)
    results_io.write_text(path, text)


def load_json(path, default):
    return json.loads(path.read_text()) if path.exists() else default


def define_flags(values):
    from absl import flags

    f = dict(flag_values=values)
    flags.DEFINE_string("models", "*", "Shell pattern(s), comma-separated.", **f)
    flags.DEFINE_bool("redo", False, "Measure models already in the results again.", **f)
    flags.DEFINE_integer("jobs", 1, "Models measured in parallel (one process each).", **f)
    flags.DEFINE_bool("render", False, "The Markdown again, from the JSON.", **f)
    flags.DEFINE_string("one", None, "Measure this one model in this process and print its row as JSON on stdout's "
                        "last line, recording nothing (how the runner starts each model's process).", **f)


def main(script, *, doc, names, measure, results_path, save, render, succeeded, desc, argv=None,
         light=lambda values: False):
    """The command line of a zoo-wide benchmark script: absl flags (define_flags), logs
    quiet unless --verbose; returns the exit status.

    names(): every model it covers; measure(name): one model's row; save(results):
    write the JSON and Markdown; render(results): the Markdown; succeeded(row): whether
    a row meets the script's bar (the exit status is 1 unless every row does); argv:
    the arguments after the program (default: sys.argv[1:]); light(values): the run
    needs neither TensorFlow nor the models (it then starts without them)."""
    import bench_cli  # here, not at the top: importing it imports keras_lightnets

    def run(args):
        return _run(script, args, names=names, measure=measure, results_path=results_path, save=save, render=render,
                    succeeded=succeeded, desc=desc)

    return bench_cli.run(bench_cli.command(script, doc, define_flags, run, light=light), argv)


def _run(script, args, *, names, measure, results_path, save, render, succeeded, desc):
    if args.one:
        print(json.dumps(measure(args.one)))
        return 0
    results = load_json(results_path, {"models": {}})
    if args.render:
        save(results)
        return 0

    def record(row):
        results["models"][row["model"]] = row
        save(results)

    run_all(script, select(names(), args.models, results["models"], args.redo), record, jobs=args.jobs, desc=desc)
    print(render(results))
    return 0 if all(succeeded(row) for row in results["models"].values()) else 1
