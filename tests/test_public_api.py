"""Issue 16 moved every family onto one shape (models/_family.py). Its promise: behaviour
does not change. These tests hold the public surface to what it was before, as recorded
from the package at commit 0583644 in tests/data/public_api_before_issue16.json: every
public name still exported, every registry key still registered, and every builder still
taking its arguments by position in the same order (keras.applications' convention, which
positional calls rely on). New names and new trailing arguments are allowed."""

import inspect
import json
import pathlib

import pytest

import keras_lightnets as kl
from keras_lightnets import models

BEFORE = json.loads((pathlib.Path(__file__).parent / "data" / "public_api_before_issue16.json").read_text())


def test_every_public_name_is_still_exported():
    assert sorted(set(BEFORE["kl_all"]) - set(kl.__all__)) == []
    assert sorted(set(BEFORE["models_all"]) - set(models.__all__)) == []
    assert len(models.__all__) == len(set(models.__all__)), "a name exported by two families"


def test_every_registry_key_is_still_registered():
    assert sorted(set(BEFORE["registry"]) - set(kl.list_models())) == []


def _recorded_order(name):
    """The recorded order, with issue 21's one deliberate change: keras.applications'
    arguments first, in its order (tests/test_keras_applications_signatures.py), i.e.
    `name` right after classifier_activation (keras' last) in MobileNet, InceptionV3 and
    every builder of models/resnet.py (one order for the family), and MobileNetV2's
    `pooling, classes` (it had `classes, pooling, dropout_rate`) with our dropout_rate after."""
    before = list(BEFORE["positional_parameters"][name])
    if name == "MobileNetV2":
        import keras

        lead = list(inspect.signature(keras.applications.MobileNetV2).parameters)
        return lead + [p for p in before if p not in lead]
    if name in ("MobileNet", "InceptionV3") or getattr(models, name).__module__ == "keras_lightnets.models.resnet":
        before.remove("name")
        before.insert(before.index("classifier_activation") + 1, "name")
    return before


@pytest.mark.parametrize("name", sorted(BEFORE["positional_parameters"]))
def test_positional_order_is_unchanged(name):
    before = _recorded_order(name)
    now = [p.name for p in inspect.signature(getattr(models, name)).parameters.values()
           if p.kind == p.POSITIONAL_OR_KEYWORD]
    assert now[:len(before)] == before


def test_models_exports_one_line_per_family():
    """models/__init__.py imports each family file's __all__ (filled by @variant), so a new
    family is one file and one line there."""
    package = pathlib.Path(models.__file__).parent
    families = sorted(p.stem for p in package.glob("*.py") if not p.stem.startswith("_"))
    source = (package / "__init__.py").read_text()
    assert [line.split()[1].rpartition(".")[2] for line in source.splitlines()
            if line.startswith("from keras_lightnets.models.")] == families
    assert all(f"from keras_lightnets.models.{family} import *" in source for family in families)


def test_a_variant_refuses_its_fixed_knob_and_names_the_family_builder():
    with pytest.raises(ValueError, match=r"MobileNetV3Large is .*use MobileNetV3\(model_type=\.\.\.\) for another"):
        kl.MobileNetV3Large(model_type="small")


def test_kl_profile_stays_the_function_whatever_is_imported():
    """The counting module is keras_lightnets.profiling: a module named `profile` would
    replace the function kl.profile on the package the moment anything imported it."""
    import keras_lightnets.profiling  # noqa: F401

    assert callable(kl.profile) and kl.profile is keras_lightnets.profiling.profile
