"""Keras model -> TFLite: post-training quantization in every mode, with a report.

    from keras_lightnets import tflite as kt
    report = kt.convert(model, "m.tflite", quantization="int8", representative_data=images,
                        input_type="uint8", verify=True)

    qat = kt.quantize_aware(model, representative_data=images)   # tf_keras + tfmot fake-quant
    qat.compile(...); qat.fit(images, labels)
    kt.convert(qat, "qat.tflite", quantization="int8", input_type="uint8")

One concern a module: convert.py (convert() and its report), inputs.py (the input shape and
calibration images), passes/ (the rewrites of the converted file, chosen per mode),
qat/ (quantization-aware training), metadata.py (Android Task Library metadata),
detection.py and segmentation.py (the heads' files: TFLite_Detection_PostProcess, the class mask),
analyze.py and interpreter.py (reading and running a file), cli.py (the command line).
"""

from keras_lightnets.tflite.analyze import FlatbufferSummary
from keras_lightnets.tflite.analyze import analyze
from keras_lightnets.tflite.convert import QUANTIZATION_MODES
from keras_lightnets.tflite.convert import ConversionReport
from keras_lightnets.tflite.convert import convert
from keras_lightnets.tflite.detection import export_detector
from keras_lightnets.tflite.interpreter import load_interpreter
from keras_lightnets.tflite.interpreter import run
from keras_lightnets.tflite.metadata import add_detector_metadata
from keras_lightnets.tflite.metadata import add_metadata
from keras_lightnets.tflite.metadata import add_segmenter_metadata
from keras_lightnets.tflite.metadata import read_metadata
from keras_lightnets.tflite.metadata import write_metadata
from keras_lightnets.tflite.qat import load_quantize_aware
from keras_lightnets.tflite.qat import quantize_aware
from keras_lightnets.tflite.segmentation import export_segmenter

__all__ = [
    "QUANTIZATION_MODES", "ConversionReport", "convert", "FlatbufferSummary", "analyze", "load_interpreter", "run",
    "add_metadata", "add_detector_metadata", "add_segmenter_metadata", "read_metadata", "write_metadata",
    "quantize_aware", "load_quantize_aware", "export_detector", "export_segmenter",
]
