"""The `lightnets` command.

    lightnets list [--pattern=mobilenet*]
    lightnets info --model=mobilenet_v3_large [--measure]
    lightnets profile --model=mobilenet_v3_large [--input_size=224] [--per_layer]
    lightnets demo [--model=mobilenet_v3_small] [--image_size=64] [--epochs=8]
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
bench_cli.define_flags()  # --graph, --target, --benchmark_binary, --num_runs, ...
convert_cli.define_flags(model_flags=False)  # --keras_file, --output, --quantization, --labels, ...

COMMANDS = ("list", "info", "profile", "demo", "convert", "benchmark")


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

    _, result = run_demo(FLAGS.model or "mobilenet_v3_small", image_size=FLAGS.image_size, epochs=FLAGS.epochs, batch_size=FLAGS.batch_size)
    print()
    print(format_result(result))


def _convert():
    convert_cli.convert_command(FLAGS)


def _benchmark():
    bench_cli.main_errors("lightnets benchmark", bench_cli.benchmark)


def main(argv):
    if len(argv) < 2 or argv[1] not in COMMANDS:
        raise app.UsageError(f"Give a command: lightnets {{{'|'.join(COMMANDS)}}} [--flags]; received {argv[1:]}.")
    if len(argv) > 2:
        raise app.UsageError(f"Unexpected arguments {argv[2:]}; options are --flags.")
    try:
        {"list": _list, "info": _info, "profile": _profile, "demo": _demo, "convert": _convert, "benchmark": _benchmark}[argv[1]]()
    except ValueError as error:  # our argument errors: one clear line, no traceback
        print(f"lightnets {argv[1]}: error: {error}", file=sys.stderr)
        sys.exit(2)


def run():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    app.run(main)


if __name__ == "__main__":
    run()
