"""Lexical retrieval: a tokeniser and Okapi BM25 from scratch (checked against ``bm25s`` in the chapter).

Taught in Month 8 (chapters/08-embeddings-and-rag).
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from aieng.atomic import atomic_path
from aieng.retrieval.base import Hit, read_npz, top_k
from aieng.retrieval.validate import (
    check_corpus,
    check_k,
    check_metadata,
    check_query,
    matches,
)

__all__ = ['STOPWORDS', 'tokenize', 'BM25Retriever']


STOPWORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then there "
    "these they this to was will with".split())
"""The short English stop list Lucene and Elasticsearch use by default (33 words)."""

_TOKEN = re.compile(r"(?u)\b\w\w+\b")
_STEMMERS: dict[str, Any] = {}


def tokenize(text: str, *, stem: bool = True, stopwords: frozenset[str] | set[str] = STOPWORDS) -> list[str]:
    """Lower-case words of two or more characters, stop words removed, Snowball-stemmed.

    >>> tokenize("The cells were dividing rapidly")
    ['cell', 'were', 'divid', 'rapid']
    """
    words = [w for w in _TOKEN.findall(text.lower()) if w not in stopwords]
    if stem and words:
        if "english" not in _STEMMERS:
            import Stemmer

            _STEMMERS["english"] = Stemmer.Stemmer("english")
        words = _STEMMERS["english"].stemWords(words)
    return words


class BM25Retriever:
    """Okapi BM25 (Lucene's variant), from scratch on a sparse matrix.

    The score of document ``d`` for query terms ``q_1 .. q_n`` is

    ``sum_i idf(q_i) * tf(q_i, d) / (tf(q_i, d) + k1 * (1 - b + b * |d| / avgdl))``

    with ``idf(t) = log(1 + (N - df(t) + 0.5) / (df(t) + 0.5))``. The weight of every (document, term) pair
    is computed once at indexing time, so a query is a sum of a few sparse columns.

    Parameters
    ----------
    k1, b
        Term-frequency saturation and length normalisation (1.5 and 0.75, the ``bm25s`` defaults).
    stem
        Snowball-stem tokens (``PyStemmer``).
    """

    def __init__(self, k1: float = 1.5, b: float = 0.75, stem: bool = True) -> None:
        if k1 < 0 or not 0 <= b <= 1:
            raise ValueError(f"need k1 >= 0 and 0 <= b <= 1, got k1={k1}, b={b}")
        self.k1, self.b, self.stem = float(k1), float(b), stem
        self.ids: list[str] = []
        self.metadata: list[dict[str, Any]] = []
        self.vocab: dict[str, int] = {}
        self.idf = np.zeros(0, dtype=np.float32)
        self.weights: Any = None  # scipy.sparse CSC matrix, docs x terms

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        return f"BM25Retriever(k1={self.k1}, b={self.b}, docs={len(self)}, terms={len(self.vocab)})"

    def tokenize(self, text: str) -> list[str]:
        """The tokens this retriever indexes and searches with."""
        return tokenize(text, stem=self.stem)

    def index(self, ids: Sequence[str], texts: Sequence[str],
              metadata: Sequence[dict] | None = None, *, tokens: Sequence[list[str]] | None = None) -> BM25Retriever:
        """Index ``texts`` (or pre-tokenised ``tokens``) under ``ids``."""
        from scipy import sparse

        ids, texts = check_corpus(ids, texts)
        meta = check_metadata(metadata, len(ids))
        docs = [self.tokenize(t) for t in texts] if tokens is None else [list(t) for t in tokens]
        vocab: dict[str, int] = {}
        rows, cols, tfs = [], [], []
        lengths = np.zeros(len(docs), dtype=np.float32)
        for r, toks in enumerate(docs):
            lengths[r] = len(toks)
            for term, tf in Counter(toks).items():
                rows.append(r)
                cols.append(vocab.setdefault(term, len(vocab)))
                tfs.append(tf)
        n_docs = len(docs)
        rows_a, cols_a = np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64)
        tf_a = np.array(tfs, dtype=np.float32)
        df = np.bincount(cols_a, minlength=len(vocab)).astype(np.float32)
        idf = np.log1p((n_docs - df + 0.5) / (df + 0.5)).astype(np.float32)
        avgdl = float(lengths.mean()) if n_docs else 0.0
        avgdl = avgdl if avgdl > 0 else 1.0
        norm = self.k1 * (1 - self.b + self.b * lengths[rows_a] / avgdl)
        w = idf[cols_a] * tf_a / (tf_a + norm)
        self.weights = sparse.csc_matrix((w, (rows_a, cols_a)), shape=(n_docs, len(vocab)), dtype=np.float32)
        self.vocab, self.idf, self.ids, self.metadata = vocab, idf, ids, meta
        self._row = {i: r for r, i in enumerate(ids)}
        return self

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every document for ``query`` (shape ``(len(self),)``); repeated terms count twice."""
        check_query(query)
        self._ready()
        cols = [self.vocab[t] for t in self.tokenize(query) if t in self.vocab]
        if not cols:
            return np.zeros(len(self), dtype=np.float32)
        counts = Counter(cols)
        sub = self.weights[:, list(counts)]
        return np.asarray(sub @ np.array(list(counts.values()), dtype=np.float32)).ravel()

    def _ready(self) -> None:
        if self.weights is None:
            raise ValueError("index a corpus first: retriever.index(ids, texts)")

    def search(self, query: str, k: int = 10, where: dict | None = None) -> list[Hit]:
        """The ``k`` highest-scoring documents that contain at least one query term."""
        return self.hits_from_scores(self.scores(query), check_k(k), where)

    def search_batch(self, queries: Sequence[str], k: int = 10) -> list[list[Hit]]:
        """:meth:`search` for each query (BM25 scores each query on its own)."""
        return [self.search(q, k) for q in queries]

    def hits_from_scores(self, s: np.ndarray, k: int, where: dict | None = None) -> list[Hit]:
        """The top ``k`` hits of a full score vector (from :meth:`scores`), zero scores dropped."""
        if where:
            s = np.where([matches(m, where) for m in self.metadata], s, 0.0)
        order = top_k(s, k)
        return [Hit(self.ids[r], float(s[r]), dict(self.metadata[r])) for r in order if s[r] > 0]

    def score_ids(self, s: np.ndarray, ids: Sequence[str]) -> np.ndarray:
        """Entries of a full score vector for the given document ids."""
        return s[[self._row[i] for i in ids]]

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the index to one ``.npz`` file, atomically."""
        self._ready()
        W = self.weights.tocsc()
        terms = [None] * len(self.vocab)
        for t, c in self.vocab.items():
            terms[c] = t
        header = {"format": "aieng.BM25Retriever/1", "k1": self.k1, "b": self.b, "stem": self.stem,
                  "ids": self.ids, "metadata": self.metadata, "terms": terms, "shape": list(W.shape)}
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, header=np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8),
                     data=W.data, indices=W.indices, indptr=W.indptr, idf=self.idf)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> BM25Retriever:
        """Read an index written by :meth:`save`."""
        from scipy import sparse

        header, a = read_npz(path, "aieng.BM25Retriever/1")
        r = cls(header["k1"], header["b"], header["stem"])
        r.weights = sparse.csc_matrix((a["data"], a["indices"], a["indptr"]), shape=tuple(header["shape"]))
        r.vocab = {t: c for c, t in enumerate(header["terms"])}
        r.idf, r.ids, r.metadata = a["idf"], list(header["ids"]), list(header["metadata"])
        r._row = {i: n for n, i in enumerate(r.ids)}
        return r
