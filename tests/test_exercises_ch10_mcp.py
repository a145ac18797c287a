"""Each exercise of notebook 10/03 accepts a reference answer and rejects a wrong one."""

from __future__ import annotations

from aieng.book.exercises.ch10_mcp import ToolFailed

from tests._exercise_contract import contract


def required(listing, name):
    for tool in listing["result"]["tools"]:
        if tool["name"] == name:
            return list(tool["inputSchema"].get("required", []))
    raise KeyError(name)


def required_wrong(listing, name):  # all properties, not the required ones
    for tool in listing["result"]["tools"]:
        if tool["name"] == name:
            return list(tool["inputSchema"]["properties"])
    raise KeyError(name)


def route(state):
    if state["approved"]:
        return "send"
    return "revise" if state["revisions"] < 2 else "__end__"


def route_wrong(state):  # never gives up
    return "send" if state["approved"] else "revise"


def with_retries(fn, max_attempts):
    def call(*args, **kwargs):
        last = None
        for _ in range(max_attempts):
            try:
                return fn(*args, **kwargs)
            except ToolFailed as exc:
                last = exc
        raise last
    return call


def with_retries_wrong(fn, max_attempts):  # one attempt too few
    return with_retries(fn, max_attempts - 1)


CASES = {
    "10.mcp_required": (required, required_wrong),
    "10.mcp_route": (route, route_wrong),
    "10.mcp_retry": (with_retries, with_retries_wrong),
    "10.mcp_think_where": ("b", "a"),
    "10.mcp_think_messages": (7, 5),
}

test_reference_answer_passes, test_wrong_answer_fails, test_stub_reads_as_not_attempted = contract(CASES)
