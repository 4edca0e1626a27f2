"""PyTorch checkpoints read without torch: files written by torch itself (Debian's
torch 1.13, in a subprocess), in both of its layouts, and .safetensors files written by
the safetensors package; a pickle that asks for code is refused without running it;
a checkpoint of another architecture loads nothing."""

import pickle

import keras
import numpy as np
import pytest
from safetensors.numpy import save_file
from torch_reference import run_torch

from keras_lightnets.weights import UnsafeCheckpointError
from keras_lightnets.weights import file_format
from keras_lightnets.weights import load_state_dict
from keras_lightnets.weights import read_checkpoint

WRITE = """
import sys, collections, torch
torch.manual_seed(0)
base = torch.randn(4, 6)
state = collections.OrderedDict([
    ("f32", torch.randn(3, 5)),
    ("transposed", base.t()),                      # a non-contiguous view: strides (1, 6)
    ("sliced", base[1:3, 2:]),                     # an offset into a shared storage
    ("f16", torch.randn(7).half()),
    ("bf16", torch.tensor([1.5, -2.25, 3.0e10]).bfloat16()),
    ("i64", torch.arange(5)),
    ("flag", torch.tensor([True, False])),
    ("scalar", torch.tensor(2.5)),
    ("param", torch.nn.Parameter(torch.ones(2))),
])
torch.save(state, sys.argv[1])
torch.save(state, sys.argv[2], _use_new_zipfile_serialization=False)
torch.save({"epoch": 3, "state_dict": {"module." + k: v for k, v in state.items()}}, sys.argv[3])
import numpy as np
np.savez(sys.argv[4], **{k: (v.float() if v.dtype == torch.bfloat16 else v).detach().numpy() for k, v in state.items()})
"""


@pytest.fixture(scope="module")
def torch_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("torch_files")
    paths = [folder / n for n in ("zip.pth", "legacy.pth", "wrapped.pth.tar", "expected.npz")]
    run_torch(WRITE, *paths)
    expected = dict(np.load(paths[3]))
    return paths[:3], expected


def test_both_torch_layouts_and_wrapped_checkpoints_give_torchs_arrays(torch_files):
    paths, expected = torch_files
    assert [file_format(p) for p in paths] == ["torch-zip", "torch-legacy", "torch-zip"]
    for path in paths:
        tensors = read_checkpoint(path)
        assert list(tensors) == list(expected)  # the file's order; "module." and the wrapper removed
        for name, array in expected.items():
            assert tensors[name].shape == array.shape, (path, name)
            np.testing.assert_array_equal(tensors[name], array, err_msg=f"{path.name}:{name}")
        assert tensors["f16"].dtype == np.float16 and tensors["i64"].dtype == np.int64
        assert tensors["bf16"].dtype == np.float32 and tensors["flag"].dtype == np.bool_


def test_safetensors_are_read_directly(tmp_path):
    arrays = {"a.weight": np.arange(12, dtype=np.float32).reshape(3, 4), "b": np.array([1, -2], np.int64),
              "h": np.linspace(0, 1, 5).astype(np.float16)}
    save_file(arrays, str(tmp_path / "m.safetensors"), metadata={"format": "pt"})
    assert file_format(tmp_path / "m.safetensors") == "safetensors"
    tensors = read_checkpoint(tmp_path / "m.safetensors")
    assert sorted(tensors) == sorted(arrays)
    for name, array in arrays.items():
        np.testing.assert_array_equal(tensors[name], array)
        assert tensors[name].dtype == array.dtype


class _RunsCode:
    def __reduce__(self):
        import os

        return (os.system, ("touch SHOULD_NOT_EXIST",))


def test_a_pickle_that_asks_for_code_is_refused_without_running_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:  # the legacy layout, its object pickle replaced by one that runs a command
        for header in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001}):
            pickle.dump(header, f, protocol=2)
        pickle.dump({"weight": _RunsCode()}, f, protocol=2)
    with pytest.raises(UnsafeCheckpointError, match=r"asks to import (posix|os)\.system.*refuses"):
        read_checkpoint(path)
    assert not (tmp_path / "SHOULD_NOT_EXIST").exists()


