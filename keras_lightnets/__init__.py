"""keras_lightnets: the survey's vision networks, exact to their papers, from Keras to phone.

    import keras_lightnets as kl
    model = kl.MobileNetV3Large()                       # keras.applications signature
    kl.list_models("mobilenet*")
    kl.create_model("mobilenet_v3_small", classes=10, input_shape=(96, 96, 3))
    kl.profile(model, input_shape=(224, 224, 3))        # params and multiply-adds
"""

__version__ = "0.1.0"

from keras_lightnets import bench  # noqa: F401  (kl.bench.run: the TFLite benchmark)
from keras_lightnets import data  # noqa: F401  (kl.data.from_tfds, ...: tf.data pipelines, loaded on first use)
from keras_lightnets import training  # noqa: F401  (kl.training.recipe: the papers' training recipes)
from keras_lightnets.models import *  # noqa: F401,F403  (the class-style builders)
from keras_lightnets.models import __all__ as _MODEL_BUILDERS
from keras_lightnets.profile import Profile
from keras_lightnets.profile import profile
from keras_lightnets.registry import ModelInfo
from keras_lightnets.registry import create_model
from keras_lightnets.registry import list_models
from keras_lightnets.registry import model_info
from keras_lightnets.registry import register_model

MobileNetV1 = MobileNet  # noqa: F405  (the name the paper series uses)
ResNeXt50 = ResNeXt50_32x4d  # noqa: F405  (the paper's ResNeXt-50, 32x4d)

__all__ = [
    *_MODEL_BUILDERS, "MobileNetV1", "ResNeXt50",
    "Profile", "profile", "ModelInfo", "create_model", "list_models", "model_info", "register_model",
]
