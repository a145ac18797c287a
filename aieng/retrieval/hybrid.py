"""Hybrid retrieval: BM25 and dense results fused (reciprocal-rank or z-score fusion).

Taught in Month 8 (chapters/08-embeddings-and-rag).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from aieng.atomic import atomic_path
from aieng.retrieval.base import Hit
from aieng.retrieval.bm25 import BM25Retriever
from aieng.retrieval.dense import DenseRetriever
from aieng.retrieval.stores import FaissStore, QdrantStore
from aieng.retrieval.validate import (
    check_corpus,
    check_k,
    check_metadata,
    check_query,
)

__all__ = ['rrf_fuse', 'zscore_fuse', 'HybridRetriever']


def rrf_fuse(rankings: Sequence[Sequence[Hit]], k: int = 10, c: float = 60.0,
             weights: Sequence[float] | None = None) -> list[Hit]:
    """Reciprocal-rank fusion: ``score(d) = sum_r w_r / (c + rank_r(d))`` with ranks starting at 1.

    Only ranks matter, so a BM25 score of 25 and a cosine of 0.6 never have to be put on one scale.
    Ties keep the order of first appearance.
    """
    k = check_k(k)
    weights = [1.0] * len(rankings) if weights is None else list(weights)
    if len(weights) != len(rankings):
        raise ValueError(f"{len(weights)} weights for {len(rankings)} rankings")
    fused: dict[str, float] = {}
    meta: dict[str, dict[str, Any]] = {}
    for w, ranking in zip(weights, rankings):
        for rank, hit in enumerate(ranking, 1):
            fused[hit.id] = fused.get(hit.id, 0.0) + w / (c + rank)
            meta.setdefault(hit.id, hit.metadata)
    order = sorted(fused, key=lambda i: -fused[i])[:k]
    return [Hit(i, fused[i], dict(meta[i])) for i in order]


def zscore_fuse(lexical: Mapping[str, float], semantic: Mapping[str, float], k: int = 10,
                alpha: float = 0.5) -> list[Hit]:
    """Score fusion: z-normalise each retriever's scores over the candidates, then ``alpha * bm25 + (1 - alpha) * dense``.

    ``lexical`` and ``semantic`` map the *same* candidate ids to each retriever's raw score. A z-score puts a
    BM25 score of 25 and a cosine of 0.6 on one scale (how far above this query's typical candidate they are).
    """
    k = check_k(k)
    if set(lexical) != set(semantic):
        raise ValueError("both score maps must cover the same candidate ids")
    if not lexical:
        return []
    ids = list(lexical)
    b = np.array([lexical[i] for i in ids], dtype=np.float64)
    d = np.array([semantic[i] for i in ids], dtype=np.float64)
    fused = alpha * (b - b.mean()) / (b.std() + 1e-9) + (1 - alpha) * (d - d.mean()) / (d.std() + 1e-9)
    order = np.argsort(-fused, kind="stable")[:k]
    return [Hit(ids[r], float(fused[r])) for r in order]


class HybridRetriever:
    """BM25 and dense retrieval fused: lexical precision plus semantic recall.

    Parameters
    ----------
    bm25, dense
        The two retrievers (built here from ``embedder`` if not given).
    fusion
        ``"zscore"`` (default): every candidate from either retriever is scored by *both* (BM25 from its
        sparse matrix, dense from the stored vectors), each score list is z-normalised, and the two are mixed
        with weight ``alpha``. ``"rrf"``: reciprocal-rank fusion of the two top lists (ranks only, no tuning).
    alpha
        Weight of BM25 in z-score fusion. 0.5 was chosen on SciFact's *train* queries
        (Month 8, notebook 3); the test queries were never used to tune it.
    candidates
        How many hits each retriever contributes before fusion.
    c, weights
        RRF constant (60 in Cormack et al., 2009) and the weights of the (BM25, dense) rankings.
    """

    def __init__(self, bm25: BM25Retriever | None = None, dense: DenseRetriever | None = None, *,
                 embedder: Any = None, fusion: str = "zscore", alpha: float = 0.5, candidates: int = 100,
                 c: float = 60.0, weights: tuple[float, float] = (1.0, 1.0)) -> None:
        if fusion not in {"zscore", "rrf"}:
            raise ValueError(f"fusion must be 'zscore' or 'rrf', got {fusion!r}")
        if not 0 <= alpha <= 1:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        self.bm25 = bm25 if bm25 is not None else BM25Retriever()
        self.dense = dense if dense is not None else DenseRetriever(embedder)
        self.fusion, self.alpha = fusion, float(alpha)
        self.candidates, self.c, self.weights = candidates, c, tuple(weights)

    def __len__(self) -> int:
        return len(self.bm25)

    def __repr__(self) -> str:
        how = f"alpha={self.alpha}" if self.fusion == "zscore" else f"c={self.c}, weights={self.weights}"
        return f"HybridRetriever({self.bm25!r}, {self.dense!r}, fusion={self.fusion!r}, {how})"

    def index(self, ids: Sequence[str], texts: Sequence[str], metadata: Sequence[dict] | None = None,
              *, vectors: np.ndarray | None = None) -> HybridRetriever:
        """Index the corpus in both retrievers."""
        ids, texts = check_corpus(ids, texts)
        check_metadata(metadata, len(ids))
        self.bm25.index(ids, texts, metadata)
        self.dense.index(ids, texts, metadata, vectors=vectors)
        return self

    def _search_vector(self, query: str, q_vec: np.ndarray, k: int, where: dict | None) -> list[Hit]:
        n = max(k, self.candidates)
        full = self.bm25.scores(query)
        lexical = self.bm25.hits_from_scores(full, n, where)
        semantic = self.dense.store.search(q_vec, n, where)
        if self.fusion == "rrf":
            return rrf_fuse([lexical, semantic], k=k, c=self.c, weights=self.weights)
        meta = {h.id: h.metadata for h in semantic}
        meta.update({h.id: h.metadata for h in lexical})
        ids = list(meta)
        b = dict(zip(ids, self.bm25.score_ids(full, ids).tolist()))
        d = {h.id: h.score for h in semantic}
        missing = [i for i in ids if i not in d]
        if missing:
            d.update(zip(missing, self.dense.similarity(q_vec, missing).tolist()))
        return [Hit(h.id, h.score, dict(meta[h.id])) for h in zscore_fuse(b, d, k, self.alpha)]

    def search(self, query: str, k: int = 10, where: dict | None = None) -> list[Hit]:
        """Both retrievers' top ``candidates``, fused; the query is embedded once."""
        k = check_k(k)
        return self._search_vector(query, self.dense.embed_query(query), k, where)

    def search_batch(self, queries: Sequence[str], k: int = 10, vectors: np.ndarray | None = None) -> list[list[Hit]]:
        """:meth:`search` for many queries (the dense side embedded in batches).

        ``vectors``: the queries' embeddings, when you already have them (e.g. while tuning ``alpha``).
        """
        k = check_k(k)
        for q in queries:
            check_query(q)
        Q = self.dense.embedder.encode(list(queries), batch_size=self.dense.batch_size) if vectors is None else vectors
        if len(Q) != len(queries):
            raise ValueError(f"{len(Q)} query vectors for {len(queries)} queries")
        return [self._search_vector(q, v, k, None) for q, v in zip(queries, Q)]

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write ``bm25.npz``, ``dense.npz`` and ``hybrid.json`` into one folder, atomically."""
        with atomic_path(path, folder=True) as tmp:
            self.bm25.save(tmp / "bm25.npz")
            self.dense.save(tmp / "dense.npz")
            (tmp / "hybrid.json").write_text(json.dumps(
                {"format": "aieng.HybridRetriever/1", "fusion": self.fusion, "alpha": self.alpha,
                 "candidates": self.candidates, "c": self.c, "weights": list(self.weights),
                 "store": type(self.dense.store).__name__}))

    @classmethod
    def load(cls, path: str | os.PathLike[str], embedder: Any = None) -> HybridRetriever:
        """Re-open a folder written by :meth:`save`."""
        path = Path(path)
        if not (path / "hybrid.json").is_file():
            raise FileNotFoundError(f"{path} is not a saved HybridRetriever (no hybrid.json)")
        cfg = json.loads((path / "hybrid.json").read_text())
        store_cls = QdrantStore if cfg.get("store") == "QdrantStore" else FaissStore
        return cls(BM25Retriever.load(path / "bm25.npz"),
                   DenseRetriever.load(path / "dense.npz", embedder, store_cls=store_cls),
                   fusion=cfg["fusion"], alpha=cfg["alpha"], candidates=cfg["candidates"], c=cfg["c"],
                   weights=tuple(cfg["weights"]))
