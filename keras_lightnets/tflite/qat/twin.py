"""A Keras 3 functional model as the equivalent tf_keras (Keras 2) model, derived
from its graph and carrying its weights, for tensorflow-model-optimization.

tfmot only accepts tf_keras models. Instead of a second hand-written copy of any
architecture, `to_tf_keras` walks the Keras 3 model's functional config (the public
serialization format), builds each layer's tf_keras twin and copies the weights:

- stock layers become the tf_keras layer of the same class and config; Keras 3
  activations whose tf_keras namesake differs (hard_sigmoid) or is missing
  (hard_silu, relu6, gelu's default...) call Keras 3's own function on TF tensors;
- Rescaling and Normalization of images become a fixed 1x1 DepthwiseConv2D with
  bias (the same per-channel affine map: one integer op in TFLite, where the
  stock layers give a MUL and an ADD whose middle tensor QAT cannot range);
- with `quantizable=True`, a BatchNormalization that no convolution precedes
  (DenseNet's BN after a concatenation, ResNet v2's pre-activations) becomes the
  same affine map with its moving statistics folded in (frozen, as TFLite folds
  it anyway); one that follows a convolution stays a BatchNormalization, which
  TFLite folds into that convolution;
- SeparableConv2D becomes DepthwiseConv2D + Conv2D, as tfmot's own transform does;
- keras_lightnets' layers get explicit twins here (LocalResponseNormalization,
  AdaptiveAveragePooling2D) written in ops TFLite runs in int8; any other
  weightless Keras 3 layer (a registered custom layer written with keras.ops) is
  wrapped generically: its own Keras 3 `call` runs on TF tensors;
- `register_twin(class_name)` adds a translation for another layer class.

Outputs agree with the Keras 3 model to float rounding (tests: 1e-5).
"""

import dataclasses
import inspect
from typing import Callable, Dict, List

import keras
import numpy as np
import tensorflow as tf
import tf_keras

PACKAGE = "keras_lightnets"

# Keras 3 activations that tf_keras defines identically under the same name.
_SAME_ACTIVATIONS = frozenset({
    "linear", "relu", "sigmoid", "softmax", "tanh", "elu", "selu", "softplus", "softsign", "exponential", "swish",
})
_ACTIVATION_ALIASES = {"silu": "swish"}  # tf.nn.silu in both


class UnsupportedLayerError(ValueError):
    """A layer of the Keras 3 model has no tf_keras twin."""


# ----------------------------------------------------------------- activations

_KERAS3_ACTIVATIONS: Dict[str, Callable] = {}


def _keras3_activation(name):
    """A tf_keras-serializable function that runs Keras 3's activation `name`."""
    if name not in _KERAS3_ACTIVATIONS:
        function = keras.activations.get(name)

        def activation(x):
            return function(x)

        activation.__name__ = name  # tfmot identifies activations by name
        _KERAS3_ACTIVATIONS[name] = tf_keras.utils.register_keras_serializable(f"{PACKAGE}_keras3", name)(activation)
    return _KERAS3_ACTIVATIONS[name]


def twin_activation(identifier, where=""):
    """The tf_keras activation that computes what Keras 3's `identifier` computes."""
    if identifier is None:
        return "linear"
    if not isinstance(identifier, str):
        identifier = keras.activations.serialize(keras.activations.get(identifier))
        if not isinstance(identifier, str):
            raise UnsupportedLayerError(
                f"{where}: activation {identifier!r} is not one of Keras' named activations; "
                "apply it with a separate layer (e.g. a registered custom layer) instead."
            )
    name = _ACTIVATION_ALIASES.get(identifier, identifier)
    if name in _SAME_ACTIVATIONS:
        return name
    try:
        keras.activations.get(identifier)
    except ValueError:
        raise UnsupportedLayerError(f"{where}: unknown activation {identifier!r}.") from None
    return _keras3_activation(identifier)


# ------------------------------------------------------------ twin layer classes


