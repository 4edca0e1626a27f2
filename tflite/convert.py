"""Convert a Keras model to TFLite in any post-training mode, Android-ready.

    # a registry model, full int8 with uint8 input, calibrated on the bundled digits
    python tflite/convert.py --model=mobilenet_v3_large --quantization=int8 --input_type=uint8 \
        --representative_data=digits --output=mobilenet_v3_large_int8.tflite

    # a trained .keras file, float32, with TFLite Support metadata and labels for the Task Library
    python tflite/convert.py --keras_file=trained.keras --labels=labels.txt --output=model.tflite

    python tflite/convert.py --help     every flag, with examples

The logic lives in keras_lightnets.tflite (also `lightnets convert`, same flags, and
`keras_lightnets.tflite.convert(...)`); this is its TensorFlow-repo-style entry point.
TensorFlow's logs are off unless --verbose. Errors (an unknown model, a missing output
directory, a bad mode, images of the wrong shape) are one line on stderr and exit status 2.
"""

# keras_lightnets imports TensorFlow only when the command needs it, after quieting its
# logs (keras_lightnets/__init__.py reads this).
LIGHTNETS_APP = True

from keras_lightnets import cli  # noqa: E402

if __name__ == "__main__":
    cli.run_app("convert", prog="python tflite/convert.py", label="convert")
