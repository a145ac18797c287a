"""Each exercise of notebook 10/01 accepts a reference answer and rejects a wrong one."""

from __future__ import annotations

import pytest

from aieng.book import check


def writes_by_agent(state):
    out = {}
    for agent, key in state.history:
        out.setdefault(agent, []).append(key)
    return out


def writes_by_agent_wrong(state):  # current authors only: loses repeated writes
    out = {}
    for key in state.keys():
        out.setdefault(state.author(key), []).append(key)
    return out


def tokens_by_sender(run):
    out = {}
    for m in run.messages:
        out[m.sender] = out.get(m.sender, 0) + m.tokens
    return out


def tokens_by_sender_wrong(run):  # forgets senders that cost nothing
    out = {}
    for m in run.messages:
        if m.tokens:
            out[m.sender] = out.get(m.sender, 0) + m.tokens
    return out


def route(objective, state, options):
    q = objective.lower()
    if "category" in q and "coding" not in state:
        return "coding"
    if "category" not in q and "research" not in state:
        return "research"
    return "analysis" if "analysis" in options else "done"


def route_wrong(objective, state, options):  # always research first, never coding
    return "research" if "research" not in state else "analysis"


@pytest.mark.parametrize("name,good,bad", [
    ("10.writes_by_agent", writes_by_agent, writes_by_agent_wrong),
    ("10.tokens_by_sender", tokens_by_sender, tokens_by_sender_wrong),
    ("10.route", route, route_wrong),
    ("10.compound", 0.729, 0.27),
    ("10.who_decides", "b", "a"),
])
def test_reference_passes_and_wrong_answer_fails(name, good, bad):
    assert check(name, good, strict=True, quiet=True)
    assert check(name, bad, strict=False, quiet=True).status == "fail"