@tf_keras.utils.register_keras_serializable(PACKAGE)
class QuantPoints(tf_keras.layers.Layer):
    """Base of twin layers whose call has tensors inside it that TFLite computes in
    int8 as separate ops: each such tensor passes through `self.point_i` (identity,
    named "linear"), which QAT replaces with a fake-quantizer
    (keras_lightnets.tflite.qat.quantize_configs.PointsQuantizeConfig)."""

    num_points = 0

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        for i in range(self.num_points):
            setattr(self, f"point_{i}", tf_keras.activations.linear)

    @classmethod
    def point_names(cls):
        return [f"point_{i}" for i in range(cls.num_points)]


@tf_keras.utils.register_keras_serializable(PACKAGE)
class HardSigmoid(QuantPoints):
    """Keras 3's hard_sigmoid, relu6(x + 3) / 6 (MobileNetV3's h-sigmoid). TFLite
    runs it as ADD (fused ReLU6) then MUL: one quantization point between them."""

    num_points = 1

    def call(self, inputs):
        return self.point_0(tf.nn.relu6(inputs + 3.0)) * (1.0 / 6.0)


@tf_keras.utils.register_keras_serializable(PACKAGE)
class LRNScale(QuantPoints):
    """The last step of local response normalization: inputs * t ** -beta, given the
    window term t = k + alpha * sum(a^2). For the paper's beta = 0.75 it is written
    t^-3/4 = rsqrt(t) * rsqrt(t) * rsqrt(rsqrt(t)), ops TFLite has in int8 (POW has
    no integer kernel); other betas use pow and stay in float on device."""

    num_points = 4

    def __init__(self, beta, **kwargs):
        super().__init__(**kwargs)
        self.beta = float(beta)

    def call(self, inputs):
        x, t = inputs
        if self.beta != 0.75:
            return x * tf.pow(t, -self.beta)
        r = self.point_0(tf.math.rsqrt(t))
        q = self.point_1(tf.math.rsqrt(r))  # t^(1/4)
        y = self.point_2(x * r)
        y = self.point_3(y * r)
        return y * q

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "beta": self.beta}


@tf_keras.utils.register_keras_serializable(PACKAGE)
class Keras3Layer(tf_keras.layers.Layer):
    """Runs a weightless Keras 3 layer inside tf_keras: with the TensorFlow backend
    its keras.ops are TF ops, so its own `call` is the twin's."""

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        self.layer_config = layer if isinstance(layer, dict) else keras.saving.serialize_keras_object(layer)
        self.layer = keras.saving.deserialize_keras_object(self.layer_config)

    def call(self, inputs):
        return self.layer(inputs)

    def compute_output_shape(self, input_shape):
        # Keras 3 layers need not define it: infer it from a symbolic call.
        def spec(shape):
            if isinstance(shape, (list, tuple)) and shape and not isinstance(shape[0], (int, type(None))):
                return [spec(s) for s in shape]
            return keras.KerasTensor(tuple(tf.TensorShape(shape).as_list()))

        outputs = self.layer.compute_output_spec(spec(input_shape))
        if isinstance(outputs, (list, tuple)):
            return [tf.TensorShape(o.shape) for o in outputs]
        return tf.TensorShape(outputs.shape)

    def get_config(self):
        return {**super().get_config(), "layer": self.layer_config}


# --------------------------------------------------------------- translations


@dataclasses.dataclass
class Twin:
    """The tf_keras side of one Keras 3 layer: `apply` maps tf_keras tensors like
    the layer maps Keras 3 ones; `weights` lists (tf_keras layer, values) to set once
    the model is built (values None: the layer keeps what it was built with)."""

    apply: Callable
    weights: List[tuple] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class Context:
    """What a translation may need to know about the layer's place in the graph."""

    quantizable: bool
    follows_linear_op: bool  # its only input is a linear conv/dense used by nothing else
    input_shapes: tuple


_TRANSLATIONS: Dict[str, Callable[[keras.layers.Layer, Context], Twin]] = {}


def register_twin(class_name):
    """Decorator: `fn(layer, context) -> Twin` translates Keras 3 layers of class
    `class_name` (e.g. a new registered layer of keras_lightnets)."""

    def decorator(function):
        _TRANSLATIONS[class_name] = function
        return function

    return decorator


def _single(layer, weights=None):
    return Twin(apply=layer, weights=[(layer, weights)])


