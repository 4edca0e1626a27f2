"""Writes the reference metadata buffers with tflite-support 0.4.4 (run it in a
virtual environment that has tflite-support and no TensorFlow; see README.md).

    python generate.py FLOAT32_INPUT.tflite UINT8_INPUT.tflite
"""

import os
import sys
import tempfile

from tensorflow_lite_support.metadata import metadata_schema_py_generated as fb
from tensorflow_lite_support.metadata.python import metadata
from tensorflow_lite_support.metadata.python.metadata_writers import image_classifier
from tensorflow_lite_support.metadata.python.metadata_writers import metadata_info
from tensorflow_lite_support.metadata.python.metadata_writers import writer_utils

HERE = os.path.dirname(os.path.abspath(__file__))
GENERAL = dict(name="MobileNetV3-Small digits", version="v1", description="Tiny test.", author="keras_lightnets", licenses="Apache-2.0")


def write(model_path, out_name, general, mean, std, labels):
    model = writer_utils.load_file(model_path)
    label_files = []
    if labels:
        label_path = os.path.join(tempfile.mkdtemp(), "labels.txt")
        with open(label_path, "w") as f:
            f.write("".join(f"{label}\n" for label in labels))
        label_files = [metadata_info.LabelFileMd(label_path)]
    writer = image_classifier.MetadataWriter.create_from_metadata_info(
        model,
        general_md=metadata_info.GeneralMd(**general),
        input_md=metadata_info.InputImageTensorMd(
            name="image", description="Input image to be classified.", norm_mean=mean, norm_std=std,
            color_space_type=fb.ColorSpaceType.RGB, tensor_type=writer_utils.get_input_tensor_types(model)[0]),
        output_md=metadata_info.ClassificationTensorMd(
            name="probability", description="Probabilities of the labels respectively.", label_files=label_files,
            tensor_type=writer_utils.get_output_tensor_types(model)[0]),
    )
    displayer = metadata.MetadataDisplayer.with_model_buffer(writer.populate())
    with open(os.path.join(HERE, out_name), "wb") as f:
        f.write(displayer.get_metadata_buffer())


if __name__ == "__main__":
    float32_model, uint8_model = sys.argv[1:3]
    labels = ["zero", "one", "two", "three", "four"]
    write(float32_model, "float32_input_labels.metadata", GENERAL, [127.5], [127.5], labels)
    write(uint8_model, "uint8_input_labels.metadata", GENERAL, [127.5], [127.5], labels)
    write(float32_model, "float32_input_per_channel_no_labels.metadata",
          dict(name="resnet50", description=image_classifier.MODEL_DESCRIPTION),
          [123.675, 116.28, 103.53], [58.395, 57.12, 57.375], None)
