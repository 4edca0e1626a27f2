"""A PyTorch state_dict loaded into a Keras model.

Each weighted Keras layer is paired with one torch module by name: the torch module
`layer1.0.conv1` is our layer `layer1_0_conv1` (families that follow torchvision's
module names get this for free; others pass `names`, {our layer: torch module}).
Arrays change layout on the way: convolutions OIHW -> HWIO, depthwise -> HW C 1,
dense (out, in) -> (in, out), with a dense layer fed by a flattened feature map also
reordered from torch's C,H,W flattening to Keras' H,W,C; a Linear into a 1x1 Conv2D
(keras.applications' heads on a pooled 1x1 map) -> (1, 1, in, out). A Keras
SeparableConv2D takes a torch module whose submodules `conv1` (depthwise) and
`pointwise` (1x1) are its two halves (SEPARABLE_CONV). Attention layers:
a Keras MultiHeadAttention takes torch's nn.MultiheadAttention module (in_proj_weight's
q | k | v rows -> (in, heads, head_dim) kernels, and its `out_proj` submodule); ViT's
class token and position embedding and Swin's relative position bias table are our
layers' own variables under torch's parameter names.

Every layer is checked before any is assigned: a file of another architecture is an
error that names the first missing, unexpected or mis-shaped tensor, and leaves the
model as it was.
"""

import re
from typing import Dict, Mapping, Optional

import keras
import numpy as np

from keras_lightnets.layers.transformer import ClassToken
from keras_lightnets.layers.transformer import PositionEmbedding
from keras_lightnets.layers.window_attention import WindowAttention

# Keras variable -> torch parameter, per layer type, in the layer's variable order.
BATCH_NORM = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var"}
LAYER_NORM = {"gamma": "weight", "beta": "bias"}
LINEAR = {"kernel": "weight", "bias": "bias"}  # Keras 3 names a depthwise kernel "kernel" too
# torch.nn.MultiheadAttention (ViT's self_attention): q, k, v are thirds of in_proj; the
# output projection is the submodule out_proj (a dotted name: module.out_proj.weight).
MULTI_HEAD_ATTENTION = {
    "query/kernel": "in_proj_weight", "query/bias": "in_proj_bias", "key/kernel": "in_proj_weight",
    "key/bias": "in_proj_bias", "value/kernel": "in_proj_weight", "value/bias": "in_proj_bias",
    "attention_output/kernel": "out_proj.weight", "attention_output/bias": "out_proj.bias"}
IN_PROJ_PART = {"query": 0, "key": 1, "value": 2}
# A separable convolution kept as two torch modules under one parent (Cadene's / timm's
# legacy SeparableConv2d: `conv1` depthwise with groups=in, `pointwise` 1x1): the parent
# module is our SeparableConv2D, its variables the submodules' parameters.
SEPARABLE_CONV = {"depthwise_kernel": "conv1.weight", "pointwise_kernel": "pointwise.weight", "bias": "pointwise.bias"}
# Our own layers (keras_lightnets.layers): {Keras variable: torch parameter}.
OWN_LAYERS = (
    (ClassToken, {"token": "class_token"}),  # torchvision's ViT.class_token
    (PositionEmbedding, {"embedding": "pos_embedding"}),  # ViT's encoder.pos_embedding
    (WindowAttention, {"relative_position_bias_table": "relative_position_bias_table"}),  # Swin's attn
)
# No weights: a BatchNorm counter, and Swin's relative_position_index (a constant the
# layer computes itself from the window size).
TORCH_BOOKKEEPING = ("num_batches_tracked", "relative_position_index")
# Input preprocessing with weights (keras.applications' EfficientNet Normalization): the
# family sets it to the statistics the weights were trained with; no torch module holds it.
PREPROCESSING = (keras.layers.Normalization,)
# (pattern, replacement) of module names in older files, as torch's own loading renames
# them: torchvision's ViT MLPBlock was linear_1 / linear_2 before it became an MLP (0, 3),
# and its published ViT weights predate that (MLPBlock._load_from_state_dict,
# pytorch/vision#6053); torchvision's _DenseLayer was norm.1 / relu.1 / conv.1 / norm.2 /
# ... before module names could not hold dots (0.3), and its published DenseNet files
# keep those names, which torchvision/models/densenet.py `_load_state_dict` renames.
TORCH_RENAMED = (
    (re.compile(r"(^|\.)mlp\.linear_1$"), r"\1mlp.0"),
    (re.compile(r"(^|\.)mlp\.linear_2$"), r"\1mlp.3"),
    (re.compile(r"(denselayer\d+\.(?:norm|relu|conv))\.([12])$"), r"\1\2"),
)


