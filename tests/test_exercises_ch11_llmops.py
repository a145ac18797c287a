"""Each exercise of notebook 11/02 accepts a reference answer and rejects a wrong one."""

from __future__ import annotations

import math

from _exercise_contract import contract


def quantile(q, bounds, cumulative):
    rank = q * cumulative[-1]
    for i, (b, c) in enumerate(zip(bounds, cumulative)):
        if c >= rank:
            if math.isinf(b):
                return bounds[i - 1]
            lo, below = (0.0, 0.0) if i == 0 else (bounds[i - 1], cumulative[i - 1])
            return lo + (b - lo) * (rank - below) / (c - below)


def quantile_wrong(q, bounds, cumulative):  # the upper bound, no interpolation
    return next(b for b, c in zip(bounds, cumulative) if c >= q * cumulative[-1])


def shares(rows):
    root = next(r for r in rows if r.parent_id is None)
    kids = [r for r in rows if r.parent_id == root.span_id]
    llm = sum(r.duration_ms for r in kids if r.name.startswith("llm")) / root.duration_ms
    tools = sum(r.duration_ms for r in kids if r.name.startswith("tool")) / root.duration_ms
    return {"llm": llm, "tools": tools, "other": 1 - llm - tools}


def shares_wrong(rows):  # divides by the sum of the children instead of the root
    out = shares(rows)
    total = out["llm"] + out["tools"]
    return {"llm": out["llm"] / total, "tools": out["tools"] / total, "other": 0.0}


def is_easy(text):
    return not text.startswith(("For Q1", "Analyse"))


def is_easy_wrong(text):
    return len(text.split()) <= 25


CASES = {
    "11.bucket_quantile": (quantile, quantile_wrong),
    "11.time_shares": (shares, shares_wrong),
    "11.cheap_router": (is_easy, is_easy_wrong),
    "11.think_chance": (0.82, 0.9),
    "11.think_version": ("c", "a"),
}

test_reference_answer_passes, test_wrong_answer_fails, test_stub_reads_as_not_attempted = contract(CASES)
