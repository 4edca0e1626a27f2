"""BatchNormalization recalibration: moving statistics re-estimated from images.

The papers' BN momentum (0.99-0.999) suits runs of 100+ epochs. After a few hundred
steps the moving statistics still remember their initial values, so a model that
trains well scores at chance in inference mode; and a randomly initialized model has
identity statistics, which give activations no trained network has (useless for
calibrating int8). One pass over a few hundred images in training mode, with momentum
0, sets them to those images' statistics (what "BN recalibration" does in the
quantization literature).

    kl.training.recalibrate_batch_norm(model, x_train[:512])
"""

import numpy as np


def recalibrate_batch_norm(model, images):
    """Sets every BatchNormalization layer's moving mean and variance to the
    statistics of `images` (one batch, in the model's input units), leaving the
    layers' momentum as it was. Returns the model."""
    import keras

    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in norms]
    try:
        for layer in norms:
            layer.momentum = 0.0  # moving statistics := this batch's
        model(np.asarray(images, "float32"), training=True)
    finally:
        for layer, momentum in zip(norms, momenta):
            layer.momentum = momentum
    return model
