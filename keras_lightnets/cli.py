"""The `lightnets` command: one sub-command per job, each with its own flags and help.

    lightnets --help                      the commands, one line each
    lightnets COMMAND --help              a command's flags, with examples
    lightnets list [--pattern=mobilenet*]
    lightnets info --model=mobilenet_v3_large [--measure]
    lightnets profile --model=mobilenet_v3_large [--input_size=224] [--per_layer] [--json]
    lightnets train --model=mobilenet_v3_small --dataset=digits|TFDS_NAME|FOLDER [--epochs=8] [--output_dir=lightnets_train]
    lightnets convert --model=mobilenet_v3_large --quantization=int8 --input_type=uint8 --output=m.tflite
    lightnets benchmark --graph=m.tflite [--target=android --benchmark_binary=...] [--json=result.json]
    lightnets demo [--model=mobilenet_v3_small] [--image_size=64] [--epochs=8] [--output_dir=demo_output]

This module imports neither TensorFlow nor the models: `--help`, `list` and `info` read
keras_lightnets/registry_index.py; the other commands import what they need after
`_cli_util.quiet()` (TensorFlow's logs off unless --verbose). The bodies of `convert` and
`benchmark` live with their libraries (tflite/cli.py, bench/cli.py), shared with the
apps tflite/convert.py and tflite/benchmark.py.
"""

import fnmatch
import json
import sys

from absl import flags

from keras_lightnets import _cli_util
from keras_lightnets._cli_util import Command
from keras_lightnets._cli_util import define_bool_or_path

PROG = "lightnets"
DESCRIPTION = "The survey's vision networks, exact to their papers, from Keras to phone."
QUANTIZATION = ("float32", "float16", "dynamic", "int8", "int16x8")  # tflite/cli.py maps them to convert()'s modes
METADATA_TEXT_FIELDS = ("name", "description", "author", "version", "license")


def _model_flag(values, default=None, required=False):
    flags.DEFINE_string("model", default, "Registered model name (see `lightnets list`)." + (" Required." if required else ""),
                        flag_values=values)


def _require_model(values):
    if not values.model:
        raise ValueError("--model is required, e.g. --model=mobilenet_v3_large (see `lightnets list`).")
    return values.model


# ---------------------------------------------------------------------------- list, info: no TensorFlow


def _list_flags(values):
    flags.DEFINE_string("pattern", "*", "Shell-style filter on the names, e.g. 'mobilenet_v3*'.", flag_values=values)


def _list(values):
    from keras_lightnets.registry_index import MODELS

    print("\n".join(sorted(name for name in MODELS if fnmatch.fnmatch(name, values.pattern))))


def _info_flags(values):
    _model_flag(values, required=True)
    flags.DEFINE_bool("measure", False, "Also build the model and count its parameters and multiply-adds "
                      "(imports TensorFlow).", flag_values=values)


def _info(values):
    name = _require_model(values)
    if values.measure:
        from keras_lightnets.registry import model_info

        entry = model_info(name, measure=True).to_dict()
    else:
        from keras_lightnets.registry import unknown_model_error
        from keras_lightnets.registry_index import MODELS

        if name not in MODELS:
            raise unknown_model_error(name, MODELS)
        entry = MODELS[name]
    print(json.dumps(entry, indent=2))


# ---------------------------------------------------------------------------- profile, train, demo


def _profile_flags(values):
    _model_flag(values, required=True)
    flags.DEFINE_integer("input_size", None, "Input resolution (default: the paper's).", flag_values=values)
    flags.DEFINE_integer("classes", 1000, "Classifier width.", flag_values=values)
    flags.DEFINE_bool("per_layer", False, "Print the per-layer table.", flag_values=values)
    define_bool_or_path("json", False, "Print the counts as JSON; --json=PATH writes them there.", flag_values=values)


def _profile(values):
    from keras_lightnets.profiling import profile
    from keras_lightnets.registry import create_model
    from keras_lightnets.registry import model_info

    name = _require_model(values)
    size = values.input_size or model_info(name).default_size
    stats = profile(create_model(name, input_shape=(size, size, 3), classes=values.classes), per_layer=values.per_layer)
    if values.json is True:
        print(json.dumps(stats.to_dict(), indent=2))
        return
    print(stats.summary() if values.per_layer else stats)
    if values.json:
        _cli_util.write_json(values.json, stats.to_dict())
        print(f"wrote {values.json}")


