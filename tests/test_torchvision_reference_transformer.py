"""ViT and Swin against torchvision 0.14's own forward pass: torchvision's state_dict,
read without torch through the Family path (weights=<file>, torch_names), gives its
logits within 1e-4 of their scale.

torchvision zeroes ViT's head and initializes Swin's Linears at std 0.02, which would
hide a misplaced tensor, so the reference here (run_torch, not torchvision_reference)
draws every weight: unit-gain normals for kernels, non-zero biases, LayerNorm affines
around 1, and a class token, position embedding and relative position bias table of
the same scale as the tokens. Small configurations of the two families are the fast
cases; the published sizes, at a small input, are slow (checkpoints of 110 MB to
1.2 GB). Measured at commit time (relative logit difference): small ViT 3.4e-7, small
Swin window 4 1.8e-6, window 7 padded 1.2e-6; vit_b16 1.5e-6, vit_b32 9.7e-7, vit_l16
2.4e-6, vit_l32 2.0e-6, swin_t 7.9e-7, swin_s 2.1e-6, swin_b 1.4e-6."""

import json

import numpy as np
import pytest
from torch_reference import relative_difference
from torch_reference import run_torch
from eager import infer  # tests/eager.py: model(x) as numpy, no predict trace

import keras_lightnets as kl

SCRIPT = """
import importlib, json, sys
import numpy as np, torch

spec = json.loads(sys.argv[1])
torch.manual_seed(spec["seed"])
module, _, name = spec["builder"].rpartition(".")
model = getattr(importlib.import_module(module), name)(**spec["kwargs"])
with torch.no_grad():
    for name, p in model.named_parameters():
        leaf = name.rpartition(".")[2]
        if leaf in ("class_token", "pos_embedding", "relative_position_bias_table"):
            p.normal_(0.0, 0.5)
        elif p.dim() >= 2:  # Linear, Conv2d, in_proj: unit gain
            p.normal_(0.0, p[0].numel() ** -0.5)
        elif leaf == "bias":
            p.uniform_(-0.2, 0.2)
    for m in model.modules():
        if isinstance(m, torch.nn.LayerNorm):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
model.eval()
x = torch.rand(spec["batch"], 3, spec["size"], spec["size"])
with torch.no_grad():
    y = model(x)
torch.save(model.state_dict(), spec["out"] + ".pth")
np.save(spec["out"] + "_x.npy", x.numpy().transpose(0, 2, 3, 1))
np.save(spec["out"] + "_y.npy", y.numpy())
"""


def reference(tmp_path, builder, *, size, batch=2, seed=0, **kwargs):
    """torchvision's model `builder` (a dotted path) with every weight drawn: (checkpoint, images, logits)."""
    out = str(tmp_path / builder.rpartition(".")[2])
    run_torch(SCRIPT, json.dumps({"builder": builder, "kwargs": kwargs, "size": size, "batch": batch, "seed": seed,
                                  "out": out}))
    return out + ".pth", np.load(out + "_x.npy"), np.load(out + "_y.npy")


def ours(build, checkpoint, size, **knobs):
    """Our model, built by `build` and loaded from `checkpoint` through the Family path."""
    return build(weights=checkpoint, input_shape=(size, size, 3), classes=10, include_preprocessing=False,
                 classifier_activation=None, **knobs)


VISION_TRANSFORMER = "torchvision.models.vision_transformer.VisionTransformer"
SWIN_TRANSFORMER = "torchvision.models.swin_transformer.SwinTransformer"

