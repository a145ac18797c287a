"""Exercises of Month 6, notebook 01-representation-and-autograd (chapters/06-deep-learning).

``06.topo_order``, ``06.unbroadcast``, ``06.small_cnn`` (change it and measure),
``06.think_two_paths``, ``06.think_reverse_order``, ``06.think_backward_cost``.

Hints point to the idea or the function to read; they never contain the answer's code.
"""

from __future__ import annotations

import functools
import random
from typing import Any

from aieng.book.cases import Case, exercise, same_choice

# ---- 06.topo_order --------------------------------------------------------------------------------


def _reachable(root: Any, parents: Any) -> set:
    seen, todo = {root}, [root]
    while todo:
        for p in parents(todo.pop()):
            if p not in seen:
                seen.add(p)
                todo.append(p)
    return seen


def _judge_one(topo_order: Any, root: Any, graph: dict, what: str) -> str | None:
    def parents(node: Any) -> list:
        return list(graph.get(node, ()))

    got = topo_order(root, parents)
    if not isinstance(got, (list, tuple)):
        return f"{what}: return a list of nodes, got {type(got).__name__}"
    got = list(got)
    expected = _reachable(root, parents)
    if len(got) != len(set(got)):
        dup = next(n for n in got if got.count(n) > 1) if len(got) < 2_000 else "a node"
        return f"{what}: {dup!r} appears more than once; list each node once"
    if set(got) != expected:
        missing, extra = expected - set(got), set(got) - expected
        if missing:
            return f"{what}: {len(missing)} reachable node(s) missing, e.g. {next(iter(missing))!r}"
        return f"{what}: {next(iter(extra))!r} is not reachable from the root"
    if got[-1] != root:
        return f"{what}: the root must come last, got {got[-1]!r} last"
    position = {n: i for i, n in enumerate(got)}
    for node in got:
        for p in parents(node):
            if position[p] > position[node]:
                return f"{what}: {node!r} comes before its input {p!r}"
    return None


def _random_dag(rng: random.Random, n: int, max_parents: int) -> dict:
    # node k's inputs are later nodes, so the graph has no cycle; 0 is the root
    return {k: rng.sample(range(k + 1, n), min(n - k - 1, rng.randint(0, max_parents)))
            for k in range(n)}


def _judge_topo(topo_order: Any) -> str | None:
    rng = random.Random(0)
    cases = [({0: []}, 0, "a single node"),
             ({"L": ["+", "a"], "+": ["*", "c"], "*": ["a", "b"]}, "L", "L = (a*b + c) + a")]
    for seed in range(30):
        n = rng.randint(2, 40)
        cases.append((_random_dag(rng, n, 3), 0, f"random graph {seed} ({n} nodes)"))
    # a ladder where node k uses k+1 and k+2: 2**60 paths, so a search without memory never ends
    cases.append(({k: [k + 1, k + 2] for k in range(60)}, 0, "a ladder of 62 nodes, each used twice"))
    n = 50_000
    cases.append(({k: [k + 1] for k in range(n)}, 0, f"a chain of {n:,} nodes"))
    for graph, root, what in cases:
        try:
            failure = _judge_one(topo_order, root, graph, what)
        except RecursionError:
            return f"{what}: RecursionError; keep your own stack (a list) instead of recursing"
        if failure:
            return failure
    return None


@exercise("06.topo_order", hint="Replace the call stack by a list you manage: push a node with an iterator "
          "over its inputs; look at the top, advance its iterator to the next input not yet done and push "
          "that; when its inputs are exhausted, pop it and append it to the order. Keep a set of the nodes "
          "done so that a node used many times is visited once.")
def _topo_order():
    return [Case(test=_judge_topo, show="topo_order(root, parents) on random graphs", timeout_s=30)]


# ---- 06.unbroadcast -------------------------------------------------------------------------------


def _judge_unbroadcast(unbroadcast: Any) -> str | None:
    import numpy as np
    import torch

    rng = np.random.default_rng(0)
    pairs = [((2, 3, 4, 5), (3, 1, 5)), ((4, 3), (1, 3)), ((4, 3), (3,)), ((4, 3), (4, 1)),
             ((2, 3), (2, 3)), ((3, 4), ()), ((1, 4), (1, 4)), ((2, 1, 3), (1, 1, 1))]
    for _ in range(40):
        full = tuple(int(n) for n in rng.integers(1, 5, size=int(rng.integers(1, 5))))
        drop = int(rng.integers(0, len(full) + 1))
        shape = tuple(1 if rng.random() < 0.4 else n for n in full[drop:])
        pairs.append((full, shape))
    for full, shape in pairs:
        a = torch.randn(shape, dtype=torch.float64, requires_grad=True)
        x = torch.randn(full, dtype=torch.float64)
        upstream = torch.randn(full, dtype=torch.float64)
        ((a + x) * upstream).sum().backward()          # d/d(a + x) is `upstream`
        got = np.asarray(unbroadcast(upstream.numpy().copy(), shape))
        if got.shape != tuple(shape):
            return f"unbroadcast(grad of shape {full}, {shape}) has shape {got.shape}"
        if not np.allclose(got, a.grad.numpy(), rtol=1e-10, atol=1e-10):
            return (f"unbroadcast(grad of shape {full}, {shape}): the values differ from "
                    "torch.autograd's gradient of the operand")
    return None


