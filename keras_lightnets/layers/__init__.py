"""Building blocks shared by the model families.

Every block is a plain function that applies stock Keras layers to a tensor, so a
model made of them is a pure layer graph: no Lambda, no raw backend calls, safe to
save and load, convertible to TFLite and to tf_keras for quantization-aware training.
"""

from keras_lightnets.layers.blocks import activation
from keras_lightnets.layers.blocks import batch_norm
from keras_lightnets.layers.blocks import conv_bn_act
from keras_lightnets.layers.blocks import depthwise_separable
from keras_lightnets.layers.blocks import make_divisible
from keras_lightnets.layers.blocks import squeeze_excite

__all__ = ["activation", "batch_norm", "conv_bn_act", "depthwise_separable", "make_divisible", "squeeze_excite"]
