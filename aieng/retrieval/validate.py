"""Validation shared by the stores and retrievers: bad input fails early, with a message saying what was wrong.

Used by every store and retriever of Month 8 (chapters/08-embeddings-and-rag). An empty query, an empty corpus, a document with no
text, duplicate ids or vectors of the wrong shape raise ``ValueError`` before any slow work starts.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["check_ids", "check_metadata", "as_matrix", "normalise", "matches", "check_k", "check_corpus",
           "check_query"]


def check_ids(ids: Sequence[str], n: int, existing: Mapping[str, int] | None = None) -> list[str]:
    ids = [str(i) if isinstance(i, str) else i for i in ids] if not isinstance(ids, str) else [ids]
    if len(ids) != n:
        raise ValueError(f"got {len(ids)} ids for {n} vectors/documents: pass one id per row")
    for i in ids:
        if not isinstance(i, str) or not i:
            raise ValueError(f"ids must be non-empty strings, got {i!r}")
    if len(set(ids)) != len(ids):
        dup = next(i for i, c in Counter(ids).items() if c > 1)
        raise ValueError(f"duplicate id {dup!r} in this batch")
    if existing:
        clash = next((i for i in ids if i in existing), None)
        if clash is not None:
            raise ValueError(f"id {clash!r} is already in the store (ids are unique; delete it first)")
    return ids


def check_metadata(metadata: Sequence[dict[str, Any]] | None, n: int) -> list[dict[str, Any]]:
    if metadata is None:
        return [{} for _ in range(n)]
    metadata = list(metadata)
    if len(metadata) != n:
        raise ValueError(f"got {len(metadata)} metadata dicts for {n} rows")
    out = []
    for i, m in enumerate(metadata):
        if m is None:
            m = {}
        if not isinstance(m, dict):
            raise ValueError(f"metadata[{i}] must be a dict, got {type(m).__name__}")
        try:
            json.dumps(m)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"metadata[{i}] must be JSON-serialisable (it is saved to disk): {exc}") from None
        out.append(dict(m))
    return out


def as_matrix(vectors: Any, dim: int, what: str = "vectors") -> np.ndarray:
    X = np.asarray(vectors, dtype=np.float32)
    if X.ndim == 1:
        X = X[None, :]
    if X.ndim != 2 or X.shape[1] != dim:
        raise ValueError(f"{what} must have shape (n, {dim}), got {np.shape(vectors)}")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{what} contain NaN or infinite values")
    return np.ascontiguousarray(X)


def normalise(X: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError("a zero vector has no direction: it cannot be normalised for cosine search")
    return np.ascontiguousarray(X / norms, dtype=np.float32)


def matches(meta: Mapping[str, Any], where: Mapping[str, Any] | None) -> bool:
    return not where or all(k in meta and meta[k] == v for k, v in where.items())


def check_k(k: int) -> int:
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return int(k)



def check_corpus(ids: Sequence[str], texts: Sequence[str]) -> tuple[list[str], list[str]]:
    texts = list(texts)
    if not texts:
        raise ValueError("the corpus is empty: index at least one document")
    ids = check_ids(ids, len(texts))
    for i, t in zip(ids, texts):
        if not isinstance(t, str):
            raise ValueError(f"document {i!r} is {type(t).__name__}, not text")
        if not t.strip():
            raise ValueError(f"document {i!r} has no text: drop it or give it a title")
    return ids, texts


def check_query(query: str) -> str:
    if not isinstance(query, str):
        raise ValueError(f"a query is a string, got {type(query).__name__}")
    if not query.strip():
        raise ValueError("the query is empty: ask something")
    return query