def _policy_name(layer):
    policy = getattr(layer, "dtype_policy", None)
    return getattr(policy, "name", None) or "float32"


def _translate_object(kind, value, where):
    if value is None or isinstance(value, str):
        return value
    module = getattr(tf_keras, kind)
    try:
        return module.get({"class_name": value["class_name"], "config": value.get("config", {})})
    except (ValueError, TypeError, KeyError):
        raise UnsupportedLayerError(f"{where}: {kind[:-1]} {value.get('class_name')!r} has no tf_keras equivalent.") from None


def stock_config(layer, tf_keras_class):
    """The Keras 3 layer's config, in the terms tf_keras' `tf_keras_class` accepts."""
    where = f"Layer {layer.name!r} ({type(layer).__name__})"
    config = dict(layer.get_config())
    config["dtype"] = _policy_name(layer)
    accepted = {"name", "trainable", "dtype"}
    for cls in tf_keras_class.__mro__:  # subclasses pass options on to their bases
        if cls is tf_keras.layers.Layer:
            break
        accepted |= set(inspect.signature(cls.__init__).parameters)
    out = {}
    for key, value in config.items():
        if key.endswith("_initializer"):
            continue  # the weights are copied
        if key.endswith("_regularizer"):
            value = _translate_object("regularizers", value, where)
        elif key.endswith("_constraint"):
            value = _translate_object("constraints", value, where)
        elif key == "activation" or key.endswith("_activation"):
            value = twin_activation(value, where)
        if key not in accepted:
            if value in (None, False, 0, "", [], {}):
                continue  # a Keras 3 option left at its off value
            raise UnsupportedLayerError(f"{where}: option {key}={value!r} has no tf_keras equivalent.")
        out[key] = value
    return out


def _stock(layer, context):
    tf_keras_class = getattr(tf_keras.layers, type(layer).__name__, None)
    if tf_keras_class is None or not type(layer).__module__.startswith("keras."):
        raise UnsupportedLayerError(_no_twin_message(layer))
    twin = tf_keras_class(**stock_config(layer, tf_keras_class))
    return _single(twin, layer.get_weights())


def _no_twin_message(layer):
    return (
        f"Layer {layer.name!r} ({type(layer).__module__}.{type(layer).__name__}) has no tf_keras twin for "
        "quantization-aware training: it is neither a stock Keras layer nor a weightless registered layer. "
        "Register a translation with keras_lightnets.tflite.qat.twin.register_twin("
        f"{type(layer).__name__!r}), or rebuild the model without it."
    )


def _affine(name, scale, offset, trainable):
    """x * scale + offset per channel, as a 1x1 DepthwiseConv2D with bias."""
    scale = np.asarray(scale, "float32")
    layer = tf_keras.layers.DepthwiseConv2D(1, use_bias=True, trainable=trainable, name=name)
    return _single(layer, [scale.reshape(1, 1, -1, 1), np.asarray(offset, "float32")])


def _channels(context, layer):
    shape = context.input_shapes[0]
    if len(shape) != 4 or shape[-1] is None:
        return None
    return shape[-1]


def _axis_is_last(axis, rank):
    axis = tuple(axis) if isinstance(axis, (list, tuple)) else (axis,)
    return axis in ((-1,), (rank - 1,))


@register_twin("Lambda")
def _lambda(layer, context):
    raise UnsupportedLayerError(
        f"Layer {layer.name!r} is a Lambda layer: its Python function cannot be carried to tf_keras (nor saved "
        "safely). Write it as a small registered layer (keras.saving.register_keras_serializable, keras.ops only), "
        "or register a translation with keras_lightnets.tflite.qat.twin.register_twin('Lambda')."
    )


@register_twin("Activation")
def _activation_layer(layer, context):
    name = keras.activations.serialize(keras.activations.get(layer.activation))
    if name == "hard_sigmoid":
        return _single(HardSigmoid(name=layer.name))
    return _stock(layer, context)


@register_twin("Rescaling")
def _rescaling(layer, context):
    channels = _channels(context, layer)
    if channels is None:
        return _stock(layer, context)
    scale = np.broadcast_to(np.asarray(layer.scale, "float32"), (channels,))
    offset = np.broadcast_to(np.asarray(layer.offset, "float32"), (channels,))
    return _affine(layer.name, scale, offset, trainable=False)


