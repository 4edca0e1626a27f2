"""PyTorch checkpoints read without torch, and safely.

A `.pth` file is a pickle: unpickling one with torch (before `weights_only`) runs any
code the file names. This reader rebuilds tensors as NumPy arrays and refuses every
other global, so a checkpoint can hold data and nothing else. Three layouts:

- torch's zip archive (`torch.save` since 1.6): `<root>/data.pkl`, whose persistent ids
  name the raw storages `<root>/data/<key>`;
- the legacy stream (`_use_new_zipfile_serialization=False`, and older files): magic
  number, protocol version and system info pickles, the object pickle, the storage
  keys, then each storage as an int64 element count and its bytes;
- `.safetensors`: an 8-byte header length, a JSON header, the raw tensors.

The format is read from the content, not the file name (torch's own loader does the
same). Layouts after torch/serialization.py and the safetensors specification
(github.com/huggingface/safetensors, "Format").
"""

import collections
import io
import json
import os
import pickle
import struct
import zipfile
from typing import Dict

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # torch/serialization.py MAGIC_NUMBER
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

# torch's storage classes -> the dtype of their elements.
STORAGE_DTYPES = {
    "DoubleStorage": np.float64, "FloatStorage": np.float32, "HalfStorage": np.float16,
    "BFloat16Storage": "bfloat16", "LongStorage": np.int64, "IntStorage": np.int32,
    "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}
SAFETENSORS_DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": "bfloat16", "I64": np.int64,
    "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_,
}


class UnsafeCheckpointError(ValueError):
    """A checkpoint that asks the unpickler for something other than tensors."""


class _Storage:
    """A storage named by a persistent id, filled once its bytes are read."""

    def __init__(self, type_name, key, numel):
        self.type_name, self.key, self.numel = type_name, key, numel
        self.array = None


class _StorageType:
    """Stands for torch.FloatStorage & co. inside the pickle: only its name is used."""

    def __init__(self, name):
        self.name = name


def _rebuild_tensor(storage, offset, size, stride, *unused):
    return _PendingTensor(storage, offset, tuple(size), tuple(stride))


def _rebuild_parameter(data, *unused):
    return data


