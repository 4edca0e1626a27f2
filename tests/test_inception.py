"""GoogLeNet (Inception V1) and Inception V3: counts against the papers, torchvision
and keras.applications; keras.applications' InceptionV3 weights in every Keras
format; auxiliary classifiers (training with them, dropping them for export)."""

import keras
import numpy as np
import pytest
from randomize import randomize_batch_norm  # tests/randomize.py
from conftest import tf_preprocess

from keras_lightnets import registry
from keras_lightnets.data import load_digits
from keras_lightnets.models import inception
from keras_lightnets.models.inception import GoogLeNet
from keras_lightnets.models.inception import InceptionV3
from keras_lightnets.models.inception import inference_model

from figures import at_most  # tests/figures.py: bounds on trained figures, measured across seeds
from eager import infer  # tests/eager.py: model(x) as numpy, no predict trace
from legacy_h5 import serve_as_download  # tests/legacy_h5.py: get_file answered by a written file

ka = keras.applications


def trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def bn_channels(model):
    return sum(layer.beta.shape[0] for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization))


# --------------------------------------------------------------------------- #
# Inception V3 = keras.applications.InceptionV3
# --------------------------------------------------------------------------- #

KERAS_INCEPTION_V3_PARAMS = 23_851_784
# torchvision.models.inception_v3: num_params 27,161,264, with its AuxLogits head
# (aux_logits=True) and BN scales (gamma), which keras' InceptionV3 has not (scale=False).
TORCHVISION_INCEPTION_V3_PARAMS = 27_161_264


def test_inception_v3_parameter_count_equals_keras_applications():
    ours = InceptionV3()
    assert ours.count_params() == ka.InceptionV3(weights=None).count_params() == KERAS_INCEPTION_V3_PARAMS
    assert ours.input_shape == (None, 299, 299, 3)
    assert ours.get_layer("mixed10").output.shape == (None, 8, 8, 2048)


def test_inception_v3_with_aux_head_equals_torchvision_count():
    model = InceptionV3(aux_logits=True)
    assert [tuple(o.shape) for o in model.outputs] == [(None, 1000), (None, 1000)]
    # torchvision counts a gamma per BN channel on top of our trainable parameters.
    assert trainable(model) + bn_channels(model) == TORCHVISION_INCEPTION_V3_PARAMS
    # Off by default: keras' count.
    assert inference_model(model).count_params() == KERAS_INCEPTION_V3_PARAMS


@pytest.fixture(scope="module")
def keras_reference(photos):
    """keras.applications.InceptionV3 at its minimum size, BN statistics randomized, and its logits."""
    size = 75
    reference = ka.InceptionV3(weights=None, input_shape=(size, size, 3), classifier_activation=None)
    randomize_batch_norm(reference)
    x = tf_preprocess(photos(size)[:4])
    return reference, x, infer(reference, x)


@pytest.mark.parametrize("file_format", ["keras", "weights.h5", "h5"])
def test_keras_applications_inception_v3_weights_load_and_agree(file_format, keras_reference, tmp_path):
    """keras' layers are auto-named (conv2d_N), ours descriptive: Keras 3 files match
    by class and rank, legacy .h5 (the published files' format) by creation order."""
    reference, x, expected = keras_reference
    assert reference.layers[1].name.startswith("conv2d")  # auto names: no by-name match possible
    path = tmp_path / f"reference.{file_format}"
    reference.save_weights(path) if file_format == "weights.h5" else reference.save(path)
    model = InceptionV3(weights=str(path), input_shape=x.shape[1:], classifier_activation=None)
    assert "mixed0_branch5x5_2_conv" in [layer.name for layer in model.layers]
    assert np.abs(expected).max() > 1e-2
    np.testing.assert_allclose(infer(model, x), expected, atol=1e-5, rtol=0)