# (our family builder, its knobs, torchvision's class, its arguments, input size): small
# configurations, the fast cases of each family.
SMALL = [
    pytest.param(kl.ViT, dict(patch_size=8, depth=2, num_heads=4, width=64, mlp_dim=96), VISION_TRANSFORMER,
                 dict(image_size=32, patch_size=8, num_layers=2, num_heads=4, hidden_dim=64, mlp_dim=96), 32,
                 id="vit-small-32"),
    # 2 x 2 windows of 4 at stride 4 of a 32 input; then 4x4, 2x2, 1x1 maps: padding and unshifted single windows
    pytest.param(kl.SwinTransformer, dict(embed_dim=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4), window_size=4),
                 SWIN_TRANSFORMER, dict(patch_size=[4, 4], embed_dim=16, depths=[2, 2, 2, 2], num_heads=[1, 2, 2, 4],
                                        window_size=[4, 4]), 32, id="swin-small-32-window4"),
    # window 7 on 16, 8, 4, 2 maps: padded to 21 and 14 (shifted), single windows after
    pytest.param(kl.SwinTransformer, dict(embed_dim=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4)),
                 SWIN_TRANSFORMER, dict(patch_size=[4, 4], embed_dim=16, depths=[2, 2, 2, 2], num_heads=[1, 2, 2, 4],
                                        window_size=[7, 7]), 64, id="swin-small-64-window7-padded"),
]


@pytest.mark.parametrize("build, knobs, torchvision_class, torchvision_args, size", SMALL)
def test_small_configurations_equal_torchvision(tmp_path, build, knobs, torchvision_class, torchvision_args, size):
    checkpoint, images, expected = reference(tmp_path, torchvision_class, size=size, num_classes=10,
                                             **torchvision_args)
    model = ours(build, checkpoint, size, **knobs)
    assert relative_difference(infer(model, images), expected) < 1e-4


# (our registry name, torchvision's builder, the knobs torchvision's weight set needs,
# input size): ViT is compared at the size its position embedding was built for.
ARCHITECTURES = [
    pytest.param("vit_b16", "vit_b_16", {}, 32, marks=pytest.mark.slow),  # 86.6 M parameters, 343 MB
    pytest.param("vit_b32", "vit_b_32", {}, 64, marks=pytest.mark.slow),  # 88.2 M, 350 MB
    pytest.param("vit_l16", "vit_l_16", {}, 32, marks=pytest.mark.slow),  # 304 M, 1.2 GB
    pytest.param("vit_l32", "vit_l_32", {}, 64, marks=pytest.mark.slow),  # 306 M, 1.2 GB
    pytest.param("swin_t", "swin_t", {}, 64, marks=pytest.mark.slow),  # 28.3 M, 113 MB
    pytest.param("swin_s", "swin_s", {}, 64, marks=pytest.mark.slow),  # 49.6 M, 199 MB
    pytest.param("swin_b", "swin_b", {}, 64, marks=pytest.mark.slow),  # 87.8 M, 352 MB
]


@pytest.mark.parametrize("ours, torchvision_name, knobs, size", ARCHITECTURES)
def test_published_sizes_equal_torchvision(tmp_path, ours, torchvision_name, knobs, size):
    vit = torchvision_name.startswith("vit")
    checkpoint, images, expected = reference(
        tmp_path, f"torchvision.models.{torchvision_name}", size=size, num_classes=10,
        **({"image_size": size} if vit else {}))
    model = kl.create_model(ours, weights=checkpoint, input_shape=(size, size, 3), classes=10,
                            include_preprocessing=False, classifier_activation=None, **knobs)
    assert relative_difference(infer(model, images), expected) < 1e-4


SMALL_VIT = dict(image_size=32, patch_size=8, num_layers=2, num_heads=4, hidden_dim=64, mlp_dim=96)
SMALL_VIT_KNOBS = dict(patch_size=8, depth=2, num_heads=4, width=64, mlp_dim=96)

LEGACY_MLP_NAMES = """
import sys, torch
from torchvision.models.vision_transformer import VisionTransformer
state = torch.load(sys.argv[1])
legacy = {k.replace(".mlp.0.", ".mlp.linear_1.").replace(".mlp.3.", ".mlp.linear_2."): v for k, v in state.items()}
assert legacy.keys() != state.keys()
VisionTransformer(num_classes=10, image_size=32, patch_size=8, num_layers=2, num_heads=4, hidden_dim=64,
                  mlp_dim=96).load_state_dict(legacy)  # torchvision itself takes them (strict)
torch.save(legacy, sys.argv[2])
"""


