"""Resampling statistics for evaluations: bootstrap confidence intervals and paired permutation tests.

Taught in Month 4 (chapters/04-math), notebook 02-probability-and-statistics, where both are built
from scratch and checked against ``scipy.stats.bootstrap`` and ``scipy.stats.permutation_test``.
Later evaluation chapters reuse them: the interval of an accuracy measured on a few hundred
questions, and "is system B really better than system A on the same queries?".

Both functions follow scipy's conventions, so that with the same ``numpy.random.Generator`` they
return scipy's numbers:

- :func:`bootstrap_ci` is scipy's ``method="percentile"`` interval (the same resamples, drawn as
  ``rng.integers(0, n, (n_resamples, n))``, and linear-interpolated quantiles);
- :func:`paired_permutation_test` is scipy's ``permutation_type="samples"`` test on two paired
  samples: the labels "A" and "B" are swapped within pairs (the sign of each difference flipped),
  exactly over all ``2**n`` flips when that is at most ``n_resamples``, otherwise at random (the
  coins drawn as scipy draws them) with the ``+1`` correction in numerator and denominator;
  "two-sided" is twice the smaller one-sided p-value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

__all__ = ["BootstrapInterval", "PermutationResult", "bootstrap_ci", "paired_permutation_test"]

_ALTERNATIVES = ("two-sided", "greater", "less")


class BootstrapInterval(NamedTuple):
    """A bootstrap confidence interval: the statistic on the data, and the interval's ends."""

    estimate: float
    low: float
    high: float


class PermutationResult(NamedTuple):
    """A permutation test's observed statistic, its p-value, and whether every flip was enumerated."""

    statistic: float
    pvalue: float
    exact: bool


def _sample(data: Any, name: str) -> np.ndarray:
    x = np.asarray(data, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {x.shape}")
    if x.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} holds NaN or infinite values")
    return x


def _generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a numpy Generator, an int seed or None, got {type(rng).__name__}")


def _n_resamples(n_resamples: int) -> int:
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive integer, got {n_resamples!r}")
    return int(n_resamples)


def bootstrap_ci(data: Any, statistic: Callable[..., Any] = np.mean, *, confidence_level: float = 0.95,
                 n_resamples: int = 9999, rng: np.random.Generator | int | None = None,
                 batch: int | None = None) -> BootstrapInterval:
    """Percentile bootstrap confidence interval of ``statistic(data)``.

    Parameters
    ----------
    data
        One sample: the per-item scores (1 for a correct answer and 0 for a wrong one, per-query
        nDCG, ...), as a 1-D sequence of finite numbers.
    statistic
        A function ``statistic(x, axis=-1)`` that reduces the last axis (``np.mean``, ``np.median``).
    confidence_level
        The interval's nominal coverage, strictly between 0 and 1.
    n_resamples
        How many resamples (each ``len(data)`` items drawn with replacement).
    rng
        A ``numpy.random.Generator`` (or a seed). Pass ``np.random.default_rng(s)`` here and to
        ``scipy.stats.bootstrap(..., method="percentile", rng=np.random.default_rng(s))`` and the
        two intervals are identical.
    batch
        Resamples drawn at a time (memory); by default about four million items a batch.

    Returns
    -------
    BootstrapInterval
        ``(estimate, low, high)``: the statistic on ``data`` and the ``(1 - level)/2`` and
        ``(1 + level)/2`` quantiles of the statistic over the resamples.

    Raises
    ------
    ValueError
        If ``data`` is empty, not 1-D or not finite, or a setting is out of range.
    """
    x = _sample(data, "data")
    if not 0 < confidence_level < 1:
        raise ValueError(f"confidence_level must be strictly between 0 and 1, got {confidence_level}")
    n_resamples = _n_resamples(n_resamples)
    gen = _generator(rng)
    n = x.size
    step = batch if batch is not None else max(1, 4_000_000 // n)
    if step < 1:
        raise ValueError(f"batch must be a positive integer, got {batch}")
    stats = []
    for start in range(0, n_resamples, step):
        idx = gen.integers(0, n, (min(step, n_resamples - start), n))
        stats.append(np.asarray(statistic(x[idx], axis=-1), dtype=float))
    distribution = np.concatenate(stats)
    alpha = (1 - confidence_level) / 2
    low, high = np.quantile(distribution, [alpha, 1 - alpha])
    return BootstrapInterval(float(statistic(x, axis=-1)), float(low), float(high))


def _mean_difference(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(a - b, axis=axis)


def paired_permutation_test(a: Any, b: Any, *, statistic: Callable[..., Any] = _mean_difference,
                            n_resamples: int = 9999, alternative: str = "two-sided",
                            rng: np.random.Generator | int | None = None) -> PermutationResult:
    """Paired permutation test: is system A's score different from system B's on the same items?

    Under the null hypothesis the two systems are exchangeable on each item, so swapping a pair's
    two scores (flipping the sign of its difference) is as likely as not. The p-value is the share
    of such swaps whose statistic is at least as extreme as the observed one.

    Parameters
    ----------
    a, b
        Paired scores, one per item (per-query nDCG@10 of two retrievers on the same queries).
    statistic
        ``statistic(a, b, axis=-1)``; by default the mean of ``a - b``.
    n_resamples
        Random swaps drawn; when ``2**len(a)`` is at most this, every swap is enumerated instead
        and the test is exact.
    alternative
        ``"two-sided"``, ``"greater"`` (A scores higher) or ``"less"``.
    rng
        A ``numpy.random.Generator`` or a seed (used only when the test is not exact).

    Returns
    -------
    PermutationResult
        ``(statistic, pvalue, exact)``.

    Raises
    ------
    ValueError
        If the samples are empty, of different lengths, not finite, or a setting is out of range.
    """
    x, y = _sample(a, "a"), _sample(b, "b")
    if x.size != y.size:
        raise ValueError(f"a and b must be paired (the same length), got {x.size} and {y.size}")
    if alternative not in _ALTERNATIVES:
        raise ValueError(f"alternative must be one of {_ALTERNATIVES}, got {alternative!r}")
    n_resamples = _n_resamples(n_resamples)
    n = x.size
    observed = float(statistic(x, y, axis=-1))
    exact = n < 63 and 2**n <= n_resamples
    if exact:  # every assignment of "swapped or not" to the n pairs
        swap = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(bool)
        total, adjustment = 2**n, 0
    else:
        # One fair coin per pair and resample, drawn as scipy draws it (each pair's two labels
        # shuffled), so that the same Generator gives scipy's p-value to the last digit.
        pairs = np.tile(np.arange(2), (n_resamples, n, 1))
        swap = _generator(rng).permuted(pairs, axis=-1)[..., 0] == 1
        total, adjustment = n_resamples, 1
    null = np.asarray(statistic(np.where(swap, y, x), np.where(swap, x, y), axis=-1), dtype=float)
    gamma = abs(observed) * np.finfo(float).eps * 100  # ties that differ only by rounding
    p_less = (np.count_nonzero(null <= observed + gamma) + adjustment) / (total + adjustment)
    p_greater = (np.count_nonzero(null >= observed - gamma) + adjustment) / (total + adjustment)
    p = {"less": p_less, "greater": p_greater, "two-sided": 2 * min(p_less, p_greater)}[alternative]
    return PermutationResult(observed, float(min(p, 1.0)), bool(exact))
