"""A chain of per-channel elementwise ops as one 1x1 DEPTHWISE_CONV_2D.

Input normalization (keras.applications' EfficientNet: Rescaling(1/255) then a
Normalization layer holding ImageNet's mean and variance) converts into three
elementwise ops on the full-resolution image, MUL(x, 1/255) -> SUB(., mean) ->
MUL(., 1/std), two of them broadcasting a 3-value constant. XNNPACK runs such
broadcasts slowly: on EfficientNet-B0's 224x224x3 input the three ops take 0.52 ms in
int8 and 0.32 ms in float32 (each timed alone), a 1x1 depthwise convolution computing
the same a * x + b per channel 0.26 ms and 0.24 ms; the whole file runs 1.14x faster
in int8 and 1.05x in float32.

The same ops come from a BatchNormalization the converter cannot fold into a
convolution (DenseNet's and pre-activation ResNet's BN -> ReLU after a concatenation
or an addition): MUL(x, gamma / std) -> ADD(., beta - mean * gamma / std) with the ReLU
fused into the ADD. As one depthwise op each, DenseNet-121 at 224 px runs 1.23x faster
in int8 and 1.03x in float32, ResNet-50 v2 1.08x and 1.03x; timed alone, their
depthwise ops run 1.8-2.9x faster than the chains they replace.

All figures: benchmarks/channel_affine_speed.py, results in
benchmarks/results/channel_affine_speed.md (the same file with and without this pass,
side by side in one run, 1 thread, on a shared x86 host: medians of per-round ratios,
quartiles there).

So every chain of two or more MUL / ADD / SUB / DIV ops whose other operand is a
constant holding one value or one per channel, with at least one per-channel
constant, the last op's fused activation (if any) one a convolution takes, becomes
one DEPTHWISE_CONV_2D (1x1, stride 1, multiplier 1) with weights a and bias b:

- float32: a and b in float32; the result differs from the chain by float rounding.
- int8: weights quantized per channel at +-127 exactly (scale |a| / 127), the bias in
  int32 at the input scale times the weight scale, the output keeping the chain's
  last quantization. One rounding instead of one per op, so the result is the chain's
  or closer to a * x + b.

Chains whose intermediate tensors feed anything else, or are outputs of the graph,
are left alone; so are other tensor types (float16 and int16x8 files).
"""

import numpy as np

from keras_lightnets.tflite.passes.graph_edit import add_constant
from keras_lightnets.tflite.passes.graph_edit import op_name
from keras_lightnets.tflite.passes.graph_edit import opcode
from keras_lightnets.tflite.passes.graph_edit import pack
from keras_lightnets.tflite.passes.graph_edit import tensor_name

_CHAIN_OPS = ("MUL", "ADD", "SUB", "DIV")
_INT32_MAX = 2**31 - 1


def fuse_channel_affine_chains(content):
    """Returns (content with every such chain fused, how many chains there were)."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytes(content), 0)
    count = 0
    for graph in model.subgraphs or []:
        for chain, x_index, (a, b) in _chains(model, graph, schema):
            count += _replace(model, graph, schema, chain, x_index, a, b)
    if not count:
        return bytes(content), 0
    return pack(model), count


def _chains(model, graph, schema):
    """(ops of a chain, its per-channel (a, b)) for every fusable chain, in graph order."""
    consumers = {}
    for op in graph.operators or []:
        for i in op.inputs:
            consumers.setdefault(i, []).append(op)
    outputs = set(graph.outputs)
    step_of = {id(op): _step(model, graph, schema, op) for op in graph.operators or []}  # decoded once
    taken, found = set(), []
    for op in graph.operators or []:
        if id(op) in taken or step_of[id(op)] is None:
            continue
        chain = [op]
        while _activation(chain[-1]) == schema.ActivationFunctionType.NONE:  # an activation ends a chain
            out = chain[-1].outputs[0]
            following = consumers.get(out, [])
            if out in outputs or len(following) != 1 or step_of[id(following[0])] is None \
                    or step_of[id(following[0])][0] != out:
                break
            chain.append(following[0])
        steps = [step_of[id(o)] for o in chain]
        if len(chain) < 2 or all(np.size(constant) == 1 for _, constant, _, _ in steps):
            continue
        channels = int(graph.tensors[steps[0][0]].shape[-1])
        if any(np.size(constant) not in (1, channels) for _, constant, _, _ in steps):
            continue
        affine = _affine(steps, channels)
        if affine is None or not _same_kind(graph, schema, chain, steps):
            continue
        taken.update(id(o) for o in chain)
        found.append((chain, steps[0][0], affine))
    return found


def _step(model, graph, schema, op):
    """(variable input, constant values, op name, constant first?) if op is a chain step."""
    name = op_name(model, op, schema)
    if name not in _CHAIN_OPS or len(op.inputs) != 2 or op.builtinOptions is None \
            or _activation(op) not in _depthwise_activations(schema):
        return None
    values = [_constant_values(model, graph.tensors[i]) for i in op.inputs]
    values = [v if v is None or _per_channel_shape(graph.tensors[i]) else False for v, i in zip(values, op.inputs)]
    if any(v is False for v in values):
        return None  # a constant varying along a spatial axis
    if (values[0] is None) == (values[1] is None):
        return None  # two variables, or two constants
    variable_first = values[1] is not None
    variable = graph.tensors[op.inputs[0 if variable_first else 1]]
    constant = values[1 if variable_first else 0]
    output = graph.tensors[op.outputs[0]]
    if variable.shape is None or len(variable.shape) != 4 or list(output.shape) != list(variable.shape):
        return None
    return op.inputs[0 if variable_first else 1], constant.reshape(-1), name, not variable_first


def _per_channel_shape(tensor):
    shape = [] if tensor.shape is None else list(tensor.shape)
    return all(d == 1 for d in shape[:-1])


def _activation(op):
    return getattr(op.builtinOptions, "fusedActivationFunction", 0)


def _depthwise_activations(schema):  # the fused activations a depthwise convolution takes too
    kinds = schema.ActivationFunctionType
    return (kinds.NONE, kinds.RELU, kinds.RELU_N1_TO_1, kinds.RELU6)


def _constant_values(model, tensor):
    """A constant's real values (float32), or None for a variable tensor."""
    data = model.buffers[tensor.buffer].data if tensor.buffer else None
    if data is None or not len(data):
        return None
    dtypes = {0: np.float32, 9: np.int8}  # TensorType FLOAT32, INT8
    if tensor.type not in dtypes:
        return None
    values = np.frombuffer(bytes(np.asarray(data, np.uint8)), dtypes[tensor.type]).astype(np.float64)
    if tensor.type == 9:
        q = tensor.quantization
        if q is None or q.scale is None or len(q.scale) != 1:
            return None
        values = (values - int(q.zeroPoint[0])) * float(q.scale[0])
    return values


