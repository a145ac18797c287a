"""Unit tests of aieng.llm.gpt (the Month 7 GPT), aieng.llm.bpe and the chargpt benchmark."""

from __future__ import annotations

import argparse
import math

import pytest
import torch
from _doubles import one_thread  # noqa: F401  (fixture)

from aieng.llm.bpe import BPETokenizer, merge_pair, merge_word, pretokenize
from aieng.llm.gpt import (GPT, CharTokenizer, GPTConfig, TrainConfig, get_batch, lr_at, split_data, train)

TINY = GPTConfig(vocab_size=11, seq_len=16, n_layers=2, n_heads=2, d_model=16)


pytestmark = pytest.mark.usefixtures("one_thread")


def test_config_rejects_bad_shapes():
    with pytest.raises(ValueError, match="divisible"):
        GPTConfig(d_model=10, n_heads=3)
    with pytest.raises(ValueError, match="n_layers"):
        GPTConfig(n_layers=0)
    with pytest.raises(ValueError, match="dropout"):
        GPTConfig(dropout=1.5)


def test_forward_shapes_and_initial_loss():
    torch.manual_seed(0)
    model = GPT(TINY)
    X, y = torch.randint(11, (4, 16)), torch.randint(11, (4, 16))
    logits, loss = model(X, y)
    assert logits.shape == (4, 16, 11)
    assert abs(loss.item() - math.log(11)) < 0.3  # an untrained model guesses uniformly
    assert model(X)[1] is None
    assert model.head.weight is model.tok_emb.weight  # tied


def test_model_is_causal():
    torch.manual_seed(0)
    model = GPT(TINY).eval()
    X = torch.randint(11, (2, 16))
    X2 = X.clone()
    X2[:, 10:] = (X2[:, 10:] + 1) % 11
    a, b = model(X)[0], model(X2)[0]
    torch.testing.assert_close(a[:, :10], b[:, :10])
    assert not torch.allclose(a[:, 10:], b[:, 10:])


def test_attention_matches_manual_formula():
    torch.manual_seed(0)
    attn = GPT(TINY).blocks[0].attn.eval()
    x = torch.randn(1, 5, 16)
    q, k, v = attn.qkv(x).split(16, dim=2)
    heads = lambda t: t.view(1, 5, 2, 8).transpose(1, 2)  # noqa: E731
    q, k, v = heads(q), heads(k), heads(v)
    scores = (q @ k.transpose(-2, -1)) / math.sqrt(8)
    scores = scores.masked_fill(~torch.ones(5, 5, dtype=torch.bool).tril(), float("-inf"))
    manual = attn.proj((scores.softmax(-1) @ v).transpose(1, 2).reshape(1, 5, 16))
    torch.testing.assert_close(attn(x), manual, atol=1e-6, rtol=1e-5)


def test_too_long_input_is_rejected():
    with pytest.raises(ValueError, match="longer than the context"):
        GPT(TINY)(torch.zeros(1, 17, dtype=torch.long))


def test_generate_length_greedy_and_bad_temperature():
    torch.manual_seed(0)
    model = GPT(TINY)
    idx = torch.zeros(1, 3, dtype=torch.long)
    out = model.generate(idx, 20)  # longer than the context: must crop, not fail
    assert out.shape == (1, 23) and torch.equal(out[:, :3], idx)
    assert torch.equal(model.generate(idx, 5, temperature=0), model.generate(idx, 5, temperature=0))
    assert model.generate(idx, 5, top_k=1).shape == (1, 8)
    with pytest.raises(ValueError):
        model.generate(idx, 5, temperature=-1)


def test_char_tokenizer():
    tok = CharTokenizer.from_text("hello world")
    assert tok.vocab_size == 8
    assert tok.decode(tok.encode("low hello")) == "low hello"
    with pytest.raises(KeyError, match="'z'"):
        tok.encode("zebra")
    with pytest.raises(ValueError):
        CharTokenizer.from_text("")
    with pytest.raises(ValueError):
        CharTokenizer(["a", "a"])


def test_split_and_batches():
    data = torch.arange(100)
    tr, va = split_data(data, 0.1)
    assert len(tr) == 90 and len(va) == 10 and va[0] == 90
    X, y = get_batch(tr, 4, 8, generator=torch.Generator().manual_seed(0))
    assert X.shape == y.shape == (4, 8)
    assert torch.equal(X[:, 1:], y[:, :-1]) and torch.equal(y - X, torch.ones_like(X))
    with pytest.raises(ValueError):
        get_batch(torch.arange(5), 2, 8)
    with pytest.raises(ValueError):
        split_data(data, 1.5)


