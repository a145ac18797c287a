"""Exercises of Month 5, machine learning (chapters/05-machine-learning), notebook 03-supervised-learning.

``05.average_precision``, ``05.stratified_folds``, ``05.adjusted_rand``, ``05.beat_the_example``
(change it and measure: cross-validated R² on the diabetes data), ``05.think_auc``, ``05.think_r2``.

Hints point to the idea or the function to read; they never contain the answer's code.
"""

from __future__ import annotations

from typing import Any

from aieng.book.cases import Case, exercise, near, same_choice


def _random_scored(seed: int) -> tuple[Any, Any]:
    """Binary labels (both classes present) and scores with ties, as numpy arrays."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n = int(rng.integers(4, 200))
    y = rng.integers(0, 2, n)
    y[:2] = (0, 1)
    rng.shuffle(y)
    levels = int(rng.integers(2, 30))           # few levels: many ties
    scores = rng.integers(0, levels, n) + 0.5 * y * (rng.random(n) < 0.5)  # ties across classes
    return y, scores.astype(float)


def _judge_average_precision(average_precision: Any) -> str | None:
    from sklearn.metrics import average_precision_score

    for seed in range(60):
        y, scores = _random_scored(seed)
        want = average_precision_score(y, scores)
        got = average_precision(y.copy(), scores.copy())
        try:
            ok = abs(float(got) - want) <= 1e-9
        except (TypeError, ValueError):
            return f"seed {seed}: expected a number, got {got!r:.60}"
        if not ok:
            return (f"seed {seed}: {len(y)} examples, {len(set(scores))} distinct scores: got {got!r:.12}, "
                    f"sklearn.metrics.average_precision_score gives {want:.12f}")
    return None


@exercise("05.average_precision", hint="Walk the distinct scores from the highest down, as the ROC "
          "section does: each threshold adds a step of recall, and the area adds that step times the "
          "precision at that threshold. Examples with the same score cross the threshold together.")
def _average_precision():
    import numpy as np

    return [Case((np.array([0, 1]), np.array([0.1, 0.9])), expected=1.0),
            Case((np.array([1, 0]), np.array([0.1, 0.9])), expected=0.5),
            Case((np.array([1, 0, 1, 0]), np.array([0.5, 0.5, 0.5, 0.5])), expected=0.5),
            Case(test=_judge_average_precision)]


def _judge_folds(stratified_folds: Any) -> str | None:
    import numpy as np

    for seed in range(40):
        rng = np.random.default_rng(seed)
        k = int(rng.integers(2, 8))
        n_classes = int(rng.integers(2, 6))
        y = rng.choice(n_classes, size=int(rng.integers(6 * k, 300)), p=rng.dirichlet(np.ones(n_classes)))
        y[:n_classes] = np.arange(n_classes)      # every class present
        folds = stratified_folds(y.copy(), k)
        try:
            folds = [np.asarray(f, dtype=int) for f in folds]
        except (TypeError, ValueError):
            return f"seed {seed}: expected a list of k arrays of indices, got {folds!r:.80}"
        if len(folds) != k:
            return f"seed {seed}: asked for k={k} folds, got {len(folds)}"
        everything = np.sort(np.concatenate(folds))
        if not np.array_equal(everything, np.arange(len(y))):
            return (f"seed {seed}: the folds must hold every index 0..{len(y) - 1} exactly once "
                    f"(together they hold {len(everything)} indices, {len(set(everything))} distinct)")
        for c in range(n_classes):
            counts = [int((y[f] == c).sum()) for f in folds]
            if max(counts) - min(counts) > 1:
                return (f"seed {seed}: class {c} appears {counts} times in your {k} folds; stratified "
                        f"folds differ by at most one")
    return None


@exercise("05.stratified_folds", hint="Split each class on its own, the way kfold_indices splits the "
          "whole data set, and give every fold a share of each class; then put each fold's shares "
          "together.")
def _stratified_folds():
    return [Case(test=_judge_folds)]


def _judge_ari(adjusted_rand_index: Any) -> str | None:
    import numpy as np
    from sklearn.metrics import adjusted_rand_score

    for seed in range(60):
        rng = np.random.default_rng(seed)
        n = int(rng.integers(3, 300))
        a = rng.integers(0, int(rng.integers(1, 8)), n)
        b = a.copy() if seed % 5 == 0 else rng.integers(0, int(rng.integers(1, 8)), n)
        if seed % 5 == 1:                          # the same grouping under other names
            b = (a * 7 + 3) % 11
        if seed % 5 == 2:                          # mostly agreeing
            b = np.where(rng.random(n) < 0.8, a, rng.integers(0, 8, n))
        want = adjusted_rand_score(a, b)
        got = adjusted_rand_index(a.copy(), b.copy())
        try:
            ok = abs(float(got) - want) <= 1e-9
        except (TypeError, ValueError):
            return f"seed {seed}: expected a number, got {got!r:.60}"
        if not ok:
            return (f"seed {seed}: {n} items, {len(set(a))} and {len(set(b))} groups: got {got!r:.12}, "
                    f"sklearn.metrics.adjusted_rand_score gives {want:.12f}")
    return None


@exercise("05.adjusted_rand", hint="Count, in the table of (label in a, label in b) pairs, how many "
          "pairs of items each cell, each row and each column hold (n choose 2). The index compares "
          "the cells' pairs with what chance would give from the rows and columns alone, scaled so a "
          "perfect match is 1.")
def _adjusted_rand():
    import numpy as np

    return [Case((np.array([0, 0, 1, 1]), np.array([1, 1, 0, 0])), expected=1.0),
            Case((np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])), expected=-0.5),
            Case(test=_judge_ari)]


def _judge_fit(fit: Any) -> str | None:
    import numpy as np
    from sklearn.datasets import load_diabetes
    from sklearn.model_selection import KFold

    X, y = load_diabetes(return_X_y=True)
    r2 = []
    for train, test in KFold(5, shuffle=True, random_state=12345).split(X):
        model = fit(X[train].copy(), y[train].copy())
        if not hasattr(model, "predict"):
            return f"fit(X_train, y_train) should return a fitted model with .predict, got {model!r:.60}"
        y_hat = np.asarray(model.predict(X[test]), dtype=float).ravel()
        if y_hat.shape != y[test].shape:
            return f"model.predict gave {y_hat.shape} predictions for {len(test)} rows"
        r2.append(1 - ((y[test] - y_hat) ** 2).sum() / ((y[test] - y[test].mean()) ** 2).sum())
    mean = float(np.mean(r2))
    if mean < 0.45:
        return (f"mean R² over the check's 5 folds is {mean:.3f} (folds: "
                f"{', '.join(f'{v:.2f}' for v in r2)}); the target is at least 0.45")
    return None


@exercise("05.beat_the_example", hint="The example looks at one column of ten. Measure what the other "
          "columns add with your own k-fold cross-validation on the training rows before you trust a "
          "change; a deeper or more flexible model is not automatically better (the explorer shows why).")
def _beat_the_example():
    return [Case(test=_judge_fit, timeout_s=120)]


@exercise("05.think_auc", hint="ROC-AUC is the fraction of (positive, negative) pairs that the scores "
          "put in the right order. Count the pairs, then the ones in the right order.", compare=near(abs_tol=1e-3))
def _think_auc():
    return [Case(args=None, expected=8 / 9)]


@exercise("05.think_r2", hint="Write R² = 1 - SS_res / SS_tot and expand SS_res for a constant "
          "prediction c around the test set's own mean.", compare=same_choice)
def _think_r2():
    return [Case(args=None, expected="b")]
