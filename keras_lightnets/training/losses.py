"""Cross-entropy on integer labels with label smoothing.

Keras' SparseCategoricalCrossentropy has no `label_smoothing`; our pipelines give
integer labels, so this loss one-hot encodes them and calls Keras'
categorical cross-entropy with the smoothing (Szegedy et al. 2016, Sec. 7:
q'(k) = (1 - eps) * delta(k, y) + eps / K).
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_lightnets")
class SparseCategoricalCrossentropy(keras.losses.Loss):
    def __init__(self, label_smoothing=0.0, from_logits=False, reduction="sum_over_batch_size", name="sparse_categorical_crossentropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if not 0 <= label_smoothing < 1:
            raise ValueError(f"`label_smoothing` must be in [0, 1); received {label_smoothing}.")
        self.label_smoothing = label_smoothing
        self.from_logits = from_logits

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "int32")
        if len(y_true.shape) == len(y_pred.shape):
            y_true = ops.squeeze(y_true, axis=-1)
        one_hot = ops.one_hot(y_true, ops.shape(y_pred)[-1], dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(
            one_hot, y_pred, from_logits=self.from_logits, label_smoothing=self.label_smoothing
        )

    def get_config(self):
        config = super().get_config()
        config.update(label_smoothing=self.label_smoothing, from_logits=self.from_logits)
        return config
