"""Nearest-neighbour search from scratch: brute force, IVF and a small readable HNSW.

Taught in Month 8 (chapters/08-embeddings-and-rag, notebook 2). These are teaching implementations,
checked against FAISS; production code uses :class:`aieng.retrieval.FaissStore` or
:class:`aieng.retrieval.QdrantStore`.

All three search unit-length vectors by inner product (= cosine similarity) and return
``(scores, indices)`` arrays of shape ``(n_queries, k)``, best first, like ``faiss.Index.search``.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Callable

import numpy as np

__all__ = ["clustered_vectors", "exact_search", "kmeans", "IVFIndex", "HNSW", "recall_at_k", "queries_per_second"]


def clustered_vectors(n: int, dim: int = 384, n_clusters: int | None = None, latent_dim: int = 24,
                      spread: float = 0.5, noise: float = 0.02, seed: int = 0) -> np.ndarray:
    """``n`` unit vectors that cluster like real embeddings do.

    Real embeddings live near a low-dimensional, clumpy surface inside their 384 dimensions (texts group by
    topic, and within a topic by sub-topic). We imitate that: points around ``n_clusters`` centres in a
    ``latent_dim``-dimensional space, mapped into ``dim`` dimensions by a fixed random matrix, plus a little
    noise, then normalised. Uniform random Gaussian vectors in 384 dimensions are instead all nearly
    orthogonal and equidistant, so "nearest" means little and graph indexes look broken on them.

    Parameters
    ----------
    n, dim
        How many vectors, of what dimension.
    n_clusters
        Number of topic centres (default ``max(1, n // 200)``); cluster sizes vary (Zipf-like).
    latent_dim
        Intrinsic dimension of the data.
    spread
        Spread of a cluster relative to the distance between centres.
    noise
        Isotropic noise added in all ``dim`` dimensions.
    seed
        Random seed: the same seed gives the same centres, so ``clustered_vectors(n + m)[n:]`` are
        held-out queries from the same distribution.
    """
    if n < 1 or dim < 1:
        raise ValueError(f"need n >= 1 and dim >= 1, got n={n}, dim={dim}")
    rng = np.random.default_rng(seed)
    n_clusters = n_clusters or max(1, n // 200)
    centres = rng.normal(size=(n_clusters, latent_dim))
    project = rng.normal(size=(latent_dim, dim)) / np.sqrt(latent_dim)
    sizes = 1.0 / np.arange(1, n_clusters + 1) ** 0.8
    which = rng.choice(n_clusters, size=n, p=sizes / sizes.sum())
    Z = centres[which] + spread * rng.normal(size=(n, latent_dim))
    X = Z @ project + noise * rng.normal(size=(n, dim))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X.astype(np.float32)


def exact_search(X: np.ndarray, Q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Brute force: every query against every vector, one matrix product, then the top ``k`` of each row.

    Ties are broken by the smaller index (as FAISS does).
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    k = min(k, X.shape[0])
    S = Q @ X.T                                          # (n_queries, n) similarities
    top = np.argpartition(-S, k - 1, axis=1)[:, :k]       # the k best, unordered: O(n) per row
    rows = np.arange(S.shape[0])[:, None]
    order = np.lexsort((top, -S[rows, top]), axis=1)      # sort them by score, then index
    top = top[rows, order]
    return S[rows, top], top


def kmeans(X: np.ndarray, n_clusters: int, n_iter: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Spherical k-means (cosine): centroids of unit length. Returns ``(centroids, assignment)``."""
    if not 1 <= n_clusters <= len(X):
        raise ValueError(f"n_clusters must be in [1, {len(X)}], got {n_clusters}")
    rng = np.random.default_rng(seed)
    C = X[rng.choice(len(X), n_clusters, replace=False)].copy()
    for _ in range(n_iter):
        assign = np.argmax(X @ C.T, axis=1)
        for c in range(n_clusters):
            members = X[assign == c]
            if len(members):  # an empty cluster keeps its old centroid
                C[c] = members.sum(axis=0)
        C /= np.linalg.norm(C, axis=1, keepdims=True)
    return C.astype(np.float32), np.argmax(X @ C.T, axis=1)


class IVFIndex:
    """Inverted-file index: cluster the vectors, search only the ``nprobe`` clusters nearest the query.

    Parameters
    ----------
    n_lists
        Number of clusters (FAISS calls it ``nlist``; about ``sqrt(n)`` is the usual start).
    nprobe
        Clusters visited per query: 1 is fastest, ``n_lists`` is exact.
    """

    def __init__(self, n_lists: int = 100, nprobe: int = 8, seed: int = 0) -> None:
        self.n_lists, self.nprobe, self.seed = n_lists, nprobe, seed

    def build(self, X: np.ndarray, n_iter: int = 10) -> IVFIndex:
        """Train the centroids on ``X`` and file every vector under its nearest one."""
        self.X = np.ascontiguousarray(X, dtype=np.float32)
        self.centroids, assign = kmeans(self.X, self.n_lists, n_iter, self.seed)
        self.lists = [np.flatnonzero(assign == c) for c in range(self.n_lists)]
        return self

    def search(self, Q: np.ndarray, k: int, nprobe: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` per query among the vectors filed under the query's ``nprobe`` nearest centroids."""
        nprobe = nprobe or self.nprobe
        Q = np.atleast_2d(Q)
        D = np.full((len(Q), k), -np.inf, dtype=np.float32)
        I = np.full((len(Q), k), -1, dtype=np.int64)
        probes = np.argsort(-(Q @ self.centroids.T), axis=1)[:, :nprobe]
        for r, q in enumerate(Q):
            cand = np.concatenate([self.lists[c] for c in probes[r]])
            if len(cand) == 0:
                continue
            s, local = exact_search(self.X[cand], q[None, :], k)
            D[r, : s.shape[1]], I[r, : s.shape[1]] = s[0], cand[local[0]]
        return D, I


class HNSW:
    """Hierarchical navigable small world graph (Malkov and Yashunin, 2018), small and readable.

    Each vector gets a random level (most get 0). Level 0 links every vector to about ``2 * M`` near
    neighbours; higher levels hold fewer vectors with longer links, like express lanes. A search starts at
    the top, walks greedily towards the query, drops a level, and at level 0 keeps the ``ef`` best
    candidates seen while expanding neighbours.

    Parameters
    ----------
    dim
        Vector dimension.
    M
        Links per vector on the upper levels (``2 * M`` on level 0).
    ef_construction
        Candidates kept while inserting (larger: better graph, slower build).
    """

    def __init__(self, dim: int, M: int = 12, ef_construction: int = 64, seed: int = 0) -> None:
        self.dim, self.M, self.ef_construction = dim, M, ef_construction
        self.level_mult = 1 / math.log(M)
        self.rng = np.random.default_rng(seed)
        self.X = np.zeros((0, dim), dtype=np.float32)
        self.layers: list[dict[int, list[int]]] = []   # layers[l][node] = neighbour ids
        self.entry = -1

    def __len__(self) -> int:
        return len(self.X)

    def _search_layer(self, q: np.ndarray, entries: list[int], ef: int, layer: int) -> list[tuple[float, int]]:
        """Best-first search of one layer; returns up to ``ef`` (similarity, node) pairs, best first."""
        visited = set(entries)
        sims = self.X[entries] @ q
        candidates = [(-s, e) for s, e in zip(sims, entries)]    # max-heap by similarity
        results = [(s, e) for s, e in zip(sims, entries)]        # min-heap: the worst kept result on top
        heapq.heapify(candidates)
        heapq.heapify(results)
        while len(results) > ef:
            heapq.heappop(results)
        graph = self.layers[layer]
        while candidates:
            neg, node = heapq.heappop(candidates)
            if -neg < results[0][0] and len(results) >= ef:
                break  # the best candidate left is worse than the worst result: done
            fresh = [n for n in graph[node] if n not in visited]
            if not fresh:
                continue
            visited.update(fresh)
            for s, n in zip(self.X[fresh] @ q, fresh):
                if len(results) < ef or s > results[0][0]:
                    heapq.heappush(candidates, (-s, n))
                    heapq.heappush(results, (s, n))
                    if len(results) > ef:
                        heapq.heappop(results)
        return sorted(results, reverse=True)

    def _select(self, candidates: list[tuple[float, int]], m: int) -> list[int]:
        """The paper's neighbour heuristic: keep a candidate only if it is closer to the new node than to
        every neighbour already kept, so links point in different directions (and across clusters)."""
        kept: list[int] = []
        for s, c in candidates:
            if len(kept) == m:
                break
            if not kept or np.all(self.X[kept] @ self.X[c] < s):
                kept.append(c)
        return kept

    def add(self, X: np.ndarray) -> HNSW:
        """Insert vectors one by one."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float32))
        if X.shape[1] != self.dim:
            raise ValueError(f"vectors must have {self.dim} columns, got {X.shape[1]}")
        start = len(self.X)
        self.X = np.vstack([self.X, X])
        for node in range(start, len(self.X)):
            self._insert(node)
        return self

    def _insert(self, node: int) -> None:
        q = self.X[node]
        level = int(-math.log(1.0 - self.rng.random()) * self.level_mult)
        while len(self.layers) <= level:
            self.layers.append({})
        for layer in range(level + 1):
            self.layers[layer][node] = []
        if self.entry < 0:
            self.entry = node
            return
        top = len(self.layers) - 1
        entries = [self.entry]
        for layer in range(top, level, -1):            # greedy walk down to the node's own level
            if self.entry in self.layers[layer]:
                entries = [self._search_layer(q, entries, 1, layer)[0][1]]
        for layer in range(min(level, top), -1, -1):
            if not any(e in self.layers[layer] for e in entries):
                continue
            found = self._search_layer(q, [e for e in entries if e in self.layers[layer]], self.ef_construction, layer)
            m_max = 2 * self.M if layer == 0 else self.M
            neighbours = self._select([f for f in found if f[1] != node], self.M)
            self.layers[layer][node] = neighbours
            for n in neighbours:                        # links go both ways; prune a node that has too many
                links = self.layers[layer][n]
                links.append(node)
                if len(links) > m_max:
                    sims = self.X[links] @ self.X[n]
                    order = np.argsort(-sims)
                    self.layers[layer][n] = self._select([(float(sims[i]), links[i]) for i in order], m_max)
            entries = [f[1] for f in found]
        if level > self._level_of(self.entry):
            self.entry = node

    def _level_of(self, node: int) -> int:
        return max(layer for layer in range(len(self.layers)) if node in self.layers[layer])

    def search(self, Q: np.ndarray, k: int, ef: int = 32) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` per query; ``ef`` (>= k) trades speed for recall."""
        Q = np.atleast_2d(Q)
        D = np.full((len(Q), k), -np.inf, dtype=np.float32)
        I = np.full((len(Q), k), -1, dtype=np.int64)
        if self.entry < 0:
            return D, I
        for r, q in enumerate(Q):
            entries = [self.entry]
            for layer in range(self._level_of(self.entry), 0, -1):
                entries = [self._search_layer(q, entries, 1, layer)[0][1]]
            found = self._search_layer(q, entries, max(ef, k), 0)[:k]
            D[r, : len(found)] = [s for s, _ in found]
            I[r, : len(found)] = [n for _, n in found]
        return D, I


def recall_at_k(found: np.ndarray, exact: np.ndarray, k: int | None = None) -> float:
    """Fraction of the true top-``k`` neighbours that an approximate search returned (averaged over queries)."""
    k = k or exact.shape[1]
    hits = [len(set(f[:k].tolist()) & set(e[:k].tolist())) for f, e in zip(found, exact)]
    return float(np.mean(hits) / k)


def queries_per_second(search: Callable[[np.ndarray], object], Q: np.ndarray, one_at_a_time: bool = True,
                       repeat: int = 1) -> float:
    """Throughput of ``search``: queries answered per second, one query per call by default (the latency view)."""
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        if one_at_a_time:
            for q in Q:
                search(q[None, :])
        else:
            search(Q)
        best = min(best, time.perf_counter() - t0)
    return len(Q) / best
