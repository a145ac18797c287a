"""aieng.retrieval.embed: the bundled all-MiniLM-L6-v2, shapes, normalisation and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from aieng.retrieval.embed import EmbedderNotFoundError, load_embedder


@pytest.fixture(scope="module")
def embedder():
    return load_embedder()


def test_default_is_the_bundled_minilm(embedder):
    assert embedder.name == "all-MiniLM-L6-v2" and embedder.dim == 384
    assert load_embedder() is embedder, "loaded once per process"


def test_encode_returns_unit_float32_rows(embedder):
    X = embedder.encode(["dog", "puppy", "quantum mechanics"])
    assert X.shape == (3, 384) and X.dtype == np.float32 and X.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)


def test_meaning_is_geometry(embedder):
    dog, puppy, quantum = embedder.encode(["dog", "puppy", "quantum mechanics"])
    assert dog @ puppy > 0.7 > 0.3 > dog @ quantum


def test_matches_sentence_transformers_directly(embedder):
    texts = ["Retrieval-augmented generation grounds answers in documents.", "short"]
    ref = embedder.model.encode(texts, normalize_embeddings=True)
    np.testing.assert_allclose(embedder.encode(texts, batch_size=1), ref, atol=1e-5)


def test_empty_list_and_single_string(embedder):
    assert embedder.encode([]).shape == (0, 384)
    assert embedder.encode("one sentence").shape == (1, 384)


def test_bad_input_is_a_clear_error(embedder):
    with pytest.raises(TypeError, match=r"texts\[1\] is int"):
        embedder.encode(["fine", 3])
    with pytest.raises(ValueError, match="batch_size"):
        embedder.encode(["x"], batch_size=0)


def test_unknown_model_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EmbedderNotFoundError, match="could not load embedder 'no-such-org/no-such-embedder'"):
        load_embedder("no-such-org/no-such-embedder")
