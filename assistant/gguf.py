"""A fast GGUF header reader: metadata and the tensor table, skipping the big token arrays.

``gguf.GGUFReader`` parses every token of the vocabulary (~10 s for a 262k vocabulary); this
reader walks the same bytes but keeps arrays only as their length, so a header reads in well under
0.2 s. Format: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ModelFileError

GGUF_MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32

# ggml type id -> (name, elements per block, bytes per block), from ggml.h / ggml.c type traits.
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22), 7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 36),
    10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292), 16: ("IQ2_XXS", 256, 66), 17: ("IQ2_XS", 256, 74),
    18: ("IQ3_XXS", 256, 98), 19: ("IQ1_S", 256, 50), 20: ("IQ4_NL", 32, 18), 21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82), 23: ("IQ4_XS", 256, 136), 24: ("I8", 1, 1), 25: ("I16", 1, 2),
    26: ("I32", 1, 4), 27: ("I64", 1, 8), 28: ("F64", 1, 8), 29: ("IQ1_M", 256, 56),
    30: ("BF16", 1, 2), 34: ("TQ1_0", 256, 54), 35: ("TQ2_0", 256, 66), 39: ("MXFP4", 32, 17),
}
GGML_TYPE_BY_NAME = {name: (block, size) for name, block, size in GGML_TYPES.values()}

# GGUF metadata value types: id -> struct format (scalars) ; 8 = string, 9 = array.
_SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
# Arrays of at most this many scalars are kept (e.g. per-layer head counts); longer ones are skipped.
_KEEP_ARRAY_MAX = 4096


def type_bytes(type_name: str, n_elements: int) -> int:
    """Bytes of n_elements stored as a ggml type (whole blocks)."""
    block, size = GGML_TYPE_BY_NAME[type_name]
    return (n_elements + block - 1) // block * size


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    type_name: str
    offset: int  # relative to the start of the data section

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def n_bytes(self) -> int:
        return type_bytes(self.type_name, self.n_elements)


@dataclass
class ArrayInfo:
    """A skipped array: its element type and length (e.g. tokenizer.ggml.tokens)."""

    element_type: int
    length: int


@dataclass
class GGUFHeader:
    path: Path
    version: int
    metadata: dict[str, Any]
    tensors: list[TensorInfo]
    data_offset: int
    file_size: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", ""))

    def arch_value(self, key: str, default: Any = None) -> Any:
        """A metadata value under the architecture prefix, e.g. 'block_count' -> 'llama.block_count'."""
        return self.metadata.get(f"{self.architecture}.{key}", default)

    def tensor_bytes(self) -> int:
        return sum(t.n_bytes for t in self.tensors)


class _Cursor:
    def __init__(self, buf: mmap.mmap | bytes, path: Path) -> None:
        self.buf, self.pos, self.path = buf, 0, path

    def need(self, size: int) -> None:
        if self.pos + size > len(self.buf):
            raise ModelFileError(f"{self.path} is truncated inside its GGUF header; download it again")

    def unpack(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        self.need(size)
        (value,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return value

    def string(self) -> str:
        n = self.unpack("<Q")
        self.need(n)
        s = bytes(self.buf[self.pos:self.pos + n]).decode("utf-8", "replace")
        self.pos += n
        return s

    def skip_strings(self, count: int) -> None:
        buf, pos, unpack_from = self.buf, self.pos, struct.unpack_from
        end = len(buf)
        for _ in range(count):
            if pos + 8 > end:
                raise ModelFileError(f"{self.path} is truncated inside its GGUF header; download it again")
            (n,) = unpack_from("<Q", buf, pos)
            pos += 8 + n
            if pos > end:
                raise ModelFileError(f"{self.path} is truncated inside its GGUF header; download it again")
        self.pos = pos

    def value(self, vtype: int) -> Any:
        if vtype in _SCALAR:
            return self.unpack(_SCALAR[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            etype, count = self.unpack("<I"), self.unpack("<Q")
            if etype in _SCALAR:
                size = struct.calcsize(_SCALAR[etype])
                self.need(size * count)
                if count <= _KEEP_ARRAY_MAX:
                    fmt = "<" + _SCALAR[etype][1] * count
                    values = list(struct.unpack_from(fmt, self.buf, self.pos))
                    self.pos += size * count
                    return values
                self.pos += size * count
                return ArrayInfo(etype, count)
            if etype == _STRING:
                self.skip_strings(count)
                return ArrayInfo(etype, count)
            raise ModelFileError(f"{self.path}: nested GGUF arrays are not supported")
        raise ModelFileError(f"{self.path}: unknown GGUF value type {vtype}; the file may be corrupt")


def read_header(path: str | Path) -> GGUFHeader:
    """Read the metadata and tensor table of a GGUF file."""
    p = Path(path)
    try:
        with p.open("rb") as f:
            size = p.stat().st_size
            if size < 24:
                raise ModelFileError(f"{p} is too small to be a GGUF model ({size} bytes)")
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                return _parse(buf, p, size)
    except FileNotFoundError:
        raise ModelFileError(f"model file {p} does not exist") from None
    except OSError as exc:
        raise ModelFileError(f"cannot read model file {p}: {exc}") from None


def _parse(buf: mmap.mmap, path: Path, size: int) -> GGUFHeader:
    if buf[:4] != GGUF_MAGIC:
        raise ModelFileError(f"{path} is not a GGUF file (bad magic {bytes(buf[:4])!r}); check the download")
    cur = _Cursor(buf, path)
    cur.pos = 4
    version = cur.unpack("<I")
    if version not in (2, 3):
        raise ModelFileError(f"{path} is GGUF version {version}; only versions 2 and 3 are supported")
    n_tensors, n_kv = cur.unpack("<Q"), cur.unpack("<Q")
    if n_tensors > 1_000_000 or n_kv > 1_000_000:
        raise ModelFileError(f"{path} has an implausible GGUF header; the file is corrupt")
    metadata: dict[str, Any] = {}
    for _ in range(n_kv):
        key = cur.string()
        metadata[key] = cur.value(cur.unpack("<I"))
    tensors = []
    for _ in range(n_tensors):
        name = cur.string()
        n_dims = cur.unpack("<I")
        shape = tuple(cur.unpack("<Q") for _ in range(n_dims))
        type_id = cur.unpack("<I")
        offset = cur.unpack("<Q")
        if type_id not in GGML_TYPES:
            raise ModelFileError(f"{path}: tensor {name} has unknown ggml type {type_id}")
        tensors.append(TensorInfo(name, shape, GGML_TYPES[type_id][0], offset))
    alignment = int(metadata.get("general.alignment", DEFAULT_ALIGNMENT))
    data_offset = (cur.pos + alignment - 1) // alignment * alignment
    header = GGUFHeader(path, version, metadata, tensors, data_offset, size)
    end = data_offset + max((t.offset + t.n_bytes for t in tensors), default=0)
    if end > size:
        raise ModelFileError(
            f"{path} is truncated: its tensors need {end} bytes but the file has {size}; download it again"
        )
    return header
