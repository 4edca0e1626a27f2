"""The old path of keras_lightnets.tflite.qat.quantize_configs, kept for code that passes
its own `LayerQuantizeConfig` to `quantize_aware`, as QAT's error messages used to say."""

from keras_lightnets.tflite.qat.quantize_configs import ActivationQuantizer
from keras_lightnets.tflite.qat.quantize_configs import ConvWeightsQuantizer
from keras_lightnets.tflite.qat.quantize_configs import DepthwiseWeightsQuantizer
from keras_lightnets.tflite.qat.quantize_configs import InputQuantizer
from keras_lightnets.tflite.qat.quantize_configs import LayerQuantizeConfig
from keras_lightnets.tflite.qat.quantize_configs import LightnetsQuantizeScheme
from keras_lightnets.tflite.qat.quantize_configs import WeightsQuantizer
from keras_lightnets.tflite.qat.quantize_configs import calibrating
from keras_lightnets.tflite.qat.quantize_configs import custom_objects
from keras_lightnets.tflite.qat.quantize_configs import scope

__all__ = ["ActivationQuantizer", "ConvWeightsQuantizer", "DepthwiseWeightsQuantizer",
    "InputQuantizer", "LayerQuantizeConfig", "LightnetsQuantizeScheme", "WeightsQuantizer",
    "calibrating", "custom_objects", "scope"]
