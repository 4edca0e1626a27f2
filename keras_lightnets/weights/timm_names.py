"""The module names of timm's EfficientNet builder (timm.models.efficientnet and
mobilenetv3, 0.9), for EfficientNet and MobileNetV3:
`conv_stem`, `bn1`, `blocks.<stage>.<block>.<...>`, `conv_head`, `bn2`, `classifier`,
the layout of timm's EfficientNet / EfficientNet-Lite checkpoints. Its `tf_` models
(tf_efficientnet_b0..b7, tf_efficientnet_lite0..4: the authors' TensorFlow weights)
pad as TensorFlow does, so they load into our EfficientNet graphs as they are. timm's
MnasNets (semnasnet_100 = MnasNet-A1, mnasnet_100 = B1, trained in PyTorch: our
layout="torchvision") come from the same builder, with the same names.

In a block with an expansion (timm's InvertedResidual) the convolutions are conv_pw,
conv_dw, conv_pwl with bn1..bn3; without one (DepthwiseSeparableConv, EfficientNet's
first stage) conv_dw, conv_pw with bn1, bn2; squeeze-and-excitation is se.conv_reduce
and se.conv_expand in both.

MobileNetV3 (timm's tf_mobilenetv3_large_100, _075, tf_mobilenetv3_small_100, ...: the
TensorFlow checkpoints, TensorFlow padding) groups its blocks into stages as its
arch_def does (TIMM_MOBILENET_V3_STAGES), its last 1x1 convolution is stage
`blocks.<last>.0.conv`, then `conv_head` (with bias, on the pooled map) and
`classifier`: keras.applications' layout, which ours keeps.
"""

EXPANDED = {"expand_conv": "conv_pw", "expand_bn": "bn1", "dwconv": "conv_dw", "bn": "bn2",
            "project_conv": "conv_pwl", "project_bn": "bn3"}
NOT_EXPANDED = {"dwconv": "conv_dw", "bn": "bn1", "project_conv": "conv_pw", "project_bn": "bn2"}
SQUEEZE_EXCITE = {"se_reduce": "se.conv_reduce", "se_expand": "se.conv_expand"}
OUTER = {"stem_conv": "conv_stem", "stem_bn": "bn1", "top_conv": "conv_head", "top_bn": "bn2",
         "predictions": "classifier"}


def is_timm_efficientnet(tensors):
    """Whether a state_dict has timm's EfficientNet module names."""
    return "conv_stem.weight" in tensors and "blocks.0.0.conv_dw.weight" in tensors and "bn2.weight" in tensors


def timm_efficientnet_names(model):
    """{our layer: timm module} for an EfficientNet / EfficientNet-Lite of ours (layer
    names block{stage}{a, b, ...}_<role>, keras.applications')."""
    names, blocks = dict(OUTER), {}  # blocks: prefix -> (stage, index in stage, expanded?)
    layers = {layer.name for layer in model.layers}
    for layer in model.layers:
        prefix, _, role = layer.name.partition("_")
        if not (prefix.startswith("block") and prefix[5:6].isdigit()):
            continue
        if prefix not in blocks:
            stage = int("".join(c for c in prefix[5:] if c.isdigit())) - 1
            index = sum(1 for s, _, _ in blocks.values() if s == stage)
            blocks[prefix] = (stage, index, f"{prefix}_expand_conv" in layers)
        stage, index, expanded = blocks[prefix]
        roles = {**(EXPANDED if expanded else NOT_EXPANDED), **SQUEEZE_EXCITE}
        if role in roles:
            names[layer.name] = f"blocks.{stage}.{index}.{roles[role]}"
    return names


# timm.models.mobilenetv3._gen_mobilenet_v3's arch_def: blocks per stage (the final 1x1
# convolution is one more stage), by how many inverted residuals the model has.
TIMM_MOBILENET_V3_STAGES = {15: (1, 2, 3, 4, 2, 3), 11: (1, 2, 3, 2, 3)}  # large, small
MOBILENET_V3_ROLES = {"expand": "conv_pw", "expand_bn": "bn1", "depthwise": "conv_dw", "depthwise_bn": "bn2",
                      "squeeze_excite_conv": "se.conv_reduce", "squeeze_excite_conv_1": "se.conv_expand",
                      "project": "conv_pwl", "project_bn": "bn3"}
MOBILENET_V3_FIRST = {"depthwise": "conv_dw", "depthwise_bn": "bn1", "squeeze_excite_conv": "se.conv_reduce",
                      "squeeze_excite_conv_1": "se.conv_expand", "project": "conv_pw", "project_bn": "bn2"}


def is_timm_mobilenet_v3(tensors):
    """timm's MobileNetV3: its head convolution has a bias (EfficientNet's a BatchNorm)."""
    return "conv_stem.weight" in tensors and "conv_head.bias" in tensors


def timm_mobilenet_v3_names(model):
    """{our layer: timm module} for our MobileNetV3 Large / Small (keras.applications'
    names: expanded_conv[_N]_<role>, conv, conv_1, conv_2, logits)."""
    blocks = sorted({_block_number(layer.name) for layer in model.layers if layer.name.startswith("expanded_conv")})
    stages = TIMM_MOBILENET_V3_STAGES.get(len(blocks))
    if stages is None:
        raise ValueError(f"timm's MobileNetV3 has 11 or 15 inverted residuals; model {model.name!r} has {len(blocks)}.")
    where = [(stage, i) for stage, count in enumerate(stages) for i in range(count)]
    names = {"conv": "conv_stem", "conv_bn": "bn1", "conv_1": f"blocks.{len(stages)}.0.conv",
             "conv_1_bn": f"blocks.{len(stages)}.0.bn1", "conv_2": "conv_head", "logits": "classifier"}
    for layer in model.layers:
        if not layer.name.startswith("expanded_conv"):
            continue
        number = _block_number(layer.name)
        prefix = "expanded_conv" if number == 0 else f"expanded_conv_{number}"
        role = layer.name[len(prefix) + 1:]
        roles = MOBILENET_V3_FIRST if number == 0 else MOBILENET_V3_ROLES
        if role in roles:
            stage, i = where[number]
            names[layer.name] = f"blocks.{stage}.{i}.{roles[role]}"
    return names


def _block_number(name):
    """expanded_conv_<role> -> 0, expanded_conv_<N>_<role> -> N."""
    rest = name[len("expanded_conv_"):].split("_", 1)[0]
    return int(rest) if rest.isdigit() else 0
