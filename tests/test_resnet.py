"""The ResNet family (v1, v2, Wide ResNet, ResNeXt, SENet): exact counts against
keras.applications and torchvision, keras.applications' weights loaded into ours
giving the same logits, multiply-adds against the papers, backbone mode, training,
and the errors of bad arguments."""

import dataclasses

import keras
import numpy as np
import pytest
from randomize import randomize_batch_norm  # tests/randomize.py

from keras_lightnets.data import load_digits
from keras_lightnets.models import resnet
from keras_lightnets.profiling import profile
from keras_lightnets.registry import create_model
from keras_lightnets.registry import model_info
from keras_lightnets.weights import read_weight_arrays

from figures import at_least  # tests/figures.py: bounds on trained figures, measured across seeds
from figures import at_most

from legacy_h5 import serve_as_download  # tests/legacy_h5.py
from legacy_h5 import write_legacy_weights  # tests/legacy_h5.py: keras.applications' published layout, via h5py
from eager import infer  # tests/eager.py: model(x) as numpy, no predict trace

ka = keras.applications


@pytest.mark.parametrize(
    "ours, theirs",
    [(resnet.ResNet50, ka.ResNet50), (resnet.ResNet50V2, ka.ResNet50V2)],
    ids=["ResNet50", "ResNet50V2"],
)
def test_counts_and_layer_names_equal_keras_applications_live(ours, theirs):
    model, reference = ours(), theirs(weights=None)
    assert model.count_params() == reference.count_params()
    weighted = lambda m: {layer.name: [tuple(w.shape) for w in layer.weights] for layer in m.layers if layer.weights}
    assert weighted(model) == weighted(reference)


# (registry name, exact reference count, which count, MACs at 224 (M) the paper or reference gives)
# keras.applications counts (model.count_params(), BN moving statistics included) were
# checked once against keras.applications built live: ResNet101, ResNet152, ResNet*V2.
# torchvision/timm count nn.Parameters: our trainable parameters.
REFERENCE = [
    ("resnet18", 11_689_512, "trainable"),  # torchvision resnet18
    ("resnet34", 21_797_672, "trainable"),  # torchvision resnet34
    ("resnet50", 25_636_712, "total"),  # keras.applications.ResNet50
    ("resnet101", 44_707_176, "total"),  # keras.applications.ResNet101
    ("resnet152", 60_419_944, "total"),  # keras.applications.ResNet152
    ("resnet50_v2", 25_613_800, "total"),  # keras.applications.ResNet50V2
    ("resnet101_v2", 44_675_560, "total"),  # keras.applications.ResNet101V2
    ("resnet152_v2", 60_380_648, "total"),  # keras.applications.ResNet152V2
    ("wide_resnet50_2", 68_883_240, "trainable"),  # torchvision wide_resnet50_2
    ("wide_resnet101_2", 126_886_696, "trainable"),  # torchvision wide_resnet101_2
    ("resnext50_32x4d", 25_028_904, "trainable"),  # torchvision resnext50_32x4d
    ("resnext101_32x8d", 88_791_336, "trainable"),  # torchvision resnext101_32x8d
    ("resnext101_64x4d", 83_455_272, "trainable"),  # torchvision resnext101_64x4d
    ("seresnet50", 28_088_024, "trainable"),  # timm seresnet50
    ("seresnext50_32x4d", 27_559_896, "trainable"),  # timm seresnext50_32x4d
]
SLOW = {"resnet152", "resnet152_v2", "wide_resnet101_2", "resnext101_32x8d", "resnext101_64x4d", "resnet101_v2"}


@pytest.mark.parametrize(
    "name, expected, which",
    [pytest.param(*row, marks=pytest.mark.slow) if row[0] in SLOW else row for row in REFERENCE],
    ids=[row[0] for row in REFERENCE],
)
def test_counts_equal_the_reference(name, expected, which):
    """The reference implementation's exact count (keras.applications counts all
    weights, torchvision/timm the trainable ones). The papers' figures are held by
    tests/test_paper_tables.py for every registered model."""
    stats = profile(create_model(name, include_preprocessing=False))
    assert (stats.params if which == "total" else stats.trainable_params) == expected


