"""Unit tests of aieng.agents, aieng.agents.memory and aieng.agents.planning (Month 9), with a scripted test double."""

from __future__ import annotations

import graphlib
import time

import numpy as np
import pytest

from aieng.agents import STOP_REASONS, Agent, ReasoningEngine, Trace
from aieng.agents.loop import Step
from _doubles import ScriptedChatModel
from aieng.llm import LLMError
from aieng.agents.memory import ConversationBuffer, LongTermMemory, extractive_summary
from aieng.agents.planning import PlanError, Task, TaskGraph, execute, plan_from_calls
from aieng.agents.callsyntax import Call
from aieng.agents.tools import Tool, ToolBox, calculator


def agent_with(replies, tools=(calculator,), **kw):
    return Agent(ReasoningEngine(ScriptedChatModel(replies)), ToolBox(list(tools)), **kw)


def test_answer_after_a_tool_call():
    trace = agent_with(['[calculator(expression="17 * 23")]', "[final_answer(answer=391)]"]).run("17*23?")
    assert trace.stop_reason == "answer" and trace.answer == 391
    assert trace.steps[0].observations[0]["content"] == "391.0"
    assert len(trace.steps) == 2 and trace.tokens > 0
    assert "391" in trace.to_html() and set(trace.to_dict()) >= {"steps", "stop_reason"}


def test_observation_reaches_the_model():
    model = ScriptedChatModel(['[calculator(expression="2+2")]', "[final_answer(answer=4)]"])
    Agent(ReasoningEngine(model), ToolBox([calculator])).run("2+2?")
    assert "4.0" in model.seen[1][-1]["content"]


def test_no_action_stops():
    assert agent_with(["[]"]).run("hello").stop_reason == "no_action"


def test_malformed_reply_is_recorded_and_budget_stops():
    trace = agent_with(["The answer is 5.", "[calculator(expression=]"], max_steps=2).run("2+3?")
    assert trace.stop_reason == "max_steps"
    assert all(s.error for s in trace.steps)
    assert trace.steps[0].observations[0]["ok"] is False


def test_tool_that_raises_is_observed():
    def explode(x: int) -> int:
        """Fails."""
        raise ValueError("no")
    trace = agent_with(["[explode(x=1)]", "[final_answer(answer=\"gave up\")]"], tools=[explode]).run("go")
    assert trace.stop_reason == "answer"
    obs = trace.steps[0].observations[0]
    assert obs["ok"] is False and "ValueError: no" in obs["error"]


def test_tool_that_hangs_is_observed():
    def hang(x: int) -> int:
        """Sleeps."""
        time.sleep(3)
        return x
    t0 = time.perf_counter()
    trace = agent_with(["[hang(x=1)]", "[final_answer(answer=\"late\")]"],
                       tools=[Tool.from_function(hang, timeout_s=0.2)]).run("go")
    assert time.perf_counter() - t0 < 2.5
    assert "timed out" in trace.steps[0].observations[0]["error"] and trace.stop_reason == "answer"


def test_invalid_arguments_are_observed():
    trace = agent_with(["[calculator(expr=\"1\")]", "[final_answer(answer=1)]"]).run("go")
    assert trace.steps[0].observations[0]["ok"] is False and trace.stop_reason == "answer"


def test_unsatisfiable_schema_stops_cleanly():
    bad = Tool("pick", "Pick a colour.", {"type": "object", "properties": {"c": {"enum": []}}, "required": ["c"]},
               fn=lambda c: c)
    trace = Agent(ReasoningEngine(ScriptedChatModel(["[pick(c=1)]"])), ToolBox([bad])).run("pick")
    assert trace.stop_reason == "bad_tool_schema" and trace.steps[0].error


def test_model_error_stops_cleanly():
    trace = agent_with([LLMError("endpoint down")]).run("go")
    assert trace.stop_reason == "model_error" and "endpoint down" in trace.steps[0].error


def test_token_budget():
    replies = ['[calculator(expression="1+1")]'] * 10
    trace = agent_with(replies, max_steps=10, max_tokens=30).run("count " + "word " * 20)
    assert trace.stop_reason == "token_budget" and len(trace.steps) < 10


def test_stop_reasons_documented():
    assert {"answer", "no_action", "max_steps", "token_budget", "bad_tool_schema", "model_error",
            "repeated_call", "internal_error"} == set(STOP_REASONS)
    empty = Trace("x")  # a run that never started: no steps, no tokens, and it says so when serialised
    assert (empty.tokens, empty.seconds, empty.stop_reason) == (0, 0, "")
    assert empty.to_dict() == {"objective": "x", "model": "", "stop_reason": "", "answer": None, "tokens": 0,
                               "abandoned_threads": 0, "steps": []}


# ----------------------------------------------------------------------------- memory


