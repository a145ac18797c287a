"""Unit tests of aieng.retrieval.rag (Month 8): chunking, prompt packing, citations, the refusal gate."""

from __future__ import annotations


import pytest

from aieng.retrieval.rag import (DONT_KNOW, RAG, Source, attribute, build_prompt, chunk_documents, chunk_text,
                       count_tokens, extract_citations, relevance)
from _doubles import HashEmbedder
from aieng.retrieval import BM25Retriever, Hit



class ScriptedModel:
    """A test double for a chat model: returns a fixed reply and records the prompt."""

    name = "scripted"
    tokenizer = None

    def __init__(self, reply):
        self.reply, self.calls = reply, []

    def generate(self, messages, max_new_tokens=256, temperature=0.0, **kw):
        self.calls.append(messages)
        return self.reply


def test_chunk_text_windows():
    assert chunk_text("a b c d e", size=3, overlap=1) == [(0, 3, "a b c"), (2, 5, "c d e")]
    assert chunk_text("a b c d e f g", size=3, overlap=0) == [(0, 3, "a b c"), (3, 6, "d e f"), (6, 7, "g")]
    assert chunk_text("one two", size=10, overlap=5) == [(0, 2, "one two")]
    assert chunk_text("   ", size=3, overlap=1) == []
    words = " ".join(f"w{i}" for i in range(100))
    chunks = chunk_text(words, size=30, overlap=10)
    assert all(c[1] - c[0] <= 30 for c in chunks) and chunks[-1][1] == 100
    assert all(b[0] - a[0] == 20 for a, b in zip(chunks, chunks[1:]))


@pytest.mark.parametrize("size,overlap", [(0, 0), (5, 5), (5, -1), (3, 7)])
def test_chunk_text_rejects_bad_settings(size, overlap):
    with pytest.raises(ValueError):
        chunk_text("a b c", size=size, overlap=overlap)


def test_chunk_documents_ids_and_bad_docs():
    chunks = chunk_documents(["x", "y"], ["a b c d", "e f"], size=3, overlap=1, metadata=[{"s": 1}, {"s": 2}])
    assert [c.id for c in chunks] == ["x#0", "x#1", "y#0"]
    assert chunks[2].metadata == {"s": 2, "doc_id": "y"}
    with pytest.raises(ValueError, match="no text"):
        chunk_documents(["x", "y"], ["a", ""])
    with pytest.raises(ValueError, match="empty"):
        chunk_documents([], [])


def test_build_prompt_respects_budget_and_numbers_sources():
    passages = [(f"p{i}", " ".join(["word"] * 60)) for i in range(10)]
    messages, sources = build_prompt("What is it?", passages, budget=300)
    assert [s.number for s in sources] == list(range(1, len(sources) + 1))
    assert 1 <= len(sources) < 10
    total = sum(count_tokens(m["content"]) for m in messages)
    assert total <= 300
    assert "[1] word" in messages[1]["content"] and "Question: What is it?" in messages[1]["content"]
    # one huge passage is truncated, not dropped
    _, sources = build_prompt("Q?", [("big", "w " * 5000)], budget=200)
    assert len(sources) == 1
    with pytest.raises(ValueError, match="query is empty"):
        build_prompt("", passages)
    with pytest.raises(ValueError, match="no text"):
        build_prompt("Q?", [Hit("zz", 1.0)], texts={})


def test_extract_citations():
    assert extract_citations("Yes [2], see [1] and [2], not [7].", 3) == [2, 1]
    assert extract_citations("no citations", 3) == []


def test_relevance_and_attribution():
    emb = HashEmbedder()
    assert relevance("cats", ["cats sleep", "stock markets"], emb) > relevance("cats", ["stock markets"], emb)
    assert relevance("cats", [], emb) == 0.0
    sources = [Source(1, "a", "stock markets fell"), Source(2, "b", "cats sleep all day")]
    assert attribute("Cats sleep a lot.", sources, emb) == "Cats sleep a lot [2]."


def _rag(reply, min_relevance=0.2):
    docs = {"d1": "Cats sleep for most of the day.", "d2": "Stock markets fell sharply."}
    r = BM25Retriever().index(list(docs), list(docs.values()))
    model = ScriptedModel(reply)
    return RAG(r, docs, model, embedder=HashEmbedder(), k=2, min_relevance=min_relevance), model


def test_rag_answers_with_model_citations():
    rag, model = _rag("Cats sleep most of the day [1].")
    ans = rag.answer("How long do cats sleep?")
    assert not ans.refused and ans.citations == [1] and ans.cited_by == "model"
    assert ans.sources[0].id == "d1"
    assert "[1] Cats sleep" in model.calls[0][1]["content"]


def test_rag_adds_post_hoc_citations_and_refuses_when_weak():
    rag, _ = _rag("Cats sleep most of the day.")
    ans = rag.answer("How long do cats sleep?")
    assert ans.cited_by == "post-hoc" and ans.citations == [1] and ans.text.endswith("[1].")
    rag, model = _rag("irrelevant", min_relevance=0.99)
    ans = rag.answer("How long do cats sleep?")
    assert ans.refused and ans.text == DONT_KNOW and model.calls == []
    rag, _ = _rag("I don't know.")
    assert rag.answer("cats?").refused
    with pytest.raises(ValueError, match="query is empty"):
        rag.answer(" ")


def test_tidy_keeps_complete_distinct_sentences():
    from aieng.retrieval.rag import tidy

    assert tidy("A is B [1]. A is B [1]. [2] Source text. And then the", 2) == "A is B [1]."
    assert tidy("One. Two! Three?", 2) == "One. Two!"
    assert tidy("cut off", 2) == "cut off"
    assert tidy("The answer is:\n\n[1]\n\nThe answer is:", 2) == ""
    rag, _ = _rag("The answer is:\n\n[1]\n\n")
    assert rag.answer("How long do cats sleep?").refused


def test_markdown_sections_ignore_code_fences():
    from aieng.retrieval.corpora import markdown_sections

    text = "intro\n# A\nalpha\n```\n# not a heading\n```\n## Empty\n## B\nbeta"
    assert markdown_sections(text) == [("", "intro"), ("A", "alpha\n```\n# not a heading\n```"), ("B", "beta")]


def test_code_symbols_and_import_graph(tmp_path):
    from aieng.retrieval.corpora import code_symbols, import_graph

    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text('"""The package."""\n')
    (pkg / "base.py").write_text('"""Base."""\n\ndef helper(x):\n    """Help."""\n    return x\n\ndef _private():\n    pass\n')
    (pkg / "app.py").write_text('"""App."""\nfrom pkg.base import helper\n\nclass App:\n    def run(self):\n        return helper(1)\n')
    ids = [s.id for s in code_symbols(pkg)]
    assert ids == ["pkg", "pkg.app", "pkg.app.App", "pkg.app.App.run", "pkg.base", "pkg.base.helper"]
    assert import_graph(pkg) == {"pkg": set(), "pkg.app": {"pkg.base"}, "pkg.base": set()}
