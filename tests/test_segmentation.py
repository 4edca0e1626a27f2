"""The papers' segmentation networks (issue 18): MobileNetV3's segmentation backbone knobs
(reduced_tail, dilated), the heads of kl.heads (LR-ASPP, DeepLabV3's ASPP) on any
features_only backbone, and the registered lraspp_mobilenet_v3_large / _small and
deeplabv3_mobilenet_v3_large: parameter counts and forward pass against torchvision 0.14
(its state_dict through weights=, random weights and BatchNorm statistics, 'out' logits),
training with model.fit, TFLite float32 conversion."""

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
from torch_reference import torchvision_reference

import keras_lightnets as kl
from keras_lightnets.models import segmentation

from figures import at_least  # tests/figures.py: bounds on trained figures, measured across seeds
from figures import at_most
from eager import infer  # tests/eager.py: model(x) as numpy, no predict trace

TORCHVISION = {"layout": "torchvision"}

# torchvision's segmentation models, built as its builders do (weights=None,
# weights_backbone=None), or by its own construction where it has no builder (LR-ASPP on
# Small; DeepLabV3 with other atrous rates); random weights and BN statistics, 'out' saved NHWC.
SEGMENTATION_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np, torch, torchvision
    from torch import nn
    from torchvision.models import segmentation as S
    from torchvision.models.segmentation.lraspp import _lraspp_mobilenetv3
    from torchvision.models.segmentation.deeplabv3 import ASPP, DeepLabV3

    spec = json.loads(sys.argv[1])
    torch.manual_seed(spec["seed"])
    classes, tail = spec["classes"], spec["reduced_tail"]
    backbone = lambda arch: getattr(torchvision.models, arch)(weights=None, dilated=True, reduced_tail=tail)
    if spec["builder"] == "lraspp":
        model = _lraspp_mobilenetv3(backbone(spec["arch"]), classes)
    elif spec["builder"] == "deeplabv3":
        rates = spec["rates"]
        model = S.deeplabv3_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=classes,
                                               aux_loss=spec["aux"])
        if rates != [12, 24, 36] or tail:
            features = backbone(spec["arch"]).features
            head = nn.Sequential(ASPP(features[-1].out_channels, rates), nn.Conv2d(256, 256, 3, padding=1, bias=False),
                                 nn.BatchNorm2d(256), nn.ReLU(), nn.Conv2d(256, classes, 1))
            from torchvision.models._utils import IntermediateLayerGetter
            model = DeepLabV3(IntermediateLayerGetter(features, {str(len(features) - 1): "out"}), head)
    # BatchNorm statistics of the model's own activations (on other images), then moved at
    # random, with random affine terms: a mismatched one cannot hide, and the signal lasts
    # through the depth (torchvision's init under arbitrary statistics leaves deep
    # features that hardly depend on the image).
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for module in norms:
        module.momentum = None  # a cumulative average: the calibration batch's statistics
        module.weight.data.uniform_(0.5, 1.5)
        module.bias.data.uniform_(-0.5, 0.5)
    model.train()
    with torch.no_grad():
        # images of four brightnesses: pooled maps (ASPP's image pooling) vary over the batch too
        model(torch.rand(4, 3, spec["size"], spec["size"]) * torch.linspace(0.25, 1, 4).view(4, 1, 1, 1))
    for module in norms:
        module.running_mean.add_(module.running_var.sqrt() * (torch.rand_like(module.running_mean) - 0.5) * 0.5)
        floor = module.running_var.mean()  # no near-dead channel blown up (it would amplify rounding)
        module.running_var.copy_(module.running_var.clamp(min=floor) * (torch.rand_like(module.running_var) + 0.5))
    model.eval()
    x = torch.rand(spec["batch"], 3, spec["size"], spec["size"])
    x[1::2] = x[1::2] * 0.5 + torch.linspace(0, 0.5, spec["size"])  # unlike noise: deep features that differ
    with torch.no_grad():
        y = model(x)["out"]
    out = spec["out"]
    torch.save(model.state_dict(), out + ".pth")
    np.save(out + "_x.npy", x.numpy().transpose(0, 2, 3, 1))
    np.save(out + "_y.npy", y.numpy().transpose(0, 2, 3, 1))
    print(json.dumps({"params": sum(p.numel() for p in model.parameters())}))
    """
)


def segmentation_reference(tmp_path, builder, arch="mobilenet_v3_large", *, classes=5, size=64, batch=2, seed=0,
                           reduced_tail=False, rates=(12, 24, 36), aux=False):
    """torchvision's segmentation model on random [0, 1) images: (checkpoint, images NHWC,
    'out' logits NHWC, its parameter count)."""
    require_reference()
    out = str(tmp_path / f"{builder}_{arch}")
    spec = {"builder": builder, "arch": arch, "classes": classes, "size": size, "batch": batch, "seed": seed,
            "reduced_tail": reduced_tail, "rates": list(rates), "aux": aux, "out": out}
    done = subprocess.run([REFERENCE_PYTHON, "-c", SEGMENTATION_SCRIPT, json.dumps(spec)], capture_output=True,
                          text=True, env=ENV)
    if done.returncode != 0:
        raise RuntimeError(f"torchvision reference {spec} failed:\n{done.stderr[-3000:]}")
    logits = np.load(out + "_y.npy")
    assert image_dependence(logits) > 5e-3, f"{builder}'s logits hardly depend on the image"
    return (pathlib.Path(out + ".pth"), np.load(out + "_x.npy"), logits,
            json.loads(done.stdout.strip().splitlines()[-1])["params"])


def trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


# ------------------------------------------------------------- the backbone's knobs


# The registered segmentation models' checks below cover dilated Large and Small, and
# reduced Large: these classifiers run in make test-all.
@pytest.mark.slow
@pytest.mark.parametrize("torchvision_name, knobs", [
    ("mobilenet_v3_large", {"reduced_tail": True, "dilated": True}),
    ("mobilenet_v3_small", {"reduced_tail": True, "dilated": True}),  # Small's reduced first block: no shortcut
    ("mobilenet_v3_small", {"reduced_tail": True}),
])
def test_backbone_knobs_equal_torchvisions(tmp_path, torchvision_name, knobs):
    reference = torchvision_reference(tmp_path, torchvision_name, num_classes=10, **knobs)
    model = kl.create_model(torchvision_name, weights=str(reference.checkpoint), input_shape=(64, 64, 3), classes=10,
                            include_preprocessing=False, classifier_activation=None, **TORCHVISION, **knobs)
    assert relative_difference(infer(model, reference.images), reference.logits) < 1e-4


def test_backbone_knobs_default_off_and_shape_the_last_stage():
    # (the default counts, keras.applications', are test_torchvision_reference_mobilenet's)
    dilated = kl.MobileNetV3Large(input_shape=(64, 64, 3), features_only=True, out_strides=(8, 16), dilated=True)
    assert [tuple(o.shape) for o in dilated.outputs] == [(None, 8, 8, 40), (None, 4, 4, 960)]
    assert dilated.get_layer("expanded_conv_12_depthwise").dilation_rate == (2, 2)
    assert dilated.count_params() == 2_996_352  # MobileNetV3Large(include_top=False)'s: the same weights
    reduced = kl.MobileNetV3Small(input_shape=(64, 64, 3), reduced_tail=True, classes=10)
    assert reduced.get_layer("conv_1").filters == 288 and reduced.get_layer("conv_2").filters == 512
    with pytest.raises(ValueError, match="reduced_tail=True halves"):
        kl.MobileNetV3Large(reduced_tail=True, weights="imagenet")
    with pytest.raises(ValueError, match="`dilated` must be True or False"):
        kl.MobileNetV3Large(dilated=1)
    with pytest.raises(ValueError, match=r"out_strides.*\[2, 4, 8, 16\]"):
        kl.MobileNetV3Large(features_only=True, dilated=True, input_shape=(64, 64, 3))  # no stride 32 left


def test_mobilenet_v2_output_stride_dilates_as_the_authors_code():
    """TF-slim's rule (the V2 paper's DeepLab backbone): the block that would pass the
    output stride runs at stride 1 and the rate it had, the later ones dilated."""
    model = kl.MobileNetV2(input_shape=(64, 64, 3), features_only=True, out_strides=(8, 16), output_stride=16)
    assert [tuple(o.shape) for o in model.outputs] == [(None, 8, 8, 32), (None, 4, 4, 1280)]
    assert [(model.get_layer(f"block_{i}_depthwise").strides, model.get_layer(f"block_{i}_depthwise").dilation_rate)
            for i in (12, 13, 14, 16)] == [((1, 1), (1, 1)), ((1, 1), (1, 1)), ((1, 1), (2, 2)), ((1, 1), (2, 2))]
    eight = kl.MobileNetV2(input_shape=(64, 64, 3), features_only=True, out_strides=(8,), output_stride=8)
    assert eight.get_layer("block_16_depthwise").dilation_rate == (4, 4)
    assert eight.count_params() == 2_257_984  # MobileNetV2(include_top=False)'s: the same weights
    with pytest.raises(ValueError, match="`output_stride` must be 32, 16 or 8"):
        kl.MobileNetV2(output_stride=4)


# -------------------------------------------------------- against torchvision's models


# (our builder, torchvision's construction, its architecture, our arguments, torchvision's
# arguments). Measured relative differences (seed 0, 64x64, 5 classes): LR-ASPP Large 8.5e-7,
# Small 8.8e-7, Large reduced_tail 2.8e-6, Small reduced_tail 6.1e-7; DeepLabV3 rates
# (1, 2, 3) 2.0e-6, torchvision's (12, 24, 36) at 224x224 8.3e-6.
CASES = [
    ("lraspp_mobilenet_v3_large", "lraspp", "mobilenet_v3_large", {}, {}),
    # At 64 px the stride-16 map is 4x4, where rates 12-36 see only their centre tap:
    # small rates check the dilation itself; torchvision's own rates in make test-all.
    ("deeplabv3_mobilenet_v3_large", "deeplabv3", "mobilenet_v3_large", {"atrous_rates": (1, 2, 3)},
     {"rates": (1, 2, 3)}),
    pytest.param("lraspp_mobilenet_v3_small", "lraspp", "mobilenet_v3_small", {}, {}, marks=pytest.mark.slow),
    pytest.param("deeplabv3_mobilenet_v3_large", "deeplabv3", "mobilenet_v3_large", {}, {"size": 224},
                 marks=pytest.mark.slow),  # a 14x14 map: rate 12 reaches past the centre
    pytest.param("lraspp_mobilenet_v3_large", "lraspp", "mobilenet_v3_large", {"reduced_tail": True},
                 {"reduced_tail": True}, marks=pytest.mark.slow),
    pytest.param("lraspp_mobilenet_v3_small", "lraspp", "mobilenet_v3_small", {"reduced_tail": True},
                 {"reduced_tail": True}, marks=pytest.mark.slow),
]


def _builder(name):
    return {"lraspp": segmentation.LRASPPMobileNetV3, "deeplabv3": segmentation.DeepLabV3MobileNetV3}[
        name.split("_")[0]]


def _model_type(name):
    return name.rsplit("_", 1)[1]


def _case_id(case):
    ours, _, _, knobs, _ = getattr(case, "values", case)
    return ours + "".join(f"-{k}={v}" for k, v in knobs.items())


@pytest.mark.parametrize("ours, builder, arch, knobs, torchvision_knobs", CASES, ids=[_case_id(c) for c in CASES])
def test_forward_pass_equals_torchvision(tmp_path, ours, builder, arch, knobs, torchvision_knobs):
    checkpoint, images, logits, params = segmentation_reference(tmp_path, builder, arch, **torchvision_knobs)
    size = torchvision_knobs.get("size", 64)
    model = _builder(ours)(input_shape=(size, size, 3), model_type=_model_type(ours), classes=5,
                           weights=str(checkpoint), include_preprocessing=False, classifier_activation=None,
                           **TORCHVISION, **knobs)
    ours_logits = infer(model, images)
    assert ours_logits.shape == logits.shape == (2, size, size, 5)
    assert relative_difference(ours_logits, logits) < 1e-4
    assert trainable(model) == params


@pytest.mark.slow
def test_the_keras_layout_is_not_torchvisions_and_the_auxiliary_head_is_left_out(tmp_path):
    """torchvision's published DeepLabV3 files hold its auxiliary FCN head (aux_loss=True):
    they load without it; the same file on layout='keras' (TensorFlow's padding) differs."""
    checkpoint, images, logits, params = segmentation_reference(tmp_path, "deeplabv3", aux=True)
    knobs = {"input_shape": (64, 64, 3), "classes": 5, "weights": str(checkpoint), "include_preprocessing": False,
             "classifier_activation": None}
    model = segmentation.DeepLabV3MobileNetV3(**TORCHVISION, **knobs)
    assert relative_difference(infer(model, images), logits) < 1e-4
    assert params > trainable(model)  # the auxiliary head's weights, not built
    keras_layout = segmentation.DeepLabV3MobileNetV3(**knobs)
    assert relative_difference(infer(keras_layout, images), logits) > 1e-3


def test_parameter_counts_equal_torchvisions_at_21_classes():
    """torchvision 0.14's counts, measured with /usr/bin/python3: lraspp_mobilenet_v3_large
    (num_classes=21) 3,221,538 (its num_params), deeplabv3_mobilenet_v3_large(num_classes=21,
    aux_loss=False) 11,025,477, and its construction on Small,
    _lraspp_mobilenetv3(mobilenet_v3_small(dilated=True), 21), 1,077,954. Both layouts
    hold the same weights; BatchNorm's moving statistics are counted apart."""
    for name, count, statistics in [("lraspp_mobilenet_v3_large", 3_221_538, 24_656),
                                    ("deeplabv3_mobilenet_v3_large", 11_025_477, 27_984),
                                    ("lraspp_mobilenet_v3_small", 1_077_954, 12_368),
                                    # the V2 paper's Table 7 prints 2.11M (MNet V2*, OS 16, no ASPP)
                                    ("deeplabv3_mobilenet_v2", 2_113_557, 33_088)]:
        model = kl.create_model(name, input_shape=(64, 64, 3))
        assert (trainable(model), model.count_params() - trainable(model)) == (count, statistics), name
        assert model.output.shape == (None, 64, 64, 21)


# ------------------------------------------------------------ heads on any backbone


def test_heads_take_any_features_only_backbone():
    """kl.heads on another family's backbone: EfficientNet-Lite0's strides 8 and 32 (LR-ASPP),
    MobileNetV2's deepest map (DeepLabV3); one flat model whose layers are the backbone's."""
    backbone = kl.create_model("efficientnet_lite0", features_only=True, input_shape=(64, 64, 3))
    model = kl.heads.LRASPP(backbone, classes=21)
    assert model.output.shape == (None, 64, 64, 21)
    assert {layer.name for layer in backbone.layers} <= {layer.name for layer in model.layers}
    assert not any(isinstance(layer, keras.Model) for layer in model.layers)
    assert model.get_layer("lraspp_low_classifier").input.shape[1:3] == (8, 8)
    assert model.get_layer("lraspp_cbr_conv").input.shape[1:3] == (2, 2)
    deeplab = kl.heads.DeepLabV3(kl.create_model("mobilenet_v2", features_only=True, input_shape=(64, 64, 3),
                                                 out_strides=(16,)), classes=3)
    probabilities = infer(deeplab, np.zeros((1, 64, 64, 3), "float32"))
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, rtol=1e-5)


