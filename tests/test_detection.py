"""SSDLite (issue 18, detection): kl.heads.SSDLite on any features_only backbone, the
registered ssdlite320_mobilenet_v3_large (parameters and raw head outputs against
torchvision 0.14, its state_dict through weights=) and ssdlite_mobilenet_v2 (the
MobileNetV2 paper's Table 6), the default boxes, box coding, matching, the multibox
loss with hard-negative mining, bad input, post-processing, and a short fit on the
offline scenes."""

import json
import pathlib
import subprocess
import textwrap

import keras
import numpy as np
import pytest
from torch_reference import ENV
from torch_reference import REFERENCE_PYTHON
from torch_reference import image_dependence
from torch_reference import relative_difference
from torch_reference import require_reference

import keras_lightnets as kl
from keras_lightnets.heads import detection as det
from keras_lightnets.models import detection

# torchvision's ssdlite320_mobilenet_v3_large (weights=None, weights_backbone=None: the
# reduced tail, as its COCO checkpoint), BatchNorm statistics of its own activations moved
# at random and random affine terms (as test_segmentation's reference), He-initialised
# convolutions (its normal(0, 0.03) init leaves deep maps that hardly depend on the image);
# the raw head outputs (bbox_regression, cls_logits) on an already normalized batch.
SSDLITE_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np, torch
    from torch import nn
    from torchvision.models.detection import ssdlite320_mobilenet_v3_large

    spec = json.loads(sys.argv[1])
    torch.manual_seed(spec["seed"])
    model = ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=spec["classes"])
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for module in norms:
        module.momentum = None
        module.weight.data.uniform_(0.5, 1.5)
        module.bias.data.uniform_(-0.5, 0.5)
    size = spec["size"]
    model.train()
    with torch.no_grad():
        model.head(list(model.backbone(torch.rand(4, 3, size, size) * 2 - 1).values()))
    for module in norms:
        module.running_mean.add_(module.running_var.sqrt() * (torch.rand_like(module.running_mean) - 0.5) * 0.5)
        floor = module.running_var.mean()
        module.running_var.copy_(module.running_var.clamp(min=floor) * (torch.rand_like(module.running_var) + 0.5))
    model.eval()
    x = torch.rand(spec["batch"], 3, size, size) * 2 - 1
    x[1::2] = x[1::2] * 0.5 + torch.linspace(-0.5, 0.5, size)
    with torch.no_grad():
        y = model.head(list(model.backbone(x).values()))
    out = spec["out"]
    torch.save(model.state_dict(), out + ".pth")
    np.save(out + "_x.npy", x.numpy().transpose(0, 2, 3, 1))
    np.save(out + "_box.npy", y["bbox_regression"].numpy())
    np.save(out + "_cls.npy", y["cls_logits"].numpy())
    anchors = model.anchor_generator._grid_default_boxes(
        [f.shape[-2:] for f in model.backbone(x[:1]).values()], [size, size])
    np.save(out + "_anchors.npy", anchors.numpy())
    print(json.dumps({"params": sum(p.numel() for p in model.parameters())}))
    """
)


def ssdlite_reference(tmp_path, *, classes=5, size=128, batch=2, seed=0):
    """(checkpoint, images NHWC in [-1, 1], bbox_regression, cls_logits, default boxes
    (cx, cy, w, h) relative, parameter count)."""
    require_reference()
    out = str(tmp_path / "ssdlite")
    spec = {"classes": classes, "size": size, "batch": batch, "seed": seed, "out": out}
    done = subprocess.run([REFERENCE_PYTHON, "-c", SSDLITE_SCRIPT, json.dumps(spec)], capture_output=True, text=True,
                          env=ENV)
    if done.returncode != 0:
        raise RuntimeError(f"torchvision reference {spec} failed:\n{done.stderr[-3000:]}")
    load = lambda suffix: np.load(f"{out}_{suffix}.npy")  # noqa: E731
    for suffix in ("box", "cls"):
        assert image_dependence(load(suffix)) > 5e-3, f"torchvision's {suffix} outputs hardly depend on the image"
    return (pathlib.Path(out + ".pth"), load("x"), load("box"), load("cls"), load("anchors"),
            json.loads(done.stdout.strip().splitlines()[-1])["params"])


def trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


# -------------------------------------------------------- against torchvision's model


def test_raw_head_outputs_and_default_boxes_equal_torchvisions(tmp_path):
    checkpoint, images, boxes, logits, anchors, params = ssdlite_reference(tmp_path)
    model = kl.create_model("ssdlite320_mobilenet_v3_large", input_shape=images.shape[1:], classes=5,
                            weights=str(checkpoint), layout="torchvision", include_preprocessing=False)
    ours_boxes, ours_logits = model.predict(images, verbose=0)
    assert ours_boxes.shape == boxes.shape and ours_logits.shape == logits.shape == (2, 6 * (64 + 16 + 4 + 3), 5)
    print(relative_difference(ours_boxes, boxes), relative_difference(ours_logits, logits))
    assert relative_difference(ours_boxes, boxes) < 1e-4
    assert relative_difference(ours_logits, logits) < 1e-4
    assert trainable(model) == params
    cx, cy, w, h = anchors.T * 128
    np.testing.assert_allclose(kl.heads.anchors(model), np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1),
                               atol=1e-4)
