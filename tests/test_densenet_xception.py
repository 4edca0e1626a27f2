"""DenseNet (ImageNet and CIFAR) and Xception against keras.applications and the
papers: parameter counts, multiply-adds, keras.applications' weights loaded into
ours giving the same logits, backbone mode, training, bad arguments."""

import keras
import numpy as np
import pytest
from randomize import randomize_batch_norm  # tests/randomize.py
from conftest import tf_preprocess

import keras_lightnets as kl
from keras_lightnets.data import load_digits
from keras_lightnets.models import densenet
from keras_lightnets.models import xception
from keras_lightnets.profiling import profile
from keras_lightnets.weights import read_weight_arrays

from figures import at_most  # tests/figures.py: bounds on trained figures, measured across seeds

from legacy_h5 import serve_as_download  # tests/legacy_h5.py
from legacy_h5 import write_legacy_weights  # tests/legacy_h5.py: keras.applications' published layout, via h5py

ka = keras.applications


def _weighted(model):
    return [(layer.name, [tuple(w.shape) for w in layer.weights]) for layer in model.layers if layer.weights]


# ---------------------------------------------------------------- parameter counts


@pytest.mark.parametrize(
    "ours, theirs",
    [(densenet.DenseNet121, ka.DenseNet121), (xception.Xception, ka.Xception)],
    ids=["DenseNet121", "Xception"],
)
def test_counts_and_layer_names_equal_keras_applications(ours, theirs):
    model, reference = ours(), theirs(weights=None)
    assert model.count_params() == reference.count_params()
    assert model.count_params() == {"DenseNet121": 8_062_504, "Xception": 22_910_480}[ours.__name__]
    got, expected = _weighted(model), _weighted(reference)
    if ours is xception.Xception:
        # keras.applications leaves the four projection shortcuts unnamed ("conv2d", ...).
        expected = [(g[0], e[1]) if e[0].startswith(("conv2d", "batch_normalization")) else e for g, e in zip(got, expected)]
        assert [n for n, _ in got if "residual" in n] == xception.residual_layer_names()
    assert got == expected


@pytest.mark.parametrize(
    "builder, expected, torchvision_params",
    # keras.applications' DenseNet169 / DenseNet201 (224x224, 1000 classes), and
    # torchvision's densenet169 / densenet201 (nn.Parameters: no BN running statistics).
    [(densenet.DenseNet169, 14_307_880, 14_149_480), (densenet.DenseNet201, 20_242_984, 20_013_928)],
    ids=["DenseNet169", "DenseNet201"],
)
def test_densenet169_201_counts_equal_keras_applications_and_torchvision(builder, expected, torchvision_params):
    # Parameter counts do not depend on the input size; 64x64 keeps the build light.
    model = builder(input_shape=(64, 64, 3))
    assert model.count_params() == expected
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == torchvision_params


def test_densenet_bc_100_12_parameters():
    """Paper Table 2: DenseNet-BC (L=100, k=12) has 0.8M parameters on CIFAR-10."""
    model = kl.create_model("densenet_bc_100_12")
    stats = profile(model)
    assert model.count_params() == 793_150
    assert stats.trainable_params == 769_162
    assert stats.trainable_params / 1e6 == pytest.approx(0.8, rel=0.05)
    assert model.output_shape == (None, 10)
    # 48 bottleneck layers (16 per block) + first conv + 2 transitions + classifier.
    assert sum(isinstance(l, (keras.layers.Conv2D, keras.layers.Dense)) for l in model.layers) == 100


def test_densenet264_follows_table_1():
    model = densenet.DenseNet264(input_shape=(64, 64, 3))
    assert model.count_params() == 33_736_232
    assert sum(w.numpy().size for w in model.trainable_weights) == 33_337_704
    # 64 -> +6k = 256 -> 128 -> +12k = 512 -> 256 -> +64k = 2304 -> 1152 -> +48k = 2688 maps.
    assert model.get_layer("conv5_block48_concat").output.shape[-1] == 2688


# ---------------------------------------------------------------- multiply-adds


def test_densenet121_multiply_adds_equal_torchvision_published_figure():
    # torchvision's DenseNet121_Weights metadata: _ops 2.834 (GFLOPS, its name for
    # multiply-adds), printed to three decimals. The paper prints no multiply-adds.
    assert round(profile(densenet.DenseNet121(input_shape=(224, 224, 3))).macs / 1e9, 3) == 2.834


def test_xception_multiply_adds_equal_keras_applications_built_live():
    # Nobody publishes Xception's multiply-adds; keras.applications' graph is the reference.
    ours = profile(xception.Xception(input_shape=(299, 299, 3))).macs
    assert ours == profile(keras.applications.Xception(weights=None, input_shape=(299, 299, 3))).macs


def test_xception_trainable_parameters_equal_the_paper_table():
    # Paper Table 3: 22,855,952 parameters (batch-norm moving statistics excluded).
    assert profile(xception.Xception(input_shape=(71, 71, 3))).trainable_params == 22_855_952