@pytest.mark.slow
def test_open_spatial_dims_give_logits_at_the_fed_size():
    model = kl.heads.LRASPP(kl.MobileNetV3Small(features_only=True, out_strides=(8, 32), include_preprocessing=True),
                            classes=4)
    assert model.input.shape == (None, None, None, 3)
    assert infer(model, np.zeros((1, 72, 40, 3), "float32")).shape == (1, 72, 40, 4)


def test_heads_refuse_what_they_cannot_serve():
    backbone = kl.create_model("mobilenet_v3_small", features_only=True, input_shape=(64, 64, 3), out_strides=(16,))
    with pytest.raises(ValueError, match=r"`low` must be one of the output strides .*\[16\]"):
        kl.heads.LRASPP(backbone, classes=21)
    two = kl.create_model("mobilenet_v3_small", features_only=True, input_shape=(64, 64, 3), out_strides=(8, 16))
    with pytest.raises(ValueError, match="finer than the high-level one"):
        kl.heads.LRASPP(two, classes=21, low=16, high=8)
    with pytest.raises(ValueError, match="not a layer of backbone"):
        kl.heads.LRASPP(two, classes=21, low="no_such_layer")
    with pytest.raises(ValueError, match="`classes` must be a positive int"):
        kl.heads.DeepLabV3(two, classes=0)
    with pytest.raises(ValueError, match="`atrous_rates` must be positive ints"):
        kl.heads.DeepLabV3(two, classes=2, atrous_rates=(0, 6))
    with pytest.raises(ValueError, match="features_only=True"):
        kl.heads.LRASPP(kl.create_model("mobilenet_v3_small", input_shape=(64, 64, 3)), classes=2)
    with pytest.raises(ValueError, match="a Keras model of the zoo's features_only mode"):
        kl.heads.LRASPP("mobilenet_v3_small", classes=2)
    with pytest.raises(ValueError, match="backbone_weights='imagenet'"):
        kl.create_model("lraspp_mobilenet_v3_large", weights="imagenet")


