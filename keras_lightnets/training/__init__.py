"""Training: the papers' recipes (optimizer, schedule, weight decay, label smoothing,
EMA) as Keras compile arguments and callbacks, and the `lightnets train` loop.

    recipe = kl.training.recipe("mobilenet_v3", batch_size=256, steps_per_epoch=500, epochs=30)
    recipe.compile(model)
    model.fit(train, epochs=recipe.epochs, callbacks=recipe.callbacks)

`train` (checkpointed, resumable, distributed fit from the command line) needs
TensorFlow's tf.data and is imported on first use.
"""

import importlib

from keras_lightnets.training.batch_norm import recalibrate_batch_norm
from keras_lightnets.training.losses import SparseCategoricalCrossentropy
from keras_lightnets.training.recipes import MODEL_RECIPES
from keras_lightnets.training.recipes import Recipe
from keras_lightnets.training.recipes import RecipeSpec
from keras_lightnets.training.recipes import describe
from keras_lightnets.training.recipes import list_recipes
from keras_lightnets.training.recipes import recipe
from keras_lightnets.training.regularization import apply_l2_weight_decay
from keras_lightnets.training.schedules import LinearWarmup

_LAZY = {"train": "loop", "TrainResult": "loop"}
_LAZY.update(dict.fromkeys(["MeanIoU", "mean_iou", "confusion_matrix", "class_iou"], "segmentation"))  # mIoU

__all__ = [
    "recipe", "Recipe", "RecipeSpec", "list_recipes", "describe", "MODEL_RECIPES",
    "SparseCategoricalCrossentropy", "LinearWarmup", "apply_l2_weight_decay", "recalibrate_batch_norm", *_LAZY,
]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f"keras_lightnets.training.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'keras_lightnets.training' has no attribute {name!r}")
