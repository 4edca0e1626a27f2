"""int8 HARD_SWISH as three integer ops that XNNPACK runs.

The TFLite converter fuses x * relu6(x + 3) / 6 (every MobileNetV3, keras.applications'
included) into one HARD_SWISH op. In float, XNNPACK runs it; in int8 it does not (its
TFLite delegate takes HARD_SWISH in float only), so each int8 HARD_SWISH runs on
TFLite's own integer kernel and cuts the XNNPACK graph in two: in keras.applications'
int8 MobileNetV3-Large the 21 of them split it into 23 partitions and take 7.42 ms of
the 12.45 ms its ops sum to, more than all its convolutions (4.55 ms), so the int8 file
runs at 0.56x the speed of the float32 one, and -Small's at 0.39x, on an x86 host
(1 thread; benchmarks/results/int8_speed.md).

Here each int8 HARD_SWISH(x) -> y whose input XNNPACK's int8 ADD can take (below)
becomes

    t = ADD(x, 3) with fused RELU6     t in [0, 6], int8 scale 6/255 (or x's / 128)
    u = MUL(x, t)                      u = 6 y, quantized as y with scale x 6
    y = MUL(u, 1/6)                    y's own quantization, unchanged

which XNNPACK delegates (int8 ADD and MUL, constant operands included), so the
whole network stays one XNNPACK partition: what `convert` writes runs 2.2x (Large)
and 2.4x (Small) faster than the fused file (benchmarks/results/hard_swish_rewrite.md).
XNNPACK takes an int8 ADD only while input scale / output scale is in [2**-10, 2**8)
(here with a factor 2 of margin): t's scale grows with x's when x spans more than
+-384 (x's own step is then coarser than t's anyway), and an op whose x's int8 range
(max - min) is narrower than 6 * 2**-9, about 0.012, is left fused, as t
could not hold [0, 6] at a scale XNNPACK accepts. It then runs on TFLite's own
kernel, and the conversion report's op counts show it as HARD_SWISH. Such ranges
come from networks whose activations were never given a trained network's
statistics: a random MobileNetV3 with its initial BatchNorm statistics keeps 20 of
Large's 21 HARD_SWISH ops fused and 18 of Small's 19; with the statistics
re-estimated on photos, every one is rewritten (hard_swish_rewrite.md). The
arithmetic is the fused kernel's up to the rounding of t to 1/255 of its range.

The last MUL leaves u's integers as they are (u's scale is y's times 6, its zero
point y's), so it is dropped where the consumers can read u, whose value is 6y: where
every path from y reaches convolution or fully connected weights, which absorb the 6
in their scales, through ops linear in y (MEAN, and the squeeze-excite MUL, whose
outputs then carry the 6 too). That is one elementwise op fewer per h-swish, with the
same integers throughout; its time is within the noise of a shared x86 host
(hard_swish_rewrite.md: 0.99x for MobileNetV3-Large, 1.00x for -Small, unfolded time
over folded).

In int16x8 files TFLite's quantizer has no HARD_SWISH at all: the converter keeps each
in float between a DEQUANTIZE and a QUANTIZE, so the file is not fully integer.
`decompose_int16_hard_swish` replaces each such island with the same three ops in
int16 (t at scale 6/32767: [0, 6] over the positive int16 range, zero points 0 as
int16 demands), so an int16x8 MobileNetV3 runs in integers end to end.
"""

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

_T_SCALE, _T_ZERO_POINT = 6.0 / 255.0, -128  # [0, 6] over the full int8 range
# XNNPACK's int8 ADD needs input/output scale in [2**-10, 2**8); keep a factor 2 margin.
_MIN_ADD_SCALE_RATIO, _MAX_ADD_SCALE_RATIO = 2.0 ** -9, 2.0 ** 7


def decompose_int8_hard_swish(content, fold_sixth=True):
    """Returns (content with every int8 HARD_SWISH decomposed, how many there were).
    fold_sixth=False keeps every final MUL(u, 1/6) (see the module's docstring)."""
    from ai_edge_litert import schema_py_generated as schema

    if not has_ops(bytes(content), schema, ["HARD_SWISH"]):
        return bytes(content), 0
    model = schema.ModelT.InitFromPackedBuf(bytes(content), 0)
    count = 0
    for graph in model.subgraphs or []:
        operators, final_scales = [], []
        for op in graph.operators or []:
            x, y = (graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]) if op_name(model, op, schema) == "HARD_SWISH" \
                else (None, None)
            if x is None or x.type != schema.TensorType.INT8 or y.type != schema.TensorType.INT8 or not _delegable(x):
                operators.append(op)
                continue
            operators.extend(_decomposed(model, graph, schema, op.inputs[0], op.outputs[0], schema.TensorType.INT8))
            final_scales.append(operators[-1])
            count += 1
        graph.operators = operators
        for scale_op in final_scales if fold_sixth else ():
            _fold_into_consumers(model, graph, scale_op, schema)
    if not count:
        return bytes(content), 0
    return pack(model), count


def _t_scale(x):
    return max(_T_SCALE, float(x.quantization.scale[0]) / _MAX_ADD_SCALE_RATIO)


def _delegable(x):
    scales = x.quantization.scale if x.quantization is not None else None
    return scales is not None and len(scales) == 1 and float(scales[0]) / _t_scale(x) >= _MIN_ADD_SCALE_RATIO


