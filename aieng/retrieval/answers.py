"""Evaluating RAG *answers*: citation precision, faithfulness and refusals.

Taught in Month 8 (chapters/08-embeddings-and-rag).

Retrieval metrics (nDCG, recall) say whether the right passages were found; these say what the model
did with them. All three rest on one operational **support test**: a sentence is supported by a passage
when at least ``threshold`` of the sentence's content words (BM25's tokens: lower-cased, stop words
removed, stemmed, citation markers dropped) occur in the passage. It is a lexical test, not entailment:
it catches an answer that cites the wrong source or says something no source contains, and it misses a
paraphrase that changes the meaning with the same words ("does not reduce" against "reduces"). An
embedding-similarity test can replace it (``support=``), with the same caveat.

- **citation precision**: of all (sentence, cited source) pairs, the share whose source supports the sentence;
- **faithfulness**: the share of answer sentences supported by at least one source they cite
  (an uncited sentence counts as unsupported);
- **refusal rates**: how often the system says "I don't know" on questions the corpus cannot answer
  (should be high) and on questions it can (should be low).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence

from aieng.retrieval.bm25 import tokenize

__all__ = ["token_support", "cited_sentences", "citation_precision", "faithfulness", "refusal_rates"]

_CITE = re.compile(r"\[(\d+)\]")
_SENT = re.compile(r"(?<=[.!?])\s+")
_LEAD = re.compile(r"^(?:\s*\[\d+\])+\s*")

Support = Callable[[str, str], float]


def token_support(sentence: str, passage: str) -> float:
    """The share of the sentence's content words that occur in the passage (1.0 for a sentence with none).

    >>> token_support("Aspirin lowers fever [1].", "In adults, aspirin lowered the fever.")
    1.0
    """
    words = set(tokenize(_CITE.sub(" ", sentence)))
    if not words:
        return 1.0
    return len(words & set(tokenize(passage))) / len(words)


def cited_sentences(text: str) -> list[tuple[str, list[int]]]:
    """Split an answer into sentences, each with the source numbers it cites (in order, without repeats).

    A citation that follows a sentence's full stop (``"... fever. [1]"``) belongs to that sentence.

    >>> cited_sentences("A is B [1]. C [2][1].")
    [('A is B [1].', [1]), ('C [2][1].', [2, 1])]
    """
    out: list[tuple[str, list[int]]] = []
    for part in _SENT.split(text.strip()):
        lead = _LEAD.match(part)
        if out and lead:  # "[n]" after the previous sentence's full stop belongs to that sentence
            sent, cites = out[-1]
            extra = [int(n) for n in _CITE.findall(lead.group(0))]
            out[-1] = (f"{sent} {lead.group(0).strip()}", list(dict.fromkeys(cites + extra)))
            part = part[lead.end():]
        if part.strip():
            out.append((part.strip(), list(dict.fromkeys(int(n) for n in _CITE.findall(part)))))
    return out


def citation_precision(text: str, sources: Mapping[int, str], threshold: float = 0.5,
                       support: Support = token_support) -> float:
    """Share of (sentence, cited source) pairs whose source supports the sentence; NaN with no citations.

    A citation of a number that is not among ``sources`` counts as unsupported.
    """
    _check_threshold(threshold)
    pairs = [(s, n) for s, cites in cited_sentences(text) for n in cites]
    if not pairs:
        return math.nan
    good = sum(n in sources and support(s, sources[n]) >= threshold for s, n in pairs)
    return good / len(pairs)


def faithfulness(text: str, sources: Mapping[int, str], threshold: float = 0.5,
                 support: Support = token_support) -> float:
    """Share of sentences supported by at least one source they cite; NaN for an empty answer."""
    _check_threshold(threshold)
    sents = cited_sentences(text)
    if not sents:
        return math.nan
    ok = sum(any(n in sources and support(s, sources[n]) >= threshold for n in cites) for s, cites in sents)
    return ok / len(sents)


def refusal_rates(refused: Sequence[bool], answerable: Sequence[bool]) -> dict[str, float]:
    """How often the system refused, separately on unanswerable and answerable questions.

    Returns ``{"unanswerable": ..., "answerable": ...}``: the first should be near 1 (it knows what it does
    not know), the second near 0 (it does not refuse what it could answer). NaN where there are no questions.
    """
    if len(refused) != len(answerable):
        raise ValueError(f"{len(refused)} outcomes for {len(answerable)} questions")
    out = {}
    for name, want in [("unanswerable", False), ("answerable", True)]:
        group = [bool(r) for r, a in zip(refused, answerable) if bool(a) is want]
        out[name] = sum(group) / len(group) if group else math.nan
    return out


def _check_threshold(threshold: float) -> None:
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
