"""Keras LayerNormalization in integer .tflite files: its two ops TFLite cannot quantize.

Keras computes LayerNormalization (every ViT and Swin block has two) as

    mean, variance = moments(x);  inv = rsqrt(variance + eps) * gamma
    y = x * inv + (-mean * inv + beta)

and the TFLite converter lowers the moments to MEAN, SQUARED_DIFFERENCE, MEAN. Two of
those ops break an integer file:

- NEG (the -mean) has no quantized form in TFLite's quantizer, in int8 or int16x8: the
  converter keeps it in float between a DEQUANTIZE and a QUANTIZE, so the strict
  fully-integer check rejects the file (and the op runs outside XNNPACK). Here each
  DEQUANTIZE -> NEG -> QUANTIZE becomes one MUL by the constant -1 in the integer type,
  which gives the same integers: the product -x is exact before the one rounding
  into the QUANTIZE's scale.
- In int16x8 files, the converter writes an int16 SQUARED_DIFFERENCE, for which LiteRT
  has no kernel (the interpreter fails to prepare the file). Here each becomes
  d = SUB(x, mean) and MUL(d, d), both int16 kernels. d gets the scale that makes d * d
  span the calibrated output range (sqrt of the output's largest value over 32767
  steps), so d saturates exactly where the original output would; its rounding to
  that step is the one rounding added.

Both rewrites apply to any graph with those patterns, not only LayerNormalization's.
"""

import math

import numpy as np

from keras_lightnets.tflite.passes.graph_edit import add_constant
from keras_lightnets.tflite.passes.graph_edit import INT16_MAX
from keras_lightnets.tflite.passes.graph_edit import add_tensor
from keras_lightnets.tflite.passes.graph_edit import elementwise
from keras_lightnets.tflite.passes.graph_edit import float_islands
from keras_lightnets.tflite.passes.graph_edit import has_ops
from keras_lightnets.tflite.passes.graph_edit import op_name
from keras_lightnets.tflite.passes.graph_edit import pack
from keras_lightnets.tflite.passes.graph_edit import replace_islands
from keras_lightnets.tflite.passes.graph_edit import tensor_name



def integerize_layer_norm(content):
    """Returns (content with both rewrites, {"NEG": n, "SQUARED_DIFFERENCE": m} rewritten)."""
    from ai_edge_litert import schema_py_generated as schema

    counts = {"NEG": 0, "SQUARED_DIFFERENCE": 0}
    if not has_ops(bytes(content), schema, counts):
        return bytes(content), counts
    model = schema.ModelT.InitFromPackedBuf(bytes(content), 0)
    for graph in model.subgraphs or []:
        counts["NEG"] += _quantize_negations(model, graph, schema)
        counts["SQUARED_DIFFERENCE"] += _split_int16_squared_differences(model, graph, schema)
    if not any(counts.values()):
        return bytes(content), counts
    return pack(model), counts


def _quantize_negations(model, graph, schema):
    """DEQUANTIZE(a) -> NEG -> QUANTIZE(b), a and b of one integer type, to MUL(a, -1) -> b."""
    islands = float_islands(model, graph, schema, "NEG")
    replacements = []
    for island in islands:
        a, b = island[0].inputs[0], island[2][0].outputs[0]
        kind = graph.tensors[a].type
        dtype = np.int8 if kind == schema.TensorType.INT8 else np.int16
        minus_one = add_constant(model, graph, schema, f"{tensor_name(graph.tensors[b])}/minus_one",
                                 np.array([-1], dtype), kind, scale=1.0, zero_point=0)
        replacements.append((island, [elementwise(model, schema, "MUL", [a, minus_one], [b])]))
    replace_islands(graph, replacements)
    return len(islands)


def _split_int16_squared_differences(model, graph, schema):
    """int16 SQUARED_DIFFERENCE(x, y) -> z to d = SUB(x, y), z = MUL(d, d)."""
    operators, count = [], 0
    for op in graph.operators or []:
        tensors = [graph.tensors[i] for i in (*op.inputs, *op.outputs)]
        if op_name(model, op, schema) != "SQUARED_DIFFERENCE" \
                or any(t.type != schema.TensorType.INT16 or not _symmetric_per_tensor(t) for t in tensors):
            operators.append(op)
            continue
        z = graph.tensors[op.outputs[0]]
        largest_square = float(z.quantization.scale[0]) * INT16_MAX
        d = add_tensor(graph, schema, f"{tensor_name(z)}/difference", z.shape, schema.TensorType.INT16,
                       scale=math.sqrt(largest_square) / INT16_MAX, zero_point=0)
        operators += [elementwise(model, schema, "SUB", op.inputs, [d]), elementwise(model, schema, "MUL", [d, d], op.outputs)]
        count += 1
    graph.operators = operators
    return count


def _symmetric_per_tensor(tensor):
    q = tensor.quantization
    return q is not None and q.scale is not None and len(q.scale) == 1 and int(q.zeroPoint[0]) == 0