def test_lr_schedule():
    assert lr_at(0.0, 1.0, 0.1, 0.1) == 0.0
    assert lr_at(0.1, 1.0, 0.1, 0.1) == pytest.approx(1.0)
    assert lr_at(1.0, 1.0, 0.1, 0.1) == pytest.approx(0.1)
    assert lr_at(0.55, 1.0, 0.0, 0.1) == pytest.approx(0.5)
    assert lr_at(0.0, 1.0, 0.1, 0.0) == pytest.approx(1.0)


def test_train_config_validation():
    with pytest.raises(ValueError):
        TrainConfig(num_steps=0)
    with pytest.raises(ValueError):
        TrainConfig(lr=1e-3, min_lr=1e-2)
    with pytest.raises(ValueError):
        TrainConfig(max_seconds=-1)


def test_training_lowers_the_loss():
    torch.manual_seed(0)
    text = "to be or not to be, that is the question. " * 40
    tok = CharTokenizer.from_text(text)
    tr, va = split_data(tok.encode(text))
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, seq_len=16, n_layers=1, n_heads=2, d_model=32))
    result = train(model, tr, va, TrainConfig(num_steps=60, batch_size=16, lr=3e-3, min_lr=3e-4,
                                              eval_every=30, eval_batches=2, device="cpu"), progress=False)
    assert result.num_steps == 60 and len(result.step_loss) == 60
    assert result.steps == [30, 60]
    assert result.val_loss[-1] < math.log(tok.vocab_size) - 1.0
    assert result.best_val_loss == min(result.val_loss)
    assert result.tokens_per_s > 0


def test_training_for_a_time_budget_stops():
    torch.manual_seed(0)
    data = torch.randint(5, (500,))
    model = GPT(GPTConfig(vocab_size=5, seq_len=8, n_layers=1, n_heads=1, d_model=8))
    result = train(model, data, data, TrainConfig(max_seconds=0.5, batch_size=4, eval_every=10**6,
                                                  eval_batches=1, device="cpu"), progress=False)
    assert 0.5 <= result.train_seconds < 2.0 and result.num_steps > 0


def test_train_rejects_short_data():
    model = GPT(TINY)
    with pytest.raises(ValueError, match="longer than seq_len"):
        train(model, torch.arange(10) % 11, torch.arange(100) % 11, TrainConfig(num_steps=1), progress=False)


# ----------------------------------------------------------------------------- BPE


def test_bpe_merges_and_round_trip():
    text = "low lower lowest newer newest " * 20
    tok = BPETokenizer.train(text, num_merges=8)
    assert len(tok.merges) == 8
    assert tok.merges[0] in {("l", "o"), ("o", "w"), ("e", "w"), (" ", "l"), (" ", "n"), ("n", "e"), ("w", "e")}
    assert tok.decode(tok.encode("lowest newer")) == "lowest newer"
    assert len(tok.encode("lowest newer")) < len("lowest newer")
    assert tok.vocab_size == len(set(text)) + 8
    with pytest.raises(KeyError):
        tok.encode("xyz")
    with pytest.raises(ValueError):
        BPETokenizer.train("", 3)
    with pytest.raises(ValueError):
        BPETokenizer.train("abc", -1)


def test_merge_helpers():
    assert merge_pair(list("aaa"), ("a", "a")) == ("aa", "a")
    assert merge_word(list("abcd"), {("b", "c"): 0, ("a", "bc"): 1, ("c", "d"): 2}) == ["abc", "d"]
    assert merge_word(list("ab"), {}) == ["a", "b"]
    assert "".join(pretokenize("Hello, world!\n  ok")) == "Hello, world!\n  ok"


# ----------------------------------------------------------------------------- benchmark


def test_chargpt_bench_runs_briefly():
    from aieng.bench import chargpt

    parser = argparse.ArgumentParser()
    chargpt.add_arguments(parser)
    args = parser.parse_args(["--minutes", "0.03", "--device", "cpu", "--n-layers", "1", "--d-model", "32",
                              "--seq-len", "16", "--batch-size", "4"])
    result = chargpt.run(args)
    assert {"best_val_loss", "tokens_per_s", "minutes", "device"} <= result.keys()
    assert result["device"] == "cpu" and result["model"]["n_layers"] == 1
    assert 0 < result["best_val_loss"] < 5
    assert "best val loss" in chargpt.format_table(result)
    with pytest.raises(ValueError):
        chargpt.run(parser.parse_args(["--minutes", "0"]))
