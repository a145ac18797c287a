"""Exercises of Month 4, the mathematics of machine learning (chapters/04-math), notebook 01-linear-algebra.

``04.top_k_cosine``, ``04.inverse_2x2``, ``04.pca_components_for``, ``04.longley_rescued`` (change
it and measure: the digits the normal equations get right on NIST's Longley data),
``04.think_count_cosine``, ``04.think_condition_digits``.

Hints point to the idea or the function to read; they never contain the answer's code.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aieng.book.cases import Case, exercise, near

# NIST StRD, Longley: the certified coefficients beta0 (constant) to beta6, 15 significant digits.
LONGLEY_CERTIFIED = np.array([
    -3482258.63459582, 15.0618722713733, -0.358191792925910e-01, -2.02022980381683,
    -1.03322686717359, -0.511041056535807e-01, 1829.15146461355])
RESCUED_MIN_DIGITS = 10.0


def _correct_digits(estimate: Any, certified: np.ndarray) -> np.ndarray:
    relative = np.abs(np.asarray(estimate, dtype=float) - certified) / np.abs(certified)
    return np.minimum(15.0, -np.log10(np.maximum(relative, 1e-300)))


# --------------------------------------------------------------------------------------------
# vectors
# --------------------------------------------------------------------------------------------


def _judge_top_k(top_k_cosine: Any) -> str | None:
    rng = np.random.default_rng(4)
    for trial in range(30):
        n, d = int(rng.integers(5, 3000)), int(rng.integers(2, 64))
        X = rng.standard_normal((n, d)) * rng.uniform(0.01, 100, size=(n, 1))  # unequal lengths
        query = rng.standard_normal(d) * rng.uniform(0.1, 10)
        k = int(rng.integers(1, min(n, 20) + 1))
        cosines = X @ query / (np.linalg.norm(X, axis=1) * np.linalg.norm(query))
        expected = [int(i) for i in np.argsort(-cosines, kind="stable")[:k]]
        got = top_k_cosine(query, X, k)
        if not isinstance(got, list) or not all(type(i) is int for i in got):
            return f"return a list of Python ints, got {type(got).__name__}: {got!r:.80}"
        if got != expected:
            return (f"trial {trial} ({n} rows of length {d}, k={k}): expected {expected}, got "
                    f"{got}")
    return None


@exercise("04.top_k_cosine", hint="Section 1's cosine is a dot product divided by two norms. "
          "One matrix-vector product gives the dot products of the query with every row at once, "
          "and np.linalg.norm takes an axis argument; np.argsort orders them (mind the direction).")
def _top_k_cosine():
    X = np.array([[10.0, 0.0], [1.0, 1.0], [0.0, 3.0]])
    return [Case((np.array([1.0, 1.0]), X, 1), expected=[1]),      # the long row 0 must not win
            Case((np.array([0.0, 1.0]), X, 2), expected=[2, 1]),
            Case(test=_judge_top_k)]


# --------------------------------------------------------------------------------------------
# matrices
# --------------------------------------------------------------------------------------------


def _judge_inverse(inverse_2x2: Any) -> str | None:
    rng = np.random.default_rng(5)
    for trial in range(200):
        A = rng.standard_normal((2, 2)) * 10.0 ** rng.uniform(-3, 3)
        if abs(np.linalg.det(A)) < 1e-3 * np.max(np.abs(A)) ** 2:
            continue                               # well away from singular: rounding is small
        got = inverse_2x2(A.copy())
        if not isinstance(got, np.ndarray) or got.shape != (2, 2):
            return f"return a 2x2 NumPy array, got {got!r:.80}"
        expected = np.linalg.inv(A)
        if not np.allclose(got, expected, rtol=1e-8, atol=1e-12 * np.max(np.abs(expected))):
            return f"trial {trial}: inverse_2x2({A.tolist()}) = {got.tolist()}, A @ it is not I"
    return None


def _uses_no_linalg(inverse_2x2: Any) -> str | None:
    A = np.array([[2.0, 1.0], [1.0, 1.0]])
    saved = np.linalg.inv, np.linalg.solve, np.linalg.pinv
    try:
        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError("uses np.linalg")
        np.linalg.inv = np.linalg.solve = np.linalg.pinv = refuse
        try:
            inverse_2x2(A)
        except AssertionError:
            return "compute the inverse from the four entries, without np.linalg"
    finally:
        np.linalg.inv, np.linalg.solve, np.linalg.pinv = saved
    return None


@exercise("04.inverse_2x2", hint="Section 2.1: the determinant is the factor by which the matrix "
          "scales areas, so the inverse must divide by it, and a zero determinant means the plane was "
          "squashed onto a line. Work out which 2x2 matrix, multiplied by A, gives det(A) times the "
          "identity: try it on a diagonal matrix first, then on a shear.")
def _inverse_2x2():
    return [Case((np.array([[2.0, 0.0], [0.0, 4.0]]),), expected=np.array([[0.5, 0.0], [0.0, 0.25]])),
            Case((np.array([[1.0, 1.5], [0.0, 1.0]]),), expected=np.array([[1.0, -1.5], [0.0, 1.0]])),
            Case((np.array([[1.0, 2.0], [0.5, 1.0]]),), raises=ValueError),
            Case((np.array([[1e8, 2e8], [1.0, 2.0]]),), raises=ValueError),
            Case((np.zeros((2, 2)),), raises=ValueError),
            Case(test=_judge_inverse),
            Case(test=_uses_no_linalg)]


# --------------------------------------------------------------------------------------------
# PCA
# --------------------------------------------------------------------------------------------


def _judge_components(components_for: Any) -> str | None:
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(6)
    X_digits = load_digits().data
    data = [("digits", X_digits)]
    for trial in range(4):
        n, d = int(rng.integers(50, 300)), int(rng.integers(3, 20))
        mixing = rng.standard_normal((d, d)) * np.geomspace(1, 0.05, d)[:, None]
        data.append((f"random {n}x{d}", rng.standard_normal((n, d)) @ mixing + 5.0))
    for name, X in data:
        for fraction in (0.3, 0.5, 0.8, 0.9, 0.95, 0.99):
            expected = int(PCA(n_components=fraction, svd_solver="full").fit(X).n_components_)
            got = components_for(X.copy(), fraction)
            if not isinstance(got, (int, np.integer)) or isinstance(got, bool):
                return f"return an int, got {got!r:.80}"
            if int(got) != expected:
                return f"{name}, fraction {fraction}: PCA keeps {expected} components, you said {got}"
    return None


@exercise("04.pca_components_for", hint="The variance along each principal component is an "
          "eigenvalue of the covariance matrix, and the total variance is the sum of all of them "
          "(section 4's table). Centre the data first, sort the eigenvalues from the largest, and "
          "look at their running total (np.cumsum).")
def _pca_components_for():
    X = np.array([[3.0, 0.0], [-3.0, 0.0], [0.0, 1.0], [0.0, -1.0]])  # variances 18/3 and 2/3
    return [Case((X, 0.5), expected=1), Case((X, 0.95), expected=2),
            Case((X + 100.0, 0.5), expected=1),                       # not centred
            Case(test=_judge_components)]


# --------------------------------------------------------------------------------------------
# least squares
# --------------------------------------------------------------------------------------------


def _judge_rescued(fit_rescued: Any) -> str | None:
    from statsmodels.datasets import longley

    rng = np.random.default_rng(7)
    for trial in range(10):                        # a least-squares solver at all?
        n, p = int(rng.integers(10, 60)), int(rng.integers(1, 6))
        X = rng.standard_normal((n, p)) * rng.uniform(0.5, 5, p) + rng.uniform(-5, 5, p)
        y = rng.standard_normal(n)
        expected = np.linalg.lstsq(np.column_stack([np.ones(n), X]), y, rcond=None)[0]
        got = np.asarray(fit_rescued(X.copy(), y.copy()), dtype=float)
        if got.shape != expected.shape:
            return f"return p + 1 = {p + 1} numbers [constant, beta1, ...]; got shape {got.shape}"
        if not np.allclose(got, expected, rtol=1e-8, atol=1e-10):
            return f"random problem {trial}: expected {np.round(expected, 6)}, got {np.round(got, 6)}"
    data = longley.load_pandas()
    got = np.asarray(fit_rescued(data.exog.to_numpy(float), data.endog.to_numpy(float)), float)
    if got.shape != LONGLEY_CERTIFIED.shape:
        return f"Longley has 6 predictors: return 7 numbers; got shape {got.shape}"
    digits = _correct_digits(got, LONGLEY_CERTIFIED)
    if digits.min() < RESCUED_MIN_DIGITS:
        return (f"correct digits per coefficient {np.round(digits, 1).tolist()}: the worst is "
                f"{digits.min():.1f}, the target is at least {RESCUED_MIN_DIGITS:g}")
    return None


@exercise("04.longley_rescued", hint="Look at the columns: the year is near 1950 and changes by one "
          "a row, GNP is in the hundreds of thousands. What does a column of huge offsets do to X^T X "
          "next to the column of ones, and what if every column were on the same scale? If you change "
          "the columns, work out how to turn the coefficients you get back into the original ones "
          "(the constant included).")
def _longley_rescued():
    return [Case(test=_judge_rescued)]


# --------------------------------------------------------------------------------------------
# Think!
# --------------------------------------------------------------------------------------------


@exercise("04.think_count_cosine", hint="Can an entry of a word-count vector be negative? Then "
          "what sign can each product in the dot product have, and when is the sum zero?")
def _think_count_cosine():
    return [Case(args=None, expected=0.0)]


@exercise("04.think_condition_digits", hint="Section 5: forming X^T X squares the condition "
          "number, and a solve loses about log10 of the condition number in digits.",
          compare=near(abs_tol=0.5))
def _think_condition_digits():
    return [Case(args=None, expected=10.0)]
