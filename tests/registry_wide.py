"""Which registered models the registry-wide tests (parametrized over kl.list_models()
with a `name` argument: test_graph_rules, test_paper_tables) check in CI, and which
only in `make test-all`.

Each variant below is a deeper or wider copy of the variant it names, which stays in
the default suite: the same family builder and block code, only more or wider blocks,
so a per-model check finds in it nothing its smaller twin does not show. Building
them is the cost (a functional model's construction is Keras' Python, ~6 ms a layer:
5-14 s each, at the papers' resolutions more), about 4 minutes of CI's 2 cores in all.
"""

DEEPER_TWINS = {
    "convnext_small": "convnext_tiny", "convnext_base": "convnext_tiny", "convnext_large": "convnext_tiny",
    "convnext_xlarge": "convnext_tiny",
    "densenet161": "densenet121", "densenet169": "densenet121", "densenet201": "densenet121",
    "densenet264": "densenet121", "densenet_bc_190_40": "densenet_bc_100_12", "densenet_bc_250_24": "densenet_bc_100_12",
    "efficientnet_b4": "efficientnet_b3", "efficientnet_b5": "efficientnet_b3", "efficientnet_b6": "efficientnet_b3",
    "efficientnet_b7": "efficientnet_b3",
    # EfficientNetV2: 21.6-119 M parameters, 546-1092 layers from S up; B0 holds both block kinds
    "efficientnet_v2_b1": "efficientnet_v2_b0", "efficientnet_v2_b2": "efficientnet_v2_b0",
    "efficientnet_v2_b3": "efficientnet_v2_b0", "efficientnet_v2_s": "efficientnet_v2_b0",
    "efficientnet_v2_m": "efficientnet_v2_b0", "efficientnet_v2_l": "efficientnet_v2_b0",
    "nasnet_large": "nasnet_mobile",
    "resnet101": "resnet50", "resnet152": "resnet50", "resnet101_v2": "resnet50_v2", "resnet152_v2": "resnet50_v2",
    "resnext101_32x8d": "resnext50_32x4d", "resnext101_64x4d": "resnext50_32x4d", "seresnet101": "seresnet50",
    "seresnet152": "seresnet50", "seresnext101_32x4d": "seresnext50_32x4d", "wide_resnet101_2": "wide_resnet50_2",
    "swin_s": "swin_t", "swin_b": "swin_t", "vit_l16": "vit_b16", "vit_l32": "vit_b32",
}

REGISTRY_WIDE_FILES = ("test_graph_rules.py", "test_paper_tables.py")