def test_imagenet_weights_fetch_the_published_notop_file(monkeypatch, photos, tmp_path):
    """weights="imagenet" asks for keras' published file (name, URL, hash); the
    download is replaced by a file in its layout (legacy .h5, auto names)."""
    donor = ka.InceptionV3(weights=None, include_top=False, pooling="avg", input_shape=(75, 75, 3))
    randomize_batch_norm(donor, seed=1)
    saved = tmp_path / inception.INCEPTION_V3_WEIGHTS_NO_TOP.filename
    donor.save(saved)
    requested = serve_as_download(monkeypatch, saved)
    model = InceptionV3(weights="imagenet", include_top=False, pooling="avg", input_shape=(75, 75, 3))
    assert requested == [(
        "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
        "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "models", "bcbd6486424b2319ff4ef7d526e38f63",
    )]
    assert inception.INCEPTION_V3_WEIGHTS.file_hash == "9a0d58056eeedaa3f26cb7ebd46da564"
    x = tf_preprocess(photos(75)[:3])
    np.testing.assert_allclose(infer(model, x), infer(donor, x), atol=1e-5, rtol=0)


def test_keras_weights_load_into_the_aux_model_leaving_the_head_random(tmp_path):
    reference = ka.InceptionV3(weights=None)
    path = tmp_path / "reference.weights.h5"
    reference.save_weights(path)
    model = InceptionV3(weights=str(path), aux_logits=True)
    # Every weight of keras' model sits at the same place in the main-output view...
    main = inference_model(model)
    assert len(main.weights) == len(reference.weights)
    for ours, theirs in zip(main.weights, reference.weights):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    # ...and the auxiliary head exists, randomly initialized.
    assert model.get_layer("aux_conv1_conv").kernel.shape == (5, 5, 128, 768)


# --------------------------------------------------------------------------- #
# GoogLeNet
# --------------------------------------------------------------------------- #

# torchvision.models.googlenet: num_params 6,624,904 (no aux heads; BN gamma/beta
# counted, no conv biases) with a 3x3 convolution where the paper has 5x5.
TORCHVISION_GOOGLENET_PARAMS = 6_624_904


def googlenet_by_hand():
    """Conv kernels of Table 1, by hand. One module, inception3a (input 192 channels):
        #1x1        192 * 64           =  12,288
        #3x3 reduce 192 * 96           =  18,432
        #3x3        96 * 128 * 3 * 3   = 110,592
        #5x5 reduce 192 * 16           =   3,072
        #5x5        16 * 32 * 5 * 5    =  12,800
        pool proj   192 * 32           =   6,144
                                         163,328 (Table 1: "159K", K = 1024)
    output 64 + 128 + 32 + 32 = 256 channels; BN: one gamma and one beta per conv
    output channel (64 + 96 + 128 + 16 + 32 + 32 = 368 channels).
    """
    assert 192 * 64 + 192 * 96 + 96 * 128 * 9 + 192 * 16 + 16 * 32 * 25 + 192 * 32 == 163_328
    kernels, bn = 3 * 64 * 7 * 7 + 64 * 64 + 64 * 192 * 3 * 3, 64 + 64 + 192  # stem: conv1, conv2, conv3
    channels = 192
    for _, n1, r3, n3, r5, n5, proj in inception.GOOGLENET_TABLE:
        kernels += channels * (n1 + r3 + r5 + proj) + r3 * n3 * 9 + r5 * n5 * 25
        bn += n1 + r3 + n3 + r5 + n5 + proj
        channels = n1 + n3 + n5 + proj
    assert channels == 1024
    kernels += 1024 * 1000  # fc
    return kernels, bn, 1000  # kernels, BN channels, fc biases


def test_googlenet_parameters_by_hand_from_table_1():
    kernels, bn, biases = googlenet_by_hand()
    assert (kernels, bn) == (6_990_272, 7_280)
    model = GoogLeNet()
    assert trainable(model) == kernels + 2 * bn + biases == 7_005_832
    assert model.count_params() == trainable(model) + 2 * bn  # + BN running statistics
    # torchvision's 3x3 instead of the paper's 5x5: 16 weights per (reduce, out) pair.
    assert trainable(model) - TORCHVISION_GOOGLENET_PARAMS == 16 * sum(r5 * n5 for _, _, _, _, r5, n5, _ in inception.GOOGLENET_TABLE) == 380_928
    # The paper's own network (conv biases, no BN) is inside the accepted 6.6-7M window...
    paper_network = kernels + bn + biases
    assert paper_network == 6_998_552 and 6.6e6 <= paper_network <= 7.0e6
    # ...and Table 1's params column, in K of 1024, sums to the paper's "6.8M".
    assert round(kernels / 1024 / 1000, 1) == registry.model_info("googlenet").paper_params_m == 6.8


