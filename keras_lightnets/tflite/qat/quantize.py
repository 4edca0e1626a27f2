"""Quantization-aware training (QAT) for every CNN of the zoo, with
tensorflow-model-optimization (tfmot), which only takes tf_keras models.

    from keras_lightnets import tflite as kt
    qat = kt.quantize_aware(model, representative_data=train_images)  # model: Keras 3, trained in float
    qat.compile(optimizer, loss, metrics)
    qat.fit(train_images, train_labels, epochs=2)
    report = kt.convert(qat, "m.tflite", quantization="int8", input_type="uint8")
    assert report.fully_integer

How:
1. the tf_keras twin is derived from the Keras 3 model's graph, weights copied
   (keras_lightnets.tflite.qat.twin);
2. every layer gets an explicit QuantizeConfig (keras_lightnets.tflite.qat.quantize_configs)
   from its class and its place in the graph, mirroring what TFLite's int8 kernels do:
   a convolution followed by its BatchNormalization or ReLU is fused (no fake-quant
   between them), ops that TFLite requires to keep their input's scale (pooling,
   padding, reshapes, concatenation...) get none, and all tensors that a concatenation
   joins share the one range of that concatenation, each fake-quantized with it
   (TFLite's int8 CONCATENATION needs equal input and output scales: without this,
   requantize ops appear);
3. `quantize_apply` wraps the layers;
4. with `representative_data`, the fake-quant ranges start calibrated (min/max over
   the images, weights' own min/max): before any training the QAT model then computes
   what the int8 file will compute, instead of starting from tfmot's [-6, 6].

The int8 file converted from the trained QAT model needs no calibration: every
tensor's range comes from training, and the file is fully integer (no float op, no
QUANTIZE/DEQUANTIZE inside the graph), which the tests check over the whole zoo.
"""

from typing import Dict, Optional

import numpy as np

# tf_keras layer classes TFLite runs as ops whose output keeps its input's scale and
# zero point (int8 MAX_POOL_2D, AVERAGE_POOL_2D, PAD, RESHAPE, TRANSPOSE, slices,
# RESIZE_*...): no fake-quant of their own, they share their input's range.
SAME_SCALE = frozenset({
    "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D", "AveragePooling3D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
    "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Cropping1D", "Cropping2D", "Cropping3D",
    "UpSampling1D", "UpSampling2D", "Permute", "Flatten", "Reshape", "RepeatVector",
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise", "GaussianDropout",
    "AlphaDropout", "ActivityRegularization",
    # keras_lightnets' data moves (run inside the twin by Keras3Layer): reshape/transpose/slices
    "ChannelShuffle", "ChannelSplit",
})
# Activations whose int8 TFLite kernels have a fixed output range: quantized before, not after.
FIXED_RANGE_ACTIVATIONS = frozenset({"softmax", "sigmoid", "tanh"})
# Activations TFLite fuses into the op before them.
FUSABLE_ACTIVATIONS = frozenset({"relu", "relu6"})
# Ops a following ReLU/ReLU6 fuses into.
_FUSING_OPS = frozenset({"Conv2D", "DepthwiseConv2D", "Dense", "BatchNormalization", "Add", "Subtract", "Multiply"})
_MERGES_WITH_OWN_RANGE = frozenset({"Add", "Subtract", "Multiply", "Maximum", "Minimum"})
_OWN_RANGE = frozenset({
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D", "ReLU", "LeakyReLU", "ELU",
})
_WEIGHTS = {"Conv2D": ("kernel", "conv"), "DepthwiseConv2D": ("depthwise_kernel", "depthwise"), "Dense": ("kernel", "tensor")}


