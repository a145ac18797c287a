"""Each exercise of chapters/04-math/02-probability-and-statistics accepts a correct answer and rejects wrong ones."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _exercise_contract import contract

from aieng.book import CheckFailed, check
from aieng.book.exercises import ch04_probability

# ---- reference answers ------------------------------------------------------------------------


def ks_statistic(samples, cdf):
    x = np.sort(np.asarray(samples, dtype=float))
    n = x.size
    F = cdf(x)
    return float(max(np.max(np.arange(1, n + 1) / n - F), np.max(F - np.arange(n) / n)))


def posterior(p_word_given_spam, p_word_given_ham, prior):
    p_word = p_word_given_spam * prior + p_word_given_ham * (1 - prior)
    if p_word == 0:
        raise ValueError("the word never occurs: P(spam | word) is undefined")
    return p_word_given_spam * prior / p_word


def questions_needed(accuracy, max_width):
    from aieng.ml.stats import bootstrap_ci

    def width(n):
        correct = np.zeros(n)
        correct[: round(accuracy * n)] = 1.0
        ci = bootstrap_ci(correct, n_resamples=4000, rng=np.random.default_rng(0))
        return ci.high - ci.low

    n = 20
    while width(n) > max_width:
        n = math.ceil(n * 1.05)
    return n


# ---- wrong answers ----------------------------------------------------------------------------


def ks_one_sided(samples, cdf):  # D+ only: misses gaps below the empirical cdf's steps
    x = np.sort(np.asarray(samples, dtype=float))
    return float(np.max(np.arange(1, len(x) + 1) / len(x) - cdf(x)))


def ks_unsorted(samples, cdf):  # forgets to sort
    x = np.asarray(samples, dtype=float)
    n = x.size
    F = cdf(x)
    return float(max(np.max(np.arange(1, n + 1) / n - F), np.max(F - np.arange(n) / n)))


def posterior_likelihood_ratio(p_word_given_spam, p_word_given_ham, prior):  # forgets the ham prior
    return p_word_given_spam * prior / (p_word_given_spam * prior + p_word_given_ham)


def posterior_divides_by_zero(p_word_given_spam, p_word_given_ham, prior):  # no ValueError
    p_word = p_word_given_spam * prior + p_word_given_ham * (1 - prior)
    return p_word_given_spam * prior / p_word if p_word else float("nan")


CASES = {
    "04.ks_statistic": (ks_statistic, ks_one_sided),
    "04.bayes_posterior": (posterior, posterior_likelihood_ratio),
    "04.eval_size": (questions_needed, lambda accuracy, max_width: 200),
    "04.think_base_rate": (1 / 3, 0.99),
    "04.think_four_times": (4, 2),
    "04.think_smallest_p": (2 / 1024, 1 / 1024),
}


def test_every_exercise_of_the_notebook_is_covered():
    names = {ex for ex in ch04_probability.__doc__.split("``") if ex.startswith("04.")}
    assert names == set(CASES)


test_reference_answer_passes, test_wrong_answer_fails, test_stub_reads_as_not_attempted = contract(CASES)


@pytest.mark.parametrize("name, bad", [
    ("04.ks_statistic", ks_unsorted),
    ("04.bayes_posterior", posterior_divides_by_zero),
    ("04.eval_size", lambda accuracy, max_width: 100_000),  # far more questions than needed
    ("04.eval_size", lambda accuracy, max_width: round(questions_needed(accuracy, max_width) * 0.7)),
    ("04.think_base_rate", 0.5),
])
def test_more_wrong_answers_fail(name, bad):
    with pytest.raises(CheckFailed):
        check(name, bad, strict=True, quiet=True)


def test_a_rounded_think_answer_passes():
    assert check("04.think_base_rate", 0.333, strict=True, quiet=True)
