"""Segmentation models (kl.heads.LRASPP, DeepLabV3, the registered lraspp_* / deeplabv3_*)
to TFLite files in every post-training mode, with the Task Library's ImageSegmenter
metadata.

    kl.tflite.export_segmenter(model, "lraspp.tflite")                        # (1, H, W, classes) scores
    kl.tflite.export_segmenter(model, "mask_int8.tflite", "int8", output="mask",
                               representative_data=images, input_type="uint8", metadata={"labels": names})

output="logits" keeps the model's per-pixel output (its softmax probabilities, or logits
for a head built with classifier_activation=None): what the Task Library's ImageSegmenter
reads, computing the mask itself. output="mask" appends an ARG_MAX over the classes in the
graph: the file gives the class of each pixel as int32 (1, H, W), a 1/classes-sized
output for apps that read the tensor directly. TFLite's ARG_MAX takes float32, int8 and
uint8 but no int16, so the int16x8 mask file reads the classes through a DEQUANTIZE
(its report lists ARG_MAX among the float ops).
"""

import dataclasses
import os
import tempfile

import keras

from keras_lightnets._atomic import write_atomically

__all__ = ["export_segmenter", "ClassMask", "OUTPUTS"]

OUTPUTS = ("logits", "mask")


@keras.saving.register_keras_serializable(package="keras_lightnets")
class ClassMask(keras.layers.Layer):
    """The index of the largest class score of each pixel, as int32 (TFLite's ARG_MAX)."""

    def call(self, scores):
        if keras.backend.backend() == "tensorflow":
            # keras.ops.argmax on TensorFlow adds a BitwiseAnd (its -0.0 handling) that TFLite has no kernel for
            import tensorflow as tf

            return tf.math.argmax(scores, axis=-1, output_type=tf.int32)
        return keras.ops.cast(keras.ops.argmax(scores, axis=-1), "int32")

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1])

    def compute_output_spec(self, scores):
        return keras.KerasTensor(scores.shape[:-1], dtype="int32")


def export_segmenter(model, path, quantization=None, *, output="logits", representative_data=None,
                     input_type="float32", metadata=None, verify=False, verify_data=None,
                     num_calibration_samples=200):
    """Writes a segmentation model as a .tflite file; returns kl.tflite.convert's report
    (its `metadata`: the ImageSegmenter metadata written, as read back).

    Args:
        model: a Keras model from one image (1, H, W, C) to per-pixel scores (1, H, W, classes).
        quantization: None (float32), "float16", "dynamic", "int8" or "int16x8", as
            kl.tflite.convert.
        output: "logits" (the model's per-pixel scores) or "mask" (their argmax, int32).
        representative_data, input_type, verify, verify_data, num_calibration_samples:
            as kl.tflite.convert (the output type is float32 scores, or the int32 mask).
        metadata: ImageSegmenter metadata for the Task Library: True for the defaults
            (the model's name, mean 0 / std 1 for a model that takes [0, 255] pixels), or
            a dict of name, description, labels (one per class), mean, std, author,
            version, license.
    """
    from keras_lightnets.tflite.convert import convert
    from keras_lightnets.tflite.metadata import SEGMENTER_DESCRIPTION
    from keras_lightnets.tflite.metadata import add_segmenter_metadata
    from keras_lightnets.tflite.metadata import check_task_library_input
    from keras_lightnets.tflite.metadata import read_metadata
    from keras_lightnets.tflite.metadata import resolve_metadata

    if not isinstance(model, keras.Model) or len(model.inputs) != 1 or len(model.outputs) != 1 \
            or len(model.outputs[0].shape) != 4:
        raise ValueError("export_segmenter takes a segmentation model (kl.heads.LRASPP / DeepLabV3 or a registered "
                         "lraspp_* / deeplabv3_*): one image input, one output (batch, height, width, classes).")
    if output not in OUTPUTS:
        raise ValueError(f"`output` must be one of {OUTPUTS}; received {output!r}.")
    classes = int(model.outputs[0].shape[-1])
    if metadata not in (None, False):
        check_task_library_input(input_type, "ImageSegmenter")
    fields = resolve_metadata(metadata, model, input_type, description=SEGMENTER_DESCRIPTION, classes=classes)
    graph = model if output == "logits" else keras.Model(model.inputs, ClassMask(name="class_mask")(model.outputs[0]),
                                                         name=model.name)
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ValueError(f"The output directory {directory!r} does not exist; create it or choose another `path`.")
    with tempfile.TemporaryDirectory() as workdir:  # the file is written once, with its metadata
        report = convert(graph, os.path.join(workdir, "model.tflite"), quantization,
                         representative_data=representative_data, input_type=input_type,
                         verify=verify and output == "logits", verify_data=verify_data,
                         num_calibration_samples=num_calibration_samples,
                         allow_float_fallback=output == "mask" and quantization == "int16x8")
        with open(report.path, "rb") as f:
            content = f.read()
    if fields is not None:
        content = add_segmenter_metadata(content, **fields)
    write_atomically(path, content)
    return dataclasses.replace(report, path=path, size_bytes=len(content),
                               metadata=None if fields is None else read_metadata(content))
