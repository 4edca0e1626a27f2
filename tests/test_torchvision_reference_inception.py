"""GoogLeNet and Inception V3 against torchvision 0.14's own forward pass: built with
layout="torchvision" and loaded from torchvision's state_dict (read without torch,
through the family's weights= path), they give its logits within 1e-4 of their scale
(random weights and BatchNorm statistics, 10 classes, the plain graph: transform_input
off). Measured at commit time: GoogLeNet 9.2e-7 (64), 1.0e-6 (57), aux heads 7.4e-7 to
1.2e-6 (96); Inception V3 1.35e-6 (75), main and aux 1.1e-6 to 1.2e-6 (299). Each switch
matters: TensorFlow's padding of conv1 gives 8e-2, "same" max pools 0.2, keras' average pools 1.2.

The reference is torch_reference's, with one change, made here through its run_torch:
torchvision's own initializations (GoogLeNet's truncated normal, std 0.01) under
random BatchNorm statistics leave logits that hardly depend on the image (the two
images' logits differ by 1.5e-7 of their scale), so a wrong padding or pooling would
pass. He initialization of the convolutions keeps the image in the logits (1e-2 to
5e-2), and every test checks that it is there.
"""

import json
import textwrap

import numpy as np
import pytest
from torch_reference import relative_difference
from torch_reference import run_torch

import keras_lightnets as kl
from keras_lightnets.models.inception import GoogLeNet
from keras_lightnets.models.inception import InceptionV3
from eager import infer  # tests/eager.py: model(x) as numpy, no predict trace

PLAIN = {"transform_input": False, "init_weights": True}  # torchvision's graph as it is; its fast init

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np, torch, torchvision

    spec = json.loads(sys.argv[1])
    torch.manual_seed(spec["seed"])
    model = getattr(torchvision.models, spec["builder"])(**spec["kwargs"])
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):  # the image reaches the logits
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
        if isinstance(module, torch.nn.BatchNorm2d):  # as torch_reference: a mismatched statistic cannot hide
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 1.5)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.5, 0.5)
    model.eval()
    if spec["kwargs"].get("aux_logits"):  # the auxiliary heads run in training mode only: BN and dropout frozen
        model.train()
        for module in model.modules():
            if isinstance(module, (torch.nn.BatchNorm2d, torch.nn.Dropout)):
                module.eval()
    heads = {}  # each auxiliary head's output, by its module (0.14's GoogLeNetOutputs swaps aux1 and aux2)
    for name in ("aux1", "aux2", "AuxLogits"):
        if getattr(model, name, None) is not None:
            getattr(model, name).register_forward_hook(lambda module, inputs, y, name=name: heads.update({name: y}))
    x = torch.rand(spec["batch"], 3, spec["size"], spec["size"])
    with torch.no_grad():
        y = model(x)
    outputs = [y if isinstance(y, torch.Tensor) else y.logits]
    outputs += [heads[n] for n in ("aux1", "aux2", "AuxLogits") if n in heads]
    torch.save(model.state_dict(), spec["out"] + ".pth")
    np.save(spec["out"] + "_x.npy", x.numpy().transpose(0, 2, 3, 1))
    np.save(spec["out"] + "_y.npy", np.stack([o.numpy() for o in outputs]))
    """
)


def reference(tmp_path, builder, *, size, batch=2, seed=0, **kwargs):
    """(checkpoint, NHWC images in [0, 1), [logits of each output]) of torchvision's model."""
    out = str(tmp_path / builder)
    spec = {"builder": builder, "kwargs": {"num_classes": 10, **PLAIN, **kwargs}, "size": size, "batch": batch,
            "seed": seed, "out": out}
    run_torch(SCRIPT, json.dumps(spec))
    logits = np.load(out + "_y.npy")
    for y in logits:  # the image is in the logits: a wrong padding or pooling cannot hide
        assert np.max(np.abs(y[0] - y[1])) > 5e-3 * np.max(np.abs(y))
    return out + ".pth", np.load(out + "_x.npy"), list(logits)