def test_vit_files_with_torchvision_0_12_mlp_names_load(tmp_path):
    """torchvision's published ViT files predate its MLPBlock's 0 / 3 names (mlp.linear_1 / linear_2)."""
    checkpoint, images, expected = reference(tmp_path, VISION_TRANSFORMER, size=32, num_classes=10, **SMALL_VIT)
    legacy = tmp_path / "legacy_mlp_names.pth"
    run_torch(LEGACY_MLP_NAMES, checkpoint, legacy)
    model = ours(kl.ViT, str(legacy), 32, **SMALL_VIT_KNOBS)
    assert relative_difference(infer(model, images), expected) < 1e-4


@pytest.mark.parametrize("build, knobs, torchvision_class, torchvision_args, size", SMALL[:2])
@pytest.mark.parametrize("without_top", [dict(include_top=False), dict(features_only=True)])
def test_a_model_without_classifier_takes_the_trunk_of_a_file(tmp_path, build, knobs, torchvision_class,
                                                             torchvision_args, size, without_top):
    """tensors_for leaves out what no layer takes (the head), with out_proj and renamed modules kept."""
    from keras_lightnets.weights import load_state_dict
    from keras_lightnets.weights import read_checkpoint
    from keras_lightnets.weights.state_dict import tensors_for

    checkpoint, _, _ = reference(tmp_path, torchvision_class, size=size, num_classes=10, **torchvision_args)
    full = ours(build, checkpoint, size, **knobs)
    model = build(input_shape=(size, size, 3), **without_top, **knobs)
    names = build.family.torch_names(model)
    tensors = read_checkpoint(checkpoint)
    trunk = tensors_for(model, tensors, names)
    assert sorted(set(tensors) - set(trunk)) == ["head.bias", "head.weight"] or \
        sorted(set(tensors) - set(trunk)) == ["heads.head.bias", "heads.head.weight"]
    load_state_dict(model, trunk, names=names)
    for layer in model.layers:
        if layer.weights:
            for ours_, theirs in zip(layer.get_weights(), full.get_layer(layer.name).get_weights(), strict=True):
                np.testing.assert_array_equal(ours_, theirs)


def test_a_vit_file_of_other_arguments_is_refused_naming_the_tensor(tmp_path):
    from keras_lightnets.models.vit import torch_names
    from keras_lightnets.weights import load_state_dict
    from keras_lightnets.weights import read_checkpoint

    checkpoint, _, _ = reference(tmp_path, VISION_TRANSFORMER, size=32, num_classes=10, **SMALL_VIT)
    with pytest.raises(ValueError, match="looked for torch module 'encoder.layers.encoder_layer_2.ln_1'"):
        ours(kl.ViT, checkpoint, 32, **{**SMALL_VIT_KNOBS, "depth": 3})
    with pytest.raises(ValueError, match=r"encoder.layers.encoder_layer_0.mlp.0.weight has shape \(96, 64\)"):
        ours(kl.ViT, checkpoint, 32, **{**SMALL_VIT_KNOBS, "mlp_dim": 128})
    # No out_proj: an error naming it, and nothing loaded (all or nothing).
    model = kl.ViT(input_shape=(32, 32, 3), classes=10, **SMALL_VIT_KNOBS)
    before = [w.copy() for w in model.get_weights()]
    tensors = {k: v for k, v in read_checkpoint(checkpoint).items() if "layer_1.self_attention.out_proj" not in k}
    with pytest.raises(ValueError, match="missing encoder.layers.encoder_layer_1.self_attention.out_proj.weight"):
        load_state_dict(model, tensors, names=torch_names(model))
    for now, then in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(now, then)
