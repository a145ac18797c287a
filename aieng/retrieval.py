"""Retrieval: vector stores (FAISS, Qdrant) and BM25, dense and hybrid retrievers behind one interface.

Taught in Month 8 (chapters/08-embeddings-and-rag); the core of the RAG platform lab, and the long-term
memory of the Month 9 agent.

>>> from aieng.retrieval import FaissStore
>>> store = FaissStore(dim=384)
>>> store.add(["a", "b"], X, metadata=[{"lang": "en"}, {"lang": "fr"}])   # X: (2, 384) float32
>>> store.search(q, k=1, where={"lang": "en"})                           # [Hit(id='a', score=..., ...)]
>>> store.save("memory.npz"); store = FaissStore.load("memory.npz")

Two layers:

- **Vector stores** (:class:`VectorStore`): ids, vectors and metadata in, :class:`Hit` lists out. Scores are
  inner products of L2-normalised vectors, i.e. cosine similarities. :class:`FaissStore` runs in-process;
  :class:`QdrantStore` uses ``qdrant-client``, embedded (in memory or on disk) or against a server by URL.
- **Retrievers** (:class:`Retriever`): text in, hits out. :class:`BM25Retriever` (lexical, from scratch),
  :class:`DenseRetriever` (an embedder plus a vector store) and :class:`HybridRetriever` (reciprocal-rank fusion).

Every ``save`` writes to a temporary file or folder beside the target and renames it into place, so a failure
never leaves a half-written index on disk. Bad input (an empty query, an empty corpus, a document with no
text, vectors of the wrong shape) raises ``ValueError`` with a message saying what was wrong.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = [
    "Hit",
    "VectorStore",
    "FaissStore",
    "QdrantStore",
    "Retriever",
    "BM25Retriever",
    "DenseRetriever",
    "HybridRetriever",
    "tokenize",
    "rrf_fuse",
    "zscore_fuse",
    "evaluate",
    "embed_cached",
    "run_from_hits",
    "STOPWORDS",
]

# ----------------------------------------------------------------------------- shared pieces


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


@contextlib.contextmanager
def _atomic_path(target: str | os.PathLike[str], *, folder: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success rename it onto ``target``, on failure delete it."""
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


def _check_ids(ids: Sequence[str], n: int, existing: Mapping[str, int] | None = None) -> list[str]:
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


def _check_metadata(metadata: Sequence[dict[str, Any]] | None, n: int) -> list[dict[str, Any]]:
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


def _as_matrix(vectors: Any, dim: int, what: str = "vectors") -> np.ndarray:
    X = np.asarray(vectors, dtype=np.float32)
    if X.ndim == 1:
        X = X[None, :]
    if X.ndim != 2 or X.shape[1] != dim:
        raise ValueError(f"{what} must have shape (n, {dim}), got {np.shape(vectors)}")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{what} contain NaN or infinite values")
    return np.ascontiguousarray(X)


