"""Test doubles and fixtures shared by the unit tests (named as doubles: none of them is a real model)."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch

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
