"""Agent memory: a conversation buffer under a token budget, and a long-term store searched by meaning.

Taught in Month 9 (chapters/09-agents); the memory of the agent lab.

- :class:`ConversationBuffer` (short-term): the recent messages that fit in ``max_tokens``. When they do not
  fit, the oldest are either dropped (``policy="drop"``) or folded into a running summary
  (``policy="summarise"``) by a summariser: :func:`extractive_summary` (first sentence of each message,
  cheap and deterministic) or :func:`llm_summariser` (asks a chat model).
- :func:`planted_conversation`: a seeded synthetic conversation with facts planted in the middle of long
  messages, and a question per fact, for measuring what a memory keeps.
- :class:`LongTermMemory`: texts embedded with :func:`aieng.retrieval.embed.load_embedder` and kept in a vector store
  from :mod:`aieng.retrieval` (Month 8's ``FaissStore`` by default), recalled by similarity.
"""

from __future__ import annotations

import os
import random
import re
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "ConversationBuffer",
    "LongTermMemory",
    "extractive_summary",
    "llm_summariser",
    "planted_conversation",
    "word_count",
]


def word_count(text: str) -> int:
    """A tokenizer-free token estimate: words and punctuation marks (about 1.3x fewer than BPE tokens)."""
    return len(re.findall(r"\w+|[^\w\s]", text))


def extractive_summary(messages: Sequence[dict[str, str]], max_tokens: int = 60,
                       count: Callable[[str], int] = word_count) -> str:
    """Keep the first sentence of each message (``role: sentence``), newest last, cut to ``max_tokens``."""
    parts = []
    for m in messages:
        first = re.split(r"(?<=[.!?])\s", m["content"].strip(), maxsplit=1)[0]
        parts.append(f"{m['role']}: {first}")
    text = " | ".join(parts)
    while parts and count(text) > max_tokens:
        parts.pop(0)
        text = " | ".join(parts)
    return text


def llm_summariser(model: Any, max_new_tokens: int = 60) -> Callable[..., str]:
    """A summariser that asks ``model`` to summarise the dropped messages (slow on CPU: one generation each time)."""
    def summarise(messages: Sequence[dict[str, str]], max_tokens: int = 60, count: Callable[[str], int] = word_count) -> str:
        text = "\n".join(f"{m['role']}: {m['content']}" for m in messages)
        prompt = [{"role": "user", "content": "Summarise the key facts of this conversation in one short paragraph:\n" + text}]
        return model.generate(prompt, max_new_tokens=min(max_new_tokens, max_tokens))
    return summarise


_FACTS = [
    ("The deadline is {}.", "When is the deadline?", ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]),
    ("The budget is {} euros.", "How large is the budget?", ["4000", "5500", "7200", "9100", "12500"]),
    ("The client is {}.", "Who is the client?", ["Globex", "Initech", "Umbrella", "Hooli", "Acme"]),
    ("Reports go to {}.", "Who receives the reports?", ["Maria", "Kenji", "Amara", "Lukas", "Priya"]),
    ("Use the {} region for the servers.", "Which region do the servers use?", ["Frankfurt", "Dublin", "Oslo",
                                                                                  "Madrid", "Warsaw"]),
    ("The project code is {}.", "What is the project code?", ["ZX-41", "QP-17", "LM-88", "TR-09", "KV-53"]),
]
_CHATTER = ["That sounds reasonable and we can look at it again later in more detail.",
            "I checked the earlier notes and nothing there changes the picture much.",
            "Let us keep going with the next part of the task and see where it leads.",
            "Thanks, that is helpful context for the rest of the work.",
            "I will keep that in mind while we go through the remaining points.",
            "Good, the draft is coming along and the structure looks fine so far."]


