"""Exercises of Month 4, notebook 03-calculus-and-optimisation (chapters/04-math).

``04.second_derivative``, ``04.softmax_jacobian``, ``04.tune_momentum`` (change it and measure: the loss
ratio after 100 steps of momentum on an elongated bowl), ``04.think_diverge``, ``04.think_ce_grad``.

Hints point to the idea or the function to read; they never contain the answer's code.
"""

from __future__ import annotations

import math
from typing import Any

from aieng.book.cases import Case, exercise, near

# --------------------------------------------------------------------------------------------
# the second derivative
# --------------------------------------------------------------------------------------------

_FUNCTIONS = [  # (name, f, exact f'')
    ("sin(3x)", lambda x: math.sin(3 * x), lambda x: -9 * math.sin(3 * x)),
    ("exp(x/2)", lambda x: math.exp(x / 2), lambda x: math.exp(x / 2) / 4),
    ("x**3 - 2x", lambda x: x ** 3 - 2 * x, lambda x: 6 * x),
    ("log(1 + x**2)", lambda x: math.log1p(x * x), lambda x: 2 * (1 - x * x) / (1 + x * x) ** 2),
]


def _judge_second(second_derivative: Any) -> str | None:
    for name, f, exact in _FUNCTIONS:
        for i in range(21):
            x = -2.0 + 0.2 * i + 0.013
            want = exact(x)
            try:
                got = float(second_derivative(f, x))
            except TypeError:
                return "second_derivative(f, x) must return a number (call it with h left at its default)"
            if not math.isfinite(got) or abs(got - want) > 1e-5 * max(1.0, abs(want)):
                return f"f(x) = {name} at x = {x:.3f}: expected f'' = {want:.8g}, got {got:.8g}"
    return None


@exercise("04.second_derivative", hint="Write the Taylor expansions of f(x+h) and f(x-h) to second order "
          "and add them: the first-derivative terms cancel, and what is left contains f(x) and h**2 f''(x). "
          "Solve for f''(x). Keep h near 1e-4: round-off grows like eps / h**2.")
def _second_derivative():
    return [Case(test=_judge_second)]


# --------------------------------------------------------------------------------------------
# the Jacobian of softmax
# --------------------------------------------------------------------------------------------


def _judge_jacobian(softmax_jacobian: Any) -> str | None:
    import numpy as np
    import torch

    rng = np.random.default_rng(4)
    for k, scale in [(2, 1.0), (5, 1.0), (10, 3.0), (7, 1000.0), (3, 1e-3)]:
        z = rng.normal(scale=scale, size=k)
        want = torch.autograd.functional.jacobian(lambda t: torch.softmax(t, -1),
                                                  torch.tensor(z, dtype=torch.float64)).numpy()
        got = np.asarray(softmax_jacobian(z), dtype=float)
        if got.shape != (k, k):
            return f"softmax_jacobian of {k} logits should be a ({k}, {k}) matrix, got shape {got.shape}"
        if not np.allclose(got, want, rtol=1e-9, atol=1e-12):
            return (f"{k} logits of scale {scale:g}: largest difference from torch's Jacobian "
                    f"{np.nanmax(np.abs(got - want)):.2e}" + (" (nan: did exp overflow?)" if np.isnan(got).any()
                                                           else ""))
    return None


@exercise("04.softmax_jacobian", hint="Differentiate p_i = exp(z_i) / S, with S the sum of exponentials, by "
          "z_j with the quotient rule: treat i == j and i != j separately, and write both answers using p "
          "only. Then build the whole matrix at once from p (np.diag and np.outer). Use the notebook's "
          "stable softmax so logits of size 1,000 do not overflow.")
def _softmax_jacobian():
    import numpy as np

    return [Case((np.array([0.0, 0.0]),), expected=np.array([[0.25, -0.25], [-0.25, 0.25]])),
            Case(test=_judge_jacobian)]


# --------------------------------------------------------------------------------------------
# change it and measure: momentum on a bowl with condition number 100
# --------------------------------------------------------------------------------------------

_EIGS = (1.0, 100.0)
_START = (1.0, 1.0)


def _loss_ratio(lr: float, beta: float, num_steps: int = 100) -> float:
    """Loss after num_steps of heavy-ball momentum, over the starting loss, on diag(1, 100)."""
    w, v = list(_START), [0.0, 0.0]
    start = 0.5 * sum(e * x * x for e, x in zip(_EIGS, w))
    for _ in range(num_steps):
        v = [beta * vi + e * wi for vi, e, wi in zip(v, _EIGS, w)]
        w = [wi - lr * vi for wi, vi in zip(w, v)]
        if not all(math.isfinite(x) and abs(x) < 1e100 for x in w):
            return math.inf
    return 0.5 * sum(e * x * x for e, x in zip(_EIGS, w)) / start


def _judge_momentum(settings: Any) -> str | None:
    if not isinstance(settings, (tuple, list)) or len(settings) != 2:
        return f"set momentum_settings to a pair (lr, beta), got {settings!r}"
    try:
        lr, beta = float(settings[0]), float(settings[1])
    except (TypeError, ValueError):
        return f"lr and beta must be numbers, got {settings!r}"
    if not (lr > 0 and 0 <= beta < 1):
        return f"need lr > 0 and 0 <= beta < 1, got lr = {lr}, beta = {beta}"
    ratio = _loss_ratio(lr, beta)
    if not ratio < 1e-6:
        return (f"after 100 steps with lr = {lr}, beta = {beta} the loss is {ratio:.2e} of its start "
                f"(needed below 1e-6)")
    if _loss_ratio(lr, 0.0) < 1e-6:
        return f"plain gradient descent with lr = {lr} gets there too: the gain should come from momentum"
    return None


@exercise("04.tune_momentum", hint="Measure before you guess: print the loss ratio for a few pairs. The lr "
          "must keep the steep axis (eigenvalue 100) from blowing up, and beta decides how much speed the "
          "flat axis (eigenvalue 1) can build; with beta near 0 you are back to plain gradient descent, "
          "with beta near 1 the walk oscillates for a long time. Look up Polyak's heavy-ball settings for "
          "a quadratic with known smallest and largest eigenvalues.")
def _tune_momentum():
    return [Case(args=None, test=_judge_momentum)]


# --------------------------------------------------------------------------------------------
# Think! questions
# --------------------------------------------------------------------------------------------


@exercise("04.think_diverge", hint="One step multiplies the distance to the minimum along each eigenvector "
          "by (1 - lr * eigenvalue). For which lr does that factor stay between -1 and 1 for both "
          "eigenvalues? Only one of them limits it.", compare=near(rel_tol=0.01))
def _think_diverge():
    return [Case(args=None, expected=0.04)]


@exercise("04.think_ce_grad", hint="Section 4 derived the gradient of cross-entropy with respect to the "
          "logits: softmax(z) minus the one-hot vector of the true class. Read off the true class's entry.",
          compare=near(rel_tol=1e-6))
def _think_ce_grad():
    return [Case(args=None, expected=-0.3)]

