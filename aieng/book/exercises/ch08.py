"""Exercises of Month 8: embeddings, vector search and RAG (chapters/08-embeddings-and-rag)."""

from __future__ import annotations

import math

import numpy as np

from aieng.book.cases import Case, exercise

# ----------------------------------------------------------------------------- 01 embeddings


@exercise("08.cosine", hint="Divide the dot product a @ b by the product of the norms np.linalg.norm(a) * np.linalg.norm(b).")
def _cosine():
    return [
        Case((np.array([1.0, 0.0]), np.array([0.0, 1.0])), expected=0.0),
        Case((np.array([1.0, 2.0]), np.array([2.0, 4.0])), expected=1.0),
        Case((np.array([3.0, 4.0]), np.array([-3.0, -4.0])), expected=-1.0),
        Case((np.array([1.0, 1.0, 0.0]), np.array([10.0, 0.0, 0.0])), expected=1 / math.sqrt(2)),
    ]


@exercise("08.l2-from-cosine",
          hint="For unit vectors |a - b|^2 = |a|^2 + |b|^2 - 2 a.b = 2 - 2 cos; take the square root.")
def _l2_from_cosine():
    return [Case((1.0,), expected=0.0), Case((0.0,), expected=math.sqrt(2)), Case((-1.0,), expected=2.0),
            Case((0.5,), expected=1.0)]


def _mean_pool_cases():
    rng = np.random.default_rng(3)
    H = rng.normal(size=(2, 4, 3))
    mask = np.array([[1, 1, 0, 0], [1, 1, 1, 1]])
    expected = np.stack([H[0, :2].mean(axis=0), H[1].mean(axis=0)])
    return [Case((H, mask), expected=expected),
            Case((np.ones((1, 3, 2)) * np.array([[[1.0], [3.0], [100.0]]]), np.array([[1, 1, 0]])),
                 expected=np.array([[2.0, 2.0]]))]


exercise("08.mean-pool", hint="Multiply H by mask[..., None], sum over axis 1, divide by mask.sum(axis=1)[:, None]: "
         "padding tokens must not count.")(_mean_pool_cases)


def _nearest_cases():
    X = np.array([[10.0, 0.0], [0.6, 0.8], [0.0, 1.0], [-1.0, 0.0]])
    return [Case((np.array([1.0, 1.2]), X, 2), expected=[1, 2]),
            Case((np.array([1.0, 0.0]), X, 1), expected=[0]),
            Case((np.array([0.0, 5.0]), X, 3), expected=[2, 1, 0])]


exercise("08.nearest", hint="Normalise the rows of X and the query first (the long row [10, 0] must not win by length), "
         "then np.argsort(-scores)[:k]; return a list of ints.",
         compare=lambda e, g: list(map(int, g)) == e if hasattr(g, "__len__") else False)(_nearest_cases)


# ----------------------------------------------------------------------------- 02 vector search


@exercise("08.recall", hint="For each query count how many of the exact top-k ids the approximate row contains, "
          "divide by k, then average over queries.")
def _recall():
    exact = np.array([[1, 2, 3], [4, 5, 6]])
    return [Case((np.array([[1, 2, 3], [4, 5, 6]]), exact), expected=1.0),
            Case((np.array([[3, 9, 1], [7, 8, 0]]), exact), expected=(2 / 3 + 0) / 2),
            Case((np.array([[2, 1, 3], [6, 4, 9]]), exact), expected=(1 + 2 / 3) / 2)]


@exercise("08.assign", hint="Similarities X @ centroids.T have one column per centroid; np.argmax along axis 1.")
def _assign():
    C = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    X = np.array([[0.9, 0.1], [0.2, 0.95], [-0.7, -0.1], [0.6, 0.5]])
    return [Case((X, C), expected=np.array([0, 1, 2, 0])),
            Case((C, C), expected=np.array([0, 1, 2]))]


@exercise("08.filter", hint="Keep row i when every key of `where` is in metadata[i] with the same value; "
          "an empty `where` keeps everything.")
