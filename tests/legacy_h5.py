"""Writes a model's weights in the legacy Keras 2 HDF5 layout, the layout of every file
keras.applications publishes, with h5py directly (not with Keras 3's saver), as
tf.keras 2's `hdf5_format.save_weights_to_hdf5_group` wrote it:

- root attributes `layer_names` (every layer, weighted or not), `backend`, `keras_version`;
- one group per layer, its attribute `weight_names` ("conv1/kernel:0", ...), and one
  dataset per weight at that name inside the group ("/" makes nested groups);
- an attribute too large for an HDF5 object header (64,512 bytes) is split into
  `name0`, `name1`, ... (tf.keras' `save_attributes_to_hdf5_group`).
"""

import h5py
import numpy as np

HDF5_OBJECT_HEADER_LIMIT = 64512


def save_attributes(group, name, values, chunk_limit=HDF5_OBJECT_HEADER_LIMIT):
    data = np.asarray(values, dtype="S")
    chunks = max(1, int(np.ceil(data.nbytes / chunk_limit)))
    if chunks == 1:
        group.attrs[name] = data
        return
    for i, chunk in enumerate(np.array_split(data, chunks)):
        group.attrs[f"{name}{i}"] = chunk


def write_legacy_weights(model, path, chunk_limit=HDF5_OBJECT_HEADER_LIMIT):
    with h5py.File(path, "w") as f:
        save_attributes(f, "layer_names", [layer.name.encode("utf8") for layer in model.layers], chunk_limit)
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.4.0"
        for layer in model.layers:
            group = f.create_group(layer.name)
            names = [f"{layer.name}/{w.name}:0".encode("utf8") for w in layer.weights]
            save_attributes(group, "weight_names", names, chunk_limit)
            for name, value in zip(names, layer.get_weights()):
                dataset = group.create_dataset(name.decode("utf8"), value.shape, dtype=value.dtype)
                dataset[...] = value


def serve_as_download(monkeypatch, path):
    """keras.utils.get_file replaced by a stand-in that records each request's (fname,
    origin, cache_subdir, file_hash) and answers with `path`: a weights="imagenet" test
    checks what would be downloaded and loads a file it wrote. Returns the request list."""
    import keras

    requested = []

    def fake_get_file(fname=None, origin=None, cache_subdir=None, file_hash=None, **unused):
        requested.append((fname, origin, cache_subdir, file_hash))
        return str(path)

    monkeypatch.setattr(keras.utils, "get_file", fake_get_file)
    return requested
