"""VGG, AlexNet and ZFNet: counts against keras.applications and torchvision,
keras.applications' VGG weights giving the same outputs, multiply-adds against the
published figures, the paper's LRN against its formula, backbones, training, errors."""

import keras
import numpy as np
import pytest

from figures import at_least, at_most  # tests/figures.py
from keras_lightnets.data import load_digits
from keras_lightnets.layers import pooling as adaptive
from keras_lightnets.layers.normalization import LocalResponseNormalization
from keras_lightnets.layers.preprocessing import reverse_channels
from keras_lightnets.models import alexnet
from keras_lightnets.models import vgg
from keras_lightnets.registry import create_model
from keras_lightnets.registry import list_models
from keras_lightnets.registry import model_info
from keras_lightnets.weights import read_weight_arrays

from keras_lightnets.profiling import profile
from eager import infer  # tests/eager.py: model(x) as numpy, no predict trace

ka = keras.applications


def caffe_preprocess(images):
    return ka.vgg16.preprocess_input(images.astype("float32").copy())


# --- VGG against keras.applications (built live at 224, never run at 224) ---------

@pytest.fixture(scope="module")
def vgg16_224():
    return vgg.VGG16()


@pytest.mark.parametrize("ours, theirs, expected", [(vgg.VGG16, ka.VGG16, 138_357_544), (vgg.VGG19, ka.VGG19, 143_667_240)])
def test_vgg_counts_and_weighted_layer_names_equal_keras_applications(ours, theirs, expected, vgg16_224):
    model = vgg16_224 if ours is vgg.VGG16 else ours()
    reference = theirs(weights=None)
    assert model.count_params() == reference.count_params() == expected
    named = lambda m: [(layer.name, [tuple(w.shape) for w in layer.weights]) for layer in m.layers if layer.weights]
    assert named(model) == named(reference)
    assert model.name == reference.name


def test_vgg16_multiply_adds_match_published_figure(vgg16_224):
    stats = profile(vgg16_224)
    assert stats.macs == 15_470_264_320  # torchvision's table: 15.47 GFLOPS (multiply-adds)
    assert stats.macs / 1e6 == pytest.approx(model_info("vgg16").paper_macs_m, rel=0.03)


@pytest.mark.parametrize("pooling", [None, "avg"])
def test_keras_vgg16_weights_load_and_give_the_same_features(pooling, photos, tmp_path):
    size = 64
    reference = ka.VGG16(weights=None, include_top=False, input_shape=(size, size, 3), pooling=pooling)
    path = tmp_path / "vgg16_notop.h5"  # legacy by-name layout, as the published files
    reference.save(path)
    ours = vgg.VGG16(weights=str(path), include_top=False, input_shape=(size, size, 3), pooling=pooling)
    x = caffe_preprocess(photos(size))  # the same float input for both
    expected = infer(reference, x)
    assert np.abs(expected).max() > 1e-2
    np.testing.assert_allclose(infer(ours, x), expected, atol=1e-5, rtol=0)
    if pooling is None:
        # include_preprocessing=True takes raw pixels: the caffe mode as layers.
        raw = vgg.VGG16(weights=str(path), include_top=False, input_shape=(size, size, 3), include_preprocessing=True)
        np.testing.assert_allclose(infer(raw, photos(size).astype("float32")), expected, atol=1e-4, rtol=1e-5)


def test_keras_vgg19_full_weights_load_with_top_at_small_size(photos, tmp_path):
    """With the classifier (fc1 sized for a 2x2 map at 64x64): logits equal."""
    size = 64
    reference = ka.VGG19(weights=None, input_shape=(size, size, 3), classes=10, classifier_activation=None)
    path = tmp_path / "vgg19.h5"
    reference.save(path)
    ours = vgg.VGG19(weights=str(path), input_shape=(size, size, 3), classes=10, classifier_activation=None)
    x = caffe_preprocess(photos(size))
    expected = infer(reference, x)
    assert np.abs(expected).max() > 1e-3
    np.testing.assert_allclose(infer(ours, x), expected, atol=1e-5, rtol=0)