def load_state_dict(model, tensors: Mapping[str, np.ndarray], names: Optional[Mapping[str, str]] = None, source="the checkpoint"):
    """Loads `tensors` ({torch parameter name: array}) into `model`, all or nothing.

    `names`: {our layer name: torch module name} for layers whose names do not follow
    the rule (dots as underscores). Tensors of the checkpoint that no layer takes are an
    error too (a classifier of another size, another architecture), except BatchNorm's
    num_batches_tracked. Returns the number of tensors loaded.
    """
    names = dict(names or {})
    modules = _torch_modules(tensors)
    by_our_name = {module.replace(".", "_"): module for module in modules}
    plan, used = [], set()
    for layer in model.layers:
        if not layer.weights or isinstance(layer, PREPROCESSING):
            continue
        module = names.get(layer.name, by_our_name.get(layer.name))
        if module is None or not _present(layer, module, modules):
            raise ValueError(
                f"{source} has no weights for layer {layer.name!r} ({type(layer).__name__}; looked for torch module "
                f"{(module or layer.name.replace('_', '.'))!r}). It was saved from another architecture, or with other "
                "architecture arguments (width, depth, classes, include_top).")
        parameters, taken = _layer_parameters(layer, module, modules)
        arrays = _converted(layer, module, parameters, source)
        plan.append((layer, arrays))
        used.update(taken)
    unexpected = [m for m in modules if m not in used]
    if unexpected:
        first = unexpected[0]
        raise ValueError(
            f"{source} has weights that no layer of model {model.name!r} takes, first {first!r} "
            f"({sorted(modules[first])}; {len(unexpected)} module(s) in all). It was saved from another architecture, "
            "or with a classifier (include_top, classes) the model lacks.")
    for layer, arrays in plan:
        layer.set_weights(arrays)
    return sum(len(a) for _, a in plan)


def tensors_for(model, tensors: Mapping[str, np.ndarray], names: Optional[Mapping[str, str]] = None):
    """The entries of `tensors` whose modules `model`'s layers take, matched as
    load_state_dict matches them (submodules such as out_proj, older module names):
    a checkpoint with a classifier, for a model built without one (include_top=False,
    features_only). Anything else of another architecture still fails in load_state_dict."""
    names = dict(names or {})
    modules = _torch_modules(tensors)
    by_our_name = {module.replace(".", "_"): module for module in modules}
    taken = set()
    for layer in model.layers:
        module = names.get(layer.name, by_our_name.get(layer.name))
        if layer.weights and module is not None and _present(layer, module, modules):
            taken.update(_layer_parameters(layer, module, modules)[1])
    return {name: array for name, array in tensors.items() if _module_of(name)[0] in taken}


def _module_of(name):
    """(module, parameter) of a state_dict key, the module under its current name."""
    module, _, parameter = name.rpartition(".")
    for pattern, new in TORCH_RENAMED:
        module = pattern.sub(new, module)
    return module, parameter


def _torch_modules(tensors) -> Dict[str, Dict[str, np.ndarray]]:
    """{module: {parameter: array}} in the file's order."""
    modules: Dict[str, Dict[str, np.ndarray]] = {}
    for name, array in tensors.items():
        module, parameter = _module_of(name)
        if parameter in TORCH_BOOKKEEPING:
            continue
        modules.setdefault(module, {})[parameter] = np.asarray(array)
    return modules


def _submodules(layer):
    """The submodules the layer's layout names with a dot (out_proj, conv1, pointwise)."""
    return dict.fromkeys(n.rpartition(".")[0] for n in _torch_names(layer).values() if "." in n)


def _present(layer, module, modules):
    """The checkpoint holds `module`, or (a parent without parameters of its own, as a
    separable convolution's) one of the submodules the layer takes."""
    if module in modules:
        return True
    try:
        submodules = _submodules(layer)
    except ValueError:  # a layer without a torch layout: absent, as before
        return False
    return any(f"{module}.{sub}" in modules for sub in submodules)


def _layer_parameters(layer, module, modules):
    """The torch parameters `layer` takes: its module's, and those of the submodules
    its layout names with a dot (MultiheadAttention's out_proj.weight); and the modules."""
    parameters, taken = dict(modules.get(module, {})), [module] if module in modules else []
    for sub in _submodules(layer):
        full = f"{module}.{sub}" if module else sub
        if full in modules:
            parameters.update({f"{sub}.{p}": a for p, a in modules[full].items()})
            taken.append(full)
    return parameters, taken