def test_registry_entries():
    for name in ("densenet121", "densenet169", "densenet201", "densenet264", "xception",
                 "densenet_bc_100_12", "densenet_bc_250_24", "densenet_bc_190_40"):
        info = kl.model_info(name)
        assert info.arxiv in ("1608.06993", "1610.02357")
    assert kl.model_info("xception").default_size == 299
    assert kl.model_info("densenet_bc_190_40").paper_params_m == 25.6
    assert kl.model_info("densenet264").note


# ---------------------------------------------------------------- weight transfer


def _run(model, x):
    # An eager call: no tf.function tracing of these deep graphs, far faster than predict here.
    out = model(x, training=False)
    return [keras.ops.convert_to_numpy(o) for o in out] if isinstance(out, list) else keras.ops.convert_to_numpy(out)


def test_densenet121_keras_applications_weights_agree(photos, tmp_path):
    """Random keras.applications weights saved as legacy .h5 (the published files'
    format) and as .keras give our DenseNet-121 the same logits."""
    size = 64
    reference = ka.DenseNet121(weights=None, input_shape=(size, size, 3), classifier_activation=None)
    randomize_batch_norm(reference)
    images = photos(size).astype("float32")
    x = ka.densenet.preprocess_input(images.copy())
    expected = _run(reference, x)
    assert np.abs(expected).max() > 1e-2
    for file_format in ("h5", "keras"):
        path = tmp_path / f"reference.{file_format}"
        reference.save(path)
        model = densenet.DenseNet121(weights=str(path), input_shape=(size, size, 3), classifier_activation=None,
                                     include_preprocessing=file_format == "h5")
        if file_format == "h5":
            # include_preprocessing=True takes [0, 255] pixels: the "torch" preprocess_input as layers.
            np.testing.assert_allclose(_run(model, images), expected, atol=1e-4, rtol=0)
        else:
            np.testing.assert_allclose(_run(model, x), expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "file_format, fresh_session", [("h5", True), ("h5", False), ("keras", False)], ids=["h5-conv2d", "h5-conv2d_N", "keras"]
)
def test_xception_keras_applications_weights_agree(file_format, fresh_session, photos, tmp_path):
    """The published file is legacy .h5 keyed by name, where keras.applications'
    unnamed shortcuts get session-dependent names ("conv2d" after a fresh session,
    "conv2d_N" otherwise): both load, as does Keras 3's own format."""
    if fresh_session:
        keras.backend.clear_session()
    else:
        keras.layers.Conv2D(1, 1)  # shifts the automatic names
    size = 71
    reference = ka.Xception(weights=None, input_shape=(size, size, 3), classifier_activation=None)
    randomize_batch_norm(reference)
    path = tmp_path / f"reference.{file_format}"
    reference.save(path)
    x = tf_preprocess(photos(size))
    expected = _run(reference, x)
    assert np.abs(expected).max() > 1e-2
    model = xception.Xception(weights=str(path), input_shape=(size, size, 3), classifier_activation=None)
    np.testing.assert_allclose(_run(model, x), expected, atol=1e-5, rtol=0)
    if not fresh_session and file_format == "h5":
        # Backbone mode loads the same file (its classifier ignored).
        features = xception.Xception(weights=str(path), input_shape=(size, size, 3), features_only=True, out_strides=(16, 32))
        tap = keras.Model(reference.input, reference.get_layer("block14_sepconv2_act").output)
        np.testing.assert_allclose(_run(features, x)[1], _run(tap, x), atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "builder, kwargs, donor, expected_file",
    [
        (densenet.DenseNet121, {"include_top": False}, lambda: ka.DenseNet121(weights=None, include_top=False),
         densenet.imagenet_weights("densenet121", False)),
        (xception.Xception, {}, lambda: ka.Xception(weights=None), xception.IMAGENET_FILES[True]),
    ],
    ids=["densenet121-notop", "xception"],
)
def test_imagenet_weights_fetch_the_published_file(builder, kwargs, donor, expected_file, monkeypatch, tmp_path):
    saved = tmp_path / expected_file.filename
    write_legacy_weights(donor(), saved)
    requested = serve_as_download(monkeypatch, saved)
    model = builder(weights="imagenet", **kwargs)
    assert requested == [(expected_file.filename, expected_file.url, "models", expected_file.file_hash)]
    assert expected_file.url.startswith("https://storage.googleapis.com/tensorflow/keras-applications/")
    assert expected_file.file_hash in {
        "30ee3e1110167f948a6b9946edeeb738", "0a58e3b7378bc2990ea3b43d5981f1f6",  # keras.applications' own
    }
    arrays, _ = read_weight_arrays(saved)
    layer = model.get_layer("conv1_conv" if builder is densenet.DenseNet121 else "block14_sepconv2")
    for got, expected in zip(layer.get_weights(), arrays[layer.name]):
        np.testing.assert_array_equal(got, expected)


# ---------------------------------------------------------------- backbone mode, graph


