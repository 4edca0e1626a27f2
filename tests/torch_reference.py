"""The PyTorch reference, run in a subprocess: torchvision 0.14 on torch 1.13, Debian's
python3-torchvision, and timm 0.9.16 on that torch, unpacked into .reference/ (both
installed by `make reference`, which `make test` runs). The package never imports
torch; the tests compare against it.

`torchvision_reference(tmp_path, "resnet18", num_classes=10)` builds torchvision's model
with random weights and randomized BatchNorm statistics (so a mismatched statistic
cannot hide), runs it on random [0, 1) images and saves its state_dict, as both of
torch's file layouts, beside its outputs.
"""

import dataclasses
import functools
import json
import os
import pathlib
import subprocess
import textwrap

import numpy as np
import pytest

REFERENCE_PYTHON = os.environ.get("KL_REFERENCE_PYTHON", "/usr/bin/python3")
REFERENCE_SITE = os.environ.get("KL_REFERENCE_SITE", str(pathlib.Path(__file__).resolve().parents[1] / ".reference"))
INSTALL = ("make reference (apt-get install python3-torchvision: torchvision 0.14 / torch 1.13, CPU; "
           "timm 0.9.16 unpacked into .reference/)")
ENV = {**os.environ, "PYTHONPATH": REFERENCE_SITE}  # timm, for the reference interpreter only

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np, torch, torchvision

    spec = json.loads(sys.argv[1])
    torch.manual_seed(spec["seed"])
    if spec["library"] == "timm":
        import timm
        model = timm.create_model(spec["builder"], pretrained=False, **spec["kwargs"])
    else:
        model = getattr(torchvision.models, spec["builder"])(**spec["kwargs"])
    for module in model.modules():  # random statistics: a mismatched one cannot hide
        if isinstance(module, (torch.nn.BatchNorm2d, torch.nn.BatchNorm1d)):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 1.5)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.5, 0.5)
        if isinstance(module, torch.nn.LayerNorm) and module.elementwise_affine:
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.5, 0.5)
    if spec.get("kaiming"):  # He initialization: the image stays in the logits (see torchvision_reference)
        for module in model.modules():
            if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
                torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    model.eval()
    x = torch.rand(spec["batch"], 3, spec["size"], spec["size"])
    fed = x
    if spec.get("normalized"):  # whole [0, 255] pixels / 255, fed as torchvision's transforms feed them
        x = torch.randint(0, 256, x.shape).float() / 255
        mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]))
        fed = (x - mean) / std
    with torch.no_grad():
        y = model(fed)
    out = spec["out"]
    state_dict = model.state_dict()
    if spec.get("rename"):  # keys as an older torchvision saved them
        import re
        pattern, replacement = spec["rename"]
        state_dict = type(state_dict)((re.sub(pattern, replacement, k), v) for k, v in state_dict.items())
    torch.save(state_dict, out + ".pth")
    if spec["legacy"]:
        torch.save(state_dict, out + "_legacy.pth", _use_new_zipfile_serialization=False)
    np.save(out + "_x.npy", x.numpy().transpose(0, 2, 3, 1))
    np.save(out + "_y.npy", y.numpy())
    """
)


@dataclasses.dataclass
class Reference:
    checkpoint: pathlib.Path  # torch.save's zip layout
    legacy_checkpoint: pathlib.Path  # the legacy stream layout (when asked for)
    images: np.ndarray  # NHWC, [0, 1)
    logits: np.ndarray


def require_reference(library="torchvision"):
    """Fails (never skips) with the install command when the reference is missing."""
    missing = _missing_reference(library)
    if missing is not None:
        pytest.fail(missing, pytrace=False)


@functools.lru_cache(maxsize=None)
def _missing_reference(library):
    """Why the reference cannot be imported, or None; asked once per test process (a torch
    import is about a second of CPU, and the suite asks before each of its ~60 references)."""
    found = subprocess.run([REFERENCE_PYTHON, "-c", f"import torch, torchvision, {library}"], capture_output=True,
                           text=True, env=ENV)
    if found.returncode != 0:
        return (f"The PyTorch reference is not installed for {REFERENCE_PYTHON} "
                f"({found.stderr.strip().splitlines()[-1] if found.stderr.strip() else 'no output'}). "
                f"Install it with: {INSTALL}")
    return None


def torchvision_reference(tmp_path, builder, *, size=64, batch=2, seed=0, legacy=False, library="torchvision",
                          kaiming=False, normalized=False, rename=None, **kwargs):
    """`kaiming`: He-initialize every Conv2d and Linear weight (torchvision's own init of
    GoogLeNet, a truncated normal of std 0.01, leaves logits that hardly depend on the
    image, so a wrong graph could pass), and fail unless the batch's images give logits
    that differ by IMAGE_DEPENDENCE of their scale. `normalized`: the images are whole
    [0, 255] values / 255 and the model is fed them normalized with ImageNet's mean / std,
    as torchvision's evaluation transforms feed it (our include_preprocessing=True takes
    images * 255). `rename`: (pattern, replacement), re.sub'd on each state_dict key
    before saving (a file as an older torchvision saved it)."""
    require_reference(library)
    out = str(tmp_path / builder)
    spec = {"builder": builder, "kwargs": kwargs, "size": size, "batch": batch, "seed": seed, "out": out,
            "legacy": legacy, "library": library, "kaiming": kaiming, "normalized": normalized, "rename": rename}
    done = subprocess.run([REFERENCE_PYTHON, "-c", SCRIPT, json.dumps(spec)], capture_output=True, text=True, env=ENV)
    if done.returncode != 0:
        raise RuntimeError(f"{library} reference {builder}({kwargs}) failed:\n{done.stderr[-3000:]}")
    reference = Reference(pathlib.Path(out + ".pth"), pathlib.Path(out + "_legacy.pth"),
                          np.load(out + "_x.npy"), np.load(out + "_y.npy"))
    if kaiming:
        assert image_dependence(reference.logits) > IMAGE_DEPENDENCE, (
            f"{builder}'s logits hardly depend on the image ({image_dependence(reference.logits):.1e})")
    return reference


IMAGE_DEPENDENCE = 5e-3  # the least max |logits(image 0) - logits(image 1)| / max |logits| a reference must show


def image_dependence(logits):
    """How much the logits of a batch's first two images differ, relative to their scale."""
    logits = np.asarray(logits)
    return float(np.max(np.abs(logits[0] - logits[1])) / np.max(np.abs(logits)))


def timm_reference(tmp_path, model_name, **kwargs):
    """timm.create_model(model_name, pretrained=False, **kwargs), as torchvision_reference."""
    return torchvision_reference(tmp_path, model_name, library="timm", **kwargs)


def run_torch(script, *args):
    """Runs a short torch script in the reference interpreter (for tests that write
    checkpoint files the way torch does)."""
    require_reference()
    done = subprocess.run([REFERENCE_PYTHON, "-c", textwrap.dedent(script), *map(str, args)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"torch script failed:\n{done.stderr[-3000:]}")
    return done.stdout


def relative_difference(ours, reference):
    """max |ours - reference| / max |reference|: the exactness figure (bound 1e-4)."""
    return float(np.max(np.abs(np.asarray(ours) - reference)) / np.max(np.abs(reference)))
