"""Writes the models the metadata goldens start from (inputs/*.tflite), with this
project's converter, from a tiny seeded classifier. Run once, in the project's
environment (TensorFlow); the files are committed, so neither the goldens nor the
tests depend on the converter giving the same bytes on another machine.

    .venv/bin/python tests/data/tflite_support/make_inputs.py
"""

import os

import keras

from keras_lightnets import tflite as kt
from keras_lightnets.data import load_digits

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "inputs")
SIZE, CLASSES = 32, 5


def tiny_classifier(channels):
    """About 300 weights: a few KB as .tflite. Takes [0, 255] pixels like the registry models."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((SIZE, SIZE, channels))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1, name="rescaling")(inputs)
    x = keras.layers.Conv2D(8, 3, strides=2, name="stem")(x)
    x = keras.layers.BatchNormalization(name="stem_bn")(x)
    x = keras.layers.ReLU(6.0, name="stem_relu6")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(CLASSES, activation="softmax", name="logits")(x)
    return keras.Model(inputs, outputs, name="tiny_classifier")


def main():
    (images, _), _ = load_digits(image_size=SIZE, num_classes=CLASSES)
    rgb = tiny_classifier(3)
    # float32 in, float32 out
    kt.convert(rgb, os.path.join(HERE, "float32.tflite"))
    # full integer, uint8 in and out: the two tensor types Task Library's ImageClassifier takes
    kt.convert(rgb, os.path.join(HERE, "int8.tflite"), quantization="int8", representative_data=images[:32],
               input_type="uint8", output_type="uint8")
    # one channel: the writers record a GRAYSCALE image
    kt.convert(tiny_classifier(1), os.path.join(HERE, "grayscale_float32.tflite"))


if __name__ == "__main__":
    main()
