"""timm's weight sets by name (keras_lightnets.weights.sets.TIMM, timm_sets): offered
only for architectures tests/test_timm_reference.py checks against timm, each with the
knobs and the input normalization it was trained with, and served here from a file://
URL (this machine has no network): create_model(name, weights="timm") on [0, 255] pixels
(include_preprocessing=True, the registry's default) gives timm's logits for the same
images normalized with the set's mean / std, as timm's evaluation transform feeds them."""

import hashlib

import numpy as np
import pytest
import test_timm_reference
from torch_reference import IMAGE_DEPENDENCE
from torch_reference import image_dependence
from torch_reference import relative_difference
from torch_reference import timm_reference

import keras_lightnets as kl
from keras_lightnets.weights import download
from keras_lightnets.weights import sets
from keras_lightnets.weights import timm_sets
from eager import infer  # tests/eager.py: model(x) as numpy, no predict trace


def test_every_timm_set_is_on_an_architecture_the_suite_checks_against_timm_with_its_knobs():
    checked = {}
    for case in test_timm_reference.ARCHITECTURES:
        ours, timm_name, knobs = case.values if hasattr(case, "values") else case  # pytest.param or a tuple
        checked[(ours, timm_name)] = knobs
    for ours, (timm_name, knobs) in sets.TIMM.items():
        assert checked.get((ours, timm_name)) == knobs, f"{ours}: no reference test runs timm's {timm_name} with {knobs}"
        assert timm_name in timm_sets.SETS
        for weight_set in kl.model_info(ours).weights:
            if weight_set.name.startswith("timm."):
                extra = {k: v for k, v in weight_set.knobs.items() if k not in knobs}
                assert extra in ({}, {"normalization": sets.TIMM_NORMALIZATION[
                    (tuple(weight_set.preprocessing["mean"]), tuple(weight_set.preprocessing["std"]))]}), weight_set


def test_model_info_names_each_timm_set_with_its_file_recipe_and_published_figures():
    (lite0,) = [s for s in kl.model_info("efficientnet_lite0").weights if s.name.startswith("timm.")]
    assert lite0.name == "timm.tf_efficientnet_lite0.in1k" and lite0.default
    # timm 0.9.16's pretrained cfg, and its results/results-imagenet.csv at v0.9.16
    assert (lite0.url, lite0.sha256_prefix, lite0.top1, lite0.top5) == (
        "https://github.com/rwightman/pytorch-image-models/releases/download/v0.1-weights/tf_efficientnet_lite0-0aa007d2.pth",
        "0aa007d2", 74.832, 92.17)
    assert lite0.preprocessing == {"resize": 256, "crop": 224, "interpolation": "bicubic", "mean": [0.5, 0.5, 0.5],
                                   "std": [0.5, 0.5, 0.5]}
    assert lite0.knobs == {"normalization": "inception"} and "Apache-2.0" in lite0.license
    assert "results-imagenet.csv" in lite0.figures_source and "6e6f3686a7e06bcba37bbd3b7c755f04a516a1e7" in lite0.figures_source
    b0 = {s.name: s for s in kl.model_info("efficientnet_b0").weights}
    assert {"imagenet", "torchvision.IMAGENET1K_V1", "timm.tf_efficientnet_b0.ns_jft_in1k",
            "timm.tf_efficientnet_b0.ap_in1k", "timm.tf_efficientnet_b0.aa_in1k", "timm.tf_efficientnet_b0.in1k"} <= set(b0)
    assert sets.find("efficientnet_b0", tuple(b0.values()), "timm").name == "timm.tf_efficientnet_b0.ns_jft_in1k"
    assert b0["timm.tf_efficientnet_b0.ap_in1k"].knobs == {"layout": "keras", "normalization": "inception"}
    assert ("seresnet50", "timm.seresnet50.a1_in1k") in kl.list_pretrained("seresnet*")
    assert ("mnasnet_a1", "timm") not in kl.list_pretrained("mnasnet_a1")  # sets by full name; "timm" picks one
    with pytest.raises(ValueError, match=r"mnasnet_a1 has no weight set 'timm.x'; its sets: "
                                         r"\['timm', 'timm.semnasnet_100.rmsp_in1k'\]"):
        kl.create_model("mnasnet_a1", weights="timm.x")


def serve(tmp_path, monkeypatch, timm_name, tag):
    """timm's model (random weights, 1000 classes) published at a file:// URL as the
    architecture's only set, and an empty cache."""
    reference = timm_reference(tmp_path, timm_name, kaiming=timm_name in test_timm_reference.KAIMING,
                               size=test_timm_reference.SIZE.get(timm_name, 64))
    assert image_dependence(reference.logits) > IMAGE_DEPENDENCE  # else a wrong normalization could pass
    digest = hashlib.sha256(reference.checkpoint.read_bytes()).hexdigest()
    entry = {**timm_sets.SETS[timm_name][tag], "default": True, "url": reference.checkpoint.as_uri(),
             "sha256_prefix": digest[:8]}
    monkeypatch.setitem(timm_sets.SETS, timm_name, {tag: entry})
    monkeypatch.setenv(download.CACHE_ENV, str(tmp_path / "cache"))
    sets.weight_sets.cache_clear()
    return reference, entry


@pytest.mark.parametrize("ours, timm_name, tag", [
    ("efficientnet_b0", "tf_efficientnet_b0", "ns_jft_in1k"),  # ImageNet's mean / std in a weighted Normalization
    ("efficientnet_lite0", "tf_efficientnet_lite0", "in1k"),  # mean 0.5, std 0.5
    pytest.param("efficientnet_b0", "tf_efficientnet_b0", "ap_in1k", marks=pytest.mark.slow),  # AdvProp: 0.5, 0.5
    pytest.param("mobilenet_v3_small", "tf_mobilenetv3_small_100", "in1k", marks=pytest.mark.slow),
    pytest.param("seresnet50", "seresnet50", "a1_in1k", marks=pytest.mark.slow),
    pytest.param("mnasnet_a1", "semnasnet_100", "rmsp_in1k", marks=pytest.mark.slow),
    ("xception", "legacy_xception", "tf_in1k"),  # layout="timm_legacy" from the set; mean 0.5, std 0.5
])
def test_weights_timm_on_pixels_gives_timms_logits_on_the_normalized_images(tmp_path, monkeypatch, ours, timm_name, tag):
    reference, entry = serve(tmp_path, monkeypatch, timm_name, tag)
    try:
        size = reference.images.shape[1]
        model = kl.create_model(ours, weights="timm", input_shape=(size, size, 3), classifier_activation=None)
        mean, std = (np.array(entry["transform"][k], "float32") for k in ("mean", "std"))
        # timm was fed `images`; these pixels, in [0, 255], are what normalizes to them
        pixels = 255.0 * (reference.images * std + mean)
        assert pixels.min() >= 0 and pixels.max() <= 255
        assert relative_difference(infer(model, pixels), reference.logits) < 1e-4
    finally:
        sets.weight_sets.cache_clear()