def _normalise(X: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError("a zero vector has no direction: it cannot be normalised for cosine search")
    return np.ascontiguousarray(X / norms, dtype=np.float32)


def _matches(meta: Mapping[str, Any], where: Mapping[str, Any] | None) -> bool:
    return not where or all(k in meta and meta[k] == v for k, v in where.items())


def _check_k(k: int) -> int:
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return int(k)


# ----------------------------------------------------------------------------- vector stores


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

    def __len__(self) -> int: ...

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the store to one file, atomically."""
        ...

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> VectorStore:
        """Read a store written by :meth:`save`."""
        ...


class FaissStore:
    """A FAISS index plus ids and metadata: cosine similarity (inner product of normalised vectors).

    Parameters
    ----------
    dim
        Vector dimension.
    index
        ``"flat"`` (exact, the default), ``"hnsw"`` (approximate graph index, faster on large stores) or
        ``"ivf"`` (approximate, clusters; trained on the first vectors added, needs at least ``nlist`` of them).
    normalize
        L2-normalise vectors and queries, so scores are cosines. Embeddings from
        :func:`aieng.embed.load_embedder` are already unit length; normalising again changes nothing.
    hnsw_m, ef_search, nlist, nprobe
        Settings of the approximate indexes (Month 8, notebook 2, explains them).

    Notes
    -----
    A metadata filter is applied *before* the search (FAISS's ``IDSelector``), so ``k`` hits come back
    whenever ``k`` rows match.
    """

    def __init__(self, dim: int, index: str = "flat", *, normalize: bool = True, hnsw_m: int = 32,
                 ef_search: int = 64, nlist: int = 100, nprobe: int = 10) -> None:
        if not isinstance(dim, (int, np.integer)) or dim < 1:
            raise ValueError(f"dim must be a positive integer, got {dim!r}")
        if index not in {"flat", "hnsw", "ivf"}:
            raise ValueError(f"index must be 'flat', 'hnsw' or 'ivf', got {index!r}")
        self.dim = int(dim)
        self.kind = index
        self.normalize = normalize
        self.settings = {"hnsw_m": hnsw_m, "ef_search": ef_search, "nlist": nlist, "nprobe": nprobe}
        self.ids: list[str] = []
        self.metadata: list[dict[str, Any]] = []
        self._row: dict[str, int] = {}
        self.index = self._new_index()

    def _new_index(self) -> Any:
        import faiss

        s = self.settings
        if self.kind == "flat":
            return faiss.IndexFlatIP(self.dim)
        if self.kind == "hnsw":
            idx = faiss.IndexHNSWFlat(self.dim, s["hnsw_m"], faiss.METRIC_INNER_PRODUCT)
            idx.hnsw.efSearch = s["ef_search"]
            return idx
        quantizer = faiss.IndexFlatIP(self.dim)
        idx = faiss.IndexIVFFlat(quantizer, self.dim, s["nlist"], faiss.METRIC_INNER_PRODUCT)
        idx.nprobe = s["nprobe"]
        self._quantizer = quantizer  # keep it alive
        return idx

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        return f"FaissStore(dim={self.dim}, index={self.kind!r}, n={len(self)})"

    def add(self, ids: list[str], vectors: np.ndarray, metadata: list[dict] | None = None) -> None:
        """Add ``len(ids)`` rows. Everything is validated before anything is added."""
        X = _as_matrix(vectors, self.dim)
        ids = _check_ids(ids, X.shape[0], self._row)
        meta = _check_metadata(metadata, X.shape[0])
        if X.shape[0] == 0:
            return
        if self.normalize:
            X = _normalise(X)
        if not self.index.is_trained:
            if X.shape[0] < self.settings["nlist"]:
                raise ValueError(f"an IVF store trains on its first batch: add at least nlist="
                                 f"{self.settings['nlist']} vectors at once (got {X.shape[0]})")
            self.index.train(X)
        self.index.add(X)
        for i, m in zip(ids, meta):
            self._row[i] = len(self.ids)
            self.ids.append(i)
            self.metadata.append(m)

    def search(self, query: np.ndarray, k: int = 10, where: dict | None = None) -> list[Hit]:
        """The ``k`` most similar rows to one query vector, best first (fewer if fewer rows match)."""
        return self.search_batch(np.asarray(query, dtype=np.float32).reshape(1, -1), k, where)[0]

    def search_batch(self, queries: np.ndarray, k: int = 10, where: dict | None = None) -> list[list[Hit]]:
        """:meth:`search` for each row of ``queries`` (shape ``(n, dim)``), in one FAISS call."""
        import faiss

        k = _check_k(k)
        Q = _as_matrix(queries, self.dim, "queries")
        if self.normalize:
            Q = _normalise(Q)
        if len(self) == 0:
            return [[] for _ in range(len(Q))]
        params = None
        if where:
            rows = np.array([r for r, m in enumerate(self.metadata) if _matches(m, where)], dtype=np.int64)
            if rows.size == 0:
                return [[] for _ in range(len(Q))]
            selector = faiss.IDSelectorBatch(rows)
            params = {"flat": faiss.SearchParameters, "hnsw": faiss.SearchParametersHNSW,
                      "ivf": faiss.SearchParametersIVF}[self.kind](sel=selector)
            if self.kind == "hnsw":
                params.efSearch = max(self.settings["ef_search"], k)
            elif self.kind == "ivf":
                params.nprobe = self.settings["nprobe"]
        elif self.kind == "hnsw":
            self.index.hnsw.efSearch = max(self.settings["ef_search"], k)
        D, I = self.index.search(Q, min(k, len(self)), params=params)
        return [[Hit(self.ids[r], float(d), dict(self.metadata[r])) for d, r in zip(drow, irow) if r >= 0]
                for drow, irow in zip(D, I)]

    def vectors(self) -> np.ndarray:
        """All stored vectors, in insertion order (as stored: normalised if ``normalize``)."""
        if len(self) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.index.reconstruct_n(0, len(self)) if self.kind != "ivf" else self._ivf_vectors()

    def _ivf_vectors(self) -> np.ndarray:
        self.index.make_direct_map()
        return self.index.reconstruct_n(0, len(self))

    def get_vectors(self, ids: Sequence[str]) -> np.ndarray:
        """The stored vectors of ``ids`` (shape ``(len(ids), dim)``); an unknown id is a ``KeyError``."""
        rows = np.array([self._row[i] for i in ids], dtype=np.int64)
        if rows.size == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.kind == "ivf":
            self.index.make_direct_map()
        return self.index.reconstruct_batch(rows)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the index, ids and metadata to one ``.npz`` file, atomically."""
        import faiss

        header = {"format": "aieng.FaissStore/1", "dim": self.dim, "index": self.kind,
                  "normalize": self.normalize, "settings": self.settings, "ids": self.ids, "metadata": self.metadata}
        blob = faiss.serialize_index(self.index)
        with _atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, header=np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8), index=blob)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> FaissStore:
        """Read a store written by :meth:`save`."""
        import faiss

        header, arrays = _read_npz(path, "aieng.FaissStore/1")
        store = cls(header["dim"], header["index"], normalize=header["normalize"], **header["settings"])
        store.index = faiss.deserialize_index(arrays["index"])
        store.ids = list(header["ids"])
        store.metadata = list(header["metadata"])
        store._row = {i: r for r, i in enumerate(store.ids)}
        if store.index.ntotal != len(store.ids):
            raise ValueError(f"{path}: the index holds {store.index.ntotal} vectors but {len(store.ids)} ids")
        return store


