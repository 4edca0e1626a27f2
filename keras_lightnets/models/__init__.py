"""Model families. Importing this package registers every model.

One line per family: each family file's `__all__` is its builder and its variants (the
`@variant` decorator adds each), so a new family is one new file and one line here.
"""

import sys as _sys

from keras_lightnets.models.alexnet import *  # noqa: F401,F403
from keras_lightnets.models.convnext import *  # noqa: F401,F403
from keras_lightnets.models.densenet import *  # noqa: F401,F403
from keras_lightnets.models.detection import *  # noqa: F401,F403  (SSDLite on MobileNetV2 / V3)
from keras_lightnets.models.efficientnet import *  # noqa: F401,F403
from keras_lightnets.models.efficientnet_v2 import *  # noqa: F401,F403
from keras_lightnets.models.inception import *  # noqa: F401,F403
from keras_lightnets.models.inception_resnet_v2 import *  # noqa: F401,F403
from keras_lightnets.models.mnasnet import *  # noqa: F401,F403
from keras_lightnets.models.mobilenet_v1 import *  # noqa: F401,F403
from keras_lightnets.models.mobilenet_v2 import *  # noqa: F401,F403
from keras_lightnets.models.mobilenet_v3 import *  # noqa: F401,F403
from keras_lightnets.models.nasnet import *  # noqa: F401,F403
from keras_lightnets.models.resnet import *  # noqa: F401,F403
from keras_lightnets.models.scaling import *  # noqa: F401,F403  (compound scaling: ScalableNet, Stage, compound_scale)
from keras_lightnets.models.segmentation import *  # noqa: F401,F403  (LR-ASPP, DeepLabV3 on MobileNetV3)
from keras_lightnets.models.shufflenet import *  # noqa: F401,F403
from keras_lightnets.models.squeezenet import *  # noqa: F401,F403
from keras_lightnets.models.swin import *  # noqa: F401,F403
from keras_lightnets.models.vgg import *  # noqa: F401,F403
from keras_lightnets.models.vit import *  # noqa: F401,F403
from keras_lightnets.models.xception import *  # noqa: F401,F403

# Every name the family files export, in their order (a family file's __all__: its builder
# and the variants @variant added).
__all__ = [name for module_name, module in list(_sys.modules.items())
           if module_name.startswith(f"{__name__}.") and not module_name.rpartition(".")[2].startswith("_")
           for name in getattr(module, "__all__", ())]
