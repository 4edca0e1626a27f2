"""What `kt.convert` checks before it trusts its inputs and outputs: non-finite
calibration or verification images, tensorflow-datasets names that are not prepared
(nothing is downloaded at run time), and a fully-integer check that reads every
subgraph and every input of every operator."""

import copy

import keras
import numpy as np
import pytest

import keras_lightnets as kl
from keras_lightnets import tflite as kt
from keras_lightnets.tflite.passes import graph_edit

SIZE = 32


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return kl.create_model("mobilenet_v1_025", input_shape=(SIZE, SIZE, 3), classes=3)


@pytest.fixture(scope="module")
def int8_file(model, photos, tmp_path_factory):
    path = tmp_path_factory.mktemp("int8") / "m.tflite"
    kt.convert(model, path, quantization="int8", representative_data=photos(SIZE), input_type="uint8")
    return path.read_bytes()


def test_nan_in_representative_data_is_named_before_conversion(model, photos, tmp_path):
    images = photos(SIZE).astype("float32")
    images[2, 5, 5, 0] = np.nan
    images[4, 0, 0, 1] = np.inf
    path = tmp_path / "m.tflite"
    with pytest.raises(ValueError, match=r"`representative_data` holds non-finite values \(NaN or inf\) in 2 of its first 6 images \(index 2, 4\)"):
        kt.convert(model, path, quantization="int8", representative_data=images)
    assert list(tmp_path.iterdir()) == []


def test_nan_in_verify_data_names_verify_data(model, photos, tmp_path):
    images = photos(SIZE).astype("float32")
    images[0] = np.nan
    with pytest.raises(ValueError, match=r"`verify_data` holds non-finite values .* \(index 0\)"):
        kt.convert(model, tmp_path / "m.tflite", verify=True, verify_data=images)
    assert list(tmp_path.iterdir()) == []


def test_a_tfds_name_that_is_not_prepared_is_not_downloaded(model, tmp_path, monkeypatch):
    import tensorflow_datasets as tfds

    def no_download(*args, **kwargs):
        raise AssertionError("kt.convert tried to download a dataset")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", no_download)
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tensorflow_datasets"))
    with pytest.raises(ValueError, match=r"Cannot load tensorflow-datasets 'mnist' for `representative_data`.*"
                                         r"Nothing is downloaded at run time: prepare it first \(`tfds build mnist`"):
        kt.convert(model, tmp_path / "m.tflite", quantization="int8", representative_data="mnist")
    assert not (tmp_path / "m.tflite").exists()


def _unpacked(content):
    from ai_edge_litert import schema_py_generated as schema

    return schema, schema.ModelT.InitFromObj(schema.Model.GetRootAs(content, 0))


def test_the_int8_file_is_fully_integer(int8_file):
    summary = kt.analyze(int8_file)
    assert summary.float_ops == [] and summary.inner_quantize_ops == 0
    assert summary.input_dtype == "uint8"


def test_a_float_bias_makes_its_op_float(int8_file):
    """A float tensor as an op's third input (the bias), not only its first, needs a float kernel."""
    schema, model = _unpacked(int8_file)
    graph = model.subgraphs[0]
    conv = next(op for op in graph.operators if graph_edit.op_name(model, op, schema) == "CONV_2D")
    graph.tensors[conv.inputs[2]].type = schema.TensorType.FLOAT32
    assert kt.analyze(graph_edit.pack(model)).float_ops == ["CONV_2D"]


def test_a_float_op_in_a_second_subgraph_is_found(int8_file):
    """Control flow (WHILE, IF) keeps its bodies in subgraphs past the first."""
    schema, model = _unpacked(int8_file)
    body = copy.deepcopy(model.subgraphs[0])
    depthwise = next(op for op in body.operators if graph_edit.op_name(model, op, schema) == "DEPTHWISE_CONV_2D")
    body.tensors[depthwise.outputs[0]].type = schema.TensorType.FLOAT32
    model.subgraphs.append(body)
    summary = kt.analyze(graph_edit.pack(model))
    assert summary.float_ops == ["CONV_2D", "DEPTHWISE_CONV_2D"]  # and the pointwise conv that reads its output
    assert sum(summary.op_counts.values()) == 2 * sum(kt.analyze(int8_file).op_counts.values())