# Table 1's "ops" column (millions of multiply-adds at 224x224), row by row.
TABLE_1_OPS_M = {
    "conv2": 360, "inception3a": 128, "inception3b": 304, "inception4a": 73, "inception4b": 88,
    "inception4c": 100, "inception4d": 119, "inception4e": 170, "inception5a": 54, "inception5b": 71, "fc": 1,
}


def test_googlenet_macs_match_table_1_row_by_row():
    from keras_lightnets.profiling import profile

    stats = profile(GoogLeNet(), per_layer=True)
    rows = {}
    for row in stats.layers:
        key = "conv2" if row.name.startswith("conv3") else row.name.split("_")[0]
        rows[key] = rows.get(key, 0) + row.macs
    for key, paper in TABLE_1_OPS_M.items():
        # Table 1's inception5a row (54M ops, 1072K params) does not follow from its own
        # widths: 49 * (832 * (256 + 160 + 32 + 128) + 160 * 320 * 9 + 32 * 128 * 25) = 51.08M.
        tolerance = 0.06 if key == "inception5a" else 0.01
        assert abs(rows[key] / 1e6 - paper) <= max(1.0, tolerance * paper), (key, rows[key], paper)
    assert rows["inception5a"] == 49 * (832 * (256 + 160 + 32 + 128) + 160 * 320 * 9 + 32 * 128 * 25)
    # conv1 (7x7x3x64 at 112x112) is 118M; Table 1 prints 34M (and 2.7K params for its
    # 9,408 weights): the paper's total of ~1.5G counts it so.
    assert rows["conv1"] == 112 * 112 * 7 * 7 * 3 * 64
    paper_total = sum(TABLE_1_OPS_M.values()) + 34
    assert paper_total == 1502
    assert abs((stats.macs - rows["conv1"]) / 1e6 + 34 - registry.model_info("googlenet").paper_macs_m) < 0.03 * 1500
    assert stats.macs == 1_582_671_872


def test_inception_v3_macs_against_torchvision_and_the_paper():
    from keras_lightnets.profiling import profile

    macs = profile(InceptionV3()).macs
    # torchvision.models.inception_v3: 5.71 GFLOPS (its "FLOPS" are multiply-adds).
    assert abs(macs / 5.71e9 - 1) < 0.01, macs
    # The paper's abstract: "a computational cost of 5 billion multiply-adds" (rounded down).
    assert registry.model_info("inception_v3").paper_macs_m == 5000
    assert 1.1 < macs / 5e9 < 1.16


def test_googlenet_aux_outputs_and_shapes():
    model = GoogLeNet(aux_logits=True, classes=7)
    assert [tuple(o.shape) for o in model.outputs] == [(None, 7)] * 3
    assert model.output_names == ["fc", "aux1_fc2", "aux2_fc2"]
    # Paper section 5: 4x4x512 after inception4a, 4x4x528 after inception4d.
    assert model.get_layer("aux1_pool").output.shape == (None, 4, 4, 512)
    assert model.get_layer("aux2_pool").output.shape == (None, 4, 4, 528)
    assert model.get_layer("aux1_fc1").kernel.shape == (2048, 1024)
    assert model.get_layer("aux1_dropout").rate == 0.7
    assert len(GoogLeNet(classes=7).outputs) == 1  # default off


def test_googlenet_fit_with_aux_losses_then_inference_model_shares_weights(photos, tmp_path):
    keras.utils.set_random_seed(1)
    size = inception.GOOGLENET_AUX_MIN_SIZE
    (x, y), _ = load_digits(image_size=size, num_classes=5)
    x, y = x[:64], y[:64]
    model = GoogLeNet(aux_logits=True, input_shape=(size, size, 3), classes=5, include_preprocessing=True)
    model.compile(keras.optimizers.Adam(1e-3), loss=["sparse_categorical_crossentropy"] * 3, loss_weights=[1.0, 0.3, 0.3],
                  run_eagerly=True)  # a few steps: tracing the train graph would cost more than running them
    losses = model.fit(x, (y, y, y), batch_size=32, epochs=3, verbose=0).history["loss"]
    at_most("googlenet with aux heads: last / first epoch loss", losses[-1] / losses[0], 0.8)

    deployable = inference_model(model)
    assert len(deployable.outputs) == 1 and not any(layer.name.startswith("aux") for layer in deployable.layers)
    assert deployable.get_layer("fc") is model.get_layer("fc")  # shared, not copied
    images = photos(size)[:3].astype("float32")
    np.testing.assert_allclose(infer(deployable, images), infer(model, images)[0], atol=1e-6)
    assert inception.googlenet_inference_model is inference_model
    assert inference_model(deployable) is deployable
    path = tmp_path / "deployable.keras"
    deployable.save(path)
    reloaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_allclose(infer(reloaded, images), infer(deployable, images), atol=1e-6)


