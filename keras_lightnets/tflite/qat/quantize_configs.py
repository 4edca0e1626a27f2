"""tensorflow-model-optimization QuantizeConfigs for every layer of the zoo's tf_keras
twins, the quantizers they use, and the quantization scheme that applies them.

tfmot's default 8-bit registry has no rule for Multiply, hard-swish and other
Keras 3 activations, BatchNormalization that no convolution precedes, or custom
layers. Here one config class, `LayerQuantizeConfig`, states explicitly which parts
of a layer are fake-quantized, with tfmot's default 8-bit quantizers:

- weights: per output channel for Conv2D (as tfmot), per channel for
  DepthwiseConv2D (`DepthwiseWeightsQuantizer`: tfmot's conv quantizer treats a
  (kh, kw, C, 1) kernel per tensor, which a folded BatchNormalization's per-channel
  scales do not survive), per tensor for Dense (as tfmot);
- activation attributes, only for activations TFLite computes after a fixed-range
  input quantization (softmax, sigmoid, tanh inside Conv/Dense: tfmot's
  pre-activation quantization);
- inner points of twin layers whose call holds several int8 ops
  (keras_lightnets.tflite.qat.twin.QuantPoints);
- the output, where TFLite gives the tensor its own scale.

Which layer gets which config is decided in keras_lightnets.tflite.qat from the
graph; `LightnetsQuantizeScheme` then only inserts the input quantizer, since every
layer arrives annotated.

The quantizers are tfmot's (same fake-quant ops, same training behaviour), plus a
calibration mode (`calibrating()`): each records the min/max of what passes
through it, unquantized, so QAT can start from post-training-calibrated ranges
instead of tfmot's [-6, 6].
"""

import contextlib
import os

import tensorflow as tf
import tf_keras

from keras_lightnets.tflite.qat.twin import PACKAGE


def _import_tfmot():
    # tfmot sets TF_USE_LEGACY_KERAS=1 at import to make `tf.keras` tf_keras; resolve
    # tf.keras (to Keras 3) first and restore the variable, so nothing else changes.
    previous = os.environ.get("TF_USE_LEGACY_KERAS")
    getattr(tf.keras, "version", None)
    import tensorflow_model_optimization as tfmot

    if previous is None:
        os.environ.pop("TF_USE_LEGACY_KERAS", None)
    else:
        os.environ["TF_USE_LEGACY_KERAS"] = previous
    return tfmot


tfmot = _import_tfmot()
_qk = tfmot.quantization.keras
quantizers = _qk.quantizers

# -------------------------------------------------------------- calibration mode

_CALIBRATION = {"weights": False, "activations": False, "session": None}


class _Session:
    """What one calibration run saw: ranges recorded, per range group."""

    def __init__(self):
        self.seen = set()
        self.group_ranges = {}  # group -> (low, high) over all its members
        self.group_members = {}  # group -> {id: (min_var, max_var)} of every quantizer in it
        self.asymmetric = {}  # id -> (min_var, max_var) of every asymmetric (activation) range

    def finish(self):
        """Gives every member of each group the range of the whole group, then moves
        each asymmetric range off a zero-point tie."""
        for group, members in self.group_members.items():
            low, high = self.group_ranges[group]
            for low_var, high_var in members.values():
                low_var.assign(tf.broadcast_to(low, low_var.shape))
                high_var.assign(tf.broadcast_to(high, high_var.shape))
        for low_var, high_var in self.asymmetric.values():
            high_var.assign(tf.broadcast_to(untied_high(float(tf.reduce_min(low_var)), float(tf.reduce_max(high_var))),
                                            high_var.shape))


def untied_high(low, high, steps=255):
    """`high`, or `high` plus one quantization step when [low, high] puts the zero
    point on a tie (x.5 steps above `low`), as a symmetric range does: [-1, 1], the
    output of the [-1, 1] input scaling of MobileNet and others. TF's FakeQuant nudges
    such a range in float32 and the TFLite converter in double, and they round the tie
    apart: the QAT model and its int8 file then clip the range's end values (every 0
    and 255 pixel) one step apart (benchmarks/results/qat_layerwise.md). One step more
    at the top moves the zero point off the tie; nothing within the range is clipped."""
    for _ in range(3):
        if not low < 0.0 < high:
            return high
        zero_point = -low * steps / (high - low)
        if abs(zero_point - int(zero_point) - 0.5) > 1e-3:
            return high
        high += (high - low) / steps
    return high


