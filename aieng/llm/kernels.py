"""GGUF weight blocks and the fused kernel that multiplies by them (taught in Month 7).

Decoding one token reads every weight once and does two flops with it, so on a CPU the speed of a
small model is set by the bytes of weights per token, not by arithmetic. The bundled SmolLM2 file
stores its weights in GGUF blocks of 32:

``Q4_1``
    ``w = d * q + m`` with 4-bit codes ``q`` in 0..15 and one fp16 scale ``d`` and minimum ``m`` per block.
``Q8_0``
    ``w = d * q`` with 8-bit codes ``q`` in -128..127 and one fp16 scale per block.

:class:`BlockMatrix` keeps those codes as they are (scales widened to fp32) and multiplies by them
with a C kernel (``aieng/llm/csrc/gguf_matvec.c``) that rebuilds each weight in a register exactly as the
fp32 dequantisation does. Only the order of the additions differs from ``x @ W.T`` in fp32, so greedy
answers stay those of the fp32 model while a token reads about a fifth of the bytes.

The kernel is compiled on first use with the system C compiler (``$CC``, ``cc``, ``gcc`` or ``clang``)
into the aieng cache; :func:`unavailable_reason` says why it could not be, or ``None`` when it was.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["BlockMatrix", "KernelUnavailable", "unavailable_reason", "library", "load", "SOURCE",
           "BMatStruct", "LayerStruct"]

SOURCE = Path(__file__).with_name("csrc") / "gguf_matvec.c"
BLOCK = 32
KINDS = ("Q4_1", "Q8_0")


class KernelUnavailable(RuntimeError):
    """The C kernel could not be built or loaded here (no compiler, or it failed)."""


def _cpu_tag() -> str:
    """What the machine code depends on: the CPU's feature flags (``-march=native``) and the platform."""
    flags = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                flags = line
                break
    except OSError:
        pass
    return f"{platform.system()}-{platform.machine()}-{platform.processor()}-{flags}"


def _compilers() -> list[str]:
    names = [os.environ.get("CC", ""), "cc", "gcc", "clang"]
    return [p for n in names if n and (p := shutil.which(n))]


def _build(target: Path) -> None:
    """Compile :data:`SOURCE` into ``target`` (atomically: build beside it, then rename)."""
    compilers = _compilers()
    if not compilers:
        raise KernelUnavailable("no C compiler found (set $CC, or install gcc or clang)")
    target.parent.mkdir(parents=True, exist_ok=True)
    errors = []
    for cc in compilers:
        # Apple's clang has no OpenMP (then one thread); a compiler without -march=native gets plain C
        for flags in (["-march=native", "-fopenmp"], ["-march=native"], ["-fopenmp"], []):
            fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
            os.close(fd)
            cmd = [cc, "-O3", *flags, "-shared", "-fPIC", "-o", tmp, str(SOURCE), "-lm"]
            try:
                res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
            except (OSError, subprocess.TimeoutExpired) as exc:
                res = None
                errors.append(f"{' '.join(cmd)}: {exc}")
            if res is not None and res.returncode == 0:
                os.replace(tmp, target)
                return
            if res is not None:
                errors.append(f"{' '.join(cmd)}:\n{res.stderr.strip()[-600:]}")
            Path(tmp).unlink(missing_ok=True)
    raise KernelUnavailable("the kernel did not compile:\n" + "\n".join(errors))


@lru_cache(maxsize=1)
def library() -> ctypes.CDLL:
    """The compiled kernel, built into ``<aieng cache>/kernels/`` the first time (about a second).

    Raises
    ------
    KernelUnavailable
        With the reason, when there is no working C compiler.
    """
    from aieng.settings import cache_dir

    source = SOURCE.read_bytes()
    key = hashlib.sha256(source + _cpu_tag().encode()).hexdigest()[:16]
    target = cache_dir() / "kernels" / f"gguf_matvec-{key}.so"
    if not target.is_file():
        try:
            _build(target)
        except PermissionError:  # a read-only cache: build in a private temporary folder instead
            target = Path(tempfile.mkdtemp(prefix="aieng-kernels-")) / target.name
            _build(target)
    return load(target)


