"""The from-scratch searches of Month 8 (aieng.retrieval.vectorsearch) against exact search."""

from __future__ import annotations

import numpy as np
import pytest

from aieng.retrieval.vectorsearch import (HNSW, IVFIndex, clustered_vectors, exact_search, kmeans,
                                          recall_at_k)


@pytest.fixture(scope="module")
def data():
    A = clustered_vectors(1050, 16, seed=1)
    X, Q = A[:1000], A[1000:]
    return X, Q, exact_search(X, Q, 10)[1]


@pytest.fixture(scope="module")
def graph(data):
    return HNSW(16, M=8, ef_construction=48, seed=0).add(data[0])


def test_clustered_vectors_are_unit_rows_and_reject_bad_sizes():
    X = clustered_vectors(50, 8, seed=0)
    assert X.shape == (50, 8) and X.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    with pytest.raises(ValueError):
        clustered_vectors(0, 8)
    with pytest.raises(ValueError):
        clustered_vectors(5, 0)


def test_exact_search_is_a_full_sort():
    rng = np.random.default_rng(0)
    X, Q = rng.normal(size=(200, 8)).astype(np.float32), rng.normal(size=(5, 8)).astype(np.float32)
    D, I = exact_search(X, Q, 7)
    np.testing.assert_array_equal(I, np.argsort(-(Q @ X.T), axis=1, kind="stable")[:, :7])
    np.testing.assert_allclose(D, np.take_along_axis(Q @ X.T, I, axis=1))
    assert exact_search(X[:3], Q, 10)[1].shape == (5, 3)  # k larger than n: every row
    with pytest.raises(ValueError):
        exact_search(X, Q, 0)


def test_recall_at_k():
    exact = np.array([[1, 2], [3, 4]])
    assert recall_at_k(exact, exact) == 1.0
    assert recall_at_k(np.array([[2, 9], [8, 9]]), exact) == 0.25
    assert recall_at_k(np.array([[1, 9], [3, 9]]), exact, k=1) == 1.0


def test_kmeans_rejects_bad_cluster_counts(data):
    with pytest.raises(ValueError):
        kmeans(data[0][:10], 11)
    with pytest.raises(ValueError):
        kmeans(data[0][:10], 0)


def test_ivf_recall_grows_with_nprobe_and_is_exact_when_probing_everything(data):
    X, Q, I_exact = data
    ivf = IVFIndex(n_lists=30).build(X)
    assert sorted(np.concatenate(ivf.lists).tolist()) == list(range(len(X)))  # every vector filed once
    recalls = [recall_at_k(ivf.search(Q, 10, nprobe=p)[1], I_exact) for p in (1, 4, 30)]
    assert recalls[0] < recalls[1] <= recalls[2] == 1.0
    assert recalls[1] >= 0.85
    np.testing.assert_array_equal(ivf.search(Q, 10, nprobe=30)[1], I_exact)


def test_hnsw_recall_against_exact_search(data, graph):
    X, Q, I_exact = data
    low = recall_at_k(graph.search(Q, 10, ef=10)[1], I_exact)
    high = recall_at_k(graph.search(Q, 10, ef=64)[1], I_exact)
    assert high >= 0.95 and high >= low
    D, I = graph.search(Q[:3], 10, ef=64)
    np.testing.assert_allclose(D, np.take_along_axis(Q[:3] @ X.T, I, axis=1), atol=1e-5)
    assert (np.diff(D, axis=1) <= 1e-6).all()  # best first


def test_hnsw_builds_a_hierarchy(graph):
    """Layers shrink geometrically (a node reaches level l with probability M**-l): not a flat graph."""
    sizes = [len(layer) for layer in graph.layers]
    assert sizes[0] == len(graph) == 1000
    assert len(sizes) >= 3
    for level, n in enumerate(sizes[1:], 1):
        expected = len(graph) * graph.M ** -level
        if expected >= 5:
            assert expected / 2 <= n <= 2 * expected, (level, n, expected)
    for upper, lower in zip(graph.layers[1:], graph.layers):
        assert set(upper) <= set(lower)  # a node on a layer is on every layer below it
    assert graph.entry in graph.layers[-1]
    for layer in graph.layers:  # links stay inside their layer and respect the degree limit
        for node, links in layer.items():
            assert set(links) <= set(layer) and node not in links
            assert len(links) <= (2 * graph.M if layer is graph.layers[0] else graph.M)


def test_hnsw_bad_input_and_empty_index():
    g = HNSW(4)
    D, I = g.search(np.ones(4, dtype=np.float32), 3)
    assert (I == -1).all() and np.isneginf(D).all()
    with pytest.raises(ValueError):
        g.add(np.ones((2, 5), dtype=np.float32))