def _train_flags(values):
    _model_flag(values, default="mobilenet_v3_small")
    flags.DEFINE_string("dataset", "digits", "'digits' (bundled), a tensorflow-datasets name or a folder of class "
                        "sub-folders.", flag_values=values)
    flags.DEFINE_string("recipe", "auto", "The paper recipe: 'auto' (the model's) or a name from "
                        "keras_lightnets.training.list_recipes().", flag_values=values)
    flags.DEFINE_integer("epochs", 8, "Training epochs.", flag_values=values)
    flags.DEFINE_integer("batch_size", 32, "Batch size.", flag_values=values)
    flags.DEFINE_integer("image_size", None, "Training resolution (default: the recipe's).", flag_values=values)
    flags.DEFINE_string("output_dir", "lightnets_train", "Checkpoints, TensorBoard logs, history.json and model.keras; "
                        "rerunning the same command there resumes an interrupted run.", flag_values=values)
    flags.DEFINE_bool("ema", True, "Keep the recipe's weight averaging (--noema for short runs).", flag_values=values)
    flags.DEFINE_string("weights", None, "Fine-tune pretrained weights under a new classifier: a weight set "
                        "('imagenet', 'torchvision', ...: see `lightnets info`) or a file.", flag_values=values)
    f = dict(flag_values=values)  # training past one machine: keras_lightnets/training/distribute.py
    flags.DEFINE_enum("strategy", "none", ["none", "mirrored", "multi_worker", "data_parallel"], "none; mirrored "
                      "(this host's GPUs), multi_worker (TF_CONFIG or --worker_hosts/--task_index), data_parallel "
                      "(KERAS_BACKEND=jax: keras.distribution over this host's devices). --batch_size is then per "
                      "replica.", **f)
    flags.DEFINE_integer("global_batch_size", None, "The batch of one step over all replicas (instead of "
                         "--batch_size); must divide by the replicas. The recipe scales its learning rate to it.", **f)
    flags.DEFINE_string("worker_hosts", None, "multi_worker without TF_CONFIG: every worker's host:port, "
                        "comma-separated, the same on every worker.", **f)
    flags.DEFINE_integer("task_index", None, "multi_worker: this worker's position in --worker_hosts (0 = chief).", **f)
    flags.DEFINE_float("worker_join_timeout", 300.0, "multi_worker: seconds to wait for every worker to start.", **f)
    flags.DEFINE_enum("mixed_precision", "float32", ["float32", "bfloat16", "float16"], "Compute precision "
                      "(Keras' mixed_* policies, float32 variables; float16 with loss scaling). Off by default: it "
                      "pays on GPUs/TPUs with bfloat16/float16 units, not on CPUs.", **f)
    flags.DEFINE_enum("jit_compile", "auto", ["auto", "true", "false"], "XLA: auto = Keras' choice (on for "
                      "GPU/TPU and JAX, off on TensorFlow CPU).", **f)
    flags.DEFINE_string("cache", None, "Cache decoded images before augmentation: 'memory' or a file prefix "
                        "(off by default: decoded ImageNet does not fit in memory).", **f)
    flags.DEFINE_integer("parallel_calls", -1, "tf.data map parallelism (-1: AUTOTUNE, the default).", **f)
    flags.DEFINE_integer("prefetch", -1, "Batches prefetched (-1: AUTOTUNE, the default; 0: none).", **f)


def _train(values):
    from keras_lightnets.training.loop import Interrupted
    from keras_lightnets.training.loop import train

    try:
        result = train(model=values.model, dataset=values.dataset, epochs=values.epochs, batch_size=values.batch_size,
                       recipe=values.recipe, output_dir=values.output_dir, image_size=values.image_size, ema=values.ema,
                       weights=values.weights, strategy=values.strategy, global_batch_size=values.global_batch_size,
                       worker_hosts=values.worker_hosts, task_index=values.task_index,
                       worker_join_timeout=values.worker_join_timeout, jit_compile=values.jit_compile,
                       mixed_precision=None if values.mixed_precision == "float32" else values.mixed_precision,
                       **_data_flags(values))
    except TimeoutError as error:  # a worker that never joined
        raise _cli_util.Failed(str(error)) from None
    except (Interrupted, KeyboardInterrupt) as error:
        print(f"lightnets train: interrupted: {error or 'Ctrl-C'}; the finished epochs are in {values.output_dir}, "
              "rerun the same command to resume.", file=sys.stderr)
        return 3
    last = result.history[-1] if result.history else {}
    print(json.dumps({"model_path": result.model_path, "history_path": result.history_path, "recipe": result.recipe,
                      "epochs": result.epochs, "resumed_after_epoch": result.initial_epoch,
                      "seconds": round(result.seconds, 1), "final": last}, indent=2))