class _PendingTensor:
    """A tensor whose storage bytes may come after the pickle (the legacy layout)."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def to_numpy(self):
        flat = self.storage.array
        if self.size == ():
            return flat[self.offset].copy()
        needed = self.offset + 1 + sum((n - 1) * s for n, s in zip(self.size, self.stride) if n > 0)
        if min(self.size) > 0 and needed > flat.size:
            raise ValueError(f"the checkpoint is corrupt: a tensor of shape {self.size} reaches past its storage "
                             f"({flat.size} elements)")
        view = np.lib.stride_tricks.as_strided(
            flat[self.offset:], shape=self.size, strides=[s * flat.itemsize for s in self.stride], writeable=False)
        return np.array(view)


# The only globals a state_dict pickle needs: the tensor and parameter rebuilders,
# the storage classes and OrderedDict. Anything else is refused, by name.
_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch.nn.parameter", "Parameter"): _rebuild_parameter,
}


class _SafeUnpickler(pickle.Unpickler):
    def __init__(self, file, path, storages):
        super().__init__(file, encoding="latin1")  # Python 2 era checkpoints pickle str as bytes
        self.path, self.storages = path, storages

    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        raise UnsafeCheckpointError(
            f"{self.path!r} asks to import {module}.{name}: a checkpoint may hold only tensors, so this reader refuses "
            "it (loading it with torch.load(weights_only=False) would run that code). Save a plain state_dict "
            "(torch.save(model.state_dict(), path)) from a source you trust.")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise ValueError(f"{self.path!r}: unexpected persistent id {pid!r} (not a torch storage)")
        storage_type, key, numel = pid[1], str(pid[2]), pid[4]
        type_name = storage_type.name if isinstance(storage_type, _StorageType) else None
        if type_name is None:
            raise ValueError(f"{self.path!r}: a storage of unknown type {storage_type!r}")
        if len(pid) > 5 and pid[5] is not None:
            raise ValueError(f"{self.path!r}: storage views (torch < 0.4 checkpoints) are not supported")
        if key not in self.storages:
            self.storages[key] = _Storage(type_name, key, numel)
        return self.storages[key]


def file_format(path) -> str:
    """"torch-zip", "torch-legacy", "safetensors", "keras-zip" (.keras), "hdf5" or "unknown",
    from the first bytes (and, for a zip, its member names)."""
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except zipfile.BadZipFile:
            return "unknown"
        if any(n.endswith("/data.pkl") or n == "data.pkl" for n in names):
            return "torch-zip"
        if "model.weights.h5" in names:
            return "keras-zip"
        return "unknown"
    if head.startswith(HDF5_SIGNATURE):
        return "hdf5"
    if head[:1] == b"\x80":  # a pickle's PROTO opcode: torch's legacy stream starts with one
        return "torch-legacy"
    if len(head) >= 9 and head[8:9] == b"{":
        return "safetensors"
    return "unknown"


def read_checkpoint(path) -> Dict[str, np.ndarray]:
    """{name: array} of a PyTorch checkpoint (.pth zip or legacy) or a .safetensors file.

    A training checkpoint that wraps the weights (`{"state_dict": ...}`, `{"model": ...}`,
    timm's `state_dict_ema`) gives the weights; DataParallel's `module.` prefix is removed.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ValueError(f"Checkpoint {path!r} does not exist.")
    kind = file_format(path)
    try:
        if kind == "torch-zip":
            loaded = _read_torch_zip(path)
        elif kind == "torch-legacy":
            loaded = _read_torch_legacy(path)
        elif kind == "safetensors":
            return _read_safetensors(path)
        else:
            raise ValueError(f"{path!r} is not a PyTorch checkpoint (.pth) or a .safetensors file "
                             f"(its content reads as {kind!r}).")
    except UnsafeCheckpointError:
        raise
    except (pickle.UnpicklingError, EOFError, struct.error, zipfile.BadZipFile, KeyError, IndexError,
            AttributeError, TypeError) as error:
        raise ValueError(f"{path!r} is a corrupt or truncated PyTorch checkpoint ({kind}): "
                         f"{type(error).__name__}: {error}") from None
    return _state_dict(loaded, path)


def _read_torch_zip(path):
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
        root = pickles[0][: -len("data.pkl")]
        storages = {}
        obj = _SafeUnpickler(io.BytesIO(archive.read(pickles[0])), path, storages).load()
        for storage in storages.values():
            raw = archive.read(f"{root}data/{storage.key}")
            storage.array = _from_bytes(raw, storage.type_name, path)
    return obj


def _read_torch_legacy(path):
    with open(path, "rb") as f:
        magic = pickle.load(f)  # plain ints: no global can be named in them
        if magic != LEGACY_MAGIC:
            raise ValueError(f"{path!r} is a pickle but not a PyTorch checkpoint (no torch magic number)")
        version = pickle.load(f)
        if version != 1001:
            raise ValueError(f"{path!r}: PyTorch legacy protocol version {version} is not supported (1001 is)")
        _SafeUnpickler(f, path, {}).load()  # sys_info: a dict of plain values
        storages = {}
        obj = _SafeUnpickler(f, path, storages).load()
        keys = _SafeUnpickler(f, path, {}).load()
        for key in keys:
            storage = storages[str(key)]
            (numel,) = struct.unpack("<q", f.read(8))
            itemsize = _stored_dtype(STORAGE_DTYPES[storage.type_name]).itemsize
            storage.array = _from_bytes(f.read(numel * itemsize), storage.type_name, path, numel)
    return obj


def _stored_dtype(dtype):
    """How an element is stored: NumPy has no bfloat16, so its 16 bits are read as uint16."""
    return np.dtype(np.uint16 if dtype == "bfloat16" else dtype).newbyteorder("<")


def _decoded(raw, dtype):
    """The little-endian bytes `raw` as an array of `dtype` (bfloat16 widened to float32)."""
    array = np.frombuffer(raw, dtype=_stored_dtype(dtype))
    if dtype == "bfloat16":  # bfloat16 is float32's upper half
        return (array.astype(np.uint32) << 16).view(np.float32)
    return array


def _from_bytes(raw, type_name, path, numel=None):
    itemsize = _stored_dtype(STORAGE_DTYPES[type_name]).itemsize
    if numel is not None and len(raw) != numel * itemsize or len(raw) % itemsize:
        raise ValueError(f"{path!r} is truncated: a storage holds {len(raw)} bytes")
    return _decoded(raw, STORAGE_DTYPES[type_name])


def _state_dict(obj, path):
    for key in ("state_dict", "model", "state_dict_ema", "model_ema"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict) and obj[key]:
            obj = obj[key]
            break
    if not isinstance(obj, dict):
        raise ValueError(f"{path!r} holds a {type(obj).__name__}, not a state_dict (a dict of tensors).")
    tensors = {}
    for name, value in obj.items():
        if isinstance(value, _PendingTensor):
            tensors[name[len("module."):] if name.startswith("module.") else name] = value.to_numpy()
    if not tensors:
        raise ValueError(f"{path!r} holds no tensors.")
    return tensors


def _read_safetensors(path):
    with open(path, "rb") as f:
        (header_size,) = struct.unpack("<Q", f.read(8))
        if header_size > os.path.getsize(path) - 8:
            raise ValueError(f"{path!r} is a corrupt .safetensors file: its header length passes the end of the file")
        try:
            header = json.loads(f.read(header_size))
        except ValueError as error:
            raise ValueError(f"{path!r} is a corrupt .safetensors file: its header is not JSON ({error})") from None
        data = f.read()
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if entry["dtype"] not in SAFETENSORS_DTYPES:
            raise ValueError(f"{path!r}: tensor {name!r} has dtype {entry['dtype']}, which this reader does not know")
        begin, end = entry["data_offsets"]
        dtype = SAFETENSORS_DTYPES[entry["dtype"]]
        raw = data[begin:end]
        if end > len(data) or len(raw) != int(np.prod(entry["shape"], dtype=np.int64)) * _stored_dtype(dtype).itemsize:
            raise ValueError(f"{path!r} is truncated or corrupt: tensor {name!r} does not fit its bytes")
        tensors[name] = _decoded(raw, dtype).reshape(entry["shape"]).copy()
    return tensors
