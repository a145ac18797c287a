"""Exercises of Month 4, the mathematics that matters (chapters/04-math), notebook 02-probability-and-statistics.

``04.ks_statistic``, ``04.bayes_posterior``, ``04.eval_size`` (change it and measure: the bootstrap
interval's width at the learner's number of questions), ``04.think_base_rate``,
``04.think_four_times``, ``04.think_smallest_p``.

Hints point to the idea or the function to read; they never contain the answer's code.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aieng.book.cases import Case, exercise, near

# --------------------------------------------------------------------------------------------
# distributions
# --------------------------------------------------------------------------------------------


def _judge_ks(ks_statistic: Any) -> str | None:
    from scipy import stats

    gen = np.random.default_rng(4)
    trials = [
        ("normal samples against the normal cdf", gen.normal(size=50), stats.norm.cdf),
        ("exponential samples against the normal cdf", gen.exponential(size=200), stats.norm.cdf),
        ("uniform samples against the uniform cdf", gen.random(7), stats.uniform.cdf),
        ("samples with ties", np.repeat([0.1, 0.4, 0.4, 0.9], 3), stats.uniform.cdf),
        ("normal samples against a shifted normal", gen.normal(size=500),
         stats.norm(loc=0.3).cdf),
    ]
    for what, samples, cdf in trials:
        shuffled = gen.permutation(samples)  # the learner's function must sort for itself
        got = ks_statistic(shuffled.copy(), cdf)
        want = stats.kstest(samples, cdf).statistic
        try:
            ok = abs(float(got) - want) <= 1e-9
        except (TypeError, ValueError):
            return f"{what}: expected a number, got {got!r}"
        if not ok:
            return f"{what}: your statistic is {float(got):.6f}, scipy.stats.kstest's is {want:.6f}"
    return None


@exercise("04.ks_statistic", hint="The empirical cdf jumps by 1/n at each sorted sample. The largest gap "
          "to the model's cdf can sit just after a jump or just before it: look at both sides of every "
          "step (scipy.stats.kstest calls them D+ and D-).")
def _ks_statistic():
    from scipy import stats

    return [Case((np.array([0.5]), stats.uniform.cdf), expected=0.5),
            Case((np.array([0.25, 0.75]), stats.uniform.cdf), expected=0.25),
            Case(test=_judge_ks)]


# --------------------------------------------------------------------------------------------
# Bayes
# --------------------------------------------------------------------------------------------


@exercise("04.bayes_posterior", hint="Bayes' theorem needs P(word) in the denominator. A message is either "
          "spam or ham, so P(word) splits into two parts, each a likelihood times its prior (the law of "
          "total probability). When P(word) is zero the question has no answer: say so.")
def _bayes_posterior():
    return [Case((0.5, 0.5, 0.3), expected=0.3),
            Case((0.99, 0.02, 0.01), expected=0.0099 / (0.0099 + 0.02 * 0.99)),
            Case((0.2, 0.0, 0.5), expected=1.0),
            Case((0.0, 0.3, 0.9), expected=0.0),
            Case((0.4, 0.1, 0.5), expected=0.8),
            Case((0.0, 0.0, 0.5), raises=ValueError)]


# --------------------------------------------------------------------------------------------
# bootstrap: how many questions does an evaluation need?
# --------------------------------------------------------------------------------------------


def _width(accuracy: float, n: int) -> float:
    """The 95% percentile-bootstrap interval's width for an accuracy measured on n questions."""
    from aieng.ml.stats import bootstrap_ci

    correct = np.zeros(n)
    correct[: round(accuracy * n)] = 1.0
    ci = bootstrap_ci(correct, n_resamples=4000, rng=np.random.default_rng(0))
    return ci.high - ci.low


def _judge_eval_size(questions_needed: Any) -> str | None:
    for accuracy, max_width in [(0.8, 0.1), (0.95, 0.04), (0.5, 0.06)]:
        n = questions_needed(accuracy, max_width)
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 10:
            return f"questions_needed({accuracy}, {max_width}) should be a whole number of questions, got {n!r}"
        n = int(n)
        rough = (2 * 1.96) ** 2 * accuracy * (1 - accuracy) / max_width**2  # normal approximation
        if n > 3 * rough:  # refused before bootstrapping a huge sample
            return f"questions_needed({accuracy}, {max_width}) = {n:,}: far more than needed"
        width = _width(accuracy, n)
        if width > max_width * 1.03:
            return (f"accuracy {accuracy}: on {n:,} questions the interval is {width:.4f} wide, wider "
                    f"than {max_width}; you need more questions")
        fewer = int(0.8 * n)
        fewer_width = _width(accuracy, fewer)
        if fewer_width <= max_width * 0.97:
            return (f"accuracy {accuracy}: {n:,} questions is more than needed; already {fewer:,} give an "
                    f"interval {fewer_width:.4f} wide (at most {max_width} was asked)")
    return None


@exercise("04.eval_size", hint="Measure, don't guess: build a 0/1 'correct' array of n answers with the given "
          "accuracy, take bootstrap_ci of it and its width, and grow n until the width fits. The width "
          "shrinks like 1/sqrt(n), which tells you how far to jump.")
def _eval_size():
    return [Case(test=_judge_eval_size)]


# --------------------------------------------------------------------------------------------
# Think!
# --------------------------------------------------------------------------------------------


@exercise("04.think_base_rate", hint="Imagine 10,000 messages. How many are spam, how many of those are "
          "flagged, and how many ham messages are flagged too? Of all the flagged ones, which share is "
          "spam?", compare=near(abs_tol=0.005))
def _think_base_rate():
    return [Case(args=None, expected=1 / 3)]


@exercise("04.think_four_times", hint="The interval's width shrinks like one over the square root of the "
          "number of questions.", compare=near(abs_tol=1e-9))
def _think_four_times():
    return [Case(args=None, expected=4)]


@exercise("04.think_smallest_p", hint="With 10 queries there are 2**10 ways to swap the pairs, all equally "
          "likely under the null. The observed assignment is one of them, and the two-sided p-value is "
          "twice the smaller tail.", compare=near(abs_tol=1e-6))
def _think_smallest_p():
    return [Case(args=None, expected=2 / 2**10)]