def _data_flags(values):
    options = {}
    if values.cache:
        options["cache"] = True if values.cache == "memory" else values.cache
    if values.parallel_calls != -1:
        options["parallel_calls"] = values.parallel_calls
    if values.prefetch != -1:
        options["prefetch"] = values.prefetch
    return options


def _demo_flags(values):
    _model_flag(values, default="mobilenet_v3_small")
    flags.DEFINE_integer("image_size", 64, "Training resolution.", flag_values=values)
    flags.DEFINE_integer("epochs", 8, "Training epochs.", flag_values=values)
    flags.DEFINE_integer("batch_size", 32, "Batch size.", flag_values=values)
    flags.DEFINE_integer("qat_epochs", 1, "Quantization-aware fine-tuning epochs.", flag_values=values)
    flags.DEFINE_integer("seed", 0, "The seed of the weights, the data split and the training order.", flag_values=values)
    flags.DEFINE_string("output_dir", "demo_output", "The three .tflite files, results.json and the plot.",
                        flag_values=values)


def _demo(values):
    from keras_lightnets.demo import format_result
    from keras_lightnets.demo import run_demo

    _, result = run_demo(values.model, image_size=values.image_size, epochs=values.epochs, batch_size=values.batch_size,
                         output_dir=values.output_dir, qat_epochs=values.qat_epochs, seed=values.seed)
    print()
    print(format_result(result))


# ---------------------------------------------------------------------------- convert, benchmark


def convert_flags(values):
    """The flags of `lightnets convert` and tflite/convert.py."""
    f = dict(flag_values=values)
    flags.DEFINE_string("model", None, "A registered model name (see `lightnets list`); or --keras_file.", **f)
    flags.DEFINE_string("keras_file", None, "A saved .keras model, instead of --model.", **f)
    flags.DEFINE_string("output", None, "The .tflite file to write (its directory must exist). Required.", **f)
    flags.DEFINE_integer("input_size", None, "--model's input resolution (default: the paper's).", **f)
    flags.DEFINE_integer("classes", 1000, "--model's classifier width (a detection or segmentation model, "
                         "unless given: its own, e.g. 91 or 21).", **f)
    flags.DEFINE_string("weights", None, "--model's trained weights: a weight set ('imagenet', 'torchvision', "
                        "'torchvision.IMAGENET1K_V2', ...: see `lightnets info --model=NAME`) or a file.", **f)
    flags.DEFINE_string("quantization", "float32", f"{' | '.join(QUANTIZATION)}.", **f)
    flags.DEFINE_string("input_type", "float32", "The file's input type: float32; uint8 or int8 (int8); int16 "
                        "(int16x8).", **f)
    flags.DEFINE_string("output_type", "float32", "The file's output type (same choices).", **f)
    flags.DEFINE_string("representative_data", None, "Calibration images for int8/int16x8: 'digits' (the bundled "
                        "real digit scans, the default), 'scenes' (photos with pasted shapes, the detection and "
                        "segmentation models' default), a tensorflow-datasets name, or a .npy file of images "
                        "(N, H, W, C) in the model's input units ([0, 255] for registry models).", **f)
    flags.DEFINE_integer("num_calibration_samples", 200, "How many representative images calibrate.", **f)
    flags.DEFINE_bool("allow_float_fallback", False, "Let ops without an integer kernel run in float "
                      "(int8/int16x8) instead of failing.", **f)
    flags.DEFINE_bool("verify", False, "Run the file against the Keras model on the representative data "
                      "(default: digits) and report the agreement.", **f)
    flags.DEFINE_bool("metadata", False, "Write TFLite Support metadata for Android's Task Library "
                      "(implied by --labels and the --metadata_* flags).", **f)
    flags.DEFINE_string("labels", None, "A text file, one label per class, packed into the metadata.", **f)
    flags.DEFINE_list("norm_mean", None, "Metadata normalization mean, one value or one per channel "
                      "(default: 0 for models that take [0, 255] pixels).", **f)
    flags.DEFINE_list("norm_std", None, "Metadata normalization std (default: 1, as above).", **f)
    for field in METADATA_TEXT_FIELDS:
        flags.DEFINE_string(f"metadata_{field}", None, f"The metadata's {field}.", **f)
    # Detection and segmentation models (ssdlite*, lraspp*, deeplabv3*, or such a --keras_file).
    flags.DEFINE_integer("max_detections", 10, "Detectors: the file ends in TFLite_Detection_PostProcess with this "
                         "many detections (boxes, classes, scores, count: the Task Library's ObjectDetector).", **f)
    flags.DEFINE_float("score_threshold", 0.3, "Detectors: the post-processing's score threshold.", **f)
    flags.DEFINE_enum("segmenter_output", "logits", ["logits", "mask"], "Segmenters: per-pixel scores, or the class "
                      "mask (their argmax, int32).", **f)
    define_bool_or_path("json", False, "Print the report as JSON; --json=PATH prints the summary and writes the "
                        "JSON there.", **f)


