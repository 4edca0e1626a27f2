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
    """Counts every operator of every subgraph (control flow keeps its bodies in
    subgraphs past the first), and calls an op float when any of its inputs or
    outputs is float: one float bias or weight is enough to need a float kernel."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(content, 0)
    op_names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    type_names = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    if model.SubgraphsLength() == 0:
        raise ValueError("The .tflite file has no subgraph: it holds no model.")

    def code_name(index):
        code = model.OperatorCodes(index)
        return op_names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "CUSTOM")

    counts = collections.Counter()
    float_ops, inner_quantize, requantize = set(), 0, 0
    for g in range(model.SubgraphsLength()):
        graph = model.Subgraphs(g)

        def is_float(tensor_index, graph=graph):
            return type_names[graph.Tensors(tensor_index).Type()] in ("FLOAT32", "FLOAT16", "FLOAT64")

        edges = {graph.Inputs(i) for i in range(graph.InputsLength())} | {graph.Outputs(i) for i in range(graph.OutputsLength())}
        for i in range(graph.OperatorsLength()):
            op = graph.Operators(i)
            name = code_name(op.OpcodeIndex())
            counts[name] += 1
            tensors = [op.Inputs(j) for j in range(op.InputsLength()) if op.Inputs(j) >= 0]
            tensors += [op.Outputs(j) for j in range(op.OutputsLength())]
            touches_float = any(is_float(t) for t in tensors)
            if name in _QUANTIZE_OPS:
                if not set(tensors) & edges:  # at the graph's edges they convert its I/O types
                    if touches_float:
                        inner_quantize += 1
                    else:
                        requantize += 1
                continue
            if touches_float:
                float_ops.add(name)
    main = model.Subgraphs(0)

    def main_type(index):
        return type_names[main.Tensors(index).Type()].lower()

    return FlatbufferSummary(
        op_counts=dict(sorted(counts.items())),
        float_ops=sorted(float_ops),
        inner_quantize_ops=inner_quantize,
        input_dtype=main_type(main.Inputs(0)),
        output_dtype=main_type(main.Outputs(0)),
        requantize_ops=requantize,
    )