@register_twin("Normalization")
def _normalization(layer, context):
    channels = _channels(context, layer)
    if channels is None or not _axis_is_last(layer.axis, 4):
        raise UnsupportedLayerError(
            f"Layer {layer.name!r} (Normalization): only per-channel normalization of NHWC images has a "
            f"quantizable twin; received axis={layer.axis} on inputs {context.input_shapes[0]}."
        )
    mean = np.broadcast_to(np.asarray(layer.mean, "float32").reshape(-1), (channels,))
    std = np.maximum(np.sqrt(np.broadcast_to(np.asarray(layer.variance, "float32").reshape(-1), (channels,))),
                     keras.backend.epsilon())
    if layer.invert:
        return _affine(layer.name, std, mean, trainable=False)
    return _affine(layer.name, 1.0 / std, -mean / std, trainable=False)


@register_twin("BatchNormalization")
def _batch_norm(layer, context):
    channels = _channels(context, layer)
    if not context.quantizable or context.follows_linear_op or channels is None:
        return _stock(layer, context)
    if not _axis_is_last(layer.axis, 4):
        raise UnsupportedLayerError(f"Layer {layer.name!r}: only channels-last BatchNormalization is supported.")
    gamma = np.ones(channels, "float32") if layer.gamma is None else np.asarray(layer.gamma)
    beta = np.zeros(channels, "float32") if layer.beta is None else np.asarray(layer.beta)
    scale = gamma / np.sqrt(np.asarray(layer.moving_variance) + layer.epsilon)
    return _affine(layer.name, scale, beta - np.asarray(layer.moving_mean) * scale, trainable=layer.trainable)


@register_twin("SeparableConv2D")
def _separable(layer, context):
    config = layer.get_config()
    depthwise = tf_keras.layers.DepthwiseConv2D(
        config["kernel_size"], strides=config["strides"], padding=config["padding"],
        depth_multiplier=config["depth_multiplier"], dilation_rate=config["dilation_rate"], use_bias=False,
        name=f"{layer.name}_depthwise",
    )
    pointwise = tf_keras.layers.Conv2D(
        config["filters"], 1, use_bias=config["use_bias"], activation=twin_activation(config["activation"], layer.name),
        kernel_regularizer=_translate_object("regularizers", config.get("pointwise_regularizer"), layer.name),
        name=layer.name,
    )
    values = layer.get_weights()
    return Twin(apply=lambda x: pointwise(depthwise(x)), weights=[(depthwise, values[:1]), (pointwise, values[1:])])


@register_twin("LocalResponseNormalization")
def _local_response_norm(layer, context):
    """a / (k + alpha * window_sum(a^2)) ** beta as Multiply (a^2), a fixed 1x1 Conv2D
    (alpha times the banded window matrix, bias k) and LRNScale."""
    channels = _channels(context, layer)
    before, after = layer.size // 2, (layer.size - 1) // 2
    band = np.zeros((channels, channels), "float32")
    for c in range(channels):
        band[max(0, c - before): c + after + 1, c] = layer.alpha
    square = tf_keras.layers.Multiply(name=f"{layer.name}_square")
    window = tf_keras.layers.Conv2D(channels, 1, trainable=False, name=f"{layer.name}_window")
    scale = LRNScale(layer.beta, name=layer.name)

    def apply(x):
        return scale([x, window(square([x, x]))])

    return Twin(apply=apply, weights=[(window, [band[None, None], np.full(channels, layer.k, "float32")])])


@register_twin("LayerScale")
def _layer_scale(layer, context):
    """ConvNeXt's layer scale (keras_lightnets.layers.layer_scale): x * gamma per channel of
    an NHWC map, a trainable 1x1 DepthwiseConv2D (zero bias)."""
    channels = _channels(context, layer)
    if channels is None:
        raise UnsupportedLayerError(f"Layer {layer.name!r} (LayerScale): only a per-channel scale of NHWC maps has a "
                                    f"twin; received inputs {context.input_shapes[0]}.")
    return _affine(layer.name, np.asarray(layer.gamma), np.zeros(channels, "float32"), trainable=layer.trainable)


