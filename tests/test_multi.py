"""Tests for aieng.agents.multi: the coordinator, its specialists, messages and the shared state."""

from __future__ import annotations

import time

import pytest

from _doubles import ScriptedChatModel
from aieng.agents import Tool
from aieng.agents.multi import (TEAM_STOP_REASONS, Coordinator, Message, SharedState, Specialist, TeamRun,
                                choose_option)


def _value(name, value):
    return Specialist.from_function(name, f"returns {value!r}", lambda task, state: value)


def _in_order(*names):
    """A deterministic policy: the first name whose result is not on the blackboard, then done."""
    def policy(objective, state, options):
        for n in names:
            if n in options and n not in state:
                return n
        return "done"
    return policy


def test_message_kind_is_checked():
    assert Message("a", "b", "task", "x").tokens == 0
    with pytest.raises(ValueError, match="kind"):
        Message("a", "b", "shout", "x")


def test_shared_state_records_authors_and_history():
    s = SharedState()
    s.put("rows", [1, 2], by="research")
    s.put("total", 3, by="analysis")
    s.put("rows", [1], by="coding")
    assert "rows" in s and "nope" not in s
    assert s.get("nope", 7) == 7 and s.get("rows") == [1]
    assert s.keys() == ["rows", "total"]
    assert s.author("rows") == "coding" and s.author("total") == "analysis"
    assert s.history == [("research", "rows"), ("analysis", "total"), ("coding", "rows")]
    with pytest.raises(ValueError):
        s.put("", 1, by="x")
    with pytest.raises(ValueError):
        s.put("k", 1, by="")


def test_specialist_writes_its_result_under_its_own_name():
    s = SharedState()
    msg = _value("research", 42).handle("find it", s)
    assert (msg.sender, msg.recipient, msg.kind, msg.content) == ("research", "coordinator", "result", 42)
    assert s.get("research") == 42 and s.author("research") == "research"


def test_specialist_error_is_a_message_and_writes_nothing():
    def broken(task, state):
        raise ZeroDivisionError("boom")
    s = SharedState()
    msg = Specialist("coding", "breaks", broken).handle("t", s)
    assert msg.kind == "error" and "ZeroDivisionError" in msg.content and "coding" not in s


def test_specialist_rejects_reserved_names_and_non_callables():
    with pytest.raises(ValueError):
        Specialist("done", "x", lambda t, s: 1)
    with pytest.raises(TypeError):
        Specialist("a", "x", 3)


def test_coordinator_runs_in_order_and_stops_done():
    team = Coordinator(_in_order("research", "analysis"),
                       [_value("research", 1), _value("coding", 2), _value("analysis", 3)])
    run = team.run("objective")
    assert isinstance(run, TeamRun) and run.ok and run.stop_reason == "done"
    assert run.trajectory == ["research", "analysis"]
    assert [(m.sender, m.recipient, m.kind) for m in run.messages] == [
        ("coordinator", "research", "task"), ("research", "coordinator", "result"),
        ("coordinator", "analysis", "task"), ("analysis", "coordinator", "result"),
        ("coordinator", "user", "done")]
    assert run.state.author("research") == "research" and run.state.author("analysis") == "analysis"
    assert run.state.author("objective") == "coordinator" and "coding" not in run.state


def test_done_when_lets_code_decide():
    team = Coordinator(lambda o, s, opts: opts[0], [_value("research", 1), _value("answer", 9)],
                       done_when=lambda s: "answer" in s)
    run = team.run("x")
    assert run.ok and run.trajectory == ["research", "answer"] and run.messages[-1].content == 9


def test_no_options_left_is_a_stated_reason():
    team = Coordinator(lambda o, s, opts: opts[0], [_value("research", 1)], done_when=lambda s: False)
    run = team.run("x")
    assert run.stop_reason == "no_options" and not run.ok and run.trajectory == ["research"]


def test_max_handoffs_ends_a_loop():
    team = Coordinator(lambda o, s, opts: "research", [_value("research", 1)], max_handoffs=3, repeat=True)
    run = team.run("x")
    assert run.stop_reason == "max_handoffs" and run.trajectory == ["research"] * 3
    assert run.messages[-1].kind == "error" and run.messages[-1].content == TEAM_STOP_REASONS["max_handoffs"]


