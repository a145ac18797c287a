"""Each exercise of chapters/05-machine-learning/03-supervised-learning accepts a correct answer and
rejects wrong ones."""

from __future__ import annotations

import numpy as np
import pytest
from _exercise_contract import contract
from sklearn.linear_model import LinearRegression

from aieng.book import CheckFailed, check
from aieng.book.exercises import ch05_supervised

# ---- reference answers ------------------------------------------------------------------------


def average_precision(y_true, scores):
    order = np.argsort(-scores, kind="stable")
    y_sorted, s_sorted = y_true[order], scores[order]
    last = np.r_[np.flatnonzero(np.diff(s_sorted)), len(s_sorted) - 1]
    tp = np.cumsum(y_sorted)[last]
    return float(np.sum(np.diff(np.r_[0, tp / tp[-1]]) * tp / (last + 1)))


def stratified_folds(y, k):
    folds = [[] for _ in range(k)]
    dealt = 0
    for c in np.unique(y):
        for i in np.flatnonzero(y == c):
            folds[dealt % k].append(int(i))
            dealt += 1
    return [np.array(f, dtype=int) for f in folds]


def adjusted_rand_index(a, b):
    _, a = np.unique(a, return_inverse=True)
    _, b = np.unique(b, return_inverse=True)
    table = np.zeros((a.max() + 1, b.max() + 1))
    np.add.at(table, (a, b), 1)

    def pairs(n):
        return n * (n - 1) / 2

    rows, cols = pairs(table.sum(axis=1)).sum(), pairs(table.sum(axis=0)).sum()
    expected = rows * cols / pairs(len(a))
    best = (rows + cols) / 2
    return 1.0 if best == expected else float((pairs(table).sum() - expected) / (best - expected))


def fit_all_columns(X_train, y_train):
    return LinearRegression().fit(X_train, y_train)


# ---- wrong answers ----------------------------------------------------------------------------


def average_precision_ignoring_ties(y_true, scores):  # one step per example, ties split by order
    order = np.argsort(-scores, kind="stable")
    tp = np.cumsum(y_true[order])
    return float(np.sum(np.diff(np.r_[0, tp / tp[-1]]) * tp / np.arange(1, len(tp) + 1)))


def average_precision_interpolated(y_true, scores):  # the trapezoid area: optimistic
    order = np.argsort(-scores, kind="stable")
    y_sorted, s_sorted = y_true[order], scores[order]
    last = np.r_[np.flatnonzero(np.diff(s_sorted)), len(s_sorted) - 1]
    tp = np.cumsum(y_sorted)[last]
    recall, precision = np.r_[0, tp / tp[-1]], np.r_[1, tp / (last + 1)]
    return float(np.sum(np.diff(recall) * (precision[1:] + precision[:-1]) / 2))


def folds_plain(y, k):  # consecutive blocks: not stratified
    return [np.asarray(f) for f in np.array_split(np.arange(len(y)), k)]


def folds_losing_the_rest(y, k):  # drops the last n % k indices
    per = len(y) // k
    return [np.arange(i * per, (i + 1) * per) for i in range(k)]


def rand_index_unadjusted(a, b):  # the plain Rand index: not corrected for chance
    n = len(a)
    same_a = a[:, None] == a[None, :]
    same_b = b[:, None] == b[None, :]
    agree = (same_a == same_b).sum() - n
    return float(agree / (n * (n - 1)))


def ari_depends_on_names(a, b):  # compares the label values, not the groupings
    return float(np.mean(a == b))


def fit_bmi_only(X_train, y_train):  # the example's one column: below the target
    class OneColumn:
        def __init__(self):
            self.model = LinearRegression().fit(X_train[:, [2]], y_train)

        def predict(self, X):
            return self.model.predict(X[:, [2]])

    return OneColumn()


CASES = {
    "05.average_precision": (average_precision, average_precision_ignoring_ties),
    "05.stratified_folds": (stratified_folds, folds_plain),
    "05.adjusted_rand": (adjusted_rand_index, rand_index_unadjusted),
    "05.beat_the_example": (fit_all_columns, fit_bmi_only),
    "05.think_auc": (8 / 9, 7 / 9),
    "05.think_r2": ("b", "a"),
}


def test_every_exercise_of_the_notebook_is_covered():
    names = {ex for ex in ch05_supervised.__doc__.split("``") if ex.startswith("05.")}
    assert names == set(CASES)


test_reference_answer_passes, test_wrong_answer_fails, test_stub_reads_as_not_attempted = contract(CASES)


@pytest.mark.parametrize("name, bad", [
    ("05.average_precision", average_precision_interpolated),
    ("05.stratified_folds", folds_losing_the_rest),
    ("05.adjusted_rand", ari_depends_on_names),
    ("05.think_auc", 0.5),
    ("05.think_r2", "c"),
])
def test_more_wrong_answers_fail(name, bad):
    with pytest.raises(CheckFailed):
        check(name, bad, strict=True, quiet=True)


def test_answers_in_other_forms_pass():
    assert check("05.think_auc", 0.889, strict=True, quiet=True)
    assert check("05.think_r2", " B ", strict=True, quiet=True)
