"""The old path of keras_lightnets.tflite.qat.twin, kept for code that registers its own
translations (`register_twin`), as QAT's error messages used to say."""

from keras_lightnets.tflite.qat.twin import Context
from keras_lightnets.tflite.qat.twin import Graph
from keras_lightnets.tflite.qat.twin import HardSigmoid
from keras_lightnets.tflite.qat.twin import Keras3Layer
from keras_lightnets.tflite.qat.twin import LRNScale
from keras_lightnets.tflite.qat.twin import QuantPoints
from keras_lightnets.tflite.qat.twin import Twin
from keras_lightnets.tflite.qat.twin import UnsupportedLayerError
from keras_lightnets.tflite.qat.twin import follows_linear_op
from keras_lightnets.tflite.qat.twin import register_twin
from keras_lightnets.tflite.qat.twin import stock_config
from keras_lightnets.tflite.qat.twin import to_tf_keras
from keras_lightnets.tflite.qat.twin import translate
from keras_lightnets.tflite.qat.twin import twin_activation

__all__ = ["Context", "Graph", "HardSigmoid", "Keras3Layer", "LRNScale", "QuantPoints", "Twin",
    "UnsupportedLayerError", "follows_linear_op", "register_twin", "stock_config", "to_tf_keras",
    "translate", "twin_activation"]
