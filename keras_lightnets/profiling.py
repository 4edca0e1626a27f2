"""Parameter and multiply-add (MAC) counts for Keras 3 models.

    stats = profile(model, input_shape=(224, 224, 3))
    print(stats)            # MobileNetV3Small: 2.55M params, 56.5M MACs @ 224x224x3
    print(profile(model, per_layer=True).summary())

The MAC convention is the one of the MobileNet, EfficientNet and ResNet papers:
one multiply-add is 1 (not 2 FLOPs), counted per image (the batch dim is
ignored), and only for the layers that multiply activations by weights or by
other activations:

- Conv1D/2D/3D:    out_positions * prod(kernel_size) * in_channels / groups * filters
- ConvNDTranspose: in_positions * prod(kernel_size) * in_channels * filters
- DepthwiseConvND: out_positions * prod(kernel_size) * in_channels * depth_multiplier
- SeparableConvND: its depthwise part plus its 1x1 pointwise part
- Dense:           once per position: positions * in_features * units
- EinsumDense:     output elements * size of the contracted dims
- MultiHeadAttention: the q/k/v/output projections plus QK^T and AV
- keras.ops.matmul used in a functional graph: output elements * inner dim
- any layer with a `multiply_adds(input_shapes, output_shapes)` method returning
  (MACs, other FLOPs): what it says (keras_lightnets' own layers that multiply
  activations, e.g. Swin's WindowAttention: QK^T and AV in every window)

Biases, batch norm (which the papers fold into the conv), activations, pooling
and elementwise adds/multiplies are not MACs. They are reported apart, as a
rough `other_flops`: one per element of the layer's largest input or output
(the input, for pooling). Layers the profiler does not know (recurrent layers,
TimeDistributed, custom layers, ...) count 0; a nested model used as a layer is
walked, at the shapes it was called with.

Nothing is executed: shapes come from the symbolic graph (each layer's
inbound nodes, so a layer applied twice counts twice). When the model's input
has open (None) dims, pass `input_shape` and a concrete-shape clone is profiled.
"""

import dataclasses
import math

import keras

L = keras.layers

_CONV = (L.Conv1D, L.Conv2D, L.Conv3D)
_CONV_TRANSPOSE = (L.Conv1DTranspose, L.Conv2DTranspose, L.Conv3DTranspose)
_DEPTHWISE = (L.DepthwiseConv1D, L.DepthwiseConv2D)
_SEPARABLE = (L.SeparableConv1D, L.SeparableConv2D)


def _existing_layers(*names):
    # getattr: tolerate Keras versions lacking one of them (e.g. RMSNormalization).
    return tuple(getattr(L, n) for n in names if hasattr(L, n))


# Layers worth about one op per element: reported as other_flops, never as MACs.
_ELEMENTWISE = _existing_layers(
    "Activation", "ReLU", "Softmax", "LeakyReLU", "PReLU", "ELU",
    "BatchNormalization", "LayerNormalization", "GroupNormalization",
    "UnitNormalization", "RMSNormalization", "Rescaling", "Normalization",
    "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum",
    "MaxPooling1D", "MaxPooling2D", "MaxPooling3D",
    "AveragePooling1D", "AveragePooling2D", "AveragePooling3D",
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
)
# keras.ops called on symbolic tensors become graph nodes that are not layers
# (e.g. the `x + 3.0` inside keras.applications' hard_sigmoid); these are elementwise.
_ELEMENTWISE_OPS = {
    "Add", "Subtract", "Multiply", "Divide", "TrueDivide", "Maximum", "Minimum",
    "Negative", "Square", "Sqrt", "Exp", "Power", "Relu", "Relu6", "Sigmoid",
    "HardSigmoid", "HardSwish", "HardSilu", "Silu", "Swish", "Gelu", "Tanh", "Softmax",
}


@dataclasses.dataclass
class LayerProfile:
    """One call of one layer. `output_shape` excludes the batch dim; `params`
    is given on a layer's first call only, so the column sums to the total."""

    name: str
    class_name: str
    output_shape: tuple
    params: int
    macs: int
    other_flops: int = 0


