"""Small helpers shared by the passes that edit a converted .tflite graph
(hard_swish.py, channel_affine.py, layer_norm.py): what an operator is, new tensors,
constants and elementwise operators, and the float islands the converter leaves."""

import functools

import numpy as np

INT16_MAX = 32767  # the largest int16: int16 tensors are symmetric, zero point 0


def op_name(model, op, schema):
    """The builtin name of an operator ("CONV_2D", ...), or "CUSTOM"."""
    code = model.operatorCodes[op.opcodeIndex]
    builtin = max(code.builtinCode, code.deprecatedBuiltinCode)  # ops past 127 keep only builtinCode
    return _builtin_names(schema).get(builtin, "CUSTOM")


@functools.lru_cache(maxsize=None)
def _builtin_names(schema):
    return {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}


def has_ops(content, schema, names):
    """Whether the .tflite bytes use any of the builtin ops `names`: read from the operator
    codes alone, without unpacking the model (which takes seconds for a large one)."""
    model = schema.Model.GetRootAs(content, 0)
    wanted = {getattr(schema.BuiltinOperator, name) for name in names}
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        if max(code.BuiltinCode(), code.DeprecatedBuiltinCode()) in wanted:
            return True
    return False


def pack(model):
    """The .tflite bytes of an edited ModelT."""
    import flatbuffers

    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def opcode(model, schema, name, version):
    """The index of the model's operator code for builtin `name`, added if missing; its
    version raised to at least `version` (the kernels a new operator needs)."""
    builtin = getattr(schema.BuiltinOperator, name)
    for index, code in enumerate(model.operatorCodes or []):
        if max(code.builtinCode, code.deprecatedBuiltinCode) == builtin:
            code.version = max(code.version, version)
            return index
    code = schema.OperatorCodeT()
    code.builtinCode, code.deprecatedBuiltinCode, code.version = builtin, min(builtin, 127), version
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1


def tensor_name(tensor):
    return tensor.name.decode() if isinstance(tensor.name, bytes) else tensor.name


def add_tensor(graph, schema, name, shape, kind, scale=None, zero_point=None, axis=0, buffer=0):
    """A new tensor of type `kind` (schema.TensorType), quantized when `scale` is given
    (one value per tensor, or one per channel along `axis`); returns its index."""
    tensor = schema.TensorT()
    tensor.name, tensor.type, tensor.buffer = name, kind, buffer
    tensor.shape = np.array(shape if shape is not None else [], np.int32)
    if scale is not None:
        scale, zero_point = np.atleast_1d(scale), np.atleast_1d(zero_point if zero_point is not None else 0)
        tensor.quantization = schema.QuantizationParametersT()
        tensor.quantization.scale = [float(s) for s in scale]
        tensor.quantization.zeroPoint = [int(z) for z in np.broadcast_to(zero_point, scale.shape)]
        tensor.quantization.quantizedDimension = axis
    graph.tensors.append(tensor)
    return len(graph.tensors) - 1


def add_constant(model, graph, schema, name, values, kind, scale=None, zero_point=None, axis=0):
    """A new constant tensor holding the numpy array `values` (already of `kind`'s dtype)."""
    buffer = schema.BufferT()
    buffer.data = np.ascontiguousarray(values).view(np.uint8).reshape(-1)
    model.buffers.append(buffer)
    return add_tensor(graph, schema, name, values.shape, kind, scale, zero_point, axis, buffer=len(model.buffers) - 1)


def elementwise(model, schema, name, inputs, outputs, activation=None, version=2):
    """A new ADD, SUB or MUL operator (version 2: the int8 kernels)."""
    op = schema.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = opcode(model, schema, name, version), list(inputs), list(outputs)
    op.builtinOptionsType = getattr(schema.BuiltinOptions, f"{name.title()}Options")
    op.builtinOptions = getattr(schema, f"{name.title()}OptionsT")()
    op.builtinOptions.fusedActivationFunction = schema.ActivationFunctionType.NONE if activation is None else activation
    if name in ("ADD", "SUB"):
        op.builtinOptions.potScaleInt16 = False  # int16 operands at any scale, not only powers of two
    return op


def float_islands(model, graph, schema, name):
    """The ops `name` that the converter left in float inside an integer graph:
    (DEQUANTIZE, op, [QUANTIZE, ...]) where the op reads integer tensor a through the
    DEQUANTIZE and only QUANTIZEs to a's type, all with one scale, read its output (one
    per reader the converter saw; the float tensors between them read by nothing else)."""
    producer = {out: op for op in graph.operators for out in op.outputs}
    readers = {}
    for op in graph.operators:
        for index in op.inputs:
            readers.setdefault(index, []).append(op)
    integer = (schema.TensorType.INT8, schema.TensorType.INT16)
    islands = []
    for op in graph.operators:
        if op_name(model, op, schema) != name or len(op.inputs) != 1:
            continue
        before, after = producer.get(op.inputs[0]), readers.get(op.outputs[0], [])
        if before is None or op_name(model, before, schema) != "DEQUANTIZE" or len(readers[op.inputs[0]]) != 1 \
                or not after or {*op.inputs, *op.outputs, *(q.outputs[0] for q in after[1:])} & set(graph.outputs):
            continue
        kind = graph.tensors[before.inputs[0]].type
        if kind in integer and all(op_name(model, q, schema) == "QUANTIZE" and graph.tensors[q.outputs[0]].type == kind
                                   and _same_quantization(graph.tensors[q.outputs[0]], graph.tensors[after[0].outputs[0]])
                                   for q in after):
            islands.append((before, op, after))
    return islands


def replace_islands(graph, islands_to_ops):
    """Each (DEQUANTIZE, op, QUANTIZEs) island replaced by its integer ops, which write
    the first QUANTIZE's output b at that QUANTIZE's place; the other QUANTIZEs' readers
    (same quantization) read b."""
    removed, at = set(), {}
    for (dequantize, op, quantizes), ops in islands_to_ops:
        removed |= {id(dequantize), id(op), *(id(q) for q in quantizes[1:])}
        at[id(quantizes[0])] = ops
        b, duplicates = quantizes[0].outputs[0], {q.outputs[0] for q in quantizes[1:]}
        for reader in graph.operators:
            reader.inputs = [b if i in duplicates else i for i in reader.inputs]
    graph.operators = [new for op in graph.operators if id(op) not in removed for new in at.get(id(op), [op])]


def _same_quantization(x, y):
    return list(x.quantization.scale) == list(y.quantization.scale) \
        and list(x.quantization.zeroPoint) == list(y.quantization.zeroPoint)
