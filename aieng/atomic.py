"""Atomic writes: a file or folder appears whole under its name, or not at all.

Used wherever ``aieng`` saves something a crash must not leave half-written, from Month 7 on:
downloaded data sets, the converted model, vector stores, caches.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "atomic_write"]


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], *, folder: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success rename it onto ``target``, on failure delete it.

    Parameters
    ----------
    target
        The file (or, with ``folder=True``, the folder) to create or replace.
    folder
        Yield an empty temporary folder instead of a file; an existing ``target`` folder is replaced.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if folder:
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part"))
    else:
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        if folder and target.exists():
            old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


def atomic_write(target: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``target`` atomically (a temporary file beside it, then a rename)."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
