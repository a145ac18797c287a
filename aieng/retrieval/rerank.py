"""Re-ranking: a small learned model re-orders the hybrid retriever's candidates.

Taught in Month 8 (chapters/08-embeddings-and-rag).

No cross-encoder ships with the book, so the re-ranker here learns from cheap signals that the first
stage already has for every candidate: the BM25 score and the dense cosine (raw and z-normalised within
the query's candidates), the rank each retriever gave it, and how much of the query's IDF weight the
document and its title contain. A logistic regression (scikit-learn) learns how to weigh them from
*train* queries with relevance judgements; the test queries are never seen while fitting.

>>> reranker = LearnedReranker(hybrid, texts, titles).fit(train_queries, train_qrels)
>>> reranker.search("a claim to check", k=10)       # the candidates, re-ordered
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from aieng.retrieval.base import Hit
from aieng.retrieval.hybrid import HybridRetriever
from aieng.retrieval.validate import check_k, check_query

__all__ = ["FEATURES", "LearnedReranker", "query_coverage"]

FEATURES = ("bm25_z", "dense_z", "bm25", "dense", "bm25_rank", "dense_rank", "coverage", "title_coverage")
"""The feature names, in the order of the columns of :meth:`LearnedReranker.features`."""


def query_coverage(query_terms: Sequence[str], doc_terms: set[str], idf: Mapping[str, float]) -> float:
    """The share of the query's IDF weight whose terms occur in the document (0 to 1).

    >>> query_coverage(["cell", "divid"], {"cell"}, {"cell": 1.0, "divid": 3.0})
    0.25
    """
    total = sum(idf.get(t, 0.0) for t in set(query_terms))
    if total <= 0:
        return 0.0
    return sum(idf.get(t, 0.0) for t in set(query_terms) if t in doc_terms) / total


def _z(x: np.ndarray) -> np.ndarray:
    return (x - x.mean()) / (x.std() + 1e-9)


class LearnedReranker:
    """Re-order a :class:`~aieng.retrieval.HybridRetriever`'s candidates with a learned linear score.

    Parameters
    ----------
    hybrid
        An indexed hybrid retriever: its BM25 and dense sides give the candidates and two of the features.
    texts
        Document id to text (for the coverage feature); default: no coverage feature (zeros).
    titles
        Document id to title (for the title-coverage feature); default: zeros.
    candidates
        How many hits each retriever contributes; the re-ranker orders their union.
    C
        Inverse regularisation strength of the logistic regression.
    """

    def __init__(self, hybrid: HybridRetriever, texts: Mapping[str, str] | None = None,
                 titles: Mapping[str, str] | None = None, *, candidates: int = 100, C: float = 1.0) -> None:
        if not isinstance(hybrid, HybridRetriever):
            raise TypeError(f"need a HybridRetriever, got {type(hybrid).__name__}")
        self.hybrid, self.candidates, self.C = hybrid, check_k(candidates), float(C)
        bm25 = hybrid.bm25
        self._idf = {t: float(bm25.idf[j]) for t, j in bm25.vocab.items()}
        self._terms = {i: set(bm25.tokenize(t)) for i, t in (texts or {}).items()}
        self._title_terms = {i: set(bm25.tokenize(t)) for i, t in (titles or {}).items()}
        self.model: Any = None

    def __repr__(self) -> str:
        state = "fitted" if self.model is not None else "not fitted"
        return f"LearnedReranker(candidates={self.candidates}, C={self.C}, {state})"

    def features(self, query: str, q_vec: np.ndarray | None = None) -> tuple[list[str], np.ndarray]:
        """The candidate ids of ``query`` and their feature matrix, one row each (columns: :data:`FEATURES`)."""
        check_query(query)
        h = self.hybrid
        q_vec = h.dense.embed_query(query) if q_vec is None else np.asarray(q_vec, dtype=np.float32)
        full = h.bm25.scores(query)
        lexical = h.bm25.hits_from_scores(full, self.candidates)
        semantic = h.dense.store.search(q_vec, self.candidates)
        ids = list(dict.fromkeys([x.id for x in lexical] + [x.id for x in semantic]))
        if not ids:
            return [], np.zeros((0, len(FEATURES)))
        b = h.bm25.score_ids(full, ids).astype(np.float64)
        d = h.dense.similarity(q_vec, ids).astype(np.float64)
        missing = len(ids) + 1
        b_rank = {x.id: r for r, x in enumerate(lexical, 1)}
        d_rank = {x.id: r for r, x in enumerate(semantic, 1)}
        terms = h.bm25.tokenize(query)
        cover = [query_coverage(terms, self._terms.get(i, set()), self._idf) for i in ids]
        title = [query_coverage(terms, self._title_terms.get(i, set()), self._idf) for i in ids]
        X = np.column_stack([_z(b), _z(d), b, d,
                             np.log([b_rank.get(i, missing) for i in ids]),
                             np.log([d_rank.get(i, missing) for i in ids]), cover, title])
        return ids, X

    def fit(self, queries: Sequence[str], qrels: Sequence[Mapping[str, int]],
            vectors: np.ndarray | None = None) -> LearnedReranker:
        """Learn the weights from judged *training* queries (``qrels[i]``: relevant ids of ``queries[i]``)."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        if len(queries) != len(qrels):
            raise ValueError(f"{len(queries)} queries but {len(qrels)} relevance judgements")
        Q = self._vectors(queries, vectors)
        rows, labels = [], []
        for q, rel, v in zip(queries, qrels, Q):
            ids, X = self.features(q, v)
            rows.append(X)
            labels.extend(int(rel.get(i, 0) > 0) for i in ids)
        y = np.array(labels)
        if y.min(initial=1) == y.max(initial=0):
            raise ValueError("the training candidates need both relevant and non-relevant documents")
        self.model = make_pipeline(StandardScaler(), LogisticRegression(C=self.C, max_iter=1000))
        self.model.fit(np.vstack(rows), y)
        return self

    @property
    def weights(self) -> dict[str, float]:
        """The learned weight of each (standardised) feature."""
        if self.model is None:
            raise ValueError("fit the re-ranker first")
        return dict(zip(FEATURES, self.model[-1].coef_[0].tolist()))

    def search(self, query: str, k: int = 10, q_vec: np.ndarray | None = None) -> list[Hit]:
        """The candidates of ``query`` ordered by the learned score, best first."""
        if self.model is None:
            raise ValueError("fit the re-ranker first: reranker.fit(train_queries, train_qrels)")
        k = check_k(k)
        ids, X = self.features(query, q_vec)
        if not ids:
            return []
        s = self.model.decision_function(X)
        order = np.argsort(-s, kind="stable")[:k]
        return [Hit(ids[r], float(s[r])) for r in order]

    def search_batch(self, queries: Sequence[str], k: int = 10, vectors: np.ndarray | None = None) -> list[list[Hit]]:
        """:meth:`search` for many queries, embedded in one batch."""
        Q = self._vectors(queries, vectors)
        return [self.search(q, k, v) for q, v in zip(queries, Q)]

    def _vectors(self, queries: Sequence[str], vectors: np.ndarray | None) -> np.ndarray:
        for q in queries:
            check_query(q)
        dense = self.hybrid.dense
        Q = dense.embedder.encode(list(queries), batch_size=dense.batch_size) if vectors is None else vectors
        if len(Q) != len(queries):
            raise ValueError(f"{len(Q)} query vectors for {len(queries)} queries")
        return np.asarray(Q)
