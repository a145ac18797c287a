"""A GGUF file's tensor table, read in milliseconds: what :class:`aieng.llm.engine.LlamaEngine` needs.

Used by the GGUF engine of Month 7 (chapters/07-transformers-and-llms). ``gguf.GGUFReader`` (llama.cpp's
own Python reader) decodes every metadata value into numpy views, the tokenizer's 49,152 strings and
48,900 merges included: about 7 s on this book's 2-core machine, paid by every notebook that loads the
model. The engine needs only the tensor table (name, type, shape, where the bytes are), so this reader
steps over the metadata without decoding it and memory-maps the bytes. ``tests/test_engine.py`` checks it
against ``GGUFReader``: the same names, types, shapes and bytes.

The layout (GGUF version 2 and 3, little-endian): ``"GGUF"``, a uint32 version, uint64 tensor and
metadata counts; then each metadata pair (a string key, a uint32 value type, the value); then each
tensor's name, dimension count, dimensions (fastest-varying first), uint32 type and uint64 offset; the
tensor data begins at the next multiple of ``general.alignment`` (32 when absent).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["GGUFTensor", "GGUFFormatError", "read_tensors"]

# Metadata value types: the size in bytes of the fixed-size ones.
_FIXED = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_STRING, _ARRAY, _UINT32 = 8, 9, 4


class GGUFFormatError(ValueError):
    """The file is not a GGUF file this reader understands (the message says why)."""


@dataclass(frozen=True)
class GGUFTensor:
    """One tensor of a GGUF file: ``data`` is a read-only memory map of its bytes (``uint8``), or of its
    values for the float types (``float32``, ``float16``)."""

    name: str
    tensor_type: Any  # gguf.GGMLQuantizationType
    shape: tuple[int, ...]
    data: np.ndarray


class _Cursor:
    def __init__(self, buf: memoryview, where: str) -> None:
        self.buf, self.pos, self.where = buf, 0, where

    def take(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buf):
            raise GGUFFormatError(f"{self.where}: ends inside its header (offset {self.pos})")
        (value,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return value

    def string(self) -> str:
        n = self.take("<Q")
        text = bytes(self.buf[self.pos:self.pos + n]).decode("utf-8", errors="replace")
        self.pos += n
        return text

    def skip_value(self, kind: int) -> None:
        if kind in _FIXED:
            self.pos += _FIXED[kind]
        elif kind == _STRING:
            n = self.take("<Q")  # not `self.pos += self.take(...)`: that adds to the position before the read
            self.pos += n
        elif kind == _ARRAY:
            item, count = self.take("<I"), self.take("<Q")
            if item in _FIXED:
                self.pos += _FIXED[item] * count
            else:
                for _ in range(count):
                    self.skip_value(item)
        else:
            raise GGUFFormatError(f"{self.where}: unknown metadata value type {kind} at offset {self.pos}")


def read_tensors(path: str | Path) -> dict[str, GGUFTensor]:
    """Every tensor of the GGUF file at ``path``, by name, in file order.

    Raises
    ------
    GGUFFormatError
        When the file is not GGUF (version 2 or 3) or is cut short.
    """
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    path = Path(path)
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    cur = _Cursor(memoryview(raw), str(path))
    if bytes(cur.buf[:4]) != b"GGUF":
        raise GGUFFormatError(f"{path}: not a GGUF file (it does not start with 'GGUF')")
    cur.pos = 4
    version = cur.take("<I")
    if version not in (2, 3):
        raise GGUFFormatError(f"{path}: GGUF version {version}; this reader knows versions 2 and 3")
    n_tensors, n_kv = cur.take("<Q"), cur.take("<Q")
    alignment = 32
    for _ in range(n_kv):
        key, kind = cur.string(), cur.take("<I")
        if key == "general.alignment" and kind == _UINT32:
            alignment = cur.take("<I")
        else:
            cur.skip_value(kind)
    infos = []
    for _ in range(n_tensors):
        name, n_dims = cur.string(), cur.take("<I")
        shape = tuple(cur.take("<Q") for _ in range(n_dims))
        infos.append((name, GGMLQuantizationType(cur.take("<I")), shape, cur.take("<Q")))
    start = -(-cur.pos // alignment) * alignment
    tensors = {}
    for name, kind, shape, offset in infos:
        block, size = GGML_QUANT_SIZES[kind]
        count = int(np.prod(shape, dtype=np.int64))
        nbytes = count // block * size
        begin = start + offset
        if begin + nbytes > len(raw):
            raise GGUFFormatError(f"{path}: tensor {name} runs past the end of the file (truncated?)")
        data = raw[begin:begin + nbytes]
        if kind == GGMLQuantizationType.F32:
            data = data.view(np.float32)
        elif kind == GGMLQuantizationType.F16:
            data = data.view(np.float16)
        tensors[name] = GGUFTensor(name, kind, shape, data)
    return tensors
