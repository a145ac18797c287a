"""Each exercise of chapters/04-math/03-calculus-and-optimisation accepts a correct answer and rejects
wrong ones."""

from __future__ import annotations

import numpy as np
import pytest

from _exercise_contract import contract
from aieng.book import CheckFailed, check
from aieng.book.exercises import ch04_calculus

# ---- reference answers ------------------------------------------------------------------------


def second_derivative(f, x, h=1e-4):
    return (f(x + h) - 2 * f(x) + f(x - h)) / h ** 2


def _softmax(z):
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max())
    return e / e.sum()


def softmax_jacobian(z):
    p = _softmax(z)
    return np.diag(p) - np.outer(p, p)


# ---- wrong answers ----------------------------------------------------------------------------


def second_derivative_forward(f, x, h=1e-4):  # one-sided: O(h) error
    return (f(x + 2 * h) - 2 * f(x + h) + f(x)) / h ** 2


def second_derivative_tiny_h(f, x, h=1e-7):  # round-off swamps it
    return (f(x + h) - 2 * f(x) + f(x - h)) / h ** 2


def jacobian_diagonal_only(z):  # forgets the -p_i p_j off the diagonal
    p = _softmax(z)
    return np.diag(p * (1 - p))


def jacobian_naive_softmax(z):  # right formula, overflowing softmax
    z = np.asarray(z, dtype=float)
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(z)
        p = e / e.sum()
    return np.diag(p) - np.outer(p, p)


CASES = {
    "04.second_derivative": (second_derivative, second_derivative_forward),
    "04.softmax_jacobian": (softmax_jacobian, jacobian_diagonal_only),
    "04.tune_momentum": ((0.033, 0.67), (0.01, 0.0)),
    "04.think_diverge": (0.04, 0.2),
    "04.think_ce_grad": (-0.3, 0.3),
}


def test_every_exercise_of_the_notebook_is_covered():
    names = {ex for ex in ch04_calculus.__doc__.split("``") if ex.startswith("04.")}
    assert names == set(CASES)


test_reference_answer_passes, test_wrong_answer_fails, test_stub_reads_as_not_attempted = contract(CASES)


@pytest.mark.parametrize("name, bad", [
    ("04.second_derivative", second_derivative_tiny_h),
    ("04.softmax_jacobian", jacobian_naive_softmax),
    ("04.tune_momentum", (0.05, 0.99)),     # oscillates for too long
    ("04.tune_momentum", (0.03, 1.2)),      # beta >= 1 is not momentum
    ("04.tune_momentum", "0.033, 0.67"),
    ("04.think_diverge", 1.0),
    ("04.think_ce_grad", 0.7),
])
def test_more_wrong_answers_fail(name, bad):
    with pytest.raises(CheckFailed):
        check(name, bad, strict=True, quiet=True)


@pytest.mark.parametrize("settings", [(0.033, 0.67), (0.03, 0.7), (0.025, 0.75)])
def test_momentum_near_the_theory_passes(settings):
    assert check("04.tune_momentum", settings, strict=True, quiet=True)


def test_plain_gradient_descent_cannot_reach_the_target():
    """The measure is fair: no lr makes plain gradient descent pass in 100 steps."""
    assert all(ch04_calculus._loss_ratio(lr, 0.0) > 1e-6 for lr in np.linspace(0.001, 0.0199, 50))
