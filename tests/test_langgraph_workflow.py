"""The sales workflow in LangGraph: interrupt for approval, checkpoints, retries, and the same figures."""

from __future__ import annotations

import pytest

from aieng.agents.graph import ToolFailed, approved_by_graph, run_graph, sales_graph
from aieng.agents.sales import (
    DIRECTORY,
    SalesDB,
    Slots,
    reference_figures,
    sales_tools,
    verify_delivery,
)
from aieng.agents.tools import Tool
from aieng.foundations.mail import MailServer

TRUTH = Slots("2015-01", "2015-03", 5, "revenue", "management")


def scripted_fill(model, request):  # a scripted stand-in for the model's slot filling
    return (TRUTH if "report" in request else None), {"error": None if "report" in request else "no plan",
                                                      "tokens": 0}


@pytest.fixture
def csv(shared):
    return str(shared / "pizzaplace" / "pizzaplace.csv")


@pytest.fixture
def db(csv):
    return SalesDB(csv)


def test_graph_interrupts_then_delivers(csv, db):
    with MailServer() as mail:
        graph = sales_graph(None, sales_tools(db, mail.address, approved_by_graph), fill=scripted_fill)
        config = {"configurable": {"thread_id": "t"}}
        graph.invoke({"request": "a report please", "error": None}, config)
        snap = graph.get_state(config)
        assert snap.next == ("approve",) and mail.messages == []  # stopped before the email, checkpointed
        assert snap.tasks[0].interrupts[0].value["to"] == "management"
        from langgraph.types import Command
        graph.invoke(Command(resume=True), config)
        assert graph.get_state(config).values["sent"].startswith("sent to")
        want = reference_figures(csv, "2015-01-01", "2015-03-31", 5, "revenue")
        assert verify_delivery(mail.messages, want, DIRECTORY["management"]) == []


def test_no_plan_and_no_approval_end_without_email(db):
    with MailServer() as mail:
        tools = sales_tools(db, mail.address, approved_by_graph)
        state = run_graph(sales_graph(None, tools, fill=scripted_fill), "hello", lambda q: True)
        assert state["slots"] is None and state["error"] == "no plan"
        state = run_graph(sales_graph(None, tools, fill=scripted_fill), "a report", lambda q: False, "t2")
        assert state["approved"] is False and "sent" not in state
        assert mail.messages == []


def test_retry_policy_retries_a_failing_tool(db):
    calls = []

    def sales_summary(start: str, end: str) -> dict:
        """Fails the first time."""
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("flaky")
        return db.summary(start, end)

    with MailServer() as mail:
        tools = sales_tools(db, mail.address, approved_by_graph)
        tools.add(Tool.from_function(sales_summary))
        state = run_graph(sales_graph(None, tools, fill=scripted_fill, max_attempts=2), "a report", lambda q: True)
        assert len(calls) == 2 and state["error"] is None and len(mail.messages) == 1
        calls.clear()
        state = run_graph(sales_graph(None, tools, fill=scripted_fill, max_attempts=1), "a report",
                          lambda q: True, "t3")
        assert len(calls) == 1 and state["error"].startswith("tool failed after retries")
    assert issubclass(ToolFailed, RuntimeError)
