"""aieng.agents.sales.team: the sales table in PostgreSQL, the team of specialists, and its reliability.

The model is a scripted test double here (named as one; the notebook and ``python -m aieng.bench team`` run the
real one). Each run mails through a real aiosmtpd server on loopback and is judged by reading the delivered
message back (attachments, and numbers against pandas).
"""

from __future__ import annotations

import re

import pytest
from _doubles import ScriptedChatModel

from aieng.agents.reliability import RetryPolicy
from aieng.agents.sales import DIRECTORY, SalesDB, SalesError, make_requests, reference_figures, verify_delivery
from aieng.agents.sales.team import (
    PgSalesDB,
    evaluate_team,
    run_team,
    sales_team,
    summarize,
    tool_trajectory_problems,
)
from aieng.foundations.mail import MailServer

Q1 = ("2015-01-01", "2015-03-31")
REQUEST = ("Analyse the last three months of sales (January to March 2015), find the top 5 products by "
           "quantity, write a report with charts and email it to finance.")


def answer(messages) -> str:
    """The scripted double's replies: route to the first specialist offered; read each decision from the text."""
    system, user = messages[0]["content"], messages[-1]["content"]
    if "coordinate a team" in system:
        return re.search(r"Team:\n- (\w+):", user).group(1)
    if "Which months" in system:
        return "Period: from January to March 2015."
    if "How many products" in system:
        k = re.search(r"top (\d+)", user).group(1)
        by = "quantity" if re.search(r"quantity|number sold", user) else "revenue"
        return f"Ranking: the top {k} products by {by}."
    if "Who should receive" in system:
        role = next(r for r in DIRECTORY if r in user)
        return f"Recipient: email {role} the report."
    raise AssertionError(f"unexpected prompt {system!r}")


def double(script=answer, n=200):
    return ScriptedChatModel([script] * n, name="scripted test double")


@pytest.fixture(scope="module")
def csv_path():
    import os
    from pathlib import Path

    path = Path(os.environ.get("AIENG_DATA", "")) / "pizzaplace" / "pizzaplace.csv"
    if not path.is_file():
        pytest.fail("AIENG_DATA must point at the shared data (pizzaplace/pizzaplace.csv); `make test` sets it")
    return path


@pytest.fixture(scope="module")
def db(csv_path):
    from aieng.foundations.database import postgres

    with postgres() as pg:
        d = PgSalesDB(pg, csv_path, *Q1)
        yield d
        d.close()


def test_postgres_equals_sqlite_and_pandas(db, csv_path):
    lite = SalesDB(csv_path)
    for k, by in [(5, "revenue"), (10, "quantity")]:
        assert db.top_products(*Q1, k, by) == lite.top_products(*Q1, k, by)
        ref = reference_figures(csv_path, *Q1, k, by)
        assert [r["name"] for r in db.top_products(*Q1, k, by)] == [r["name"] for r in ref["top"]]
    assert db.summary(*Q1) == lite.summary(*Q1)
    assert db.monthly(*Q1) == lite.monthly(*Q1)
    ref = reference_figures(csv_path, *Q1, 3, "revenue")
    assert db.summary(*Q1)["pizzas"] == ref["pizzas"] and abs(db.summary(*Q1)["revenue"] - ref["revenue"]) < 0.005
    assert str(db.first_day) == Q1[0] and str(db.last_day) == Q1[1]
    lite.close()


@pytest.mark.parametrize("call, match", [
    (lambda d: d.summary("2015-04-01", "2015-04-30"), "outside the data"),
    (lambda d: d.summary("2015-03-01", "2015-02-01"), "before it starts"),
    (lambda d: d.summary("March", "2015-02-01"), "YYYY-MM-DD"),
    (lambda d: d.top_products(*Q1, 5, "profit"), "rank by"),
    (lambda d: d.top_products(*Q1, 0, "revenue"), "k must be"),
])
def test_postgres_bad_input_says_what_is_allowed(db, call, match):
    with pytest.raises(SalesError, match=match):
        call(db)


