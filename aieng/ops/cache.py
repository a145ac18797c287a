"""Response caches for an LLM gateway: exact (a hash of the normalised request) and semantic.

Taught in Month 11 (chapters/11-llmops).

- :func:`request_key` normalises a chat request (model name, each message's role and its text with
  runs of whitespace collapsed and the ends stripped, ``max_tokens``, ``temperature``) into canonical JSON
  and hashes it with SHA-256. Two requests that differ only in spacing hit the same entry.
  Only deterministic requests (``temperature == 0``) are worth caching: a sampled answer is meant to vary.
- :class:`ExactCache` maps that key to the answer, with an LRU bound and a time-to-live
  (:class:`aieng.foundations.kvcache.TTLCache`).
- :class:`SemanticCache` embeds the prompt (any ``embed(texts) -> unit-norm rows``, e.g. MiniLM from
  :func:`aieng.retrieval.load_embedder`) and returns a stored answer whose prompt has cosine similarity
  ``>= threshold`` with this one. A paraphrase then costs no model call; too low a threshold answers a
  *different* question with a stored answer (a false hit), which the notebook measures.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from aieng.foundations.kvcache import TTLCache

__all__ = ["normalise", "request_key", "ExactCache", "SemanticCache", "prompt_text", "STREAM", "simulate"]


def normalise(text: str) -> str:
    """``text`` with its ends stripped and every run of whitespace made one space."""
    return re.sub(r"\s+", " ", text).strip()


def prompt_text(messages: Sequence[Mapping[str, str]]) -> str:
    """The messages as one normalised string, ``role: text`` per message (what the semantic cache embeds)."""
    return "\n".join(f"{m['role']}: {normalise(m['content'])}" for m in messages)


def request_key(model: str, messages: Sequence[Mapping[str, str]], max_tokens: int,
                temperature: float = 0.0) -> str:
    """SHA-256 (hex) of the canonical JSON of a normalised chat request."""
    canonical = {"model": model, "max_tokens": int(max_tokens), "temperature": float(temperature),
                 "messages": [[m["role"], normalise(m["content"])] for m in messages]}
    blob = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ExactCache:
    """Answers by :func:`request_key`: at most ``max_items``, each kept ``ttl_s`` seconds."""

    def __init__(self, max_items: int = 10_000, ttl_s: float = 3600.0,
                 clock: Callable[[], float] | None = None) -> None:
        kwargs: dict[str, Any] = {"clock": clock} if clock is not None else {}
        self._store = TTLCache(max_items, ttl_s, **kwargs)

    def get(self, key: str) -> Any | None:
        return self._store.get(key)

    def put(self, key: str, value: Any) -> None:
        self._store.set(key, value)


class SemanticCache:
    """Answers by meaning: the stored prompt most similar to this one, if similar enough.

    Parameters
    ----------
    embed
        ``embed(list_of_texts) -> (n, d)`` array with unit-norm rows.
    threshold
        Smallest cosine similarity that counts as the same question.
    max_items
        Oldest entries are dropped past this many (a brute-force scan; a vector index past thousands).
    """

    def __init__(self, embed: Callable[[list[str]], np.ndarray], threshold: float = 0.9,
                 max_items: int = 5_000) -> None:
        if not -1.0 <= threshold <= 1.0:
            raise ValueError(f"threshold is a cosine similarity in [-1, 1], got {threshold}")
        self.embed, self.threshold, self.max_items = embed, float(threshold), max_items
        self._vectors: list[np.ndarray] = []
        self._items: list[tuple[str, str, Any]] = []  # (scope, prompt, value)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def lookup(self, prompt: str, scope: str = "") -> tuple[Any | None, float, str | None]:
        """``(value, similarity, stored prompt)`` of the best match in ``scope``; value ``None`` below threshold."""
        query = np.asarray(self.embed([prompt]), dtype=np.float32)[0]
        return self.lookup_vector(query, scope)

    def lookup_vector(self, query: np.ndarray, scope: str = "") -> tuple[Any | None, float, str | None]:
        with self._lock:
            idx = [i for i, item in enumerate(self._items) if item[0] == scope]
            if not idx:
                return None, -1.0, None
            sims = np.stack([self._vectors[i] for i in idx]) @ query
        best = int(np.argmax(sims))
        sim = float(sims[best])
        scope_, stored, value = self._items[idx[best]]
        return (value if sim >= self.threshold else None), sim, stored

    def put(self, prompt: str, value: Any, scope: str = "", vector: np.ndarray | None = None) -> None:
        vec = np.asarray(self.embed([prompt]) if vector is None else vector[None], dtype=np.float32)[0]
        with self._lock:
            self._vectors.append(vec)
            self._items.append((scope, prompt, value))
            if len(self._items) > self.max_items:
                del self._vectors[0], self._items[0]


STREAM: list[tuple[int, str]] = [  # (question id, wording): repeats, paraphrases and near neighbours
    (0, "What is the capital of France?"), (1, "How many legs does a spider have?"),
    (0, "What is the capital of France?"), (0, "what's the capital city of France?"),
    (2, "What is the capital of Germany?"), (1, "How many legs do spiders have?"),
    (3, "Name a primary colour."), (0, "Tell me the capital of France."),
    (4, "How many legs does an ant have?"), (3, "Name one primary colour."),
    (2, "What's the capital city of Germany?"), (1, "How many legs does a spider have?"),
    (5, "What is the capital of Spain?"), (4, "How many legs do ants have?"),
    (3, "Name a primary color."), (5, "Tell me the capital of Spain."),
]
"""A stream of prompts for measuring a cache: the same question (same id) asked again, reworded, and
different questions worded alike (France / Germany / Spain; spiders / ants), where a careless semantic
cache answers the wrong question."""


def simulate(stream: Sequence[tuple[int, str]], embed: Callable[[list[str]], np.ndarray], threshold: float,
             tokens: Mapping[int, int]) -> dict[str, float]:
    """Run ``stream`` through a :class:`SemanticCache` at ``threshold`` (exact repeats hit too).

    ``tokens[id]`` is what answering question ``id`` costs. A hit whose stored prompt has another id is
    a **false hit** (a wrong answer served fast). Returns hits, false hits, hit rate and tokens saved
    (false hits save nothing worth having, so they are not counted as saved).
    """
    vectors = np.asarray(embed([text for _, text in stream]), dtype=np.float32)
    cache = SemanticCache(lambda texts: vectors[:0], threshold)
    hits = false_hits = saved = 0
    for (qid, text), vec in zip(stream, vectors):
        value, _, _ = cache.lookup_vector(vec)
        if value is None:
            cache.put(text, qid, vector=vec)
        elif value == qid:
            hits += 1
            saved += tokens[qid]
        else:
            hits += 1
            false_hits += 1
    return {"threshold": threshold, "hits": hits, "false_hits": false_hits, "hit_rate": hits / len(stream),
            "tokens_saved": saved}
