"""Published weight sets by name: kl.list_pretrained, model_info(...).weights, and
create_model(..., weights="torchvision") downloading (here from a file:// URL the test
writes: this machine has no network), checking the hash, caching, and loading."""

import hashlib
import importlib
import os
import pathlib

import numpy as np
import pytest
from torch_reference import relative_difference
from torch_reference import torchvision_reference

import keras_lightnets as kl
from keras_lightnets.weights import download
from keras_lightnets.weights import sets
from keras_lightnets.weights import torchvision_sets
from eager import infer  # tests/eager.py: model(x) as numpy, no predict trace

TESTS = pathlib.Path(__file__).parent


def checked_against_torchvision():
    """{(ours, torchvision's)} of every tests/test_torchvision_reference*.py ARCHITECTURES."""
    pairs = set()
    for path in TESTS.glob("test_torchvision_reference*.py"):
        module = importlib.import_module(path.stem)
        for case in module.ARCHITECTURES:
            values = case.values if hasattr(case, "values") else case  # pytest.param or a tuple
            pairs.add((values[0], values[1]))
    return pairs


def test_every_torchvision_set_is_on_an_architecture_the_suite_checks_against_torchvision():
    checked = checked_against_torchvision()
    for ours, (torchvision_name, _) in sets.TORCHVISION.items():
        assert (ours, torchvision_name) in checked, f"{ours}: no reference test runs torchvision's {torchvision_name}"
        assert torchvision_name in torchvision_sets.SETS


