"""BatchNormalization recalibration: moving statistics re-estimated from images.

The papers' BN momentum (0.99-0.999) suits runs of 100+ epochs. After a few hundred
steps the moving statistics still remember their initial values, so a model that
trains well scores at chance in inference mode; and a randomly initialized model has
identity statistics, which give activations no trained network has (useless for
calibrating int8). One pass over a few hundred images in training mode sets them to
those images' statistics (what "BN recalibration" does in the
quantization literature).

    kl.training.recalibrate_batch_norm(model, x_train[:512], batch_size=64)
"""

import numpy as np


def recalibrate_batch_norm(model, images, batch_size=None):
    """Sets every BatchNormalization layer's moving mean and variance to the
    statistics of `images` (in the model's input units), leaving the layers'
    momentum as it was. Returns the model.

    `batch_size` bounds memory: the images go through in chunks of that size (all
    at once when None), each layer's statistics pooled over the chunks, weighted by
    chunk size (the mean of the chunk means; the variance is the mean of the chunk
    variances plus the variance of the chunk means, so a layer fed the same inputs
    gets the statistics of the whole set). As in training, a deeper layer sees its
    input normalized by each chunk's own statistics."""
    import keras

    images = np.asarray(images, "float32")
    if batch_size is not None and int(batch_size) < 1:
        raise ValueError(f"batch_size must be a positive number of images, got {batch_size!r}.")
    batch_size = int(batch_size or len(images))
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in norms]
    squared_means = [0.0] * len(norms)  # running average of the chunk means, squared
    seen = 0
    try:
        for start in range(0, len(images), batch_size):
            chunk = images[start:start + batch_size]
            keep = seen / (seen + len(chunk))  # the weight of the chunks before this one
            before = [keras.ops.convert_to_numpy(layer.moving_mean) for layer in norms]
            for layer in norms:
                layer.momentum = keep  # moving := keep * moving + (1 - keep) * this chunk's
            model(chunk, training=True)
            for i, layer in enumerate(norms):
                chunk_mean = (keras.ops.convert_to_numpy(layer.moving_mean) - keep * before[i]) / (1 - keep)
                squared_means[i] = keep * squared_means[i] + (1 - keep) * np.square(chunk_mean)
            seen += len(chunk)
        for layer, squared_mean in zip(norms, squared_means):
            mean = keras.ops.convert_to_numpy(layer.moving_mean)
            between_chunks = np.maximum(squared_mean - np.square(mean), 0.0)
            layer.moving_variance.assign(keras.ops.convert_to_numpy(layer.moving_variance) + between_chunks)
    finally:
        for layer, momentum in zip(norms, momenta):
            layer.momentum = momentum
    return model
