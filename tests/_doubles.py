"""Test doubles and fixtures shared by the unit tests (named as doubles: none of them is a real model)."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
import torch

from aieng.llm import Usage
from aieng.retrieval import tokenize


class HashEmbedder:
    """A test double, not a language model: bag of hashed words, L2-normalised. Deterministic and instant."""

    name = "hash-test-double"
    dim = 64

    def encode(self, texts, batch_size=64, show_progress=None):
        texts = [texts] if isinstance(texts, str) else list(texts)
        X = np.zeros((len(texts), self.dim), dtype=np.float32)
        for r, t in enumerate(texts):
            for w in tokenize(t):
                X[r, zlib.crc32(w.encode()) % self.dim] += 1.0
        X[:, 0] += 1e-3  # no zero rows
        return X / np.linalg.norm(X, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread: small models run faster and steadier on it when other jobs share the cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class ScriptedChatModel:
    """A **test double**, not a language model: ``generate`` returns the next scripted reply.

    A reply may be a string, an exception instance (raised, to simulate a failing endpoint) or a callable
    ``f(messages) -> str``. When the script runs out it returns ``"[]"``.
    """

    def __init__(self, replies: Sequence[str | BaseException | Callable[[Any], str]], name: str = "scripted test double") -> None:
        self.replies = list(replies)
        self.name = name
        self.calls = 0
        self.last_usage = Usage()
        self.seen: list[Any] = []

    def generate(self, messages: Any, max_new_tokens: int = 256, temperature: float = 0.0, top_p: float = 1.0,
                 stop: Sequence[str] | None = None, seed: int | None = None) -> str:
        self.seen.append(messages)
        reply = self.replies[self.calls] if self.calls < len(self.replies) else "[]"
        self.calls += 1
        if isinstance(reply, BaseException):
            raise reply
        text = reply(messages) if callable(reply) else reply
        prompt = sum(len(str(m.get("content", "")).split()) for m in messages) if not isinstance(messages, str) else 1
        self.last_usage = Usage(prompt, len(text.split()), 0.0)
        return text

    def stream(self, messages: Any, **kwargs: Any) -> Any:
        yield self.generate(messages, **kwargs)