@contextlib.contextmanager
def calibrating(weights=True, activations=True):
    """Within this context (eager calls only), quantizers record ranges instead of
    quantizing: the first call sets a range, later ones widen it. On exit, every
    member of a range group gets the range of the whole group."""
    previous = dict(_CALIBRATION)
    session = _Session()
    _CALIBRATION.update(weights=weights, activations=activations, session=session)
    try:
        yield session
        session.finish()
    finally:
        _CALIBRATION.update(previous)


class _Calibrating:
    """Mixin for tfmot quantizers: in calibration mode, record the tensor's range."""

    calibrates = "activations"
    group = None
    observe_only = False

    def __call__(self, inputs, training, weights, **kwargs):
        if _CALIBRATION[self.calibrates]:
            self._record(self._reshape(inputs), weights)
            return inputs
        if self.observe_only:
            return inputs
        if self.group is not None:
            # A range group's range stays as calibrated: a moving average per member would
            # give its tensors different scales, which one int8 CONCATENATION cannot join.
            training = False
        return super().__call__(inputs, training, weights, **kwargs)

    def _reshape(self, inputs):
        return inputs

    def _record(self, inputs, weights):
        axes = list(range(len(inputs.shape) - 1)) if self.per_axis else None
        low = tf.minimum(tf.reduce_min(inputs, axis=axes), 0.0)
        high = tf.maximum(tf.reduce_max(inputs, axis=axes), 0.0)
        if self.symmetric:  # narrow range: [-m, m]
            high = tf.maximum(high, -low)
            low = -high
        low_var, high_var = weights["min_var"], weights["max_var"]
        session = _CALIBRATION["session"]
        if id(low_var) in session.seen:
            low, high = tf.minimum(low, low_var), tf.maximum(high, high_var)
        session.seen.add(id(low_var))
        low_var.assign(tf.broadcast_to(low, low_var.shape))
        high_var.assign(tf.broadcast_to(high, high_var.shape))
        if not self.symmetric and not self.per_axis:
            session.asymmetric[id(low_var)] = (low_var, high_var)
        if self.group is not None:
            if self.group in session.group_ranges:
                old_low, old_high = session.group_ranges[self.group]
                low, high = tf.minimum(low, old_low), tf.maximum(high, old_high)
            session.group_ranges[self.group] = (low, high)
            if not self.observe_only:
                session.group_members.setdefault(self.group, {})[id(low_var)] = (low_var, high_var)


@tf_keras.utils.register_keras_serializable(PACKAGE)
class ActivationQuantizer(_Calibrating, quantizers.MovingAverageQuantizer):
    """tfmot's default 8-bit activation quantizer (asymmetric, per tensor, EMA range).

    group: tensors TFLite must give one scale (joined by concatenations) form a
        range group: calibration gives every member the range of the whole group,
        and each member fake-quantizes with it, held fixed in training (not moved
        by tfmot's moving average). So the QAT model rounds and clips each of
        these tensors exactly where and as the int8 file does, and the converter
        sees one range on all of them (no requantize op).
    observe_only: identity; calibration still records the tensor's range into its
        group (kept so QAT models saved with it load; the plan no longer makes one).
    """

    def __init__(self, num_bits=8, per_axis=False, symmetric=False, narrow_range=False, group=None, observe_only=False):
        super().__init__(num_bits=num_bits, per_axis=per_axis, symmetric=symmetric, narrow_range=narrow_range)
        self.group = group
        self.observe_only = bool(observe_only)

    def get_config(self):
        return {**super().get_config(), "group": self.group, "observe_only": self.observe_only}


@tf_keras.utils.register_keras_serializable(PACKAGE)
class InputQuantizer(_Calibrating, quantizers.AllValuesQuantizer):
    """tfmot's input quantizer (range: all values seen)."""

    def __init__(self, num_bits=8, per_axis=False, symmetric=False, narrow_range=False):
        super().__init__(num_bits=num_bits, per_axis=per_axis, symmetric=symmetric, narrow_range=narrow_range)


