"""Exercises of Month 6, notebook 03-inductive-bias-and-gpus (chapters/06-deep-learning).

``06.conv_as_matmul``, ``06.receptive_field``, ``06.batched_matmul`` (change it and measure: the speed-up
of one batched product over a Python loop of small ones), ``06.think_shuffle``, ``06.think_intensity``.

Hints point to the idea or the function to read; they never contain the answer's code.
"""

from __future__ import annotations

import time
from typing import Any

from aieng.book.cases import Case, exercise, near, same_choice

# --------------------------------------------------------------------------------------------
# a convolution as one matrix multiply
# --------------------------------------------------------------------------------------------

_CONV_SHAPES = [  # (n, c_in, length, c_out, k, stride, padding)
    (2, 1, 40, 25, 5, 2, 1),     # the CNN's first layer
    (2, 25, 19, 25, 3, 2, 1),    # its second
    (3, 3, 17, 4, 3, 1, 0),
    (1, 2, 9, 5, 9, 1, 0),       # kernel as long as the signal
    (4, 3, 30, 6, 4, 3, 2),
    (2, 5, 12, 3, 1, 1, 0),      # 1x1 convolution
]


def _judge_conv(conv1d_matmul: Any) -> str | None:
    import numpy as np
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(6)
    for n, c_in, length, c_out, k, stride, padding in _CONV_SHAPES:
        x = rng.normal(size=(n, c_in, length))
        w, b = rng.normal(size=(c_out, c_in, k)), rng.normal(size=c_out)
        want = F.conv1d(torch.tensor(x), torch.tensor(w), torch.tensor(b), stride=stride,
                        padding=padding).numpy()
        got = np.asarray(conv1d_matmul(x, w, b, stride=stride, padding=padding))
        where = f"x {x.shape}, weight {w.shape}, stride {stride}, padding {padding}"
        if got.shape != want.shape:
            return f"{where}: expected output shape {want.shape}, got {got.shape}"
        if not np.allclose(got, want, rtol=1e-9, atol=1e-9):
            return f"{where}: largest difference from torch's conv1d {np.abs(got - want).max():.2e}"
    return None


@exercise("06.conv_as_matmul", hint="Pad first (np.pad on the last axis only). Then build an array whose "
          "rows are the windows: one row per (example, output position), holding c_in * k numbers, in the "
          "same order as weight.reshape(c_out, c_in * k). The window starts are multiples of the stride; "
          "indexing the last axis with a 2-D array of positions (starts down, offsets across) cuts them "
          "all at once. After the one matmul, reshape and move the channel axis to the middle.")
def _conv_as_matmul():
    return [Case(test=_judge_conv)]


# --------------------------------------------------------------------------------------------
# the receptive field
# --------------------------------------------------------------------------------------------


