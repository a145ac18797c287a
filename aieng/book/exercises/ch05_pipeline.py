"""Exercises of Month 5, notebook 02-the-ml-pipeline (chapters/05-machine-learning).

``05.chi2_drift``, ``05.trailing_spend``, ``05.unleet`` (change it and measure), ``05.think_fit_leak``,
``05.think_psi``.

Hints point to the idea or the function to read; they never contain the answer's code.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from aieng.book.cases import Case, exercise, near, same_choice

LEET = str.maketrans("aeiosAEIOS", "4310543105")
"""The spammer's substitution of the notebook: a->4, e->3, i->1, o->0, s->5 (either case)."""

UNLEET_MIN_RECALL = 0.85
"""``05.unleet``: the spam recall the pipeline must reach on W1N M0NEY spam."""
UNLEET_MAX_MCC_LOSS = 0.02
"""``05.unleet``: how much MCC on clean messages the change may cost, at most."""


def _float_pair(got: Any) -> tuple[float, float] | None:
    try:
        a, b = got
        return float(a), float(b)
    except (TypeError, ValueError):
        return None


# ---- 05.chi2_drift --------------------------------------------------------------------------------

def _judge_chi2(chi2_drift: Any) -> str | None:
    from scipy.stats import chi2_contingency

    rng = np.random.default_rng(5)
    tables = [(np.array([50, 30, 20]), np.array([45, 35, 20])),
              (np.array([120, 80, 60, 40]), np.array([10, 20, 30, 40])),
              (np.array([7, 7, 7, 7, 7]), np.array([7, 7, 7, 7, 7]))]
    tables += [(rng.integers(5, 400, size=k), rng.integers(5, 400, size=k)) for k in (3, 6, 10)]
    for ref, cur in tables:
        want = chi2_contingency(np.vstack([ref, cur]), correction=False)
        got = _float_pair(chi2_drift(ref.copy(), cur.copy()))
        if got is None:
            return f"chi2_drift({ref.tolist()}, {cur.tolist()}) should return (statistic, p_value)"
        if not math.isclose(got[0], want.statistic, rel_tol=1e-7, abs_tol=1e-9):
            return (f"chi2_drift({ref.tolist()}, {cur.tolist()}): statistic {got[0]:.6g}, scipy's "
                    f"chi2_contingency gives {want.statistic:.6g}")
        if not math.isclose(got[1], want.pvalue, rel_tol=1e-6, abs_tol=1e-12):
            return (f"chi2_drift({ref.tolist()}, {cur.tolist()}): p-value {got[1]:.6g}, scipy gives "
                    f"{want.pvalue:.6g} with {want.dof} degrees of freedom")
    return None


@exercise("05.chi2_drift", hint="Lay the two histograms out as a table with two rows. Under 'no drift' "
          "each cell expects (its row total) x (its column total) / (grand total); the statistic adds "
          "(observed - expected)^2 / expected over the cells. A 2 x k table has k - 1 degrees of freedom; "
          "scipy.stats.chi2 gives the tail probability (its survival function).")
def _chi2_drift():
    return [Case(test=_judge_chi2)]


# ---- 05.trailing_spend ----------------------------------------------------------------------------

def _daily_revenue() -> Any:
    import pandas as pd

    from aieng.data import load_pizzaplace

    sales = pd.read_csv(load_pizzaplace(), usecols=["date", "price"], parse_dates=["date"])
    return sales.groupby("date")["price"].sum()


def _judge_trailing(trailing_spend: Any) -> str | None:
    import pandas as pd

    toy = pd.Series([10.0, 20.0, 30.0, 40.0, 50.0],
                    index=pd.date_range("2015-01-01", periods=5, name="date"))
    for daily, window in [(toy, 2), (toy, 1), (_daily_revenue(), 7), (_daily_revenue(), 30)]:
        want = daily.rolling(window).mean().shift(1)
        got = trailing_spend(daily.copy(), window)
        if not isinstance(got, pd.Series) or len(got) != len(daily) or not got.index.equals(daily.index):
            return f"trailing_spend(daily, {window}) should return a Series with daily's index"
        if got.isna().to_numpy().tolist() != want.isna().to_numpy().tolist():
            first = int(want.notna().to_numpy().argmax())
            return (f"window={window}: the first day with a value should be day {first} (0-based): a day "
                    f"needs {window} earlier days; yours has values on days "
                    f"{np.flatnonzero(got.notna().to_numpy())[:3].tolist()}...")
        ok = want.notna()
        if not np.allclose(got[ok].to_numpy(float), want[ok].to_numpy(float), rtol=1e-9):
            day = daily.index[ok.to_numpy()][0]
            return (f"window={window}: on {day:%Y-%m-%d} you give {got[day]:.2f}, expected {want[day]:.2f}, "
                    f"the mean of the {window} days BEFORE it (not including the day itself)")
    return None