def _read_npz(path: str | os.PathLike[str], fmt: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
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


class QdrantStore:
    """The same interface on Qdrant through ``qdrant-client``.

    Parameters
    ----------
    dim
        Vector dimension.
    location
        ``":memory:"`` (default: embedded, in this process), a folder path (embedded, persisted by Qdrant
        itself), or a server URL such as ``"http://localhost:6333"`` (a Qdrant server or cluster). The
        code that adds and searches is the same in all three.
    collection
        Collection name.
    api_key
        For Qdrant Cloud or a secured server.

    Notes
    -----
    Qdrant point ids must be integers or UUIDs, so a string id is mapped to a UUID5 and kept in the payload
    under ``"_id"``. Metadata filters become Qdrant ``must`` conditions with exact matches.
    """

    _ID_KEY = "_id"
    _NAMESPACE = uuid.UUID("6f1d7f52-6a8c-4b43-9d0e-8a1b2f0c0a08")

    def __init__(self, dim: int, location: str | os.PathLike[str] = ":memory:", collection: str = "aieng",
                 api_key: str | None = None) -> None:
        from qdrant_client import QdrantClient, models

        if not isinstance(dim, (int, np.integer)) or dim < 1:
            raise ValueError(f"dim must be a positive integer, got {dim!r}")
        self.dim = int(dim)
        self.collection = collection
        location = str(location)
        self.location = location
        if location == ":memory:":
            self.client = QdrantClient(":memory:")
        elif location.startswith(("http://", "https://")):
            self.client = QdrantClient(url=location, api_key=api_key)
        else:
            self.client = QdrantClient(path=location)
        if not self.client.collection_exists(collection):
            self.client.create_collection(
                collection, vectors_config=models.VectorParams(size=self.dim, distance=models.Distance.COSINE))
        self._ids: set[str] = set()
        self._sync_ids()

    def _sync_ids(self) -> None:
        offset = None
        while True:
            points, offset = self.client.scroll(self.collection, limit=1000, offset=offset, with_payload=True)
            self._ids.update(str(p.payload[self._ID_KEY]) for p in points)
            if offset is None:
                break

    def _uuid(self, i: str) -> str:
        return str(uuid.uuid5(self._NAMESPACE, i))

    def __len__(self) -> int:
        return len(self._ids)

    def __repr__(self) -> str:
        return f"QdrantStore(dim={self.dim}, location={self.location!r}, n={len(self)})"

    def add(self, ids: list[str], vectors: np.ndarray, metadata: list[dict] | None = None) -> None:
        """Add rows (validated first); payload = metadata plus the original id."""
        from qdrant_client import models

        X = _as_matrix(vectors, self.dim)
        ids = _check_ids(ids, X.shape[0], {i: 0 for i in self._ids})
        meta = _check_metadata(metadata, X.shape[0])
        if X.shape[0] == 0:
            return
        X = _normalise(X)
        for m in meta:
            if self._ID_KEY in m:
                raise ValueError(f"metadata key {self._ID_KEY!r} is reserved by QdrantStore")
        for start in range(0, len(ids), 512):
            points = [models.PointStruct(id=self._uuid(i), vector=x.tolist(), payload={**m, self._ID_KEY: i})
                      for i, x, m in zip(ids[start:start + 512], X[start:start + 512], meta[start:start + 512])]
            self.client.upsert(self.collection, points=points)
        self._ids.update(ids)

    def _filter(self, where: dict | None) -> Any:
        from qdrant_client import models

        if not where:
            return None
        return models.Filter(must=[models.FieldCondition(key=k, match=models.MatchValue(value=v))
                                   for k, v in where.items()])

    def search(self, query: np.ndarray, k: int = 10, where: dict | None = None) -> list[Hit]:
        """The ``k`` most similar points to ``query``, best first, optionally filtered on metadata."""
        k = _check_k(k)
        q = _normalise(_as_matrix(query, self.dim, "query"))[0]
        if len(self) == 0:
            return []
        res = self.client.query_points(self.collection, query=q.tolist(), limit=k,
                                       query_filter=self._filter(where), with_payload=True)
        hits = []
        for p in res.points:
            payload = dict(p.payload or {})
            pid = str(payload.pop(self._ID_KEY))
            hits.append(Hit(pid, float(p.score), payload))
        return hits

    def get_vectors(self, ids: Sequence[str]) -> np.ndarray:
        """The stored (normalised) vectors of ``ids``; an unknown id is a ``KeyError``."""
        missing = [i for i in ids if i not in self._ids]
        if missing:
            raise KeyError(missing[0])
        points = self.client.retrieve(self.collection, ids=[self._uuid(i) for i in ids], with_vectors=True,
                                      with_payload=True)
        by_id = {str(p.payload[self._ID_KEY]): p.vector for p in points}
        return np.asarray([by_id[i] for i in ids], dtype=np.float32).reshape(len(ids), self.dim)

    def _all(self) -> tuple[list[str], np.ndarray, list[dict[str, Any]]]:
        ids, vecs, meta, offset = [], [], [], None
        while True:
            points, offset = self.client.scroll(self.collection, limit=1000, offset=offset,
                                                with_payload=True, with_vectors=True)
            for p in points:
                payload = dict(p.payload or {})
                ids.append(str(payload.pop(self._ID_KEY)))
                vecs.append(p.vector)
                meta.append(payload)
            if offset is None:
                break
        X = np.asarray(vecs, dtype=np.float32).reshape(-1, self.dim)
        return ids, X, meta

    def save(self, path: str | os.PathLike[str]) -> None:
        """Export every point to one ``.npz`` file, atomically (a snapshot you can load anywhere)."""
        ids, X, meta = self._all()
        header = {"format": "aieng.QdrantStore/1", "dim": self.dim, "collection": self.collection,
                  "ids": ids, "metadata": meta}
        with _atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, header=np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8), vectors=X)

    @classmethod
    def load(cls, path: str | os.PathLike[str], location: str = ":memory:") -> QdrantStore:
        """Rebuild a store from a file written by :meth:`save` (into memory, or into ``location``)."""
        header, arrays = _read_npz(path, "aieng.QdrantStore/1")
        store = cls(header["dim"], location, collection=header["collection"])
        if header["ids"]:
            new = [i for i in header["ids"] if i not in store._ids]
            keep = [r for r, i in enumerate(header["ids"]) if i not in store._ids]
            store.add(new, arrays["vectors"][keep], [header["metadata"][r] for r in keep])
        return store

    def close(self) -> None:
        """Release the client (embedded on-disk stores hold a lock on their folder)."""
        self.client.close()


