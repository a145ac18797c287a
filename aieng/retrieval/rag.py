"""Retrieval-augmented generation: chunk, retrieve, pack a prompt under a token budget, answer with citations.

Taught in Month 8 (chapters/08-embeddings-and-rag); the answer path of the RAG platform lab.

>>> from aieng.retrieval.rag import RAG, chunk_documents
>>> chunks = chunk_documents(ids, texts, size=120, overlap=30)
>>> rag = RAG.from_chunks(chunks, model=load_chat_model())     # hybrid retrieval over the chunks
>>> ans = rag.answer("What does BM25 saturate?")
>>> ans.text, ans.citations, ans.sources                         # "... [1]", [1], [Source(1, 'doc#0', ...)]

The pipeline is five small steps, each a function you can test on its own:

1. :func:`chunk_text` / :func:`chunk_documents`: split documents into overlapping windows of words.
2. a retriever from :mod:`aieng.retrieval` finds the chunks for a question;
3. :func:`relevance` decides whether retrieval found anything at all (cosine of question and chunk);
4. :func:`build_prompt` numbers the chunks ``[1]``, ``[2]``, ... and packs as many as fit in the token budget;
5. the chat model answers; :func:`extract_citations` reads the ``[n]`` markers back, and
   :func:`attribute` adds them after the fact when a small model forgets to.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from aieng.retrieval.base import Hit
from aieng.retrieval.hybrid import HybridRetriever
from aieng.retrieval.validate import check_corpus, check_metadata, check_query

__all__ = [
    "Chunk",
    "Source",
    "Answer",
    "RAG",
    "chunk_text",
    "chunk_documents",
    "count_tokens",
    "build_prompt",
    "extract_citations",
    "attribute",
    "tidy",
    "relevance",
    "DONT_KNOW",
    "SYSTEM_PROMPT",
]

DONT_KNOW = "I don't know: the sources I found do not answer this."

SYSTEM_PROMPT = ("You answer questions using only the numbered sources. Cite the source of every claim as [n]. "
                 "If the sources do not contain the answer, say you don't know.")


# ----------------------------------------------------------------------------- chunking


@dataclass
class Chunk:
    """A window of a document.

    Attributes
    ----------
    id
        ``"<doc_id>#<n>"``.
    doc_id
        The document it comes from.
    text
        The words of the window, joined by single spaces.
    start, end
        Word offsets in the document (``end`` excluded).
    metadata
        The document's metadata.
    """

    id: str
    doc_id: str
    text: str
    start: int
    end: int
    metadata: dict[str, Any] = field(default_factory=dict)


def chunk_text(text: str, size: int = 200, overlap: int = 50) -> list[tuple[int, int, str]]:
    """Split ``text`` into windows of ``size`` words, each starting ``size - overlap`` words after the last.

    Returns ``(start, end, text)`` triples. The last window ends at the last word; a text shorter than
    ``size`` is one window. Overlap keeps a sentence that straddles a boundary whole in one of the windows.

    >>> chunk_text("a b c d e", size=3, overlap=1)
    [(0, 3, 'a b c'), (2, 5, 'c d e')]
    """
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive number of words, got {size!r}")
    if not isinstance(overlap, int) or not 0 <= overlap < size:
        raise ValueError(f"overlap must be in [0, size), got {overlap!r} with size={size}")
    words = text.split()
    if not words:
        return []
    step = size - overlap
    out = []
    start = 0
    while True:
        end = min(start + size, len(words))
        out.append((start, end, " ".join(words[start:end])))
        if end == len(words):
            return out
        start += step


def chunk_documents(ids: Sequence[str], texts: Sequence[str], size: int = 200, overlap: int = 50,
                    metadata: Sequence[dict] | None = None) -> list[Chunk]:
    """Chunk every document; a document with no text is an error (it could never be retrieved)."""
    ids, texts = check_corpus(ids, texts)
    meta = check_metadata(metadata, len(ids))
    chunks = []
    for doc_id, text, m in zip(ids, texts, meta):
        for n, (start, end, piece) in enumerate(chunk_text(text, size, overlap)):
            chunks.append(Chunk(f"{doc_id}#{n}", doc_id, piece, start, end, {**m, "doc_id": doc_id}))
    return chunks


# ----------------------------------------------------------------------------- prompts


def count_tokens(text: str, tokenizer: Any = None) -> int:
    """Tokens of ``text`` for ``tokenizer`` (a Hugging Face tokenizer), or words / 0.75 without one."""
    if tokenizer is None:
        return int(np.ceil(len(text.split()) / 0.75))
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


@dataclass
class Source:
    """A passage put in the prompt, numbered as the model sees it: ``[number]``."""

    number: int
    id: str
    text: str
    score: float = 0.0
    metadata: dict[str, Any] = field(default_factory=dict)


def build_prompt(question: str, passages: Sequence[tuple[str, str]] | Sequence[Hit], budget: int = 1024,
                 tokenizer: Any = None, system: str = SYSTEM_PROMPT,
                 texts: dict[str, str] | None = None) -> tuple[list[dict[str, str]], list[Source]]:
    """Chat messages that give the model numbered sources, packed best-first under a token budget.

    Parameters
    ----------
    question
        The user's question.
    passages
        ``(id, text)`` pairs, or :class:`~aieng.retrieval.Hit` objects whose text is ``texts[hit.id]``,
        best first.
    budget
        Most tokens the whole prompt (system + sources + question) may use. Passages that do not fit
        are left out; the first passage is truncated to fit if even it alone does not.
    tokenizer
        Counts tokens (the chat model's tokenizer); default: an estimate from the word count.
    system
        The system message.
    texts
        Id to text, when ``passages`` are hits.

    Returns
    -------
    messages, sources
        The chat messages and the sources that made it in, numbered from 1.
    """
    check_query(question)
    if budget < 1:
        raise ValueError(f"budget must be positive, got {budget}")
    items: list[tuple[str, str, float, dict[str, Any]]] = []
    for p in passages:
        if isinstance(p, Hit):
            if texts is None or p.id not in texts:
                raise ValueError(f"hit {p.id!r} has no text: pass texts={{id: text}}")
            items.append((p.id, texts[p.id], p.score, p.metadata))
        else:
            items.append((p[0], p[1], 0.0, {}))
    head = f"Question: {question}\n\nAnswer in one or two sentences and cite sources as [n]."
    used = count_tokens(system, tokenizer) + count_tokens(head, tokenizer) + 16  # chat-template overhead
    if used > budget:
        raise ValueError(f"the question and instructions alone need about {used} tokens, over the budget of {budget}")
    sources: list[Source] = []
    blocks: list[str] = []
    for pid, text, score, meta in items:
        block = f"[{len(sources) + 1}] {text}"
        cost = count_tokens(block, tokenizer) + 1
        if used + cost > budget:
            if sources:
                break
            words = block.split()  # the best passage alone is too long: keep as many words as fit
            while words and used + count_tokens(" ".join(words), tokenizer) + 1 > budget:
                words = words[: max(1, int(len(words) * 0.9))] if len(words) > 1 else []
            if not words:
                break
            block, cost = " ".join(words), count_tokens(" ".join(words), tokenizer) + 1
        sources.append(Source(len(sources) + 1, pid, text, score, dict(meta)))
        blocks.append(block)
        used += cost
    context = "Sources:\n" + "\n".join(blocks) if blocks else "Sources: (none)"
    messages = [{"role": "system", "content": system}, {"role": "user", "content": f"{context}\n\n{head}"}]
    return messages, sources


_CITE = re.compile(r"\[(\d+)\]")


def extract_citations(text: str, n_sources: int) -> list[int]:
    """The source numbers cited as ``[n]`` in ``text``, in order of first use, ignoring numbers out of range.

    >>> extract_citations("Yes [2], see also [1] and [2], not [7].", 3)
    [2, 1]
    """
    seen: list[int] = []
    for m in _CITE.finditer(text):
        n = int(m.group(1))
        if 1 <= n <= n_sources and n not in seen:
            seen.append(n)
    return seen


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]


def tidy(reply: str, max_sentences: int = 2) -> str:
    """Keep the first ``max_sentences`` complete, distinct sentences of a reply.

    Small models ramble when they reach ``max_new_tokens``: they repeat a sentence, start listing the sources
    themselves, or stop mid-sentence. This keeps what the prompt asked for. With no complete sentence it keeps
    the first line, or returns ``""`` when that line says nothing (``"The answer is:"``, ``"[1]"``), which
    :meth:`RAG.answer` turns into a refusal.

    >>> tidy("A is B [1]. A is B [1]. [2] Some source text. And then the", 2)
    'A is B [1].'
    """
    kept: list[str] = []
    for sent in _sentences(reply.replace("\n", " ")):
        if sent in kept or _CITE.match(sent):
            continue
        if not re.search(r"[.!?]$", sent):
            break  # cut off by the token limit
        kept.append(sent)
        if len(kept) == max_sentences:
            break
    if kept:
        return " ".join(kept)
    first = next((line.strip() for line in reply.splitlines() if line.strip()), "")
    return "" if first.endswith(":") or not re.search(r"[A-Za-z]{3}", _CITE.sub("", first)) else first


def attribute(answer: str, sources: Sequence[Source], embedder: Any) -> str:
    """Append ``[n]`` to each uncited sentence of ``answer``: the source most similar to that sentence.

    Post-hoc attribution: it says which source a sentence is closest to, not that the model read it there.
    """
    if not sources or not answer.strip():
        return answer
    S = embedder.encode([s.text for s in sources])
    out = []
    for sent in _sentences(answer):
        if _CITE.search(sent):
            out.append(sent)
            continue
        best = int(np.argmax(S @ embedder.encode([sent])[0]))
        tail = re.search(r"[.!?]$", sent)
        body = sent[:-1] if tail else sent
        out.append(f"{body} [{sources[best].number}]{tail.group(0) if tail else ''}")
    return " ".join(out)


def relevance(question: str, passages: Sequence[str], embedder: Any) -> float:
    """The highest cosine similarity between the question and any passage (0 when there are none)."""
    if not passages:
        return 0.0
    X = embedder.encode([question, *passages])
    return float(np.max(X[1:] @ X[0]))


# ----------------------------------------------------------------------------- the pipeline


@dataclass
class Answer:
    """What :meth:`RAG.answer` returns.

    Attributes
    ----------
    text
        The reply, with ``[n]`` citations.
    sources
        The numbered passages the model was given.
    citations
        Source numbers cited in ``text``.
    refused
        True when the pipeline said it does not know (weak retrieval, or the model said so).
    relevance
        Best question-passage cosine; below ``min_relevance`` the model is not called at all.
    cited_by
        ``"model"`` (the model wrote the markers), ``"post-hoc"`` (:func:`attribute` added them) or ``""``.
    """

    text: str
    sources: list[Source]
    citations: list[int]
    refused: bool
    relevance: float
    cited_by: str = ""
    prompt_tokens: int = 0

    def __str__(self) -> str:
        refs = "\n".join(f"[{s.number}] {s.id}: {s.text[:80]}..." for s in self.sources if s.number in self.citations)
        return f"{self.text}\n{refs}" if refs else self.text


class RAG:
    """Question in, cited answer out.

    Parameters
    ----------
    retriever
        Any :class:`~aieng.retrieval.Retriever` over passage ids.
    texts
        Passage id to text (what goes in the prompt).
    model
        A chat model (:func:`aieng.llm.load_chat_model`).
    embedder
        For the relevance gate and post-hoc citations; default: the dense side of a hybrid retriever.
    k
        Passages retrieved.
    budget
        Token budget of the prompt.
    min_relevance
        Below this best question-passage cosine, answer :data:`DONT_KNOW` without calling the model.
    max_new_tokens
        Length of the answer.
    max_sentences
        Sentences kept from the reply (see :func:`tidy`).
    """

    def __init__(self, retriever: Any, texts: dict[str, str], model: Any, embedder: Any = None, *, k: int = 4,
                 budget: int = 768, min_relevance: float = 0.35, max_new_tokens: int = 80,
                 max_sentences: int = 2) -> None:
        self.retriever, self.texts, self.model = retriever, texts, model
        if embedder is None:
            dense = getattr(retriever, "dense", retriever)
            embedder = getattr(dense, "embedder", None)
        if embedder is None:
            raise ValueError("pass embedder=... (needed for the relevance gate and citations)")
        self.embedder = embedder
        self.k, self.budget, self.min_relevance, self.max_new_tokens = k, budget, min_relevance, max_new_tokens
        self.max_sentences = max_sentences

    @classmethod
    def from_chunks(cls, chunks: Sequence[Chunk], model: Any, embedder: Any = None, **kwargs: Any) -> RAG:
        """Index chunks in a :class:`~aieng.retrieval.HybridRetriever` and wrap it."""
        if not chunks:
            raise ValueError("no chunks to index: the corpus is empty")
        retriever = HybridRetriever(embedder=embedder).index([c.id for c in chunks], [c.text for c in chunks],
                                                             [c.metadata for c in chunks])
        return cls(retriever, {c.id: c.text for c in chunks}, model, **kwargs)

    def retrieve(self, question: str) -> list[Hit]:
        """The retriever's top ``k`` hits."""
        return self.retriever.search(check_query(question), k=self.k)

    def prompt(self, question: str, hits: Sequence[Hit] | None = None) -> tuple[list[dict[str, str]], list[Source]]:
        """The messages and sources for ``question`` (retrieving when ``hits`` is not given)."""
        hits = self.retrieve(question) if hits is None else hits
        return build_prompt(question, list(hits), self.budget, getattr(self.model, "tokenizer", None),
                            texts=self.texts)

    def answer(self, question: str) -> Answer:
        """Retrieve, gate on relevance, prompt, generate, and make sure every sentence carries a citation."""
        messages, sources = self.prompt(question)
        score = relevance(question, [s.text for s in sources], self.embedder)
        if score < self.min_relevance:
            return Answer(DONT_KNOW, sources, [], True, score)
        reply = tidy(self.model.generate(messages, max_new_tokens=self.max_new_tokens, temperature=0.0),
                     self.max_sentences)
        tokens = getattr(getattr(self.model, "last_usage", None), "prompt_tokens", 0)
        if not reply or re.search(r"\b(don't|do not) know\b", reply, re.I):
            return Answer(DONT_KNOW, sources, [], True, score, "", tokens)
        cited_by = "model" if extract_citations(reply, len(sources)) else "post-hoc"
        if cited_by == "post-hoc" or any(not _CITE.search(s) for s in _sentences(reply)):
            reply = attribute(reply, sources, self.embedder)
        return Answer(reply, sources, extract_citations(reply, len(sources)), False, score, cited_by, tokens)

