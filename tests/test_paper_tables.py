"""Conformance: every registered model reproduces its paper's parameter and
multiply-add figures (measured by kl.profile at the paper's resolution, 1000
classes). Where a published figure is known to disagree with the architecture it
describes, the registry says why (ModelInfo.note) and the measured value is pinned
here, so the exception can neither hide nor drift."""

import pytest

import keras_lightnets as kl

MACS_TOLERANCE = 0.03
PARAMS_TOLERANCE = 0.03

# (model, "params" | "macs") -> our exact measured value, for documented discrepancies.
KNOWN_DISCREPANCIES = {
    ("mobilenet_v2_140", "params"): 6_108_776,  # trainable; the paper prints 6.9M
    ("mobilenet_v3_small_minimalistic", "macs"): 52_288_448,  # checkpoint table: 65M in another convention
    ("googlenet", "macs"): 1_582_671_872,  # Table 1 misprints conv1 (34M for 118M)
    ("inception_v3", "macs"): 5_713_216_096,  # the abstract's rounded "5 billion"
    ("vit_ti16", "macs"): 1_253_683_200,  # timm's "1.3 GMACs", rounded to two digits
    ("efficientnet_b4", "macs"): 4_393_771_024,  # Table 2: 4.2B for the released (1.4, 1.8, 380)
    ("efficientnet_b5", "macs"): 10_266_384_752,  # Table 2: 9.9B for the released (1.6, 2.2, 456)
    ("efficientnet_lite0", "macs"): 385_187_552,  # README 407M: more than B0's convolutions (390M)
    ("efficientnet_lite1", "macs"): 600_185_232,  # README 631M, same convention
    ("efficientnet_lite2", "macs"): 859_736_272,  # README 899M
    ("efficientnet_lite3", "macs"): 1_383_321_872,  # README 1.44B
    ("efficientnet_lite4", "macs"): 2_553_034_336,  # README 2.64B
}

WITH_FIGURES = [n for n in kl.list_models() if kl.model_info(n).paper_macs_m or kl.model_info(n).paper_params_m]


def printed_precision(value):
    """Half a unit of the last printed digit, relative: a figure printed as 3.4 means
    3.35-3.45, so it cannot be held to better than 1.5%."""
    text = repr(float(value)).rstrip("0").rstrip(".")
    decimals = len(text.split(".")[1]) if "." in text else 0
    return 0.5 * 10 ** (-decimals) / value


def _check_macs(name, info):
    ours = info.measured.macs
    if (name, "macs") in KNOWN_DISCREPANCIES:
        assert info.note, f"{name}: a pinned discrepancy needs a note in the registry"
        assert ours == KNOWN_DISCREPANCIES[(name, "macs")], f"{name} multiply-adds: {ours:,} moved from the pinned value"
        return
    assert ours / 1e6 == pytest.approx(info.paper_macs_m, rel=MACS_TOLERANCE), (
        f"{name} multiply-adds: ours {ours / 1e6:.1f}M, paper {info.paper_macs_m}M")


def _check_params(name, info):
    """Papers (and torchvision) count learned weights, not batch-norm moving statistics."""
    ours = info.measured.trainable_params
    if (name, "params") in KNOWN_DISCREPANCIES:
        assert info.note, f"{name}: a pinned discrepancy needs a note in the registry"
        assert ours == KNOWN_DISCREPANCIES[(name, "params")], f"{name} parameters: {ours:,} moved from the pinned value"
        return
    paper = info.paper_params_m
    assert ours / 1e6 == pytest.approx(paper, rel=PARAMS_TOLERANCE + printed_precision(paper)), (
        f"{name} parameters: ours {ours / 1e6:.3f}M, paper {paper}M")


@pytest.mark.parametrize("name", WITH_FIGURES)
def test_parameters_and_multiply_adds_match_the_paper(name):
    """One build per model (at the paper's resolution, 1000 classes) for both figures;
    a figure the paper does not print is not checked (the other still is)."""
    info = kl.model_info(name, measure=True)
    if info.paper_macs_m is not None:
        _check_macs(name, info)
    if info.paper_params_m is not None:
        _check_params(name, info)

def test_every_discrepancy_is_documented_in_the_registry():
    for name, _ in KNOWN_DISCREPANCIES:
        assert kl.model_info(name).note


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