# ----------------------------------------------------------------------------- text retrievers

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


def _check_corpus(ids: Sequence[str], texts: Sequence[str]) -> tuple[list[str], list[str]]:
    texts = list(texts)
    if not texts:
        raise ValueError("the corpus is empty: index at least one document")
    ids = _check_ids(ids, len(texts))
    for i, t in zip(ids, texts):
        if not isinstance(t, str):
            raise ValueError(f"document {i!r} is {type(t).__name__}, not text")
        if not t.strip():
            raise ValueError(f"document {i!r} has no text: drop it or give it a title")
    return ids, texts


def _check_query(query: str) -> str:
    if not isinstance(query, str):
        raise ValueError(f"a query is a string, got {type(query).__name__}")
    if not query.strip():
        raise ValueError("the query is empty: ask something")
    return query


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

    def __len__(self) -> int: ...

    def save(self, path: str | os.PathLike[str]) -> None: ...


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    k = min(k, scores.shape[0])
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.lexsort((part, -scores[part]))]


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

        ids, texts = _check_corpus(ids, texts)
        meta = _check_metadata(metadata, len(ids))
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
        _check_query(query)
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
        return self.hits_from_scores(self.scores(query), _check_k(k), where)

    def hits_from_scores(self, s: np.ndarray, k: int, where: dict | None = None) -> list[Hit]:
        """The top ``k`` hits of a full score vector (from :meth:`scores`), zero scores dropped."""
        if where:
            s = np.where([_matches(m, where) for m in self.metadata], s, 0.0)
        order = _top_k(s, k)
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
        with _atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, header=np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8),
                     data=W.data, indices=W.indices, indptr=W.indptr, idf=self.idf)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> BM25Retriever:
        """Read an index written by :meth:`save`."""
        from scipy import sparse

        header, a = _read_npz(path, "aieng.BM25Retriever/1")
        r = cls(header["k1"], header["b"], header["stem"])
        r.weights = sparse.csc_matrix((a["data"], a["indices"], a["indptr"]), shape=tuple(header["shape"]))
        r.vocab = {t: c for c, t in enumerate(header["terms"])}
        r.idf, r.ids, r.metadata = a["idf"], list(header["ids"]), list(header["metadata"])
        r._row = {i: n for n, i in enumerate(r.ids)}
        return r


