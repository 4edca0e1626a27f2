"""The benchmark scripts' command line (benchmarks/bench_cli.py): absl flags as the
package's apps have them. Every script answers --help quickly, without TensorFlow,
with its flags and its docstring's usage lines; those lines, and the commands the
results files record, parse under the flags; importing the modules defines no flag
in absl's global FLAGS (tests import several into one process)."""

import importlib.util
import json
import os
import pathlib
import shlex
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
RUNNER_FLAGS = ["models", "redo", "jobs", "render", "one"]  # per_model.py's, for qat_zoo.py and modes_zoo.py
# Each script's flags, in the order --help lists them (every command adds --verbose).
FLAGS = {
    "channel_affine_speed.py": ["models", "runs", "op_runs", "shared", "save", "render"],
    "hard_swish_rewrite.py": ["models", "runs", "shared", "save", "render"],
    "heads.py": ["only", "size", "calibration", "warmup_runs", "num_runs", "rounds", "workdir", "out", "render"],
    "int8_speed.py": ["models", "runs", "save", "render"],
    "model_table.py": ["update", "render", "only"],
    "modes_zoo.py": RUNNER_FLAGS,
    "qat_layerwise.py": ["models", "weights", "epochs", "learning_rate", "seed", "fit", "code", "render"],
    "qat_zoo.py": RUNNER_FLAGS,
    "quantization_accuracy.py": ["models", "size", "epochs", "qat_epochs", "seed", "save", "render"],
    "real_weights.py": ["save", "render"],
    "seed_spread.py": ["seeds", "tests", "output", "workers", "update"],
    "train_throughput.py": ["precision", "steps", "rounds", "batch_size", "image_size", "timeout", "save", "render",
                            "worker"],
    "train_throughput_gpu.py": ["models", "precisions", "batch_size", "image_size", "classes", "rounds", "round_s",
                                "min_steps", "max_steps", "warmup_steps", "calibration_steps", "compile_workers",
                                "host_feed_check", "time_budget_s", "note", "output_dir", "save", "render"],
    "zoo.py": ["models", "resolution", "int8", "anchors", "calibration", "warmup_runs", "num_runs", "rounds",
               "transformers", "jobs", "max_minutes", "accuracy", "weights", "workdir", "out", "render_only"],
}


def test_every_script_is_listed():
    """A new script (one with a __main__ block) must join FLAGS, so its --help is checked."""
    scripts = sorted(p.name for p in BENCHMARKS.glob("*.py") if 'if __name__ == "__main__":' in p.read_text())
    assert scripts == sorted(FLAGS)


def _module(name):
    sys.path.insert(0, str(BENCHMARKS))  # qat_zoo.py and modes_zoo.py import per_model from there
    try:
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCHMARKS))


def _command(script):
    """The script's Command; qat_zoo.py's and modes_zoo.py's is per_model.py's runner's."""
    module = _module(script.removesuffix(".py"))
    if hasattr(module, "COMMAND"):
        return module.COMMAND
    bench_cli, per_model = _module("bench_cli"), _module("per_model")
    return bench_cli.command(str(BENCHMARKS / script), module.__doc__, per_model.define_flags, None)


