"""Exercises of Month 8: embeddings, vector search and RAG (chapters/08-embeddings-and-rag)."""

from __future__ import annotations

import math

import numpy as np

from aieng.book.cases import Case, exercise, same_choice

# ----------------------------------------------------------------------------- 01 embeddings


@exercise("08.merge-pooled",
          hint="A mean is a sum divided by a count: recover each text's sum of token vectors from its mean, "
               "then pool the joined text and finish it the way the model finishes every embedding.")
def _merge_pooled():
    rng = np.random.default_rng(5)
    H = rng.normal(size=(9, 4))                      # token vectors of two texts, 3 and 6 tokens
    a, b = H[:3].mean(axis=0), H[3:].mean(axis=0)
    joined = H.mean(axis=0)
    one = np.array([1.0, 0.0])
    return [Case((a, 3, b, 6), expected=joined / np.linalg.norm(joined)),
            Case((b, 6, a, 3), expected=joined / np.linalg.norm(joined)),
            Case((one, 1, np.array([0.0, 3.0]), 3), expected=np.array([1.0, 9.0]) / math.sqrt(82))]


def _info_nce_reference(q, d, scale):
    import torch
    import torch.nn.functional as F

    logits = scale * F.normalize(q, dim=1) @ F.normalize(d, dim=1).T
    target = torch.arange(len(q))
    return float((F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2)


def _symmetric_info_nce_cases():
    import torch

    gen = torch.Generator().manual_seed(7)
    q = torch.randn(6, 5, generator=gen) * torch.rand(6, 1, generator=gen) * 4
    d = torch.randn(6, 5, generator=gen) + 0.5 * q
    return [Case((q, d), expected=_info_nce_reference(q, d, 20.0)),
            Case((q, d), kwargs={"scale": 5.0}, expected=_info_nce_reference(q, d, 5.0)),
            Case((d[:3], q[:3]), expected=_info_nce_reference(d[:3], q[:3], 20.0))]


exercise("08.symmetric-info-nce",
         hint="The document-to-query direction is the same classification with the roles of the queries "
              "and the documents swapped; you already have a function for one direction.",
         compare=lambda e, g: g is not None and math.isclose(e, float(g), rel_tol=1e-5, abs_tol=1e-6),
         )(_symmetric_info_nce_cases)


def _toy_synonym_pairs():
    """A toy paired set in the shape of notebook 01's, with other words: (train, held-out, all docs)."""
    subjects = [("boat", "ship"), ("lawyer", "attorney"), ("shirt", "blouse"), ("exam", "test"),
                ("garden", "yard"), ("baby", "infant"), ("hat", "cap"), ("stone", "rock")]
    attributes = [("tiny", "small"), ("huge", "enormous"), ("wet", "damp"), ("odd", "strange"),
                  ("clean", "spotless"), ("angry", "furious")]
    pairs = [(f"{a} {s}", f"{a2} {s2}") for s, s2 in subjects for a, a2 in attributes]
    held = {i * len(attributes) + (i + 2) % len(attributes) for i in range(len(subjects))}
    train = [p for i, p in enumerate(pairs) if i not in held]
    test = [p for i, p in enumerate(pairs) if i in held]
    return train, test, [d for _, d in pairs]


def _fast_train_test(fast_train):
    train, test, docs = _toy_synonym_pairs()
    encode = fast_train(train, num_steps=10)
    try:
        S = np.asarray(encode([q for q, _ in test]).detach()) @ np.asarray(encode(docs).detach()).T
    except AttributeError:
        S = np.asarray(encode([q for q, _ in test])) @ np.asarray(encode(docs)).T
    r = float(np.mean([docs[j] == d for j, (_, d) in zip(S.argmax(axis=1), test)]))
    if r < 0.9:
        return f"held-out recall@1 after 10 steps is {r:.2f}; it must reach 0.90"
    return None


exercise("08.fast-train",
         hint="Measure first: print recall_at_1 after 10 steps for a few settings. Which of train_toy's "
              "arguments decides how many negatives each step sees, and how far each step moves?",
         )(lambda: [Case(test=_fast_train_test, show="fast_train(toy pairs, num_steps=10)")])


exercise("08.think-negatives", hint="Count the documents in a batch, then remove the one that is the positive.",
         )(lambda: [Case(args=None, expected=63)])


exercise("08.think-scale",
         hint="Write each score for a document of length 2: the dot product is 2 cos, and the squared L2 "
              "distance is |q|^2 + |2d|^2 - 2 q.(2d). Does either change the order of the documents?",
         compare=lambda e, g: isinstance(g, str) and g.strip().lower().strip("()") == e,
         )(lambda: [Case(args=None, expected="d")])


def _nearest_cases():
    X = np.array([[10.0, 0.0], [0.6, 0.8], [0.0, 1.0], [-1.0, 0.0]])
    return [Case((np.array([1.0, 1.2]), X, 2), expected=[1, 2]),
            Case((np.array([1.0, 0.0]), X, 1), expected=[0]),
            Case((np.array([0.0, 5.0]), X, 3), expected=[2, 1, 0])]


exercise("08.nearest", hint="Case 1 fails when the long row [10, 0] wins by its length alone: compare "
         "directions, not lengths. Return plain ints, best first.",
         compare=lambda e, g: list(map(int, g)) == e if hasattr(g, "__len__") else False)(_nearest_cases)


# ----------------------------------------------------------------------------- 02 vector search


@exercise("08.recall", hint="For each query count how many of the exact top-k ids the approximate row contains, "
          "divide by k, then average over queries.")
def _recall():
    exact = np.array([[1, 2, 3], [4, 5, 6]])
    return [Case((np.array([[1, 2, 3], [4, 5, 6]]), exact), expected=1.0),
            Case((np.array([[3, 9, 1], [7, 8, 0]]), exact), expected=(2 / 3 + 0) / 2),
            Case((np.array([[2, 1, 3], [6, 4, 9]]), exact), expected=(1 + 2 / 3) / 2)]


def _ivf_data():
    from aieng.retrieval.vectorsearch import clustered_vectors

    A = clustered_vectors(5100, 64, seed=3)
    return A[:5000], A[5000:]


def _similarities_per_query_cases():
    from aieng.retrieval.vectorsearch import IVFIndex, clustered_vectors

    X = clustered_vectors(600, 16, seed=4)
    Q = clustered_vectors(620, 16, seed=4)[600:]
    ivf = IVFIndex(n_lists=12).build(X)
    sizes = np.array([len(members) for members in ivf.lists])
    probes = np.argsort(-(Q @ ivf.centroids.T), axis=1)
    return [Case((ivf, Q, nprobe), expected=float(12 + sizes[probes[:, :nprobe]].sum(axis=1).mean()))
            for nprobe in (1, 3, 12)]


exercise("08.ivf-cost",
         hint="A query is compared with every centroid to choose its lists, then with every vector filed in "
              "the lists it probes. IVFIndex keeps both (read IVFIndex.build and IVFIndex.search).",
         )(_similarities_per_query_cases)


def _ivf_budget_test(setting):
    from aieng.retrieval.vectorsearch import IVFIndex, exact_search, recall_at_k

    if not isinstance(setting, dict) or not {"n_lists", "nprobe"} <= setting.keys():
        return "answer with a dict {'n_lists': ..., 'nprobe': ...}"
    X, Q = _ivf_data()
    n_lists, nprobe = int(setting["n_lists"]), int(setting["nprobe"])
    ivf = IVFIndex(n_lists=n_lists).build(X)
    sizes = np.array([len(members) for members in ivf.lists])
    probes = np.argsort(-(Q @ ivf.centroids.T), axis=1)[:, :nprobe]
    cost = n_lists + float(sizes[probes].sum(axis=1).mean())
    r = recall_at_k(ivf.search(Q, 10, nprobe=nprobe)[1], exact_search(X, Q, 10)[1])
    if r < 0.95 or cost > 500:
        return (f"n_lists={n_lists}, nprobe={nprobe}: recall@10 {r:.3f} with {cost:.0f} similarities per "
                f"query; need recall@10 >= 0.95 with at most 500")
    return None


exercise("08.ivf-budget",
         hint="Tabulate recall@10 and similarities_per_query over a grid of n_lists and nprobe. More lists "
              "make each list shorter but cost more centroid comparisons and split clusters.",
         )(lambda: [Case(test=_ivf_budget_test, show="IVF on 5,000 clustered 64-d vectors")])


exercise("08.think-hnsw-levels",
         hint="A node's level is floor(-ln(u) * level_mult) with u uniform and level_mult = 1 / ln(M) (see "
              "aieng.show_source(HNSW)): P(level >= l) = exp(-l / level_mult).",
         compare=lambda e, g: isinstance(g, (int, float)) and abs(g - e) <= 0.05 * e,
         )(lambda: [Case(args=None, expected=1_000_000 / 16**2)])


@exercise("08.filter", hint="Keep row i when every key of `where` is in metadata[i] with the same value; "
          "an empty `where` keeps everything.")
def _filter():
    meta = [{"lang": "en", "year": 2020}, {"lang": "fr", "year": 2020}, {"lang": "en"}, {}]
    return [Case((meta, {"lang": "en"}), expected=[0, 2]),
            Case((meta, {"lang": "en", "year": 2020}), expected=[0]),
            Case((meta, {}), expected=[0, 1, 2, 3]),
            Case((meta, {"year": 1999}), expected=[])]


# ----------------------------------------------------------------------------- 03 RAG


@exercise("08.rrf", hint="Each ranking gives a document 1 / (c + its rank there), ranks counted from 1; a document "
          "sums what every ranking gives it. Python's sort is stable: think about what that does to ties.")
def _rrf():
    return [Case(([["a", "b", "c"], ["b", "c", "d"]],), kwargs={"c": 60}, expected=["b", "c", "a", "d"]),
            Case(([["x"], ["y"]],), kwargs={"c": 1}, expected=["x", "y"]),
            Case(([["a", "b"], ["b", "a"], ["b"]],), kwargs={"c": 60}, expected=["b", "a"])]


@exercise("08.ndcg-graded", hint="The gain of a document is 2**grade - 1 (grade 0 gains nothing), discounted by "
          "log2(rank + 1) as in the binary nDCG above; the ideal ranking sorts the judged grades from high to "
          "low. Case 3 fails when the ideal ignores the grades.")
def _ndcg_graded():
    g3 = 1 / math.log2(3)
    return [Case((["a", "b"], {"a": 2, "b": 1}, 10), expected=1.0),
            Case((["b", "a"], {"a": 2, "b": 1}, 10), expected=(1 + 3 * g3) / (3 + g3)),
            Case((["x", "b"], {"a": 2, "b": 1}, 10), expected=g3 / (3 + g3)),
            Case((["x", "a", "b"], {"a": 1, "b": 0}, 1), expected=0.0),
            Case((["a"], {"a": 0}, 10), expected=0.0)]


def _zscore(x):
    return (x - x.mean()) / (x.std() + 1e-9)


def _ndcg_from_scores(scores, rel, n_rel, k=10):
    order = np.argsort(-np.asarray(scores, dtype=float), kind="stable")[:k]
    dcg = sum(1 / math.log2(r + 2) for r, i in enumerate(order) if rel[i])
    ideal = sum(1 / math.log2(r + 2) for r in range(min(k, n_rel)))
    return dcg / ideal if ideal else 0.0


def _ranks(x):
    r = np.empty(len(x))
    r[np.argsort(-np.asarray(x, dtype=float), kind="stable")] = np.arange(1, len(x) + 1)
    return r


def _rrf_scores(b, d, c=60.0):
    return 1 / (c + _ranks(b)) + 1 / (c + _ranks(d))


def _judge_fusion(answer):
    """answer = (fuse, candidates): the learner's fusion and, per query, (bm25, cosine, relevant, n_relevant)."""
    if not (isinstance(answer, tuple) and len(answer) == 2 and callable(answer[0])):
        return "pass a pair (fuse, candidates), as the cell does"
    fuse, candidates = answer
    got = fuse(np.array([3.0, 1.0, 2.0]), np.array([0.2, 0.9, 0.5]))
    if np.shape(got) != (3,):
        return f"fuse(b, d) must return one score per candidate (shape (3,)), got shape {np.shape(got)}"
    yours = np.mean([_ndcg_from_scores(fuse(b, d), rel, n) for b, d, rel, n in candidates])
    rrf = np.mean([_ndcg_from_scores(_rrf_scores(b, d), rel, n) for b, d, rel, n in candidates])
    single = [np.mean([_ndcg_from_scores(b, rel, n) for b, d, rel, n in candidates]),
              np.mean([_ndcg_from_scores(d, rel, n) for b, d, rel, n in candidates])]
    print(f"   nDCG@10 on these queries: your fusion {yours:.4f}, RRF {rrf:.4f}, "
          f"BM25 alone {single[0]:.4f}, dense alone {single[1]:.4f}")
    if yours <= rrf + 0.005:
        return f"your fusion's nDCG@10 {yours:.4f} does not beat reciprocal-rank fusion's {rrf:.4f} by 0.005"
    return None


@exercise("08.fusion", hint="RRF throws away how far ahead a candidate is. Put the two score lists on one "
          "scale first (how many standard deviations above this query's typical candidate? or where between "
          "the query's lowest and highest score?), then mix; the weight is a choice to make on these train "
          "claims.")
def _fusion():
    return [Case(test=_judge_fusion)]


@exercise("08.think-fusion", hint="Compare the spread of a BM25 score over a query's candidates with the spread "
          "of a cosine. Which one moves the sum?", compare=same_choice)
def _think_fusion():
    return [Case(args=None, expected="a")]


@exercise("08.think-rerank", hint="A re-ranker only re-orders the candidates it is given: what can it never "
          "bring into the list?", compare=same_choice)
def _think_rerank():
    return [Case(args=None, expected="b")]


@exercise("08.think-citation", hint="Citation precision judges each (sentence, cited source) pair against the "
          "source it names, not against any source in the prompt.")
def _think_citation():
    return [Case(args=None, expected=0.0)]


# ----------------------------------------------------------------------------- 04 projects


@exercise("08.macro-f1", hint="Work label by label: of the examples predicted as that label, how many were "
          "right (precision)? Of those truly that label, how many were found (recall)? F1 is their harmonic "
          "mean, 0 when both are 0; macro-F1 averages the labels with equal weight.")
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


@exercise("08.py-symbols", hint="Read the `ast` module's documentation: parse the source, then look only at the "
          "statements of the module's body (not nested ones). Which node types are functions, async functions "
          "and classes?")
def _py_symbols():
    src = "import os\n\ndef f():\n    def inner():\n        pass\n\nclass K:\n    def m(self):\n        pass\n\nasync def g():\n    pass\nX = 1\n"
    return [Case((src,), expected=["f", "K", "g"]), Case(("x = 1\n",), expected=[])]


CODE_QUERIES = {
    "split documents into chunks": "aieng.retrieval.rag.chunk_documents",
    "build the prompt under a token budget": "aieng.retrieval.rag.build_prompt",
    "extract citations from an answer": "aieng.retrieval.rag.extract_citations",
    "reciprocal rank fusion": "aieng.retrieval.hybrid.rrf_fuse",
    "z score fusion of two score lists": "aieng.retrieval.hybrid.zscore_fuse",
    "embed a corpus with a cache on disk": "aieng.retrieval.cache.embed_cached",
    "load the chat model": "aieng.llm.load.load_chat_model",
    "count tokens of a text": "aieng.retrieval.rag.count_tokens",
    "markdown sections of a page": "aieng.retrieval.corpora.markdown_sections",
    "load the embedder": "aieng.retrieval.embed.load_embedder",
}
"""Natural-language code searches and the symbol each should find (the ``08.code-passage`` exercise)."""


def code_search_success(symbol_text, k=3):
    """Share of :data:`CODE_QUERIES` whose symbol BM25 ranks in the top ``k`` when each symbol is indexed
    as ``symbol_text(symbol)`` (symbols of the installed ``aieng``, from :func:`code_symbols`)."""
    from pathlib import Path

    import aieng
    from aieng.retrieval import BM25Retriever
    from aieng.retrieval.corpora import code_symbols

    symbols = code_symbols(Path(aieng.__file__).parent, body_lines=8)
    bm25 = BM25Retriever().index([s.id for s in symbols], [symbol_text(s) for s in symbols])
    return sum(t in [h.id for h in bm25.search(q, k)] for q, t in CODE_QUERIES.items()) / len(CODE_QUERIES)


def _judge_code_passage(symbol_text):
    baseline, yours = code_search_success(lambda s: s.text), code_search_success(symbol_text)
    print(f"   success@3 over {len(CODE_QUERIES)} code searches: yours {yours:.0%}, the symbol's text {baseline:.0%}")
    if yours < 1.0 and yours <= baseline:
        return f"success@3 {yours:.0%} does not beat indexing the symbol's text as it is ({baseline:.0%})"
    return None


@exercise("08.code-passage", hint="Print BM25's tokens of a symbol's text (aieng.retrieval.tokenize) and of a "
          "query such as 'split documents into chunks': is `chunk_documents` one token or two? What could the "
          "passage add so that the words a person types match the words of the code?")
def _code_passage():
    return [Case(test=_judge_code_passage)]


@exercise("08.think-reader", hint="Look at both halves of the PubMedQA measurement: how often was the right "
          "abstract in the prompt, and how often was the answer right?", compare=same_choice)
def _think_reader():
    return [Case(args=None, expected="c")]