def test_imagenet_weights_fetch_keras_applications_file(monkeypatch, tmp_path):
    expected_file = vgg.imagenet_weights("vgg16", include_top=False)
    saved = tmp_path / expected_file.filename
    ka.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3)).save(saved)
    requested = []

    def fake_get_file(fname, origin, cache_subdir=None, file_hash=None, **unused):
        requested.append((fname, origin, file_hash))
        return str(saved)

    monkeypatch.setattr(keras.utils, "get_file", fake_get_file)
    model = vgg.VGG16(weights="imagenet", include_top=False, input_shape=(32, 32, 3))
    assert requested == [(
        "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "6d6bbae143d832006294945121d1f1fc",
    )]
    arrays, _ = read_weight_arrays(saved)
    np.testing.assert_array_equal(model.get_layer("block5_conv3").get_weights()[0], arrays["block5_conv3"][0])


# --- torchvision's published counts (all nn.Parameters: BN gamma/beta, no running stats) ---

TORCHVISION_COUNTS = [
    ("vgg11", 132_863_336),  # torchvision.models.vgg11
    ("vgg13", 133_047_848),  # torchvision.models.vgg13
    ("vgg11_bn", 132_868_840),  # torchvision.models.vgg11_bn
    ("vgg13_bn", 133_053_736),
    ("vgg16_bn", 138_365_992),
    ("vgg19_bn", 143_678_248),
    ("alexnet", 61_100_840),  # torchvision.models.alexnet
]


@pytest.mark.parametrize("name, expected", TORCHVISION_COUNTS)
def test_trainable_parameters_equal_torchvision(name, expected):
    model = create_model(name)  # 224x224, 1000 classes
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == expected


def test_alexnet_multiply_adds_equal_torchvision_published_figure():
    # torchvision's AlexNet_Weights metadata: _ops 0.714 GFLOPS (multiply-adds), three decimals.
    assert round(profile(create_model("alexnet")).macs / 1e9, 3) == 0.714


def test_zfnet_multiply_adds_regression_pin():
    # Measured here, no published figure (the paper prints no totals): a pin of our own
    # count of Figure 3's layers at 224, so that a change to the graph is noticed.
    assert profile(create_model("zfnet")).macs == 1_168_032_896
    assert model_info("zfnet").paper_macs_m is None


def test_zfnet_is_figure_3():
    model = alexnet.ZFNet()
    # The paper's layer 1-5 map sizes and the 62.4M total its layers give.
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [(c.filters, c.kernel_size[0], c.strides[0]) for c in convs] == [
        (96, 7, 2), (256, 5, 2), (384, 3, 1), (384, 3, 1), (256, 3, 1)]
    pools = [layer for layer in model.layers if isinstance(layer, keras.layers.MaxPooling2D)]
    assert [c.output.shape[1] for c in convs] == [110, 26, 13, 13, 13]
    assert [p.output.shape[1] for p in pools] == [55, 13, 6]
    assert [type(layer).__name__ for layer in model.layers if "lrn" in layer.name] == ["LocalResponseNormalization"] * 2
    assert model.count_params() == 62_357_608
    assert alexnet.AlexNet(lrn=True).count_params() == 61_100_840  # LRN has no weights


def test_every_model_is_registered_with_figures():
    expected = {"vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn", "alexnet", "zfnet"}
    assert expected <= set(list_models())
    assert model_info("vgg16").paper_params_m == 138 and model_info("vgg19").paper_macs_m == 19630
    assert model_info("alexnet").paper_params_m == 60


# --- LRN: the paper's formula ------------------------------------------------------