def test_corrupt_truncated_and_foreign_files_are_named(tmp_path, torch_files):
    (zip_path, legacy_path, _), _ = torch_files
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(legacy_path.read_bytes()[:-40])
    with pytest.raises(ValueError, match="truncated"):
        read_checkpoint(truncated)
    damaged = tmp_path / "damaged.pth"
    damaged.write_bytes(zip_path.read_bytes()[:2000])
    with pytest.raises(ValueError, match="not a PyTorch checkpoint|corrupt"):
        read_checkpoint(damaged)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ValueError, match=r"not a PyTorch checkpoint \(\.pth\) or a \.safetensors file"):
        read_checkpoint(text)
    with pytest.raises(ValueError, match="does not exist"):
        read_checkpoint(tmp_path / "absent.pth")


def _tiny_model():
    inputs = keras.Input((6, 6, 3))
    x = keras.layers.Conv2D(4, 3, use_bias=False, name="features_0")(inputs)
    x = keras.layers.BatchNormalization(epsilon=1e-5, name="features_1")(x)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(2, name="fc")(x))


def _tiny_state(seed=0):
    rng = np.random.default_rng(seed)
    return {"features.0.weight": rng.normal(size=(4, 3, 3, 3)).astype(np.float32),
            "features.1.weight": rng.uniform(0.5, 1.5, 4).astype(np.float32),
            "features.1.bias": rng.normal(size=4).astype(np.float32),
            "features.1.running_mean": rng.normal(size=4).astype(np.float32),
            "features.1.running_var": rng.uniform(0.5, 1.5, 4).astype(np.float32),
            "features.1.num_batches_tracked": np.array(10),
            "fc.weight": rng.normal(size=(2, 64)).astype(np.float32), "fc.bias": rng.normal(size=2).astype(np.float32)}


def test_layouts_including_torchs_flatten_order():
    state = _tiny_state()
    model = _tiny_model()
    assert load_state_dict(model, state) == 7  # every tensor, num_batches_tracked aside
    x = np.random.default_rng(1).uniform(size=(1, 6, 6, 3)).astype(np.float32)
    # the same network in NumPy, torch's way: NCHW, flattened C,H,W
    w = state["features.0.weight"]
    conv = np.zeros((4, 4, 4))
    nchw = x[0].transpose(2, 0, 1)
    for o in range(4):
        for i in range(4):
            for j in range(4):
                conv[o, i, j] = np.sum(nchw[:, i:i + 3, j:j + 3] * w[o])
    bn = ((conv - state["features.1.running_mean"][:, None, None])
          / np.sqrt(state["features.1.running_var"][:, None, None] + 1e-5)
          * state["features.1.weight"][:, None, None] + state["features.1.bias"][:, None, None])
    expected = state["fc.weight"] @ bn.reshape(-1) + state["fc.bias"]
    np.testing.assert_allclose(model.predict(x, verbose=0)[0], expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("change, message", [
    (lambda s: s.pop("fc.bias"), r"torch module 'fc' has parameters \['weight'\].*missing fc\.bias"),
    (lambda s: s.update({"extra.weight": np.zeros(3, np.float32)}), "no layer of model .* takes, first 'extra'"),
    (lambda s: s.update({"fc.weight": np.zeros((3, 64), np.float32)}), r"fc\.weight has shape \(3, 64\)"),
    (lambda s: [s.pop(k) for k in list(s) if k.startswith("features.1")], "no weights for layer 'features_1'"),
])
def test_another_architecture_is_named_and_nothing_is_half_loaded(change, message):
    model = _tiny_model()
    before = [w.copy() for w in model.get_weights()]
    state = _tiny_state()
    change(state)
    with pytest.raises(ValueError, match=message):
        load_state_dict(model, state)
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)
