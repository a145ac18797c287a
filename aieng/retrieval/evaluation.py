"""Retrieval evaluation: runs in the BEIR/TREC format, scored with ``pytrec_eval``.

Taught in Month 8 (chapters/08-embeddings-and-rag).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from aieng.retrieval.base import Hit

__all__ = ['run_from_hits', 'evaluate']


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
