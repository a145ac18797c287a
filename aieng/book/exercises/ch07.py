"""Exercises of Month 7, transformers and LLMs (chapters/07-transformers-and-llms)."""

from __future__ import annotations

import math

import torch

from aieng.book.cases import Case, exercise
from aieng.llm.bpe import merge_pair


def _tensor_equal(expected, got) -> bool:
    return (isinstance(got, torch.Tensor) and got.shape == expected.shape and got.dtype == expected.dtype
            and bool(torch.equal(got, expected)))


def _tensor_close(expected, got) -> bool:
    return (isinstance(got, torch.Tensor) and got.shape == expected.shape
            and bool(torch.allclose(got.float(), expected.float(), atol=1e-5, rtol=1e-5)))


# ----------------------------------------------------------------------------- 01-attention


@exercise("07.causal_mask", hint="torch.ones(T, T, dtype=torch.bool).tril() keeps the diagonal and below.",
          compare=_tensor_equal)
def _causal_mask():
    return [Case((1,), expected=torch.ones(1, 1, dtype=torch.bool)),
            Case((3,), expected=torch.tensor([[1, 0, 0], [1, 1, 0], [1, 1, 1]], dtype=torch.bool)),
            Case((6,), expected=torch.ones(6, 6, dtype=torch.bool).tril())]


def _window(T: int, w: int) -> torch.Tensor:
    return torch.ones(T, T, dtype=torch.bool).tril() & ~torch.ones(T, T, dtype=torch.bool).tril(-w)


@exercise("07.sliding_window_mask", hint="Combine two conditions on i (row) and j (column): j <= i and j > i - window.",
          compare=_tensor_equal)
def _sliding_window_mask():
    return [Case((4, 2), expected=torch.tensor([[1, 0, 0, 0], [1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]],
                                                 dtype=torch.bool)),
            Case((5, 1), expected=torch.eye(5, dtype=torch.bool)),
            Case((5, 9), expected=torch.ones(5, 5, dtype=torch.bool).tril()),
            Case((7, 3), expected=_window(7, 3))]