class DenseRetriever:
    """An embedder plus a vector store: embed the corpus once, embed each query, nearest neighbours.

    Parameters
    ----------
    embedder
        Anything with ``encode(texts) -> (n, dim)`` unit-length float32 rows, e.g.
        :func:`aieng.embed.load_embedder`. Default: the bundled all-MiniLM-L6-v2.
    store
        A :class:`VectorStore`; default an exact :class:`FaissStore`.
    batch_size
        Texts per forward pass while indexing.
    """

    def __init__(self, embedder: Any = None, store: VectorStore | None = None, batch_size: int = 64) -> None:
        if embedder is None:
            from aieng.embed import load_embedder

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
        ids, texts = _check_corpus(ids, texts)
        meta = _check_metadata(metadata, len(ids))
        if len(self.store):
            raise ValueError("this retriever already holds an index: make a new one to re-index")
        t0 = time.perf_counter()
        X = self.embedder.encode(texts, batch_size=self.batch_size) if vectors is None else vectors
        self.store.add(ids, X, meta)
        self.index_seconds = time.perf_counter() - t0
        return self

    def embed_query(self, query: str) -> np.ndarray:
        """The query's embedding, shape ``(dim,)``."""
        return self.embedder.encode([_check_query(query)])[0]

    def search(self, query: str, k: int = 10, where: dict | None = None) -> list[Hit]:
        """The ``k`` documents whose embeddings are closest (cosine) to the query's."""
        return self.store.search(self.embed_query(query), _check_k(k), where)

    def similarity(self, query_vector: np.ndarray, ids: Sequence[str]) -> np.ndarray:
        """Cosine of the query vector with the stored vectors of ``ids`` (any ids, not only the top k)."""
        q = np.asarray(query_vector, dtype=np.float32)
        return self.store.get_vectors(ids) @ (q / np.linalg.norm(q))

    def search_batch(self, queries: Sequence[str], k: int = 10) -> list[list[Hit]]:
        """:meth:`search` for many queries, embedded in batches (fast for evaluation)."""
        k = _check_k(k)
        for q in queries:
            _check_query(q)
        Q = self.embedder.encode(list(queries), batch_size=self.batch_size)
        if hasattr(self.store, "search_batch"):
            return self.store.search_batch(Q, k)
        return [self.store.search(q, k) for q in Q]

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


