"""Exercises of Month 5, classical machine learning (chapters/05-machine-learning), notebook 01-spam-filter.

``05.mcc``, ``05.spam_words``, ``05.normalise`` (change it and measure: the naive Bayes filter's
recall on "W1N M0NEY" spam, measured through the learner's normaliser), ``05.think_all_ham_mcc``,
``05.think_rare_spam``.

Hints point to the idea or the function to read; they never contain the answer's code.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from aieng.book.cases import Case, exercise, near

# --------------------------------------------------------------------------------------------
# the Matthews correlation coefficient
# --------------------------------------------------------------------------------------------


def _judge_mcc(mcc: Any) -> str | None:
    from sklearn.metrics import matthews_corrcoef

    rng = np.random.default_rng(5)
    for trial in range(60):
        n = int(rng.integers(5, 300))
        y_true = (rng.random(n) < rng.uniform(0.05, 0.6)).astype(int)
        flip = rng.random(n) < rng.uniform(0.0, 0.5)
        y_pred = np.where(flip, 1 - y_true, y_true)
        expected = matthews_corrcoef(y_true, y_pred)
        got = mcc(y_true, y_pred)
        try:
            ok = math.isclose(float(got), expected, abs_tol=1e-9)
        except (TypeError, ValueError):
            return f"mcc(...) returned {got!r}, expected a number"
        if not ok:
            return (f"trial {trial}: on {n} labels ({int(y_true.sum())} spam) sklearn's "
                    f"matthews_corrcoef gives {expected:.6f}, your mcc gives {got!r}")
    return None


@exercise("05.mcc", hint="Count the four cells of the confusion matrix first (true and false "
          "positives and negatives). The MCC is the correlation between the truth and the prediction "
          "written with those counts: read its formula in the section on the paper to beat, and "
          "mind the case where a whole row or column of the matrix is empty (sklearn returns 0).")
def _mcc():
    y = np.array([0, 0, 0, 1, 1, 0, 1, 0])
    return [Case((y, y), expected=1.0, show="mcc(y, y)"),
            Case((y, 1 - y), expected=-1.0, show="mcc(y, 1 - y)"),
            Case((y, np.zeros_like(y)), expected=0.0, show="mcc(y, <all ham>)"),
            Case(test=_judge_mcc)]


# --------------------------------------------------------------------------------------------
# the words that say "spam"
# --------------------------------------------------------------------------------------------


def _judge_spam_words(spam_words: Any) -> str | None:
    rng = np.random.default_rng(7)
    for trial in range(30):
        n_words = int(rng.integers(5, 200))
        vocab = np.array([f"w{i}" for i in range(n_words)])
        log_prob = np.log(rng.dirichlet(np.ones(n_words), size=2))
        k = int(rng.integers(1, min(n_words, 12) + 1))
        ratio = log_prob[1] - log_prob[0]
        expected = [str(w) for w in vocab[np.argsort(-ratio, kind="stable")[:k]]]
        got = spam_words(log_prob, vocab, k)
        try:
            got = [str(w) for w in got]
        except TypeError:
            return f"spam_words(...) returned {got!r}, expected a list of {k} words"
        if got != expected:
            return (f"trial {trial}: with {n_words} words and k={k} the words that most favour spam "
                    f"are {expected}, you returned {got}")
    return None


@exercise("05.spam_words", hint="A word pushes a message towards spam by how much more likely it is "
          "under the spam class than under the ham class; in logs that is a difference of two rows "
          "of `log_prob`. Sort the words by it, largest first (numpy's argsort sorts ascending).")
def _spam_words():
    log_prob = np.log(np.array([[0.5, 0.3, 0.2], [0.1, 0.3, 0.6]]))
    vocab = np.array(["hello", "the", "free"])
    return [Case((log_prob, vocab, 1), expected=["free"], show="spam_words(<3 words>, k=1)"),
            Case((log_prob, vocab, 3), expected=["free", "the", "hello"],
                 show="spam_words(<3 words>, k=3)"),
            Case(test=_judge_spam_words)]


# --------------------------------------------------------------------------------------------
# change it and measure: a normaliser that undoes "W1N M0NEY"
# --------------------------------------------------------------------------------------------

LEET = str.maketrans({"a": "4", "A": "4", "e": "3", "E": "3", "i": "1", "I": "1",
                      "o": "0", "O": "0", "s": "5", "S": "5"})
"""The spammer's substitution of the notebook's section 3 (a->4, e->3, i->1, o->0, s->5)."""
NORMALISE_RECALL = 0.87
"""``05.normalise`` wants at least this recall on the disguised spam of the test split."""
NORMALISE_MCC = 0.90
"""... and at least this MCC on the clean test split (the normaliser must not hurt honest text)."""


@functools.cache
def _spam_split() -> tuple[list[str], list[str], np.ndarray, np.ndarray]:
    """The notebook's split: stratified, 30% held out, seed 0."""
    from sklearn.model_selection import train_test_split

    from aieng.data import load_sms_spam

    rows = load_sms_spam()
    texts = [text for _, text in rows]
    y = np.array([label == "spam" for label, _ in rows], dtype=int)
    train, test, y_train, y_test = train_test_split(texts, y, test_size=0.3, stratify=y,
                                                    random_state=0)
    return train, test, y_train, y_test


