"""Pretrained weights: where they come from, and loading them by layer name.

A file saved from the keras.applications model of the same architecture loads
into ours even though the graphs differ in weightless layers (padding,
activations). Legacy `.h5` files (the format of every published keras.applications
file) are matched by layer name. Keras 3's own formats (`.weights.h5`, `.keras`)
do not record layer names: they key each layer by its class and its rank among
layers of that class ("batch_normalization_12"), so they are matched that way.
"""

import contextlib
import dataclasses
import os
import tempfile
import zipfile
from typing import Dict, List, Optional, Tuple

import h5py
import keras
import numpy as np
from keras.src.utils.naming import to_snake_case  # defines Keras 3's file keys


@dataclasses.dataclass(frozen=True)
class WeightFile:
    """A published weight file: its name, URL and (when the publisher gives one) hash."""

    filename: str
    url: str
    file_hash: Optional[str] = None

    def fetch(self):
        """Downloads (once, into ~/.keras/models) and returns the local path."""
        return keras.utils.get_file(
            self.filename, self.url, cache_subdir="models", file_hash=self.file_hash
        )


KERAS_APPLICATIONS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"


NAME, STRUCTURE = "name", "structure"


def read_weight_arrays(path) -> Tuple[Dict[str, List[np.ndarray]], str]:
    """Returns ({layer key: [arrays in variable order]}, how layers are keyed)."""
    with _h5_file(path) as h5_path:
        return _read_h5(path, h5_path)


@contextlib.contextmanager
def _h5_file(path):
    """The HDF5 file holding the weights of `path` (extracted from a .keras archive)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ValueError(f"Weight file {path!r} does not exist. Pass `weights=None`, 'imagenet' or an existing file.")
    if not path.endswith(".keras"):
        yield path
        return
    with zipfile.ZipFile(path) as archive, tempfile.TemporaryDirectory() as tmp:
        if "model.weights.h5" not in archive.namelist():
            raise ValueError(f"{path!r} is not a Keras model archive (no model.weights.h5 inside).")
        yield archive.extract("model.weights.h5", tmp)


def _read_h5(path, h5_path):
    try:
        handle = h5py.File(h5_path, "r")
    except OSError as error:
        raise ValueError(f"Cannot read weight file {path!r}: {error}. Expected a .h5, .weights.h5 or .keras file.") from None
    with handle as f:
        if "layer_names" in f.attrs or "layer_names0" in f.attrs or "model_weights" in f:
            return _read_legacy_h5(f["model_weights"] if "model_weights" in f else f), NAME
        if "layers" in f:
            return _read_keras3_h5(f["layers"]), STRUCTURE
    raise ValueError(f"{path!r} holds no Keras weights (neither the legacy nor the Keras 3 layout).")


def _read_legacy_h5(group):
    weights = {}
    for layer_name in _legacy_attribute(group, "layer_names"):
        layer_group = group[layer_name]
        names = _legacy_attribute(layer_group, "weight_names")
        if names:
            weights[layer_name] = [np.asarray(layer_group[n]) for n in names]
    return weights


def _legacy_attribute(group, name):
    """A list attribute of the legacy layout. Keras 2 split one too large for an HDF5
    object header (64 KB: a model of many layers) into name0, name1, ..."""
    if name in group.attrs:
        return _decode(group.attrs[name])
    values, chunk = [], 0
    while f"{name}{chunk}" in group.attrs:
        values += _decode(group.attrs[f"{name}{chunk}"])
        chunk += 1
    return values


class NestedArrays(list):
    """A layer's arrays that Keras 3 stores in sub-layer groups (MultiHeadAttention's
    query/key/value/output Dense layers): the file's order is not the layer's
    variable order, so such layers are loaded by Keras' own walk of the layer."""


def _read_keras3_h5(layers_group):
    weights = {}
    for layer_name, layer_group in layers_group.items():
        arrays = _group_arrays(layer_group)
        if arrays:
            nested = any(k != "vars" and isinstance(v, h5py.Group) for k, v in layer_group.items())
            weights[layer_name] = NestedArrays(arrays) if nested else arrays
    return weights


def _group_arrays(group):
    variables = group.get("vars")
    arrays = [np.asarray(variables[k]) for k in sorted(variables, key=int)] if variables is not None else []
    for key, child in group.items():
        if key != "vars" and isinstance(child, h5py.Group):
            arrays += _group_arrays(child)
    return arrays


def _load_nested(layer, h5_path, key):
    from keras.src.saving import saving_lib  # Keras' own per-object loader

    store = saving_lib.H5IOStore(h5_path, mode="r")
    try:
        saving_lib._load_state(layer, weights_store=store, assets_store=None, inner_path=f"layers/{key}", visited_saveables=set())
    finally:
        store.close()


def _decode(names):
    return [n.decode("utf8") if isinstance(n, bytes) else str(n) for n in names]


def structure_keys(model):
    """Keras 3's file key for each layer of `model`: snake_case class name + rank."""
    used = {}
    keys = {}
    for layer in model.layers:
        base = to_snake_case(layer.__class__.__name__)
        keys[layer.name] = base if base not in used else f"{base}_{used[base] + 1}"
        used[base] = used[base] + 1 if base in used else 0
    return keys


def load_weights_by_name(model, path, rename=None, arguments="width, depth"):
    """Loads every weighted layer of `model` from the matching layer in `path`.

    Layers of the file that the model lacks (a classifier the model was built
    without) are ignored; a weighted layer of the model that the file lacks, or a
    shape that differs, is an error naming the layers, never a silent partial load.

    `rename(arrays)`, for legacy files whose layers carry Keras' automatic names
    (conv2d_12, ...): returns {our layer name: the file's key} for the layers it
    can match (families whose reference leaves layers unnamed supply it).
    `arguments` names the family's architecture knobs for the error message.
    """
    with _h5_file(path) as h5_path:
        arrays, keyed_by = _read_h5(path, h5_path)
        _load_matching_layers(model, path, h5_path, arrays, keyed_by, rename, arguments)


def _load_matching_layers(model, path, h5_path, arrays, keyed_by, rename, arguments):
    if keyed_by == STRUCTURE:
        keys = structure_keys(model)
    else:
        keys = {layer.name: layer.name for layer in model.layers}
        if rename is not None:
            keys.update(rename(arrays))
    missing, mismatched = [], []
    for layer in model.layers:
        if not layer.weights:
            continue
        key = keys[layer.name]
        if key not in arrays:
            missing.append(layer.name)
            continue
        expected = [tuple(w.shape) for w in layer.weights]
        found = [tuple(a.shape) for a in arrays[key]]
        nested = isinstance(arrays[key], NestedArrays)
        if (sorted(expected) != sorted(found)) if nested else (expected != found):
            where = "" if key == layer.name else f" ({key} in the file)"
            mismatched.append(f"{layer.name}{where}: model {expected} vs file {found}")
            continue
        if nested:
            _load_nested(layer, h5_path, key)
        else:
            layer.set_weights(arrays[key])
    if missing or mismatched:
        details = "; ".join(
            ([f"no weights in the file for {', '.join(missing[:8])}" + (" ..." if len(missing) > 8 else "")] if missing else [])
            + ([f"shape mismatch: {'; '.join(mismatched[:4])}"] if mismatched else [])
        )
        raise ValueError(
            f"Weights in {os.fspath(path)!r} do not fit model {model.name!r} ({details}). "
            f"Build the model with the same architecture arguments ({arguments}, "
            "classes, include_top) as the model that saved the file."
        )
