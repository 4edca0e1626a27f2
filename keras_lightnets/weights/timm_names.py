"""The module names of timm's EfficientNet builder (timm.models.efficientnet, 0.9):
`conv_stem`, `bn1`, `blocks.<stage>.<block>.<...>`, `conv_head`, `bn2`, `classifier`,
the layout of timm's EfficientNet / EfficientNet-Lite checkpoints. Its `tf_` models
(tf_efficientnet_b0..b7, tf_efficientnet_lite0..4: the authors' TensorFlow weights)
pad as TensorFlow does, so they load into our EfficientNet graphs as they are.

In a block with an expansion (timm's InvertedResidual) the convolutions are conv_pw,
conv_dw, conv_pwl with bn1..bn3; without one (DepthwiseSeparableConv, EfficientNet's
first stage) conv_dw, conv_pw with bn1, bn2; squeeze-and-excitation is se.conv_reduce
and se.conv_expand in both.
"""

EXPANDED = {"expand_conv": "conv_pw", "expand_bn": "bn1", "dwconv": "conv_dw", "bn": "bn2",
            "project_conv": "conv_pwl", "project_bn": "bn3"}
NOT_EXPANDED = {"dwconv": "conv_dw", "bn": "bn1", "project_conv": "conv_pw", "project_bn": "bn2"}
SQUEEZE_EXCITE = {"se_reduce": "se.conv_reduce", "se_expand": "se.conv_expand"}
OUTER = {"stem_conv": "conv_stem", "stem_bn": "bn1", "top_conv": "conv_head", "top_bn": "bn2",
         "predictions": "classifier"}


def is_timm_efficientnet(tensors):
    """Whether a state_dict has timm's EfficientNet module names."""
    return "conv_stem.weight" in tensors and "blocks.0.0.conv_dw.weight" in tensors


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