def rrf_fuse(rankings: Sequence[Sequence[Hit]], k: int = 10, c: float = 60.0,
             weights: Sequence[float] | None = None) -> list[Hit]:
    """Reciprocal-rank fusion: ``score(d) = sum_r w_r / (c + rank_r(d))`` with ranks starting at 1.

    Only ranks matter, so a BM25 score of 25 and a cosine of 0.6 never have to be put on one scale.
    Ties keep the order of first appearance.
    """
    k = _check_k(k)
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
    k = _check_k(k)
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
        ids, texts = _check_corpus(ids, texts)
        _check_metadata(metadata, len(ids))
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
        k = _check_k(k)
        return self._search_vector(query, self.dense.embed_query(query), k, where)

    def search_batch(self, queries: Sequence[str], k: int = 10, vectors: np.ndarray | None = None) -> list[list[Hit]]:
        """:meth:`search` for many queries (the dense side embedded in batches).

        ``vectors``: the queries' embeddings, when you already have them (e.g. while tuning ``alpha``).
        """
        k = _check_k(k)
        for q in queries:
            _check_query(q)
        Q = self.dense.embedder.encode(list(queries), batch_size=self.dense.batch_size) if vectors is None else vectors
        if len(Q) != len(queries):
            raise ValueError(f"{len(Q)} query vectors for {len(queries)} queries")
        return [self._search_vector(q, v, k, None) for q, v in zip(queries, Q)]

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write ``bm25.npz``, ``dense.npz`` and ``hybrid.json`` into one folder, atomically."""
        with _atomic_path(path, folder=True) as tmp:
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


# ----------------------------------------------------------------------------- caching


def embed_cached(embedder: Any, texts: Sequence[str], name: str = "corpus", batch_size: int = 64,
                 cache: str | os.PathLike[str] | None = None) -> np.ndarray:
    """``embedder.encode(texts)``, cached on disk under the user cache (never in the repository).

    The file name holds a hash of the model name and of every text, so a changed corpus or model is
    re-embedded rather than served stale. Default folder: ``aieng.data.cache_dir() / "embeddings"``.
    """
    import hashlib

    from aieng.data import cache_dir

    digest = hashlib.sha256(str(getattr(embedder, "name", type(embedder).__name__)).encode())
    for t in texts:
        digest.update(t.encode("utf-8"))
        digest.update(b"\0")
    folder = Path(cache) if cache is not None else cache_dir() / "embeddings"
    target = folder / f"{name}-{digest.hexdigest()[:16]}.npy"
    if target.is_file():
        X = np.load(target, allow_pickle=False)
        if X.shape[0] == len(texts):
            return X
    X = embedder.encode(list(texts), batch_size=batch_size)
    with _atomic_path(target) as tmp, open(tmp, "wb") as fh:
        np.save(fh, X, allow_pickle=False)
    return X


# ----------------------------------------------------------------------------- evaluation


def run_from_hits(query_ids: Sequence[str], results: Sequence[Sequence[Hit]]) -> dict[str, dict[str, float]]:
    """``{query_id: {doc_id: score}}``, the run format ``pytrec_eval`` and BEIR use.

    Scores are replaced by ``n - rank`` so that ties in the original scores cannot reorder documents.
    """
    run = {}
    for qid, hits in zip(query_ids, results):
        run[qid] = {h.id: float(len(hits) - r) for r, h in enumerate(hits)}
    return run


def evaluate(qrels: Mapping[str, Mapping[str, int]], run: Mapping[str, Mapping[str, float]],
             metrics: Sequence[str] = ("ndcg_cut_10", "recall_100")) -> dict[str, float]:
    """Mean of each ``pytrec_eval`` measure over the judged queries (a query missing from ``run`` scores 0).

    Parameters
    ----------
    qrels
        ``{query_id: {doc_id: relevance}}``.
    run
        ``{query_id: {doc_id: score}}`` (see :func:`run_from_hits`).
    metrics
        ``pytrec_eval`` measure names such as ``"ndcg_cut_10"``, ``"recall_100"``, ``"map"``.
    """
    import pytrec_eval

    if not qrels:
        raise ValueError("qrels is empty: nothing to evaluate")
    measures = {m.rsplit("_", 1)[0] if m.split("_")[-1].isdigit() else m for m in metrics}
    evaluator = pytrec_eval.RelevanceEvaluator({q: dict(d) for q, d in qrels.items()}, measures)
    per_query = evaluator.evaluate({q: dict(run.get(q, {})) for q in qrels})
    out = {}
    for m in metrics:
        values = [per_query.get(q, {}).get(m, 0.0) for q in qrels]
        out[m] = float(np.mean(values))
    return out