def load(path: Path) -> ctypes.CDLL:
    """Load a build of the kernel and declare its functions' argument types."""
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as exc:
        raise KernelUnavailable(f"the compiled kernel {path} does not load: {exc}") from exc
    p, i64 = ctypes.c_void_p, ctypes.c_int64
    lib.q4_1_matvec.argtypes = [p, p, p, p, p, i64, i64, i64, ctypes.c_int]
    lib.q4_1_matvec.restype = None
    lib.q8_0_matvec.argtypes = [p, p, p, p, i64, i64, i64, ctypes.c_int]
    lib.q8_0_matvec.restype = None
    f32, i32 = ctypes.c_float, ctypes.c_int
    lib.llama_decode_step.argtypes = [p, i32, p, i64, p, p, i64, i64, i32, i32, i32, i64,
                                      p, f32, p, p, p, i32]
    lib.llama_decode_step.restype = None
    return lib


class BMatStruct(ctypes.Structure):
    """C view of a :class:`BlockMatrix` (``bmat_t`` in the kernel's source)."""

    _fields_ = [("kind", ctypes.c_int32), ("qs", ctypes.c_void_p), ("d", ctypes.c_void_p),
                ("m", ctypes.c_void_p), ("N", ctypes.c_int64), ("K", ctypes.c_int64)]


class LayerStruct(ctypes.Structure):
    """C view of one decoder layer's weights and key/value cache (``layer_t`` in the kernel's source)."""

    _fields_ = [("norm1", ctypes.c_void_p), ("norm2", ctypes.c_void_p), ("eps1", ctypes.c_float),
                ("eps2", ctypes.c_float), ("qkv", BMatStruct), ("o", BMatStruct), ("gate_up", BMatStruct),
                ("down", BMatStruct), ("k", ctypes.c_void_p), ("v", ctypes.c_void_p)]


@lru_cache(maxsize=1)
def unavailable_reason() -> str | None:
    """Why the kernel cannot run here, or ``None`` when it can."""
    try:
        library()
    except KernelUnavailable as exc:
        return str(exc)
    return None


def _fp16(raw: np.ndarray) -> np.ndarray:
    """Two bytes per entry (little-endian fp16) to float32."""
    return np.ascontiguousarray(raw).view(np.float16)[..., 0].astype(np.float32)


