"""Weight decay as the papers apply it: an L2 penalty on the loss.

The papers' "weight decay w" (Caffe, PyTorch, TF-slim's `l2_regularizer`) adds
w/2 * ||W||^2 to the loss, i.e. w * W to the gradient; Keras' `L2(l)` adds
l * ||W||^2, so the penalty is `L2(w / 2)`. It goes on the convolution and dense
kernels (not biases, not batch-norm), as in the reference trainers; TF-slim's
MobileNets leave the depthwise kernels out (`regularize_depthwise=False`).
"""

import keras

# Layer attribute holding a kernel -> the layer's config key for its regularizer.
_KERNELS = {
    "kernel": "kernel_regularizer",
    "depthwise_kernel": "depthwise_regularizer",  # SeparableConv2D
    "pointwise_kernel": "pointwise_regularizer",
}


def apply_l2_weight_decay(model, weight_decay, depthwise=True):
    """Puts the L2 penalty of `weight_decay` on every kernel of `model` (in place).

    Call before `compile`. Also sets the layers' `*_regularizer` attributes, so
    the penalty is part of the model's config when it is saved. Returns the
    number of kernels penalised.
    """
    if weight_decay < 0:
        raise ValueError(f"`weight_decay` must be >= 0; received {weight_decay}.")
    regularizer = keras.regularizers.L2(weight_decay / 2.0) if weight_decay else None
    count = 0
    for layer in model._flatten_layers(include_self=False, recursive=True):
        # Keras 3's DepthwiseConv2D keeps its depthwise kernel as `kernel`.
        is_depthwise_layer = isinstance(layer, keras.layers.DepthwiseConv2D)
        for attr, config_key in _KERNELS.items():
            variable = getattr(layer, attr, None)
            if not isinstance(variable, keras.Variable) or not variable.trainable:
                continue
            is_depthwise = attr == "depthwise_kernel" or is_depthwise_layer
            if is_depthwise and not depthwise:
                continue
            if is_depthwise_layer:
                config_key = "depthwise_regularizer"
            variable.regularizer = regularizer
            if hasattr(layer, config_key):
                setattr(layer, config_key, regularizer)
            count += regularizer is not None
    return count


def decoupled_decay_exclusions(model):
    """Variables AdamW should not decay: biases, normalisation scales and offsets
    (every 1-D weight) and position embeddings / class tokens, as Swin and DeiT do."""
    skip = ("pos_embed", "position", "cls_token", "class_token", "relative_position")
    return [
        v for v in model.trainable_variables
        if len(v.shape) <= 1 or any(s in v.path for s in skip)
    ]