@dataclasses.dataclass
class Profile:
    params: int
    trainable_params: int
    non_trainable_params: int
    macs: int
    other_flops: int
    input_shape: tuple  # without the batch dim; a tuple of shapes for multi-input models
    layers: list = dataclasses.field(default_factory=list)  # filled when per_layer=True
    name: str = ""

    @property
    def mparams(self):
        return self.params / 1e6

    @property
    def mmacs(self):
        return self.macs / 1e6

    @property
    def gmacs(self):
        return self.macs / 1e9

    def __str__(self):
        return f"{self.name}: {_human(self.params)} params, {_human(self.macs)} MACs @ {_shape_str(self.input_shape)}"

    __repr__ = __str__

    def summary(self):
        """A per-layer table (name, type, output shape, params, MACs, % of MACs)."""
        if not self.layers:
            return f"{self}\n(no per-layer rows: call profile(model, per_layer=True))"
        header = ("Layer", "Type", "Output shape", "Params", "MACs", "% MACs")
        rows = [
            (
                lp.name,
                lp.class_name,
                _shape_str(lp.output_shape),
                f"{lp.params:,}",
                f"{lp.macs:,}",
                f"{100 * lp.macs / self.macs:.1f}" if self.macs else "-",
            )
            for lp in self.layers
        ]
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

        def line(cells):
            # Text columns left-aligned, numbers right-aligned.
            return "  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

        rule = "-" * len(line(header))
        totals = (
            f"Total: {self.params:,} params ({self.trainable_params:,} trainable, "
            f"{self.non_trainable_params:,} non-trainable), {self.macs:,} MACs, "
            f"{self.other_flops:,} other FLOPs (not MACs)"
        )
        return "\n".join([str(self), rule, line(header), rule, *map(line, rows), rule, totals])

    def to_dict(self):
        """Plain JSON-serializable data (shapes become lists)."""
        return _jsonable(dataclasses.asdict(self))


def profile(model, input_shape=None, per_layer=False) -> Profile:
    """Count the params and multiply-adds of a functional or Sequential `model`.

    Args:
        model: a built `keras.Model`; nested models used as layers are walked.
        input_shape: the input shape without the batch dim, e.g. (224, 224, 3)
            (a list of shapes for a multi-input model). Needed when the model's
            input has open (None) dims; when it differs from the model's own,
            the model is profiled at this shape instead.
        per_layer: also fill `Profile.layers` with one row per layer call.
    """
    graph_model, shapes = _at_concrete_shape(model, input_shape)
    counter = _Counter(per_layer)
    counter.walk(graph_model, owner=model, prefix="")
    params = model.count_params()
    trainable = _count_weights(model.trainable_weights)
    return Profile(
        params=params,
        trainable_params=trainable,
        non_trainable_params=params - trainable,
        macs=counter.macs,
        other_flops=counter.other_flops,
        input_shape=shapes[0] if len(shapes) == 1 else tuple(shapes),
        layers=counter.rows,
        name=model.name,
    )


class _Counter:
    """Walks a model's graph node by node, summing MACs and other FLOPs."""

    def __init__(self, per_layer):
        self.per_layer = per_layer
        self.macs = 0
        self.other_flops = 0
        self.rows = []
        self._seen = set()  # layers whose params already went into a row
        self._clones = {}  # (nested model, call shapes) -> clone at those shapes

    def walk(self, model, owner, prefix):
        """`owner` is the model `model` stands for (it may be a clone of it):
        params are attributed by (owner, layer name), so clones count once."""
        graph = _graph(model)
        in_graph = {id(n) for nodes in graph._nodes_by_depth.values() for n in nodes}
        for op in graph.operations:
            if isinstance(op, L.InputLayer):
                continue
            # A layer also keeps nodes from graphs other than this one (e.g. an
            # earlier Sequential build), so keep only this graph's calls.
            nodes = [n for n in op._inbound_nodes if id(n) in in_graph]
            for call, node in enumerate(nodes):
                name = op.name if call == 0 else f"{op.name} (call {call + 1})"
                # A subclassed model has no graph to walk: it counts 0 MACs, like any unknown layer.
                if isinstance(op, keras.Model) and _has_graph(op):
                    self._walk_nested(op, node, prefix + name + "/")
                    continue
                macs, other = _count_node(op, node)
                self.macs += macs
                self.other_flops += other
                if self.per_layer:
                    key = (id(owner), op.name)
                    params = op.count_params() if isinstance(op, L.Layer) and key not in self._seen else 0
                    self._seen.add(key)
                    out_shape = _no_batch(node.outputs[0].shape) if node.outputs else ()
                    self.rows.append(LayerProfile(prefix + name, type(op).__name__, out_shape, params, macs, other))

    def _walk_nested(self, model, node, prefix):
        call_shapes = tuple(_no_batch(t.shape) for t in node.input_tensors)
        own_shapes = tuple(_no_batch(t.shape) for t in _graph(model).inputs)
        if call_shapes == own_shapes:
            self.walk(model, owner=model, prefix=prefix)
            return
        # Called at other shapes than it was built with (e.g. built with None
        # dims): walk a copy rebuilt at the call's shapes.
        key = (id(model), call_shapes)
        if key not in self._clones:
            self._clones[key] = _clone_at(model, call_shapes)
        self.walk(self._clones[key], owner=model, prefix=prefix)


