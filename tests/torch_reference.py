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
    model.eval()
    x = torch.rand(spec["batch"], 3, spec["size"], spec["size"])
    with torch.no_grad():
        y = model(x)
    out = spec["out"]
    torch.save(model.state_dict(), out + ".pth")
    if spec["legacy"]:
        torch.save(model.state_dict(), out + "_legacy.pth", _use_new_zipfile_serialization=False)
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
    found = subprocess.run([REFERENCE_PYTHON, "-c", f"import torch, torchvision, {library}"], capture_output=True,
                           text=True, env=ENV)
    if found.returncode != 0:
        pytest.fail(f"The PyTorch reference is not installed for {REFERENCE_PYTHON} "
                    f"({found.stderr.strip().splitlines()[-1] if found.stderr.strip() else 'no output'}). "
                    f"Install it with: {INSTALL}", pytrace=False)


def torchvision_reference(tmp_path, builder, *, size=64, batch=2, seed=0, legacy=False, library="torchvision", **kwargs):
    require_reference(library)
    out = str(tmp_path / builder)
    spec = {"builder": builder, "kwargs": kwargs, "size": size, "batch": batch, "seed": seed, "out": out,
            "legacy": legacy, "library": library}
    done = subprocess.run([REFERENCE_PYTHON, "-c", SCRIPT, json.dumps(spec)], capture_output=True, text=True, env=ENV)
    if done.returncode != 0:
        raise RuntimeError(f"{library} reference {builder}({kwargs}) failed:\n{done.stderr[-3000:]}")
    return Reference(pathlib.Path(out + ".pth"), pathlib.Path(out + "_legacy.pth"),
                     np.load(out + "_x.npy"), np.load(out + "_y.npy"))


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
