"""What a .tflite file holds: its operators, and which run outside the integer set."""

import collections
import dataclasses
from typing import Dict, List

# Ops that only move or reinterpret data: their output type is whatever feeds them.
_QUANTIZE_OPS = {"QUANTIZE", "DEQUANTIZE"}


@dataclasses.dataclass
class FlatbufferSummary:
    op_counts: Dict[str, int]
    float_ops: List[str]  # ops computing in floating point (inputs or outputs float)
    inner_quantize_ops: int  # QUANTIZE/DEQUANTIZE between float and integer, not at the model's edges
    input_dtype: str
    output_dtype: str
    requantize_ops: int = 0  # QUANTIZE from one integer scale to another (integer arithmetic, e.g. before a concatenation)


def analyze(content: bytes) -> FlatbufferSummary:
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(content, 0)
    op_names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    type_names = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    graph = model.Subgraphs(0)

    def code_name(index):
        code = model.OperatorCodes(index)
        return op_names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "CUSTOM")

    def tensor_type(index):
        return type_names[graph.Tensors(index).Type()]

    graph_inputs = {graph.Inputs(i) for i in range(graph.InputsLength())}
    graph_outputs = {graph.Outputs(i) for i in range(graph.OutputsLength())}
    counts = collections.Counter()
    float_ops, inner_quantize, requantize = [], 0, 0
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        name = code_name(op.OpcodeIndex())
        counts[name] += 1
        inputs = [op.Inputs(j) for j in range(op.InputsLength()) if op.Inputs(j) >= 0]
        outputs = [op.Outputs(j) for j in range(op.OutputsLength())]
        if name in _QUANTIZE_OPS:
            if not (set(inputs) & graph_inputs or set(outputs) & graph_outputs):
                if any(tensor_type(t) in ("FLOAT32", "FLOAT16") for t in inputs[:1] + outputs):
                    inner_quantize += 1
                else:
                    requantize += 1
            continue
        if any(tensor_type(t) in ("FLOAT32", "FLOAT16") for t in inputs[:1] + outputs):
            float_ops.append(name)
    return FlatbufferSummary(
        op_counts=dict(sorted(counts.items())),
        float_ops=sorted(set(float_ops)),
        inner_quantize_ops=inner_quantize,
        input_dtype=tensor_type(graph.Inputs(0)).lower(),
        output_dtype=tensor_type(graph.Outputs(0)).lower(),
        requantize_ops=requantize,
    )
