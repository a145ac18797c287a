"""What every store and retriever shares: the :class:`Hit` they return and the two interfaces.

The shared types behind Month 8's stores and retrievers (chapters/08-embeddings-and-rag).

- :class:`VectorStore`: ids, vectors and metadata in, :class:`Hit` lists out (FAISS, Qdrant).
- :class:`Retriever`: text in, ranked hits out (BM25, dense, hybrid).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["Hit", "VectorStore", "Retriever", "top_k", "read_npz"]


@dataclass
class Hit:
    """One search result.

    Attributes
    ----------
    id
        The document (or chunk, or memory) id given when it was added.
    score
        Higher is better. Cosine similarity for vector stores, BM25 score for BM25, fused score for hybrid.
    metadata
        The metadata stored with the id (a copy; editing it changes nothing in the store).
    """

    id: str
    score: float
    metadata: dict[str, Any] = field(default_factory=dict)






@runtime_checkable
class VectorStore(Protocol):
    """What every vector store offers (FAISS in-process, Qdrant embedded or by URL).

    ``where`` is an exact-match metadata filter: ``{"source": "book", "month": 8}`` keeps the rows whose
    metadata has every one of those keys with that value.
    """

    dim: int

    def add(self, ids: list[str], vectors: np.ndarray, metadata: list[dict] | None = None) -> None:
        """Add rows; ``vectors`` has shape ``(len(ids), dim)``. Ids are unique strings."""
        ...

    def search(self, query: np.ndarray, k: int = 10, where: dict | None = None) -> list[Hit]:
        """The ``k`` rows most similar to ``query`` (shape ``(dim,)``), best first."""
        ...

    def search_batch(self, queries: np.ndarray, k: int = 10, where: dict | None = None) -> list[list[Hit]]:
        """:meth:`search` for each row of ``queries`` (shape ``(n, dim)``)."""
        ...

    def __len__(self) -> int: ...

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the store to one file, atomically."""
        ...

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> VectorStore:
        """Read a store written by :meth:`save`."""
        ...



@runtime_checkable
class Retriever(Protocol):
    """Text in, ranked hits out: what BM25, dense and hybrid retrieval share."""

    def index(self, ids: Sequence[str], texts: Sequence[str],
              metadata: Sequence[dict] | None = None) -> Retriever:
        """Build the index over a corpus (replacing any previous one); returns ``self``."""
        ...

    def search(self, query: str, k: int = 10, where: dict | None = None) -> list[Hit]:
        """The ``k`` best documents for ``query``, best first."""
        ...

    def search_batch(self, queries: Sequence[str], k: int = 10) -> list[list[Hit]]:
        """:meth:`search` for many queries (batched where the retriever can, e.g. one embedding pass)."""
        ...

    def __len__(self) -> int: ...

    def save(self, path: str | os.PathLike[str]) -> None: ...


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    k = min(k, scores.shape[0])
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.lexsort((part, -scores[part]))]


def read_npz(path: str | os.PathLike[str], fmt: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read a store or index saved as ``.npz`` with a JSON header, checking its format tag ``fmt``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: save a store there first")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        header = json.loads(arrays.pop("header").tobytes().decode("utf-8"))
    except (ValueError, KeyError, OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is not a saved aieng index ({type(exc).__name__}: {exc})") from None
    if header.get("format") != fmt:
        raise ValueError(f"{path} holds {header.get('format')!r}, not {fmt!r}")
    return header, arrays