# ------------------------------------------------------------------- fit and TFLite

SIZE = 48


def _scenes(photos):
    """Scikit-image's photos and their mirror images, each pixel labelled by its
    brightness tertile in its photo (dark, middle, bright): 12 images, 3 classes."""
    images = photos(SIZE).astype("float32")
    images = np.concatenate([images, images[:, :, ::-1]])
    gray = images.mean(-1)
    edges = np.quantile(gray.reshape(len(gray), -1), [1 / 3, 2 / 3], axis=1).T[:, None, None, :]
    return images, (gray[..., None] > edges).sum(-1).astype("int32")


@pytest.fixture(scope="module")
def trained(photos):
    keras.utils.set_random_seed(0)
    images, masks = _scenes(photos)
    model = kl.create_model("lraspp_mobilenet_v3_small", input_shape=(SIZE, SIZE, 3), classes=3)
    # per-pixel probabilities (the default softmax) and labels; eagerly: tracing the
    # training step costs more than these 12 steps
    model.compile(keras.optimizers.Adam(5e-3), "sparse_categorical_crossentropy", metrics=["accuracy"],
                  run_eagerly=True)
    history = model.fit(images, masks, batch_size=12, epochs=8, verbose=0)
    return model, history.history


def test_fit_learns_per_pixel_labels_on_real_photos(trained):
    """Measured (48 px, 8 epochs of one step of 12): seed 0 loss 1.336 -> 0.825, pixel
    accuracy 0.38 -> 0.615; seed 1 1.319 -> 0.868, 0.35 -> 0.59 (chance 1/3)."""
    _, history = trained
    losses, accuracy = history["loss"], history["accuracy"]
    at_most("LR-ASPP Small on the brightness scenes: last / first epoch loss", losses[-1] / losses[0], 0.75)
    at_least("LR-ASPP Small on the brightness scenes: last epoch pixel accuracy", accuracy[-1], 0.55)


