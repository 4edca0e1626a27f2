"""Writes the models the metadata goldens start from (inputs/*.tflite), with this
project's converters, from a tiny seeded classifier, detector (SSDLite ending in
TFLite_Detection_PostProcess) and segmenter (LR-ASPP). Run once, in the project's
environment (TensorFlow); the files are committed, so neither the goldens nor the
tests depend on the converter giving the same bytes on another machine. Files that
exist are kept (delete one to remake it).

    .venv/bin/python tests/data/tflite_support/make_inputs.py
"""

import os

import keras
from keras import layers

import keras_lightnets as kl
from keras_lightnets import tflite as kt
from keras_lightnets.data import load_digits
from keras_lightnets.tflite.segmentation import export_segmenter

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "inputs")
HEADS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "heads", "inputs")  # apart: classifier inputs stay < 20 KB
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


def tiny_backbone():
    """Five stride-2 convolutions: maps at strides 8, 16 and 32 (4x4, 2x2, 1x1 at 32 px)."""
    image = keras.Input((SIZE, SIZE, 3))
    x = layers.Rescaling(1 / 127.5, offset=-1, name="rescaling")(image)
    maps = []
    for i, depth in enumerate((4, 8, 8, 8, 8)):
        x = layers.Conv2D(depth, 3, strides=2, padding="same", name=f"conv{i}")(x)
        x = layers.ReLU(6.0, name=f"relu{i}")(x)
        if i >= 2:
            maps.append(x)
    return keras.Model(image, maps, name="tiny_backbone")


def tiny_detector():
    """SSDLite on the stride-16 and -32 maps, 2 foreground classes, 20 default boxes. Its
    class predictors' kernels are scaled up so that scores are far apart: near-equal scores
    (int8 makes them equal) leave two runtimes' NMS free to keep and order them differently."""
    keras.utils.set_random_seed(0)
    model = kl.heads.SSDLite(tiny_backbone(), CLASSES_DETECTED + 1, extra_channels=(),
                             default_boxes=kl.heads.DefaultBoxes(((2,),) * 2), name="tiny_detector")
    for level in range(2):
        layer = model.get_layer(f"ssdlite_class_{level}")
        kernel, bias = layer.get_weights()
        layer.set_weights([kernel * 20, bias])
    return model


def tiny_segmenter():
    keras.utils.set_random_seed(0)
    return kl.heads.LRASPP(tiny_backbone(), CLASSES_SEGMENTED, low=8, high=16, inter_channels=8, name="tiny_segmenter")


CLASSES_DETECTED, CLASSES_SEGMENTED = 2, 3


def main():
    (images, _), _ = load_digits(image_size=SIZE, num_classes=CLASSES)
    rgb = tiny_classifier(3)
    pixels = images[:32]
    files = {
        # float32 in, float32 out
        "float32.tflite": lambda path: kt.convert(rgb, path),
        # full integer, uint8 in and out: the two tensor types Task Library's ImageClassifier takes
        "int8.tflite": lambda path: kt.convert(rgb, path, quantization="int8", representative_data=images[:32],
                                               input_type="uint8", output_type="uint8"),
        # one channel: the writers record a GRAYSCALE image
        "grayscale_float32.tflite": lambda path: kt.convert(tiny_classifier(1), path),
        # detectors: float32 or uint8 in, the post-process op's four float32 outputs
        "detector_float32.tflite": lambda path: kt.export_detector(tiny_detector(), path, max_detections=4,
                                                                   score_threshold=0.2),
        "detector_int8.tflite": lambda path: kt.export_detector(tiny_detector(), path, quantization="int8",
                                                                representative_data=pixels, input_type="uint8",
                                                                max_detections=4, score_threshold=0.2),
        # segmenters: per-pixel probabilities (1, 32, 32, 3), float32 or uint8 in; and the class mask (1, 32, 32)
        "segmenter_float32.tflite": lambda path: export_segmenter(tiny_segmenter(), path),
        "segmenter_int8.tflite": lambda path: export_segmenter(tiny_segmenter(), path, "int8",
                                                                  representative_data=pixels, input_type="uint8"),
        "segmenter_mask_float32.tflite": lambda path: export_segmenter(tiny_segmenter(), path, output="mask"),
    }
    for name, write in files.items():
        path = os.path.join(HEADS if name.startswith(("detector", "segmenter")) else HERE, name)
        if not os.path.exists(path):
            write(path)
            print(f"wrote {name}")


if __name__ == "__main__":
    main()