def normalised_scores(normalise: Any) -> dict[str, float]:
    """Train the count-vector naive Bayes filter on ``normalise``-d training messages and measure it
    on the test split: recall on the disguised spam, MCC on the disguised and on the clean test set."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.metrics import matthews_corrcoef, recall_score
    from sklearn.naive_bayes import MultinomialNB

    train, test, y_train, y_test = _spam_split()
    disguised = [t.translate(LEET) if spam else t for t, spam in zip(test, y_test)]
    vectorizer = CountVectorizer()
    model = MultinomialNB().fit(vectorizer.fit_transform([normalise(t) for t in train]), y_train)
    y_hat = model.predict(vectorizer.transform([normalise(t) for t in disguised]))
    y_hat_clean = model.predict(vectorizer.transform([normalise(t) for t in test]))
    return {"recall_disguised": float(recall_score(y_test, y_hat)),
            "mcc_disguised": float(matthews_corrcoef(y_test, y_hat)),
            "mcc_clean": float(matthews_corrcoef(y_test, y_hat_clean))}


def _judge_normalise(normalise: Any) -> str | None:
    for text in ("W1N M0NEY", "Call 09061701461 now"):
        if not isinstance(normalise(text), str):
            return f"normalise({text!r}) returned {normalise(text)!r}, expected a string"
    scores = normalised_scores(normalise)
    if scores["recall_disguised"] < NORMALISE_RECALL:
        return (f"naive Bayes caught {scores['recall_disguised']:.1%} of the disguised spam "
                f"through your normaliser; the target is {NORMALISE_RECALL:.0%}")
    if scores["mcc_clean"] < NORMALISE_MCC:
        return (f"on the clean test messages the MCC fell to {scores['mcc_clean']:.3f} (target "
                f"{NORMALISE_MCC}): your normaliser damages honest text")
    return None


@exercise("05.normalise", hint="Undo the substitution before the vectorizer sees the text, at "
          "training and at prediction time alike. Measure with `normalised_scores` before you run "
          "the check. Ask which digits in a message are really letters: a phone number is a strong "
          "spam feature too, so look at what your normaliser does to one.")
def _normalise():
    return [Case(test=_judge_normalise, timeout_s=120)]


# --------------------------------------------------------------------------------------------
# Think!
# --------------------------------------------------------------------------------------------


@exercise("05.think_all_ham_mcc", hint="The MCC is a correlation between the truth and the "
          "prediction. What is the correlation with a prediction that never changes?")
def _think_all_ham_mcc():
    return [Case(args=None, expected=0.0)]


@exercise("05.think_rare_spam", hint="Imagine 10,000 messages. How many are spam, and how many of "
          "those does the filter catch? How many are ham, and how many of those does it flag? "
          "Precision is the caught spam over everything flagged.", compare=near(abs_tol=0.01))
def _think_rare_spam():
    return [Case(args=None, expected=0.9 * 0.01 / (0.9 * 0.01 + 0.01 * 0.99))]
