"""Evaluating answers: a labelled set, judges (an LLM, a rule), and agreement measured by Cohen's kappa.

Taught in Month 11 (chapters/11-llmops/02-observe-version-evaluate).

An answer is *correct*, *partially correct*, *misleading* or *hallucinated* (:data:`LABELS`). A judge
assigns one of them; we measure it against labels a person wrote (:func:`load_labelled`) with raw
agreement and Cohen's kappa (:func:`cohen_kappa`), which discounts the agreement two raters would reach
by chance given how often each uses each label.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["LABELS", "LabelledAnswer", "agreement", "cohen_kappa", "confusion", "judge_messages",
           "llm_judge", "load_labelled", "overlap_judge"]

LABELS = ("correct", "partially correct", "misleading", "hallucinated")


@dataclass(frozen=True)
class LabelledAnswer:
    question: str
    reference: str
    answer: str
    label: str


def load_labelled(path: str | os.PathLike[str]) -> list[LabelledAnswer]:
    """Read a JSON list of ``{question, reference, answer, label}``; every label must be in :data:`LABELS`."""
    with open(path, encoding="utf-8") as f:
        rows = json.load(f)
    items = [LabelledAnswer(r["question"], r["reference"], r["answer"], r["label"]) for r in rows]
    bad = sorted({x.label for x in items} - set(LABELS))
    if bad:
        raise ValueError(f"unknown labels {bad}; use {LABELS}")
    return items


def confusion(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str] = LABELS) -> np.ndarray:
    """Counts: row = the true label, column = the judge's label."""
    if len(y_true) != len(y_pred):
        raise ValueError("y_true and y_pred differ in length")
    index = {lab: i for i, lab in enumerate(labels)}
    m = np.zeros((len(labels), len(labels)), dtype=int)
    for t, p in zip(y_true, y_pred):
        m[index[t], index[p]] += 1
    return m


def agreement(y_true: Sequence[str], y_pred: Sequence[str]) -> float:
    """The share of items on which the two raters agree."""
    if not y_true or len(y_true) != len(y_pred):
        raise ValueError("need two equally long, non-empty label lists")
    return sum(t == p for t, p in zip(y_true, y_pred)) / len(y_true)


def cohen_kappa(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str] = LABELS) -> float:
    """Cohen's kappa, from scratch: ``(p_o - p_e) / (1 - p_e)``.

    ``p_o`` is the observed agreement; ``p_e`` the agreement expected by chance, the sum over labels of
    the product of the two raters' marginal frequencies. 1 is perfect, 0 is chance, below 0 is worse.
    When both raters always give the same single label, ``p_e = 1`` and kappa is defined as 1 if they
    agree (0 otherwise), as scikit-learn's ``cohen_kappa_score`` returns NaN there.
    """
    m = confusion(y_true, y_pred, labels).astype(float)
    n = m.sum()
    p_o = np.trace(m) / n
    p_e = float((m.sum(axis=1) / n) @ (m.sum(axis=0) / n))
    if p_e == 1.0:
        return 1.0 if p_o == 1.0 else 0.0
    return float((p_o - p_e) / (1.0 - p_e))


def judge_messages(item: LabelledAnswer) -> list[dict[str, str]]:
    """The judge's prompt: the question, the reference answer and the answer to grade."""
    return [{"role": "system", "content":
             "You grade answers against a reference. Labels: correct (agrees with the reference); partially "
             "correct (right but incomplete); misleading (true-sounding but leads to a wrong conclusion); "
             "hallucinated (states facts that are made up). Reply with the label only."},
            {"role": "user", "content": f"Question: {item.question}\nReference: {item.reference}\n"
                                        f"Answer: {item.answer}\nLabel:"}]


def llm_judge(model: Any, item: LabelledAnswer) -> str:
    """The model's label by constrained choice (:func:`aieng.llm.choose`): always one of :data:`LABELS`."""
    from aieng.llm.choose import choose

    best, _ = choose(model, judge_messages(item), list(LABELS))
    return best


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+(?:\.[0-9]+)?", text.lower()))


def overlap_judge(item: LabelledAnswer, high: float = 0.6, low: float = 0.3) -> str:
    """A rule-based judge from word overlap with the reference (no model).

    Recall of the reference's words in the answer: at least ``high`` -> correct; at least ``low`` ->
    partially correct; below, an answer that repeats the question's words -> misleading, else
    hallucinated. A numbers rule first: an answer whose numbers are not the reference's is misleading.
    """
    ref, ans = _words(item.reference), _words(item.answer)
    if not ref:
        raise ValueError("the reference has no words")
    nums_ref = {w for w in ref if w[0].isdigit()}
    nums_ans = {w for w in ans if w[0].isdigit()}
    recall = len(ref & ans) / len(ref)
    if nums_ref and nums_ans and not nums_ans & nums_ref:
        return "misleading"
    if recall >= high:
        return "correct"
    if recall >= low:
        return "partially correct"
    return "misleading" if len(_words(item.question) & ans) >= 3 else "hallucinated"