def _same_kind(graph, schema, chain, steps):
    """Every variable tensor of the chain float32, or every one int8 with one scale."""
    tensors = [graph.tensors[steps[0][0]]] + [graph.tensors[op.outputs[0]] for op in chain]
    types = {t.type for t in tensors}
    if types == {schema.TensorType.FLOAT32}:
        return True
    if types != {schema.TensorType.INT8}:
        return False
    return all(t.quantization is not None and t.quantization.scale is not None and len(t.quantization.scale) == 1
               for t in tensors)


def _affine(steps, channels):
    """The chain as y = a * x + b, per channel."""
    a, b = np.ones(channels), np.zeros(channels)
    for _, constant, name, constant_first in steps:
        k = np.broadcast_to(constant, (channels,))
        if name == "MUL":
            a, b = a * k, b * k
        elif name == "ADD":
            b = b + k
        elif name == "SUB":
            a, b = (-a, k - b) if constant_first else (a, b - k)
        elif constant_first:  # k / x is not affine
            return None
        else:
            a, b = a / k, b / k
    return a, b


def _replace(model, graph, schema, chain, x_index, a, b):
    last = chain[-1]
    x, y = graph.tensors[x_index], graph.tensors[last.outputs[0]]
    name = tensor_name(y) + "/channel_affine"
    channels = len(a)
    if x.type == schema.TensorType.FLOAT32:
        weights = add_constant(model, graph, schema, name + "_weights", a.astype(np.float32).reshape(1, 1, 1, channels),
                            schema.TensorType.FLOAT32)
        bias = add_constant(model, graph, schema, name + "_bias", b.astype(np.float32), schema.TensorType.FLOAT32)
    else:
        x_scale = float(x.quantization.scale[0])
        weight_scale = np.where(a == 0, 1.0, np.abs(a) / 127.0)
        quantized_bias = np.round(b / (x_scale * weight_scale))
        if np.abs(quantized_bias).max() > _INT32_MAX:
            return False
        weights = add_constant(model, graph, schema, name + "_weights",
                            (np.sign(a) * 127).astype(np.int8).reshape(1, 1, 1, channels), schema.TensorType.INT8,
                            scale=weight_scale, zero_point=np.zeros(channels, np.int64), axis=3)
        bias = add_constant(model, graph, schema, name + "_bias", quantized_bias.astype(np.int32), schema.TensorType.INT32,
                         scale=x_scale * weight_scale, zero_point=np.zeros(channels, np.int64), axis=0)
    op = schema.OperatorT()
    # version 3: int8 with per-channel weights
    op.opcodeIndex = opcode(model, schema, "DEPTHWISE_CONV_2D", 1 if x.type == schema.TensorType.FLOAT32 else 3)
    op.inputs, op.outputs = [x_index, weights, bias], [last.outputs[0]]
    op.builtinOptionsType = schema.BuiltinOptions.DepthwiseConv2DOptions
    options = schema.DepthwiseConv2DOptionsT()
    options.padding, options.strideW, options.strideH = schema.Padding.VALID, 1, 1
    options.depthMultiplier, options.dilationWFactor, options.dilationHFactor = 1, 1, 1
    options.fusedActivationFunction = _activation(last)  # BatchNorm + ReLU: the ReLU fused into the last op
    op.builtinOptions = options
    # the fused op takes the last op's place: x exists before it, y's readers come after
    ops = graph.operators
    ops[ops.index(last)] = op
    graph.operators = [o for o in ops if not any(o is c for c in chain[:-1])]
    return True