@dataclass
class BlockMatrix:
    """A weight matrix ``W`` (``N x K``) kept as GGUF blocks of 32 along ``K``.

    Attributes
    ----------
    kind
        ``"Q4_1"`` or ``"Q8_0"``.
    qs
        The codes: ``uint8 [N, K/32, 16]`` (two 4-bit codes a byte: element ``j`` of a block in the low
        nibble of byte ``j``, element ``j + 16`` in the high one) or ``int8 [N, K/32, 32]``.
    d, m
        Per-block scale and minimum (``m`` is ``None`` for Q8_0), float32 ``[N, K/32]``.
    """

    kind: str
    qs: Any
    d: Any
    m: Any = None

    def __post_init__(self) -> None:
        import torch

        if self.kind not in KINDS:
            raise ValueError(f"unsupported block type {self.kind!r}; this kernel knows {KINDS}")
        self.qs = torch.as_tensor(np.ascontiguousarray(self.qs))
        self.d = torch.as_tensor(np.ascontiguousarray(self.d, dtype=np.float32))
        if self.kind == "Q4_1":
            if self.m is None:
                raise ValueError("Q4_1 blocks need their minimums m")
            self.m = torch.as_tensor(np.ascontiguousarray(self.m, dtype=np.float32))
        self.N, nb = self.d.shape
        self.K = nb * BLOCK
        self._ptrs = [t.data_ptr() for t in (self.qs, self.d, self.m) if t is not None]

    @classmethod
    def from_gguf(cls, tensor: Any, rows: Any = None) -> BlockMatrix:
        """From a GGUF tensor (:func:`aieng.llm.ggufread.read_tensors`, or a ``gguf.GGUFReader`` tensor);
        ``rows`` reorders the output rows (e.g. transformers' un-permutation of the query and key heads)."""
        kind = tensor.tensor_type.name
        if kind not in KINDS:
            raise ValueError(f"tensor {tensor.name} is {kind}; this kernel knows {KINDS}")
        K = int(tensor.shape[0])  # GGUF lists the fastest-varying dimension first
        raw = np.asarray(tensor.data).reshape(-1, K // BLOCK, 20 if kind == "Q4_1" else 34)
        if rows is not None:
            raw = raw[np.asarray(rows)]
        if kind == "Q4_1":
            return cls(kind, raw[:, :, 4:20], _fp16(raw[:, :, 0:2]), _fp16(raw[:, :, 2:4]))
        return cls(kind, np.ascontiguousarray(raw[:, :, 2:34]).view(np.int8), _fp16(raw[:, :, 0:2]))

    @classmethod
    def stack(cls, parts: list[BlockMatrix]) -> BlockMatrix:
        """One matrix from several with the same ``K`` and kind, rows one after another (fuses q, k and v)."""
        import torch

        kinds = {p.kind for p in parts}
        if len(kinds) != 1 or len({p.K for p in parts}) != 1:
            raise ValueError("stack needs matrices of one kind and one width")
        m = torch.cat([p.m for p in parts]) if parts[0].kind == "Q4_1" else None
        return cls(parts[0].kind, torch.cat([p.qs for p in parts]).numpy(), torch.cat([p.d for p in parts]).numpy(),
                   None if m is None else m.numpy())

    def as_struct(self) -> BMatStruct:
        """The C view the fused decoding step reads (the tensors must outlive it: this object holds them)."""
        return BMatStruct(KINDS.index(self.kind), self.qs.data_ptr(), self.d.data_ptr(),
                          self.m.data_ptr() if self.m is not None else None, self.N, self.K)

    @property
    def nbytes(self) -> int:
        """Bytes read per product (codes and scales)."""
        return sum(t.numel() * t.element_size() for t in (self.qs, self.d, self.m) if t is not None)

    def dequantize(self) -> Any:
        """``W`` in float32, computed the way the fp32 model's weights were (``d * q + m``, rounded once)."""
        import torch

        if self.kind == "Q4_1":
            q = torch.cat([self.qs & 15, self.qs >> 4], dim=-1).float()
            w = self.d[..., None] * q + self.m[..., None]
        else:
            w = self.d[..., None] * self.qs.float()
        return w.reshape(self.N, self.K)

    def matvec(self, x: Any, lib: ctypes.CDLL | None = None) -> Any:
        """``x @ W.T`` for a float32 ``x`` of shape ``[..., K]`` with the fused kernel (meant for few rows).

        ``lib`` picks a particular build of the kernel (the tests check each code path); default :func:`library`.
        """
        import torch

        if x.dtype != torch.float32 or x.shape[-1] != self.K:
            raise ValueError(f"expected float32 [..., {self.K}], got {x.dtype} {tuple(x.shape)}")
        x = x.contiguous()
        rows = x.numel() // self.K
        y = x.new_empty((*x.shape[:-1], self.N))
        lib = lib or library()
        if self.kind == "Q4_1":
            lib.q4_1_matvec(*self._ptrs, x.data_ptr(), y.data_ptr(), rows, self.N, self.K, torch.get_num_threads())
        else:
            lib.q8_0_matvec(*self._ptrs, x.data_ptr(), y.data_ptr(), rows, self.N, self.K, torch.get_num_threads())
        return y
