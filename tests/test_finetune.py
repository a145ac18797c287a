"""Unit tests of aieng.retrieval.finetune (Month 8): the in-batch loss against sentence-transformers', hard
negatives from BM25, a fine-tuning run that lowers the loss and leaves the original model alone, and the
retrieval bench's --finetune on a tiny BEIR folder."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from aieng.retrieval import BM25Retriever
from aieng.retrieval.finetune import fine_tune, hard_negative_triplets, in_batch_loss
from tests.test_retrieval import DOCS as RETRIEVAL_DOCS

DOCS = {  # test_retrieval's toy documents, and two more for the train queries below
    **RETRIEVAL_DOCS,
    "d7": "Central banks raise interest rates to fight inflation.",
    "d8": "Electrons behave as waves in the double-slit experiment.",
}
QUERIES = {"t1": "a young dog", "t2": "particles and waves", "t3": "cats sleeping", "t4": "interest rates"}
QRELS = {"t1": {"d4": 1}, "t2": {"d3": 1, "d8": 1}, "t3": {"d6": 1}, "t4": {"d7": 1}}


@pytest.fixture(scope="module")
def embedder():
    from aieng.retrieval.embed import load_embedder

    return load_embedder()


@pytest.fixture(scope="module")
def bm25():
    return BM25Retriever().index(list(DOCS), list(DOCS.values()))


def test_in_batch_loss_equals_sentence_transformers_with_hard_negatives(embedder):
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    gen = torch.Generator().manual_seed(0)
    q = torch.randn(6, 16, generator=gen) * torch.rand(6, 1, generator=gen) * 4  # rows of assorted lengths
    pos, neg = torch.randn(6, 16, generator=gen), torch.randn(6, 16, generator=gen)
    ref = MultipleNegativesRankingLoss(embedder.model).compute_loss_from_embeddings([q, pos, neg], None)
    ours = in_batch_loss(q, torch.cat([pos, neg]))
    torch.testing.assert_close(ours, ref, atol=1e-6, rtol=0)
    # the hard negatives count: a loss that dropped them would be lower, and differ from the library's
    assert float(in_batch_loss(q, pos)) < float(ref) - 1e-3
    # and row i must be query i's positive: a shuffled pairing changes the loss
    assert abs(float(in_batch_loss(q, torch.cat([pos.roll(1, 0), neg]))) - float(ref)) > 1e-3


def test_in_batch_loss_rejects_bad_shapes():
    with pytest.raises(ValueError, match="positive"):
        in_batch_loss(torch.zeros(4, 8), torch.zeros(3, 8))
    with pytest.raises(ValueError, match="dim"):
        in_batch_loss(torch.zeros(4, 8), torch.zeros(4, 9))


def test_hard_negatives_are_never_judged_relevant_and_come_from_the_retriever(bm25):
    triplets = hard_negative_triplets(bm25, QUERIES, QRELS, DOCS, depth=3, seed=0)
    # one triplet per judged pair; t2's hits (d3, d8) are all judged relevant, so it has no negative to give
    assert {h.id for h in bm25.search(QUERIES["t2"], 3)} <= set(QRELS["t2"])
    assert sorted(t[0] for t in triplets) == sorted(QUERIES[q] for q in ("t1", "t3", "t4"))
    by_text = {t: i for i, t in DOCS.items()}
    for query, positive, negative in triplets:
        qid = next(k for k, v in QUERIES.items() if v == query)
        assert QRELS[qid].get(by_text[positive]) == 1
        assert by_text[negative] not in QRELS[qid]
        assert by_text[negative] in {h.id for h in bm25.search(query, 3)}
    assert hard_negative_triplets(bm25, QUERIES, QRELS, DOCS, depth=3, seed=0) == triplets  # seeded


def test_hard_negatives_bad_input(bm25):
    with pytest.raises(KeyError, match="d99"):
        hard_negative_triplets(bm25, QUERIES, {"t1": {"d99": 1}}, DOCS)
    with pytest.raises(ValueError, match="depth"):
        hard_negative_triplets(bm25, QUERIES, QRELS, DOCS, depth=0)
    # a query without text, or whose top hits are all relevant, gives no triplet
    assert hard_negative_triplets(bm25, {}, QRELS, DOCS) == []


def test_fine_tune_lowers_the_loss_and_leaves_the_original_alone(embedder, bm25):
    triplets = hard_negative_triplets(bm25, QUERIES, QRELS, DOCS, depth=3, seed=0)
    before = embedder.encode(list(DOCS.values()))

    def loss_of(e):
        with torch.no_grad():
            q = torch.from_numpy(e.encode([t[0] for t in triplets]))
            d = torch.from_numpy(e.encode([t[1] for t in triplets] + [t[2] for t in triplets]))
        return float(in_batch_loss(q, d))

    tuned = fine_tune(embedder, triplets, epochs=4, batch_size=3, lr=1e-4, max_seq_length=32, progress=False)
    assert tuned is not embedder and tuned.name == "all-MiniLM-L6-v2+ft" and len(tuned.losses) == 4
    assert loss_of(tuned) < loss_of(embedder) / 2  # the toy set starts easy (0.05); training must still halve it
    np.testing.assert_array_equal(embedder.encode(list(DOCS.values())), before)
    assert embedder.model.max_seq_length != 32


def test_fine_tune_bad_input(embedder):
    with pytest.raises(ValueError, match="no training triplets"):
        fine_tune(embedder, [])
    with pytest.raises(ValueError, match="batch_size"):
        fine_tune(embedder, [("q", "p", "n")], batch_size=1)
    with pytest.raises(ValueError, match="epochs"):
        fine_tune(embedder, [("q", "p", "n")], epochs=0)


def test_bench_finetune_trains_on_the_train_split_only(tmp_path, capsys):
    from aieng.bench import main

    folder = tmp_path / "tiny"
    (folder / "qrels").mkdir(parents=True)
    with open(folder / "corpus.jsonl", "w") as fh:
        for i, t in DOCS.items():
            fh.write(json.dumps({"_id": i, "title": "", "text": t}) + "\n")
    queries = {**QUERIES, "q1": "kitten", "q2": "finance and the economy"}
    with open(folder / "queries.jsonl", "w") as fh:
        for i, t in queries.items():
            fh.write(json.dumps({"_id": i, "text": t}) + "\n")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td6\t1\nq2\td5\t1\n")
    args = ["retrieval", "--beir-dir", str(folder), "--json", "--no-save", "--rate-sample", "6", "--finetune",
            "--rerank", "--ft-epochs", "1"]
    assert main(args) == 2
    assert "qrels/train.tsv" in capsys.readouterr().err, "no train split: a clear error, never a fit on test"
    (folder / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(
        f"{q}\t{d}\t1\n" for q, rel in QRELS.items() for d in rel))
    assert main(args) == 0
    figures = json.loads(capsys.readouterr().out)["figures"]
    assert {"dense_ft", "hybrid_ft", "reranked_ft"} <= set(figures["methods"])
    for name in ("dense_ft", "hybrid_ft", "reranked_ft"):
        assert 0 <= figures["methods"][name]["ndcg@10"] <= 1
    ft = figures["finetune"]
    assert ft["train_queries"] == 3 and ft["triplets"] == 3 and ft["steps"] == 1 and ft["epochs"] == 1
    assert main(["retrieval", "--beir-dir", str(folder), "--json", "--no-save", "--methods", "bm25,dense",
                 "--finetune"]) == 2
