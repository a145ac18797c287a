"""Each exercise of chapters/04-math/01-linear-algebra accepts a correct answer and rejects wrong ones."""

from __future__ import annotations

import numpy as np
import pytest
from _exercise_contract import contract

from aieng.book import CheckFailed, check
from aieng.book.exercises import ch04_linalg

# ---- reference answers ------------------------------------------------------------------------


def top_k_cosine(query, X, k):
    scores = (X @ query) / (np.linalg.norm(X, axis=1) * np.linalg.norm(query))
    return [int(i) for i in np.argsort(-scores, kind="stable")[:k]]


def inverse_2x2(A):
    (a, b), (c, d) = A
    det = a * d - b * c
    if abs(det) <= 1e-12 * np.max(np.abs(A)) ** 2:
        raise ValueError("singular")
    return np.array([[d, -b], [-c, a]]) / det


def components_for(X, fraction):
    Xc = X - X.mean(axis=0)
    values = np.linalg.eigvalsh(Xc.T @ Xc)[::-1]
    return int(np.searchsorted(np.cumsum(values) / values.sum(), fraction) + 1)


def fit_rescued(X, y):
    means, scales = X.mean(axis=0), X.std(axis=0)
    Z = (X - means) / scales
    slopes = np.linalg.solve(Z.T @ Z, Z.T @ (y - y.mean())) / scales
    return np.concatenate([[y.mean() - means @ slopes], slopes])


def fit_centred_only(X, y):  # centring alone is enough too
    means = X.mean(axis=0)
    slopes = np.linalg.solve((X - means).T @ (X - means), (X - means).T @ (y - y.mean()))
    return np.concatenate([[y.mean() - means @ slopes], slopes])


# ---- wrong answers ----------------------------------------------------------------------------


def top_k_dot(query, X, k):  # ranks by the raw dot product: long rows win
    return [int(i) for i in np.argsort(-(X @ query), kind="stable")[:k]]


def top_k_worst_first(query, X, k):
    return top_k_cosine(query, X, len(X))[::-1][:k]


def inverse_no_check(A):  # never raises: divides by zero on a singular matrix
    (a, b), (c, d) = A
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.array([[d, -b], [-c, a]]) / (a * d - b * c)


def inverse_transpose(A):  # forgets to swap the diagonal
    (a, b), (c, d) = A
    det = a * d - b * c
    if det == 0:
        raise ValueError("singular")
    return np.array([[a, -b], [-c, d]]) / det


def inverse_by_numpy(A):  # right answers, but not from the four entries
    if abs(np.linalg.det(A)) <= 1e-12 * np.max(np.abs(A)) ** 2:
        raise ValueError("singular")
    return np.linalg.inv(A)


def components_uncentred(X, fraction):
    values = np.linalg.eigvalsh(X.T @ X)[::-1]
    return int(np.searchsorted(np.cumsum(values) / values.sum(), fraction) + 1)


def components_off_by_one(X, fraction):
    return components_for(X, fraction) - 1


def fit_plain_normal_equations(X, y):  # the method of section 5: loses digits on Longley
    X1 = np.column_stack([np.ones(len(y)), X])
    return np.linalg.solve(X1.T @ X1, X1.T @ y)


def fit_scaled_not_centred(X, y):  # scaling alone keeps the huge offsets next to the ones column
    X1 = np.column_stack([np.ones(len(y)), X])
    s = np.abs(X1).max(axis=0)
    return np.linalg.solve((X1 / s).T @ (X1 / s), (X1 / s).T @ y) / s


def fit_forgets_constant(X, y):
    return fit_rescued(X, y)[1:]


CASES = {
    "04.top_k_cosine": (top_k_cosine, top_k_dot),
    "04.inverse_2x2": (inverse_2x2, inverse_no_check),
    "04.pca_components_for": (components_for, components_uncentred),
    "04.longley_rescued": (fit_rescued, fit_plain_normal_equations),
    "04.think_count_cosine": (0, -1),
    "04.think_condition_digits": (10, 5),
}


def test_every_exercise_of_the_notebook_is_covered():
    names = {ex for ex in ch04_linalg.__doc__.split("``") if ex.startswith("04.")}
    assert names == set(CASES)


test_reference_answer_passes, test_wrong_answer_fails, test_stub_reads_as_not_attempted = contract(CASES)


@pytest.mark.parametrize("name, bad", [
    ("04.top_k_cosine", top_k_worst_first),
    ("04.inverse_2x2", inverse_transpose),
    ("04.inverse_2x2", inverse_by_numpy),
    ("04.pca_components_for", components_off_by_one),
    ("04.longley_rescued", fit_scaled_not_centred),
    ("04.longley_rescued", fit_forgets_constant),
    ("04.think_count_cosine", 0.5),
    ("04.think_condition_digits", 20),
])
def test_more_wrong_answers_fail(name, bad):
    with pytest.raises(CheckFailed):
        check(name, bad, strict=True, quiet=True)


def test_centring_alone_also_rescues_the_normal_equations():
    assert check("04.longley_rescued", fit_centred_only, strict=True, quiet=True)


def test_the_certified_values_are_nists():
    from statsmodels.datasets import longley

    data = longley.load_pandas()
    X = np.column_stack([np.ones(16), data.exog.to_numpy(float)])
    beta = np.linalg.lstsq(X, data.endog.to_numpy(float), rcond=None)[0]
    np.testing.assert_allclose(beta, ch04_linalg.LONGLEY_CERTIFIED, rtol=1e-9)
    assert ch04_linalg.LONGLEY_CERTIFIED[1] == 15.0618722713733
    assert ch04_linalg.LONGLEY_CERTIFIED[0] == -3482258.63459582