@register_twin("AdaptiveAveragePooling2D")
def _adaptive_average_pool(layer, context):
    """The two averaging matrix products (rows, then columns) as fixed Dense layers
    on transposed maps: FULLY_CONNECTED and TRANSPOSE, both int8 in TFLite."""
    from keras_lightnets.layers.pooling import _averaging_matrix

    _, rows, cols, _ = context.input_shapes[0]
    out_rows, out_cols = layer.output_size
    permutes = [tf_keras.layers.Permute(p, name=f"{layer.name}_{tag}")
                for p, tag in (((3, 2, 1), "to_cwh"), ((1, 3, 2), "to_chw"), ((2, 3, 1), "to_hwc"))]
    by_rows = tf_keras.layers.Dense(out_rows, use_bias=False, trainable=False, name=f"{layer.name}_rows")
    by_cols = tf_keras.layers.Dense(out_cols, use_bias=False, trainable=False, name=f"{layer.name}_cols")

    def apply(x):
        return permutes[2](by_cols(permutes[1](by_rows(permutes[0](x)))))

    return Twin(apply=apply, weights=[(by_rows, [_averaging_matrix(rows, out_rows).T]),
                                      (by_cols, [_averaging_matrix(cols, out_cols).T])])


def translate(layer, context):
    """The Twin of one Keras 3 layer."""
    translation = _TRANSLATIONS.get(type(layer).__name__)
    if translation is not None:
        return translation(layer, context)
    if getattr(tf_keras.layers, type(layer).__name__, None) is not None and type(layer).__module__.startswith("keras."):
        return _stock(layer, context)
    if isinstance(layer, keras.Model):
        raise UnsupportedLayerError(
            f"Layer {layer.name!r} is a nested model; flatten it first "
            "(e.g. keras.Model(inputs, outer(inner(inputs))) built from the inner model's layers)."
        )
    if not layer.weights and keras.saving.get_registered_object(keras.saving.get_registered_name(type(layer))) is type(layer):
        return _single(Keras3Layer(layer, name=layer.name))
    raise UnsupportedLayerError(_no_twin_message(layer))


# -------------------------------------------------------------------- the walk

_LINEAR_OPS = ("Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Dense")


@dataclasses.dataclass
class Graph:
    """The functional config of a Keras 3 model, indexed."""

    model: keras.Model
    layers: List[dict]
    inputs: List[list]
    outputs: List[list]
    consumers: Dict[str, int]

    @classmethod
    def of(cls, model):
        if isinstance(model, keras.Sequential):
            model = keras.Model(model.inputs, model.outputs, name=model.name)
        if not isinstance(model, keras.Model):
            raise ValueError(f"A Keras 3 functional (or Sequential) model is needed; received {type(model).__name__}.")
        config = model.get_config()
        if "layers" not in config or "input_layers" not in config:
            raise ValueError(
                f"{model.name!r} is a subclassed model; only functional and Sequential models have a graph to derive "
                "the tf_keras twin from."
            )
        consumers = {}
        for layer_config in config["layers"]:
            for node in layer_config["inbound_nodes"]:
                for history in _histories(node):
                    consumers[history[0]] = consumers.get(history[0], 0) + 1
        outputs = _as_list_of_refs(config["output_layers"])
        for ref in outputs:
            consumers[ref[0]] = consumers.get(ref[0], 0) + 1
        return cls(model, config["layers"], _as_list_of_refs(config["input_layers"]), outputs, consumers)

    def producers(self, layer_config):
        return [self.model.get_layer(h[0]) for node in layer_config["inbound_nodes"] for h in _histories(node)]

    def consumer_names(self, name):
        """Names of the layers that take `name`'s output, once per call ("<output>" for a model output)."""
        if not hasattr(self, "_consumer_names"):
            self._consumer_names = {}
            for c in self.layers:
                for node in c["inbound_nodes"]:
                    for h in _histories(node):
                        self._consumer_names.setdefault(h[0], []).append(c["name"])
            for ref in self.outputs:
                self._consumer_names.setdefault(ref[0], []).append("<output>")
        return self._consumer_names.get(name, [])


def _as_list_of_refs(refs):
    return [refs] if refs and isinstance(refs[0], str) else list(refs)


