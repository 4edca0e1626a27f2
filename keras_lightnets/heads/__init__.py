"""Dense-prediction heads on the zoo's `features_only` backbones (kl.heads).

    seg = kl.heads.LRASPP(kl.create_model("efficientnet_lite0", features_only=True), classes=21)
    seg = kl.heads.DeepLabV3(kl.create_model("mobilenet_v3_large", features_only=True, dilated=True,
                                             out_strides=(16,)), classes=21)

The registered models built on them (`lraspp_mobilenet_v3_large`, ...) are in
keras_lightnets.models.segmentation.
"""

from keras_lightnets.heads.segmentation import DEEPLABV3_TORCH_NAMES
from keras_lightnets.heads.segmentation import LRASPP
from keras_lightnets.heads.segmentation import LRASPP_TORCH_NAMES
from keras_lightnets.heads.segmentation import DeepLabV3
from keras_lightnets.heads.segmentation import deeplabv3_torch_names
from keras_lightnets.heads.segmentation import feature_maps

__all__ = ["LRASPP", "DeepLabV3", "feature_maps", "LRASPP_TORCH_NAMES", "DEEPLABV3_TORCH_NAMES",
           "deeplabv3_torch_names"]
