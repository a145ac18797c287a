"""Each Month 7 exercise accepts a reference answer and rejects a wrong one."""

from __future__ import annotations

import math

import pytest
import torch

from aieng.llm.bpe import merge_pair
from aieng.book import check, registry


def causal_mask(T):
    return torch.ones(T, T, dtype=torch.bool).tril()


def sliding_window_mask(T, window):
    i, j = torch.arange(T)[:, None], torch.arange(T)[None, :]
    return (j <= i) & (j > i - window)


def split_heads(x, n_heads):
    B, T, C = x.shape
    if C % n_heads:
        raise ValueError("not divisible")
    return x.view(B, T, n_heads, C // n_heads).transpose(1, 2)


def lr_schedule(progress, lr, min_lr, warmup):
    if progress < warmup:
        return lr * progress / warmup
    t = (progress - warmup) / (1 - warmup)
    return min_lr + (lr - min_lr) * (1 + math.cos(math.pi * t)) / 2


def gpt_params(vocab_size, seq_len, n_layers, d_model):
    return vocab_size * d_model + seq_len * d_model + n_layers * (12 * d_model**2 + 2 * d_model) + d_model


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


CASES = {
    "07.causal_mask": (causal_mask, lambda T: torch.ones(T, T, dtype=torch.bool).triu()),
    "07.sliding_window_mask": (sliding_window_mask, lambda T, w: causal_mask(T)),
    "07.split_heads": (split_heads, lambda x, n: x.view(x.shape[0], n, x.shape[1], -1)),
    "07.lr_schedule": (lr_schedule, lambda p, lr, m, w: lr * (1 - p)),
    "07.gpt_params": (gpt_params, lambda V, T, L, d: V * d + L * 12 * d * d),
    "07.char_batch": (char_batch, lambda data, ix, T: (data[ix[:, None] + torch.arange(T)],) * 2),
    "07.min_p": (min_p_filter, lambda logits, p: logits),
    "07.sequence_logprob": (sequence_logprob, lambda logits, t, m: (logits.softmax(-1).gather(-1, t[..., None])[..., 0] * m).sum(-1)),
    "07.bpe_merge": (merge, lambda s, p: ["".join(s)]),
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


def test_stub_reads_as_not_attempted():
    def stub(*args):
        raise NotImplementedError

    assert check("07.causal_mask", stub, strict=True, quiet=True).status == "not attempted"