def test_the_issue_conformance_figures():
    """ResNet-50 4.1G / 25.6M (torchvision's v1.5 geometry: stride on the 3x3; the
    paper's stride-on-1x1 model, registered, is 3.86G against the paper's 3.8G),
    SE-ResNet-50 3.9G / 28.1M, WRN-28-10 36.5M, all within 3%."""
    v15 = profile(resnet.ResNet50(stride_on="3x3"))
    assert v15.macs / 1e9 == pytest.approx(4.1, rel=0.03) and v15.trainable_params / 1e6 == pytest.approx(25.6, rel=0.03)
    paper = profile(resnet.ResNet50())
    assert paper.macs == 3_857_973_248 and paper.macs / 1e9 == pytest.approx(3.8, rel=0.03)
    assert model_info("resnet50").paper_macs_m == 3800 and "v1.5" in model_info("resnet50").note
    se = profile(resnet.SEResNet50())
    assert se.macs / 1e9 == pytest.approx(3.9, rel=0.03) and se.trainable_params / 1e6 == pytest.approx(28.1, rel=0.03)
    wrn = profile(create_model("wrn_28_10", include_preprocessing=False))
    assert wrn.trainable_params == 36_479_194 and wrn.trainable_params / 1e6 == pytest.approx(36.5, rel=0.03)
    assert wrn.macs / 1e9 == pytest.approx(5.24, rel=0.01)
    assert wrn.input_shape == (32, 32, 3)


@pytest.mark.parametrize(
    "ours, theirs, preprocess_input",
    [
        (resnet.ResNet50, ka.ResNet50, ka.resnet.preprocess_input),  # caffe: BGR, mean subtracted
        (resnet.ResNet50V2, ka.ResNet50V2, ka.resnet_v2.preprocess_input),  # tf: [-1, 1]
    ],
    ids=["ResNet50", "ResNet50V2"],
)
def test_keras_applications_weights_load_and_agree(ours, theirs, preprocess_input, photos, tmp_path):
    """A keras.applications model's weights saved as a legacy .h5 (the published
    files' format) give ours the same logits on real photos at 64x64; and with
    include_preprocessing=True ours takes raw RGB pixels for its preprocess_input."""
    size = 64
    reference = theirs(weights=None, input_shape=(size, size, 3), classifier_activation=None)
    randomize_batch_norm(reference)
    path = tmp_path / "reference.h5"
    reference.save(path)
    pixels = photos(size).astype("float32")
    expected = infer(reference, preprocess_input(pixels.copy()))
    assert np.abs(expected).max() > 1e-2  # the comparison is not between zeros
    scale = max(1.0, float(np.abs(expected).max()))  # atol 1e-5 relative to the logits' size

    model = ours(weights=str(path), input_shape=(size, size, 3), classifier_activation=None)
    np.testing.assert_allclose(infer(model, preprocess_input(pixels.copy())), expected, atol=1e-5 * scale, rtol=0)
    raw = ours(weights=str(path), input_shape=(size, size, 3), classifier_activation=None, include_preprocessing=True)
    np.testing.assert_allclose(infer(raw, pixels), expected, atol=1e-4 * scale, rtol=0)


def test_imagenet_weights_fetch_the_published_file(monkeypatch, tmp_path):
    """weights="imagenet" asks keras.utils.get_file for keras.applications' file
    (name, URL, hash); only the download is replaced, by a file this test writes."""
    expected_file = resnet.imagenet_weights("resnet50v2", include_top=False)
    saved = tmp_path / expected_file.filename
    write_legacy_weights(ka.ResNet50V2(weights=None, include_top=False, input_shape=(64, 64, 3)), saved)
    requested = serve_as_download(monkeypatch, saved)
    model = resnet.ResNet50V2(weights="imagenet", include_top=False, input_shape=(64, 64, 3))
    assert requested == [(
        "resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "https://storage.googleapis.com/tensorflow/keras-applications/resnet/resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "models", "fac2f116257151a9d068a22e544a4917",
    )]
    arrays, _ = read_weight_arrays(saved)
    for layer in model.layers:
        for got, want in zip(layer.get_weights(), arrays.get(layer.name, [])):
            np.testing.assert_array_equal(got, want)
    assert resnet.imagenet_weights("resnet50", True).file_hash == "2cb95161c43110f7111970584f804107"


