"""Quantization-aware training (QAT) for the zoo's CNNs, with tensorflow-model-optimization.

- quantize.py: `quantize_aware` and friends, which layer gets which fake-quant rule, calibration;
- twin.py: the Keras 3 -> tf_keras translator (tfmot only takes tf_keras models);
- quantize_configs.py: the tfmot QuantizeConfigs and quantizers the rules hand out.

Importing this package loads neither tf_keras nor tfmot; `quantize_aware` does.
"""

from keras_lightnets.tflite.qat.quantize import calibrate
from keras_lightnets.tflite.qat.quantize import is_quantize_aware
from keras_lightnets.tflite.qat.quantize import is_tf_keras_model
from keras_lightnets.tflite.qat.quantize import load_quantize_aware
from keras_lightnets.tflite.qat.quantize import quantization_plan
from keras_lightnets.tflite.qat.quantize import quantize_aware
from keras_lightnets.tflite.qat.quantize import save_for_conversion

__all__ = ["quantize_aware", "quantization_plan", "calibrate", "load_quantize_aware", "is_quantize_aware",
           "is_tf_keras_model", "save_for_conversion"]
