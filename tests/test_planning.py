"""Unit tests of the model-written plans in aieng.agents.planning (Month 9): the grammar, the schema, the parser.

The grammar is checked three ways: against ``json.dumps`` of valid plans (it must accept them), against a
JSON-schema validator (everything it accepts must be a valid plan) and against llguidance, which compiles it
and must accept the same strings, token by token.
"""

from __future__ import annotations

import json
import random

import jsonschema
import pytest
import regex

from aieng.agents import ToolBox, calculator
from aieng.agents.planning import (
    PlanError,
    Task,
    TaskGraph,
    execute,
    plan_from_json,
    plan_regex,
    plan_schema,
    task_regex,
)
from aieng.agents.tools import Observation


def load(table: str) -> list:
    """Rows of a table.

    Parameters
    ----------
    table
        Its name.
    """
    return [[table, 1.0], ["b", 2.0]]


def rank(rows: list, k: int = 2, reverse: bool = False) -> list:
    """The top k rows.

    Parameters
    ----------
    rows
        Rows.
    k
        How many.
    reverse
        Smallest first.
    """
    return sorted(rows, key=lambda r: r[1], reverse=not reverse)[:k]


def send(to: str, body: str = "") -> str:
    """Send a message.

    Parameters
    ----------
    to
        Recipient.
    body
        Text.
    """
    return f"sent to {to}"


BOX = ToolBox([load, rank, send])


def _random_plan(rng: random.Random, n: int) -> list[dict]:
    plan = [{"id": "t1", "tool": "load", "args": {"table": rng.choice(["sales", "q1 2024", ""])}}]
    for k in range(2, n + 1):
        ref = f"$t{rng.randint(1, k - 1)}"
        if rng.random() < 0.5:
            args = {"rows": ref}
            if rng.random() < 0.6:
                args["k"] = rng.choice([0, 3, -2, 12])
            if rng.random() < 0.4:
                args["reverse"] = rng.random() < 0.5
            plan.append({"id": f"t{k}", "tool": "rank", "args": args})
        else:
            args = {"to": rng.choice(["maria@example.com", ref])}
            if rng.random() < 0.5:
                args["body"] = ref
            plan.append({"id": f"t{k}", "tool": "send", "args": args})
    return plan


def test_grammar_accepts_valid_plans_and_schema_agrees():
    rx = regex.compile(plan_regex(BOX.schemas, max_tasks=5))
    validator = jsonschema.Draft202012Validator(plan_schema(BOX.schemas, max_tasks=5))
    rng = random.Random(0)
    for _ in range(200):
        plan = _random_plan(rng, rng.randint(1, 5))
        text = json.dumps(plan)
        assert rx.fullmatch(text), text
        assert validator.is_valid(plan), text
        g = plan_from_json(text)  # acyclic, and the written order is a dependency order
        ids = [p["id"] for p in plan]
        assert all(ids.index(d) < ids.index(t.id) for t in g.tasks.values() for d in t.needs)


@pytest.mark.parametrize("plan", [
    [{"id": "t1", "tool": "rank", "args": {"rows": "$t2"}}, {"id": "t2", "tool": "load", "args": {"table": "x"}}],
    [{"id": "t1", "tool": "rank", "args": {"rows": "$t1"}}],                        # itself
    [{"id": "t1", "tool": "load", "args": {"table": "x"}}] * 2,                     # ids must count up
    [{"id": "t1", "tool": "load", "args": {}}],                                     # a required argument missing
    [{"id": "t1", "tool": "load", "args": {"table": 3}}],                           # wrong type
    [{"id": "t1", "tool": "drop", "args": {}}],                                     # unknown tool
    [{"id": "t1", "tool": "load", "args": {"table": "x", "extra": 1}}],             # unknown argument
    [{"id": "t1", "tool": "load", "args": {"table": "$x"}}],                        # '$' only in references
    [{"id": "t1", "tool": "load", "args": {"table": "x"}}, {"id": "t2", "tool": "rank", "args": {"rows": [1]}}],
    [],
], ids=["forward", "self", "ids", "missing", "type", "tool", "extra", "dollar", "literal-list", "empty"])
def test_grammar_rejects(plan):
    assert not regex.fullmatch(plan_regex(BOX.schemas, max_tasks=5), json.dumps(plan))


