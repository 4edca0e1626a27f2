"""Transfer learning: a pretrained network's features under a new classifier.

    model = pretrained_with_new_head("mobilenet_v3_small", weights="imagenet", classes=5,
                                     input_shape=(96, 96, 3))
    model.fit(...)          # the whole network; or first with backbone frozen:
    freeze_backbone(model)  # only the new head trains

The backbone is the registered model built with `include_top=False` (its weight set's
classifier stays out: a 1000-class layer cannot serve other classes), pooled, then
Dropout and a Dense softmax named "predictions", as keras.applications' tutorials do.
"""

import keras

from keras_lightnets.registry import create_model

BACKBONE = "backbone"  # the pretrained part's name inside the returned model


def pretrained_with_new_head(name, *, weights, classes, input_shape=None, dropout_rate=0.2, **kwargs):
    """The registered model `name` with `weights` (a weight set's name, e.g. "imagenet"
    or "torchvision", or a file) and a new `classes`-way classifier."""
    if not isinstance(classes, int) or classes < 2:
        raise ValueError(f"`classes` must be an integer >= 2 for a new classifier; received classes={classes!r}.")
    backbone = create_model(name, weights=weights, include_top=False, pooling="avg", input_shape=input_shape,
                            name=BACKBONE, **kwargs)
    inputs = keras.Input(backbone.input_shape[1:], name="image")
    x = backbone(inputs)
    if dropout_rate:
        x = keras.layers.Dropout(dropout_rate, name="head_dropout")(x)
    outputs = keras.layers.Dense(classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=f"{name}_{classes}_classes")


def freeze_backbone(model, frozen=True, freeze_batch_norm=True):
    """Freezes (or, frozen=False, unfreezes) the pretrained part of a model from
    pretrained_with_new_head. Unfreezing leaves its BatchNorm layers frozen unless
    `freeze_batch_norm=False`: on a small new dataset, batch statistics replacing the
    pretrained ones cost more than they give (measured in notebooks/05_fine_tune:
    validation 0.81 -> 0.64 with them trained, -> 0.92 with them frozen)."""
    backbone = model.get_layer(BACKBONE)
    backbone.trainable = not frozen
    if not frozen:
        for layer in backbone.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = not freeze_batch_norm
    return model
