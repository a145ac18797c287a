"""Each Month 7 exercise accepts a reference answer and rejects a wrong one."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from aieng.book import check, registry
from aieng.llm.bpe import merge_pair


def sliding_window_mask(T, window):
    i, j = torch.arange(T)[:, None], torch.arange(T)[None, :]
    return (j <= i) & (j > i - window)


def rope_pairs(x, positions, base=10000.0):
    d = x.shape[-1]
    theta = base ** (-torch.arange(0, d, 2, dtype=torch.float32) / d)
    angle = positions[:, None].float() * theta
    z = torch.view_as_complex(x.float().reshape(*x.shape[:-1], d // 2, 2).contiguous())
    return torch.view_as_real(z * torch.polar(torch.ones_like(angle), angle)).reshape(x.shape)


def rope_halves(x, positions, base=10000.0):  # the rotate-half layout: right idea, wrong pairing
    d = x.shape[-1]
    theta = base ** (-torch.arange(0, d, 2, dtype=torch.float32) / d)
    angle = positions[:, None].float() * theta
    x1, x2 = x[..., : d // 2], x[..., d // 2:]
    return torch.cat([x1 * angle.cos() - x2 * angle.sin(), x1 * angle.sin() + x2 * angle.cos()], -1)


def open_lstm():
    lstm = torch.nn.LSTM(16, 64, batch_first=True)
    with torch.no_grad():
        lstm.bias_ih_l0[64:128] = 3.0
    return lstm


def lr_schedule(progress, lr, min_lr, warmup):
    if progress < warmup:
        return lr * progress / warmup
    t = (progress - warmup) / (1 - warmup)
    return min_lr + (lr - min_lr) * (1 + math.cos(math.pi * t)) / 2


def gpt_params(vocab_size, seq_len, n_layers, d_model):
    return {"token_embedding": vocab_size * d_model, "position_embedding": seq_len * d_model,
            "blocks": n_layers * (12 * d_model**2 + 2 * d_model), "final_norm": d_model}


def char_batch(data, ix, seq_len):
    grid = ix[:, None] + torch.arange(seq_len)
    return data[grid], data[grid + 1]


def min_p_filter(logits, min_p):
    probs = logits.softmax(-1)
    return logits.masked_fill(probs < min_p * probs.max(), float("-inf"))


def sequence_logprob(logits, targets, mask):
    return (logits.log_softmax(-1).gather(-1, targets[..., None])[..., 0] * mask).sum(-1)


def merge(symbols, pair):
    return list(merge_pair(symbols, pair))


def no_repeat_ngram(logits, ids, n):
    out = logits.clone()
    if len(ids) < n - 1:
        return out
    prefix = ids[len(ids) - n + 1:]
    for i in range(len(ids) - n + 1):
        if ids[i:i + n - 1] == prefix:
            out[ids[i + n - 1]] = float("-inf")
    return out


def _result(steps, loss):
    return SimpleNamespace(num_steps=steps, best_val_loss=loss)


BASE = _result(25, 2.98)

CASES = {
    "07.sliding_window_mask": (sliding_window_mask, lambda T, w: torch.ones(T, T, dtype=torch.bool).tril()),
    "07.rope_pairs": (rope_pairs, rope_halves),
    "07.long_memory": (open_lstm, lambda: torch.nn.LSTM(16, 64, batch_first=True)),
    "07.think_scale": (64, 8),
    "07.think_family": ("b", "a"),
    "07.lr_schedule": (lr_schedule, lambda p, lr, m, w: lr * (1 - p)),
    "07.gpt_params": (gpt_params, lambda V, T, L, d: {**gpt_params(V, T, L, d), "position_embedding": 0}),
    "07.think_dominant": ("(b)", "a"),
    "07.beat_recipe": ((BASE, _result(25, 2.90)), (BASE, _result(50, 2.50))),
    "07.char_batch": (char_batch, lambda data, ix, T: (data[ix[:, None] + torch.arange(T)],) * 2),
    "07.min_p": (min_p_filter, lambda logits, p: logits),
    "07.sequence_logprob": (sequence_logprob, lambda logits, t, m: (logits.softmax(-1).gather(-1, t[..., None])[..., 0] * m).sum(-1)),
    "07.bpe_merge": (merge, lambda s, p: ["".join(s)]),
    "07.no_repeat": (no_repeat_ngram, lambda logits, ids, n: logits.clone()),
    "07.think_dpo": (math.log(2), 0.0),
}


def test_every_ch07_exercise_is_covered():
    assert {n for n in registry() if n.startswith("07.")} == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_reference_passes_and_wrong_answer_fails(name):
    right, wrong = CASES[name]
    assert check(name, right, strict=True, quiet=True)
    result = check(name, wrong, strict=False, quiet=True)
    assert result.status == "fail", result.message
    with pytest.raises(AssertionError):
        check(name, wrong, strict=True, quiet=True)


def test_beat_recipe_rejects_a_worse_or_reused_result():
    assert check("07.beat_recipe", (BASE, _result(25, 3.10)), strict=False, quiet=True).status == "fail"
    assert check("07.beat_recipe", (BASE, BASE), strict=False, quiet=True).status == "fail"


def test_a_default_rnn_does_not_remember():
    assert check("07.long_memory", lambda: torch.nn.RNN(16, 64, batch_first=True), strict=False, quiet=True).status == "fail"


def test_stub_reads_as_not_attempted():
    def stub(*args):
        raise NotImplementedError

    assert check("07.sliding_window_mask", stub, strict=True, quiet=True).status == "not attempted"
    assert check("07.think_scale", None, strict=True, quiet=True).status == "not attempted"
