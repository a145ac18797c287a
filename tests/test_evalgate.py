"""aieng.ops.evalgate: a prompt change that lowers the golden-set score fails the gate."""

from __future__ import annotations

import pytest

from aieng.agents.sales import make_requests
from aieng.ops.evalgate import GateFailed, GoldenItem, gate, golden_from_requests, run_eval

GOLDEN = golden_from_requests(make_requests(12, seed=0, recipients=("management", "finance")))


def exact(answer, expected):
    return float(answer == expected)


def good_prompt(text):  # a scripted answerer standing in for "the model with prompt v1"
    return next(g.expected for g in GOLDEN if g.input == text)


def worse_prompt(text):  # "prompt v2": forgets the recipient whenever it is not management
    truth = good_prompt(text)
    return truth if truth.to == "management" else truth.__class__(truth.first_month, truth.last_month,
                                                                   truth.k, truth.by, "management")


def test_worse_prompt_fails_the_gate():
    base = run_eval("v1", good_prompt, GOLDEN, exact)
    worse = run_eval("v2", worse_prompt, GOLDEN, exact)
    assert base.score == 1.0 and worse.score < 1.0
    result = gate(base, worse)
    assert not result.passed and result.regressed
    with pytest.raises(GateFailed, match="FAIL"):
        result.enforce()
    gate(base, run_eval("v1-again", good_prompt, GOLDEN, exact)).enforce()  # same score passes
    assert gate(base, worse, max_drop=1.0).passed


def test_crashing_answer_scores_zero_and_bad_input():
    def boom(text):
        raise RuntimeError("model down")
    report = run_eval("boom", boom, GOLDEN[:2], exact)
    assert report.scores == [0.0, 0.0] and "model down" in report.answers[0]
    with pytest.raises(ValueError):
        run_eval("x", good_prompt, [], exact)
    with pytest.raises(ValueError):
        gate(report, run_eval("y", good_prompt, GOLDEN[:3], exact))
    with pytest.raises(ValueError):
        run_eval("z", lambda t: 1, [GoldenItem("a", "q", 1)], lambda a, e: 2.0)
