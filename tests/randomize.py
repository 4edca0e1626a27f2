"""`randomize_batch_norm(model)`: non-trivial BatchNorm statistics and affine terms (and,
on request, Dense weights and convolution biases) drawn from a fixed seed, so that a
weight loaded into the wrong layer or a moving mean swapped with a variance changes the
output. Keras initializes them to 1 / 0, which would hide such a mistake."""

import keras
import numpy as np

SCALES = ("gamma", "moving_variance")  # drawn around 1; the rest (beta, moving_mean) around 0


def randomize_batch_norm(model, seed=0, dense=False, conv_bias=False):
    rng = np.random.RandomState(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):  # scale=False: no gamma
            layer.set_weights([rng.uniform(0.5, 1.5, w.shape) if w.path.endswith(SCALES) else rng.normal(0, 0.1, w.shape)
                               for w in layer.weights])
        elif dense and isinstance(layer, keras.layers.Dense):
            kernel, bias = layer.get_weights()
            layer.set_weights([rng.normal(0, 0.5, kernel.shape), rng.normal(0, 0.1, bias.shape)])
        elif conv_bias and isinstance(layer, keras.layers.Conv2D) and layer.use_bias:
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel, rng.normal(0, 0.1, bias.shape)])
