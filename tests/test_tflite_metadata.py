"""TFLite Support metadata: whole files byte-identical to those tflite-support 0.4.4's
image-classifier writer produces from the same model (tests/data/tflite_support: the
goldens, the script and the pinned environment that made them), labels packed as a
zip, read back, and a file that runs unchanged."""

import io
import json
import os
import pathlib
import shutil
import zipfile

import keras
import numpy as np
import pytest
from metadata_cases import case_fields  # tests/metadata_cases.py

from keras_lightnets import tflite as kt
from keras_lightnets.tflite import metadata as md

SIZE, CLASSES = 32, 5
LABELS = ["zero", "one", "two", "three", "four"]
DATA = pathlib.Path(__file__).parent / "data" / "tflite_support"
INPUTS, EXPECTED = DATA / "inputs", DATA / "expected"
CASES = json.loads((DATA / "cases.json").read_text())["cases"]
# Task Library's TFLite kernels against LiteRT's on a float model's scores: at most 6e-8 apart
# here (int8: equal); the two RGB normalizations of the float32 goldens move them by 1.4e-4.
TOLERANCE = 1e-5
GENERAL = dict(name="MobileNetV3-Small digits", description="Tiny test.", version="v1", author="keras_lightnets",
               license="Apache-2.0")


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
def plain_file():
    """A float32 classifier as the converter wrote it (tests/data/tflite_support/make_inputs.py)."""
    return INPUTS / "float32.tflite"


def metadata_of(content):
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(content, 0)
    for i in range(model.MetadataLength()):
        if model.Metadata(i).Name() == md.METADATA_NAME.encode():
            return model.Buffers(model.Metadata(i).Buffer()).DataAsNumpy().tobytes()
    return None


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_whole_file_is_byte_identical_to_tflite_supports_writer(case, tmp_path):
    expected = (EXPECTED / f"{case['id']}.tflite").read_bytes()
    actual = kt.add_metadata((INPUTS / case["input"]).read_bytes(), **case_fields(case, INPUTS))
    # part by part first, so that a failure says which part differs
    assert metadata_of(actual) == metadata_of(expected)
    flatbuffer = md._flatbuffer_part(expected)
    assert md._flatbuffer_part(actual) == flatbuffer
    assert actual[len(flatbuffer):] == expected[len(flatbuffer):]  # the zip: entries, headers, directory
    assert actual == expected
    # the same through the file API, and again on its own output: the metadata and the archive replaced, not added
    path = tmp_path / "model.tflite"
    shutil.copy(INPUTS / case["input"], path)
    kt.write_metadata(path, **case_fields(case, INPUTS))
    assert path.read_bytes() == expected
    assert kt.add_metadata(expected, **case_fields(case, INPUTS)) == expected


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_reads_back_what_tflite_support_wrote(case):
    info = kt.read_metadata(EXPECTED / f"{case['id']}.tflite")
    general = {key: info[key] for key in ("name", "description", "version", "author", "license") if info[key] is not None}
    assert general == case["general"] and info["min_parser_version"] == "1.0.0"
    image, scores = info["input"], info["output"]
    assert (image["name"], image["content"], image["color_space"]) == ("image", "ImageProperties", case["color_space"])
    for key in ("mean", "std"):  # float32 in the file
        assert image.get(key) == (np.float32(case[key]).tolist() if key in case else None)
    io_spec = md._image_classifier_io((INPUTS / case["input"]).read_bytes())
    if io_spec["input_dtype"] == "uint8":
        assert (image["min"], image["max"]) == ([0.0], [255.0])
    else:  # what (pixel - mean) / std spans
        np.testing.assert_allclose(image["min"], [-m / s for m, s in zip(case["mean"], case["std"])], rtol=1e-6)
        np.testing.assert_allclose(image["max"], [(255 - m) / s for m, s in zip(case["mean"], case["std"])], rtol=1e-6)
    assert (scores["name"], scores["content"]) == ("probability", "FeatureProperties")
    assert (scores["min"], scores["max"]) == (([0.0], [255.0]) if io_spec["output_dtype"] == "uint8" else ([0.0], [1.0]))
    if "labels" in case or "labels_file" in case:
        assert info["labels"] == LABELS and info["packed_files"] == [scores["label_file"]]
        assert scores["label_file"] == case.get("labels_file", "labels.txt")
    else:
        assert info["labels"] is None and info["packed_files"] == [] and "label_file" not in scores


def test_the_goldens_cover_every_option_of_the_writer():
    """A field or a kind of input without a golden would be a claim without a check."""
    general = set().union(*(case["general"] for case in CASES))
    assert set(md.FIELDS) == general | {"mean", "std", "labels"}
    io_specs = [md._image_classifier_io((INPUTS / case["input"]).read_bytes()) for case in CASES]
    assert {(s["input_dtype"], s["output_dtype"]) for s in io_specs} == {("float32", "float32"), ("uint8", "uint8")}
    assert {s["channels"] for s in io_specs} == {1, 3} and {c["color_space"] for c in CASES} == {"RGB", "GRAYSCALE"}
    assert {c["writer"] for c in CASES} == {"create_for_inference", "create_from_metadata_info"}
    # for the float32 and the int8 model each: normalization with one value and per channel (and none, which
    # only a uint8 input may have), and labels as a list (1), as a file (2) and none (0)
    for name, normalizations in (("float32.tflite", {1, 3}), ("int8.tflite", {0, 1, 3})):
        cases = [c for c in CASES if c["input"] == name]
        assert {len(c.get("mean", [])) for c in cases} == normalizations
        assert {("labels" in c) + 2 * ("labels_file" in c) for c in cases} == {0, 1, 2}
    assert all("mean" in c for c in CASES if c["input"] != "int8.tflite")  # a float32 input needs mean and std
    assert sum(os.path.getsize(INPUTS / name) for name in os.listdir(INPUTS)) < 20_000  # inputs stay small


