"""TFLite Support metadata: the same bytes tflite-support's image-classifier writer
produces, labels packed as a zip, read back, and a file that runs unchanged."""

import os
import pathlib
import shutil
import zipfile

import keras
import numpy as np
import pytest

from keras_lightnets import tflite as kt
from keras_lightnets.tflite import metadata as md

SIZE, CLASSES = 32, 5
LABELS = ["zero", "one", "two", "three", "four"]
GOLDEN = pathlib.Path(__file__).parent / "data" / "tflite_support"
GENERAL = dict(name="MobileNetV3-Small digits", description="Tiny test.", version="v1", author="keras_lightnets",
               license="Apache-2.0")
TORCH_MEAN, TORCH_STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


def tiny_classifier(preprocessing=True):
    """Small and quick to convert; takes [0, 255] pixels like registry models."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1, name="rescaling")(inputs) if preprocessing else inputs
    x = keras.layers.Conv2D(8, 3, strides=2, name="stem")(x)
    x = keras.layers.BatchNormalization(name="stem_bn")(x)
    x = keras.layers.ReLU(6.0, name="stem_relu6")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, keras.layers.Dense(CLASSES, activation="softmax", name="logits")(x), name="tiny_classifier")


@pytest.fixture(scope="module")
def model():
    return tiny_classifier()


@pytest.fixture(scope="module")
def plain_file(model, tmp_path_factory):
    path = tmp_path_factory.mktemp("plain") / "plain.tflite"
    kt.convert(model, path)
    return path


@pytest.mark.parametrize("golden, fields", [
    ("float32_input_labels", dict(GENERAL, input_dtype="float32", mean=[127.5], std=[127.5])),
    ("uint8_input_labels", dict(GENERAL, input_dtype="uint8", mean=[127.5], std=[127.5])),
    ("float32_input_per_channel_no_labels", dict(name="resnet50", description=md.MODEL_DESCRIPTION, input_dtype="float32",
                                                 mean=TORCH_MEAN, std=TORCH_STD, label_file=None)),
])
def test_metadata_buffer_is_byte_identical_to_tflite_supports_writer(golden, fields):
    expected = (GOLDEN / f"{golden}.metadata").read_bytes()
    assert md.metadata_buffer(output_dtype="float32", channels=3, **fields) == expected


def test_reads_back_what_tflite_support_wrote():
    info = md.parse_metadata_buffer((GOLDEN / "uint8_input_labels.metadata").read_bytes())
    assert (info["name"], info["version"], info["author"], info["license"]) == (
        "MobileNetV3-Small digits", "v1", "keras_lightnets", "Apache-2.0")
    assert info["min_parser_version"] == "1.0.0"
    assert info["input"] == {"name": "image", "description": "Input image to be classified.", "content": "ImageProperties",
                             "color_space": "RGB", "mean": [127.5], "std": [127.5], "max": [255.0], "min": [0.0]}
    assert info["output"]["content"] == "FeatureProperties" and info["output"]["label_file"] == "labels.txt"
    info = md.parse_metadata_buffer((GOLDEN / "float32_input_per_channel_no_labels.metadata").read_bytes())
    np.testing.assert_allclose(info["input"]["min"], [-m / s for m, s in zip(TORCH_MEAN, TORCH_STD)], rtol=1e-6)
    assert "label_file" not in info["output"] and info["version"] is None


def test_written_file_packs_labels_and_runs_with_identical_outputs(plain_file, photos, tmp_path):
    path = tmp_path / "with_metadata.tflite"
    shutil.copy(plain_file, path)
    info = kt.write_metadata(path, labels=LABELS, mean=[0.0], std=[1.0], **GENERAL)
    assert info == kt.read_metadata(path)
    assert info["name"] == "MobileNetV3-Small digits" and info["labels"] == LABELS
    assert info["input"]["mean"] == [0.0] and info["input"]["std"] == [1.0]
    assert (info["input"]["min"], info["input"]["max"]) == ([0.0], [255.0])  # float input: (pixel - mean) / std range
    with zipfile.ZipFile(path) as archive:  # the labels ride as a zip appended to the flatbuffer
        assert archive.namelist() == ["labels.txt"]
        assert archive.getinfo("labels.txt").compress_type == zipfile.ZIP_STORED
        assert archive.read("labels.txt").decode() == "zero\none\ntwo\nthree\nfour\n"
    assert kt.read_metadata(plain_file) is None

    images = photos(SIZE).astype("float32")
    plain = kt.run(kt.load_interpreter(plain_file), images)
    np.testing.assert_array_equal(kt.run(kt.load_interpreter(path), images), plain)
    assert _weight_buffers_16_byte_aligned(path.read_bytes())


def test_rewriting_replaces_the_metadata_and_the_labels(plain_file, tmp_path):
    path = tmp_path / "m.tflite"
    shutil.copy(plain_file, path)
    kt.write_metadata(path, name="first", labels=LABELS, mean=[0.0], std=[1.0])
    info = kt.write_metadata(path, name="second", labels=[s.upper() for s in LABELS], mean=[127.5], std=[127.5])
    assert info["name"] == "second" and info["labels"][0] == "ZERO" and info["input"]["mean"] == [127.5]
    assert info["packed_files"] == ["labels.txt"]
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(path.read_bytes(), 0)
    names = [model.Metadata(i).Name().decode() for i in range(model.MetadataLength())]
    assert names.count("TFLITE_METADATA") == 1


def test_convert_writes_metadata_with_defaults_for_models_that_take_pixels(model, digits_like, tmp_path):
    labels_file = tmp_path / "labels.txt"
    labels_file.write_text("\n".join(LABELS) + "\n")
    report = kt.convert(model, tmp_path / "int8.tflite", quantization="int8", representative_data=digits_like,
                        input_type="uint8", metadata=dict(labels=str(labels_file), author="me"))
    info = kt.read_metadata(tmp_path / "int8.tflite")
    assert report.metadata == info and report.size_bytes == (tmp_path / "int8.tflite").stat().st_size
    assert info["name"] == "tiny_classifier" and info["description"] == md.MODEL_DESCRIPTION and info["author"] == "me"
    assert info["input"]["mean"] == [0.0] and info["input"]["std"] == [1.0]  # the model rescales [0, 255] itself
    assert (info["input"]["min"], info["input"]["max"]) == ([0.0], [255.0])
    assert info["labels"] == LABELS and report.fully_integer
    assert "5 labels packed" in str(report)


@pytest.fixture(scope="module")
def digits_like():
    from keras_lightnets.data import load_digits

    (x, _), _ = load_digits(image_size=SIZE, num_classes=CLASSES)
    return x[:32]


def test_defaults_follow_the_models_preprocessing(model):
    assert md.resolve_metadata(True, model) == {"name": "tiny_classifier", "description": md.MODEL_DESCRIPTION,
                                                "mean": [0.0], "std": [1.0]}
    assert md.resolve_metadata(None, model) is None
    assert md.resolve_metadata(dict(mean=[127.5], std=[127.5]), model)["mean"] == [127.5]
    with pytest.raises(ValueError, match=r"does not normalize pixels itself.*mean=\[127.5\], std=\[127.5\]"):
        md.resolve_metadata(True, tiny_classifier(preprocessing=False))
    assert md.resolve_metadata(True, tiny_classifier(preprocessing=False), input_type="uint8")["name"] == "tiny_classifier"


class TestBadInput:
    def test_wrong_number_of_labels_fails_before_converting(self, model, tmp_path):
        with pytest.raises(ValueError, match="model has 5 classes but 3 labels were given"):
            kt.convert(model, tmp_path / "x.tflite", metadata=dict(labels=["a", "b", "c"]))
        assert os.listdir(tmp_path) == []

    def test_unknown_field_and_missing_label_file(self, model, tmp_path):
        with pytest.raises(ValueError, match=r"Unknown metadata fields \['labelz'\]; choose from"):
            md.resolve_metadata(dict(labelz=LABELS), model)
        with pytest.raises(ValueError, match=r"File '.*nope.txt' does not exist"):
            md.resolve_metadata(dict(labels=str(tmp_path / "nope.txt")), model)

    def test_bad_normalization(self, plain_file):
        content = plain_file.read_bytes()
        with pytest.raises(ValueError, match="float32 input needs metadata `mean` and `std`"):
            kt.add_metadata(content, name="m")
        with pytest.raises(ValueError, match=r"`mean` needs 1 or 3 values"):
            kt.add_metadata(content, name="m", mean=[0, 0], std=[1, 1])
        with pytest.raises(ValueError, match="`std` must be positive"):
            kt.add_metadata(content, name="m", mean=[0.0], std=[0.0])

    def test_int8_input_is_refused_for_the_task_library(self, plain_file):
        from ai_edge_litert import schema_py_generated as schema

        model = schema.ModelT.InitFromPackedBuf(plain_file.read_bytes(), 0)
        graph = model.subgraphs[0]
        graph.tensors[graph.inputs[0]].type = schema.TensorType.INT8
        import flatbuffers

        builder = flatbuffers.Builder(1024)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        with pytest.raises(ValueError, match="Task Library ImageClassifier takes uint8 or float32 input.*int8.*input_type='uint8'"):
            kt.add_metadata(bytes(builder.Output()), name="m", mean=[0.0], std=[1.0])

    def test_failed_write_leaves_the_file_untouched(self, plain_file, tmp_path):
        path = tmp_path / "m.tflite"
        shutil.copy(plain_file, path)
        with pytest.raises(ValueError, match="5 classes but 2 labels"):
            kt.write_metadata(path, name="m", labels=["a", "b"], mean=[0.0], std=[1.0])
        assert path.read_bytes() == plain_file.read_bytes() and os.listdir(tmp_path) == ["m.tflite"]

    def test_not_a_tflite_file(self, tmp_path):
        (tmp_path / "junk.tflite").write_bytes(b"\x00" * 64)
        with pytest.raises(ValueError, match="Not a TFLite model"):
            kt.write_metadata(tmp_path / "junk.tflite", name="m")


def _weight_buffers_16_byte_aligned(content):
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(content, 0)
    offsets = []
    for i in range(model.BuffersLength()):
        buffer = model.Buffers(i)
        if buffer.DataLength() >= 16:
            offsets.append(buffer._tab.Vector(buffer._tab.Offset(4)))
    return offsets and all(offset % 16 == 0 for offset in offsets)
