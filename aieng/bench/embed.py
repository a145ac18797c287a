"""Embedding throughput of the default embedder (Month 8 uses it to size indexing jobs)."""

from __future__ import annotations

import argparse
import time
from typing import Any

HELP = "sentences per second of the default embedder on a fixed set of sentences"
CHAPTER = "08-embeddings-and-rag"


def results_name(args: argparse.Namespace) -> str:
    from aieng.bench.record import scoped_name

    return scoped_name("embed", args, {"n": 2000, "batch_size": 64, "model": None})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n", type=int, default=2000, help="sentences to embed (default 2000)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--model", default=None, help="embedder name (default: the bundled all-MiniLM-L6-v2)")


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from aieng.retrieval.embed import load_embedder

    embedder = load_embedder(args.model)
    words = ("model data vector search answer question token layer agent memory tool plan retrieve "
             "embedding cosine attention python graph index query document").split()
    sentences = [" ".join(words[(i * 7 + j * 3) % len(words)] for j in range(8 + i % 9)) for i in range(args.n)]
    embedder.encode(sentences[:64], batch_size=args.batch_size)  # warm-up
    t0 = time.perf_counter()
    X = embedder.encode(sentences, batch_size=args.batch_size, show_progress=False)
    seconds = time.perf_counter() - t0
    return {"model": embedder.name, "n": len(sentences), "dim": int(X.shape[1]), "seconds": round(seconds, 3),
            "sentences_per_s": round(len(sentences) / seconds, 1), "threads": torch.get_num_threads(),
            "device": str(embedder.model.device)}