def _is_tensor_ref(value):
    return isinstance(value, dict) and value.get("class_name") == "__keras_tensor__"


def _histories(structure):
    if _is_tensor_ref(structure):
        return [structure["config"]["keras_history"]]
    if isinstance(structure, dict):
        return [h for v in structure.values() for h in _histories(v)]
    if isinstance(structure, (list, tuple)):
        return [h for v in structure for h in _histories(v)]
    return []


def _resolve(structure, tensors):
    if _is_tensor_ref(structure):
        return tensors[tuple(structure["config"]["keras_history"])]
    if isinstance(structure, dict):
        return {k: _resolve(v, tensors) for k, v in structure.items()}
    if isinstance(structure, (list, tuple)):
        return type(structure)(_resolve(v, tensors) for v in structure)
    return structure


def _input_shapes(layer_config):
    """Shapes of the tensors a layer's first call receives."""

    def shapes(structure):
        if _is_tensor_ref(structure):
            return [tuple(structure["config"]["shape"])]
        if isinstance(structure, (list, tuple)):
            return [s for v in structure for s in shapes(v)]
        return []

    nodes = layer_config["inbound_nodes"]
    return tuple(shapes(nodes[0]["args"])) if nodes else ((),)


def follows_linear_op(graph, layer_config):
    """Whether the layer's only input is a linear Conv2D/DepthwiseConv2D/SeparableConv2D/
    Dense that nothing else uses (a BatchNormalization there folds into it)."""
    producers = graph.producers(layer_config)
    if len(producers) != 1 or len(layer_config["inbound_nodes"]) != 1:
        return False
    producer = producers[0]
    if type(producer).__name__ not in _LINEAR_OPS or graph.consumers.get(producer.name, 0) != 1:
        return False
    return twin_activation(producer.get_config().get("activation")) == "linear"


def to_tf_keras(model, quantizable=False):
    """The tf_keras twin of a Keras 3 functional model, with its weights.

    Args:
        model: a built keras.Model (functional or Sequential) of stock Keras layers
            and weightless registered layers.
        quantizable: prepare the twin for quantization-aware training (standalone
            BatchNormalization as a frozen per-channel affine map; see the module
            docstring).
    Raises:
        UnsupportedLayerError (a ValueError) naming the first layer with no twin.
    """
    graph = Graph.of(model)
    tensors, pending = {}, []
    for layer_config in graph.layers:
        name = layer_config["config"]["name"] if "name" in layer_config.get("config", {}) else layer_config["name"]
        layer = graph.model.get_layer(name)
        if layer_config["class_name"] == "InputLayer":
            tensors[(name, 0, 0)] = tf_keras.Input(
                batch_shape=tuple(layer.batch_shape), dtype=layer.dtype, name=name)
            continue
        shapes = _input_shapes(layer_config)
        context = Context(quantizable=quantizable, follows_linear_op=follows_linear_op(graph, layer_config),
                          input_shapes=shapes)
        twin = translate(layer, context)
        for node_index, node in enumerate(layer_config["inbound_nodes"]):
            args = _resolve(node["args"], tensors)
            kwargs = {k: v for k, v in _resolve(node["kwargs"], tensors).items() if k not in ("mask",)}
            outputs = twin.apply(*args, **kwargs)
            flat = outputs if isinstance(outputs, (list, tuple)) else [outputs]
            for tensor_index, tensor in enumerate(flat):
                tensors[(name, node_index, tensor_index)] = tensor
        pending.extend(twin.weights)
    inputs = [tensors[tuple(ref)] for ref in graph.inputs]
    outputs = [tensors[tuple(ref)] for ref in graph.outputs]
    twin_model = tf_keras.Model(inputs if len(inputs) > 1 else inputs[0], outputs if len(outputs) > 1 else outputs[0],
                                name=graph.model.name)
    for layer, values in pending:
        if values is not None:
            layer.set_weights([np.asarray(v) for v in values])
    return twin_model


__all__ = ["Twin", "Context", "UnsupportedLayerError", "register_twin", "to_tf_keras", "twin_activation",
           "HardSigmoid", "LRNScale", "Keras3Layer", "QuantPoints"]