def test_features_only_shapes():
    features = densenet.DenseNet121(input_shape=(64, 64, 3), features_only=True, out_strides=(2, 4, 8, 16, 32))
    assert [tuple(o.shape[1:]) for o in features.outputs] == [(32, 32, 64), (16, 16, 256), (8, 8, 512), (4, 4, 1024), (2, 2, 1024)]
    features = xception.Xception(input_shape=(96, 96, 3), features_only=True, out_strides=(2, 4, 8, 16, 32))
    assert [tuple(o.shape[1:]) for o in features.outputs] == [(45, 45, 64), (23, 23, 128), (12, 12, 256), (6, 6, 728), (3, 3, 2048)]
    features = densenet.DenseNetCifar(depth=40, growth_rate=12, input_shape=(32, 32, 3), features_only=True)
    assert [tuple(o.shape[1:]) for o in features.outputs] == [(32, 32, 24 + 6 * 12), (16, 16, 48 + 6 * 12), (8, 8, 60 + 6 * 12)]


def test_any_input_size_and_middle_repeats():
    assert densenet.DenseNet121(input_shape=(32, 48, 3), classes=3).output_shape == (None, 3)
    assert densenet.DenseNet121(include_top=False, pooling="avg").output_shape == (None, 1024)
    model = xception.Xception(input_shape=(71, 71, 3), middle_repeats=2, classes=4)
    assert model.output_shape == (None, 4)
    assert "block7_sepconv1" in [l.name for l in model.layers] and "block7_residual_conv" in [l.name for l in model.layers]


def test_safe_keras_round_trip(tmp_path):
    model = densenet.DenseNetCifar(depth=16, growth_rate=4, input_shape=(32, 32, 3), classes=3, include_preprocessing=True)
    assert {l.__class__.__name__ for l in model.layers} >= {"Normalization", "Concatenate", "AveragePooling2D"}
    assert not any(l.__class__.__name__ in ("Lambda", "TFOpLambda") for l in model.layers)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    x = np.random.RandomState(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(_run(loaded, x), _run(model, x), atol=1e-6)


def test_fit_reduces_loss_on_digits():
    """A small DenseNet-BC (L=16, k=8: two bottleneck layers per block) learns digits."""
    keras.utils.set_random_seed(0)
    (x, y), _ = load_digits(image_size=32, num_classes=5)
    model = densenet.DenseNetCifar(depth=16, growth_rate=8, input_shape=(32, 32, 3), classes=5, include_preprocessing=True)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"], jit_compile=False)
    history = model.fit(x[:320].astype("float32"), y[:320], epochs=4, batch_size=32, verbose=0)
    losses = history.history["loss"]
    at_most("densenet-bc-16 k=8: last / first epoch loss", losses[-1] / losses[0], 0.7)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: densenet.DenseNetCifar(depth=101), r"depth.*6n\+4.*received depth=101"),
        (lambda: densenet.DenseNetCifar(depth=41, bottleneck=False), r"depth.*3n\+4.*received depth=41"),
        (lambda: densenet.DenseNetCifar(compression=0), r"compression.*\(0, 1\].*received compression=0"),
        (lambda: densenet.DenseNet(compression=1.5), r"compression.*\(0, 1\]"),
        (lambda: densenet.DenseNet(growth_rate=0), r"growth_rate.*positive integer"),
        (lambda: densenet.DenseNet(blocks=(6, 12, 24)), r"blocks.*4 dense blocks"),
        (lambda: densenet.DenseNet264(weights="imagenet"), r"No ImageNet weights.*DenseNet-121/169/201"),
        (lambda: densenet.DenseNet(growth_rate=24, weights="imagenet"), r"No ImageNet weights.*growth_rate=32"),
        (lambda: densenet.DenseNetCifar(weights="imagenet", classes=1000), r"No ImageNet weights"),
        (lambda: densenet.DenseNet121(input_shape=(16, 16, 3)), r"at least 32x32"),
        (lambda: densenet.DenseNet121(weights="imagenet", classes=10), r"classes=1000"),
        (lambda: densenet.DenseNetCifar(depth=16, features_only=True, out_strides=(8,)), r"out_strides.*\[1, 2, 4\]"),
        (lambda: xception.Xception(input_shape=(64, 64, 3)), r"at least 71x71"),
        (lambda: xception.Xception(middle_repeats=-1), r"middle_repeats.*non-negative"),
        (lambda: xception.Xception(middle_repeats=4, weights="imagenet"), r"No ImageNet weights.*middle_repeats=8"),
        (lambda: xception.Xception(include_top=False, pooling="mean"), r"pooling"),
    ],
)
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_weights_file_of_another_architecture_is_rejected(tmp_path):
    donor = densenet.DenseNetCifar(depth=16, growth_rate=4, input_shape=(32, 32, 3))
    donor.save(tmp_path / "small.h5")
    with pytest.raises(ValueError, match="do not fit"):
        densenet.DenseNetCifar(depth=16, growth_rate=8, input_shape=(32, 32, 3), weights=str(tmp_path / "small.h5"))
    with pytest.raises(ValueError, match="do not fit.*middle_repeats"):
        xception.Xception(input_shape=(71, 71, 3), weights=str(tmp_path / "small.h5"))
