"""Vector stores: ids, vectors and metadata in, :class:`~aieng.retrieval.base.Hit` lists out.

Taught in Month 8 (chapters/08-embeddings-and-rag); the long-term memory of the Month 9 agent.

>>> from aieng.retrieval import FaissStore
>>> store = FaissStore(dim=384)
>>> store.add(["a", "b"], X, metadata=[{"lang": "en"}, {"lang": "fr"}])   # X: (2, 384) float32
>>> store.search(q, k=1, where={"lang": "en"})                           # [Hit(id='a', score=..., ...)]
>>> store.save("memory.npz"); store = FaissStore.load("memory.npz")

Scores are inner products of L2-normalised vectors, i.e. cosine similarities. :class:`FaissStore` runs
in-process; :class:`QdrantStore` uses ``qdrant-client``, embedded (in memory or on disk) or against a server
by URL. Every ``save`` is atomic (:func:`aieng.atomic.atomic_path`).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np

from aieng.atomic import atomic_path
from aieng.retrieval.base import Hit, read_npz
from aieng.retrieval.validate import (
    as_matrix,
    check_ids,
    check_k,
    check_metadata,
    matches,
    normalise,
)

__all__ = ['FaissStore', 'QdrantStore']


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
        :func:`aieng.retrieval.embed.load_embedder` are already unit length; normalising again changes nothing.
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
        X = as_matrix(vectors, self.dim)
        ids = check_ids(ids, X.shape[0], self._row)
        meta = check_metadata(metadata, X.shape[0])
        if X.shape[0] == 0:
            return
        if self.normalize:
            X = normalise(X)
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

        k = check_k(k)
        Q = as_matrix(queries, self.dim, "queries")
        if self.normalize:
            Q = normalise(Q)
        if len(self) == 0:
            return [[] for _ in range(len(Q))]
        params = None
        if where:
            rows = np.array([r for r, m in enumerate(self.metadata) if matches(m, where)], dtype=np.int64)
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
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, header=np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8), index=blob)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> FaissStore:
        """Read a store written by :meth:`save`."""
        import faiss

        header, arrays = read_npz(path, "aieng.FaissStore/1")
        store = cls(header["dim"], header["index"], normalize=header["normalize"], **header["settings"])
        store.index = faiss.deserialize_index(arrays["index"])
        store.ids = list(header["ids"])
        store.metadata = list(header["metadata"])
        store._row = {i: r for r, i in enumerate(store.ids)}
        if store.index.ntotal != len(store.ids):
            raise ValueError(f"{path}: the index holds {store.index.ntotal} vectors but {len(store.ids)} ids")
        return store


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

        X = as_matrix(vectors, self.dim)
        ids = check_ids(ids, X.shape[0], {i: 0 for i in self._ids})
        meta = check_metadata(metadata, X.shape[0])
        if X.shape[0] == 0:
            return
        X = normalise(X)
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
        k = check_k(k)
        q = normalise(as_matrix(query, self.dim, "query"))[0]
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

    def search_batch(self, queries: np.ndarray, k: int = 10, where: dict | None = None) -> list[list[Hit]]:
        """:meth:`search` for each row of ``queries`` (shape ``(n, dim)``)."""
        return [self.search(q, k, where) for q in as_matrix(queries, self.dim, "queries")]

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
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, header=np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8), vectors=X)

    @classmethod
    def load(cls, path: str | os.PathLike[str], location: str = ":memory:") -> QdrantStore:
        """Rebuild a store from a file written by :meth:`save` (into memory, or into ``location``)."""
        header, arrays = read_npz(path, "aieng.QdrantStore/1")
        store = cls(header["dim"], location, collection=header["collection"])
        if header["ids"]:
            new = [i for i in header["ids"] if i not in store._ids]
            keep = [r for r, i in enumerate(header["ids"]) if i not in store._ids]
            store.add(new, arrays["vectors"][keep], [header["metadata"][r] for r in keep])
        return store

    def close(self) -> None:
        """Release the client (embedded on-disk stores hold a lock on their folder)."""
        self.client.close()