@tf_keras.utils.register_keras_serializable(PACKAGE)
class WeightsQuantizer(_Calibrating, quantizers.LastValueQuantizer):
    """tfmot's weight quantizer: symmetric narrow-range int8 over the last axis
    (Conv2D: per output channel) or per tensor (Dense)."""

    calibrates = "weights"

    def __init__(self, num_bits=8, per_axis=False, symmetric=True, narrow_range=True):
        super().__init__(num_bits=num_bits, per_axis=per_axis, symmetric=symmetric, narrow_range=narrow_range)


@tf_keras.utils.register_keras_serializable(PACKAGE)
class DepthwiseWeightsQuantizer(WeightsQuantizer):
    """Per-channel symmetric int8 fake-quantization of a (kh, kw, C, 1) depthwise
    kernel over its C axis, as TFLite quantizes depthwise weights. The kernel is
    quantized transposed to (kh, kw, 1, C), a form the TFLite converter reads as
    per-channel weights (a reshape to put C last is rejected by it)."""

    def __init__(self, num_bits=8, per_axis=True, symmetric=True, narrow_range=True):
        super().__init__(num_bits=num_bits, per_axis=True, symmetric=symmetric, narrow_range=narrow_range)

    def build(self, tensor_shape, name, layer):
        if int(tensor_shape[-1]) != 1:
            raise ValueError(f"DepthwiseWeightsQuantizer needs depth_multiplier=1; {layer.name!r} has {tensor_shape[-1]}.")
        init = tf_keras.initializers.Constant
        channels = int(tensor_shape[-2])
        return {
            "min_var": layer.add_weight(name + "_min", shape=(channels,), initializer=init(-6.0), trainable=False),
            "max_var": layer.add_weight(name + "_max", shape=(channels,), initializer=init(6.0), trainable=False),
        }

    def _reshape(self, inputs):
        return tf.transpose(inputs, (0, 1, 3, 2))

    def __call__(self, inputs, training, weights, **kwargs):
        if _CALIBRATION[self.calibrates]:
            return super().__call__(inputs, training, weights, **kwargs)
        quantized = super().__call__(self._reshape(inputs), training, weights, **kwargs)
        return tf.transpose(quantized, (0, 1, 3, 2))


@tf_keras.utils.register_keras_serializable(PACKAGE)
class ConvWeightsQuantizer(WeightsQuantizer):
    """Per output channel (last axis), with tfmot's conv-weight range variables."""

    def __init__(self, num_bits=8, per_axis=True, symmetric=True, narrow_range=True):
        super().__init__(num_bits=num_bits, per_axis=True, symmetric=symmetric, narrow_range=narrow_range)

    def build(self, tensor_shape, name, layer):
        init = tf_keras.initializers.Constant
        channels = int(tensor_shape[-1])
        return {
            "min_var": layer.add_weight(name + "_min", shape=(channels,), initializer=init(-6.0), trainable=False),
            "max_var": layer.add_weight(name + "_max", shape=(channels,), initializer=init(6.0), trainable=False),
        }


_WEIGHT_QUANTIZERS = {"conv": ConvWeightsQuantizer, "depthwise": DepthwiseWeightsQuantizer, "tensor": WeightsQuantizer}


# ----------------------------------------------------------------------- config


