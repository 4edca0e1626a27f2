"""keras_lightnets is a superset of keras.applications (issue 21): every public model name
of keras.applications is a builder here, and it takes keras.applications' arguments first,
in keras' order and with keras' defaults (`name` included: "vgg16", "inception_v3",
"resnet50", ...), so that `kl.X(...)` binds every call `keras.applications.X(...)` accepts,
positional ones included, to the same arguments. Our own arguments (include_preprocessing,
features_only, layout, ...) come after. The one deliberate difference: `weights` defaults
to None, not "imagenet": nothing is downloaded unless asked for (README, "Same as
keras.applications").

The names are read from keras.applications itself (its package and its submodules), so
the comparison covers a new keras model, or a family of ours as soon as it exists, with no
list to keep here."""

import inspect
import types

import keras
import numpy as np
import pytest

import keras_lightnets as kl



def keras_application_models():
    """{name: builder} of keras.applications' public models: the public callables of the
    package and of its submodules (keras.applications.resnet, .mobilenet_v3, ...) that
    build a model (they take keras.applications' include_top, weights and classes;
    preprocess_input and decode_predictions do not)."""
    spaces = [keras.applications] + [getattr(keras.applications, n) for n in dir(keras.applications)
                                     if isinstance(getattr(keras.applications, n), types.ModuleType)]
    found = {}
    for space in spaces:
        for name in dir(space):
            builder = getattr(space, name)
            if name.startswith("_") or isinstance(builder, types.ModuleType) or not callable(builder):
                continue
            try:
                parameters = inspect.signature(builder).parameters
            except (TypeError, ValueError):
                continue
            if {"include_top", "weights", "classes"} <= set(parameters):
                # The same name in two places (keras.applications.resnet50.ResNet50 and
                # keras.applications.resnet.ResNet50) must be the same model.
                assert name not in found or inspect.signature(found[name]) == inspect.signature(builder), name
                found.setdefault(name, builder)
    return found


KERAS_MODELS = keras_application_models()
# The pairs that exist now; a family of ours joins the comparison when it is exported.
PAIRS = sorted(n for n in KERAS_MODELS if hasattr(kl, n))


def test_keras_applications_enumeration_finds_its_models():
    """The enumeration itself: keras 3.15 has 40, the top-level-only MobileNetV3s among them."""
    assert len(KERAS_MODELS) >= 40, sorted(KERAS_MODELS)
    assert {"ResNet50", "MobileNetV3Small", "NASNetLarge", "EfficientNetV2L", "VGG16"} <= set(KERAS_MODELS)
    assert not {"preprocess_input", "decode_predictions"} & set(KERAS_MODELS)


def test_every_keras_applications_model_is_a_builder_here():
    missing = sorted(n for n in KERAS_MODELS if not callable(getattr(kl, n, None)))
    assert missing == [], f"keras.applications models with no kl.X: {missing}"


def _same_default(ours, theirs):
    return type(ours) is type(theirs) and ours == theirs


@pytest.mark.parametrize("name", PAIRS)
def test_signature_is_keras_applications_then_ours(name):
    theirs = list(inspect.signature(KERAS_MODELS[name]).parameters.values())
    ours = list(inspect.signature(getattr(kl, name)).parameters.values())
    # keras.applications' parameters first, by name and in its order ...
    assert [p.name for p in ours[:len(theirs)]] == [p.name for p in theirs], (
        f"kl.{name} does not start with keras.applications.{name}'s parameters")
    for mine, keras_parameter in zip(ours, theirs):
        # ... each taking a position where keras' does ...
        assert mine.kind == keras_parameter.kind or (
            keras_parameter.kind == mine.POSITIONAL_OR_KEYWORD and mine.kind == mine.POSITIONAL_OR_KEYWORD), mine
        # ... with keras' default, but weights=None: nothing is downloaded unasked.
        if mine.name == "weights":
            assert mine.default is None, f"kl.{name}: weights must default to None"
        else:
            assert _same_default(mine.default, keras_parameter.default), (
                f"kl.{name}({mine.name}={mine.default!r}), keras.applications.{name}({mine.name}="
                f"{keras_parameter.default!r})")
    # Ours after them, each with a default (a call valid for keras' is valid here).
    extras = ours[len(theirs):]
    assert all(p.default is not p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) for p in extras), extras


