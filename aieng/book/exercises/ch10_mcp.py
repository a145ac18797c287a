"""Exercises of Month 10, notebook 3: tools over MCP and the workflow in LangGraph
(chapters/10-multi-agent/03-mcp-and-frameworks).
"""

from __future__ import annotations

import random
from typing import Any

from aieng.book.cases import Case, exercise, near, same_choice

_LISTING = {"jsonrpc": "2.0", "id": 2, "result": {"tools": [
    {"name": "sales_summary", "description": "Totals.",
     "inputSchema": {"type": "object", "required": ["start", "end"],
                     "properties": {"start": {"type": "string"}, "end": {"type": "string"}}}},
    {"name": "top_products", "description": "Best sellers.",
     "inputSchema": {"type": "object", "required": ["start", "end", "k"],
                     "properties": {"start": {"type": "string"}, "end": {"type": "string"},
                                    "k": {"type": "integer"}, "by": {"type": "string"}}}},
    {"name": "ping", "description": "Alive?", "inputSchema": {"type": "object", "properties": {}}},
]}}


@exercise("10.mcp_required", hint="A tools/list response keeps its tools under result -> tools; each tool's "
          "parameters are a JSON schema under inputSchema, whose 'required' key may be absent.")
def _required():
    return [Case((_LISTING, "top_products"), expected=["start", "end", "k"]),
            Case((_LISTING, "sales_summary"), expected=["start", "end"]),
            Case((_LISTING, "ping"), expected=[]),
            Case((_LISTING, "send_email"), raises=KeyError)]


def _route_case(state: dict[str, Any], want: str) -> Case:
    def test(fn: Any) -> str | None:
        got = fn(dict(state))
        return None if got == want else f"route({state}) returned {got!r}, expected {want!r}"
    return Case(test=test)


@exercise("10.mcp_route", hint="A conditional edge is a plain function of the state that names the next "
          "node. Decide on 'approved' first; only a 'no' looks at how many revisions were made.")
def _route():
    return [_route_case({"approved": True, "revisions": 0}, "send"),
            _route_case({"approved": True, "revisions": 5}, "send"),
            _route_case({"approved": False, "revisions": 0}, "revise"),
            _route_case({"approved": False, "revisions": 1}, "revise"),
            _route_case({"approved": False, "revisions": 2}, "__end__")]


class ToolFailed(RuntimeError):
    """The failure the retry wrapper retries (the same role as ``aieng.agents.graph.ToolFailed``)."""


def _flaky(p_fail: float, seed: int) -> tuple[Any, list[int]]:
    rng = random.Random(seed)
    calls = [0]

    def tool() -> str:
        calls[0] += 1
        if rng.random() < p_fail:
            raise ToolFailed("the service did not answer")
        return "ok"
    return tool, calls


def _retry_test(fn: Any) -> str | None:
    tool, calls = _flaky(1.0, 0)
    try:
        fn(tool, 3)()
        return "with a tool that always fails, the wrapper must re-raise the last ToolFailed"
    except ToolFailed:
        pass
    if calls[0] != 3:
        return f"max_attempts=3 against a tool that always fails made {calls[0]} calls, expected 3"
    ok = 0
    total_calls = 0
    for seed in range(300):  # measured: success rate with 4 attempts at p_fail = 0.4
        tool, calls = _flaky(0.4, seed)
        try:
            ok += fn(tool, 4)() == "ok"
        except ToolFailed:
            pass
        total_calls += calls[0]
    rate = ok / 300
    if rate < 0.95:
        return f"success rate with 4 attempts was {rate:.3f}; expected about 1 - 0.4**4 = 0.974"
    if total_calls > 300 * 2.0:
        return f"{total_calls} calls for 300 runs: the wrapper keeps calling after a success"
    return None


@exercise("10.mcp_retry", hint="Loop at most max_attempts times; return on the first success; remember the "
          "last ToolFailed and raise it when the attempts run out. Let any other exception through at once.")
def _retry():
    return [Case(test=_retry_test)]


@exercise("10.mcp_think_where", hint="Follow the SMTP address: who is given it on the command line, and which "
          "process runs send_email's code?", compare=same_choice)
def _think_where():
    return [Case(args=None, expected="b")]


@exercise("10.mcp_think_messages", hint="Count requests and their responses, and the one notification that has "
          "no response; look at the wire printed in the notebook.",
          compare=near(abs_tol=0))
def _think_messages():
    return [Case(args=None, expected=7)]