def test_token_budget_ends_the_run():
    costly = Specialist("research", "costs 60 tokens", lambda t, s: (len(s.keys()), 60))
    team = Coordinator(lambda o, s, opts: "research", [costly], token_budget=100, repeat=True)
    run = team.run("x")
    assert run.stop_reason == "token_budget" and run.tokens == 120 and run.trajectory == ["research"] * 2


def test_time_budget_ends_the_run():
    slow = Specialist("research", "sleeps", lambda t, s: time.sleep(0.05) or 1)
    team = Coordinator(lambda o, s, opts: "research", [slow], time_budget_s=0.12, repeat=True,
                       max_handoffs=100)
    run = team.run("x")
    assert run.stop_reason == "time_budget" and 2 <= len(run.trajectory) <= 4
    assert run.seconds >= 0.12


def test_handoff_goes_straight_to_the_named_specialist():
    def research(task, state):
        state.put("rows", [1, 2, 3], by="research")
        return Message("research", "analysis", "handoff", "sum the rows")
    analysis = Specialist("analysis", "sums rows", lambda t, s: sum(s.get("rows")), key="answer")
    seen = []

    def policy(o, s, opts):
        seen.append(list(opts))
        return "research" if "rows" not in s else "done"
    run = Coordinator(policy, [Specialist("research", "finds rows", research), analysis]).run("x")
    assert run.ok and run.trajectory == ["research", "analysis"]
    assert len(run.handoffs) == 1 and run.handoffs[0].recipient == "analysis"
    assert run.state.get("answer") == 6 and run.state.author("answer") == "analysis"
    assert run.state.author("rows") == "research"
    assert len(seen) == 2  # the handoff skipped the coordinator's choice


def test_handoff_to_unknown_specialist_is_an_error_message():
    bad = Specialist("research", "x", lambda t, s: Message("research", "ghost", "handoff", "go"))
    run = Coordinator(lambda o, s, opts: "research" if len(s.keys()) == 1 and not s.history[1:] else "done",
                      [bad], max_handoffs=2, repeat=True).run("x")
    assert any(m.kind == "error" and "ghost" in str(m.content) for m in run.messages)


def test_a_policy_off_the_menu_is_a_model_error():
    run = Coordinator(lambda o, s, opts: "astrologer", [_value("research", 1)]).run("x")
    assert run.stop_reason == "model_error" and "astrologer" in run.messages[-1].content


def test_scripted_model_chooses_by_reply_text():
    model = ScriptedChatModel(["analysis please", "research", "done."], name="scripted test double")
    team = Coordinator(model, [_value("research", 1), _value("analysis", 2)])
    run = team.run("x")
    assert run.ok and run.trajectory == ["analysis", "research"] and run.tokens > 0
    assert "Objective: x" in model.seen[0][-1]["content"]


def test_scripted_model_off_the_menu_and_failing_endpoint():
    run = Coordinator(ScriptedChatModel(["banana"]), [_value("research", 1)]).run("x")
    assert run.stop_reason == "model_error"
    run = Coordinator(ScriptedChatModel([ConnectionError("down")]), [_value("research", 1)]).run("x")
    assert run.stop_reason == "model_error" and "down" in run.messages[-1].content


def test_choose_option_prefers_the_longest_matching_option():
    model = ScriptedChatModel(["research_deep"])
    assert choose_option(model, [{"role": "user", "content": "?"}], ["research", "research_deep"])[0] == \
        "research_deep"


def test_specialist_from_tools_runs_an_agent():
    def total(a: int, b: int) -> int:
        """Add two integers."""
        return a + b
    model = ScriptedChatModel(["[total(a=2, b=3)]", '[final_answer(answer="5")]'])
    spec = Specialist.from_tools("analysis", "adds", model, [Tool.from_function(total)], decoding="free")
    s = SharedState()
    msg = spec.handle("add 2 and 3", s)
    assert msg.kind == "result" and str(msg.content) == "5" and msg.tokens > 0
    assert s.author("analysis") == "analysis"


def test_constructor_rejects_bad_teams():
    with pytest.raises(ValueError):
        Coordinator(lambda *a: "done", [])
    with pytest.raises(ValueError):
        Coordinator(lambda *a: "done", [_value("a", 1), _value("a", 2)])
    with pytest.raises(ValueError):
        Coordinator(lambda *a: "done", [_value("a", 1)], max_handoffs=0)


def test_stop_reasons_are_all_explained():
    run = Coordinator(lambda o, s, opts: "done", [_value("a", 1)]).run("x")
    assert run.stop_reason in TEAM_STOP_REASONS and run.trajectory == [] and run.ok
