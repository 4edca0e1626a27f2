"""Model families. Importing this package registers every model.

One line per family: each family file's `__all__` is its builder and its variants (the
`@variant` decorator adds each), so a new family is one new file and one line here.
"""

import sys as _sys

from keras_lightnets.models.alexnet import *  # noqa: F401,F403
from keras_lightnets.models.densenet import *  # noqa: F401,F403
from keras_lightnets.models.efficientnet import *  # noqa: F401,F403
from keras_lightnets.models.inception import *  # noqa: F401,F403
from keras_lightnets.models.mnasnet import *  # noqa: F401,F403
from keras_lightnets.models.mobilenet_v1 import *  # noqa: F401,F403
from keras_lightnets.models.mobilenet_v2 import *  # noqa: F401,F403
from keras_lightnets.models.mobilenet_v3 import *  # noqa: F401,F403
from keras_lightnets.models.resnet import *  # noqa: F401,F403
from keras_lightnets.models.scaling import *  # noqa: F401,F403  (compound scaling: ScalableNet, Stage, compound_scale)
from keras_lightnets.models.shufflenet import *  # noqa: F401,F403
from keras_lightnets.models.squeezenet import *  # noqa: F401,F403
from keras_lightnets.models.swin import *  # noqa: F401,F403
from keras_lightnets.models.vgg import *  # noqa: F401,F403
from keras_lightnets.models.vit import *  # noqa: F401,F403
from keras_lightnets.models.xception import *  # noqa: F401,F403

FAMILIES = ("alexnet", "densenet", "efficientnet", "inception", "mnasnet", "mobilenet_v1", "mobilenet_v2",
            "mobilenet_v3", "resnet", "scaling", "shufflenet", "squeezenet", "swin", "vgg", "vit", "xception")
__all__ = [name for family in FAMILIES for name in _sys.modules[f"{__name__}.{family}"].__all__]
