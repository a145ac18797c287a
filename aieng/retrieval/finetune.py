"""Fine-tuning an embedder on judged pairs: the in-batch-negatives loss, on real data.

For Month 8 (chapters/08-embeddings-and-rag). Its notebook 1 derives the contrastive loss (InfoNCE,
sentence-transformers' ``MultipleNegativesRankingLoss``) and trains a toy embedder with it; here the same
loss fine-tunes MiniLM on a retrieval set's *train* queries, each with its judged abstract and one hard
negative, an abstract that BM25 ranks high but the judges did not mark relevant. The retrieval bench runs
it (``python -m aieng.bench retrieval --rerank --finetune``), and the chapter reads its figures.

>>> triplets = hard_negative_triplets(bm25, train.queries, train.qrels, texts)
>>> tuned = fine_tune(load_embedder(), triplets)      # a new Embedder; the original is left as it was
"""

from __future__ import annotations

import copy
import random
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["fine_tune", "hard_negative_triplets", "in_batch_loss"]


def in_batch_loss(queries: Any, documents: Any, scale: float = 20.0) -> Any:
    """The in-batch-negatives loss of ``B`` queries against ``M >= B`` documents.

    Row ``i`` of ``documents`` is query ``i``'s positive; every other row (the other queries' positives,
    and any hard negatives appended after the first ``B`` rows) is a negative. Both are L2-normalised
    here, so the logits are ``scale`` times cosines; the loss is the cross-entropy of picking row ``i``.

    Parameters
    ----------
    queries
        ``(B, dim)`` tensor.
    documents
        ``(M, dim)`` tensor, ``M >= B``.
    scale
        The inverse temperature (20, sentence-transformers' default).
    """
    import torch
    import torch.nn.functional as F

    if queries.ndim != 2 or documents.ndim != 2 or queries.shape[1] != documents.shape[1]:
        raise ValueError(f"need (B, dim) queries and (M, dim) documents, got {tuple(queries.shape)} and "
                         f"{tuple(documents.shape)}")
    if len(documents) < len(queries):
        raise ValueError(f"{len(queries)} queries but only {len(documents)} documents: each query needs its positive")
    logits = scale * F.normalize(queries, dim=-1) @ F.normalize(documents, dim=-1).T
    return F.cross_entropy(logits, torch.arange(len(queries), device=logits.device))


def hard_negative_triplets(retriever: Any, queries: Mapping[str, str], qrels: Mapping[str, Mapping[str, int]],
                           texts: Mapping[str, str], *, depth: int = 20, seed: int = 0) -> list[tuple[str, str, str]]:
    """``(query, positive, hard negative)`` texts, one triplet per judged relevant document.

    The negative is drawn (seeded) from the ``retriever``'s top ``depth`` hits for the query that the
    judgements do not mark relevant. Queries without judgements are skipped, and so are queries whose
    top hits are all relevant.

    Parameters
    ----------
    retriever
        Anything with ``search(query, k)`` returning hits with an ``id`` (BM25 gives lexically close,
        hence hard, negatives).
    queries, qrels
        Query id to text, and query id to ``{doc_id: relevance}``: a *train* split, never the test one.
    texts
        Document id to text.
    """
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    rng = random.Random(seed)
    out = []
    for qid, rel in qrels.items():
        if qid not in queries:
            continue
        positives = [d for d, r in rel.items() if r > 0]
        missing = [d for d in positives if d not in texts]
        if missing:
            raise KeyError(f"query {qid!r}: judged document(s) {missing[:3]} are not in the corpus")
        negatives = [h.id for h in retriever.search(queries[qid], depth) if rel.get(h.id, 0) <= 0]
        if not positives or not negatives:
            continue
        out.extend((queries[qid], texts[d], texts[rng.choice(negatives)]) for d in positives)
    return out


def fine_tune(embedder: Any, triplets: Sequence[tuple[str, str, str]], *, epochs: int = 2, batch_size: int = 32,
              lr: float = 3e-5, warmup: float = 0.1, max_seq_length: int = 256, scale: float = 20.0, seed: int = 0,
              progress: bool = True) -> Any:
    """A copy of ``embedder`` fine-tuned with :func:`in_batch_loss` on ``triplets``.

    Each step embeds ``batch_size`` queries against their positives and hard negatives (``2 * batch_size``
    documents), so every query has ``2 * batch_size - 1`` negatives. AdamW, linear warm-up over the first
    ``warmup`` share of the steps, then linear decay to zero. Seeded; the original embedder is not changed.

    Returns
    -------
    Embedder
        The fine-tuned copy, named ``<name>+ft``, in evaluation mode; its ``losses`` attribute holds the
        loss of every step.
    """
    import torch
    from tqdm.auto import tqdm

    from aieng.retrieval.embed import Embedder

    if not triplets:
        raise ValueError("no training triplets: fine-tuning needs (query, positive, negative) texts")
    if batch_size < 2:
        raise ValueError(f"batch_size must be >= 2 (in-batch negatives need a batch), got {batch_size}")
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    torch.manual_seed(seed)
    rng = random.Random(seed)
    model = copy.deepcopy(embedder.model)
    model.max_seq_length = max_seq_length
    per_epoch = (len(triplets) + batch_size - 1) // batch_size
    steps = epochs * per_epoch
    warm = max(1, int(round(warmup * steps)))
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else max(0.0, (steps - s) / max(1, steps - warm)))

    def embed(batch: list[str]) -> Any:
        features = model.preprocess(batch) if hasattr(model, "preprocess") else model.tokenize(batch)
        features = {k: v.to(model.device) if hasattr(v, "to") else v for k, v in features.items()}
        return model(features)["sentence_embedding"]

    order = list(triplets)
    model.train()
    bar = tqdm(total=steps, desc="fine-tune", disable=not progress)
    losses = []
    for _ in range(epochs):
        rng.shuffle(order)
        for i in range(0, len(order), batch_size):
            batch = order[i:i + batch_size]
            if len(batch) < 2:
                continue
            q = embed([t[0] for t in batch])
            d = embed([t[1] for t in batch] + [t[2] for t in batch])
            loss = in_batch_loss(q, d, scale)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
            bar.set_postfix(loss=f"{np.mean(losses[-10:]):.3f}")
            bar.update()
    bar.close()
    model.eval()
    tuned = Embedder(model, f"{embedder.name}+ft")
    tuned.losses = losses
    return tuned