# (name, input size, strides, channels of the feature maps)
BACKBONES = [
    ("resnet18", 64, (2, 4, 8, 16, 32), (64, 64, 128, 256, 512)),
    ("resnext50_32x4d", 64, (2, 4, 8, 16, 32), (64, 256, 512, 1024, 2048)),
    # v2 strides on the last block of a stage: the stride-8 map is conv3's third block.
    ("resnet50_v2", 64, (2, 4, 8, 16, 32), (64, 256, 512, 1024, 2048)),
    ("wrn_28_10", 32, (1, 2, 4), (160, 320, 640)),
]


@pytest.mark.parametrize("name, size, strides, channels", BACKBONES, ids=[b[0] for b in BACKBONES])
def test_backbone_mode_gives_multiscale_features(name, size, strides, channels):
    model = create_model(name, input_shape=(size, size, 3), features_only=True, out_strides=strides)
    assert [tuple(t.shape[1:]) for t in model.outputs] == [(size // s, size // s, c) for s, c in zip(strides, channels)]


def test_backbone_default_strides_and_open_input():
    model = resnet.ResNet50(features_only=True)  # open spatial dims, C2..C5
    assert [tuple(t.shape[1:]) for t in model.outputs] == [(None, None, c) for c in (256, 512, 1024, 2048)]
    assert [tuple(t.shape[1:]) for t in resnet.WideResNet(input_shape=(32, 32, 3), features_only=True).outputs] == [
        (32, 32, 160), (16, 16, 320), (8, 8, 640)]


def test_fit_reduces_loss_on_real_digits():
    keras.utils.set_random_seed(1)
    (x, y), _ = load_digits(image_size=32, num_classes=5)
    x, y = x[:704], y[:704]  # whole batches of 32: a last, smaller batch would trace the step again
    model = create_model("resnet18", input_shape=(32, 32, 3), classes=5)
    model.compile(keras.optimizers.Adam(2e-3), "sparse_categorical_crossentropy", metrics=["accuracy"], jit_compile=False)
    history = model.fit(x, y, batch_size=32, epochs=2, verbose=0)
    losses = history.history["loss"]
    at_most("resnet18: last / first epoch loss", losses[-1] / losses[0], 0.5)
    at_least("resnet18: last epoch accuracy", history.history["accuracy"][-1], 0.7)


def _miniature(name, **changes):
    """A registered network's conventions on a two-stage, one-block-a-stage table
    (cheap to save and load), built by the family's one builder."""
    spec = resnet.SPECS[name]
    stages = (resnet.ResNetStage(1, 16, 1), resnet.ResNetStage(1, 32, 2))
    return dataclasses.replace(spec, stages=stages, stem_width=16, **changes)


def test_keras_file_round_trip_in_safe_mode(photos, tmp_path):
    """The caffe preprocessing (BGR flip from stock layers), SE with grouped convs,
    keras' v1 and v2 blocks and WRN's dropout survive a .keras round trip with no
    custom objects, and are stock layers only."""
    x = photos(64).astype("float32")
    for name, spec in (
        ("seresnext", _miniature("seresnext50_32x4d", cardinality=4, se_ratio=4)),
        ("keras_v1_caffe", _miniature("resnet50")),
        ("keras_v2", _miniature("resnet50_v2")),
        ("wrn_dropout", _miniature("wrn_28_10", dropout_rate=0.3)),
    ):
        model = resnet.build_resnet(spec, input_shape=(64, 64, 3), classes=5, include_preprocessing=True, name=name)
        path = tmp_path / f"{name}.keras"
        model.save(path)
        loaded = keras.models.load_model(path, safe_mode=True)
        np.testing.assert_array_equal(infer(loaded, x), infer(model, x))
        for op in model.operations:
            assert type(op).__module__.startswith("keras.src.layers"), type(op)


def test_knobs_change_the_architecture_where_the_paper_says():
    """SE on any block (here keras' ResNet50, named as keras' own SE layers), the
    WRN table (depth 6n+4, width k), dropout between the two convs."""
    se = resnet.ResNet50(se_ratio=16, input_shape=(64, 64, 3), include_top=False)
    assert se.get_layer("conv2_block1_se_reduce").filters == 256 // 16
    assert se.count_params() - resnet.ResNet50(input_shape=(64, 64, 3), include_top=False).count_params() == sum(
        2 * c * (c // 16) + c + c // 16 for c, n in zip((256, 512, 1024, 2048), (3, 4, 6, 3)) for _ in range(n))
    wrn = resnet.WideResNet(depth=16, width=4, dropout_rate=0.3)
    assert wrn.get_layer("layer3_1_dropout").rate == 0.3
    assert wrn.get_layer("layer1_0_shortcut").filters == 64 and wrn.output_shape == (None, 10)
    assert wrn.get_layer("layer2_0_conv1").strides == (2, 2)
    # The SENet authors' SE-ResNet strides on the 1x1, SE-ResNeXt on the 3x3.
    assert resnet.SEResNet50(input_shape=(64, 64, 3)).get_layer("layer2_0_conv1").strides == (2, 2)
    assert resnet.SEResNeXt50_32x4d(input_shape=(64, 64, 3)).get_layer("layer2_0_conv2").strides == (2, 2)
    # Odd sizes: the shortcut and the strided conv agree (ceil(n / 2) at each stride).
    assert resnet.ResNet18(input_shape=(65, 65, 3), features_only=True).output_shape[-1] == (None, 3, 3, 512)
    assert resnet.ResNeXt50_32x4d(cardinality=8, base_width=16, input_shape=(64, 64, 3)).get_layer("layer1_0_conv2").groups == 8


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: resnet.WideResNet(depth=27), r"`depth` of a Wide ResNet must be 6n \+ 4.*depth=27"),
        (lambda: resnet.WideResNet(width=0), r"`width`.*positive integer"),
        (lambda: resnet.WideResNet(dropout_rate=1.5), r"`dropout_rate` must be in \[0, 1\)"),
        (lambda: resnet.ResNeXt50_32x4d(base_width=0.5), r"`base_width`=0.5 leaves int\(64 \* 0.5 / 64\) = 0 channels per group"),
        (lambda: resnet.ResNeXt50_32x4d(cardinality=0), r"`cardinality` must be a positive integer"),
        (lambda: resnet.build_resnet(dataclasses.replace(resnet.SPECS["resnet18"], cardinality=32)),
         r"Basic blocks have no grouped convolution: `cardinality` must be 1"),
        (lambda: resnet.ResNet18(cardinality=32), r"ResNet18 got unknown argument\(s\) \['cardinality'\].*\['se_ratio'\]"),
        (lambda: resnet.ResNet50(stride_on="5x5"), r"`stride_on` must be '1x1'"),
        (lambda: resnet.ResNet18(se_ratio=128), r"`se_ratio`=128 exceeds the narrowest block \(64 channels\)"),
        (lambda: resnet.ResNet18(weights="imagenet"), r"No ImageNet weights.*only for ResNet50/101/152"),
        (lambda: resnet.ResNet50(weights="imagenet", se_ratio=16), r"No ImageNet weights.*default architecture"),
        (lambda: resnet.ResNet50(weights="imagenet", classes=10), r"classes=1000"),
        (lambda: resnet.ResNet50(input_shape=(16, 16, 3)), r"at least 32x32"),
        (lambda: resnet.ResNet50(include_top=False, pooling="mean"), r"pooling"),
        (lambda: resnet.ResNet18(input_shape=(64, 64, 3), features_only=True, out_strides=(64,)), r"out_strides"),
        (lambda: resnet.WideResNet(features_only=True, out_strides=(4, 8)), r"out_strides.*\[1, 2, 4\]"),
    ],
    ids=["wrn-depth", "wrn-width", "dropout", "base-width", "cardinality", "basic-grouped", "unknown-knob",
         "stride-on", "se-ratio", "no-weights-18", "weights-other-arch", "classes", "small-input", "pooling",
         "out-strides", "wrn-out-strides"],
)
def test_bad_arguments_name_the_argument(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_weights_of_another_depth_name_the_layers(tmp_path):
    path = tmp_path / "r18.h5"
    resnet.ResNet18(input_shape=(64, 64, 3)).save(path)
    with pytest.raises(ValueError, match=r"do not fit model.*no weights in the file for layer1_2_conv1"):
        resnet.ResNet34(input_shape=(64, 64, 3), weights=str(path))