def _split_ref(x: torch.Tensor, n: int) -> torch.Tensor:
    B, T, C = x.shape
    return x.view(B, T, n, C // n).transpose(1, 2)


@exercise("07.split_heads", hint="view(B, T, n_heads, C // n_heads), then transpose(1, 2) to move heads before time.",
          compare=_tensor_equal)
def _split_heads():
    g = torch.Generator().manual_seed(7)
    x1 = torch.arange(2 * 3 * 8, dtype=torch.float32).view(2, 3, 8)
    x2 = torch.randn(1, 5, 12, generator=g)
    return [Case((x1, 2), expected=_split_ref(x1, 2)), Case((x1, 4), expected=_split_ref(x1, 4)),
            Case((x2, 3), expected=_split_ref(x2, 3)), Case((x2, 5), raises=ValueError)]


# ----------------------------------------------------------------------------- 02-build-a-gpt


def _lr(progress: float, lr: float, min_lr: float, warmup: float) -> float:
    if progress < warmup:
        return lr * progress / warmup
    decay = (progress - warmup) / (1 - warmup)
    return min_lr + 0.5 * (1 + math.cos(math.pi * decay)) * (lr - min_lr)


@exercise("07.lr_schedule", hint="Below the warm-up fraction return lr * progress / warmup; after it, rescale "
          "progress to [0, 1] over the rest and use min_lr + (lr - min_lr) * (1 + cos(pi * t)) / 2.")
def _lr_schedule():
    args = [(0.0, 1e-3, 1e-4, 0.1), (0.05, 1e-3, 1e-4, 0.1), (0.1, 1e-3, 1e-4, 0.1), (0.55, 1e-3, 1e-4, 0.1),
            (1.0, 1e-3, 1e-4, 0.1), (0.3, 2e-3, 0.0, 0.2), (0.9, 6e-4, 6e-5, 0.02)]
    return [Case(a, expected=_lr(*a)) for a in args]


def _n_params(vocab_size: int, seq_len: int, n_layers: int, d_model: int) -> int:
    return vocab_size * d_model + seq_len * d_model + n_layers * (12 * d_model**2 + 2 * d_model) + d_model


@exercise("07.gpt_params", hint="Count per block: two layer norms (d each, no bias), qkv (3 d^2), the output "
          "projection (d^2) and the MLP (4 d^2 up, 4 d^2 down). Add both embeddings and the final norm; "
          "the head is tied to the token embedding, so it adds nothing.")
def _gpt_params():
    args = [(65, 256, 6, 384), (65, 64, 4, 128), (50257, 1024, 12, 768), (10, 8, 1, 4)]
    return [Case(a, expected=_n_params(*a)) for a in args]


def _windows(data: torch.Tensor, ix: torch.Tensor, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    offsets = torch.arange(seq_len)
    return data[ix[:, None] + offsets], data[ix[:, None] + offsets + 1]


def _pair_equal(expected, got) -> bool:
    return (isinstance(got, tuple) and len(got) == 2
            and all(_tensor_equal(e, g) for e, g in zip(expected, got)))


@exercise("07.char_batch", hint="For each start index s take data[s : s + seq_len] as the input row and "
          "data[s + 1 : s + seq_len + 1] as the target row; stack the rows.", compare=_pair_equal)
def _char_batch():
    data = torch.arange(100, 120)
    return [Case((data, torch.tensor([0, 5]), 4), expected=_windows(data, torch.tensor([0, 5]), 4)),
            Case((data, torch.tensor([15]), 4), expected=_windows(data, torch.tensor([15]), 4)),
            Case((data, torch.tensor([3, 3, 9]), 1), expected=_windows(data, torch.tensor([3, 3, 9]), 1))]


# ----------------------------------------------------------------------------- 03-llms


def _min_p(logits: torch.Tensor, min_p: float) -> torch.Tensor:
    probs = logits.softmax(-1)
    keep = probs >= min_p * probs.max(-1, keepdim=True).values
    return logits.masked_fill(~keep, float("-inf"))


@exercise("07.min_p", hint="Softmax the logits, find the largest probability, and set to -inf every logit "
          "whose probability is below min_p times that maximum.", compare=_tensor_close)
def _min_p_cases():
    g = torch.Generator().manual_seed(3)
    l1 = torch.tensor([2.0, 1.0, 0.0, -1.0])
    l2 = torch.randn(50, generator=g) * 3
    return [Case((l1, 0.3), expected=_min_p(l1, 0.3)), Case((l1, 0.0), expected=l1.clone()),
            Case((l2, 0.1), expected=_min_p(l2, 0.1)), Case((l2, 1.0), expected=_min_p(l2, 1.0))]


def _seq_logprob(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    logp = logits.log_softmax(-1).gather(-1, targets[..., None])[..., 0]
    return (logp * mask).sum(-1)


@exercise("07.sequence_logprob", hint="log_softmax over the vocabulary, gather the target's entry at each "
          "position, multiply by the mask and sum over time.", compare=_tensor_close)
def _sequence_logprob():
    g = torch.Generator().manual_seed(5)
    logits = torch.randn(2, 6, 11, generator=g)
    targets = torch.randint(11, (2, 6), generator=g)
    mask = torch.tensor([[0, 0, 1, 1, 1, 1], [0, 1, 1, 1, 0, 0]], dtype=torch.float32)
    return [Case((logits, targets, mask), expected=_seq_logprob(logits, targets, mask)),
            Case((logits, targets, torch.ones(2, 6)), expected=_seq_logprob(logits, targets, torch.ones(2, 6))),
            Case((torch.zeros(1, 3, 4), torch.tensor([[0, 1, 2]]), torch.ones(1, 3)),
                 expected=torch.tensor([3 * math.log(0.25)]))]


@exercise("07.bpe_merge", hint="Walk left to right with an index; when symbols[i], symbols[i + 1] is the pair, "
          "append the joined symbol and skip two, otherwise append symbols[i] and move one.")
def _bpe_merge():
    cases = [(list("hello"), ("l", "l")), (list("aaaa"), ("a", "a")), (list("aaa"), ("a", "a")),
             (["th", "e", " ", "th", "e"], ("th", "e")), (list("abc"), ("x", "y")), ([], ("a", "b"))]
    return [Case((list(s), p), expected=list(merge_pair(s, p))) for s, p in cases]