def quantize_aware(model, representative_data=None, *, quantize_configs=None, num_calibration_samples=200,
                   calibration_batch_size=32):
    """The Keras 3 `model` as a tf_keras model with fake-quantization, ready for `fit`.

    Args:
        model: a Keras 3 functional (or Sequential) model of stock layers and
            keras_lightnets' layers, e.g. any CNN of `kl.create_model`, usually
            trained in float first. It is not modified.
        representative_data: training images in the model's input units (array,
            tf.data.Dataset or tensorflow-datasets name, as for `convert`) to
            calibrate the starting ranges. Without it, weights still get their
            ranges, activations start at tfmot's default [-6, 6].
        quantize_configs: {layer name: tfmot QuantizeConfig} overriding the rule
            for those layers of the twin (e.g. LayerQuantizeConfig(quantize_output=True)
            for a custom layer this module has no rule for).
        num_calibration_samples: how many representative images calibrate.
        calibration_batch_size: images per calibration batch.

    Returns:
        A tf_keras.Model (layers wrapped by tfmot's QuantizeWrapperV2) with the
        model's weights; compile and fit it, then `kt.convert(qat, path,
        quantization="int8")`. Load it back with `load_quantize_aware(path)`.

    Raises:
        ValueError naming the layer, when a layer has no tf_keras twin or no
        quantization rule, and what to do about it.
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        raise ValueError(f"Quantization-aware training needs the TensorFlow backend (tfmot); this Keras runs {keras.backend.backend()!r}.")
    from keras_lightnets.tflite.qat import quantize_configs as qc
    from keras_lightnets.tflite.qat import twin as twin_module
    from keras_lightnets.tflite.inputs import representative_images

    images = None
    if representative_data is not None:
        shape = _calibration_shape(model, representative_data)
        images = representative_images(representative_data, shape, num_calibration_samples)
    twin = twin_module.to_tf_keras(model, quantizable=True)
    plan = quantization_plan(twin, quantize_configs)
    with _no_autograph():  # building wraps every layer; autograph-converting each call triples the time
        annotated = _annotate(twin, plan)
        with qc.scope():
            qat = qc.tfmot.quantization.keras.quantize_apply(annotated, scheme=qc.LightnetsQuantizeScheme())
    calibrate(qat, images, batch_size=calibration_batch_size)
    return qat


def _no_autograph():
    """Symbolic layer calls without autograph conversion (tf_keras converts every
    subclassed layer's call while building a functional model; the QAT wrappers and
    twins have no Python control flow on tensors, so the graph is the same)."""
    from tensorflow.python.autograph.core import ag_ctx

    return ag_ctx.ControlStatusCtx(status=ag_ctx.Status.DISABLED)


def _calibration_shape(model, data):
    declared = tuple(model.input_shape[1:])
    if None not in declared:
        return declared
    if isinstance(data, np.ndarray) and data.ndim == len(declared) + 1:
        return tuple(data.shape[1:])
    raise ValueError(f"{model.name!r} has open input dims {declared}: give `representative_data` as a numpy array of the training size.")


# ------------------------------------------------------------------------ plan


class _Graph:
    """Producers and consumers of each layer of a tf_keras functional model."""

    def __init__(self, model):
        config = model.get_config()
        self.model = model
        self.order = [layer["name"] for layer in config["layers"]]
        self.producers = {name: [] for name in self.order}
        self.consumers = {name: [] for name in self.order}
        for layer in config["layers"]:
            if len(layer["inbound_nodes"]) > 1:
                raise ValueError(
                    f"Layer {layer['name']!r} is called {len(layer['inbound_nodes'])} times (a shared layer); tfmot "
                    "quantizes each layer for one call. Give each call its own layer (weights can be copied)."
                )
            for node in layer["inbound_nodes"]:
                for inbound in node:
                    self.producers[layer["name"]].append(inbound[0])
                    self.consumers[inbound[0]].append(layer["name"])
        self.outputs = {ref[0] for ref in config["output_layers"]}

    def layer(self, name):
        return self.model.get_layer(name)

    def kind(self, name):
        """The layer's class name; for a Keras3Layer twin, the wrapped Keras 3 layer's."""
        from keras_lightnets.tflite.qat.twin import Keras3Layer

        layer = self.layer(name)
        return type(layer.layer if isinstance(layer, Keras3Layer) else layer).__name__

    def sole_consumer(self, name):
        consumers = self.consumers[name]
        if len(consumers) != 1 or name in self.outputs:
            return None
        return consumers[0]


def _activation_name(layer):
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", type(activation).__name__) if activation is not None else None


def _is_fused_relu(graph, name):
    if name is None:
        return False
    layer = graph.layer(name)
    kind = type(layer).__name__
    if kind == "ReLU":
        return (not layer.negative_slope and not layer.threshold
                and (layer.max_value is None or float(layer.max_value) == 6.0))
    return kind == "Activation" and _activation_name(layer) in FUSABLE_ACTIVATIONS


def _rule(graph, name):
    """The LayerQuantizeConfig of one layer, or None when it has no rule."""
    from keras_lightnets.tflite.qat import twin as twin_module
    from keras_lightnets.tflite.qat.quantize_configs import LayerQuantizeConfig

    layer, kind = graph.layer(name), graph.kind(name)
    following = graph.sole_consumer(name)
    fused = _is_fused_relu(graph, following)
    if kind in _WEIGHTS:
        attr, quantizer = _WEIGHTS[kind]
        if kind == "DepthwiseConv2D" and layer.depth_multiplier != 1:
            quantizer = "tensor"  # tfmot's choice; per-channel only for depth_multiplier 1
        activation = _activation_name(layer)
        if activation in FIXED_RANGE_ACTIVATIONS:
            return LayerQuantizeConfig([attr] if layer.trainable else [], quantizer, activation_attrs=["activation"])
        if activation not in ("linear", "relu", "relu6"):
            raise ValueError(
                f"Layer {name!r} ({kind}) applies activation {activation!r} inside: TFLite runs it as a separate op "
                "whose input needs its own range. Build the model with the activation as a separate Activation layer."
            )
        folded = activation == "linear" and following is not None and graph.kind(following) == "BatchNormalization"
        # Frozen weights (the twins' fixed affine maps) get no fake-quant: tfmot's wrapper would make them
        # trainable, and the converter quantizes constant weights per channel itself.
        weights = [attr] if layer.trainable else []
        return LayerQuantizeConfig(weights, quantizer, quantize_output=not (folded or (activation == "linear" and fused)))
    if kind == "BatchNormalization":  # the twin keeps only those that follow a conv: TFLite folds them into it
        return LayerQuantizeConfig(quantize_output=not fused)
    if kind in _MERGES_WITH_OWN_RANGE:
        return LayerQuantizeConfig(quantize_output=not (fused and kind in _FUSING_OPS))
    if kind == "Concatenate" or kind in _OWN_RANGE:
        return LayerQuantizeConfig(quantize_output=True)
    if kind == "Activation":
        activation = _activation_name(layer)
        return LayerQuantizeConfig(quantize_output=activation not in FIXED_RANGE_ACTIVATIONS | {"linear"})
    if kind in SAME_SCALE or kind == "Softmax":
        return LayerQuantizeConfig()
    if isinstance(layer, twin_module.QuantPoints):
        return LayerQuantizeConfig(point_attrs=type(layer).point_names(), quantize_output=True)
    if isinstance(layer, twin_module.Keras3Layer):  # a weightless custom layer: one op, or ops ranged by its output
        return LayerQuantizeConfig(quantize_output=True)
    return None


def quantization_plan(twin, overrides: Optional[Dict] = None):
    """{layer name: QuantizeConfig} for every layer of a tf_keras twin (see the
    module docstring for the rules); `overrides` replace the rule for their layers."""
    overrides = dict(overrides or {})
    graph = _Graph(twin)
    unknown = [name for name in overrides if name not in graph.producers]
    if unknown:
        raise ValueError(f"`quantize_configs` names layers the model does not have: {unknown}.")
    plan = {}
    for name in graph.order:
        if graph.kind(name) == "InputLayer":
            continue
        config = overrides.get(name) or _rule(graph, name)
        if config is None:
            layer = graph.layer(name)
            raise ValueError(
                f"Layer {name!r} ({type(layer).__module__}.{type(layer).__name__}) has no quantization rule. "
                f"Pass quantize_configs={{{name!r}: LayerQuantizeConfig(quantize_output=True)}} "
                "(from keras_lightnets.tflite.qat.quantize_configs) to fake-quantize its output, "
                "or replace it with stock Keras layers."
            )
        plan[name] = config
    _share_concatenation_ranges(graph, plan, set(overrides))
    return plan


def _share_concatenation_ranges(graph, plan, fixed):
    """Tensors joined by same-scale ops and concatenations form groups that TFLite
    gives one scale. In a group with the model input, the input's quantizer keeps
    the range (the others are data moves of it). In any other group with a
    concatenation, every member that quantizes its output does so with the one
    range of the group: calibration widens it to all members, and training holds
    it (quantize_configs.ActivationQuantizer). Each tensor of the group is then
    rounded and clipped in the QAT model as the int8 file rounds and clips it;
    were only one member quantized, the others would pass unclipped in QAT and be
    clipped in the file once training moves them past the calibrated range
    (benchmarks/results/qat_layerwise.md: ShuffleNet's 25-53% agreement)."""
    parent = {name: name for name in graph.order}

    def root(name):
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    for name in graph.order:
        kind = graph.kind(name)
        passes_range = kind in SAME_SCALE or kind == "Concatenate" or (
            kind == "Activation" and _activation_name(graph.layer(name)) == "linear")
        if passes_range and name not in fixed:
            for producer in graph.producers[name]:
                parent[root(producer)] = root(name)
    groups = {}
    for name in graph.order:
        groups.setdefault(root(name), []).append(name)
    for members in groups.values():
        concatenations = [m for m in members if graph.kind(m) == "Concatenate"]
        if not concatenations:
            continue
        inputs = [m for m in members if graph.kind(m) == "InputLayer"]
        group = None if inputs else concatenations[-1]
        for member in members:
            config = plan.get(member)
            if member in fixed or config is None:
                continue
            config.range_group = group
            if inputs and config.quantize_output:
                config.quantize_output = False


def _annotate(twin, plan):
    import tf_keras

    from keras_lightnets.tflite.qat import quantize_configs as qc

    annotate = qc.tfmot.quantization.keras.quantize_annotate_layer

    def clone(layer):
        fresh = layer.__class__.from_config(layer.get_config())
        if isinstance(layer, tf_keras.layers.InputLayer):
            return fresh
        return annotate(fresh, plan[layer.name])

    with qc.scope():
        annotated = tf_keras.models.clone_model(twin, clone_function=clone)
    annotated.set_weights(twin.get_weights())
    return annotated


# ----------------------------------------------------------------- calibration


def calibrate(qat_model, images=None, batch_size=32):
    """Sets the fake-quant ranges of a QAT model from `images` (min/max of every
    quantized tensor, as post-training calibration does) and the weights' own
    ranges; without images, only the weights'. Runs eagerly, in inference mode."""
    from keras_lightnets.tflite.qat import quantize_configs as qc

    if images is None:
        shape = tuple(qat_model.input_shape[1:])
        if None in shape:
            from keras_lightnets.tflite.inputs import DEFAULT_RESOLUTION

            shape = tuple(DEFAULT_RESOLUTION if d is None else d for d in shape[:-1]) + shape[-1:]
        batches, activations = [np.zeros((1, *shape), "float32")], False
    else:
        batches = [images[i:i + batch_size] for i in range(0, len(images), batch_size)]
        activations = True
    with qc.calibrating(activations=activations):
        for batch in batches:
            qat_model(np.asarray(batch, "float32"), training=False)


_QAT_LAYERS = frozenset({"QuantizeWrapper", "QuantizeWrapperV2", "QuantizeLayer"})


def is_tf_keras_model(model):
    """Whether `model` is a tf_keras (Keras 2) model, without importing tf_keras."""
    return any(cls.__module__.split(".")[0] == "tf_keras" and cls.__name__ in ("Model", "Functional", "Sequential")
               for cls in type(model).__mro__)


def is_quantize_aware(model):
    """Whether `model` is a tf_keras model with tfmot fake-quantization (e.g. from `quantize_aware`)."""
    return is_tf_keras_model(model) and any(type(layer).__name__ in _QAT_LAYERS for layer in model.layers)


def save_for_conversion(model, shape, directory):
    """Writes a SavedModel of a tf_keras model's batch-1 inference function, held by
    a plain tf.Module with the model's variables: saving the tf_keras model itself
    traces every layer's call for its Keras metadata (minutes for a QAT model)."""
    import tensorflow as tf

    module = tf.Module()
    module.model_variables = list(model.variables)
    module.serve = tf.function(lambda images: model(images, training=False), autograph=False,
                               input_signature=[tf.TensorSpec((1, *shape), tf.float32)])
    tf.saved_model.save(module, directory, signatures=module.serve.get_concrete_function())


def load_quantize_aware(path):
    """Loads a QAT model saved with `qat.save("qat.h5")` (HDF5, the format tfmot documents for QAT models)."""
    import tf_keras

    from keras_lightnets.tflite.qat import quantize_configs as qc

    with qc.scope():
        return tf_keras.models.load_model(path)


__all__ = ["quantize_aware", "quantization_plan", "calibrate", "load_quantize_aware", "is_quantize_aware"]