def test_packed_files_as_tflite_support_packs_them():
    """A list is written one label a line as labels.txt; a label file is packed under its
    own name, byte for byte (this one has no final newline). No labels still appends an
    archive: its end record alone, as tflite-support's populator writes it. The entry's
    time is the zip epoch: tflite-support stamps the time of writing (the goldens were
    made with its clock pinned there; generate.py checks that nothing else changes)."""
    def archive(case_id):
        content = (EXPECTED / f"{case_id}.tflite").read_bytes()
        return content, zipfile.ZipFile(io.BytesIO(content))

    _, packed = archive("float32_for_inference")
    entry = packed.getinfo("labels.txt")
    assert packed.read(entry) == b"zero\none\ntwo\nthree\nfour\n"
    assert (entry.compress_type, entry.date_time, entry.create_system, entry.external_attr) == (
        zipfile.ZIP_STORED, (1980, 1, 1, 0, 0, 0), 3, 0o600 << 16)
    _, packed = archive("int8_all_fields_no_normalization_labels_file")
    assert packed.namelist() == ["digit_names.txt"]
    assert packed.read("digit_names.txt") == (INPUTS / "digit_names.txt").read_bytes() == b"zero\none\ntwo\nthree\nfour"
    content, packed = archive("float32_per_channel_name_only_no_labels")
    assert packed.namelist() == [] and content[-22:-6] == b"PK\x05\x06" + bytes(12)  # end of an empty central directory
    assert len(md._flatbuffer_part(content)) == len(content) - 22


TASK_LIBRARY = json.loads((EXPECTED / "task_library.json").read_text())


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_task_library_feeds_the_model_as_the_metadata_says(case):
    """What tflite-support's Task Library ImageClassifier (the C++ Android runs) answered
    for one image on each golden (generate.py): the model's scores on (pixels - mean) / std
    for a float32 input, on the raw pixels for a uint8 one, named by the packed labels."""
    answer = TASK_LIBRARY[case["id"]]
    if case["color_space"] == "GRAYSCALE":  # it takes 1 x height x width x 3 RGB only: recorded, not hidden
        assert answer == {"error": "Only RGB color space is supported for now."}
        return
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(EXPECTED / f"{case['id']}.tflite"))
    interpreter.allocate_tensors()
    image_in, scores_out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    pixels = np.load(EXPECTED / "probe_image.npy")[None]
    if image_in["dtype"] == np.uint8:
        interpreter.set_tensor(image_in["index"], pixels)
    else:
        mean, std = np.float32(case["mean"]), np.float32(case["std"])
        interpreter.set_tensor(image_in["index"], (pixels.astype(np.float32) - mean) / std)
    interpreter.invoke()
    scores = interpreter.get_tensor(scores_out["index"])[0]
    if scores_out["dtype"] == np.uint8:  # dequantized, as Task Library reports them
        scale, zero_point = scores_out["quantization"]
        scores = (scores.astype(np.float32) - zero_point) * np.float32(scale)
    indices, names, task_scores = zip(*answer["categories"])
    assert list(indices) == list(range(CLASSES))
    assert list(names) == (LABELS if ("labels" in case or "labels_file" in case) else [""] * CLASSES)
    np.testing.assert_allclose(task_scores, scores, rtol=0, atol=TOLERANCE)


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
    info = kt.write_metadata(path, name="third", mean=[127.5], std=[127.5])  # no labels: the old ones go
    assert info["packed_files"] == [] and info["labels"] is None and "label_file" not in info["output"]
    assert md._flatbuffer_part(path.read_bytes()) == pack_without_zip(path.read_bytes())


def test_a_labels_file_with_windows_line_ends_is_packed_as_it_is(plain_file, tmp_path):
    labels = tmp_path / "names.txt"
    labels.write_bytes(b"zero\r\none\r\ntwo\r\nthree\r\nfour\r\n\r\n")
    info = kt.read_metadata(kt.add_metadata(plain_file.read_bytes(), name="m", mean=[0.0], std=[1.0], labels=str(labels)))
    assert info["labels"] == LABELS and info["packed_files"] == ["names.txt"] and info["output"]["label_file"] == "names.txt"


def pack_without_zip(content):
    """The bytes before the appended archive, found from its end record (what minizip reads)."""
    end = content.rindex(b"PK\x05\x06")
    directory_offset = int.from_bytes(content[end + 16:end + 20], "little")
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return content[:min([i.header_offset for i in archive.infolist()], default=directory_offset)]


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

    def test_labels_file_that_is_not_text(self, plain_file, tmp_path):
        (tmp_path / "labels.txt").write_bytes(b"zero\none\n\xff\xfe\n")
        with pytest.raises(ValueError, match=r"Labels file '.*labels.txt' is not UTF-8 text \(invalid start byte at byte 9\)"):
            kt.add_metadata(plain_file.read_bytes(), name="m", mean=[0.0], std=[1.0], labels=str(tmp_path / "labels.txt"))

    def test_not_a_tflite_file(self, tmp_path):
        (tmp_path / "junk.tflite").write_bytes(b"\x00" * 64)
        with pytest.raises(ValueError, match="Not a TFLite model"):
            kt.write_metadata(tmp_path / "junk.tflite", name="m")
