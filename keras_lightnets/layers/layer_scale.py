"""Layer scale (Touvron et al., "Going deeper with Image Transformers", ICCV 2021,
arXiv:2103.17239): a learned per-channel factor on a residual branch, initialized
small so that each block starts close to the identity. ConvNeXt multiplies every
block's branch by it (initial value 1e-6).

`LayerScale` keeps keras.applications.convnext.LayerScale's name, arguments and its
one weight, `gamma` of shape (projection_dim,), so the weight files of
keras.applications' ConvNeXt load into a model made with it (Keras 3 files key a
layer by its class name)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_lightnets")
class LayerScale(keras.layers.Layer):
    """x * gamma over the last axis; gamma (projection_dim,) starts at `init_values`."""

    def __init__(self, init_values, projection_dim, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(projection_dim, int) or isinstance(projection_dim, bool) or projection_dim < 1:
            raise ValueError(f"`projection_dim` (channels scaled) must be a positive integer; received {projection_dim!r}.")
        self.init_values = float(init_values)
        self.projection_dim = projection_dim

    def build(self, input_shape):
        if input_shape[-1] != self.projection_dim:
            raise ValueError(f"LayerScale {self.name!r} scales {self.projection_dim} channels; received inputs of "
                             f"shape {tuple(input_shape)}.")
        self.gamma = self.add_weight(name="gamma", shape=(self.projection_dim,),
                                     initializer=keras.initializers.Constant(self.init_values), trainable=True)

    def call(self, inputs):
        return inputs * ops.cast(self.gamma, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "init_values": self.init_values, "projection_dim": self.projection_dim}