@pytest.mark.slow  # 10-16 s of conversion
def test_float32_tflite_agrees_with_keras(trained, photos, tmp_path):
    model, _ = trained
    report = kl.tflite.convert(model, tmp_path / "lraspp.tflite", verify=True, verify_data=photos(SIZE))
    assert report.input_shape == (1, SIZE, SIZE, 3)
    assert report.fidelity["max_abs_diff"] <= 1e-4
    assert report.op_counts["RESIZE_BILINEAR"] == 2 and report.op_counts["HARD_SWISH"] > 0


@pytest.mark.slow
def test_keras_file_round_trip_in_safe_mode(photos, tmp_path):
    model = kl.create_model("lraspp_mobilenet_v3_small", input_shape=(SIZE, SIZE, 3), classes=4)
    model.save(tmp_path / "lraspp.keras")
    loaded = keras.models.load_model(tmp_path / "lraspp.keras", safe_mode=True)  # ResizeLike is registered
    x = photos(SIZE).astype("float32")
    np.testing.assert_array_equal(infer(loaded, x), infer(model, x))


@pytest.mark.slow
def test_int8_and_qat_files_are_fully_integer(trained, photos, tmp_path):
    """Measured (the trained LR-ASPP Small, 48 px): int8 and QAT both fully integer (uint8
    in), RESIZE_BILINEAR and SOFTMAX in int8."""
    from keras_lightnets.tflite.qat import quantize_aware

    model, _ = trained
    images = photos(SIZE).astype("float32")
    int8 = kl.tflite.convert(model, tmp_path / "int8.tflite", quantization="int8", input_type="uint8",
                             representative_data=images, verify=True, verify_data=images)
    qat = kl.tflite.convert(quantize_aware(model, images), tmp_path / "qat.tflite", quantization="int8",
                            input_type="uint8", verify=True, verify_data=images)
    for report in (int8, qat):
        assert report.fully_integer and report.op_counts["RESIZE_BILINEAR"] == 2
        assert report.fidelity["mean_abs_diff"] < 0.05, report.fidelity


def test_the_segmentation_recipe_skips_unlabelled_pixels():
    """torchvision's recipe (SGD, poly 0.9) with its ignore label 255 in the per-pixel loss."""
    recipe = kl.training.recipe("lraspp_mobilenet_v3_large", batch_size=8, steps_per_epoch=10)
    assert recipe.name == "segmentation" and recipe.spec.schedule == "poly"
    probabilities = np.full((1, 2, 2, 3), 1 / 3, "float32")
    probabilities[0, 0, 0] = (0.98, 0.01, 0.01)
    labels = np.array([[[0, 255], [255, 255]]], "int32")  # one labelled pixel, predicted well
    assert float(recipe.loss(labels, probabilities)) == pytest.approx(-np.log(0.98), rel=1e-4)
