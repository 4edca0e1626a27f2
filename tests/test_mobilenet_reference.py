"""Our MobileNets against keras.applications: parameter counts, and its weights
loaded into ours giving the same outputs on real photos."""

import keras
import numpy as np
import pytest
from conftest import tf_preprocess

import keras_lightnets as kl
from keras_lightnets.models import mobilenet_v1
from keras_lightnets.models import mobilenet_v2
from keras_lightnets.models import mobilenet_v3
from keras_lightnets.weights import read_weight_arrays

from legacy_h5 import serve_as_download  # tests/legacy_h5.py
from legacy_h5 import write_legacy_weights  # tests/legacy_h5.py: keras.applications' published layout, via h5py
from eager import infer  # tests/eager.py: model(x) as numpy, no predict trace

ka = keras.applications

# The counts keras.applications prints for its default configurations (224x224, 1000 classes).
REFERENCE_COUNTS = [
    (kl.MobileNet, {}, 4_253_864),
    (kl.MobileNetV2, {}, 3_538_984),
    (kl.MobileNetV3Large, {}, 5_507_432),
    (kl.MobileNetV3Small, {}, 2_554_968),
]


@pytest.mark.parametrize("builder, kwargs, expected", REFERENCE_COUNTS, ids=lambda v: getattr(v, "__name__", None))
def test_default_parameter_counts_equal_keras_applications(builder, kwargs, expected):
    assert builder(**kwargs).count_params() == expected


# (ours, theirs, kwargs, takes raw pixels): every alpha keras.applications publishes
# weights for, odd alphas, the minimalistic variants. Parameter counts do not depend
# on the input size, so 96x96 keeps the builds fast.
PAIRS = [
    (kl.MobileNet, ka.MobileNet, {"alpha": 0.25}),
    (kl.MobileNet, ka.MobileNet, {"alpha": 0.75}),
    (kl.MobileNet, ka.MobileNet, {"alpha": 1.0, "depth_multiplier": 2}),
    (kl.MobileNetV2, ka.MobileNetV2, {"alpha": 0.35}),
    (kl.MobileNetV2, ka.MobileNetV2, {"alpha": 1.4}),
    (kl.MobileNetV2, ka.MobileNetV2, {"alpha": 0.6}),
    (kl.MobileNetV3Large, ka.MobileNetV3Large, {"alpha": 0.75}),
    (kl.MobileNetV3Large, ka.MobileNetV3Large, {"minimalistic": True}),
    (kl.MobileNetV3Large, ka.MobileNetV3Large, {"alpha": 1.3}),
    (kl.MobileNetV3Small, ka.MobileNetV3Small, {"alpha": 0.75}),
    (kl.MobileNetV3Small, ka.MobileNetV3Small, {"minimalistic": True}),
    (kl.MobileNetV3Small, ka.MobileNetV3Small, {"alpha": 0.5}),
]


def _pair_id(pair):
    ours, _, kwargs = pair
    return ours.__name__ + "-" + "-".join(f"{k}={v}" for k, v in kwargs.items())


@pytest.mark.parametrize("pair", PAIRS, ids=[_pair_id(p) for p in PAIRS])
def test_parameter_counts_equal_keras_applications(pair):
    ours, theirs, kwargs = pair
    shape = {"input_shape": (96, 96, 3)}
    assert ours(**kwargs, **shape).count_params() == theirs(weights=None, **kwargs, **shape).count_params()


def _inputs(builder, photos, size):
    """V3 rescales inside the model; V1 and V2 (as keras.applications) expect [-1, 1]."""
    images = photos(size)
    return images.astype("float32") if builder in (kl.MobileNetV3Large, kl.MobileNetV3Small) else tf_preprocess(images)


TRANSFER = [
    (kl.MobileNet, ka.MobileNet, {"alpha": 0.5}),
    (kl.MobileNetV2, ka.MobileNetV2, {"alpha": 1.0}),
    (kl.MobileNetV3Large, ka.MobileNetV3Large, {"alpha": 1.0}),
    (kl.MobileNetV3Small, ka.MobileNetV3Small, {"alpha": 0.75}),
    (kl.MobileNetV3Small, ka.MobileNetV3Small, {"minimalistic": True}),
]


@pytest.mark.parametrize("pair", TRANSFER, ids=[_pair_id(p) for p in TRANSFER])
@pytest.mark.parametrize("file_format", ["h5", "weights.h5", "keras"])
def test_keras_applications_weights_load_and_agree(pair, file_format, photos, tmp_path):
    """Random keras.applications weights, saved in each Keras format (legacy .h5 is
    the format of its published ImageNet files), give our model the same logits."""
    ours, theirs, kwargs = pair
    size = 96
    reference = theirs(weights=None, input_shape=(size, size, 3), classifier_activation=None, **kwargs)
    # Non-trivial BN statistics, so a mis-assigned moving mean/variance would show.
    rng = np.random.RandomState(0)
    for layer in reference.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.1, beta.shape),
                               rng.normal(0, 0.1, mean.shape), rng.uniform(0.5, 1.5, var.shape)])
    path = tmp_path / f"reference.{file_format}"
    if file_format == "weights.h5":
        reference.save_weights(path)
    else:
        reference.save(path)
    model = ours(weights=str(path), input_shape=(size, size, 3), classifier_activation=None, **kwargs)
    x = _inputs(ours, photos, size)
    expected = infer(reference, x)
    got = infer(model, x)
    assert np.abs(expected).max() > 1e-2  # the comparison is not between zeros
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)


