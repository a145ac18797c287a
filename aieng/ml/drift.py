"""Drift statistics: has the data a deployed model sees moved away from the data it was trained on?

Taught in Month 5 (chapters/05-machine-learning); the monitoring of Month 11 reuses :class:`DriftMonitor`.

A model is trained on one sample of the world (the *reference*) and then meets another (the *current*
window of traffic). Labels arrive late or never, so a service watches its inputs and its own scores:

- :func:`psi`, the population stability index: bin the reference by its quantiles, bin the current
  sample with the same edges, and add up ``(p_cur - p_ref) * ln(p_cur / p_ref)`` over the bins. It is the
  symmetric Kullback-Leibler divergence ``KL(cur || ref) + KL(ref || cur)`` of the two histograms. The
  usual reading (credit scoring, Siddiqi 2006): below 0.1 stable, 0.1 to 0.25 a moderate shift, above
  0.25 a major one;
- :func:`ks_statistic`, the two-sample Kolmogorov-Smirnov statistic: the largest vertical gap between
  the two empirical CDFs (no bins); :class:`DriftMonitor` takes its p-value from ``scipy.stats.ks_2samp``.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> monitor = DriftMonitor(rng.normal(size=5_000))
>>> monitor.check(rng.normal(size=2_000)).drifted, monitor.check(rng.normal(1.0, size=2_000)).drifted
(False, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["quantile_edges", "bin_shares", "psi", "ks_statistic", "psi_level", "DriftReport",
           "DriftMonitor"]

PSI_MODERATE = 0.1
"""PSI at or above this is a moderate shift (the credit-scoring rule of thumb)."""
PSI_MAJOR = 0.25
"""PSI at or above this is a major shift."""


def _sample(values: ArrayLike, name: str) -> np.ndarray:
    x = np.asarray(values, dtype=float).ravel()
    if x.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} holds NaN or infinite values")
    return x


def quantile_edges(reference: ArrayLike, bins: int = 10) -> np.ndarray:
    """The interior bin edges: the reference's quantiles at ``1/bins, ..., (bins-1)/bins``, deduplicated.

    A feature with ties (a message length, a count) may give fewer than ``bins`` distinct edges, so
    fewer bins. Bin ``i`` holds the values ``v`` with ``edges[i-1] < v <= edges[i]``; the first and the
    last bins are open (``-inf``, ``+inf``), so a current value outside the reference's range still
    lands in a bin.
    """
    if not isinstance(bins, (int, np.integer)) or bins < 2:
        raise ValueError(f"bins must be an integer >= 2, got {bins!r}")
    x = _sample(reference, "reference")
    return np.unique(np.quantile(x, np.arange(1, bins) / bins))


def bin_shares(values: ArrayLike, edges: ArrayLike, eps: float = 1e-4) -> np.ndarray:
    """The share of ``values`` in each bin that ``edges`` (interior edges) define, floored at ``eps``.

    The floor keeps ``ln(p_cur / p_ref)`` finite when a bin is empty; the shares are renormalised to
    sum to one.
    """
    x = _sample(values, "values")
    counts = np.bincount(np.searchsorted(np.asarray(edges, dtype=float), x, side="left"),
                         minlength=len(edges) + 1)
    shares = np.maximum(counts / x.size, eps)
    return shares / shares.sum()


def psi(reference: ArrayLike, current: ArrayLike, bins: int = 10, eps: float = 1e-4) -> float:
    """The population stability index of ``current`` against ``reference`` (0 when they match).

    ``sum((p_cur - p_ref) * ln(p_cur / p_ref))`` over the reference's quantile bins
    (:func:`quantile_edges`), shares floored at ``eps`` (:func:`bin_shares`).
    """
    edges = quantile_edges(reference, bins)
    p_ref, p_cur = bin_shares(reference, edges, eps), bin_shares(current, edges, eps)
    return float(np.sum((p_cur - p_ref) * np.log(p_cur / p_ref)))


def ks_statistic(reference: ArrayLike, current: ArrayLike) -> float:
    """The two-sample Kolmogorov-Smirnov statistic: ``max |F_ref(v) - F_cur(v)|`` over every value ``v``.

    Both empirical CDFs are step functions that only jump at observed values, so the largest gap is at
    one of them: evaluate both CDFs at every value of the pooled sample.
    """
    a, b = np.sort(_sample(reference, "reference")), np.sort(_sample(current, "current"))
    pooled = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, pooled, side="right") / a.size
    cdf_b = np.searchsorted(b, pooled, side="right") / b.size
    return float(np.max(np.abs(cdf_a - cdf_b)))


def psi_level(value: float) -> str:
    """``"stable"``, ``"moderate"`` or ``"major"``: the rule-of-thumb reading of a PSI."""
    return "major" if value >= PSI_MAJOR else "moderate" if value >= PSI_MODERATE else "stable"


@dataclass(frozen=True)
class DriftReport:
    """One comparison of a current window with the reference."""

    psi: float
    ks: float
    p_value: float
    n_reference: int
    n_current: int
    drifted: bool

    @property
    def level(self) -> str:
        return psi_level(self.psi)


class DriftMonitor:
    """Watches one numeric feature (a length, a rate, the model's score) against a reference sample.

    ``check(current)`` reports drift when the PSI reaches ``psi_threshold`` **and** the KS test rejects
    "same distribution" at level ``alpha``: the PSI says the shift is large enough to matter, the test
    that it is not the noise of a small window.
    """

    def __init__(self, reference: ArrayLike, *, bins: int = 10, psi_threshold: float = PSI_MODERATE,
                 alpha: float = 0.01, eps: float = 1e-4) -> None:
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
        if psi_threshold <= 0:
            raise ValueError(f"psi_threshold must be positive, got {psi_threshold!r}")
        self.reference = _sample(reference, "reference")
        self.bins, self.psi_threshold, self.alpha, self.eps = bins, psi_threshold, alpha, eps
        self.edges = quantile_edges(self.reference, bins)

    def check(self, current: ArrayLike) -> DriftReport:
        from scipy.stats import ks_2samp

        x = _sample(current, "current")
        value = psi(self.reference, x, self.bins, self.eps)
        test = ks_2samp(self.reference, x)
        return DriftReport(psi=value, ks=float(test.statistic), p_value=float(test.pvalue),
                           n_reference=self.reference.size, n_current=x.size,
                           drifted=bool(value >= self.psi_threshold and test.pvalue < self.alpha))
