"""Dense-prediction heads on the zoo's `features_only` backbones (kl.heads).

    seg = kl.heads.LRASPP(kl.create_model("efficientnet_lite0", features_only=True), classes=21)
    seg = kl.heads.DeepLabV3(kl.create_model("mobilenet_v3_large", features_only=True, dilated=True,
                                             out_strides=(16,)), classes=21)

    det = kl.heads.SSDLite(kl.create_model("mobilenet_v3_small", features_only=True,
                                           input_shape=(320, 320, 3)), classes=4)

The registered models built on them (`lraspp_mobilenet_v3_large`, ...) are in
keras_lightnets.models.segmentation and keras_lightnets.models.detection (`ssdlite320_mobilenet_v3_large`).
"""

from keras_lightnets.heads.detection import BoxCoder
from keras_lightnets.heads.detection import DefaultBoxes
from keras_lightnets.heads.detection import SSDLite
from keras_lightnets.heads.detection import anchors
from keras_lightnets.heads.detection import detect
from keras_lightnets.heads.detection import postprocess
from keras_lightnets.heads.segmentation import DEEPLABV3_TORCH_NAMES
from keras_lightnets.heads.segmentation import LRASPP
from keras_lightnets.heads.segmentation import LRASPP_TORCH_NAMES
from keras_lightnets.heads.segmentation import DeepLabV3
from keras_lightnets.heads.segmentation import deeplabv3_torch_names
from keras_lightnets.heads.segmentation import feature_maps

__all__ = ["LRASPP", "DeepLabV3", "feature_maps", "LRASPP_TORCH_NAMES", "DEEPLABV3_TORCH_NAMES",
           "deeplabv3_torch_names", "SSDLite", "DefaultBoxes", "BoxCoder", "anchors", "postprocess", "detect"]