def test_schema_is_looser_only_about_order():
    validator = jsonschema.Draft202012Validator(plan_schema(BOX.schemas))
    forward = [{"id": "t1", "tool": "rank", "args": {"rows": "$t2"}}, {"id": "t2", "tool": "load", "args": {"table": "x"}}]
    assert validator.is_valid(forward)
    cycle = [{"id": "t1", "tool": "rank", "args": {"rows": "$t2"}}, {"id": "t2", "tool": "rank", "args": {"rows": "$t1"}}]
    assert validator.is_valid(cycle)
    with pytest.raises(PlanError, match="cycle"):
        plan_from_json(json.dumps(cycle))
    assert not validator.is_valid([{"id": "t1", "tool": "load", "args": {"table": 3}}])


def test_first_task_cannot_need_a_reference():
    # rank needs a list, which only an earlier task can give: it cannot be task t1
    assert '"rank"' not in task_regex(BOX.schemas, "t1", [])
    with pytest.raises(ValueError, match="no tool"):
        task_regex([s for s in BOX.schemas if s["name"] == "rank"], "t1", [])
    with pytest.raises(ValueError):
        plan_regex(BOX.schemas, max_tasks=0)


def test_llguidance_accepts_exactly_what_the_regex_accepts():
    import llguidance
    import llguidance.hf

    from aieng.llm import load_chat_model

    tok = load_chat_model().tokenizer
    lltok = llguidance.hf.from_tokenizer(tok)
    pattern = plan_regex(BOX.schemas, max_tasks=3)
    rng = random.Random(1)
    texts = [json.dumps(_random_plan(rng, rng.randint(1, 3))) for _ in range(10)]
    texts += ['[{"id": "t1", "tool": "rank", "args": {"rows": "$t1"}}]', "[]", "not json"]
    for text in texts:
        m = llguidance.LLMatcher(lltok, llguidance.LLMatcher.grammar_from_regex(pattern), log_level=0)
        lib = all(m.consume_token(t) for t in tok.encode(text, add_special_tokens=False)) and m.is_accepting()
        assert lib == bool(regex.fullmatch(pattern, text)), text


def test_plan_from_json_errors():
    with pytest.raises(PlanError, match="not JSON"):
        plan_from_json("[{")
    with pytest.raises(PlanError, match="non-empty"):
        plan_from_json("[]")
    with pytest.raises(PlanError, match="task is"):
        plan_from_json('[{"id": 1, "tool": "x"}]')
    g = plan_from_json('[{"id": "a", "tool": "calculator", "args": {"expression": "2*3"}}]')
    assert isinstance(g, TaskGraph) and execute(g, ToolBox([calculator])).results == {"a": 6.0}


def test_model_replanner_keeps_the_id_and_refers_back(monkeypatch):
    """The replanner's grammar: the failed task's id, references only to tasks that ran (a stand-in decoder)."""
    from aieng.agents import planning

    seen = {}

    class Out:
        text = '{"id": "t2", "tool": "send", "args": {"to": "$t1"}}'

    def fake_decode(model, messages, pattern, max_new_tokens=0):
        seen["pattern"], seen["messages"] = pattern, messages
        return Out()

    from aieng.llm import constrain

    monkeypatch.setattr(constrain, "decode_llguidance", fake_decode)
    replan = planning.model_replanner(object(), BOX, context="TABLE sales")
    new = replan(Task("t2", "send", {"to": 5}), Observation("send", False, "", error="bad to"), {"t1": [1]})
    assert [(t.id, t.tool, t.args) for t in new] == [("t2", "send", {"to": "$t1"})]
    assert regex.fullmatch(seen["pattern"], Out.text)
    assert not regex.fullmatch(seen["pattern"], Out.text.replace("t2", "t3", 1))
    assert not regex.fullmatch(seen["pattern"], Out.text.replace("$t1", "$t2"))
    assert "bad to" in seen["messages"][-1]["content"] and "TABLE sales" in seen["messages"][-1]["content"]
