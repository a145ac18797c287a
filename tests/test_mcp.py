"""The sales tools over MCP: a real server process on stdio, the client adapter, the workflow end to end."""

from __future__ import annotations

import psutil
import pytest

from aieng.agents import execute
from aieng.agents.mcp import MCPToolBox, server_command
from aieng.agents.sales import DIRECTORY, Slots, plan_graph, reference_figures, verify_delivery
from aieng.foundations.mail import MailServer


def _children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


@pytest.fixture
def csv(shared):
    return str(shared / "pizzaplace" / "pizzaplace.csv")


def test_workflow_over_mcp_delivers_the_right_report(csv):
    before = _children()
    answers = []
    with MailServer() as mail:
        client = MCPToolBox(server_command(csv, mail.address), approve=lambda m: answers.append(m) or True,
                            record=True)
        with client as box:
            assert sorted(box.tools) == sorted(["sales_summary", "top_products", "monthly_sales", "make_chart",
                                                "write_report", "request_approval", "send_email"])
            assert box.tools["top_products"].parameters["properties"]["by"]["enum"] == ["revenue", "quantity"]
            assert len(_children() - before) >= 1  # the server is a real child process
            bad = box.call("top_products", {"start": "2015-01-01", "end": "2016-01-31", "k": 3, "by": "revenue"})
            assert not bad.ok and "outside the data" in bad.error  # the reason crosses the wire
            run = execute(plan_graph(Slots("2015-01", "2015-03", 3, "quantity", "finance")), box)
            assert run.ok, run.log
        want = reference_figures(csv, "2015-01-01", "2015-03-31", 3, "quantity")
        assert verify_delivery(mail.messages, want, DIRECTORY["finance"]) == []
    assert len(answers) == 1 and answers[0].startswith("Approve emailing")
    methods = [m.get("method") for d, m in client.wire if d == "client->server"]
    assert methods[:3] == ["initialize", "notifications/initialized", "tools/list"]
    assert "elicitation/create" in [m.get("method") for d, m in client.wire if d == "server->client"]
    psutil.wait_procs([psutil.Process(p) for p in _children() - before if psutil.pid_exists(p)], timeout=5)
    assert _children() - before == set(), "the MCP server process was left behind"


def test_a_refused_approval_sends_nothing(csv):
    with MailServer() as mail:
        with MCPToolBox(server_command(csv, mail.address), approve=lambda m: False) as box:
            run = execute(plan_graph(Slots("2015-01", "2015-01", 3, "revenue", "management")), box)
        assert run.stop_reason == "failed" and "not approved" in run.log[-1]
        assert mail.messages == []


def test_bad_input():
    with pytest.raises(ValueError):
        MCPToolBox([])
    with pytest.raises(RuntimeError, match="did not start"):
        with MCPToolBox(["/nonexistent/server"], timeout_s=10):
            pass


def test_a_server_that_dies_at_once_is_reported_whatever_the_thread_order():
    """CI once saw 'Event loop is closed' here: the client thread had closed its loop before close() ran.

    Force that order: the ready event returns only after the client thread has finished.
    """
    box = MCPToolBox(["/nonexistent/server"], timeout_s=10)
    ready_wait = box._ready.wait

    def wait_for_the_thread_to_end(timeout=None):
        box._thread.join(timeout)
        assert not box._thread.is_alive()
        return ready_wait(0)

    box._ready.wait = wait_for_the_thread_to_end
    with pytest.raises(RuntimeError, match="did not start"):
        box.__enter__()
    box.close()  # idempotent