def test_googlenet_lrn_knob():
    plain, with_lrn = GoogLeNet(input_shape=(64, 64, 3)), GoogLeNet(input_shape=(64, 64, 3), lrn=True)
    assert with_lrn.count_params() == plain.count_params()
    lrn = with_lrn.get_layer("lrn1")
    assert (lrn.size, lrn.alpha, lrn.beta, lrn.k) == (5, pytest.approx(2e-5), 0.75, 1.0)
    assert with_lrn.get_layer("lrn2").input.shape[-1] == 192


# --------------------------------------------------------------------------- #
# Backbone mode, registry, errors
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("builder, size, expected", [
    (GoogLeNet, 224, [(112, 64), (56, 192), (28, 480), (14, 832), (7, 1024)]),
    (GoogLeNet, 64, [(32, 64), (16, 192), (8, 480), (4, 832), (2, 1024)]),
    (InceptionV3, 299, [(147, 64), (71, 192), (35, 288), (17, 768), (8, 2048)]),
    (InceptionV3, 96, [(45, 64), (20, 192), (9, 288), (4, 768), (1, 2048)]),
])
def test_features_only_shapes(builder, size, expected):
    model = builder(input_shape=(size, size, 3), features_only=True, out_strides=(2, 4, 8, 16, 32))
    assert [(o.shape[1], o.shape[3]) for o in model.outputs] == expected


def test_registered_with_paper_figures():
    assert registry.list_models("googlenet") == ["googlenet"]
    assert registry.model_info("inception_v3").default_size == 299
    model = registry.create_model("googlenet", input_shape=(64, 64, 3), classes=7)
    assert model.output_shape == (None, 7) and model.layers[1].name == "rescaling"
    assert registry.create_model("inception_v3", input_shape=(75, 75, 3), classes=3).output_shape == (None, 3)


@pytest.mark.parametrize("builder, kwargs, message", [
    (GoogLeNet, {"weights": "imagenet"}, "no GoogLeNet weights"),
    (GoogLeNet, {"aux_logits": True, "include_top": False}, r"aux_logits=True.*include_top=True"),
    (InceptionV3, {"aux_logits": True, "features_only": True}, r"aux_logits=True.*features_only=False"),
    (GoogLeNet, {"aux_logits": "yes"}, "aux_logits"),
    (GoogLeNet, {"aux_logits": True, "input_shape": (64, 64, 3)}, r"at least 65x65"),
    (InceptionV3, {"aux_logits": True, "input_shape": (256, 256, 3)}, r"at least 299x299.*aux_logits=False"),
    (InceptionV3, {"input_shape": (74, 74, 3)}, r"at least 75x75"),
    (GoogLeNet, {"input_shape": (31, 31, 3)}, r"at least 32x32"),
    (GoogLeNet, {"dropout_rate": 1.0}, "dropout_rate"),
    (GoogLeNet, {"lrn": 1}, "lrn"),
    (InceptionV3, {"weights": "imagenet", "classes": 10}, r"classes=1000.*include_top=False"),
    (InceptionV3, {"pooling": "mean", "include_top": False}, "pooling"),
    (InceptionV3, {"include_top": False, "features_only": True, "out_strides": (64,)}, "out_strides"),
    (InceptionV3, {"weights": "no/such/file.h5"}, "no/such/file.h5"),
])
def test_errors_name_the_argument(builder, kwargs, message):
    with pytest.raises(ValueError, match=message):
        builder(**kwargs)


def test_inference_model_needs_a_model():
    with pytest.raises(ValueError, match="keras.Model"):
        inference_model("googlenet")


def test_weights_of_another_architecture_are_refused(tmp_path):
    path = tmp_path / "mobilenet.h5"
    ka.MobileNet(weights=None, input_shape=(96, 96, 3), alpha=0.25).save(path)
    with pytest.raises(ValueError, match=r"do not fit model.*conv2d layers in the file.*InceptionV3"):
        InceptionV3(weights=str(path), input_shape=(96, 96, 3))
