"""The command line explains itself: `lightnets --help` lists the commands, each command
has its own flags and help, `list` and `info` answer without TensorFlow from an index
that equals the live registry, and TensorFlow's INFO logs stay off unless --verbose."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

import keras_lightnets as kl
from keras_lightnets import _cli_util
from keras_lightnets import cli
from keras_lightnets import registry
from keras_lightnets import registry_index

ROOT = pathlib.Path(__file__).resolve().parents[1]
LIGHTNETS = os.path.join(os.path.dirname(sys.executable), "lightnets")  # the console script, as users run it
COMMANDS = ["list", "info", "profile", "train", "convert", "benchmark", "demo"]


def run(*command, env=None, timeout=300):
    return subprocess.run(list(command), capture_output=True, text=True, cwd=ROOT, timeout=timeout,
                          env=env or {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


def test_help_lists_every_command_with_its_one_line_summary():
    done = run(LIGHTNETS, "--help")
    assert done.returncode == 0 and done.stderr == ""
    lines = done.stdout.splitlines()
    assert lines[0] == "usage: lightnets COMMAND [--flags]"
    listed = lines[lines.index("commands:") + 1:lines.index("commands:") + 1 + len(COMMANDS)]
    assert [line.split()[0] for line in listed] == COMMANDS == [c.name for c in cli.COMMANDS]
    for line, command in zip(listed, cli.COMMANDS):
        assert line == f"  {command.name.ljust(len('benchmark'))}  {command.summary}"
    assert "`lightnets COMMAND --help` lists a command's flags" in done.stdout


def test_convert_help_lists_its_own_flags_and_examples():
    done = run(LIGHTNETS, "convert", "--help")
    assert done.returncode == 0 and done.stderr == ""
    text = done.stdout
    assert text.startswith("usage: lightnets convert (--model=NAME | --keras_file=FILE) --output=FILE.tflite [--flags]\n")
    examples = text[text.index("examples:"):text.index("flags:")]
    assert "  lightnets convert --model=mobilenet_v3_large --quantization=int8 --input_type=uint8 \\" in examples
    assert "  lightnets convert --keras_file=trained.keras --labels=labels.txt --verify --output=model.tflite" in examples
    spelled = [line.strip() for line in text[text.index("flags:"):].splitlines() if line.startswith("  --")]
    assert spelled == [
        "--model=NAME", "--keras_file=FILE.keras", "--output=FILE.tflite", "--input_size=INT", "--classes=INT",
        "--weights=SET|FILE",
        "--quantization=MODE", "--input_type=TYPE", "--output_type=TYPE", "--representative_data=digits|NAME|FILE.npy",
        "--num_calibration_samples=INT", "--[no]allow_float_fallback", "--[no]verify", "--[no]metadata",
        "--labels=FILE", "--norm_mean=X[,X,X]", "--norm_std=X[,X,X]", "--metadata_name=TEXT",
        "--metadata_description=TEXT", "--metadata_author=TEXT", "--metadata_version=TEXT", "--metadata_license=TEXT",
        "--max_detections=INT", "--score_threshold=FLOAT", "--segmenter_output={logits,mask}", "--[no]json[=PATH]",
        "--[no]verbose",
    ]
    assert "float32 | float16 | dynamic | int8 | int16x8. (default: float32)" in text


def test_the_absl_apps_share_the_commands_help():
    for script, command in (("tflite/convert.py", "convert"), ("tflite/benchmark.py", "benchmark")):
        done = run(sys.executable, script, "--help")
        assert done.returncode == 0 and done.stderr == "", done.stderr[-2000:]
        ours = _cli_util.command_help(dict((c.name, c) for c in cli.COMMANDS)[command], f"python {script}")
        assert done.stdout == ours + "\n" and done.stdout.startswith(f"usage: python {script} ")
        assert f"\n  python {script} --" in done.stdout  # the examples name the script


def test_unknown_command_and_no_command_are_usage_errors_naming_the_commands():
    done = run(LIGHTNETS, "lst")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == ("lightnets: error: Give a command first: lightnets "
                           "{list|info|profile|train|convert|benchmark|demo} [--flags]; received 'lst'. "
                           "Did you mean `lightnets list`? See `lightnets --help`.\n")
    none = run(LIGHTNETS)
    assert none.returncode == 2 and "commands:\n  list " in none.stderr
    assert none.stderr.endswith("lightnets: error: Give a command: lightnets "
                                "{list|info|profile|train|convert|benchmark|demo} [--flags].\n")


def _flags(name):
    return {c.name: c for c in cli.COMMANDS}[name].flag_values()


def test_flags_are_per_command():
    train, demo = _flags("train"), _flags("demo")
    assert (train["output_dir"].default, demo["output_dir"].default) == ("lightnets_train", "demo_output")
    assert train["output_dir"].help != demo["output_dir"].help
    assert (train["image_size"].default, demo["image_size"].default) == (None, 64)  # train: the recipe's
    assert "output_dir" not in _flags("convert") and "graph" not in _flags("convert") and "model" not in _flags("list")
    # every flag of the old shared namespace still works where it applies, with its old default
    assert {n: _flags("convert")[n].default for n in ("quantization", "input_type", "num_calibration_samples", "classes")} \
        == {"quantization": "float32", "input_type": "float32", "num_calibration_samples": 200, "classes": 1000}
    assert {n: _flags("benchmark")[n].default for n in ("target", "num_threads", "warmup_runs", "num_runs", "min_secs")} \
        == {"target": "host", "num_threads": 1, "warmup_runs": 5, "num_runs": 50, "min_secs": 1.0}
    assert {n: train[n].default for n in ("model", "dataset", "recipe", "epochs", "batch_size", "ema")} == \
        {"model": "mobilenet_v3_small", "dataset": "digits", "recipe": "auto", "epochs": 8, "batch_size": 32, "ema": True}
    assert {n: demo[n].default for n in ("model", "epochs", "batch_size", "qat_epochs", "seed")} == \
        {"model": "mobilenet_v3_small", "epochs": 8, "batch_size": 32, "qat_epochs": 1, "seed": 0}


def test_a_flag_of_another_command_is_a_clear_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["lightnets", "list", "--output_dir=x"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == ("lightnets list: error: Unknown command line flag 'output_dir'. "
                                       "See `lightnets list --help`.\n")


def test_the_index_equals_the_live_registry():
    assert registry_index.MODELS == registry.index(), (
        "keras_lightnets/registry_index.py is stale: rewrite it with "
        "python -c \"from keras_lightnets.registry import write_index; write_index()\"")
    assert list(registry_index.MODELS) == kl.list_models()


def _imported_modules(importtime_stderr):
    return {line.split("|")[-1].strip() for line in importtime_stderr.splitlines() if line.startswith("import time:")}


@pytest.mark.parametrize("entry", [["-m", "keras_lightnets.cli"], [LIGHTNETS]], ids=["python -m", "console script"])
def test_list_and_info_answer_without_tensorflow(entry):
    listed = run(sys.executable, "-X", "importtime", *entry, "list", "--pattern=mobilenet_v3_small*")
    assert listed.returncode == 0
    assert listed.stdout.split() == kl.list_models("mobilenet_v3_small*")
    imported = _imported_modules(listed.stderr)
    assert "keras_lightnets.registry_index" in imported
    assert not {m for m in imported if m.split(".")[0] in ("tensorflow", "keras", "tf_keras", "numpy")}
    info = run(sys.executable, "-X", "importtime", *entry, "info", "--model=mobilenet_v3_large")
    assert info.returncode == 0
    assert json.loads(info.stdout) == json.loads(json.dumps(kl.model_info("mobilenet_v3_large").to_dict()))
    assert not {m for m in _imported_modules(info.stderr) if m.split(".")[0] in ("tensorflow", "keras")}


def test_tensorflow_info_logs_are_off_unless_verbose():
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # the command sets it
    done = run(LIGHTNETS, "profile", "--model=mobilenet_v1_025", "--input_size=32", "--classes=10", env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("mobilenet_v1_025: ")
    noise = [line for line in done.stderr.splitlines() if _cli_util.NOISE_RE.match(line) or line.startswith("INFO")]
    assert noise == [] and "Traceback" not in done.stderr


# The C-level stderr filter, in a child process: noise dropped, everything else through,
# even when the process aborts right after writing it.
FILTERED = r"""
LIGHTNETS_APP = True  # as tflite/*.py: keras_lightnets imports no TensorFlow
import os, sys
from keras_lightnets import _cli_util
_cli_util.quiet(verbose=False)
os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
            b"I0000 00:00:1796401352.322195    6313 port.cc:153] oneDNN custom operations are on.\n"
            b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n"
            b"fully_quantize: 0, inference_type: 6, input_inference_type: UINT8, output_inference_type: FLOAT32\n"
            b"W0000 00:00:1796401646.804538    8237 tf_tfl_flatbuffer_helpers.cc:364] Ignored output_format.\n"
            b"a real error\n")
print("from python", file=sys.stderr)
if sys.argv[1] == "abort":
    os.write(2, b"F0000 00:00:1.0  1 check.cc:1] Check failed: the reason\n")
    os.abort()
"""


@pytest.mark.parametrize("ending", ["exit", "abort"])
def test_the_stderr_filter_drops_only_the_noise(ending):
    done = run(sys.executable, "-c", FILTERED, ending, timeout=60)
    lines = sorted(done.stderr.splitlines())
    expected = ["W0000 00:00:1796401646.804538    8237 tf_tfl_flatbuffer_helpers.cc:364] Ignored output_format.",
                "a real error", "from python"]
    if ending == "abort":
        assert done.returncode < 0
        expected.append("F0000 00:00:1.0  1 check.cc:1] Check failed: the reason")
    else:
        assert done.returncode == 0
    assert lines == sorted(expected)