def test_list_pretrained_and_model_info_name_each_set_with_its_figures():
    assert ("resnet18", "torchvision.IMAGENET1K_V1") in kl.list_pretrained("resnet*")
    assert ("mobilenet_v2", "imagenet") in kl.list_pretrained("mobilenet*")
    assert all(name.startswith("shufflenet") for name, _ in kl.list_pretrained("shufflenet*"))
    (resnet18,) = [s for s in kl.model_info("resnet18").weights if s.name.startswith("torchvision")]
    # torchvision 0.14's ResNet18_Weights.IMAGENET1K_V1, as its enum gives them
    assert (resnet18.url, resnet18.sha256_prefix, resnet18.top1, resnet18.top5) == (
        "https://download.pytorch.org/models/resnet18-f37072fd.pth", "f37072fd", 69.758, 89.078)
    assert resnet18.preprocessing == {"resize": 256, "crop": 224, "interpolation": "bilinear",
                                      "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
    assert len(resnet18.class_names) == 1000 and resnet18.class_names[281] == "tabby"
    (keras_set,) = [s for s in kl.model_info("mobilenet_v2").weights if s.name == "imagenet"]
    assert (keras_set.top1, keras_set.top5) == (71.3, 90.1)  # keras.io's table


def test_an_unknown_set_or_a_pretrained_classifier_of_another_size_is_refused_by_name():
    with pytest.raises(ValueError, match=r"resnet18 has no weight set 'torchvision.IMAGENET1K_V9'; its sets: "
                                         r"\['torchvision', 'torchvision.IMAGENET1K_V1'\]"):
        kl.create_model("resnet18", weights="torchvision.IMAGENET1K_V9")
    with pytest.raises(ValueError, match="has no weight set 'torchvision'; its sets: none"):
        kl.create_model("zfnet", weights="torchvision")
    with pytest.raises(ValueError, match="1000-class classifier; received classes=10. For your own classes use "
                                         "include_top=False"):
        kl.create_model("resnet18", weights="torchvision", classes=10)


def serve(tmp_path, monkeypatch, torchvision_name, **options):
    """torchvision's model (random weights, 1000 classes) published at a file:// URL in
    place of download.pytorch.org as its only set, and an empty cache (`options`:
    torchvision_reference's)."""
    reference = torchvision_reference(tmp_path, torchvision_name, **{"size": 64, **options})
    digest = hashlib.sha256(reference.checkpoint.read_bytes()).hexdigest()
    entry = {**torchvision_sets.SETS[torchvision_name]["IMAGENET1K_V1"], "default": True,
             "url": reference.checkpoint.as_uri(), "sha256_prefix": digest[:8]}
    monkeypatch.setitem(torchvision_sets.SETS, torchvision_name, {"IMAGENET1K_V1": entry})
    monkeypatch.setenv(download.CACHE_ENV, str(tmp_path / "cache"))
    sets.weight_sets.cache_clear()
    return reference


@pytest.fixture
def served_resnet18(tmp_path, monkeypatch):
    yield serve(tmp_path, monkeypatch, "resnet18")
    sets.weight_sets.cache_clear()


def test_a_set_builds_the_architecture_it_was_trained_on_and_refuses_another(tmp_path, monkeypatch):
    """ResNet-50's torchvision set needs layout='torchvision' (stride on the 3x3, its names):
    the set chooses it, through create_model and the class-style builder alike."""
    reference = serve(tmp_path, monkeypatch, "resnet50")
    try:
        model = kl.ResNet50(weights="torchvision", input_shape=(64, 64, 3), classifier_activation=None)
        assert relative_difference(infer(model, reference.images), reference.logits) < 1e-4
        with pytest.raises(ValueError, match=r"weights='torchvision' was trained with \{'layout': 'torchvision'\}; "
                                             r"received \{'layout': 'keras'\}"):
            kl.create_model("resnet50", weights="torchvision", layout="keras")
    finally:
        sets.weight_sets.cache_clear()


def test_weights_torchvision_downloads_once_checks_the_hash_and_gives_torchvisions_logits(served_resnet18):
    reference = served_resnet18
    model = kl.create_model("resnet18", weights="torchvision", input_shape=(64, 64, 3), include_preprocessing=False,
                            classifier_activation=None)
    assert relative_difference(infer(model, reference.images), reference.logits) < 1e-4
    assert os.listdir(download.cache_dir()) == [reference.checkpoint.name]  # cached, no temporary left
    reference.checkpoint.unlink()  # the cache serves it from now on, through the class-style builder too
    again = kl.ResNet18(weights="torchvision.IMAGENET1K_V1", input_shape=(64, 64, 3), include_preprocessing=False,
                        classifier_activation=None)
    assert relative_difference(infer(again, reference.images), reference.logits) < 1e-4


def test_without_the_classifier_the_backbone_loads_and_the_files_classifier_stays_out(served_resnet18):
    features = kl.create_model("resnet18", weights="torchvision", include_top=False, input_shape=(64, 64, 3))
    from keras_lightnets.weights import read_checkpoint

    tensors = read_checkpoint(served_resnet18.checkpoint)
    np.testing.assert_array_equal(features.get_layer("conv1").get_weights()[0],
                                  tensors["conv1.weight"].transpose(2, 3, 1, 0))
    assert not any(layer.name == "fc" for layer in features.layers)


def test_a_download_whose_hash_differs_is_an_error_and_nothing_is_cached(served_resnet18, monkeypatch):
    entry = {**torchvision_sets.SETS["resnet18"]["IMAGENET1K_V1"], "sha256_prefix": "00000000"}
    monkeypatch.setitem(torchvision_sets.SETS, "resnet18", {"IMAGENET1K_V1": entry})
    sets.weight_sets.cache_clear()
    with pytest.raises(ValueError, match=r"has SHA-256 [0-9a-f]{64}, not the published 00000000\.\.\.: the download "
                                         "was damaged or the file changed. Nothing was kept"):
        kl.create_model("resnet18", weights="torchvision", input_shape=(64, 64, 3))
    assert os.listdir(download.cache_dir()) == []


def test_no_network_names_the_url_and_where_to_put_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv(download.CACHE_ENV, str(tmp_path))
    with pytest.raises(OSError, match=r"Could not download file:///nonexistent/resnet18-f37072fd.pth \(.*\)\. Without "
                                      r"network access, download the file elsewhere and pass its path as weights=, or "
                                      rf"put it in {tmp_path}"):
        download.fetch("file:///nonexistent/resnet18-f37072fd.pth", "f37072fd", progress=False)
    assert os.listdir(tmp_path) == []


def test_a_family_builder_given_a_set_name_points_to_the_named_variants():
    with pytest.raises(ValueError, match=r"Weight sets such as 'torchvision' are published per model: use a named "
                                         r"variant \(kl.ResNet18\(weights='torchvision'\)\) or kl.create_model"):
        kl.ResNet(depth=18, weights="torchvision", input_shape=(64, 64, 3))


def test_a_sets_evaluation_recipe_resizes_the_shorter_side_and_crops_the_centre():
    import skimage.data

    (resnet18,) = [s for s in kl.model_info("resnet18").weights if s.name.startswith("torchvision")]
    image = skimage.data.chelsea()  # 300 x 451
    out = np.asarray(kl.data.weight_set_transform(resnet18)(image))
    assert out.shape == (224, 224, 3) and out.dtype == np.float32
    # torchvision's Resize(256) + CenterCrop(224): the shorter side becomes 256, so the
    # crop covers the central 224 * 300 / 256 = 262.5 rows of the photo.
    import tensorflow as tf

    resized = tf.image.resize(image, (256, round(451 * 256 / 300))).numpy()
    top, left = (256 - 224) // 2, (resized.shape[1] - 224) // 2
    np.testing.assert_allclose(out, resized[top:top + 224, left:left + 224], atol=1e-3)
    with pytest.raises(ValueError, match="publishes no resize/crop recipe"):
        kl.data.weight_set_transform(kl.model_info("mobilenet_v2").weights[0])


def test_a_set_evaluated_at_another_size_builds_at_that_size(monkeypatch):
    """ViT-B/16's SWAG end-to-end set was fine-tuned at 384 (its position embedding has
    that size): without an input_shape, the model is built at 384; a caller's size stays."""
    monkeypatch.setattr(sets.WeightSet, "fetch", lambda self, progress=True: "/served/" + self.url.rsplit("/", 1)[-1])
    from keras_lightnets.registry import resolve_weight_set

    swag = resolve_weight_set("vit_b16", {"weights": "torchvision.IMAGENET1K_SWAG_E2E_V1"})
    assert swag["input_shape"] == (384, 384, 3) and swag["weights"] == "/served/vit_b_16_swag-9ac1b537.pth"
    assert "input_shape" not in resolve_weight_set("vit_b16", {"weights": "torchvision"})  # IMAGENET1K_V1, at 224
    assert resolve_weight_set("vit_l16", {"weights": "torchvision.IMAGENET1K_SWAG_E2E_V1",
                                          "input_shape": (224, 224, 3)})["input_shape"] == (224, 224, 3)
    assert [s.name for s in kl.model_info("swin_t").weights] == ["torchvision.IMAGENET1K_V1"]


@pytest.mark.slow  # ViT-B/16 at 384: 86.9 M parameters, a 350 MB file
def test_vit_swag_set_served_loads_at_its_size_and_gives_torchvisions_logits(tmp_path, monkeypatch):
    reference = torchvision_reference(tmp_path, "vit_b_16", size=384, image_size=384, kaiming=True)  # its head starts at zero
    digest = hashlib.sha256(reference.checkpoint.read_bytes()).hexdigest()
    entry = {**torchvision_sets.SETS["vit_b_16"]["IMAGENET1K_SWAG_E2E_V1"], "url": reference.checkpoint.as_uri(),
             "sha256_prefix": digest[:8]}
    monkeypatch.setitem(torchvision_sets.SETS, "vit_b_16", {"IMAGENET1K_SWAG_E2E_V1": entry})
    monkeypatch.setenv(download.CACHE_ENV, str(tmp_path / "cache"))
    sets.weight_sets.cache_clear()
    try:
        model = kl.create_model("vit_b16", weights="torchvision.IMAGENET1K_SWAG_E2E_V1", include_preprocessing=False,
                                classifier_activation=None)
        assert model.input_shape == (None, 384, 384, 3)
        assert relative_difference(infer(model, reference.images), reference.logits) < 1e-4
    finally:
        sets.weight_sets.cache_clear()


# How torchvision published the files of the sets that need more than the graph, as
# torchvision_reference writes them: DenseNet's with its pre-0.3 module names
# (denselayerN.norm.1, torchvision renames them on load), GoogLeNet's and Inception V3's
# with the auxiliary classifiers, for a model built with transform_input (He-initialized:
# torchvision's own init of GoogLeNet leaves logits blind to the image).
OLD_DENSENET_NAMES = (r"(denselayer\d+\.(?:norm|relu|conv))([12])\.", r"\1.\2.")
AUX_AND_TRANSFORM_INPUT = {"aux_logits": True, "transform_input": True, "init_weights": True, "kaiming": True}


@pytest.mark.parametrize("ours, torchvision_name, options, size, knobs", [
    ("densenet121", "densenet121", {"rename": OLD_DENSENET_NAMES}, 64, {}),
    ("googlenet", "googlenet", AUX_AND_TRANSFORM_INPUT, 64, {}),
    pytest.param("googlenet", "googlenet", AUX_AND_TRANSFORM_INPUT, 64, {"aux_logits": True},  # the heads load too
                 marks=pytest.mark.slow),  # 9 s; test_torchvision_reference_inception loads them from the file
    ("inception_v3", "inception_v3", AUX_AND_TRANSFORM_INPUT, 75, {}),
    # DenseNet-121's names at k=48; Inception V3's AuxLogits head, which needs 299x299
    pytest.param("densenet161", "densenet161", {"rename": OLD_DENSENET_NAMES}, 64, {}, marks=pytest.mark.slow),
    pytest.param("inception_v3", "inception_v3", AUX_AND_TRANSFORM_INPUT, 299, {"aux_logits": True},
                 marks=pytest.mark.slow),
])
def test_published_layouts_load_through_their_sets_and_give_torchvisions_logits(tmp_path, monkeypatch, ours,
                                                                                torchvision_name, options, size, knobs):
    """create_model(name, weights="torchvision") on the file as torchvision published it,
    with the set's preprocessing in the graph (create_model's include_preprocessing=True):
    whole [0, 255] pixels give what torchvision's model gives on them normalized by its
    evaluation transform (GoogLeNet's and Inception V3's transform_input then maps them
    to [-1, 1], which our rescaling does)."""
    reference = serve(tmp_path, monkeypatch, torchvision_name, size=size, normalized=True, **options)
    from keras_lightnets.weights import read_checkpoint

    keys = list(read_checkpoint(reference.checkpoint))
    assert any(k.startswith(("aux1.", "aux2.", "AuxLogits.")) or ".norm.1." in k for k in keys)
    try:
        model = kl.create_model(ours, weights="torchvision", input_shape=(size, size, 3), classifier_activation=None,
                                **knobs)
        pixels = np.round(reference.images * 255).astype(np.uint8)
        logits = infer(model, pixels)
        logits = logits[0] if knobs.get("aux_logits") else logits  # main, then the (untrained) heads
        difference = relative_difference(logits, reference.logits)
        print(f"{ours} {knobs}: relative difference {difference:.2e}")
        assert difference < 1e-4
    finally:
        sets.weight_sets.cache_clear()


def test_googlenet_and_inception_v3_sets_say_what_their_network_sees():
    """torchvision's googlenet / inception_v3 builders given weights set transform_input:
    the network re-normalizes the transform's output to (x - 0.5) / 0.5 of [0, 1] pixels
    (the generator measures it on the model), which include_preprocessing's x / 127.5 - 1
    is; the DenseNets see the transform's mean / std, as their torch_preprocessing."""
    for name in ("googlenet", "inception_v3", "densenet121"):
        (published,) = [s for s in kl.model_info(name).weights if s.name == "torchvision.IMAGENET1K_V1"]
        assert published.knobs == {"layout": "torchvision"} and published.default
        assert published.preprocessing["mean"] == [0.485, 0.456, 0.406]
        expected = None if name == "densenet121" else {"mean": [0.5] * 3, "std": [0.5] * 3}
        assert published.preprocessing.get("transform_input") == expected
