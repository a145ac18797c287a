"""Each exercise of 06-deep-learning/01-representation-and-autograd accepts a right answer and rejects a wrong one."""

from __future__ import annotations

import numpy as np
import pytest

from aieng.book import CheckFailed, check, registry
from _exercise_contract import contract

# ---- reference answers ------------------------------------------------------------------------


def topo_order(root, parents):
    order, done, on_stack = [], set(), {root}
    stack = [(root, iter(parents(root)))]
    while stack:
        node, inputs = stack[-1]
        for parent in inputs:
            if parent not in done and parent not in on_stack:
                on_stack.add(parent)
                stack.append((parent, iter(parents(parent))))
                break
        else:
            stack.pop()
            done.add(node)
            order.append(node)
    return order


def unbroadcast(grad, shape):
    extra = grad.ndim - len(shape)
    grad = grad.sum(axis=tuple(range(extra))) if extra else grad
    stretched = tuple(k for k, n in enumerate(shape) if n == 1 and grad.shape[k] != 1)
    return grad.sum(axis=stretched, keepdims=True).reshape(shape)


def make_small_cnn():
    from torch import nn

    return nn.Sequential(nn.Conv2d(1, 4, 5), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 8, 3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(8 * 5 * 5, 10))


# ---- wrong answers ----------------------------------------------------------------------------


def topo_order_recursive(root, parents):  # right on small graphs, RecursionError on the long chain
    order, seen = [], set()

    def visit(node):
        if node not in seen:
            seen.add(node)
            for p in parents(node):
                visit(p)
            order.append(node)
    visit(root)
    return order


def topo_order_bfs(root, parents):  # breadth first from the root, reversed: not a topological order
    order, seen, queue = [], {root}, [root]
    while queue:
        node = queue.pop(0)
        order.append(node)
        for p in parents(node):
            if p not in seen:
                seen.add(p)
                queue.append(p)
    return order[::-1]


def topo_order_no_memory(root, parents):  # visits a shared node once per path: duplicates
    order, stack = [], [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
        else:
            stack.append((node, True))
            stack.extend((p, False) for p in parents(node))
    return order


def unbroadcast_leading_only(grad, shape):  # forgets the stretched size-1 dimensions
    extra = grad.ndim - len(shape)
    return grad.sum(axis=tuple(range(extra))) if extra else grad


def unbroadcast_mean(grad, shape):  # averages the copies instead of adding them
    extra = grad.ndim - len(shape)
    grad = grad.mean(axis=tuple(range(extra))) if extra else grad
    stretched = tuple(k for k, n in enumerate(shape) if n == 1 and grad.shape[k] != 1)
    return grad.mean(axis=stretched, keepdims=True).reshape(shape)


def make_small_mlp():  # within the budget, but three hidden units cannot describe a digit
    from torch import nn

    return nn.Sequential(nn.Flatten(), nn.Linear(784, 3), nn.ReLU(), nn.Linear(3, 10))


def make_big_cnn():  # accurate, but over the budget
    from torch import nn

    return nn.Sequential(nn.Conv2d(1, 8, 5), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 16, 3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(16 * 5 * 5, 10))


CASES = {
    "06.topo_order": (topo_order, topo_order_recursive),
    "06.unbroadcast": (unbroadcast, unbroadcast_leading_only),
    "06.small_cnn": (make_small_cnn, make_small_mlp),
    "06.think_two_paths": (5, 4),
    "06.think_reverse_order": ("B", "d"),
    "06.think_backward_cost": (2, 1),
}


def test_every_ch06_autograd_exercise_is_covered():
    from aieng.book.exercises import ch06_autograd

    mine = {n for n, ex in registry().items() if ex.cases.__module__ == ch06_autograd.__name__}
    assert mine == set(CASES)


test_reference_answer_passes, test_wrong_answer_fails, _ = contract(CASES)


@pytest.mark.parametrize("name, bad", [
    ("06.topo_order", topo_order_bfs),
    ("06.topo_order", topo_order_no_memory),
    ("06.topo_order", lambda root, parents: {root}),
    ("06.unbroadcast", unbroadcast_mean),
    ("06.unbroadcast", lambda grad, shape: grad),
    ("06.small_cnn", make_big_cnn),
    ("06.small_cnn", lambda: "not a model"),
])
def test_more_wrong_answers_fail(name, bad):
    with pytest.raises(CheckFailed):
        check(name, bad, strict=True, quiet=True)


def test_measure_small_cnn_reports_weights_and_accuracy():
    from aieng.book.exercises.ch06_autograd import measure_small_cnn

    measured = measure_small_cnn(make_small_cnn, num_steps=5)
    assert measured["weights"] == 2_410
    assert 0.0 <= measured["accuracy"] <= 1.0


def test_unbroadcast_reference_on_the_exercise_example():
    grad = np.ones((2, 3, 4, 5))
    np.testing.assert_array_equal(unbroadcast(grad, (3, 1, 5)), np.full((3, 1, 5), 8.0))