def planted_conversation(seed: int = 0, n_messages: int = 40) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    """A synthetic conversation with six facts planted in the middle of long messages.

    Every message is two or three sentences of chatter (drawn from a small pool, so it repeats); a fact
    message has its fact as the *middle* sentence, where a first-sentence summary cannot see it. Facts go
    into the first three quarters of the conversation, so a buffer of the newest messages loses them.

    Returns
    -------
    messages, facts
        ``messages`` are ``{"role", "content"}``; each fact is ``{"sentence", "question", "answer", "turn"}``.
    """
    rng = random.Random(seed)
    turns = sorted(rng.sample(range(n_messages * 3 // 4), len(_FACTS)))
    facts = []
    for (template, question, values), turn in zip(rng.sample(_FACTS, len(_FACTS)), turns):
        answer = rng.choice(values)
        facts.append({"sentence": template.format(answer), "question": question, "answer": answer, "turn": turn})
    by_turn = {f["turn"]: f["sentence"] for f in facts}
    messages = []
    for turn in range(n_messages):
        a, b = rng.sample(_CHATTER, 2)
        parts = [a, by_turn[turn], b] if turn in by_turn else [a, b]
        messages.append({"role": "user" if turn % 2 == 0 else "assistant", "content": " ".join(parts)})
    return messages, facts


class ConversationBuffer:
    """Short-term memory: the most recent messages within a token budget.

    Parameters
    ----------
    max_tokens
        Budget for the messages returned by :meth:`messages` (the summary included).
    policy
        ``"drop"`` forgets the oldest messages; ``"summarise"`` folds them into a summary message.
    count
        Token counter ``count(text) -> int`` (default :func:`word_count`; pass a tokenizer's for exact counts).
    summariser
        ``summariser(messages, max_tokens, count) -> str`` for ``policy="summarise"``
        (default :func:`extractive_summary`).
    summary_share
        Fraction of the budget the summary may use.
    """

    def __init__(self, max_tokens: int = 500, policy: str = "drop", count: Callable[[str], int] = word_count,
                 summariser: Callable[..., str] | None = None, summary_share: float = 0.3) -> None:
        if policy not in {"drop", "summarise"}:
            raise ValueError(f"policy must be 'drop' or 'summarise', got {policy!r}")
        if max_tokens < 1:
            raise ValueError("max_tokens must be >= 1")
        self.max_tokens = max_tokens
        self.policy = policy
        self.count = count
        self.summariser = summariser or extractive_summary
        self.summary_share = summary_share
        self.history: list[dict[str, str]] = []
        self.summary = ""
        self.dropped = 0
        self._folded = 0

    def add(self, role: str, content: str) -> None:
        """Append a message."""
        self.history.append({"role": role, "content": content})

    def clear(self) -> None:
        self.history, self.summary, self.dropped, self._folded = [], "", 0, 0

    def tokens(self, messages: Sequence[dict[str, str]]) -> int:
        return sum(self.count(m["content"]) for m in messages)

    def messages(self) -> list[dict[str, str]]:
        """The messages to send: the newest that fit, with a summary of the older ones first when summarising.

        The newest message is always kept (cut to the budget if it alone is larger).
        """
        summary_budget = int(self.max_tokens * self.summary_share) if self.policy == "summarise" else 0
        budget = self.max_tokens - summary_budget
        kept: list[dict[str, str]] = []
        used = 0
        for m in reversed(self.history):
            n = self.count(m["content"])
            if kept and used + n > budget:
                break
            kept.insert(0, m)
            used += n
        if used > self.max_tokens and kept:  # one huge message: keep its end
            words = kept[0]["content"].split()
            kept[0] = {"role": kept[0]["role"], "content": " ".join(words[-self.max_tokens:])}
        old = self.history[: len(self.history) - len(kept)]
        self.dropped = len(old)
        if self.policy == "summarise" and old:
            if len(old) != self._folded:
                self.summary = self.summariser(old, max_tokens=summary_budget, count=self.count)
                self._folded = len(old)
            return [{"role": "user", "content": "Summary of earlier conversation: " + self.summary}] + kept
        return kept

    def __len__(self) -> int:
        return len(self.history)


class LongTermMemory:
    """Texts remembered across runs, recalled by meaning (embeddings + a Month 8 vector store).

    Parameters
    ----------
    embedder
        Anything with ``encode(list[str]) -> (n, dim) array`` and ``dim`` (default: :func:`aieng.retrieval.embed.load_embedder`).
    store
        A :class:`aieng.retrieval.VectorStore` (default: ``FaissStore(embedder.dim)``). Texts are kept in its metadata.
    """

    def __init__(self, embedder: Any = None, store: Any = None) -> None:
        if embedder is None:
            from aieng.retrieval.embed import load_embedder

            embedder = load_embedder()
        self.embedder = embedder
        if store is None:
            from aieng.retrieval import FaissStore

            store = FaissStore(int(embedder.dim))
        self.store = store

    def __len__(self) -> int:
        return len(self.store)

    def remember(self, texts: str | Sequence[str], **metadata: Any) -> list[str]:
        """Store one text or several (with the same metadata); returns their ids."""
        items = [texts] if isinstance(texts, str) else list(texts)
        items = [t for t in items if t and t.strip()]
        if not items:
            raise ValueError("nothing to remember: pass at least one non-empty text")
        ids = [f"m-{uuid.uuid4().hex[:12]}" for _ in items]
        X = np.asarray(self.embedder.encode(items), dtype=np.float32)
        self.store.add(ids, X, metadata=[{**metadata, "text": t} for t in items])
        return ids

    def recall(self, query: str, k: int = 3, where: dict[str, Any] | None = None) -> list[tuple[str, float]]:
        """The ``k`` remembered texts most similar to ``query``, as ``(text, cosine score)``."""
        if not query.strip():
            raise ValueError("empty query")
        if len(self.store) == 0:
            return []
        q = np.asarray(self.embedder.encode([query]), dtype=np.float32)[0]
        hits = self.store.search(q, k=k, where=where)
        return [(h.metadata.get("text", ""), float(h.score)) for h in hits]

    def save(self, path: str | os.PathLike[str]) -> None:
        self.store.save(path)

    @classmethod
    def load(cls, path: str | os.PathLike[str], embedder: Any = None) -> LongTermMemory:
        from aieng.retrieval import FaissStore

        mem = cls.__new__(cls)
        if embedder is None:
            from aieng.retrieval.embed import load_embedder

            embedder = load_embedder()
        mem.embedder = embedder
        mem.store = FaissStore.load(path)
        return mem
