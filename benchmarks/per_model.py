"""Run a measurement over the zoo, one model per Python process, resumably.

The zoo-wide benchmarks (qat_zoo.py, modes_zoo.py) measure one model at a time in a
fresh interpreter: TensorFlow does not give memory back between models, and a model
whose process dies (killed for memory, a crash in a converter) must become a row of
the results, not the end of the run. Results are saved after every model, so an
interrupted run resumes where it stopped.

A script using this module handles `--one NAME` by printing its row as JSON on the
last line of stdout, and calls `stage(...)` as it goes, so a killed process still
says where it died.
"""

import concurrent.futures
import fnmatch
import json
import subprocess
import sys

from tqdm import tqdm


def stage(name):
    """Announce the stage a model is at (read back if its process dies)."""
    print(f"stage {name}", file=sys.stderr, flush=True)


def measure_in_subprocess(script, name):
    """`python script --one name` in a fresh interpreter; its row, or why the process gave none."""
    done = subprocess.run([sys.executable, str(script), "--one", name], capture_output=True, text=True)
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
    """Write text to path via a temporary file and a rename: never a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def load_json(path, default):
    return json.loads(path.read_text()) if path.exists() else default
