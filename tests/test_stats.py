"""aieng.ml.stats against scipy.stats: the same intervals and p-values, and bad input refused."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as st

from aieng.ml.stats import bootstrap_ci, paired_permutation_test


def _mean_diff(a, b, axis=-1):
    return np.mean(a - b, axis=axis)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("level", [0.9, 0.95])
def test_bootstrap_equals_scipy_percentile_with_the_same_generator(seed, level):
    x = np.random.default_rng(seed).normal(size=37 + 20 * seed)
    ours = bootstrap_ci(x, confidence_level=level, n_resamples=3000, rng=np.random.default_rng(seed))
    ref = st.bootstrap((x,), np.mean, method="percentile", confidence_level=level, n_resamples=3000,
                       rng=np.random.default_rng(seed))
    assert ours.estimate == pytest.approx(x.mean(), abs=1e-12)
    np.testing.assert_allclose([ours.low, ours.high], ref.confidence_interval, rtol=0, atol=1e-12)


def test_bootstrap_batches_draw_the_same_resamples():
    x = np.random.default_rng(0).exponential(size=50)
    whole = bootstrap_ci(x, np.median, n_resamples=2001, rng=7)
    for batch in (1, 13, 2000):
        assert bootstrap_ci(x, np.median, n_resamples=2001, rng=7, batch=batch) == whole


def test_bootstrap_of_an_accuracy_covers_the_truth_about_as_often_as_promised():
    gen = np.random.default_rng(1)
    hits = 0
    for _ in range(200):
        correct = gen.random(200) < 0.7
        ci = bootstrap_ci(correct, n_resamples=1000, rng=gen)
        hits += ci.low <= 0.7 <= ci.high
    assert 0.88 <= hits / 200 <= 0.99


@pytest.mark.parametrize("n", [2, 5, 12])
@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_exact_permutation_test_equals_scipy(n, alternative):
    gen = np.random.default_rng(n)
    a = gen.random(n)
    b = a + gen.normal(0.1, 0.3, n)
    ours = paired_permutation_test(a, b, alternative=alternative)
    ref = st.permutation_test((a, b), _mean_diff, permutation_type="samples", vectorized=True,
                              alternative=alternative)
    assert ours.exact
    assert ours.statistic == pytest.approx(ref.statistic, abs=1e-12)
    assert ours.pvalue == pytest.approx(ref.pvalue, abs=1e-12)


def test_exact_test_with_ties_and_zero_differences_equals_scipy():
    a = np.array([1.0, 0.5, 0.0, 1.0, 0.3, 0.3, 0.0, 1.0])
    b = np.array([1.0, 0.0, 0.0, 0.5, 0.3, 0.0, 0.0, 0.0])
    ours = paired_permutation_test(a, b)
    ref = st.permutation_test((a, b), _mean_diff, permutation_type="samples", vectorized=True)
    assert ours.pvalue == pytest.approx(ref.pvalue, abs=1e-12)


@pytest.mark.parametrize("shift", [0.0, 0.03, 0.08])
@pytest.mark.parametrize("alternative", ["two-sided", "greater"])
def test_random_permutation_test_equals_scipy_with_the_same_generator(shift, alternative):
    gen = np.random.default_rng(3)
    a = gen.random(150)
    b = a - shift + gen.normal(0, 0.2, 150)
    ours = paired_permutation_test(a, b, n_resamples=4000, alternative=alternative,
                                   rng=np.random.default_rng(1))
    ref = st.permutation_test((a, b), _mean_diff, permutation_type="samples", vectorized=True,
                              n_resamples=4000, alternative=alternative, rng=np.random.default_rng(1))
    assert not ours.exact
    assert ours.pvalue == pytest.approx(ref.pvalue, abs=1e-12)


def test_identical_systems_are_not_significant_and_a_clear_gain_is():
    a = np.linspace(0, 1, 40)
    assert paired_permutation_test(a, a, rng=0).pvalue == 1.0
    assert paired_permutation_test(a + 0.1, a, rng=0, alternative="greater").pvalue < 0.001


@pytest.mark.parametrize("call, match", [
    (lambda: bootstrap_ci([]), "empty"),
    (lambda: bootstrap_ci([[1.0, 2.0]]), "one-dimensional"),
    (lambda: bootstrap_ci([1.0, np.nan]), "NaN"),
    (lambda: bootstrap_ci([1.0, 2.0], confidence_level=1.0), "confidence_level"),
    (lambda: bootstrap_ci([1.0, 2.0], n_resamples=0), "n_resamples"),
    (lambda: bootstrap_ci([1.0, 2.0], batch=0), "batch"),
    (lambda: paired_permutation_test([1.0, 2.0], [1.0]), "same length"),
    (lambda: paired_permutation_test([1.0], [2.0], alternative="bigger"), "alternative"),
    (lambda: paired_permutation_test([], []), "empty"),
    (lambda: paired_permutation_test([1.0, np.inf], [1.0, 2.0]), "NaN"),
])
def test_bad_input_is_refused_with_a_reason(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_a_bad_rng_is_refused():
    with pytest.raises(TypeError, match="rng"):
        bootstrap_ci([1.0, 2.0], rng="seed")