def test_no_top_model_loads_from_full_file_and_matches_reference_features(photos, tmp_path):
    reference = ka.MobileNetV3Large(weights=None, input_shape=(128, 128, 3))
    path = tmp_path / "full.h5"
    reference.save(path)
    reference_features = ka.MobileNetV3Large(weights=None, input_shape=(128, 128, 3), include_top=False, pooling="avg")
    reference_features.set_weights([w for w in reference.get_weights()][: len(reference_features.weights)])
    ours = kl.MobileNetV3Large(weights=str(path), input_shape=(128, 128, 3), include_top=False, pooling="avg")
    x = photos(128).astype("float32")
    np.testing.assert_allclose(infer(ours, x), infer(reference_features, x), atol=1e-5, rtol=0)


IMAGENET_CASES = [
    # (ours, kwargs, keras.applications donor of the "published" file, its kwargs, expected file)
    (kl.MobileNetV3Large, {}, ka.MobileNetV3Large, {},
     mobilenet_v3.imagenet_weights("large", 1.0, False, True)),
    (kl.MobileNetV3Small, {"alpha": 0.75, "include_top": False}, ka.MobileNetV3Small, {"alpha": 0.75, "include_top": False},
     mobilenet_v3.imagenet_weights("small", 0.75, False, False)),
    (kl.MobileNetV2, {"alpha": 0.35, "input_shape": (160, 160, 3)}, ka.MobileNetV2, {"alpha": 0.35, "input_shape": (160, 160, 3)},
     mobilenet_v2.imagenet_weights(0.35, 160, True)),
    # 200x200 has no published file: the 224 one is used, as keras.applications does.
    (kl.MobileNet, {"alpha": 0.25, "input_shape": (200, 200, 3), "include_top": False}, ka.MobileNet,
     {"alpha": 0.25, "include_top": False}, mobilenet_v1.imagenet_weights(0.25, 224, False)),
]


@pytest.mark.parametrize("case", IMAGENET_CASES, ids=["v3-large", "v3-small-075-notop", "v2-035-160", "v1-025-notop-200px"])
def test_imagenet_weights_fetch_the_published_file(case, monkeypatch, tmp_path):
    """weights="imagenet" asks keras.utils.get_file for keras.applications' published
    file (name, URL, hash) and loads it; only the download is replaced, by a file
    in the published layout (legacy .h5) that this test writes."""
    ours, kwargs, donor, donor_kwargs, expected_file = case
    saved = tmp_path / expected_file.filename
    write_legacy_weights(donor(weights=None, **donor_kwargs), saved)
    requested = serve_as_download(monkeypatch, saved)
    model = ours(weights="imagenet", **kwargs)
    assert requested == [(expected_file.filename, expected_file.url, "models", expected_file.file_hash)]
    assert expected_file.url.startswith("https://storage.googleapis.com/tensorflow/keras-applications/")
    file_arrays, _ = read_weight_arrays(saved)
    weighted = [layer for layer in model.layers if layer.weights]
    assert weighted
    for layer in weighted:
        for got, expected in zip(layer.get_weights(), file_arrays[layer.name]):
            np.testing.assert_array_equal(got, expected)


def test_published_v3_hashes_are_keras_applications_own():
    assert mobilenet_v3.imagenet_weights("large", 1.0, False, True).file_hash == "59e551e166be033d707958cf9e29a6a7"
    assert mobilenet_v3.imagenet_weights("small", 1.0, True, False).filename == (
        "weights_mobilenet_v3_small_minimalistic_224_1.0_float_no_top_v2.h5"
    )


def test_imagenet_path_loads_the_legacy_keras2_layout_and_gives_keras_applications_outputs(monkeypatch, tmp_path, photos):
    """The published files are Keras 2 .h5 files, written here with h5py in that layout,
    including its split attributes (layer_names0, layer_names1, ... when the list
    outgrows an HDF5 object header); ours then computes what keras.applications
    computes with the same file."""
    import h5py

    donor = ka.MobileNetV3Small(weights=None, input_shape=(96, 96, 3), include_top=False, pooling="avg")
    expected_file = mobilenet_v3.imagenet_weights("small", 1.0, False, False)
    saved = tmp_path / expected_file.filename
    write_legacy_weights(donor, saved, chunk_limit=512)  # force the split attributes
    with h5py.File(saved, "r") as f:
        assert "layer_names" not in f.attrs and "layer_names2" in f.attrs
    monkeypatch.setattr(keras.utils, "get_file", lambda *args, **kwargs: str(saved))
    ours = kl.MobileNetV3Small(weights="imagenet", input_shape=(96, 96, 3), include_top=False, pooling="avg")
    reference = ka.MobileNetV3Small(weights=None, input_shape=(96, 96, 3), include_top=False, pooling="avg")
    reference.set_weights(donor.get_weights())
    images = photos(96).astype("float32")
    np.testing.assert_allclose(infer(ours, images), infer(reference, images), atol=1e-5, rtol=0)