def _converted(layer, module, parameters, source):
    """The layer's arrays, in its variable order, from the torch module's parameters."""
    wanted = _torch_names(layer)
    missing = [p for p in wanted.values() if p not in parameters]
    extra = sorted(set(parameters) - set(wanted.values()))
    if missing or extra:
        raise ValueError(
            f"{source}: torch module {module!r} has parameters {sorted(parameters)}, but layer {layer.name!r} "
            f"({type(layer).__name__}) takes {list(dict.fromkeys(wanted.values()))}"
            + (f"; missing {module}.{missing[0]}" if missing else f"; unexpected {module}.{extra[0]}") + ".")
    arrays = []
    for variable in layer.weights:
        key = _variable_key(layer, variable)
        array = _to_keras_layout(layer, key, parameters[wanted[key]], tuple(variable.shape))
        if tuple(array.shape) != tuple(variable.shape):
            raise ValueError(
                f"{source}: tensor {module}.{wanted[key]} has shape {tuple(parameters[wanted[key]].shape)} "
                f"(as {tuple(array.shape)} in Keras' layout), but layer {layer.name!r} needs {tuple(variable.shape)}. "
                "Build the model with the architecture arguments (width, classes, ...) the checkpoint was saved with.")
        arrays.append(array.astype(variable.dtype))
    return arrays


def _variable_key(layer, variable):
    """The variable's path below its layer: "layer/kernel" -> "kernel", and a sublayer's
    "attention/query/kernel" -> "query/kernel"."""
    parts = variable.path.split("/")
    return "/".join(parts[len(parts) - parts[::-1].index(layer.name):]) if layer.name in parts else parts[-1]


def _torch_names(layer):
    """{Keras variable name: torch parameter name} for this layer's variables."""
    keys = [_variable_key(layer, v) for v in layer.weights]
    if isinstance(layer, keras.layers.BatchNormalization):
        return {k: BATCH_NORM[k] for k in keys}
    if isinstance(layer, keras.layers.LayerNormalization):
        return {k: LAYER_NORM[k] for k in keys}
    if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense)):
        return {k: LINEAR[k] for k in keys}
    if isinstance(layer, keras.layers.MultiHeadAttention):
        return {k: MULTI_HEAD_ATTENTION[k] for k in keys}
    if isinstance(layer, keras.layers.SeparableConv2D):
        return {k: SEPARABLE_CONV[k] for k in keys}
    for layer_type, layout in OWN_LAYERS:
        if isinstance(layer, layer_type):
            return {k: layout[k] for k in keys}
    raise ValueError(f"Layer {layer.name!r} ({type(layer).__name__}) has no known PyTorch layout; "
                     "its family must load it itself.")


def _to_keras_layout(layer, key, array, keras_shape):
    if isinstance(layer, keras.layers.MultiHeadAttention):
        return _attention_layout(key, array, keras_shape)
    if (isinstance(layer, keras.layers.DepthwiseConv2D) and key != "bias") or key == "depthwise_kernel":
        return array.reshape(keras_shape[2], -1, *array.shape[2:]).transpose(2, 3, 0, 1)  # (C*m, 1, kh, kw) -> (kh, kw, C, m)
    if key in ("kernel", "pointwise_kernel") and array.ndim == 4:  # OIHW -> HWIO
        return array.transpose(2, 3, 1, 0)
    if key == "kernel" and array.ndim == 2 and len(keras_shape) == 4:  # a Linear as a 1x1 Conv2D on a pooled map
        return array.T.reshape(keras_shape)
    if key == "kernel" and array.ndim == 2:  # (out, in) -> (in, out)
        return _unflatten_order(layer, array.T)
    return array


def _attention_layout(key, array, keras_shape):
    """nn.MultiheadAttention -> Keras' MultiHeadAttention: q, k or v is its third of
    in_proj; (out, in) -> (in, out); then split into heads, (in, heads, head_dim) or
    (heads, head_dim, out), heads major as torch's (a shape that does not fit is left
    for the caller's shape check to report)."""
    part = IN_PROJ_PART.get(key.split("/")[0])
    if part is not None and array.shape[0] % 3 == 0:
        array = np.split(array, 3)[part]
    if array.ndim == 2:
        array = array.T
    return array.reshape(keras_shape) if array.size == int(np.prod(keras_shape)) else array


def _unflatten_order(layer, kernel):
    """A dense layer fed by Flatten of an (H, W, C) map: torch flattened C,H,W."""
    source = layer.input._keras_history.operation if hasattr(layer.input, "_keras_history") else None
    if isinstance(source, keras.layers.Flatten) and len(source.input.shape) == 4:
        h, w, c = source.input.shape[1:]
        order = np.arange(h * w * c).reshape(c, h, w).transpose(1, 2, 0).reshape(-1)  # Keras row i = torch row order[i]
        return kernel[order]
    return kernel
