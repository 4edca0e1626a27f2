"""Convert a Keras model to TFLite in any post-training mode, Android-ready.

    # a registry model, full int8 with uint8 input, calibrated on the bundled digits
    python tflite/convert.py --model=mobilenet_v3_large --quantization=int8 --input_type=uint8 \
        --representative_data=digits --output=mobilenet_v3_large_int8.tflite

    # a trained .keras file, float32, with TFLite Support metadata and labels for the Task Library
    python tflite/convert.py --keras_file=trained.keras --labels=labels.txt --output=model.tflite

    --quantization=float32|float16|dynamic|int8|int16x8, --input_size, --classes,
    --representative_data=digits|<tensorflow-datasets name>|<images.npy>, --verify,
    --metadata, --labels, --norm_mean/--norm_std, --metadata_{name,description,author,version,license},
    --json[=report.json]

The logic lives in keras_lightnets.tflite (also `lightnets convert` and
`keras_lightnets.tflite.convert(...)`); this is its TensorFlow-repo-style entry point.
Errors (an unknown model, a missing output directory, a bad mode, images of the wrong
shape) are one line on stderr and exit status 2.
"""

import os

from absl import app
from absl import flags

from keras_lightnets.bench import cli as bench_cli
from keras_lightnets.tflite import cli as convert_cli

convert_cli.define_flags()
bench_cli.define_bool_or_path("json", False, "Print the report as JSON; --json=PATH also writes it there.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments {argv[1:]}; options are --flags.")
    convert_cli.run_with_errors("convert", lambda: convert_cli.convert_command(flags.FLAGS))


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    app.run(main)
