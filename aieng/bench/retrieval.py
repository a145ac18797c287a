"""Retrieval quality and speed of BM25, dense and hybrid retrieval on a BEIR data set (Month 8).

``python -m aieng.bench retrieval --dataset scifact`` or ``--beir-dir PATH`` (any folder with
``corpus.jsonl``, ``queries.jsonl`` and ``qrels/test.tsv``). For each method: nDCG@10 and recall@100
(``pytrec_eval``), index build time, and p50/p95 latency of one query at a time, query embedding included.
It also measures the embedder's raw ``encode`` rate on a sample of the corpus and compares it with the
indexing rate of the dense retriever (embedding plus adding to the index).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import numpy as np

HELP = "nDCG@10, recall@100, build time and p50/p95 latency of bm25, dense and hybrid retrieval on BEIR data"
CHAPTER = "08-embeddings-and-rag"
REFERENCE_ARGS = ["--rerank", "--finetune"]
"""The flags of the run behind ``results/retrieval.json`` (``python -m aieng.bench all`` uses them)."""

PUBLISHED = {
    "scifact": {"bm25": {"ndcg@10": 0.665, "source": "BEIR paper (Thakur et al., 2021), BM25 on Elasticsearch"},
                "dense": {"ndcg@10": 0.6451, "source": "MTEB leaderboard, all-MiniLM-L6-v2"}},
}
METHODS = ("bm25", "dense", "hybrid")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--dataset", default="scifact", help="a registered BEIR data set (default scifact)")
    src.add_argument("--beir-dir", default=None, help="a BEIR-format folder instead of --dataset")
    parser.add_argument("--split", default="test", help="qrels split (default test)")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset of bm25,dense,hybrid")
    parser.add_argument("--max-queries", type=int, default=None, help="evaluate on the first N judged queries only")
    parser.add_argument("--batch-size", type=int, default=64, help="embedding batch size")
    parser.add_argument("--rate-sample", type=int, default=1000, help="documents used to measure the raw encode rate")
    parser.add_argument("--candidates", type=int, default=100, help="hits each retriever gives the fusion")
    parser.add_argument("--alpha", type=float, default=0.5, help="BM25 weight of z-score fusion (tuned on train)")
    parser.add_argument("--rrf-c", type=float, default=60.0, help="RRF constant of the hybrid_rrf variant")
    parser.add_argument("--query-threads", type=int, default=1,
                        help="torch threads while timing single queries (default 1: one query per core)")
    parser.add_argument("--model", default=None, help="embedder (default: the bundled all-MiniLM-L6-v2)")
    parser.add_argument("--rerank", action="store_true",
                        help="also fit aieng.retrieval.rerank.LearnedReranker on the train split's queries (never the "
                             "test queries) over the hybrid candidates, and score it on the evaluated split")
    parser.add_argument("--reuse-embeddings", action="store_true",
                        help="take corpus embeddings from the user cache (aieng.retrieval.embed_cached): for re-timing "
                             "queries only; build_s and the indexing rate then exclude embedding and are marked so")
    parser.add_argument("--finetune", action="store_true",
                        help="also fine-tune the embedder on the train split (aieng.retrieval.finetune: in-batch "
                             "negatives plus one BM25 hard negative per judged pair; never the test queries), re-embed "
                             "the corpus with it and score dense_ft, hybrid_ft and, with --rerank, reranked_ft. "
                             "About 30 min of training on 2 CPU cores for SciFact")
    parser.add_argument("--ft-epochs", type=int, default=2, help="fine-tuning epochs (default 2)")
    parser.add_argument("--ft-batch-size", type=int, default=32, help="fine-tuning batch size (default 32)")
    parser.add_argument("--ft-lr", type=float, default=3e-5, help="fine-tuning learning rate (default 3e-5)")


def results_name(args: argparse.Namespace) -> str:
    """``retrieval`` for SciFact with the defaults (``--rerank`` only adds a row); other data or settings add a suffix."""
    from aieng.bench.record import scoped_name

    return scoped_name("retrieval", args, {
        "dataset": "scifact", "beir_dir": None, "split": "test", "methods": ",".join(METHODS), "max_queries": None,
        "batch_size": 64, "rate_sample": 1000, "candidates": 100, "alpha": 0.5, "rrf_c": 60.0, "query_threads": 1,
        "model": None, "reuse_embeddings": False, "ft_epochs": 2, "ft_batch_size": 32, "ft_lr": 3e-5})


def _progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _latencies(fn: Any, queries: list[str]) -> tuple[list[Any], np.ndarray]:
    for q in queries[:3]:  # warm-up
        fn(q)
    results, times = [], []
    for q in queries:
        t0 = time.perf_counter()
        results.append(fn(q))
        times.append(time.perf_counter() - t0)
    return results, np.array(times) * 1000


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from aieng.data import load_beir
    from aieng.retrieval import (
        BM25Retriever,
        DenseRetriever,
        HybridRetriever,
        evaluate,
        run_from_hits,
    )
    from aieng.retrieval.embed import load_embedder

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise ValueError(f"unknown method(s) {bad}; choose from {METHODS}")
    source = args.beir_dir if args.beir_dir else args.dataset
    data = load_beir(source, split=args.split)
    name = data.name
    qids = list(data.queries)[: args.max_queries] if args.max_queries else list(data.queries)
    if not qids:
        raise ValueError(f"{source}: no judged queries in qrels/{args.split}.tsv")
    queries = [data.queries[q] for q in qids]
    qrels = {q: data.qrels[q] for q in qids}
    ids = list(data.corpus)
    texts = [data.doc_text(i) for i in ids]
    _progress(f"{name}: {len(ids):,} documents, {len(qids):,} queries; threads={torch.get_num_threads()}")
    out: dict[str, Any] = {"dataset": name, "n_docs": len(ids), "n_queries": len(qids), "methods": {},
                           "build_threads": torch.get_num_threads()}
    k_eval = 100
    built: dict[str, Any] = {}
    build_s: dict[str, float] = {}
    if "bm25" in methods or "hybrid" in methods:
        t0 = time.perf_counter()
        built["bm25"] = BM25Retriever().index(ids, texts)
        build_s["bm25"] = time.perf_counter() - t0
        _progress(f"bm25 index built in {build_s['bm25']:.1f} s")
    if "dense" in methods or "hybrid" in methods:
        embedder = load_embedder(args.model)
        rng = np.random.default_rng(0)
        sample = [texts[i] for i in rng.choice(len(texts), min(args.rate_sample, len(texts)), replace=False)]
        embedder.encode(sample[:32], batch_size=args.batch_size)  # warm-up
        t0 = time.perf_counter()
        embedder.encode(sample, batch_size=args.batch_size, show_progress=False)
        raw_rate = len(sample) / (time.perf_counter() - t0)
        _progress(f"raw encode rate: {raw_rate:.1f} docs/s on {len(sample)} sampled documents; indexing the corpus...")
        vectors = None
        if args.reuse_embeddings:
            from aieng.retrieval import embed_cached

            vectors = embed_cached(embedder, texts, name=name, batch_size=args.batch_size)
            out["embeddings_reused"] = True
        t0 = time.perf_counter()
        built["dense"] = DenseRetriever(embedder, batch_size=args.batch_size).index(ids, texts, vectors=vectors)
        build_s["dense"] = time.perf_counter() - t0
        index_rate = len(ids) / build_s["dense"]
        out["device"] = str(embedder.model.device)
        out["embedding"] = {"model": embedder.name, "max_seq_length": int(embedder.model.max_seq_length),
                            "raw_docs_per_s": round(raw_rate, 1), "index_docs_per_s": round(index_rate, 1),
                            "index_over_raw": round(index_rate / raw_rate, 3)}
        if args.reuse_embeddings:  # the index was built from cached vectors: no indexing rate to compare
            out["embedding"].update(index_docs_per_s=None, index_over_raw=None)
        _progress(f"dense index built in {build_s['dense']:.1f} s ({index_rate:.1f} docs/s)")
    if "hybrid" in methods:
        built["hybrid"] = HybridRetriever(built["bm25"], built["dense"], fusion="zscore", alpha=args.alpha,
                                          candidates=args.candidates)
        built["hybrid_rrf"] = HybridRetriever(built["bm25"], built["dense"], fusion="rrf", c=args.rrf_c,
                                              candidates=args.candidates)
        build_s["hybrid"] = build_s["hybrid_rrf"] = build_s["bm25"] + build_s["dense"]
        out["hybrid_config"] = {"fusion": "zscore", "alpha": args.alpha, "candidates": args.candidates}
    import faiss

    threads, faiss_threads = torch.get_num_threads(), faiss.omp_get_max_threads()
    torch.set_num_threads(max(1, args.query_threads))
    faiss.omp_set_num_threads(max(1, args.query_threads))
    out["query_threads"] = torch.get_num_threads()
    try:
        for m in [*methods, *(["hybrid_rrf"] if "hybrid" in methods else [])]:
            retriever = built[m]
            hits, ms = _latencies(lambda q, r=retriever: r.search(q, k=k_eval), queries)
            scores = evaluate(qrels, run_from_hits(qids, hits), ("ndcg_cut_10", "recall_100"))
            row = {"ndcg@10": round(scores["ndcg_cut_10"], 4), "recall@100": round(scores["recall_100"], 4),
                   "build_s": round(build_s[m], 2), "p50_ms": round(float(np.percentile(ms, 50)), 2),
                   "p95_ms": round(float(np.percentile(ms, 95)), 2)}
            if m == "hybrid_rrf":
                out["variants"] = {"hybrid_rrf": {**row, "c": args.rrf_c}}
            else:
                out["methods"][m] = row
            _progress(f"{m}: {row}")
        if "dense" in built:
            _, ms = _latencies(lambda q: built["dense"].embed_query(q), queries)
            out["query_embed_p50_ms"] = round(float(np.percentile(ms, 50)), 2)
            out["query_embed_p95_ms"] = round(float(np.percentile(ms, 95)), 2)
    finally:
        torch.set_num_threads(threads)
        faiss.omp_set_num_threads(faiss_threads)
    if args.rerank:
        out["methods"]["reranked"] = _rerank(args, source, data, built, qids, queries, qrels)
    if args.finetune:
        rows, out["finetune"] = _finetune(args, source, data, built, qids, queries, qrels)
        out["methods"].update(rows)
    if hasattr(os, "getloadavg"):
        out["load_average_1min"] = round(os.getloadavg()[0], 2)
    if name in PUBLISHED and not args.max_queries:
        out["published"] = PUBLISHED[name]
    return out


def _rerank(args: argparse.Namespace, source: str, data: Any, built: dict[str, Any], qids: list[str],
            queries: list[str], qrels: dict[str, dict[str, int]]) -> dict[str, Any]:
    """nDCG@10 and recall@100 of the learned re-ranker, fitted on the train split only."""
    from aieng.data import load_beir
    from aieng.retrieval import evaluate, run_from_hits
    from aieng.retrieval.rerank import LearnedReranker

    if "hybrid" not in built:
        raise ValueError("--rerank re-orders the hybrid candidates: include hybrid in --methods")
    train = load_beir(source, split="train")
    train_q = [q for q in train.qrels if q in train.queries]
    embedder = built["dense"].embedder
    t0 = time.perf_counter()
    reranker = LearnedReranker(built["hybrid"], {i: data.doc_text(i) for i in data.corpus},
                               {i: data.corpus[i].get("title", "") for i in data.corpus})
    reranker.fit([train.queries[q] for q in train_q], [train.qrels[q] for q in train_q],
                 vectors=embedder.encode([train.queries[q] for q in train_q], batch_size=args.batch_size))
    fit_s = time.perf_counter() - t0
    hits = reranker.search_batch(queries, 100, vectors=embedder.encode(queries, batch_size=args.batch_size))
    scores = evaluate(qrels, run_from_hits(qids, hits), ("ndcg_cut_10", "recall_100"))
    row = {"ndcg@10": round(scores["ndcg_cut_10"], 4), "recall@100": round(scores["recall_100"], 4),
           "fit_s": round(fit_s, 2), "train_queries": len(train_q),
           "weights": {k: round(v, 3) for k, v in reranker.weights.items()}}
    _progress(f"reranked: {row}")
    return row


def _finetune(args: argparse.Namespace, source: str, data: Any, built: dict[str, Any], qids: list[str],
              queries: list[str], qrels: dict[str, dict[str, int]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The embedder fine-tuned on the train split, scored alone, fused with BM25, and (--rerank) re-ranked."""
    from aieng.data import load_beir
    from aieng.retrieval import DenseRetriever, HybridRetriever, evaluate, run_from_hits
    from aieng.retrieval.finetune import fine_tune, hard_negative_triplets
    from aieng.retrieval.rerank import LearnedReranker

    if "hybrid" not in built:
        raise ValueError("--finetune fuses the fine-tuned dense side with BM25: include hybrid in --methods")
    train = load_beir(source, split="train")
    ids = list(data.corpus)
    texts = {i: data.doc_text(i) for i in ids}
    base = built["dense"].embedder
    triplets = hard_negative_triplets(built["bm25"], train.queries, train.qrels, texts, depth=20, seed=0)
    _progress(f"fine-tuning {base.name} on {len(triplets)} train triplets (query, judged abstract, BM25 hard negative)")
    t0 = time.perf_counter()
    tuned = fine_tune(base, triplets, epochs=args.ft_epochs, batch_size=args.ft_batch_size, lr=args.ft_lr,
                      max_seq_length=int(base.model.max_seq_length), seed=0)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    dense = DenseRetriever(tuned, batch_size=args.batch_size).index(ids, [texts[i] for i in ids])
    embed_s = time.perf_counter() - t0
    hybrid = HybridRetriever(built["bm25"], dense, fusion="zscore", alpha=args.alpha, candidates=args.candidates)
    Q = tuned.encode(queries, batch_size=args.batch_size)
    runs = {"dense_ft": [dense.store.search(v, 100) for v in Q],
            "hybrid_ft": [hybrid.search(q, k=100) for q in queries]}
    if args.rerank:
        train_q = [q for q in train.qrels if q in train.queries]
        reranker = LearnedReranker(hybrid, texts, {i: data.corpus[i].get("title", "") for i in ids})
        reranker.fit([train.queries[q] for q in train_q], [train.qrels[q] for q in train_q],
                     vectors=tuned.encode([train.queries[q] for q in train_q], batch_size=args.batch_size))
        runs["reranked_ft"] = reranker.search_batch(queries, 100, vectors=Q)
    rows = {}
    for name, hits in runs.items():
        scores = evaluate(qrels, run_from_hits(qids, hits), ("ndcg_cut_10", "recall_100"))
        rows[name] = {"ndcg@10": round(scores["ndcg_cut_10"], 4), "recall@100": round(scores["recall_100"], 4)}
        _progress(f"{name}: {rows[name]}")
    info = {"triplets": len(triplets), "train_queries": len({t[0] for t in triplets}), "epochs": args.ft_epochs,
            "batch_size": args.ft_batch_size, "lr": args.ft_lr, "max_seq_length": int(base.model.max_seq_length),
            "hard_negative_depth": 20, "steps": len(tuned.losses), "first_loss": round(tuned.losses[0], 4),
            "last_loss": round(float(np.mean(tuned.losses[-10:])), 4), "train_s": round(train_s, 1),
            "embed_s": round(embed_s, 1)}
    return rows, info


