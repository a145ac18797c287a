"""Each exercise of 02-the-ml-pipeline accepts a correct reference answer and rejects a wrong one.

``05.trailing_spend`` and ``05.unleet`` read the shared data sets (``AIENG_DATA``, as ``make test`` sets).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy.stats import chi2

from aieng.book import CheckFailed, check, registry
from _exercise_contract import contract
from aieng.book.exercises.ch05_pipeline import LEET, measure_unleet

# ---- reference answers ------------------------------------------------------------------------


def chi2_drift(ref, cur):
    table = np.vstack([ref, cur]).astype(float)
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / table.sum()
    stat = float(((table - expected) ** 2 / expected).sum())
    return stat, float(chi2.sf(stat, table.shape[1] - 1))


def trailing_spend(daily, window):
    return daily.rolling(window).mean().shift(1)


_UNDO = str.maketrans("43105", "aeios")


def unleet(text):
    return re.sub(r"[a-z0-9]*[a-z][a-z0-9]*", lambda m: m.group().translate(_UNDO), text)


# ---- wrong answers ----------------------------------------------------------------------------


def chi2_drift_wrong_dof(ref, cur):  # k degrees of freedom instead of k - 1
    stat, _ = chi2_drift(ref, cur)
    return stat, float(chi2.sf(stat, len(ref)))


def chi2_drift_on_shares(ref, cur):  # compares shares with expected shares: the statistic loses n
    ref, cur = np.asarray(ref, float), np.asarray(cur, float)
    p, q = ref / ref.sum(), cur / cur.sum()
    stat = float(((q - p) ** 2 / p).sum())
    return stat, float(chi2.sf(stat, len(ref) - 1))


def trailing_spend_leaky(daily, window):  # includes the day itself
    return daily.rolling(window).mean()


CASES = {
    "05.chi2_drift": (chi2_drift, chi2_drift_wrong_dof),
    "05.trailing_spend": (trailing_spend, trailing_spend_leaky),
    "05.unleet": (unleet, lambda text: text),
    "05.think_fit_leak": ("B", "a"),
    "05.think_psi": (0.2747, 0.25),
}


def test_every_ch05_pipeline_exercise_is_covered():
    from aieng.book.exercises import ch05_pipeline

    mine = {n for n, ex in registry().items() if ex.cases.__module__ == ch05_pipeline.__name__}
    assert mine == set(CASES)


test_reference_answer_passes, test_wrong_answer_fails, test_stub_reads_as_not_attempted = contract(CASES)


@pytest.mark.parametrize("name, bad", [
    ("05.chi2_drift", chi2_drift_on_shares),
    ("05.chi2_drift", lambda ref, cur: chi2_drift(ref, cur)[0]),
    ("05.trailing_spend", lambda daily, window: daily.shift(1).rolling(window, min_periods=1).mean()),
    ("05.trailing_spend", lambda daily, window: daily.rolling(window).mean().shift(-1)),
    ("05.unleet", lambda text: re.sub(r"\d", "", text)),
    ("05.think_psi", 0.17),
])
def test_more_wrong_answers_fail(name, bad):
    with pytest.raises(CheckFailed):
        check(name, bad, strict=True, quiet=True)


def test_measure_unleet_shows_the_attack_and_the_repair():
    plain, repaired = measure_unleet(None), measure_unleet(unleet)
    assert plain["recall_leet"] < 0.6 < 0.85 < plain["recall_clean"]
    assert repaired["recall_leet"] > 0.85 and repaired["mcc_clean"] > plain["mcc_clean"] - 0.02
    assert "W1N M0NEY".lower().translate(_UNDO) == "win money" == "win money".translate(LEET).translate(_UNDO)
