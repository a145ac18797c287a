"""Every Month 8 exercise accepts a reference answer and rejects a wrong one."""

from __future__ import annotations

import ast
import math
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from aieng.book import CheckFailed, check
from aieng.retrieval.corpora import markdown_sections


def merge_pooled(a, n_a, b, n_b):
    v = (n_a * a + n_b * b) / (n_a + n_b)
    return v / np.linalg.norm(v)


def symmetric_info_nce(q, d, scale=20.0):
    logits = scale * F.normalize(q, dim=1) @ F.normalize(d, dim=1).T
    target = torch.arange(len(q))
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def one_way_info_nce(q, d, scale=20.0):
    logits = scale * F.normalize(q, dim=1) @ F.normalize(d, dim=1).T
    return F.cross_entropy(logits, torch.arange(len(q)))


def train_toy(train_pairs, num_steps, batch_size=8, lr=0.05, d_model=16, seed=0):
    """The notebook's toy trainer: word vectors, mean pooling, in-batch negatives."""
    torch.manual_seed(seed)
    vocab = sorted({w for pair in train_pairs for text in pair for w in text.split()})
    index = {w: i for i, w in enumerate(vocab)}
    bag = torch.nn.EmbeddingBag(len(vocab), d_model, mode="mean")

    def encode(texts):
        ids = [torch.tensor([index[w] for w in t.split()]) for t in texts]
        offsets = torch.tensor([0] + [len(i) for i in ids[:-1]]).cumsum(dim=0)
        return F.normalize(bag(torch.cat(ids), offsets), dim=1)

    opt = torch.optim.Adam(bag.parameters(), lr=lr)
    order = torch.Generator().manual_seed(seed)
    for _ in range(num_steps):
        batch = torch.randperm(len(train_pairs), generator=order)[:batch_size]
        qs, ds = zip(*[train_pairs[i] for i in batch])
        loss = one_way_info_nce(encode(list(qs)), encode(list(ds)))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return encode


def fast_train(train_pairs, num_steps):
    return train_toy(train_pairs, num_steps, batch_size=len(train_pairs), lr=0.2, d_model=32)


def similarities_per_query(ivf, Q, nprobe):
    sizes = np.array([len(members) for members in ivf.lists])
    probes = np.argsort(-(Q @ ivf.centroids.T), axis=1)[:, :nprobe]
    return float(len(ivf.lists) + sizes[probes].sum(axis=1).mean())


def nearest(q, X, k):
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    return [int(i) for i in np.argsort(-(Xn @ (q / np.linalg.norm(q))), kind="stable")[:k]]


def recall(found, exact):
    k = exact.shape[1]
    return float(np.mean([len(set(f) & set(e)) / k for f, e in zip(found.tolist(), exact.tolist())]))


def filter_rows(metadata, where):
    return [i for i, m in enumerate(metadata) if all(k in m and m[k] == v for k, v in where.items())]


def rrf(rankings, c=60):
    scores = {}
    for ranking in rankings:
        for rank, d in enumerate(ranking, 1):
            scores[d] = scores.get(d, 0.0) + 1 / (c + rank)
    return sorted(scores, key=lambda d: -scores[d])


def ndcg_graded(ranked, grades, k):
    def dcg(gains):
        return sum((2 ** g - 1) / math.log2(r + 1) for r, g in enumerate(gains[:k], 1))
    ideal = dcg(sorted(grades.values(), reverse=True))
    return dcg([grades.get(d, 0) for d in ranked]) / ideal if ideal > 0 else 0.0


def _fusion_data():
    """One relevant candidate far ahead on BM25, middling on cosine; a distractor first on cosine by a hair."""
    b = np.array([100.0, 19.0] + list(np.linspace(1, 18, 18)))
    d = np.array([0.30, 0.52] + list(np.linspace(0.31, 0.51, 18)))
    return [(b, d, np.arange(20) == 0, 1)] * 5


def _z(x):
    return (x - x.mean()) / (x.std() + 1e-9)


def symbol_text(s):
    words = re.sub(r"([a-z])([A-Z])", r"\1 \2", s.id).replace("_", " ").replace(".", " ")
    return f"{words} {s.text.replace('_', ' ')}"


def macro_f1(y, y_hat, labels):
    f1s = []
    for label in labels:
        tp = sum(a == b == label for a, b in zip(y, y_hat))
        pred, true = sum(b == label for b in y_hat), sum(a == label for a in y)
        p = tp / pred if pred else 0.0
        r = tp / true if true else 0.0
        f1s.append(2 * p * r / (p + r) if p + r else 0.0)
    return sum(f1s) / len(f1s)


def py_symbols(source):
    return [n.name for n in ast.parse(source).body
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]


CASES = {
    "08.merge-pooled": (merge_pooled, lambda a, n_a, b, n_b: (a + b) / np.linalg.norm(a + b)),
    "08.symmetric-info-nce": (symmetric_info_nce, one_way_info_nce),
    "08.fast-train": (fast_train, lambda train_pairs, num_steps: train_toy(train_pairs, num_steps)),
    "08.think-negatives": (63, 64),
    "08.think-scale": ("d", "c"),
    "08.nearest": (nearest, lambda q, X, k: [int(i) for i in np.argsort(-(X @ q))[:k]]),
    "08.recall": (recall, lambda found, exact: float(np.mean(found == exact))),
    "08.ivf-cost": (similarities_per_query,
                    lambda ivf, Q, nprobe: similarities_per_query(ivf, Q, nprobe) - len(ivf.lists)),
    "08.ivf-budget": ({"n_lists": 150, "nprobe": 8}, {"n_lists": 70, "nprobe": 8}),
    "08.think-hnsw-levels": (1_000_000 / 16**2, 1_000_000 / 16),
    "08.filter": (filter_rows, lambda metadata, where: [i for i, m in enumerate(metadata)
                                                        if any(m.get(k) == v for k, v in where.items())]),
    "08.rrf": (rrf, lambda rankings, c=60: sorted({d for r in rankings for d in r})),
    "08.ndcg-graded": (ndcg_graded, lambda ranked, grades, k: float(bool(set(ranked[:k]) & {d for d, g in grades.items() if g}))),
    "08.fusion": ((lambda b, d: _z(b) + _z(d), _fusion_data()),
                  (lambda b, d: 1 / (60 + np.argsort(np.argsort(-b))) + 1 / (60 + np.argsort(np.argsort(-d))), _fusion_data())),
    "08.think-fusion": ("a", "b"),
    "08.think-rerank": ("b", "a"),
    "08.think-citation": (0.0, 0.5),
    "08.code-passage": (symbol_text, lambda s: s.text),
    "08.think-reader": ("c", "a"),
    "08.macro-f1": (macro_f1, lambda y, y_hat, labels: sum(a == b for a, b in zip(y, y_hat)) / len(y)),
    "08.md-sections": (markdown_sections, lambda text: [("", text)]),
    "08.py-symbols": (py_symbols, lambda source: [n.name for n in ast.walk(ast.parse(source))
                                                  if isinstance(n, (ast.FunctionDef, ast.ClassDef))]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_reference_passes_and_wrong_answer_fails(name):
    right, wrong = CASES[name]
    assert check(name, right, strict=True, quiet=True)
    with pytest.raises(CheckFailed):
        check(name, wrong, strict=True, quiet=True)


def test_every_ch08_exercise_is_covered():
    from aieng.book import registry

    assert {n for n in registry() if n.startswith("08.")} == set(CASES)
