"""Dense retrieval: an embedder plus a vector store.

Taught in Month 8 (chapters/08-embeddings-and-rag).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from aieng.retrieval.base import Hit, VectorStore
from aieng.retrieval.stores import FaissStore
from aieng.retrieval.validate import (
    check_corpus,
    check_k,
    check_metadata,
    check_query,
)

__all__ = ['DenseRetriever']


class DenseRetriever:
    """An embedder plus a vector store: embed the corpus once, embed each query, nearest neighbours.

    Parameters
    ----------
    embedder
        Anything with ``encode(texts) -> (n, dim)`` unit-length float32 rows, e.g.
        :func:`aieng.retrieval.embed.load_embedder`. Default: the bundled all-MiniLM-L6-v2.
    store
        A :class:`VectorStore`; default an exact :class:`FaissStore`.
    batch_size
        Texts per forward pass while indexing.
    """

    def __init__(self, embedder: Any = None, store: VectorStore | None = None, batch_size: int = 64) -> None:
        if embedder is None:
            from aieng.retrieval.embed import load_embedder

            embedder = load_embedder()
        self.embedder = embedder
        self.dim = int(getattr(embedder, "dim", 0) or embedder.encode(["x"]).shape[1])
        self.store: Any = store if store is not None else FaissStore(self.dim)
        self.batch_size = batch_size
        self.index_seconds = 0.0

    def __len__(self) -> int:
        return len(self.store)

    def __repr__(self) -> str:
        return f"DenseRetriever({getattr(self.embedder, 'name', type(self.embedder).__name__)!r}, {self.store!r})"

    def index(self, ids: Sequence[str], texts: Sequence[str],
              metadata: Sequence[dict] | None = None, *, vectors: np.ndarray | None = None) -> DenseRetriever:
        """Embed ``texts`` (unless ``vectors`` are given) and add them to the store.

        Everything is validated before the (slow) embedding starts.
        """
        ids, texts = check_corpus(ids, texts)
        meta = check_metadata(metadata, len(ids))
        if len(self.store):
            raise ValueError("this retriever already holds an index: make a new one to re-index")
        t0 = time.perf_counter()
        X = self.embedder.encode(texts, batch_size=self.batch_size) if vectors is None else vectors
        self.store.add(ids, X, meta)
        self.index_seconds = time.perf_counter() - t0
        return self

    def embed_query(self, query: str) -> np.ndarray:
        """The query's embedding, shape ``(dim,)``."""
        return self.embedder.encode([check_query(query)])[0]

    def search(self, query: str, k: int = 10, where: dict | None = None) -> list[Hit]:
        """The ``k`` documents whose embeddings are closest (cosine) to the query's."""
        return self.store.search(self.embed_query(query), check_k(k), where)

    def similarity(self, query_vector: np.ndarray, ids: Sequence[str]) -> np.ndarray:
        """Cosine of the query vector with the stored vectors of ``ids`` (any ids, not only the top k)."""
        q = np.asarray(query_vector, dtype=np.float32)
        return self.store.get_vectors(ids) @ (q / np.linalg.norm(q))

    def search_batch(self, queries: Sequence[str], k: int = 10) -> list[list[Hit]]:
        """:meth:`search` for many queries, embedded in batches (fast for evaluation)."""
        k = check_k(k)
        for q in queries:
            check_query(q)
        Q = self.embedder.encode(list(queries), batch_size=self.batch_size)
        return self.store.search_batch(Q, k)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Save the vector store (the embedder is not saved: pass the same one to :meth:`load`)."""
        self.store.save(path)

    @classmethod
    def load(cls, path: str | os.PathLike[str], embedder: Any = None, store_cls: type = FaissStore) -> DenseRetriever:
        """Re-open a saved retriever; ``embedder`` must be the model that built it."""
        store = store_cls.load(path)
        r = cls(embedder, store=store)
        if r.dim != store.dim:
            raise ValueError(f"the embedder gives {r.dim}-d vectors but {path} holds {store.dim}-d ones")
        return r