def lrn_numpy(a, k=2.0, n=5, alpha=1e-4, beta=0.75):
    """Krizhevsky et al. 2012, section 3.3, literally."""
    channels = a.shape[-1]
    out = np.empty_like(a, dtype="float64")
    for i in range(channels):
        lo, hi = max(0, i - n // 2), min(channels - 1, i + n // 2)
        out[..., i] = a[..., i] / (k + alpha * np.sum(a[..., lo:hi + 1].astype("float64") ** 2, axis=-1)) ** beta
    return out


@pytest.mark.parametrize("kwargs", [{}, {"size": 3, "alpha": 1e-2, "beta": 0.5, "k": 1.0}])
def test_lrn_matches_the_paper_formula(kwargs):
    rng = np.random.RandomState(0)
    x = rng.normal(0, 30, (2, 5, 4, 11)).astype("float32")  # large activations: the sum matters
    layer = LocalResponseNormalization(**kwargs)
    got = keras.ops.convert_to_numpy(layer(x))
    paper_kwargs = {{"size": "n"}.get(k, k): v for k, v in kwargs.items()}
    expected = lrn_numpy(x, **paper_kwargs)
    assert np.abs(expected - x / 2.0 ** 0.75).max() > 1e-3 or kwargs  # not just the k term
    np.testing.assert_allclose(got, expected, rtol=2e-6, atol=1e-6)


def test_lrn_equals_tensorflow_lrn_with_radius_2():
    import tensorflow as tf

    x = np.random.RandomState(1).normal(0, 20, (1, 3, 3, 8)).astype("float32")
    expected = tf.nn.local_response_normalization(x, depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75).numpy()
    np.testing.assert_allclose(keras.ops.convert_to_numpy(LocalResponseNormalization()(x)), expected, rtol=1e-6)


def test_adaptive_pooling_matches_pytorch_bins():
    rng = np.random.RandomState(2)
    for size in (5, 7, 13, 9):
        x = rng.normal(size=(2, size, size, 3)).astype("float32")
        layer_in = keras.Input((size, size, 3))
        pooled = adaptive.adaptive_average_pool(layer_in, 6, name="avgpool")
        got = keras.Model(layer_in, pooled).predict(x, verbose=0)
        bins = adaptive.adaptive_bins(size, 6)
        expected = np.array([[x[:, r0:r1, c0:c1].mean(axis=(1, 2)) for c0, c1 in bins] for r0, r1 in bins])
        np.testing.assert_allclose(got, expected.transpose(2, 0, 1, 3), atol=1e-6)


def test_lrn_alexnet_and_adaptive_pooling_round_trip_in_safe_mode(photos, tmp_path):
    model = alexnet.AlexNet(lrn=True, include_top=False, input_shape=(64, 64, 3), pooling="avg")
    inp = keras.Input((13, 13, 4))
    small = keras.Model(inp, adaptive.AdaptiveAveragePooling2D(6, name="avgpool")(inp))
    x = photos(64).astype("float32")
    for m, data in ((model, x), (small, np.random.RandomState(0).normal(size=(2, 13, 13, 4)).astype("float32"))):
        path = tmp_path / f"{m.name}.keras"
        m.save(path)
        loaded = keras.models.load_model(path, safe_mode=True)  # no custom_objects
        np.testing.assert_array_equal(infer(loaded, data), infer(m, data))
    assert [type(layer).__name__ for layer in loaded.layers] == ["InputLayer", "AdaptiveAveragePooling2D"]


def test_reverse_channels_is_stock_layers():
    x = np.arange(2 * 3 * 4 * 3, dtype="float32").reshape(2, 3, 4, 3)
    inp = keras.Input((None, None, 3))
    model = keras.Model(inp, reverse_channels(inp))
    np.testing.assert_array_equal(infer(model, x), x[..., ::-1])
    assert all(type(op).__module__.startswith("keras.src.layers") for op in model.operations)


# --- backbones, sizes, training ----------------------------------------------------

@pytest.mark.parametrize("builder, size, expected", [
    (vgg.VGG16, 64, [(32, 32, 128), (16, 16, 256), (8, 8, 512), (4, 4, 512), (2, 2, 512)]),
    (vgg.VGG11BN, 96, [(48, 48, 128), (24, 24, 256), (12, 12, 512), (6, 6, 512), (3, 3, 512)]),
    (alexnet.ZFNet, 224, [(110, 110, 96), (55, 55, 96), (26, 26, 256), (13, 13, 256), (6, 6, 256)]),
])
def test_features_only_shapes(builder, size, expected):
    model = builder(input_shape=(size, size, 3), features_only=True, out_strides=(2, 4, 8, 16, 32))
    assert [tuple(t.shape[1:]) for t in model.outputs] == expected


def test_alexnet_features_and_any_size_classifier():
    model = alexnet.AlexNet(input_shape=(224, 224, 3), features_only=True)
    assert [tuple(t.shape[1:]) for t in model.outputs] == [(55, 55, 64), (27, 27, 192), (13, 13, 256), (6, 6, 256)]
    with pytest.raises(ValueError, match="out_strides"):
        alexnet.AlexNet(input_shape=(224, 224, 3), features_only=True, out_strides=(2,))
    open_model = alexnet.AlexNet(include_top=False, pooling="avg", input_shape=(None, None, 3))
    assert open_model.output_shape == (None, 256)
    for size, pool in ((63, "UpSampling2D"), (160, "AdaptiveAveragePooling2D")):
        model = alexnet.AlexNet(input_shape=(size, size, 3), classes=3)
        assert type(model.get_layer("avgpool")).__name__ == pool
        assert model.get_layer("flatten").output.shape[1] == 6 * 6 * 256


def test_fit_reduces_loss_on_real_digits():
    """AlexNet with the paper's LRN (gradients through it), near its minimum size:
    the cheapest member to train (vgg11_bn at 32x32 takes 3x as long)."""
    keras.utils.set_random_seed(1)
    (x, y), _ = load_digits(image_size=64, num_classes=5)
    x, y = x[:704], y[:704]  # whole batches of 32: a last, smaller batch would trace the step again
    backbone = create_model("alexnet", lrn=True, input_shape=(64, 64, 3), include_top=False, pooling="avg")
    model = keras.Sequential([backbone, keras.layers.Dense(5, activation="softmax")])
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=32, epochs=4, verbose=0)
    losses = history.history["loss"]
    at_most("alexnet with lrn: last / first epoch loss", losses[-1] / losses[0], 0.5)
    at_least("alexnet with lrn: last epoch accuracy", history.history["accuracy"][-1], 0.7)


