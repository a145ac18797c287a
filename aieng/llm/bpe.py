"""Byte-pair encoding (BPE) from scratch: learn merges from a corpus, then tokenise with them.

Taught in Month 7 (chapters/07-transformers-and-llms), notebook ``03-llms``, where the same
:func:`merge_word` run with SmolLM2's own merge list reproduces its real tokenizer's ids.

>>> tok = BPETokenizer.train("low lower lowest newer newest " * 50, num_merges=10)
>>> tok.decode(tok.encode("lowest newer")) == "lowest newer"
True
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

__all__ = ["PRETOKENIZE", "pretokenize", "pair_counts", "merge_pair", "merge_word", "BPETokenizer"]

PRETOKENIZE = re.compile(r" ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+")
"""Split text into words that keep their leading space (GPT-2 style), so merges never cross words."""


def pretokenize(text: str) -> list[str]:
    """The words of ``text`` as :data:`PRETOKENIZE` cuts it; joining them gives ``text`` back."""
    return PRETOKENIZE.findall(text)


def pair_counts(words: dict[tuple[str, ...], int]) -> Counter[tuple[str, str]]:
    """How often each adjacent pair of symbols occurs, each word weighted by its frequency."""
    counts: Counter[tuple[str, str]] = Counter()
    for symbols, freq in words.items():
        for pair in zip(symbols, symbols[1:]):
            counts[pair] += freq
    return counts


def merge_pair(symbols: Sequence[str], pair: tuple[str, str]) -> tuple[str, ...]:
    """Replace every non-overlapping occurrence of ``pair`` in ``symbols`` (left to right) by one symbol."""
    out: list[str] = []
    i = 0
    while i < len(symbols):
        if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == pair:
            out.append(symbols[i] + symbols[i + 1])
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return tuple(out)


def merge_word(symbols: Sequence[str], ranks: dict[tuple[str, str], int]) -> list[str]:
    """Tokenise one word: repeatedly merge the adjacent pair learned earliest (lowest rank).

    This is how GPT-2, Llama and SmolLM2 apply their merge lists.
    """
    symbols = list(symbols)
    while len(symbols) > 1:
        ranked = [(ranks.get(p, float("inf")), p) for p in zip(symbols, symbols[1:])]
        rank, best = min(ranked, key=lambda rp: rp[0])
        if rank == float("inf"):
            break
        symbols = list(merge_pair(symbols, best))
    return symbols


class BPETokenizer:
    """A character-level BPE tokenizer: the vocabulary is every character seen, plus one symbol a merge."""

    def __init__(self, alphabet: Iterable[str], merges: Sequence[tuple[str, str]]) -> None:
        self.merges = [tuple(m) for m in merges]
        self.ranks = {pair: i for i, pair in enumerate(self.merges)}
        self.vocab = sorted(set(alphabet)) + [a + b for a, b in self.merges]
        self.ids = {s: i for i, s in enumerate(self.vocab)}

    @classmethod
    def train(cls, text: str, num_merges: int, alphabet: Iterable[str] | None = None) -> BPETokenizer:
        """Learn ``num_merges`` merges from ``text``: each time, merge the most frequent adjacent pair
        (ties go to the pair seen first). ``alphabet`` adds characters the text may lack."""
        if num_merges < 0:
            raise ValueError(f"num_merges must be >= 0, got {num_merges}")
        if not text:
            raise ValueError("cannot train on an empty text")
        words = Counter(tuple(w) for w in pretokenize(text))
        merges: list[tuple[str, str]] = []
        for _ in range(num_merges):
            counts = pair_counts(words)
            if not counts:
                break
            best = max(counts, key=counts.__getitem__)  # Counter keeps insertion order on ties
            merges.append(best)
            words = Counter({merge_pair(w, best): f for w, f in words.items()})
        return cls(set(text) | set(alphabet or ()), merges)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def tokenize(self, text: str) -> list[str]:
        """``text`` as a list of vocabulary strings."""
        unknown = set(text) - set(self.vocab)
        if unknown:
            raise KeyError(f"characters not in the vocabulary: {sorted(unknown)!r}")
        return [s for w in pretokenize(text) for s in merge_word(tuple(w), self.ranks)]

    def encode(self, text: str) -> list[int]:
        return [self.ids[s] for s in self.tokenize(text)]

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self.vocab[i] for i in ids)