@tf_keras.utils.register_keras_serializable(PACKAGE)
class LayerQuantizeConfig(_qk.QuantizeConfig):
    """Fake-quantizes exactly the parts of a layer named here.

    Args:
        weight_attrs: weight attributes ("kernel", "depthwise_kernel").
        weight_quantizer: "conv" (per output channel), "depthwise" (per channel)
            or "tensor".
        activation_attrs: activation attributes to wrap with tfmot's
            QuantizeAwareActivation (softmax/sigmoid/tanh: quantized before).
        point_attrs: identity attributes of a QuantPoints twin, quantized after.
        quantize_output: fake-quantize the layer's output.
        observe_output: without quantize_output, still record the output's range
            at calibration (for its range group).
        range_group: the range group of the output (see ActivationQuantizer).
    """

    def __init__(self, weight_attrs=(), weight_quantizer="tensor", activation_attrs=(), point_attrs=(),
                 quantize_output=False, observe_output=False, range_group=None):
        if weight_quantizer not in _WEIGHT_QUANTIZERS:
            raise ValueError(f"`weight_quantizer` must be one of {sorted(_WEIGHT_QUANTIZERS)}; received {weight_quantizer!r}.")
        self.weight_attrs = list(weight_attrs)
        self.weight_quantizer = weight_quantizer
        self.activation_attrs = list(activation_attrs)
        self.point_attrs = list(point_attrs)
        self.quantize_output = bool(quantize_output)
        self.observe_output = bool(observe_output)
        self.range_group = range_group

    def get_weights_and_quantizers(self, layer):
        return [(getattr(layer, attr), _WEIGHT_QUANTIZERS[self.weight_quantizer]()) for attr in self.weight_attrs]

    def get_activations_and_quantizers(self, layer):
        return [(getattr(layer, attr), ActivationQuantizer()) for attr in self.activation_attrs + self.point_attrs]

    def set_quantize_weights(self, layer, quantize_weights):
        for attr, weight in zip(self.weight_attrs, quantize_weights):
            setattr(layer, attr, weight)

    def set_quantize_activations(self, layer, quantize_activations):
        for attr, activation in zip(self.activation_attrs + self.point_attrs, quantize_activations):
            setattr(layer, attr, activation)

    def get_output_quantizers(self, layer):
        if self.quantize_output or self.observe_output:
            return [ActivationQuantizer(group=self.range_group, observe_only=not self.quantize_output)]
        return []

    def get_config(self):
        return {
            "weight_attrs": self.weight_attrs, "weight_quantizer": self.weight_quantizer,
            "activation_attrs": self.activation_attrs, "point_attrs": self.point_attrs,
            "quantize_output": self.quantize_output, "observe_output": self.observe_output,
            "range_group": self.range_group,
        }

    def __eq__(self, other):
        return isinstance(other, LayerQuantizeConfig) and self.get_config() == other.get_config()

    def __repr__(self):
        parts = [f"weights={self.weight_attrs}/{self.weight_quantizer}"] if self.weight_attrs else []
        parts += [f"activations={self.activation_attrs}"] if self.activation_attrs else []
        parts += [f"points={self.point_attrs}"] if self.point_attrs else []
        parts += ["output"] if self.quantize_output else ["observed"] if self.observe_output else []
        parts += [f"group={self.range_group}"] if self.range_group else []
        return f"LayerQuantizeConfig({', '.join(parts) or 'nothing'})"


# ----------------------------------------------------------------------- scheme


class _InputQuantize(_qk.default_8bit.default_8bit_transforms.InputLayerQuantize):
    """tfmot's transform adding a QuantizeLayer after each input, with our quantizer."""

    def replacement(self, match_layer):
        from tensorflow_model_optimization.python.core.quantization.keras import quantize_layer
        from tensorflow_model_optimization.python.core.quantization.keras import utils as quantize_utils

        layer = quantize_layer.QuantizeLayer(InputQuantizer())
        config = quantize_utils.serialize_layer(layer, use_legacy_format=True)
        config["name"] = layer.name
        return _qk.graph_transformations.transforms.LayerNode(config, input_layers=[match_layer])

    def custom_objects(self):
        return {**super().custom_objects(), "InputQuantizer": InputQuantizer}


class _InputQuantizeLayout(_qk.QuantizeLayoutTransform):
    """Only adds the input quantizer: the layers arrive annotated with their
    configs (fusions and shared ranges decided from the graph), so tfmot's default
    pattern transforms, quadratic in the layer count, are not needed."""

    def apply(self, model, layer_quantize_map):
        transformer = _qk.graph_transformations.model_transformer.ModelTransformer(
            model, [_InputQuantize()], set(layer_quantize_map), layer_quantize_map)
        return transformer.transform()


class LightnetsQuantizeScheme(_qk.QuantizeScheme):
    """tfmot's default 8-bit quantization, with the configs decided by keras_lightnets."""

    def get_layout_transformer(self):
        return _InputQuantizeLayout()

    def get_quantize_registry(self):
        return _qk.default_8bit.Default8BitQuantizeRegistry()


def custom_objects():
    """The classes tf_keras needs to rebuild our QAT models (also registered globally)."""
    from keras_lightnets.tflite.qat import twin

    objects = {cls.__name__: cls for cls in (
        LayerQuantizeConfig, ActivationQuantizer, InputQuantizer, WeightsQuantizer, ConvWeightsQuantizer,
        DepthwiseWeightsQuantizer, twin.HardSigmoid, twin.LRNScale, twin.Keras3Layer, twin.QuantPoints,
    )}
    return objects


def scope():
    """tfmot's quantize_scope with our classes: wrap tf_keras loading or cloning of a QAT model."""
    return _qk.quantize_scope(custom_objects())