def test_buffer_drop_keeps_budget_and_newest():
    buf = ConversationBuffer(max_tokens=20, policy="drop")
    for i in range(10):
        buf.add("user", f"message number {i} has six tokens")  # 6 words each (+ digits)
    msgs = buf.messages()
    assert buf.tokens(msgs) <= 20 and msgs[-1]["content"].startswith("message number 9")
    assert buf.dropped == 10 - len(msgs)


def test_buffer_summarise_keeps_a_summary():
    buf = ConversationBuffer(max_tokens=40, policy="summarise")
    buf.add("user", "My name is Ada. I like tea.")
    for i in range(8):
        buf.add("assistant", f"Filler reply {i} with several words in it.")
    msgs = buf.messages()
    assert msgs[0]["content"].startswith("Summary of earlier conversation")
    assert buf.tokens(msgs) <= 40 + 8
    assert "Ada" in extractive_summary([{"role": "user", "content": "My name is Ada. I like tea."}])


def test_buffer_bad_policy():
    with pytest.raises(ValueError):
        ConversationBuffer(policy="forget")


class _Embedder:
    dim = 3

    def encode(self, texts):
        vocab = ["tea", "code", "cat"]
        X = np.array([[t.count(w) + 0.01 for w in vocab] for t in texts], dtype=np.float32)
        return X / np.linalg.norm(X, axis=1, keepdims=True)


def test_long_term_memory(tmp_path):
    mem = LongTermMemory(_Embedder())
    mem.remember(["I drink tea tea", "I write code", "my cat sleeps"], source="chat")
    assert mem.recall("cat")[0][0] == "my cat sleeps"
    mem.save(tmp_path / "mem.npz")
    again = LongTermMemory.load(tmp_path / "mem.npz", embedder=_Embedder())
    assert len(again) == 3 and again.recall("code", k=1)[0][0] == "I write code"
    with pytest.raises(ValueError):
        mem.remember([""])


# ----------------------------------------------------------------------------- planning


def test_order_matches_graphlib():
    tasks = [Task("report", "write", {"text": "$top"}), Task("load", "sql"), Task("top", "rank", {"rows": "$load"}),
             Task("email", "send", {"body": "$report"}, deps=["top"])]
    g = TaskGraph(tasks)
    order = g.order()
    ref = graphlib.TopologicalSorter({t.id: t.needs for t in tasks})
    assert order == ["load", "top", "report", "email"]
    assert set(order) == set(ref.static_order())
    for t in tasks:
        assert all(order.index(d) < order.index(t.id) for d in t.needs)


def test_bad_graphs():
    with pytest.raises(PlanError, match="cycle"):
        TaskGraph([Task("a", "f", {"x": "$b"}), Task("b", "f", {"x": "$a"})])
    with pytest.raises(PlanError, match="unknown"):
        TaskGraph([Task("a", "f", deps=["zzz"])])
    with pytest.raises(PlanError, match="duplicate"):
        TaskGraph([Task("a", "f"), Task("a", "g")])


def test_execute_with_replanning():
    def div(a: float, b: float) -> float:
        """Divide."""
        return a / b
    box = ToolBox([div, calculator])
    g = TaskGraph([Task("t1", "div", {"a": 1, "b": 0}), Task("t2", "calculator", {"expression": "{$t1} + 1"})])
    assert execute(g, box).stop_reason == "failed"
    g = TaskGraph([Task("t1", "div", {"a": 1, "b": 0}), Task("t2", "calculator", {"expression": "{$t1} + 1"})])
    run = execute(g, box, replan=lambda task, obs, res: [Task("t1", "div", {"a": 1, "b": 4})])
    assert run.ok and run.results["t2"] == 1.25 and run.replans == 1
    g = TaskGraph([Task("t1", "div", {"a": 1, "b": 0})])
    assert execute(g, box, replan=lambda t, o, r: [t], max_replans=2).stop_reason == "max_replans"


def test_plan_from_calls():
    g = plan_from_calls([Call("calculator", {"expression": "2*3"}), Call("calculator", {"expression": "$t1 + 1"})])
    assert g.order() == ["t1", "t2"] and execute(g, ToolBox([calculator])).results["t2"] == 7.0


def test_repeated_call_stops():
    trace = agent_with(['[calculator(expression="1+1")]'] * 5, max_steps=5).run("1+1?")
    assert trace.stop_reason == "repeated_call" and len(trace.steps) == 2


def test_tool_first_hides_final_answer_at_step_one():
    engine = ReasoningEngine(ScriptedChatModel(["[final_answer(answer=1)]", "[final_answer(answer=2)]"]))
    seen = []
    original = engine.decide

    def spy(messages, schemas):
        seen.append([s["name"] for s in schemas])
        return original(messages, schemas)
    engine.decide = spy
    trace = Agent(engine, ToolBox([calculator]), tool_first=True).run("x")
    assert seen[0] == ["calculator"] and "final_answer" in seen[1]
    assert trace.steps[0].observations[0]["error"] == "use a tool before answering"   # refused even if emitted
    assert trace.stop_reason == "answer" and trace.answer == 2