# (our registry name, torchvision's builder, the knobs of torchvision's weight set, input size)
ARCHITECTURES = [
    # 64: even maps (conv1's symmetric padding differs from "same"; ceil_mode pools
    # equal it); 57: odd maps after conv1, maxpool2 and maxpool3, where ceil_mode
    # pooling keeps a row that "same" would add.
    ("googlenet", "googlenet", {"layout": "torchvision"}, 64),
    ("googlenet", "googlenet", {"layout": "torchvision"}, 57),
    # The minimum size: the average pools' zero-padded borders count (count_include_pad).
    ("inception_v3", "inception_v3", {"layout": "torchvision"}, 75),
]


@pytest.mark.parametrize("ours, torchvision_name, knobs, size", ARCHITECTURES)
def test_forward_pass_equals_torchvision(tmp_path, ours, torchvision_name, knobs, size):
    checkpoint, images, (logits,) = reference(tmp_path, torchvision_name, size=size, aux_logits=False)
    model = kl.create_model(ours, weights=checkpoint, input_shape=(size, size, 3), classes=10,
                            include_preprocessing=False, classifier_activation=None, **knobs)
    assert relative_difference(infer(model, images), logits) < 1e-4


def test_googlenet_aux_heads_equal_torchvisions(tmp_path):
    """torchvision's published GoogLeNet file holds its (untrained) auxiliary heads: a model
    with aux_logits=True takes it whole, and its three outputs are torchvision's
    (adaptive 4x4 pooling as torchvision's, so any fixed size: 96 gives overlapping bins
    from a 6x6 map; fc1 reads torch's C,H,W flattening)."""
    checkpoint, images, logits = reference(tmp_path, "googlenet", size=96, aux_logits=True)
    model = GoogLeNet(weights=checkpoint, aux_logits=True, layout="torchvision", input_shape=(96, 96, 3), classes=10,
                      classifier_activation=None)
    assert model.get_layer("aux1_pool").input.shape[1:3] == (6, 6)
    for ours, theirs in zip(infer(model, images), logits, strict=True):
        assert relative_difference(ours, theirs) < 1e-4


@pytest.mark.slow  # 299x299 (the aux head's 5x5 convolution needs the full 17x17 grid), a 109 MB checkpoint: ~25 s
def test_inception_v3_aux_head_equals_torchvisions(tmp_path):
    """torchvision's published Inception V3 file holds its AuxLogits head: a model with
    aux_logits=True takes it whole, and both outputs are torchvision's."""
    checkpoint, images, logits = reference(tmp_path, "inception_v3", size=299, aux_logits=True)
    model = InceptionV3(weights=checkpoint, aux_logits=True, layout="torchvision", input_shape=(299, 299, 3),
                        classes=10, classifier_activation=None)
    for ours, theirs in zip(infer(model, images), logits, strict=True):
        assert relative_difference(ours, theirs) < 1e-4


def test_the_keras_layout_is_the_default_and_keeps_its_graph():
    """layout="keras" (the default) is today's graph: keras.applications' / the paper's
    counts; "torchvision" has torchvision's num_params (GoogLeNet without aux heads,
    Inception V3 with its AuxLogits head, as torchvision counts them)."""

    def trainable(model):
        return sum(int(np.prod(w.shape)) for w in model.trainable_weights)

    small = {"input_shape": (75, 75, 3)}  # the counts do not depend on the size; the aux head needs 299
    assert InceptionV3(**small).count_params() == InceptionV3(layout="keras", **small).count_params() == 23_851_784
    assert trainable(InceptionV3(layout="torchvision", aux_logits=True)) == 27_161_264
    assert trainable(GoogLeNet(**small)) == trainable(GoogLeNet(layout="keras", **small)) == 7_005_832
    assert trainable(GoogLeNet(layout="torchvision", **small)) == 6_624_904
    with pytest.raises(ValueError, match="layout"):
        GoogLeNet(layout="torch")
    with pytest.raises(ValueError, match="layout='keras'"):
        InceptionV3(weights="imagenet", layout="torchvision")