def _convert(values):
    from keras_lightnets.tflite import cli as convert_cli

    convert_cli.convert_command(values)


CONVERT_EXAMPLES = r"""
# a registry model, full int8 with uint8 input, calibrated on the bundled digits
{prog} --model=mobilenet_v3_large --quantization=int8 --input_type=uint8 \
    --representative_data=digits --output=mobilenet_v3_large_int8.tflite

# a trained .keras file, float32, checked against Keras, with labels for Android's Task Library
{prog} --keras_file=trained.keras --labels=labels.txt --verify --output=model.tflite

# 96x96 input, 10 classes, float16, the report as JSON
{prog} --model=mobilenet_v3_small --input_size=96 --classes=10 --quantization=float16 \
    --output=m.tflite --json

# a detector for Android's ObjectDetector: int8, uint8 input, ending in TFLite_Detection_PostProcess
{prog} --model=ssdlite320_mobilenet_v3_large --weights=torchvision --quantization=int8 \
    --input_type=uint8 --metadata --output=ssdlite_int8.tflite

# a segmenter giving the class mask (ImageSegmenter takes the scores: leave --segmenter_output out)
{prog} --model=lraspp_mobilenet_v3_small --input_size=256 --segmenter_output=mask --output=mask.tflite
"""


def benchmark_flags(values):
    """The flags of `lightnets benchmark` and tflite/benchmark.py."""
    f = dict(flag_values=values)
    flags.DEFINE_string("graph", None, "The .tflite file to benchmark. Required.", **f)
    flags.DEFINE_enum("target", "host", ["host", "android"], "This machine, or an Android phone over adb.", **f)
    flags.DEFINE_string("benchmark_binary", None, "The official TFLite benchmark_model (required for android, "
                        "e.g. android_aarch64_benchmark_model; on the host, default: benchmark_model on PATH, "
                        "else the LiteRT interpreter in-process).", **f)
    flags.DEFINE_string("serial", None, "adb serial of the phone, when several are connected.", **f)
    flags.DEFINE_string("cpu_mask", None, "Hexadecimal affinity mask (taskset), e.g. f0; android default: the "
                        "fastest cluster.", **f)
    flags.DEFINE_integer("num_threads", 1, "Threads (the papers: 1, on one big core).", **f)
    flags.DEFINE_integer("warmup_runs", 5, "Minimum warm-up runs.", **f)
    flags.DEFINE_integer("num_runs", 50, "Minimum timed runs.", **f)
    flags.DEFINE_float("min_secs", 1.0, "Minimum seconds of timed runs (the tool's default).", **f)
    flags.DEFINE_float("warmup_min_secs", 0.5, "Minimum seconds of warm-up (the tool's default).", **f)
    flags.DEFINE_float("max_secs", 150.0, "Stop starting runs after this many seconds.", **f)
    flags.DEFINE_bool("use_xnnpack", None, "Force XNNPACK on/off (default: the runtime's default).", **f)
    flags.DEFINE_bool("use_gpu", False, "The GPU delegate (official binary only).", **f)
    flags.DEFINE_bool("enable_op_profiling", False, "Per-op-type profile (official binary only).", **f)
    flags.DEFINE_float("timeout", 600.0, "Seconds before a hung run is abandoned.", **f)
    flags.DEFINE_string("adb", None, "Path of adb (default: $ADB, else adb on PATH).", **f)
    define_bool_or_path("json", False, "Print the result as JSON; --json=PATH prints the summary and writes the "
                        "JSON there.", **f)