# ----------------------------------------------------------------------------- what cannot make Agent.run raise or leak


class _Unprintable:
    def __str__(self):
        raise RuntimeError("no str")

    __repr__ = __str__


def test_unprintable_and_unpicklable_results_are_error_observations():
    import threading

    def weird(x: int) -> str:
        """Returns something odd."""
        return _Unprintable() if x == 1 else threading.Lock()

    trace = agent_with(["[weird(x=1), weird(x=2)]", '[final_answer(answer="done")]'], tools=[weird]).run("go")
    assert trace.stop_reason == "answer", trace.steps[-1].error
    first, second = trace.steps[0].observations
    assert first["ok"] is False and "cannot be shown as text" in first["error"]
    assert second["ok"] is True and trace.to_dict()["steps"][0]["observations"][1]["value"] is None
    isolated = Tool.from_function(weird, isolated=True, timeout_s=20)
    obs = ToolBox([isolated]).call("weird", {"x": 2})
    assert obs.ok is False and "cannot be sent back" in obs.error


def test_calls_per_step_are_capped():
    calls = ", ".join(f'calculator(expression="{i}+1")' for i in range(20_000))
    ran = []

    def count(x: int) -> int:
        """Counts."""
        ran.append(x)
        return x

    reply = "[" + calls.replace('calculator(expression="', "count(x=").replace('+1")', ")") + "]"
    trace = agent_with([reply, "[]"], tools=[count], max_calls_per_step=5, max_tokens=10**9).run("go")
    assert len(ran) == 5 and trace.stop_reason == "no_action"
    assert "max_calls_per_step" in trace.steps[0].error and len(trace.steps[0].calls) == 5


def _sleep_for_ever(x: int) -> int:
    """Never returns: blocked inside C."""
    time.sleep(3600)
    return x


def test_a_hanging_tool_leaves_no_thread_behind():
    import threading

    def spin(x: int) -> int:
        """Hangs in Python code (a loop of short sleeps)."""
        while True:
            time.sleep(0.01)

    def busy(x: int) -> int:
        """Hangs in a pure Python loop that swallows ordinary exceptions."""
        while True:
            try:
                pass
            except Exception:
                pass

    before = set(threading.enumerate())  # other tests' threads may end meanwhile: compare sets, not counts
    tools = [Tool.from_function(spin, timeout_s=0.3), Tool.from_function(busy, timeout_s=0.3),
             Tool.from_function(_sleep_for_ever, timeout_s=0.5, isolated=True)]
    trace = agent_with(["[spin(x=1), busy(x=2), _sleep_for_ever(x=3)]", "[]"], tools=tools).run("go")
    assert trace.stop_reason == "no_action"
    assert all(not o["ok"] and "timed out" in o["error"] for o in trace.steps[0].observations)
    deadline = time.time() + 3
    while set(threading.enumerate()) - before and time.time() < deadline:
        time.sleep(0.05)
    assert not set(threading.enumerate()) - before, threading.enumerate()
    assert trace.abandoned_threads == 0


def test_a_tool_blocked_in_c_is_accounted_for():
    box = ToolBox([Tool.from_function(_sleep_for_ever, timeout_s=0.2)])
    box.GRACE_S = 0.2
    trace = Agent(ReasoningEngine(ScriptedChatModel(["[_sleep_for_ever(x=1)]", "[]"])), box).run("go")
    assert trace.abandoned_threads == 1 and "isolated=True" in trace.steps[0].observations[0]["error"]


def test_run_never_raises_even_from_a_broken_engine():
    class Broken(ReasoningEngine):
        def grammar(self, schemas):
            raise RuntimeError("oops")  # not a schema error: a bug

    trace = Agent(Broken(ScriptedChatModel(["[]"])), ToolBox([calculator])).run("go")
    assert trace.stop_reason == "internal_error" and "RuntimeError: oops" in trace.steps[-1].error
    assert trace.stop_reason in STOP_REASONS


def test_trace_viewer_carries_the_widget_and_the_static_trace():
    from aieng.agents import trace_viewer

    trace = Trace("What is 2 + 2?")
    trace.steps.append(Step(index=0, reply="[calculator(expression='2+2')]", calls=[], observations=[
        {"tool": "calculator", "ok": True, "content": "4", "error": None}], error=None,
        prompt_tokens=10, completion_tokens=5, seconds=0.1))
    bundle = trace_viewer(trace)._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle  # the slider, for a kernel
    assert bundle["text/html"] == trace.to_html() and "calculator: 4" in bundle["text/html"]  # the site