def _filter():
    meta = [{"lang": "en", "year": 2020}, {"lang": "fr", "year": 2020}, {"lang": "en"}, {}]
    return [Case((meta, {"lang": "en"}), expected=[0, 2]),
            Case((meta, {"lang": "en", "year": 2020}), expected=[0]),
            Case((meta, {}), expected=[0, 1, 2, 3]),
            Case((meta, {"year": 1999}), expected=[])]


# ----------------------------------------------------------------------------- 03 RAG


@exercise("08.idf", hint="Lucene's BM25 idf: log(1 + (N - df + 0.5) / (df + 0.5)); never negative.")
def _idf():
    return [Case((1, 10), expected=math.log(1 + 9.5 / 1.5)), Case((10, 10), expected=math.log(1 + 0.5 / 10.5)),
            Case((5, 10), expected=math.log(2.0))]


@exercise("08.rrf", hint="score(d) = sum over rankings of 1 / (c + rank), rank starting at 1; sort ids by -score, "
          "ties in order of first appearance.")
def _rrf():
    return [Case(([["a", "b", "c"], ["b", "c", "d"]],), kwargs={"c": 60}, expected=["b", "c", "a", "d"]),
            Case(([["x"], ["y"]],), kwargs={"c": 1}, expected=["x", "y"]),
            Case(([["a", "b"], ["b", "a"], ["b"]],), kwargs={"c": 60}, expected=["b", "a"])]


@exercise("08.ndcg", hint="DCG = sum of 1/log2(rank + 1) over relevant ids in the top k (rank from 1); divide by the "
          "DCG of a perfect ranking of min(k, len(relevant)) relevant ids.")
def _ndcg():
    return [Case((["a", "b", "c"], {"a"}, 10), expected=1.0),
            Case((["x", "a"], {"a"}, 10), expected=1 / math.log2(3)),
            Case((["x", "a", "b"], {"a", "b"}, 10), expected=(1 / math.log2(3) + 0.5) / (1 + 1 / math.log2(3))),
            Case((["x", "y", "a"], {"a"}, 2), expected=0.0)]


# ----------------------------------------------------------------------------- 04 projects


@exercise("08.macro-f1", hint="For each label: precision = TP / predicted, recall = TP / actual, F1 = 2PR / (P + R) "
          "(0 when P + R = 0); macro-F1 is their mean over the labels given.")
def _macro_f1():
    labels = ["yes", "no", "maybe"]
    return [Case((["yes", "no", "maybe"], ["yes", "no", "maybe"], labels), expected=1.0),
            Case((["yes", "yes", "no", "maybe"], ["yes", "yes", "yes", "yes"], labels),
                 expected=(2 * (0.5 * 1.0) / 1.5 + 0 + 0) / 3),
            Case((["yes", "no"], ["no", "yes"], ["yes", "no"]), expected=0.0)]


@exercise("08.md-sections", hint="Walk the lines; a line starting with '#' opens a new section named by the text after "
          "the #s; other lines join the current section's text (strip it; drop sections with no text).")
def _md_sections():
    doc = "# Title\nIntro line.\n\n## Part A\nAlpha.\nMore alpha.\n## Empty\n## Part B\nBeta."
    return [Case((doc,), expected=[("Title", "Intro line."), ("Part A", "Alpha.\nMore alpha."), ("Part B", "Beta.")]),
            Case(("no heading here",), expected=[("", "no heading here")])]


@exercise("08.py-symbols", hint="ast.parse(source); walk tree.body for FunctionDef, AsyncFunctionDef and ClassDef nodes "
          "and return their names in order (top level only).")
def _py_symbols():
    src = "import os\n\ndef f():\n    def inner():\n        pass\n\nclass K:\n    def m(self):\n        pass\n\nasync def g():\n    pass\nX = 1\n"
    return [Case((src,), expected=["f", "K", "g"]), Case(("x = 1\n",), expected=[])]