@exercise("06.unbroadcast", hint="A broadcast copy of a value is one more use of it, and the gradients of "
          "all uses add up. Align the shapes from the right: sum the gradient over the leading dimensions "
          "the operand does not have, then over every dimension where the operand has size 1 and the "
          "gradient does not, keeping that dimension (numpy's keepdims).")
def _unbroadcast():
    return [Case(test=_judge_unbroadcast, show="unbroadcast(grad, shape) on random broadcasts")]


# ---- 06.small_cnn ---------------------------------------------------------------------------------

MAX_WEIGHTS = 2_500
MIN_ACCURACY = 0.85
NUM_STEPS, BATCH_SIZE, LR = 150, 64, 3e-3


@functools.lru_cache(maxsize=1)
def _digits() -> tuple:
    """The notebook's split of mnist_5k: shuffled with seed 0, the first 4,000 for training."""
    import numpy as np
    import torch

    from aieng.data import load_mnist_5k

    X, y = load_mnist_5k()
    order = np.random.default_rng(0).permutation(len(X))
    X = torch.tensor(X[order][:, None] / 255, dtype=torch.float32)
    y = torch.tensor(y[order])
    return X[:4_000], y[:4_000], X[4_000:], y[4_000:]


def measure_small_cnn(make_model: Any, num_steps: int = NUM_STEPS) -> dict[str, float]:
    """Train ``make_model()`` as the notebook's ``train`` does; its weights and test accuracy."""
    import torch
    from torch import nn

    X_train, y_train, X_test, y_test = _digits()
    torch.manual_seed(0)
    model = make_model()
    weights = sum(p.numel() for p in model.parameters())
    gen = torch.Generator().manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    model.train()
    for _ in range(num_steps):
        idx = torch.randint(0, len(X_train), (BATCH_SIZE,), generator=gen)
        loss = nn.functional.cross_entropy(model(X_train[idx]), y_train[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        accuracy = (model(X_test).argmax(1) == y_test).float().mean().item()
    return {"weights": weights, "accuracy": accuracy}


def _judge_small_cnn(make_model: Any) -> str | None:
    import torch

    model = make_model()
    if not isinstance(model, torch.nn.Module):
        return f"make_model() must return a torch.nn.Module, got {type(model).__name__}"
    weights = sum(p.numel() for p in model.parameters())
    if weights > MAX_WEIGHTS:
        return f"the model has {weights:,} weights; the budget is {MAX_WEIGHTS:,}"
    with torch.no_grad():
        out = model(torch.zeros(2, 1, 28, 28))
    if tuple(out.shape) != (2, 10):
        return f"a batch of shape (2, 1, 28, 28) gave scores of shape {tuple(out.shape)}, not (2, 10)"
    measured = measure_small_cnn(make_model)
    if measured["accuracy"] < MIN_ACCURACY:
        return (f"{measured['weights']:,} weights, test accuracy {measured['accuracy']:.3f} after "
                f"{NUM_STEPS} steps: below {MIN_ACCURACY}")
    return None


@exercise("06.small_cnn", hint="Count the weights of each layer of the notebook's CNN (p.numel() for each "
          "parameter): most sit in the last linear layer, whose size is channels x 5 x 5 x 10. Fewer "
          "channels in the convolutions shrink it. A fully connected network within the budget can only "
          "have a handful of hidden units: measure one to see why that fails.")
def _small_cnn():
    return [Case(test=_judge_small_cnn, show="make_model() trained for 150 steps", timeout_s=120)]


# ---- Think! -------------------------------------------------------------------------------------


@exercise("06.think_two_paths", hint="a reaches L along two paths, through the product and directly. "
          "Multiply the local derivatives along each path, then add the paths.")
def _think_two_paths():
    return [Case(args=None, expected=5)]


@exercise("06.think_reverse_order", hint="When is a node's grad complete? Count the nodes that use it, "
          "and ask where they sit in the order.", compare=same_choice)
def _think_reverse_order():
    return [Case(args=None, expected="b")]


@exercise("06.think_backward_cost", hint="Write the shapes of the two products the matrix-product rule "
          "computes, and count the multiply-adds of each as m x k x n was counted for the forward pass.")
def _think_backward_cost():
    return [Case(args=None, expected=2)]
