"""benchmarks/per_model.py, the runner of the zoo-wide benchmarks (qat_zoo.py,
modes_zoo.py): each model in its own process, a process that dies becomes a row
saying where, and results are never half-written."""

import importlib.util
import json
import os
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _per_model():
    spec = importlib.util.spec_from_file_location("per_model", os.path.join(ROOT, "benchmarks", "per_model.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# A measurement script the way qat_zoo.py / modes_zoo.py are written: `--one=NAME`
# prints the row as JSON on stdout's last line, announcing stages on stderr.
SCRIPT = textwrap.dedent(
    """
    import json, os, signal, sys
    sys.path.insert(0, {benchmarks!r})
    from per_model import stage

    flag, name = sys.argv[1].split("=", 1)
    assert flag == "--one", sys.argv
    stage("build")
    print("noise a converter prints")
    if name == "killed":
        stage("fit")
        os.kill(os.getpid(), signal.SIGKILL)  # what the kernel's out-of-memory killer does
    if name == "crashes":
        stage("convert")
        raise RuntimeError("converter crashed")
    print(json.dumps({{"model": name, "status": "ok", "value": len(name)}}))
    """
)


def test_each_model_in_its_own_process_and_a_dead_one_is_a_row(tmp_path):
    per_model = _per_model()
    script = tmp_path / "measure.py"
    script.write_text(SCRIPT.format(benchmarks=os.path.join(ROOT, "benchmarks")))
    rows = []
    per_model.run_all(script, ["good", "killed", "crashes"], rows.append, jobs=2)

    by_name = {row["model"]: row for row in rows}
    assert by_name["good"] == {"model": "good", "status": "ok", "value": 4}
    assert by_name["killed"] == {"model": "killed", "status": "process died at fit", "error": "killed (out of memory?)"}
    assert by_name["crashes"]["status"] == "process died at convert"
    assert by_name["crashes"]["error"] == "exit status 1: RuntimeError: converter crashed"


def test_select_takes_patterns_and_skips_what_is_done():
    per_model = _per_model()
    names = ["mobilenet_v1", "mobilenet_v2", "resnet50", "vit_b16"]
    assert per_model.select(names, "mobilenet*,vit*", done={"mobilenet_v2": {}}) == ["mobilenet_v1", "vit_b16"]
    assert per_model.select(names, "mobilenet*", done={"mobilenet_v2": {}}, redo=True) == ["mobilenet_v1", "mobilenet_v2"]
    assert per_model.select(names, "nothing*", done={}) == []


def test_results_are_replaced_whole_and_read_back(tmp_path):
    per_model = _per_model()
    path = tmp_path / "results" / "r.json"
    assert per_model.load_json(path, {"models": {}}) == {"models": {}}
    per_model.write_atomically(path, json.dumps({"models": {"a": 1}}))
    per_model.write_atomically(path, json.dumps({"models": {"a": 2}}))
    assert per_model.load_json(path, None) == {"models": {"a": 2}}
    assert os.listdir(path.parent) == ["r.json"]  # no temporary file left beside it


def test_the_zoo_benchmarks_run_each_model_through_the_runner():
    """qat_zoo.py and modes_zoo.py take `--one` and use the shared runner (no copy of it)."""
    for script in ("qat_zoo.py", "modes_zoo.py"):
        text = open(os.path.join(ROOT, "benchmarks", script)).read()
        assert "from per_model import" in text and "subprocess" not in text, script


# A whole benchmark script on per_model.main: the command line, the resumable
# results, the exit status from the script's own bar.
MAIN_SCRIPT = textwrap.dedent(
    '''
    """A toy zoo benchmark."""
    LIGHTNETS_APP = True  # as every benchmark script: keras_lightnets waits for the command line
    import json, pathlib, sys
    sys.path.insert(0, {benchmarks!r})
    import per_model

    RESULTS = pathlib.Path({results!r})

    def save(results):
        per_model.write_atomically(RESULTS, json.dumps(results))

    def render(results):
        return "rows: " + ",".join(sorted(results["models"]))

    def measure(name):
        return {{"model": name, "status": "ok" if name != "bad" else "failed"}}

    if __name__ == "__main__":
        sys.exit(per_model.main(__file__, doc=__doc__, names=lambda: ["a1", "a2", "bad"], measure=measure,
                                results_path=RESULTS, save=save, render=render, desc="toy",
                                succeeded=lambda row: row["status"] == "ok",
                                light=lambda values: True))  # no TensorFlow to start: the toy needs none
    '''
)


def test_main_measures_resumes_and_fails_on_a_row_below_the_bar(tmp_path):
    import subprocess
    import sys

    results = tmp_path / "results.json"
    script = tmp_path / "toy_zoo.py"
    script.write_text(MAIN_SCRIPT.format(benchmarks=os.path.join(ROOT, "benchmarks"), results=str(results)))

    def run(*args):
        return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True)

    one = run("--one=a1")
    assert one.returncode == 0 and json.loads(one.stdout.splitlines()[-1]) == {"model": "a1", "status": "ok"}
    assert not results.exists()  # --one measures, it does not record

    first = run("--models=a*")
    assert first.returncode == 0, first.stderr
    assert sorted(json.loads(results.read_text())["models"]) == ["a1", "a2"]
    assert "rows: a1,a2" in first.stdout

    results.write_text(json.dumps({"models": {"a1": {"model": "a1", "status": "ok", "kept": True}}}))
    second = run()  # resumes: a1 is not measured again, a2 and bad are
    assert second.returncode == 1  # "bad" is below the bar
    rows = json.loads(results.read_text())["models"]
    assert rows["a1"]["kept"] and rows["bad"]["status"] == "failed" and sorted(rows) == ["a1", "a2", "bad"]

    bad = run("--models=a*", "--jobs=two")  # absl's flags: a bad value is one line, exit status 2
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        "toy_zoo.py: error: flag --jobs=two: invalid literal for int() with base 10: 'two'. "
        "See `python benchmarks/toy_zoo.py --help`."], bad.stderr