# --- errors ------------------------------------------------------------------------

@pytest.mark.parametrize("call, message", [
    (lambda: vgg.VGG(config="vgg17"), r"config.*'vgg11', 'vgg13', 'vgg16', 'vgg19'.*vgg17"),
    (lambda: vgg.VGG16(input_shape=(16, 16, 3), include_top=False), r"at least 32x32"),
    (lambda: vgg.VGG16BN(weights="imagenet"), r"No ImageNet weights.*batch_norm=False"),
    (lambda: vgg.VGG11(weights="imagenet", include_top=False), r"No ImageNet weights.*'vgg16' or 'vgg19'"),
    (lambda: vgg.VGG16(weights="imagenet", classes=10), r"classes=1000"),
    (lambda: vgg.VGG16(weights="imagenet", input_shape=(128, 128, 3)), r"needs input_shape=\(224, 224, 3\)"),
    (lambda: vgg.VGG16(input_shape=(None, None, 3)), r"include_top=True.*fixed `input_shape`"),
    (lambda: vgg.VGG16(dropout_rate=1.5), r"dropout_rate.*\[0, 1\)"),
    (lambda: vgg.VGG16(include_top=False, pooling="mean"), r"pooling"),
    (lambda: alexnet.AlexNet(input_shape=(62, 62, 3), include_top=False), r"at least 63x63"),
    (lambda: alexnet.ZFNet(input_shape=(46, 46, 3), include_top=False), r"at least 47x47"),
    (lambda: alexnet.AlexNet(weights="imagenet"), r"No ImageNet weights.*alexnet"),
    (lambda: alexnet.AlexNet(lrn="yes"), r"`lrn` must be True or False"),
    (lambda: alexnet.ZFNet(input_shape=(None, None, 3)), r"fixed `input_shape`"),
    (lambda: alexnet.AlexNet(weights="no/such/file.h5"), r"weights.*no/such/file.h5"),
    (lambda: LocalResponseNormalization(size=0), r"`size`.*positive integer"),
    (lambda: LocalResponseNormalization(beta=-1), r"`beta`.*non-negative"),
])
def test_errors_name_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_weights_of_another_depth_name_the_layers(tmp_path):
    path = tmp_path / "vgg11.h5"
    vgg.VGG11(include_top=False, input_shape=(32, 32, 3)).save(path)
    with pytest.raises(ValueError, match=r"no weights in the file for block1_conv2"):
        vgg.VGG13(include_top=False, input_shape=(32, 32, 3), weights=str(path))
