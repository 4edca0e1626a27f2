"""Conformance: every registered model's parameters and multiply-adds (kl.profile at the
paper's resolution, 1000 classes) against the figures published for it, and against
independent references that do not go through our builders:

- keras.applications' same architecture, built live here (weights=None, never run);
- the figures torchvision publishes in its weights metadata (`num_params`, and `_ops`
  in GFLOPS, which are multiply-adds), held to the digits it prints;
- closed-form counts from a paper's hyperparameters.

Where a published figure disagrees with the architecture it describes, the registry says
why (ModelInfo.note), this file checks that the disagreement is real, and the model is
held to an independent reference instead. None of our own counts is pinned here: a pin
would only check itself. Every figure names its source (ModelInfo.figures_source), and
one that has none says so."""

import copy
import functools
import importlib.util
import math
import os

import keras
import pytest

import keras_lightnets as kl

MACS_TOLERANCE = 0.03
PARAMS_TOLERANCE = 0.03
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Published figures that disagree with the architecture they describe (the registry's note
# says why). Each is held to an independent reference below instead.
DISAGREES = {
    ("mobilenet_v2_140", "params"): "the paper prints 6.9M; keras.applications' alpha=1.4 has 6.11M",
    ("mobilenet_v3_small_minimalistic", "macs"): "checkpoint table, another convention (66M for Small's 56M)",
    ("googlenet", "macs"): "Table 1 misprints conv1 (34M for 118M)",
    ("inception_v3", "macs"): "the abstract's rounded '5 billion'",
    ("vit_ti16", "macs"): "timm's '1.3 GMACs', two digits",
    ("efficientnet_b4", "macs"): "Table 2: 4.2B for the released (1.4, 1.8, 380 px)",
    ("efficientnet_b5", "macs"): "Table 2: 9.9B for the released (1.6, 2.2, 456 px)",
    ("efficientnet_lite0", "macs"): "the Lite README counts beyond multiply-adds",
    ("efficientnet_lite1", "macs"): "the Lite README counts beyond multiply-adds",
    ("efficientnet_lite2", "macs"): "the Lite README counts beyond multiply-adds",
    ("efficientnet_lite3", "macs"): "the Lite README counts beyond multiply-adds",
    ("efficientnet_lite4", "macs"): "the Lite README counts beyond multiply-adds",
}

WITH_FIGURES = [n for n in kl.list_models() if kl.model_info(n).paper_macs_m or kl.model_info(n).paper_params_m]


@functools.lru_cache(maxsize=None)
def measured(name):
    """The registry entry with our measured Profile: one build per model for all the
    tests of this file (the Profile is kept, not the model)."""
    return kl.model_info(name, measure=True)


def printed_precision(value):
    """Half a unit of the last printed digit, relative: a figure printed as 3.4 means
    3.35-3.45, so it cannot be held to better than 1.5%."""
    text = repr(float(value)).rstrip("0").rstrip(".")
    decimals = len(text.split(".")[1]) if "." in text else 0
    return 0.5 * 10 ** (-decimals) / value


def _ours(info, figure):
    return info.measured.macs if figure == "macs" else info.measured.trainable_params  # papers count learned weights


def _published(info, figure):
    return info.paper_macs_m if figure == "macs" else info.paper_params_m


def _agrees(ours, published, figure):
    tolerance = MACS_TOLERANCE if figure == "macs" else PARAMS_TOLERANCE + printed_precision(published)
    return ours / 1e6 == pytest.approx(published, rel=tolerance)


@pytest.mark.parametrize("name", WITH_FIGURES)
def test_parameters_and_multiply_adds_match_the_published_figures(name):
    """One build per model (at the paper's resolution, 1000 classes) for both figures; a
    figure nobody publishes is not checked here (the other still is). A figure that
    disagrees must be documented, and must really disagree: when it stops disagreeing,
    the note and the DISAGREES entry go."""
    info = measured(name)
    for figure in ("macs", "params"):
        published = _published(info, figure)
        if published is None:
            continue
        ours = _ours(info, figure)
        if (name, figure) in DISAGREES:
            assert info.note, f"{name}: a published {figure} figure that disagrees needs a note in the registry"
            assert not _agrees(ours, published, figure), f"{name} {figure}: ours {ours:,} now agrees with {published}"
        else:
            assert _agrees(ours, published, figure), f"{name} {figure}: ours {ours / 1e6:.3f}M, published {published}M"


# --------------------------------------------------------------- keras.applications, live


def _keras_applications(builder, size, **kwargs):
    return kl.profile(getattr(keras.applications, builder)(weights=None, input_shape=(size, size, 3), **kwargs))


KERAS_LIVE = [
    ("mobilenet_v2_140", "MobileNetV2", 224, {"alpha": 1.4}),
    ("mobilenet_v3_small_minimalistic", "MobileNetV3Small", 224, {"minimalistic": True}),
    ("inception_v3", "InceptionV3", 299, {}),
    ("efficientnet_b4", "EfficientNetB4", 380, {}),
    ("efficientnet_b5", "EfficientNetB5", 456, {}),
    ("densenet121", "DenseNet121", 224, {}),
    ("densenet169", "DenseNet169", 224, {}),
    ("densenet201", "DenseNet201", 224, {}),
    ("xception", "Xception", 299, {}),  # no published MACs: this is their check
]


@pytest.mark.parametrize("name, builder, size, kwargs", KERAS_LIVE, ids=[row[0] for row in KERAS_LIVE])
def test_counts_equal_keras_applications_built_live(name, builder, size, kwargs):
    ours = measured(name).measured
    theirs = _keras_applications(builder, size, **kwargs)
    assert (ours.params, ours.trainable_params, ours.macs) == (theirs.params, theirs.trainable_params, theirs.macs)


# keras.applications' generic EfficientNet builder given Lite's changes (tensorflow/tpu's
# efficientnet_lite_builder: no squeeze-excite, stem and head not scaled, the first and
# last stages' depth not scaled): (width, depth, resolution) of its lite0..lite4 table.
LITE = {
    "efficientnet_lite0": (1.0, 1.0, 224),
    "efficientnet_lite1": (1.0, 1.1, 240),
    "efficientnet_lite2": (1.1, 1.2, 260),
    "efficientnet_lite3": (1.2, 1.4, 280),
    "efficientnet_lite4": (1.4, 1.8, 300),
}


def _round_filters(filters, width, divisor=8):
    """keras.applications' (and tensorflow/tpu's) channel rounding."""
    filters *= width
    rounded = max(divisor, int(filters + divisor / 2) // divisor * divisor)
    return int(rounded + divisor if rounded < 0.9 * filters else rounded)


@pytest.mark.parametrize("name", sorted(LITE))
def test_efficientnet_lite_equals_keras_efficientnet_builder_with_lite_changes(name):
    # keras.applications exports only B0-B7; its generic builder is in keras.src (Keras 3.15).
    from keras.src.applications import efficientnet as keras_efficientnet

    width, depth, size = LITE[name]
    blocks = copy.deepcopy(keras_efficientnet.DEFAULT_BLOCKS_ARGS)
    for i, block in enumerate(blocks):
        block.update(filters_in=_round_filters(block["filters_in"], width),
                     filters_out=_round_filters(block["filters_out"], width), se_ratio=0.0)
        if 0 < i < len(blocks) - 1:
            block["repeats"] = int(math.ceil(depth * block["repeats"]))
    # width and depth 1.0: the stem (32) and head (1280) stay as they are, the blocks as given
    reference = kl.profile(keras_efficientnet.EfficientNet(
        1.0, 1.0, size, blocks_args=blocks, weights=None, input_shape=(size, size, 3)))
    ours = measured(name).measured
    assert (ours.trainable_params, ours.macs) == (reference.trainable_params, reference.macs)


# ------------------------------------------------------------- torchvision's published figures

# torchvision.models *_Weights.IMAGENET1K_V1.meta: num_params (learned weights, BN
# gamma/beta included, running statistics not) and _ops (GFLOPS, i.e. multiply-adds,
# printed to the digits below).
TORCHVISION = {
    "alexnet": (61_100_840, "0.714"),
    "densenet121": (7_978_856, "2.834"),
    "densenet169": (14_149_480, "3.36"),
    "densenet201": (20_013_928, "4.291"),
    "inception_v3": (None, "5.713"),  # its num_params (27,161,264) includes the auxiliary head
    "efficientnet_b4": (19_341_616, "4.394"),
    "efficientnet_b5": (30_389_784, "10.266"),
    "resnext101_64x4d": (83_455_272, "15.46"),
}


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_counts_equal_torchvision_published_figures(name):
    ours = measured(name).measured
    num_params, gflops = TORCHVISION[name]
    if num_params is not None:
        assert ours.trainable_params == num_params
    half_digit = 0.5 * 10 ** -len(gflops.split(".")[1])
    assert abs(ours.macs / 1e9 - float(gflops)) <= half_digit, (name, ours.macs, gflops)


def test_googlenet_equals_torchvision_with_its_3x3_for_the_papers_5x5():
    """torchvision's googlenet has a 3x3 convolution where Table 1 has the 5x5 (a quirk
    of its port): 16/25 of each such convolution's weights and multiply-adds."""
    model = kl.create_model("googlenet")
    stats = kl.profile(model, per_layer=True)
    five_by_five = [model.get_layer(row.name) for row in stats.layers if row.name.endswith("branch3_1_conv")]
    assert len(five_by_five) == 9 and {layer.kernel_size for layer in five_by_five} == {(5, 5)}
    macs = {row.name: row.macs for row in stats.layers}
    extra_macs = sum(macs[layer.name] * 16 // 25 for layer in five_by_five)
    extra_weights = sum(int(layer.kernel.shape.num_elements()) * 16 // 25 for layer in five_by_five)
    assert abs((stats.macs - extra_macs) / 1e9 - 1.498) <= 0.0005  # torchvision: _ops 1.498
    assert stats.trainable_params - extra_weights == 6_624_904  # torchvision: num_params


# ------------------------------------------------------------------------- closed forms


def test_vit_ti16_multiply_adds_in_closed_form():
    """DeiT-Ti (ViT-Ti/16): width 192, depth 12, MLP 768, 16x16 patches at 224: 197 tokens.
    The published '1.3 GMACs' (timm) is two digits of this: 1.254G rounds to 1.3."""
    tokens, width, depth, mlp, classes = 14 * 14 + 1, 192, 12, 768, 1000
    per_layer = (
        4 * tokens * width * width  # q, k, v and output projections
        + 2 * tokens * tokens * width  # QK^T and attention x V
        + 2 * tokens * width * mlp  # the MLP's two layers
    )
    patch_embedding = 14 * 14 * (16 * 16 * 3) * width
    expected = depth * per_layer + patch_embedding + width * classes
    macs = measured("vit_ti16").measured.macs
    assert macs == expected
    assert abs(macs / 1e9 - 1.3) <= 0.05


# ------------------------------------------------------------------------- the sources


def test_every_figure_names_its_source_and_a_missing_one_says_so():
    for name in kl.list_models():
        info = kl.model_info(name)
        assert info.figures_source.strip(), name
        if info.paper_params_m is None or info.paper_macs_m is None:
            assert "none published" in info.figures_source or "no published figure" in info.figures_source, (
                f"{name}: a figure is missing, so figures_source must say it is not published: {info.figures_source!r}")
        if any(name == n for n, _ in DISAGREES):
            assert info.note, name


def _model_table():
    spec = importlib.util.spec_from_file_location("model_table", os.path.join(ROOT, "benchmarks", "model_table.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_table_is_the_registrys_with_a_source_in_every_row():
    """The README's table is benchmarks/model_table.py's output from the saved
    measurements (model_table.json) and the registry's current sources; a paper with no
    arXiv id (AlexNet) is named, not linked to an empty arXiv address."""
    model_table = _model_table()
    rows = model_table.saved_rows()
    table = model_table.markdown(rows)
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    assert f"{model_table.BEGIN}\n{table}\n{model_table.END}" in readme, (
        "README.md's model table is stale: run `python benchmarks/model_table.py --render`")
    assert "](https://arxiv.org/abs/)" not in table and "[]" not in table
    alexnet = next(line for line in table.splitlines() if line.startswith("| `alexnet`"))
    assert "paper not on arXiv: ImageNet Classification with Deep Convolutional Neural Networks (NIPS 2012)" in alexnet
    assert len([line for line in table.splitlines() if line.startswith("| `")]) == len(kl.list_models())


@pytest.mark.parametrize(
    "builder, kwargs, size, paper_macs_m",
    [
        # The resolution multiplier rows of the papers' tables.
        (kl.MobileNet, {"alpha": 0.5}, 160, 76),  # MobileNetV1 Table 7
        (kl.MobileNet, {"alpha": 1.0}, 128, 186),  # MobileNetV1 Table 7
        # The authors' MobileNetV2 checkpoint table (tensorflow/models slim).
        (kl.MobileNetV2, {"alpha": 1.0}, 128, 99),
        (kl.MobileNetV2, {"alpha": 1.0}, 96, 56),
        (kl.MobileNetV2, {"alpha": 0.5}, 160, 50),
        (kl.MobileNetV2, {"alpha": 0.75}, 128, 69),
    ],
)
def test_resolution_multiplier_rows(builder, kwargs, size, paper_macs_m):
    stats = kl.profile(builder(input_shape=(size, size, 3), **kwargs))
    tolerance = MACS_TOLERANCE + printed_precision(paper_macs_m)
    assert stats.macs / 1e6 == pytest.approx(paper_macs_m, rel=tolerance)


def test_profile_needs_a_size_for_open_inputs_and_uses_it():
    model = kl.MobileNetV3Large()  # open spatial dims, as keras.applications
    with pytest.raises(ValueError, match="input_shape"):
        kl.profile(model)
    assert kl.profile(model, input_shape=(224, 224, 3)).macs / 1e6 == pytest.approx(219, rel=MACS_TOLERANCE)
