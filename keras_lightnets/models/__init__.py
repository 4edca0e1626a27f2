"""Model families. Importing this package registers every model."""

from keras_lightnets.models.mobilenet_v1 import MobileNet
from keras_lightnets.models.mobilenet_v2 import MobileNetV2
from keras_lightnets.models.mobilenet_v3 import MobileNetV3Large
from keras_lightnets.models.mobilenet_v3 import MobileNetV3Small

__all__ = ["MobileNet", "MobileNetV2", "MobileNetV3Large", "MobileNetV3Small"]