@pytest.mark.parametrize("script", sorted(FLAGS))
def test_help_lists_the_flags_and_examples_without_tensorflow(script):
    # -X importtime: every module the process imports, on stderr
    done = subprocess.run([sys.executable, "-X", "importtime", str(BENCHMARKS / script), "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    heavy = sorted(m for m in imported if m.split(".")[0] in ("tensorflow", "keras", "jax", "tf_keras"))
    assert not heavy, f"{script} --help imported {heavy[:5]}"
    assert "keras_lightnets" in imported  # the import log is read right: the package was imported, its API not

    lines = done.stdout.splitlines()
    assert lines[0] == f"usage: python benchmarks/{script} [--flags]"
    examples = lines[lines.index("examples:") + 1:lines.index("flags:")]
    assert any(line.strip().startswith(f"python benchmarks/{script}") for line in examples), examples
    listed = [line.strip().split("=")[0].replace("--[no]", "--")[2:] for line in lines[lines.index("flags:") + 1:]
              if line.startswith("  --")]
    assert listed == FLAGS[script] + ["verbose"]


def _arguments(command_line, script):
    """The arguments after `python benchmarks/SCRIPT` in a command line (comments dropped)."""
    words = shlex.split(command_line.replace("\\\n", " "), comments=True)
    return words[words.index(f"benchmarks/{script}") + 1:]


@pytest.mark.parametrize("script", sorted(FLAGS))
def test_the_docstrings_usage_lines_parse(script):
    command, bench_cli = _command(script), _module("bench_cli")
    doc = _module(script.removesuffix(".py")).__doc__
    usages = [line for line in doc.replace("\\\n", " ").splitlines() if f"python benchmarks/{script}" in line]
    assert usages
    for usage in usages:  # seed_spread.py's: [--seeds=5] [--tests=A,...], optional flags and an ellipsis
        args = _arguments(usage.replace("[", "").replace("]", ""), script)
        bench_cli.parse(command, [a.rstrip(",.") for a in args])


def test_the_results_recorded_commands_parse():
    bench_cli = _module("bench_cli")
    zoo = json.loads((BENCHMARKS / "results" / "zoo.json").read_text())["meta"]["command"]
    values = bench_cli.parse(_command("zoo.py"), shlex.split(zoo))
    assert values.transformers and values.resolution == 128 and values.rounds == 7
    superset = json.loads((BENCHMARKS / "results" / "zoo_keras_superset.json").read_text())["meta"]["command"]
    values = bench_cli.parse(_command("zoo.py"), shlex.split(superset))
    assert values.resolution == 128 and values.rounds == 7 and "nasnet_mobile" in values.models
    gpu = json.loads((BENCHMARKS / "results" / "train_throughput_gpu.json").read_text())
    # its --note texts are written unquoted, for reading: the flags before them
    flags_part = gpu["command"].split(" --note ")[0]
    values = bench_cli.parse(_command("train_throughput_gpu.py"), _arguments(flags_part, "train_throughput_gpu.py"))
    assert values.rounds == 4 and values.round_s == 0.8 and values.time_budget_s == 300
    assert values.output_dir == "/root/out" and len(gpu["notes"]) >= 2
    assert bench_cli.parse(_command("train_throughput_gpu.py"), ["--note", gpu["notes"][0], "--note",
                                                                 gpu["notes"][1]]).note == gpu["notes"][:2]
    for recorded in json.loads((BENCHMARKS / "results" / "seed_spread.json").read_text())["commands"]:
        values = bench_cli.parse(_command("seed_spread.py"), _arguments(recorded, "seed_spread.py"))
        assert values.seeds == 5 and values.workers == 2


def test_argparse_spelling_of_a_negated_switch_still_reads():
    bench_cli = _module("bench_cli")
    assert bench_cli.parse(_command("zoo.py"), ["--no-int8", "--no-anchors"]).int8 is False
    assert bench_cli.parse(_command("int8_speed.py"), ["--no-save"]).save is False
    assert bench_cli.parse(_command("int8_speed.py"), ["--nosave", "--models=mobilenet_v1,mobilenet_v2"]).models == [
        "mobilenet_v1", "mobilenet_v2"]


def test_an_unknown_model_is_named_with_the_choices():
    bench_cli = _module("bench_cli")
    models = [("MobileNet V1", "mobilenet_v1"), ("MobileNet V2", "mobilenet_v2")]
    assert bench_cli.chosen(models, None) == models
    assert bench_cli.chosen(models, ["mobilenet_v2"]) == models[1:]
    with pytest.raises(ValueError, match="--models: mobilenet_v9 is not one of this benchmark's models; "
                                         "choose from mobilenet_v1,mobilenet_v2."):
        bench_cli.chosen(models, ["mobilenet_v9"])


def test_a_bad_flag_is_one_line_and_exit_status_2():
    done = subprocess.run([sys.executable, str(BENCHMARKS / "int8_speed.py"), "--runs=many"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "int8_speed.py: error: flag --runs=many: invalid literal for int() with base 10: 'many'. "
        "See `python benchmarks/int8_speed.py --help`."]


def test_importing_every_benchmark_defines_no_global_flag_and_no_tensorflow():
    """Tests import these modules side by side; a flag defined at import in absl's global
    FLAGS clashes with the next module's (it broke CI once), and an environment variable set
    at import leaks into every later test's subprocesses (KERAS_BACKEND=jax did: CI red)."""
    code = f"""
LIGHTNETS_APP = True  # keras_lightnets' API (and TensorFlow) waits, as in the scripts
import importlib.util, sys
from absl import flags
sys.path.insert(0, {str(BENCHMARKS)!r})
import os
before, environ = set(flags.FLAGS), dict(os.environ)
for name in {sorted(p.stem for p in BENCHMARKS.glob("*.py"))!r}:
    spec = importlib.util.spec_from_file_location(name, {str(BENCHMARKS)!r} + "/" + name + ".py")
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
changed = sorted(k for k in set(os.environ) | set(environ) if os.environ.get(k) != environ.get(k))
print(sorted(set(flags.FLAGS) - before), "tensorflow" in sys.modules, changed)
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[] False []"