def test_team_delivers_the_right_report(db, csv_path):
    with MailServer() as server:
        run, team = run_team(double(), REQUEST, db, server.address, lambda *a: True)
        messages = list(server.messages)
    assert run.stop_reason == "done" and run.trajectory == ["research", "analysis", "coding", "communications"]
    assert verify_delivery(messages, reference_figures(csv_path, *Q1, 5, "quantity"), DIRECTORY["finance"]) == []
    assert tool_trajectory_problems(team.calls) == [] and run.tokens > 0
    assert {a for _, a in run.state.history} >= {"research", "analysis", "coding", "communications"}


def test_refused_approval_sends_nothing_and_says_why(db):
    with MailServer() as server:
        run, _ = run_team(double(), REQUEST, db, server.address, lambda *a: False, max_handoffs=6)
        assert server.messages == []
    assert run.stop_reason == "max_handoffs"
    assert any("not approved" in str(m.content) for m in run.errors)


def test_transient_smtp_failure_is_retried_and_sends_once(db):
    failures = []

    def flaky(fn):
        def send(**kwargs):
            if not failures:
                failures.append(1)
                raise ConnectionRefusedError("the SMTP server is restarting")
            return fn(**kwargs)
        return send

    with MailServer() as server:
        run, team = run_team(double(), REQUEST, db, server.address, lambda *a: True, send=flaky,
                             retry_policy=RetryPolicy(attempts=3, base_s=0.01))
        assert run.stop_reason == "done" and len(server.messages) == 1 and failures == [1]
        again = team.tools.call("send_email", {"to": "finance", "subject": run.state.get("coding")["subject"],
                                               "report": "report.html",
                                               "approval": run.state.get("communications")["approval"]})
        assert again.ok and len(server.messages) == 1  # idempotent: sending twice sends once


def test_budgets_end_the_run_with_a_stated_reason(db):
    with MailServer() as server:
        run, _ = run_team(double(), REQUEST, db, server.address, lambda *a: True, token_budget=1)
        assert run.stop_reason == "token_budget" and server.messages == []
        run, _ = run_team(double(), REQUEST, db, server.address, lambda *a: True, time_budget_s=0.0)
        assert run.stop_reason == "time_budget"


def test_a_coordinator_that_routes_badly_is_stopped(db):
    def always_communications(messages):
        if "coordinate a team" in messages[0]["content"]:
            return "communications"
        return answer(messages)

    with MailServer() as server:
        run, team = run_team(double(always_communications), REQUEST, db, server.address, lambda *a: True,
                             max_handoffs=3)
        assert server.messages == []
    assert run.stop_reason == "max_handoffs" and run.trajectory == ["communications"] * 3
    assert all("coding has not written it" in str(m.content) for m in run.errors if m.sender == "communications")


def test_fixed_routing_and_bad_routing_name(db):
    with MailServer() as server:
        run, _ = run_team(double(), REQUEST, db, server.address, lambda *a: True, routing="fixed")
        assert run.ok and len(server.messages) == 1
    with pytest.raises(ValueError, match="routing"):
        sales_team(double(), db, "127.0.0.1:1", lambda *a: True, routing="llm")


def test_evaluate_and_summarize(db, csv_path):
    requests = make_requests(3, seed=0, recipients=("management", "finance", "marketing"))
    rows = evaluate_team(double(), requests, db, csv_path)
    s = summarize(rows)
    assert s["success_rate"] == 1.0 and s["failures"] == {} and s["valid_trajectories"] == 3

    def wrong_recipient(messages):
        reply = answer(messages)
        return "Recipient: email marketing the report." if reply.startswith("Recipient") else reply

    rows = evaluate_team(double(wrong_recipient), requests, db, csv_path)
    wrong = [r for r in rows if r["truth"]["to"] != "marketing"]
    assert wrong and all(r["failure"] == "wrong to" for r in wrong)
    with pytest.raises(ValueError):
        summarize([])
