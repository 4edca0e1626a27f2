"""The `lightnets` command.

    lightnets list [--pattern=mobilenet*]
    lightnets info --model=mobilenet_v3_large [--measure]
    lightnets profile --model=mobilenet_v3_large [--input_size=224] [--per_layer]
    lightnets demo [--model=mobilenet_v3_small] [--image_size=64] [--epochs=8] [--qat_epochs=1] [--seed=0] [--output_dir=demo_output]
    lightnets train --model=mobilenet_v3_small --dataset=digits|TFDS_NAME|FOLDER [--recipe=auto]
                    [--epochs=8] [--batch_size=32] [--image_size=...] [--output_dir=lightnets_train] [--noema]
    lightnets convert --model=mobilenet_v3_large --quantization=int8 --input_type=uint8 --output=m.tflite
                      [--keras_file=m.keras] [--representative_data=digits|TFDS_NAME|x.npy] [--labels=labels.txt]
    lightnets benchmark --graph=m.tflite [--target=android --benchmark_binary=...] [--json=result.json]
"""

import json
import os
import sys

from absl import app
from absl import flags

from keras_lightnets.bench import cli as bench_cli
from keras_lightnets.tflite import cli as convert_cli

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "Registered model name (see `lightnets list`).")
flags.DEFINE_string("pattern", "*", "Shell-style filter for `list`.")
flags.DEFINE_integer("input_size", None, "Input resolution (default: the paper's).")
flags.DEFINE_integer("classes", 1000, "Classifier width for `profile`.")
flags.DEFINE_bool("per_layer", False, "`profile`: print the per-layer table.")
flags.DEFINE_bool("measure", False, "`info`: also build and profile the model.")
bench_cli.define_bool_or_path("json", False, "Print machine-readable JSON (`benchmark`: --json=PATH writes it to PATH).")
flags.DEFINE_integer("image_size", 64, "`demo`: training resolution.")
flags.DEFINE_integer("epochs", 8, "`demo`: training epochs.")
flags.DEFINE_integer("batch_size", 32, "`demo`: batch size.")
flags.DEFINE_string("dataset", "digits", "`train`: 'digits' (bundled), a tensorflow-datasets name or a folder of class sub-folders.")
flags.DEFINE_string("recipe", "auto", "`train`: the paper recipe: 'auto' (the model's) or a name from keras_lightnets.training.list_recipes().")
flags.DEFINE_string("output_dir", "lightnets_train", "`train`: checkpoints, TensorBoard logs, history.json and model.keras; "
                    "`demo`: the .tflite files, results.json and the plot (default there: demo_output).")
flags.DEFINE_integer("qat_epochs", 1, "`demo`: quantization-aware fine-tuning epochs.")
flags.DEFINE_integer("seed", 0, "`demo`: the seed of the weights, the data split and the training order.")
flags.DEFINE_bool("ema", True, "`train`: keep the recipe's weight averaging (--noema for short runs).")
bench_cli.define_flags()  # --graph, --target, --benchmark_binary, --num_runs, ...
convert_cli.define_flags(model_flags=False)  # --keras_file, --output, --quantization, --labels, ...

COMMANDS = ("list", "info", "profile", "demo", "convert", "benchmark", "train")


def _require_model():
    if not FLAGS.model:
        raise app.UsageError("--model is required, e.g. --model=mobilenet_v3_large (see `lightnets list`).")
    return FLAGS.model


def _list():
    from keras_lightnets.registry import list_models

    print("\n".join(list_models(FLAGS.pattern)))


def _info():
    from keras_lightnets.registry import model_info

    info = model_info(_require_model(), measure=FLAGS.measure)
    print(json.dumps(info.to_dict(), indent=2))


def _profile():
    from keras_lightnets.profile import profile
    from keras_lightnets.registry import create_model
    from keras_lightnets.registry import model_info

    name = _require_model()
    size = FLAGS.input_size or model_info(name).default_size
    stats = profile(create_model(name, input_shape=(size, size, 3), classes=FLAGS.classes), per_layer=FLAGS.per_layer)
    if FLAGS.json:
        print(json.dumps(stats.to_dict(), indent=2))
    else:
        print(stats.summary() if FLAGS.per_layer else stats)


def _demo():
    from keras_lightnets.demo import format_result
    from keras_lightnets.demo import run_demo

    output_dir = FLAGS.output_dir if FLAGS["output_dir"].present else "demo_output"
    _, result = run_demo(FLAGS.model or "mobilenet_v3_small", image_size=FLAGS.image_size, epochs=FLAGS.epochs,
                         batch_size=FLAGS.batch_size, output_dir=output_dir, qat_epochs=FLAGS.qat_epochs,
                         seed=FLAGS.seed)
    print()
    print(format_result(result))


def _convert():
    convert_cli.convert_command(FLAGS)


def _benchmark():
    bench_cli.main_errors("lightnets benchmark", bench_cli.benchmark)


def _train():
    from keras_lightnets.training.loop import Interrupted
    from keras_lightnets.training.loop import train

    try:
        result = train(
            model=FLAGS.model or "mobilenet_v3_small",
            dataset=FLAGS.dataset,
            epochs=FLAGS.epochs,
            batch_size=FLAGS.batch_size,
            recipe=FLAGS.recipe,
            output_dir=FLAGS.output_dir,
            image_size=FLAGS.image_size if FLAGS["image_size"].present else None,
            ema=FLAGS.ema,
        )
    except (Interrupted, KeyboardInterrupt) as error:
        print(f"lightnets train: interrupted: {error or 'Ctrl-C'}; the finished epochs are in {FLAGS.output_dir}, "
              "rerun the same command to resume.", file=sys.stderr)
        sys.exit(3)
    last = result.history[-1] if result.history else {}
    print(json.dumps({"model_path": result.model_path, "history_path": result.history_path, "recipe": result.recipe,
                      "epochs": result.epochs, "resumed_after_epoch": result.initial_epoch,
                      "seconds": round(result.seconds, 1), "final": last}, indent=2))


def main(argv):
    if len(argv) < 2 or argv[1] not in COMMANDS:
        raise app.UsageError(f"Give a command: lightnets {{{'|'.join(COMMANDS)}}} [--flags]; received {argv[1:]}.")
    if len(argv) > 2:
        raise app.UsageError(f"Unexpected arguments {argv[2:]}; options are --flags.")
    try:
        {"list": _list, "info": _info, "profile": _profile, "demo": _demo, "convert": _convert, "benchmark": _benchmark, "train": _train}[argv[1]]()
    except ValueError as error:  # our argument errors: one clear line, no traceback
        print(f"lightnets {argv[1]}: error: {error}", file=sys.stderr)
        sys.exit(2)


def run():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    app.run(main)


if __name__ == "__main__":
    run()