def test_a_positional_call_binds_as_in_keras_applications():
    """The issue's example: MobileNetV2 had `classes, pooling` where keras has `pooling,
    classes`; the same positional call now builds the same model, by the same name."""
    args = ((32, 32, 3), 0.35, True, None, None, None, 10, None)  # ..., pooling, classes, classifier_activation
    theirs = keras.applications.MobileNetV2(*args)
    ours = kl.MobileNetV2(*args)
    assert ours.count_params() == theirs.count_params()
    assert ours.output_shape == theirs.output_shape == (None, 10)
    assert ours.name == theirs.name == "mobilenetv2_0.35_32"
    ours.set_weights(theirs.get_weights())  # the same layers in the same order
    images = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    logits = np.asarray(theirs(images, training=False))
    assert not np.allclose(logits.sum(-1), 1)  # classifier_activation=None: logits, not probabilities
    np.testing.assert_allclose(np.asarray(ours(images, training=False)), logits,
                               rtol=1e-4, atol=1e-4 * np.abs(logits).max())


# ------------------------------------------------------------------------ keras' own test cases
# keras/src/applications/applications_test.py's channels_last cases that need no download,
# run on our builders: the width of the last feature map for each model (its MODEL_LIST).
LAST_DIM = {
    "VGG16": 512, "VGG19": 512, "Xception": 2048, "InceptionV3": 2048, "InceptionResNetV2": 1536,
    "MobileNet": 1024, "MobileNetV2": 1280, "MobileNetV3Small": 576, "MobileNetV3Large": 960,
    "EfficientNetB0": 1280, "EfficientNetB1": 1280, "EfficientNetB2": 1408, "EfficientNetB3": 1536,
    "EfficientNetB4": 1792, "EfficientNetB5": 2048, "EfficientNetB6": 2304, "EfficientNetB7": 2560,
    "EfficientNetV2B0": 1280, "EfficientNetV2B1": 1280, "EfficientNetV2B2": 1408, "EfficientNetV2B3": 1536,
    "EfficientNetV2S": 1280, "EfficientNetV2M": 1280, "EfficientNetV2L": 1280,
    "DenseNet121": 1024, "DenseNet169": 1664, "DenseNet201": 1920,
    "ConvNeXtTiny": 768, "ConvNeXtSmall": 768, "ConvNeXtBase": 1024, "ConvNeXtLarge": 1536, "ConvNeXtXLarge": 2048,
    "NASNetMobile": 1056, "NASNetLarge": 4032,
    "ResNet50": 2048, "ResNet101": 2048, "ResNet152": 2048, "ResNet50V2": 2048, "ResNet101V2": 2048,
    "ResNet152V2": 2048,
}


def test_keras_cases_cover_every_keras_model():
    assert set(LAST_DIM) == set(KERAS_MODELS)


# The one documented difference from keras.applications' test cases: NASNet's strided cells
# pad by each map's parity (keras' correct_pad), so ours refuses open spatial dims, where
# keras builds a graph whose cells cannot know when to pad (models/nasnet.py).
STATIC_SIZE_ONLY = {"NASNetMobile", "NASNetLarge"}


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in sorted(LAST_DIM) if hasattr(kl, n)])
def test_keras_applications_test_cases_channels_last(name):
    """applications_test.py's notop_variable_input_channels, notop_custom_input_shape,
    notop_custom_input_tensor, pooling and classifier_activation cases (weights=None)."""
    builder, last_dim = getattr(kl, name), LAST_DIM[name]
    for channels in (1, 4):  # any number of input channels, open spatial dims
        if name in STATIC_SIZE_ONLY:
            with pytest.raises(ValueError, match="NASNet needs a static input size"):
                builder(weights=None, include_top=False, input_shape=(None, None, channels))
            model = builder(weights=None, include_top=False, input_shape=(64, 64, channels))
            assert model.outputs[0].shape[-1] == last_dim
            continue
        model = builder(weights=None, include_top=False, input_shape=(None, None, channels))
        assert list(model.outputs[0].shape) == [None, None, None, last_dim]
    model = builder(weights=None, include_top=False, input_shape=(123, 123, 3))
    assert model.outputs[0].shape[-1] == last_dim
    image = keras.Input(shape=(200, 200, 4), name="custom_input")
    tensor = keras.layers.Conv2D(3, (2, 2), padding="valid", strides=(2, 2))(image)
    model = builder(weights=None, include_top=False, input_tensor=tensor)
    assert model.outputs[0].shape[-1] == last_dim
    model = builder(weights=None, include_top=False, pooling="max")
    assert list(model.outputs[0].shape) == [None, last_dim]
    model = builder(weights=None, include_top=True, classifier_activation="softmax")
    assert model.layers[-1].activation.__name__ == "softmax"
    assert model.output_shape == (None, 1000)
