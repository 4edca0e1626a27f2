"""Small helpers shared by the passes that edit a converted .tflite graph
(hard_swish.py, channel_affine.py): what an operator is, and the operator code of a
builtin op to give a new one."""

import functools


def op_name(model, op, schema):
    """The builtin name of an operator ("CONV_2D", ...), or "CUSTOM"."""
    code = model.operatorCodes[op.opcodeIndex]
    builtin = max(code.builtinCode, code.deprecatedBuiltinCode)  # ops past 127 keep only builtinCode
    return _builtin_names(schema).get(builtin, "CUSTOM")


@functools.lru_cache(maxsize=None)
def _builtin_names(schema):
    return {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}


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
