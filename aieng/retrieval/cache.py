"""The embedding cache: a corpus is embedded once per model and text, then read from disk.

Taught in Month 8 (chapters/08-embeddings-and-rag).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from aieng import settings
from aieng.atomic import atomic_path

__all__ = ['embed_cached']


@contextlib.contextmanager
def _turn(lock: Path) -> Iterator[None]:
    """Hold an exclusive lock on the file ``lock`` (created if missing) while the block runs.

    ``fcntl.flock`` on Linux and macOS, released by the system if the process dies. Where ``fcntl``
    does not exist (Windows), there is no lock: two processes may then both embed the corpus.
    """
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(lock, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


# ----------------------------------------------------------------------------- caching


def embed_cached(embedder: Any, texts: Sequence[str], name: str = "corpus", batch_size: int = 64,
                 cache: str | os.PathLike[str] | None = None) -> np.ndarray:
    """``embedder.encode(texts)``, cached on disk under the user cache (never in the repository).

    The file name holds a hash of the model name and of every text, so a changed corpus or model is
    re-embedded rather than served stale. Default folder: ``aieng.settings.derived_cache_dir() / "embeddings"``.

    Processes that ask for the same vectors at once (notebooks executed in parallel by ``make book``)
    take turns on a file lock beside the file: the first embeds, the others wait and read what it wrote.
    """
    import hashlib

    digest = hashlib.sha256(str(getattr(embedder, "name", type(embedder).__name__)).encode())
    for t in texts:
        digest.update(t.encode("utf-8"))
        digest.update(b"\0")
    root = settings.derived_cache_dir()
    if cache is None and root is None:  # AIENG_CACHE=0: no derived caches
        return embedder.encode(list(texts), batch_size=batch_size)
    folder = Path(cache) if cache is not None else root / "embeddings"
    target = folder / f"{name}-{digest.hexdigest()[:16]}.npy"
    folder.mkdir(parents=True, exist_ok=True)
    with _turn(target.with_suffix(".lock")):
        if target.is_file():
            X = np.load(target, allow_pickle=False)
            if X.shape[0] == len(texts):
                return X
        X = embedder.encode(list(texts), batch_size=batch_size)
        with atomic_path(target) as tmp, open(tmp, "wb") as fh:
            np.save(fh, X, allow_pickle=False)
    return X
