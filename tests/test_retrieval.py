"""Unit tests of aieng.retrieval and the retrieval benchmark (Month 8). Small synthetic corpora only."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from _doubles import HashEmbedder
from aieng.retrieval import (BM25Retriever, DenseRetriever, FaissStore, Hit, HybridRetriever, QdrantStore,
                             VectorStore, evaluate, rrf_fuse, run_from_hits, tokenize)



DOCS = {
    "d1": "The cat sat on the mat and purred.",
    "d2": "Dogs are loyal animals that love walks.",
    "d3": "Quantum mechanics describes particles and waves.",
    "d4": "A puppy is a young dog that plays all day.",
    "d5": "Stock markets fell as interest rates rose.",
    "d6": "Kittens and cats sleep most of the day.",
}


@pytest.fixture
def vectors():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 24)).astype(np.float32)
    return [f"v{i}" for i in range(300)], X, [{"group": i % 3, "even": i % 2 == 0} for i in range(300)]


def brute_force(X, q, k):
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    s = Xn @ (q / np.linalg.norm(q))
    return list(np.argsort(-s, kind="stable")[:k]), np.sort(s)[::-1][:k]


# ----------------------------------------------------------------------------- vector stores


def test_faiss_store_is_exact_and_satisfies_protocol(vectors):
    ids, X, meta = vectors
    store = FaissStore(24)
    assert isinstance(store, VectorStore)
    store.add(ids, X, meta)
    assert len(store) == 300
    for q in X[:5] + 0.1:
        hits = store.search(q, k=10)
        order, scores = brute_force(X, q, 10)
        assert [h.id for h in hits] == [ids[i] for i in order]
        np.testing.assert_allclose([h.score for h in hits], scores, atol=1e-5)
        assert all(isinstance(h, Hit) for h in hits)


def test_where_filter_prefilters(vectors):
    ids, X, meta = vectors
    for store in (FaissStore(24), FaissStore(24, "hnsw"), QdrantStore(24)):
        store.add(ids, X, meta)
        hits = store.search(X[0], k=20, where={"group": 1, "even": True})
        assert len(hits) == 20
        assert all(h.metadata["group"] == 1 and h.metadata["even"] for h in hits)
        assert store.search(X[0], k=5, where={"group": 7}) == []


def test_qdrant_matches_faiss(vectors, tmp_path):
    ids, X, meta = vectors
    f, q = FaissStore(24), QdrantStore(24)
    f.add(ids, X, meta)
    q.add(ids, X, meta)
    assert isinstance(q, VectorStore)
    hf, hq = f.search(X[3], k=10), q.search(X[3], k=10)
    assert [h.id for h in hf] == [h.id for h in hq]
    np.testing.assert_allclose([h.score for h in hf], [h.score for h in hq], atol=1e-5)
    assert hq[0].metadata == meta[3]
    # embedded on-disk mode: same code, a folder instead of ":memory:"
    disk = QdrantStore(24, location=tmp_path / "qdrant")
    disk.add(ids[:10], X[:10])
    assert disk.search(X[2], k=1)[0].id == "v2"
    disk.close()


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_faiss_save_load_roundtrip(vectors, tmp_path, kind):
    ids, X, meta = vectors
    store = FaissStore(24, kind, nlist=8, nprobe=8)
    store.add(ids, X, meta)
    store.save(tmp_path / "s.npz")
    again = FaissStore.load(tmp_path / "s.npz")
    assert len(again) == 300 and again.kind == kind
    assert [h.id for h in again.search(X[7], 5)] == [h.id for h in store.search(X[7], 5)]
    again.add(["new"], X[:1] * -1)  # still usable, ids still unique
    with pytest.raises(ValueError, match="already"):
        again.add(["new"], X[:1])
    assert sorted(os.listdir(tmp_path)) == ["s.npz"]


def test_qdrant_save_load(vectors, tmp_path):
    ids, X, meta = vectors
    store = QdrantStore(24)
    store.add(ids[:50], X[:50], meta[:50])
    store.save(tmp_path / "q.npz")
    again = QdrantStore.load(tmp_path / "q.npz")
    assert len(again) == 50
    assert again.search(X[4], 1, where={"group": 1})[0].id == store.search(X[4], 1, where={"group": 1})[0].id


def test_store_bad_input_changes_nothing(vectors):
    ids, X, meta = vectors
    store = FaissStore(24)
    with pytest.raises(ValueError, match="shape"):
        store.add(ids[:2], X[:2, :10])
    with pytest.raises(ValueError, match="ids"):
        store.add(ids[:3], X[:2])
    with pytest.raises(ValueError, match="duplicate"):
        store.add(["a", "a"], X[:2])
    with pytest.raises(ValueError, match="NaN"):
        store.add(["a", "b"], np.full((2, 24), np.nan))
    with pytest.raises(ValueError, match="JSON"):
        store.add(["a"], X[:1], [{"when": object()}])
    with pytest.raises(ValueError, match="zero vector"):
        store.add(["z"], np.zeros((1, 24)))
    assert len(store) == 0 and store.index.ntotal == 0
    with pytest.raises(ValueError, match="k must"):
        store.search(X[0], k=0)
    with pytest.raises(ValueError):
        FaissStore(0)
    assert store.search(X[0], k=3) == []


def test_failed_save_leaves_nothing_half_written(vectors, tmp_path, monkeypatch):
    ids, X, meta = vectors
    store = FaissStore(24)
    store.add(ids, X, meta)
    target = tmp_path / "index.npz"
    store.save(target)
    before = target.read_bytes()
    store.add(["extra"], X[:1] + 1)

    def boom(*a, **k):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError, match="disk full"):
        store.save(target)
    with pytest.raises(OSError):
        store.save(tmp_path / "fresh.npz")
    assert sorted(os.listdir(tmp_path)) == ["index.npz"]  # no temp files, no fresh.npz
    assert target.read_bytes() == before  # the old index is untouched


def test_load_rejects_garbage(tmp_path):
    (tmp_path / "x.npz").write_text("not an index")
    with pytest.raises(ValueError, match="not a saved"):
        FaissStore.load(tmp_path / "x.npz")
    with pytest.raises(FileNotFoundError):
        FaissStore.load(tmp_path / "missing.npz")


# ----------------------------------------------------------------------------- BM25


def test_tokenize():
    assert tokenize("The cells were dividing rapidly") == ["cell", "were", "divid", "rapid"]
    assert tokenize("The cells", stem=False) == ["cells"]
    assert tokenize("a I") == []


def test_bm25_scores_match_bm25s():
    import bm25s

    texts = list(DOCS.values()) * 2 + ["cat cat cat dog", "the of and"]
    ids = [f"x{i}" for i in range(len(texts))]
    ours = BM25Retriever(k1=1.2, b=0.6).index(ids, texts)
    ref = bm25s.BM25(k1=1.2, b=0.6, method="lucene")
    ref.index([ours.tokenize(t) for t in texts], show_progress=False)
    for q in ["cat dog", "quantum particles waves", "cat cat", "young puppies playing"]:
        np.testing.assert_allclose(ours.scores(q), ref.get_scores(ours.tokenize(q)), rtol=1e-5, atol=1e-6)


def test_bm25_search_and_persistence(tmp_path):
    r = BM25Retriever().index(list(DOCS), list(DOCS.values()), [{"n": i} for i in range(6)])
    hits = r.search("cats sleeping", k=3)
    assert hits[0].id == "d6" and hits[0].metadata == {"n": 5}
    assert r.search("zebra", k=3) == []  # no shared term, no hit
    assert [h.id for h in r.search("cat", k=5, where={"n": 0})] == ["d1"]
    r.save(tmp_path / "bm25.npz")
    again = BM25Retriever.load(tmp_path / "bm25.npz")
    np.testing.assert_allclose(again.scores("cat dog"), r.scores("cat dog"))


def test_bad_input_gives_clear_errors():
    with pytest.raises(ValueError, match="empty"):
        BM25Retriever().index([], [])
    with pytest.raises(ValueError, match="no text"):
        BM25Retriever().index(["a", "b"], ["fine", "   "])
    r = BM25Retriever().index(list(DOCS), list(DOCS.values()))
    with pytest.raises(ValueError, match="query is empty"):
        r.search("  ")
    with pytest.raises(ValueError, match="index a corpus"):
        BM25Retriever().search("cat")
    dense = DenseRetriever(HashEmbedder())
    with pytest.raises(ValueError, match="empty"):
        dense.index([], [])
    with pytest.raises(ValueError, match="no text"):
        dense.index(["a"], [""])
    assert len(dense) == 0


# ----------------------------------------------------------------------------- dense, hybrid, evaluation


def test_rrf_fuse_by_hand():
    a = [Hit("x", 9.0), Hit("y", 5.0)]
    b = [Hit("y", 0.9), Hit("z", 0.8)]
    fused = rrf_fuse([a, b], k=3, c=60)
    assert [h.id for h in fused] == ["y", "x", "z"]
    assert fused[0].score == pytest.approx(1 / 62 + 1 / 61)
    assert fused[1].score == pytest.approx(1 / 61)


def test_hybrid_finds_both_kinds_and_persists(tmp_path):
    emb = HashEmbedder()
    h = HybridRetriever(embedder=emb, candidates=6).index(list(DOCS), list(DOCS.values()))
    assert h.search("cats", k=2)[0].id in {"d1", "d6"}
    h.save(tmp_path / "hyb")
    again = HybridRetriever.load(tmp_path / "hyb", embedder=emb)
    assert [x.id for x in again.search("dogs puppy", 3)] == [x.id for x in h.search("dogs puppy", 3)]
    assert sorted(os.listdir(tmp_path / "hyb")) == ["bm25.npz", "dense.npz", "hybrid.json"]


def test_evaluate_matches_hand_computed_ndcg():
    qrels = {"q1": {"a": 1, "c": 1}, "q2": {"b": 1}}
    run = run_from_hits(["q1", "q2"], [[Hit("a", 3), Hit("b", 2), Hit("c", 1)], [Hit("x", 1)]])
    got = evaluate(qrels, run, ("ndcg_cut_10", "recall_100"))
    ideal = 1 + 1 / np.log2(3)
    assert got["ndcg_cut_10"] == pytest.approx(((1 + 1 / np.log2(4)) / ideal + 0.0) / 2)
    assert got["recall_100"] == pytest.approx((1.0 + 0.0) / 2)
    with pytest.raises(ValueError):
        evaluate({}, run)


# ----------------------------------------------------------------------------- the real embedder, once


@pytest.fixture(scope="module")
def embedder():
    from aieng.retrieval.embed import load_embedder

    return load_embedder()


def _write_beir(folder: Path, docs: dict[str, str], queries: dict[str, str], qrels: list[tuple[str, str]]) -> Path:
    (folder / "qrels").mkdir(parents=True)
    with open(folder / "corpus.jsonl", "w") as fh:
        for i, t in docs.items():
            fh.write(json.dumps({"_id": i, "title": "", "text": t}) + "\n")
    with open(folder / "queries.jsonl", "w") as fh:
        for i, t in queries.items():
            fh.write(json.dumps({"_id": i, "text": t}) + "\n")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" +
                                                "".join(f"{q}\t{d}\t1\n" for q, d in qrels))
    return folder


def test_dense_with_minilm_and_bench_on_a_tiny_beir_folder(embedder, tmp_path, capsys):
    dense = DenseRetriever(embedder).index(list(DOCS), list(DOCS.values()))
    assert dense.search("a young dog", k=1)[0].id == "d4"
    from aieng.bench import main

    folder = _write_beir(tmp_path / "tiny", DOCS, {"q1": "kitten", "q2": "finance and the economy"},
                         [("q1", "d6"), ("q2", "d5")])
    assert main(["retrieval", "--beir-dir", str(folder), "--json", "--no-save", "--rate-sample", "6"]) == 0
    result = json.loads(capsys.readouterr().out)["figures"]
    assert result["dataset"] == "tiny"
    assert set(result["methods"]) == {"bm25", "dense", "hybrid"}
    for row in result["methods"].values():
        assert set(row) == {"ndcg@10", "recall@100", "build_s", "p50_ms", "p95_ms"}
        assert 0 <= row["ndcg@10"] <= 1
    assert result["methods"]["dense"]["ndcg@10"] > 0.5


def test_bench_rerank_is_fitted_on_the_train_split_only(tmp_path, capsys):
    from aieng.bench import main

    queries = {"q1": "kitten", "q2": "finance and the economy", "t1": "a young dog", "t2": "particles and waves",
               "t3": "cats purring on a mat"}
    folder = _write_beir(tmp_path / "tiny", DOCS, queries, [("q1", "d6"), ("q2", "d5")])
    assert main(["retrieval", "--beir-dir", str(folder), "--json", "--no-save", "--rate-sample", "6", "--rerank"]) == 2
    assert "qrels/train.tsv" in capsys.readouterr().err, "no train split: a clear error, never a fit on test"
    (folder / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\nt1\td4\t1\nt2\td3\t1\nt3\td1\t1\n")
    assert main(["retrieval", "--beir-dir", str(folder), "--json", "--no-save", "--rate-sample", "6", "--rerank"]) == 0
    row = json.loads(capsys.readouterr().out)["figures"]["methods"]["reranked"]
    assert row["train_queries"] == 3, "only the train split's judged queries are used to fit"
    assert 0 <= row["ndcg@10"] <= 1 and set(row["weights"]) == {"bm25_z", "dense_z", "bm25", "dense", "bm25_rank",
                                                                 "dense_rank", "coverage", "title_coverage"}
    assert main(["retrieval", "--beir-dir", str(folder), "--json", "--no-save", "--methods", "bm25", "--rerank"]) == 2
    assert "include hybrid" in capsys.readouterr().err


def test_bench_rejects_a_folder_that_is_not_beir(tmp_path, capsys):
    from aieng.bench import main

    (tmp_path / "notes.txt").write_text("hello")
    assert main(["retrieval", "--beir-dir", str(tmp_path), "--json", "--no-save"]) == 2
    assert "not in BEIR format" in capsys.readouterr().err
    docs = {"d1": "text", "d2": ""}
    folder = _write_beir(tmp_path / "emptydoc", docs, {"q": "text"}, [("q", "d1")])
    assert main(["retrieval", "--beir-dir", str(folder), "--json", "--no-save"]) == 2
    assert "no text" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["emptydoc", "notes.txt"]


def test_zscore_fuse_and_both_hybrid_fusions(vectors):
    from aieng.retrieval import zscore_fuse

    b, d = np.array([10.0, 0.0, 4.0]), np.array([0.1, 0.9, 0.7])
    fused = zscore_fuse(dict(zip("abc", b)), dict(zip("abc", d)), k=3, alpha=0.3)
    want = 0.3 * (b - b.mean()) / b.std() + 0.7 * (d - d.mean()) / d.std()
    assert [h.id for h in fused] == [("a", "b", "c")[i] for i in np.argsort(-want)]
    np.testing.assert_allclose([h.score for h in fused], np.sort(want)[::-1], atol=1e-6)
    assert [h.id for h in zscore_fuse({"a": 2.0, "b": 1.0}, {"a": 0.0, "b": 1.0}, k=2, alpha=1.0)] == ["a", "b"]
    assert [h.id for h in zscore_fuse({"a": 2.0, "b": 1.0}, {"a": 0.0, "b": 1.0}, k=2, alpha=0.0)] == ["b", "a"]
    with pytest.raises(ValueError, match="same candidate"):
        zscore_fuse({"a": 1.0}, {"b": 1.0})
    emb = HashEmbedder()
    for fusion in ("zscore", "rrf"):
        h = HybridRetriever(embedder=emb, fusion=fusion, candidates=2).index(list(DOCS), list(DOCS.values()))
        single = [x.id for x in h.search("cats and kittens", k=3)]
        assert single == [x.id for x in h.search_batch(["cats and kittens"], k=3)[0]]
        assert single[0] in {"d1", "d6"}
    with pytest.raises(ValueError):
        HybridRetriever(embedder=emb, fusion="max")


def test_get_vectors_from_both_stores(vectors):
    ids, X, meta = vectors
    f, q = FaissStore(24), QdrantStore(24)
    f.add(ids[:20], X[:20])
    q.add(ids[:20], X[:20])
    want = X[[3, 7]] / np.linalg.norm(X[[3, 7]], axis=1, keepdims=True)
    np.testing.assert_allclose(f.get_vectors(["v3", "v7"]), want, atol=1e-6)
    np.testing.assert_allclose(q.get_vectors(["v3", "v7"]), want, atol=1e-6)
    with pytest.raises(KeyError):
        f.get_vectors(["nope"])


def test_embed_cached_reuses_and_invalidates(tmp_path):
    from aieng.retrieval import embed_cached

    class Counting(HashEmbedder):
        calls = 0

        def encode(self, texts, batch_size=64, show_progress=None):
            Counting.calls += 1
            return super().encode(texts)

    emb = Counting()
    a = embed_cached(emb, ["x y", "z"], cache=tmp_path)
    b = embed_cached(emb, ["x y", "z"], cache=tmp_path)
    np.testing.assert_array_equal(a, b)
    assert Counting.calls == 1
    embed_cached(emb, ["x y", "changed"], cache=tmp_path)
    assert Counting.calls == 2
    assert all(not p.name.endswith(".part") for p in tmp_path.iterdir())


class _SlowLoggingEmbedder(HashEmbedder):
    """Writes a line to ``log`` per call and takes a second: long enough for a second process to ask too."""

    def __init__(self, log):
        self.log = log

    def encode(self, texts, batch_size=64, show_progress=None):
        with open(self.log, "a") as fh:
            fh.write("encode\n")
        time.sleep(1.0)
        return super().encode(texts)


def _embed_in_child(cache, log, out):
    from aieng.retrieval import embed_cached

    np.save(out, embed_cached(_SlowLoggingEmbedder(log), ["x y", "z", "w"], cache=cache))


def test_embed_cached_embeds_once_when_two_processes_ask_at_once(tmp_path):
    """make book runs notebooks at once: two asking for the same corpus embed it once, and both get it."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    log = tmp_path / "calls.log"
    procs = [ctx.Process(target=_embed_in_child, args=(tmp_path / "cache", log, tmp_path / f"out{i}.npy"))
             for i in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert log.read_text().count("encode") == 1
    np.testing.assert_array_equal(np.load(tmp_path / "out0.npy"), np.load(tmp_path / "out1.npy"))
