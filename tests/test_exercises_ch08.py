"""Every Month 8 exercise accepts a reference answer and rejects a wrong one."""

from __future__ import annotations

import ast
import math

import numpy as np
import pytest

from aieng.book import CheckFailed, check


def cosine(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def l2_from_cosine(c):
    return math.sqrt(max(0.0, 2 - 2 * c))


def mean_pool(H, mask):
    m = mask[..., None].astype(float)
    return (H * m).sum(axis=1) / m.sum(axis=1)


def nearest(q, X, k):
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    return [int(i) for i in np.argsort(-(Xn @ (q / np.linalg.norm(q))), kind="stable")[:k]]


def recall(found, exact):
    k = exact.shape[1]
    return float(np.mean([len(set(f) & set(e)) / k for f, e in zip(found.tolist(), exact.tolist())]))


def assign(X, C):
    return np.argmax(X @ C.T, axis=1)


def filter_rows(metadata, where):
    return [i for i, m in enumerate(metadata) if all(k in m and m[k] == v for k, v in where.items())]


def idf(df, N):
    return math.log(1 + (N - df + 0.5) / (df + 0.5))


def rrf(rankings, c=60):
    scores = {}
    for ranking in rankings:
        for rank, d in enumerate(ranking, 1):
            scores[d] = scores.get(d, 0.0) + 1 / (c + rank)
    return sorted(scores, key=lambda d: -scores[d])


def ndcg(ranked, relevant, k):
    dcg = sum(1 / math.log2(r + 1) for r, d in enumerate(ranked[:k], 1) if d in relevant)
    ideal = sum(1 / math.log2(r + 1) for r in range(1, min(k, len(relevant)) + 1))
    return dcg / ideal


def macro_f1(y, y_hat, labels):
    f1s = []
    for label in labels:
        tp = sum(a == b == label for a, b in zip(y, y_hat))
        pred, true = sum(b == label for b in y_hat), sum(a == label for a in y)
        p = tp / pred if pred else 0.0
        r = tp / true if true else 0.0
        f1s.append(2 * p * r / (p + r) if p + r else 0.0)
    return sum(f1s) / len(f1s)


def md_sections(text):
    out, title, lines = [], "", []
    for line in text.splitlines():
        if line.startswith("#"):
            if "\n".join(lines).strip():
                out.append((title, "\n".join(lines).strip()))
            title, lines = line.lstrip("#").strip(), []
        else:
            lines.append(line)
    if "\n".join(lines).strip():
        out.append((title, "\n".join(lines).strip()))
    return out


def py_symbols(source):
    return [n.name for n in ast.parse(source).body
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]


CASES = {
    "08.cosine": (cosine, lambda a, b: float(a @ b)),
    "08.l2-from-cosine": (l2_from_cosine, lambda c: 2 - 2 * c),
    "08.mean-pool": (mean_pool, lambda H, mask: H.mean(axis=1)),
    "08.nearest": (nearest, lambda q, X, k: [int(i) for i in np.argsort(-(X @ q))[:k]]),
    "08.recall": (recall, lambda found, exact: float(np.mean(found == exact))),
    "08.assign": (assign, lambda X, C: np.argmin(X @ C.T, axis=1)),
    "08.filter": (filter_rows, lambda metadata, where: [i for i, m in enumerate(metadata)
                                                        if any(m.get(k) == v for k, v in where.items())]),
    "08.idf": (idf, lambda df, N: math.log(N / df)),
    "08.rrf": (rrf, lambda rankings, c=60: sorted({d for r in rankings for d in r})),
    "08.ndcg": (ndcg, lambda ranked, relevant, k: sum(d in relevant for d in ranked[:k]) / len(relevant)),
    "08.macro-f1": (macro_f1, lambda y, y_hat, labels: sum(a == b for a, b in zip(y, y_hat)) / len(y)),
    "08.md-sections": (md_sections, lambda text: [("", text)]),
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
