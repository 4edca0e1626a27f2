"""keras_lightnets: the survey's vision networks, exact to their papers, from Keras to phone.

    import keras_lightnets as kl
    model = kl.MobileNetV3Large()                       # keras.applications signature
    kl.list_models("mobilenet*")
    kl.create_model("mobilenet_v3_small", classes=10, input_shape=(96, 96, 3))
    kl.profile(model, input_shape=(224, 224, 3))        # params and multiply-adds
"""

import os as _os
import sys as _sys

__version__ = "0.1.0"


def _import_api():
    """Imports the public API (and with it Keras and TensorFlow) into this module:
    what `import keras_lightnets` does, except in the command-line apps below."""
    import importlib

    names = globals()
    for sub in ("bench", "data", "training"):  # kl.bench.run, kl.data.from_tfds, kl.training.recipe, ...
        names[sub] = importlib.import_module(f"keras_lightnets.{sub}")
    models = importlib.import_module("keras_lightnets.models")  # the class-style builders
    from keras_lightnets.profiling import Profile
    from keras_lightnets.profiling import profile
    from keras_lightnets.registry import ModelInfo
    from keras_lightnets.registry import create_model
    from keras_lightnets.registry import list_models
    from keras_lightnets.registry import list_pretrained
    from keras_lightnets.registry import model_info
    from keras_lightnets.registry import register_model

    names.update({name: getattr(models, name) for name in models.__all__})
    names.update(Profile=Profile, profile=profile, ModelInfo=ModelInfo, create_model=create_model,
                 list_models=list_models, list_pretrained=list_pretrained, model_info=model_info, register_model=register_model)
    names["MobileNetV1"] = models.MobileNet  # the name the paper series uses
    names["ResNeXt50"] = models.ResNeXt50_32x4d  # the paper's ResNeXt-50, 32x4d
    names["__all__"] = [
        *models.__all__, "MobileNetV1", "ResNeXt50",
        "Profile", "profile", "ModelInfo", "create_model", "list_models", "list_pretrained", "model_info", "register_model",
    ]


def _started_as_command_line_app():
    """True in the `lightnets` command (its console script, `python -m keras_lightnets.cli`)
    and in the tflite/*.py apps (which set LIGHTNETS_APP before importing us). They import
    what each command needs, after quieting TensorFlow's logs, so that `lightnets --help`,
    `list` and `info` answer without TensorFlow."""
    main = _sys.modules.get("__main__")
    if getattr(main, "LIGHTNETS_APP", False):
        return True
    if _os.path.basename(getattr(main, "__file__", None) or "") == "lightnets":
        return True
    argv = list(getattr(_sys, "orig_argv", ()))
    return "-m" in argv and argv[argv.index("-m") + 1:argv.index("-m") + 2] == ["keras_lightnets.cli"]


def __getattr__(name):  # PEP 562: reached in a command-line app, before _import_api()
    import importlib
    import importlib.util

    if name.startswith("__") and name != "__all__":
        raise AttributeError(name)
    if importlib.util.find_spec(f"{__name__}.{name}") is not None:
        return importlib.import_module(f"{__name__}.{name}")  # a submodule: only it
    _import_api()  # a name of the API: all of it
    if name not in globals():
        raise AttributeError(f"module 'keras_lightnets' has no attribute {name!r}")
    return globals()[name]


if not _started_as_command_line_app():
    _import_api()
