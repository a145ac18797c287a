"""aieng.ml.drift against scipy and pandas, and its refusals of bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import entropy, ks_2samp

from aieng.ml.drift import DriftMonitor, bin_shares, ks_statistic, psi, psi_level, quantile_edges


@pytest.fixture
def samples():
    rng = np.random.default_rng(0)
    return rng.normal(size=3_000), rng.normal(0.3, 1.2, size=1_000)


def test_psi_is_the_symmetric_kl_divergence_of_the_binned_shares(samples):
    ref, cur = samples
    edges = quantile_edges(ref, 10)
    p, q = bin_shares(ref, edges), bin_shares(cur, edges)
    assert psi(ref, cur) == pytest.approx(entropy(q, p) + entropy(p, q), rel=1e-12)
    assert psi(ref, ref) == pytest.approx(0.0, abs=1e-12)
    assert psi(ref, cur) > 0.1


@pytest.mark.parametrize("integer", [False, True])
def test_bins_match_pandas_cut_right_closed(samples, integer):
    ref, cur = samples
    if integer:  # values on the edges themselves: which side a bin closes on matters
        ref, cur = np.round(ref * 5), np.round(cur * 5)
    edges = quantile_edges(ref, 10)
    assert len(edges) == 9 and (np.isin(edges, cur).any() or not integer)
    cut = pd.cut(cur, [-np.inf, *edges, np.inf], right=True)
    expected = pd.Series(cut).value_counts(sort=False).to_numpy() / cur.size
    np.testing.assert_allclose(bin_shares(cur, edges, eps=0.0), expected, rtol=0, atol=1e-15)


def test_quantile_bins_hold_equal_shares_of_the_reference(samples):
    ref, _ = samples
    np.testing.assert_allclose(bin_shares(ref, quantile_edges(ref, 10)), 0.1, atol=1e-3)


def test_ties_give_fewer_bins_and_empty_bins_stay_finite():
    ref = np.array([1, 1, 1, 1, 2, 2, 3, 3, 3, 10], dtype=float)
    edges = quantile_edges(ref, 10)
    assert np.all(np.diff(edges) > 0) and len(edges) < 9
    value = psi(ref, np.full(50, 100.0))  # every current value in the last bin
    assert np.isfinite(value) and value > 1


@pytest.mark.parametrize("seed", range(5))
def test_ks_statistic_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 30, size=400).astype(float)  # ties on purpose
    b = rng.integers(3, 35, size=250).astype(float)
    assert ks_statistic(a, b) == pytest.approx(ks_2samp(a, b).statistic, abs=1e-15)


def test_monitor_flags_a_shift_and_not_noise(samples):
    ref, _ = samples
    rng = np.random.default_rng(1)
    monitor = DriftMonitor(ref)
    same = monitor.check(rng.normal(size=1_000))
    shifted = rng.normal(0.5, size=1_000)
    moved = monitor.check(shifted)
    assert not same.drifted and same.level == "stable"
    assert moved.drifted and moved.p_value < 1e-6 and moved.level in {"moderate", "major"}
    assert moved.n_reference == ref.size and moved.n_current == 1_000
    assert moved.ks == pytest.approx(ks_statistic(ref, shifted), abs=1e-15)
    assert moved.psi == psi(ref, shifted)


def test_psi_levels():
    assert [psi_level(v) for v in (0.0, 0.1, 0.2, 0.25, 1.0)] == \
        ["stable", "moderate", "moderate", "major", "major"]


@pytest.mark.parametrize("bad", [[], [1.0, np.nan], [np.inf, 1.0]])
def test_bad_samples_are_refused(bad):
    with pytest.raises(ValueError):
        psi([1.0, 2.0, 3.0], bad)
    with pytest.raises(ValueError):
        ks_statistic(bad, [1.0, 2.0])


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        quantile_edges([1.0, 2.0], bins=1)
    with pytest.raises(ValueError):
        DriftMonitor([1.0, 2.0, 3.0], alpha=0)
    with pytest.raises(ValueError):
        DriftMonitor([1.0, 2.0, 3.0], psi_threshold=0)
