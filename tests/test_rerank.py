"""Unit tests of aieng.retrieval.rerank (Month 8): features, fitting on train queries, re-ordering."""

from __future__ import annotations

import numpy as np
import pytest

from _doubles import HashEmbedder
from aieng.retrieval import BM25Retriever, HybridRetriever
from aieng.retrieval.rerank import FEATURES, LearnedReranker, query_coverage

TOPICS = ["aspirin fever", "insulin diabetes", "statin cholesterol", "vaccine measles", "tumour growth",
          "malaria parasite", "sleep memory", "coffee heart", "smoking lung", "exercise mood"]


def _corpus():
    """Each topic has one relevant abstract (the topic in its title) and a decoy (the topic words, repeated,
    only in its text, under an unrelated title): BM25 and cosine prefer the decoy, the title knows better."""
    ids, texts, titles = [], [], {}
    for n, topic in enumerate(TOPICS):
        for kind, title, body in [("rel", f"{topic} trial", f"study of {topic.split()[0]} in patients"),
                                  ("decoy", "unrelated survey", f"{topic} {topic} {topic} mentioned")]:
            ids.append(f"{kind}{n}")
            titles[ids[-1]] = title
            texts.append(f"{title} {body}")
    return ids, texts, titles


@pytest.fixture(scope="module")
def setup():
    ids, texts, titles = _corpus()
    hybrid = HybridRetriever(embedder=HashEmbedder()).index(ids, texts)
    return hybrid, dict(zip(ids, texts)), titles


def test_query_coverage_weights_by_idf():
    assert query_coverage(["cell", "divid"], {"cell"}, {"cell": 1.0, "divid": 3.0}) == 0.25
    assert query_coverage(["cell"], set(), {"cell": 1.0}) == 0.0
    assert query_coverage(["unknown"], {"unknown"}, {}) == 0.0


def test_features_columns(setup):
    hybrid, texts, titles = setup
    reranker = LearnedReranker(hybrid, texts, titles, candidates=5)
    ids, X = reranker.features("aspirin fever")
    assert X.shape == (len(ids), len(FEATURES)) and len(set(ids)) == len(ids)
    col = dict(zip(FEATURES, X.T))
    row = {i: r for r, i in enumerate(ids)}
    assert col["title_coverage"][row["rel0"]] == 1.0 and col["title_coverage"][row["decoy0"]] == 0.0
    assert col["coverage"][row["rel0"]] == 1.0
    np.testing.assert_allclose(col["bm25"], hybrid.bm25.score_ids(hybrid.bm25.scores("aspirin fever"), ids),
                               rtol=1e-6)
    assert abs(col["bm25_z"].mean()) < 1e-9 and abs(col["dense_z"].mean()) < 1e-9
    assert col["bm25_rank"].min() == 0.0  # log(rank 1)


def test_fit_learns_the_title_signal_and_generalises(setup):
    hybrid, texts, titles = setup
    train = list(range(6))
    held_out = list(range(6, 10))
    first = [hybrid.search(TOPICS[n], k=1)[0].id for n in held_out]
    assert all(i.startswith("decoy") for i in first), first  # the first stage is fooled on new topics
    reranker = LearnedReranker(hybrid, texts, titles).fit([TOPICS[n] for n in train],
                                                          [{f"rel{n}": 1} for n in train])
    assert reranker.weights["title_coverage"] > 0
    hits = reranker.search_batch([TOPICS[n] for n in held_out], k=3)
    assert [h[0].id for h in hits] == [f"rel{n}" for n in held_out]
    assert all(a.score >= b.score for h in hits for a, b in zip(h, h[1:]))


def test_errors(setup):
    hybrid, texts, titles = setup
    with pytest.raises(TypeError):
        LearnedReranker(BM25Retriever())
    reranker = LearnedReranker(hybrid, texts, titles)
    with pytest.raises(ValueError, match="fit"):
        reranker.search("aspirin")
    with pytest.raises(ValueError, match="fit"):
        reranker.weights
    with pytest.raises(ValueError, match="judgements"):
        reranker.fit(["aspirin"], [])
    with pytest.raises(ValueError, match="both"):
        reranker.fit(["aspirin fever"], [{}])
    with pytest.raises(ValueError):
        reranker.search("   ")
