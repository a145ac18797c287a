"""aieng.ops.judge: Cohen's kappa from scratch against scikit-learn, the labelled set, the rule judge."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score, confusion_matrix

from aieng.ops.judge import LABELS, agreement, cohen_kappa, confusion, load_labelled, overlap_judge

DATA = Path(__file__).resolve().parents[1] / "chapters" / "11-llmops" / "data" / "labelled_answers.json"


@pytest.mark.parametrize("seed", range(5))
def test_kappa_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    y = list(rng.choice(LABELS, 60))
    y_hat = [t if rng.random() < 0.5 else rng.choice(LABELS) for t in y]
    assert cohen_kappa(y, y_hat) == pytest.approx(cohen_kappa_score(y, y_hat, labels=list(LABELS)), abs=1e-12)
    np.testing.assert_array_equal(confusion(y, y_hat), confusion_matrix(y, y_hat, labels=list(LABELS)))


def test_kappa_edges():
    y = ["correct", "misleading"] * 5
    assert cohen_kappa(y, y) == 1.0
    assert cohen_kappa(["correct"] * 4, ["correct"] * 4) == 1.0
    assert cohen_kappa(y, y[1:] + y[:1]) == -1.0  # always disagree
    assert agreement(y, y) == 1.0
    with pytest.raises(ValueError):
        agreement(y, y[:3])
    with pytest.raises(KeyError):
        confusion(["right"], ["correct"])


def test_labelled_set_is_balanced_and_valid():
    items = load_labelled(DATA)
    assert 30 <= len(items) <= 60
    counts = {lab: sum(x.label == lab for x in items) for lab in LABELS}
    assert min(counts.values()) >= 5, counts


def test_bad_label_is_refused(tmp_path):
    p = tmp_path / "x.json"
    p.write_text('[{"question": "q", "reference": "r", "answer": "a", "label": "wrong"}]')
    with pytest.raises(ValueError, match="unknown labels"):
        load_labelled(p)


def test_overlap_judge_beats_chance():
    items = load_labelled(DATA)
    y = [x.label for x in items]
    y_hat = [overlap_judge(x) for x in items]
    assert set(y_hat) <= set(LABELS)
    assert cohen_kappa(y, y_hat) > 0.2