def format_table(result: dict[str, Any]) -> str:
    """The figures as a fixed-width table."""
    lines = [f"{result['dataset']}: {result['n_docs']:,} docs, {result['n_queries']:,} queries "
             f"(indexes built with {result.get('build_threads')} torch threads)",
             f"{'method':8s} {'nDCG@10':>8s} {'R@100':>7s} {'build s':>8s} {'p50 ms':>7s} {'p95 ms':>7s}  published nDCG@10"]
    pub = result.get("published", {})
    for m, row in result["methods"].items():
        if m in ("dense_ft", "hybrid_ft", "reranked_ft"):
            ft = result.get("finetune", {})
            lines.append(f"{m:8s} {row['ndcg@10']:8.4f} {row['recall@100']:7.4f}  (embedder fine-tuned on "
                         f"{ft.get('train_queries')} train queries, {ft.get('epochs')} epochs, {ft.get('train_s')} s)")
            continue
        if m == "reranked":
            lines.append(f"{m:8s} {row['ndcg@10']:8.4f} {row['recall@100']:7.4f} {row['fit_s']:8.2f}  (learned "
                         f"re-ranker over the hybrid candidates, fitted on {row['train_queries']} train queries)")
            continue
        ref = pub.get(m, {}).get("ndcg@10")
        lines.append(f"{m:8s} {row['ndcg@10']:8.4f} {row['recall@100']:7.4f} {row['build_s']:8.2f} "
                     f"{row['p50_ms']:7.2f} {row['p95_ms']:7.2f}  {'' if ref is None else ref}")
    for m, row in result.get("variants", {}).items():
        lines.append(f"{m:8s} {row['ndcg@10']:8.4f} {row['recall@100']:7.4f} {row['build_s']:8.2f} "
                     f"{row['p50_ms']:7.2f} {row['p95_ms']:7.2f}  (reciprocal-rank fusion, c={row['c']:g})")
    if "hybrid_config" in result:
        lines.append(f"hybrid = z-score fusion, alpha={result['hybrid_config']['alpha']} (BM25 weight, tuned on the train split)")
    if "query_embed_p50_ms" in result:
        lines.append(f"query embedding alone: p50 {result['query_embed_p50_ms']} ms, p95 {result['query_embed_p95_ms']} ms")
    if result.get("embeddings_reused"):
        lines.append("NOTE: corpus embeddings were reused from the cache; dense/hybrid build_s exclude embedding")
    lines.append(f"latency: one query at a time, query embedding included, {result.get('query_threads')} torch "
                 f"thread(s) for torch and FAISS; 1-min load average at the end: {result.get('load_average_1min')}")
    if "embedding" in result:
        e = result["embedding"]
        rate = ("indexing not measured (embeddings reused)" if e["index_over_raw"] is None else
                f"indexing {e['index_docs_per_s']} docs/s ({e['index_over_raw']:.2f}x raw)")
        lines.append(f"embedding ({e['model']}, max_seq_length {e['max_seq_length']}): raw encode "
                     f"{e['raw_docs_per_s']} docs/s, {rate}")
    return "\n".join(lines)