@exercise("05.trailing_spend", hint="On the morning of a day you know every earlier day's revenue and "
          "none of that day's. Read pandas' Series.rolling: which days does its window hold for a "
          "given row, and how do you move the result one row later?")
def _trailing_spend():
    return [Case(test=_judge_trailing)]


# ---- 05.unleet (change it and measure) ------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _split() -> tuple[list[str], np.ndarray, list[str], np.ndarray]:
    from sklearn.model_selection import train_test_split

    from aieng.data import load_sms_spam

    seen, texts, labels = set(), [], []
    for label, text in load_sms_spam():
        text = " ".join(text.split())
        if text not in seen:
            seen.add(text)
            texts.append(text)
            labels.append(label == "spam")
    X_train, X_test, y_train, y_test = train_test_split(texts, np.array(labels), test_size=0.25,
                                                        stratify=labels, random_state=0)
    return X_train, y_train, X_test, y_test


def measure_unleet(normalise: Any) -> dict[str, float]:
    """Train the notebook's pipeline with ``normalise`` as a cleaning step; score clean and W1N M0NEY spam.

    The vectorizer lowercases each message and passes it to ``normalise`` (``None``: no cleaning).
    Returns ``mcc_clean`` and ``recall_clean`` on the clean held-out messages, and ``recall_leet``:
    the spam recall when every held-out spam message is written with :data:`LEET`.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import matthews_corrcoef, recall_score
    from sklearn.pipeline import make_pipeline

    X_train, y_train, X_test, y_test = _split()
    step = (lambda text: text.lower()) if normalise is None else (lambda text: normalise(text.lower()))
    model = make_pipeline(TfidfVectorizer(preprocessor=step, sublinear_tf=True),
                          LogisticRegression(C=10, max_iter=1_000, class_weight="balanced"))
    model.fit(X_train, y_train)
    clean = model.predict(X_test)
    leet = model.predict([t.translate(LEET) if spam else t for t, spam in zip(X_test, y_test)])
    return {"mcc_clean": float(matthews_corrcoef(y_test, clean)),
            "recall_clean": float(recall_score(y_test, clean)),
            "recall_leet": float(recall_score(y_test, leet))}


@functools.lru_cache(maxsize=1)
def _baseline() -> dict[str, float]:
    return measure_unleet(None)


def _judge_unleet(normalise: Any) -> str | None:
    probe = normalise("c4ll n0w")
    if not isinstance(probe, str):
        return f"normalise('c4ll n0w') returned {type(probe).__name__}; return the cleaned text (a str)"
    base, got = _baseline(), measure_unleet(normalise)
    if got["recall_leet"] < UNLEET_MIN_RECALL:
        return (f"spam recall on W1N M0NEY spam is {got['recall_leet']:.3f} (without cleaning "
                f"{base['recall_leet']:.3f}); reach {UNLEET_MIN_RECALL}")
    if got["mcc_clean"] < base["mcc_clean"] - UNLEET_MAX_MCC_LOSS:
        return (f"MCC on clean messages fell from {base['mcc_clean']:.3f} to {got['mcc_clean']:.3f}; "
                f"the cleaning may cost at most {UNLEET_MAX_MCC_LOSS}")
    return None


@exercise("05.unleet", hint="Call measure_unleet on a first attempt and read the three numbers. The "
          "substitution is the table LEET in this module; a cleaning step that undoes it makes the "
          "disguised words land on the vocabulary the model learned. Then check what your step does to "
          "the digits that spam really contains (phone numbers, prices).")
def _unleet():
    return [Case(test=_judge_unleet, timeout_s=120)]


# ---- Think! ---------------------------------------------------------------------------------------

@exercise("05.think_fit_leak", hint="Which steps learn something from the messages they are given? A "
          "vectorizer learns a vocabulary and document frequencies.", compare=same_choice)
def _think_fit_leak():
    return [Case(args=None, expected="b")]


@exercise("05.think_psi", hint="Two bins: add (p_cur - p_ref) x ln(p_cur / p_ref) for each; the "
          "natural logarithm.", compare=near(abs_tol=0.005))
def _think_psi():
    return [Case(args=None, expected=0.25 * math.log(2) + 0.25 * math.log(1.5))]