def _count_node(layer, node):
    """(MACs, other FLOPs) of one call of a non-model layer or op."""
    inputs = [t.shape for t in node.input_tensors]
    outputs = [t.shape for t in node.outputs]
    if not inputs or not outputs:
        return 0, 0
    x, y = inputs[0], outputs[0]

    if isinstance(layer, _CONV):
        cin = _channels(layer, x)
        macs = _size(_spatial(layer, y)) * math.prod(layer.kernel_size) * (cin // layer.groups) * layer.filters
    elif isinstance(layer, _CONV_TRANSPOSE):
        # Each input position scatters a full kernel into the output.
        macs = _size(_spatial(layer, x)) * math.prod(layer.kernel_size) * _channels(layer, x) * layer.filters
    elif isinstance(layer, _DEPTHWISE):
        macs = _size(_spatial(layer, y)) * math.prod(layer.kernel_size) * _channels(layer, x) * layer.depth_multiplier
    elif isinstance(layer, _SEPARABLE):
        positions = _size(_spatial(layer, y))
        mid = _channels(layer, x) * layer.depth_multiplier
        macs = positions * math.prod(layer.kernel_size) * mid + positions * mid * layer.filters
    elif isinstance(layer, L.Dense):
        macs = _size(y[1:]) * x[-1]  # = positions * in_features * units
    elif isinstance(layer, L.EinsumDense):
        macs = _einsum_macs(layer, x)
    elif isinstance(layer, L.MultiHeadAttention):
        return _attention_counts(layer, node)
    elif isinstance(layer, L.Layer) and callable(getattr(layer, "multiply_adds", None)):
        return layer.multiply_adds(inputs, outputs)  # a layer of ours that counts itself
    elif not isinstance(layer, L.Layer) and type(layer).__name__ == "Matmul":
        macs = _size(y[1:]) * x[-1]  # keras.ops.matmul in a functional graph
    else:
        # Elementwise: one op per element of the largest tensor (the input, for pooling).
        elementwise = isinstance(layer, _ELEMENTWISE) or (
            not isinstance(layer, L.Layer) and type(layer).__name__ in _ELEMENTWISE_OPS
        )
        if not elementwise:
            return 0, 0  # unknown layer, or a pure data move (reshape, pad, concat, ...)
        return 0, max(_size(s[1:]) for s in inputs + outputs)

    # A MAC layer's bias add and fused activation are one op per output element each.
    other = 0
    if getattr(layer, "bias", None) is not None:
        other += _size(y[1:])
    if getattr(layer, "activation", None) not in (None, keras.activations.linear):
        other += _size(y[1:])
    return macs, other


def _attention_counts(layer, node):
    """MultiHeadAttention: q/k/v projections, QK^T, AV and the output projection."""
    args, kwargs = node.arguments.args, node.arguments.kwargs

    def arg(index, name):
        return args[index] if len(args) > index else kwargs.get(name)

    query, value = arg(0, "query").shape, arg(1, "value").shape
    key = arg(2, "key")
    key = key.shape if key is not None else value
    out = node.outputs[0].shape

    heads, key_dim, value_dim = layer.num_heads, layer.key_dim, layer.value_dim
    q_positions, kv_positions = _size(query[1:-1]), _size(value[1:-1])
    # Attention runs over `attention_axes` only; the other inner axes act as batch.
    attended = _size([value[a] for a in layer.attention_axes])
    scores = heads * q_positions * attended

    macs = (
        q_positions * query[-1] * heads * key_dim  # query projection
        + kv_positions * key[-1] * heads * key_dim  # key projection
        + kv_positions * value[-1] * heads * value_dim  # value projection
        + scores * key_dim  # QK^T
        + scores * value_dim  # attention weights @ V
        + _size(out[1:]) * heads * value_dim  # output projection
    )
    return macs, scores  # softmax: one op per score


def _einsum_macs(layer, x):
    """Output elements times the contracted dims, i.e. the product of the
    dims of every output or kernel letter. Read from the equation, as Keras's
    symbolic output keeps None wherever `output_shape` said None."""
    inputs, output = layer.equation.split("->")
    x_spec, kernel_spec = inputs.split(",")
    dims = dict(zip(kernel_spec, layer.kernel.shape))
    letters = set(output.replace("...", "")) | set(kernel_spec)
    if "..." in x_spec:
        head, tail = x_spec.split("...")
        dims |= dict(zip(head, x)) | dict(zip(tail, x[len(x) - len(tail):]))
        broadcast = list(x[len(head):len(x) - len(tail)])
    else:
        dims |= dict(zip(x_spec, x))
        head, broadcast = x_spec, []
    # Leave out the batch dim: input axis 0, a letter or the ellipsis' first dim.
    if head:
        letters.discard(head[0])
    else:
        broadcast = broadcast[1:]
    return _size([dims[c] for c in letters] + broadcast)


def _at_concrete_shape(model, input_shape):
    """The model (or a clone of it) whose graph has fully known input shapes."""
    if not _has_graph(model):
        raise ValueError(
            f"profile() needs a functional or Sequential model with known inputs; "
            f"{model.name!r} ({type(model).__name__}) has no symbolic graph. Build it "
            "functionally, or give a Sequential model a keras.Input first."
        )
    own = [_no_batch(t.shape) for t in _graph(model).inputs]
    if input_shape is None:
        if any(None in s for s in own):
            example = tuple(224 if d is None else d for d in own[0])
            raise ValueError(
                f"Model {model.name!r} has open input dims {own[0] if len(own) == 1 else own}, "
                f"so MACs are undefined; pass input_shape without the batch dim, e.g. "
                f"profile(model, input_shape={example})."
            )
        return model, own

    # A single shape is a flat sequence of ints; a multi-input model takes a list of them.
    flat = not any(isinstance(d, (tuple, list)) for d in input_shape)
    wanted = [tuple(int(d) for d in s) for s in ([input_shape] if flat else input_shape)]
    if len(wanted) != len(own) or any(len(w) != len(o) for w, o in zip(wanted, own)):
        raise ValueError(
            f"input_shape={input_shape} does not match model {model.name!r}, whose inputs "
            f"are {own} (input_shape excludes the batch dim, e.g. (224, 224, 3))."
        )
    if wanted == own:
        return model, own
    return _clone_at(model, wanted), wanted


def _clone_at(model, shapes):
    """A copy of the model rebuilt on inputs of the given (batchless) shapes."""
    graph = _graph(model)  # not model.input: a Sequential may never have been called
    new_inputs = [keras.Input(shape=s, dtype=t.dtype) for s, t in zip(shapes, graph.inputs)]
    return keras.models.clone_model(model, input_tensors=keras.tree.pack_sequence_as(graph.input, new_inputs))


def _has_graph(model):
    return hasattr(_graph(model), "_nodes_by_depth")


def _graph(model):
    # A Sequential model keeps its graph in an inner functional model.
    return getattr(model, "_functional", None) or model


def _count_weights(weights):
    unique = {id(w): w for w in weights}.values()
    return int(sum(math.prod(w.shape) for w in unique))


def _channels(layer, shape):
    return shape[1] if layer.data_format == "channels_first" else shape[-1]


def _spatial(layer, shape):
    return shape[2:] if layer.data_format == "channels_first" else shape[1:-1]


def _size(dims):
    if any(d is None for d in dims):
        raise ValueError(f"Cannot count with an open (None) dim in {tuple(dims)}; pass input_shape to profile().")
    return int(math.prod(dims))


def _no_batch(shape):
    return tuple(shape[1:])


def _human(n):
    # 3 significant digits; round first so 999.7M reads 1G, not 1e+03M.
    n = float(f"{n:.3g}")
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g}{unit}"
    return f"{n:.0f}"


def _shape_str(shape):
    if shape and isinstance(shape[0], (tuple, list)):
        return ", ".join(_shape_str(s) for s in shape)
    return "x".join("?" if d is None else str(d) for d in shape)


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