def decompose_int16_hard_swish(content):
    """Returns (content with every float HARD_SWISH of an int16x8 file in int16 ops,
    how many there were)."""
    from ai_edge_litert import schema_py_generated as schema

    if not has_ops(bytes(content), schema, ["HARD_SWISH"]):
        return bytes(content), 0
    model = schema.ModelT.InitFromPackedBuf(bytes(content), 0)
    count = 0
    for graph in model.subgraphs or []:
        islands = [island for island in float_islands(model, graph, schema, "HARD_SWISH")
                   if graph.tensors[island[0].inputs[0]].type == schema.TensorType.INT16]
        replace_islands(graph, [
            (island, _decomposed(model, graph, schema, island[0].inputs[0], island[2][0].outputs[0], schema.TensorType.INT16))
            for island in islands])
        count += len(islands)
    if not count:
        return bytes(content), 0
    return pack(model), count


def _decomposed(model, graph, schema, x_index, y_index, kind):
    """ADD(x, 3) + RELU6 -> t, MUL(x, t) -> u = 6y, MUL(u, 1/6) -> y, in int8 or int16."""
    x, y = graph.tensors[x_index], graph.tensors[y_index]
    y_scale, y_zero_point = float(y.quantization.scale[0]), int(y.quantization.zeroPoint[0])
    name = tensor_name(x)
    if kind == schema.TensorType.INT8:
        top, t_scale, t_zero_point = np.int8(127), _t_scale(x), _T_ZERO_POINT
    else:
        top, t_scale, t_zero_point = np.int16(INT16_MAX), 6.0 / INT16_MAX, 0

    def constant(suffix, value):  # `value` exactly, as the type's largest integer
        return add_constant(model, graph, schema, f"{name}/hard_swish_{suffix}", np.array([top]), kind,
                            scale=value / int(top), zero_point=0)

    three, sixth = constant("3", 3.0), constant("1_6", 1.0 / 6.0)
    t = add_tensor(graph, schema, f"{name}/hard_swish_relu6", x.shape, kind, scale=t_scale, zero_point=t_zero_point)
    u = add_tensor(graph, schema, f"{name}/hard_swish_x6", x.shape, kind, scale=6.0 * y_scale, zero_point=y_zero_point)
    return [elementwise(model, schema, "ADD", [x_index, three], [t], schema.ActivationFunctionType.RELU6),
            elementwise(model, schema, "MUL", [x_index, t], [u]),
            elementwise(model, schema, "MUL", [u, sixth], [y_index])]


def _fold_into_consumers(model, graph, scale_op, schema):
    """Drops y = MUL(u, 1/6) when every path from y reaches weights that can absorb the 6."""
    u_index, y_index = scale_op.inputs[0], scale_op.outputs[0]
    plan = _absorb_factor(model, graph, y_index, schema)
    if plan is None:
        return
    weights, scaled, multiplied_by = plan
    if len(set(weights)) < len(weights) or len(set(scaled)) < len(scaled) or set(multiplied_by) & (set(scaled) | {y_index}):
        return  # a tensor reached twice, or a product of two scaled tensors (36x): leave it
    for op in graph.operators:
        if y_index in op.inputs:
            op.inputs = [u_index if i == y_index else i for i in op.inputs]
    for index in weights:
        quantization = graph.tensors[index].quantization
        quantization.scale = [float(s) / 6.0 for s in quantization.scale]
    for index in scaled:
        quantization = graph.tensors[index].quantization
        quantization.scale = [float(s) * 6.0 for s in quantization.scale]
    graph.operators = [op for op in graph.operators if op is not scale_op]


# Reading u (6x y's real value, y's integers) in place of y:
#  - a convolution or fully connected layer absorbs the 6 into its weight scales (input
#    scale x weight scale, hence the int32 bias and every integer, unchanged);
#  - MEAN and a MUL by another tensor are linear in y: their output carries the 6 too
#    (its scale x 6, integers unchanged), and its own consumers must absorb it in turn.
_WEIGHTED = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
_LINEAR = ("MEAN", "MUL")


def _absorb_factor(model, graph, index, schema):
    """(weight tensors to divide by 6, tensors to scale by 6, the other operands of the
    MULs passed through) so that tensor `index` may hold 6x its value; None if it cannot."""
    consumers = [op for op in graph.operators if index in op.inputs]
    if not consumers or index in list(graph.outputs):
        return None
    weights, scaled, multiplied_by = [], [], []
    for op in consumers:
        name, inputs = op_name(model, op, schema), list(op.inputs)
        if name in _WEIGHTED and inputs.index(index) == 0 and index not in inputs[1:]:
            kernel = graph.tensors[inputs[1]]
            if sum(inputs[1] in other.inputs for other in graph.operators) != 1 or kernel.quantization is None \
                    or kernel.quantization.scale is None:
                return None
            weights.append(inputs[1])
        elif name in _LINEAR and (inputs[0] == index if name == "MEAN" else inputs[:2].count(index) == 1):
            output = op.outputs[0]
            further = _absorb_factor(model, graph, output, schema)
            if further is None or graph.tensors[output].quantization is None:
                return None
            weights += further[0]
            scaled += [output, *further[1]]
            multiplied_by += further[2] + ([i for i in inputs[:2] if i != index] if name == "MUL" else [])
        else:
            return None
    return weights, scaled, multiplied_by