def _benchmark(values):
    from keras_lightnets.bench import cli as bench_cli
    from keras_lightnets.bench.errors import BenchmarkError

    try:
        bench_cli.benchmark(values)
    except BenchmarkError as error:  # no adb, no device, a run that hung: exit status 1
        raise _cli_util.Failed(str(error)) from None


BENCHMARK_EXAMPLES = r"""
# this host: the official binary when given or on PATH, else LiteRT in-process
{prog} --graph=m.tflite --json=result.json

# Android: the official binary over adb, 1 thread on the fastest cluster, a per-op profile
{prog} --graph=m.tflite --target=android --benchmark_binary=android_aarch64_benchmark_model \
    --num_threads=1 --warmup_runs=5 --num_runs=50 --enable_op_profiling --json=result.json
"""


# ---------------------------------------------------------------------------- the command table


COMMANDS = (
    Command("list", "List the registered models (answers without TensorFlow).", _list_flags, _list,
            examples="{prog}\n{prog} --pattern='mobilenet_v3*'", light=lambda values: True),
    Command("info", "Print a model's paper, figures and their sources as JSON; --measure also counts ours.",
            _info_flags, _info, usage="--model=NAME [--measure]",
            examples="{prog} --model=mobilenet_v3_large\n{prog} --model=efficientnet_b0 --measure",
            light=lambda values: not values.measure),
    Command("profile", "Count a model's parameters and multiply-adds, per layer on request.", _profile_flags,
            _profile, usage="--model=NAME [--flags]",
            examples="{prog} --model=mobilenet_v2_140 --per_layer\n{prog} --model=resnet50 --input_size=160 --json"),
    Command("train", "Train a registered model with its paper's recipe; an interrupted run resumes.",
            _train_flags, _train,
            examples="{prog} --model=mobilenet_v3_small --dataset=digits --epochs=8 --output_dir=run\n"
                     "{prog} --model=efficientnet_b0 --dataset=imagenette/320px --recipe=efficientnet --output_dir=run"),
    Command("convert", "Convert a model to .tflite in any quantization mode, with Android metadata.", convert_flags,
            _convert, usage="(--model=NAME | --keras_file=FILE) --output=FILE.tflite [--flags]",
            examples=CONVERT_EXAMPLES),
    Command("benchmark", "Time a .tflite file on this host or on an Android phone, as the papers did.",
            benchmark_flags, _benchmark, usage="--graph=FILE.tflite [--flags]", examples=BENCHMARK_EXAMPLES),
    Command("demo", "The main job: train on the bundled digits, convert (float32, int8, QAT), evaluate, benchmark.",
            _demo_flags, _demo, examples="{prog}\n{prog} --image_size=32 --epochs=2 --output_dir=/tmp/demo"),
)


def main(argv):
    """Runs `lightnets ARGV[1:]` in this process (logging as it is); exits with the
    status if it is not 0."""
    status = _cli_util.dispatch(PROG, DESCRIPTION, COMMANDS, argv, prepare=_cli_util.import_api)
    if status:
        sys.exit(status)
    return status


def run(argv=None):
    """The console script `lightnets`: as main(), with TensorFlow's logs off unless --verbose."""
    sys.exit(_cli_util.dispatch(PROG, DESCRIPTION, COMMANDS, sys.argv if argv is None else argv,
                                prepare=_cli_util.start))


def run_app(name, prog, label, argv=None):
    """The absl app of one command (tflite/convert.py, tflite/benchmark.py): the same
    flags, help and body as `lightnets NAME`; its errors start with `label`."""
    command = {c.name: c for c in COMMANDS}[name]
    sys.exit(_cli_util.run_single(command, prog, label, sys.argv if argv is None else argv,
                                  prepare=_cli_util.start))


if __name__ == "__main__":
    run()