def _measured_field(layers: list[tuple[int, int]]) -> int:
    """The receptive field of the last layer's middle unit, from the gradient of a random Conv1d stack."""
    import torch

    torch.manual_seed(0)
    convs = [torch.nn.Conv1d(1, 1, k, stride=s, bias=False) for k, s in layers]
    for conv in convs:
        torch.nn.init.uniform_(conv.weight, 0.5, 1.5)       # positive: no accidental cancellation
    length = 1
    for k, s in reversed(layers):                           # long enough for several output units
        length = (length + 2) * s + k
    x = torch.zeros(1, 1, length, requires_grad=True)
    h = x + 1.0
    for conv in convs:
        h = conv(h)
    h[0, 0, h.shape[-1] // 2].backward()
    hit = torch.nonzero(x.grad[0, 0]).flatten()
    return int(hit.max() - hit.min() + 1)


def _judge_field(receptive_field: Any) -> str | None:
    import random

    r = random.Random(6)
    for _ in range(25):
        layers = [(r.randint(1, 7), r.randint(1, 3)) for _ in range(r.randint(1, 4))]
        want = _measured_field(layers)
        got = receptive_field(list(layers))
        if got != want:
            return f"receptive_field({layers}) returned {got!r}; autograd measures {want}"
    return None


@exercise("06.receptive_field", hint="Work from the first layer up. Keep two numbers: the field so far and "
          "how many input positions one step of the current layer's output moves (the product of the "
          "strides so far). A kernel of size k adds k - 1 such steps. Check on paper: one layer with "
          "kernel 5 sees 5 positions.")
def _receptive_field():
    return [Case(([(5, 2), (3, 2), (3, 2)],), expected=17),
            Case(([(3, 1)],), expected=3),
            Case(([(3, 1), (3, 1), (3, 1)],), expected=7),
            Case(test=_judge_field)]


# --------------------------------------------------------------------------------------------
# change it and measure: one batched product against a Python loop
# --------------------------------------------------------------------------------------------

_MIN_SPEEDUP = 3.0
_MAX_TORCH_CALLS = 50  # a batched answer makes a handful; the loop makes over 4,000 (index, product, stack)


def _best(fn: Any, repeat: int = 7) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _torch_calls(fn: Any) -> int:
    """How many torch functions and tensor methods one call of ``fn`` goes through."""
    from torch.overrides import TorchFunctionMode

    class _Count(TorchFunctionMode):
        calls = 0

        def __torch_function__(self, func, types, args=(), kwargs=None):
            _Count.calls += 1
            return func(*args, **(kwargs or {}))

    with _Count():
        fn()
    return _Count.calls


def _judge_batched(batched_matmul: Any) -> str | None:
    import torch

    gen = torch.Generator().manual_seed(6)
    small_a, small_b = torch.randn(5, 3, 4, generator=gen), torch.randn(5, 4, 2, generator=gen)
    got = batched_matmul(small_a, small_b)
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != (5, 3, 2):
        return f"for shapes (5, 3, 4) and (5, 4, 2) expected a tensor of shape (5, 3, 2), got {got!r:.80}"
    As, Bs = torch.randn(2000, 8, 8, generator=gen), torch.randn(2000, 8, 8, generator=gen)
    want = torch.stack([a @ b for a, b in zip(As, Bs)])
    got = batched_matmul(As, Bs)
    if not isinstance(got, torch.Tensor) or got.shape != want.shape:
        return f"expected a tensor of shape {tuple(want.shape)}, got {getattr(got, 'shape', got)!r:.80}"
    if not torch.allclose(got, want, rtol=1e-4, atol=1e-5):
        return f"the products differ from a @ b by up to {(got - want).abs().max().item():.2e}"
    calls = _torch_calls(lambda: batched_matmul(As, Bs))
    if calls > _MAX_TORCH_CALLS:
        return (f"your function went through torch {calls:,} times for 2,000 products (a batched answer "
                f"needs a handful): is there still a Python loop?")
    # Both sides timed on one thread: the comparison is Python's per-call overhead against one call, and
    # a parallel product on cores that other processes share (a test runner's workers) stalls unevenly.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        loop = _best(lambda: torch.stack([a @ b for a, b in zip(As, Bs)]))
        batched = _best(lambda: batched_matmul(As, Bs))
    finally:
        torch.set_num_threads(threads)
    if loop / batched < _MIN_SPEEDUP:
        return (f"measured speed-up over the loop x{loop / batched:.1f} on one thread (loop {loop * 1e3:.2f} "
                f"ms, yours {batched * 1e3:.2f} ms); needed at least x{_MIN_SPEEDUP:g}: is there still a "
                f"Python loop, or a copy of the data?")
    return None


@exercise("06.batched_matmul", hint="torch's matrix product treats every dimension before the last two as a "
          "batch: read the documentation of torch.matmul (or torch.bmm). One call should do all 2,000 "
          "products; no Python loop, no list.")
def _batched_matmul():
    return [Case(test=_judge_batched, timeout_s=120)]


# --------------------------------------------------------------------------------------------
# Think! questions
# --------------------------------------------------------------------------------------------


@exercise("06.think_shuffle", hint="Which model gives every input position its own weights, so that a fixed "
          "reordering of the inputs can be matched by reordering the weights? Which one assumes that "
          "neighbouring positions belong together?", compare=same_choice)
def _think_shuffle():
    return [Case(args=None, expected="b")]


@exercise("06.think_intensity", hint="Count the operations (a multiply and an add for each term of each "
          "dot product) and the bytes (three n-by-n matrices of 4-byte numbers), then divide.",
          compare=near(rel_tol=0.02))
def _think_intensity():
    return [Case(args=None, expected=1024 / 6)]
