"""aieng.agents.sales: the sales tools, the fixed plan, the judge, and the whole workflow on a loopback SMTP server.

The model is a scripted test double here (the notebook and ``python -m aieng.bench sales`` run the real one).
The figures are checked against pandas written out in this file, a third code path.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pandas as pd
import pytest
import regex
from _doubles import ScriptedChatModel

from aieng.agents import call_regex, execute
from aieng.agents.sales import (
    DIRECTORY,
    SalesDB,
    SalesError,
    Slots,
    fill_slots,
    make_requests,
    parse_plan,
    plan_graph,
    plan_pattern,
    read_report,
    reference_figures,
    run_workflow,
    sales_tools,
    slot_schema,
    verify_delivery,
)
from aieng.foundations.mail import MailServer

CSV = """id,date,time,name,size,type,price
1,2015-01-01,11:00:00,hawaiian,M,classic,13.25
1,2015-01-01,11:00:00,bbq_ckn,L,chicken,20.75
2,2015-01-15,12:00:00,hawaiian,S,classic,10.5
3,2015-02-03,13:00:00,bbq_ckn,L,chicken,20.75
3,2015-02-03,13:00:00,bbq_ckn,M,chicken,16.75
4,2015-03-30,18:00:00,veggie_veg,M,veggie,16
5,2015-03-31,19:00:00,hawaiian,L,classic,16.5
6,2015-04-01,12:00:00,bbq_ckn,L,chicken,20.75
"""


@pytest.fixture(scope="module")
def csv_path(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("sales") / "pizzaplace.csv"
    p.write_text(CSV)
    return p


@pytest.fixture(scope="module")
def db(csv_path):
    d = SalesDB(csv_path)
    yield d
    d.close()


def yes(to, subject, page):
    return True


def test_queries_equal_pandas_written_here(db, csv_path):
    df = pd.read_csv(csv_path)
    q1 = df[(df.date >= "2015-01-01") & (df.date <= "2015-03-31")]
    s = db.summary("2015-01-01", "2015-03-31")
    assert (s["orders"], s["pizzas"], s["days"]) == (q1.id.nunique(), len(q1), q1.date.nunique()) == (5, 7, 5)
    assert s["revenue"] == pytest.approx(q1.price.sum())
    top = db.top_products("2015-01-01", "2015-03-31", k=2, by="revenue")
    assert [(r["name"], r["quantity"], r["revenue"]) for r in top] == [("bbq_ckn", 3, 58.25), ("hawaiian", 3, 40.25)]
    by_q = db.top_products("2015-01-01", "2015-03-31", k=3, by="quantity")
    assert [r["name"] for r in by_q] == ["bbq_ckn", "hawaiian", "veggie_veg"]  # a tie on 3 broken by revenue
    assert [m["month"] for m in db.monthly("2015-01-01", "2015-03-31")] == ["2015-01", "2015-02", "2015-03"]


@pytest.mark.parametrize("start,end,match", [
    ("2014-12-01", "2015-01-31", "outside the data, which covers 2015-01-01 to 2015-04-01"),
    ("2015-03-01", "2015-02-01", "ends .* before it starts"),
    ("last month", "2015-02-01", "YYYY-MM-DD"),
])
def test_a_bad_period_says_what_the_data_covers(db, start, end, match):
    with pytest.raises(SalesError, match=match):
        db.summary(start, end)


def test_bad_product_k_and_ranking_are_clear_errors(db):
    with pytest.raises(SalesError, match=r"unknown product 'hawaian'; did you mean \['hawaiian'\]"):
        db.product("hawaian", "2015-01-01", "2015-03-31")
    with pytest.raises(SalesError, match="k must be between 1 and 3"):
        db.top_products("2015-01-01", "2015-03-31", k=50)
    with pytest.raises(SalesError, match="rank by one of"):
        db.top_products("2015-01-01", "2015-03-31", by="profit")
    assert db.product("hawaiian", "2015-01-01", "2015-03-31") == {"name": "hawaiian", "quantity": 3, "revenue": 40.25}


def test_the_plan_sends_a_report_that_matches_pandas(db, csv_path):
    slots = Slots("2015-01", "2015-03", 2, "revenue", "management")
    with MailServer() as server:
        tools = sales_tools(db, server.address, yes)
        run = execute(plan_graph(slots), tools)
        assert run.ok, run.log
        expected = reference_figures(csv_path, "2015-01-01", "2015-03-31", 2, "revenue")
        assert verify_delivery(server.messages, expected, DIRECTORY["management"]) == []
        page = tools.workspace.reports["report.html"]
    tables = read_report(page)
    assert [r["name"] for r in tables["top-products"]] == ["bbq_ckn", "hawaiian"]
    assert page.count("data:image/png;base64,") == 2


def test_the_judge_catches_a_wrong_report(db, csv_path):
    with MailServer() as server:
        execute(plan_graph(Slots("2015-01", "2015-03", 2, "quantity", "management")), sales_tools(db, server.address, yes))
        wanted = reference_figures(csv_path, "2015-01-01", "2015-03-31", 2, "revenue")
        # ranked by quantity, the order differs from the revenue ranking that was asked for
        wanted["top"] = wanted["top"][::-1]
        problems = verify_delivery(server.messages, wanted, DIRECTORY["management"])
        assert problems and "top products" in problems[0]
        wrong_month = reference_figures(csv_path, "2015-01-01", "2015-02-28", 2, "quantity")
        assert any("summary pizzas" in p for p in verify_delivery(server.messages, wrong_month, DIRECTORY["management"]))
        assert "expected 1 message" in verify_delivery(server.messages, wanted, DIRECTORY["finance"])[0]


def test_no_email_without_approval(db):
    with MailServer() as server:
        run = execute(plan_graph(Slots("2015-01", "2015-03", 2, "revenue", "management")),
                      sales_tools(db, server.address, lambda to, subject, page: False))
        assert run.stop_reason == "failed" and "was not approved" in run.log[-1]
        assert server.messages == []
        tools = sales_tools(db, server.address, yes)  # a plan that skips the approval step cannot send
        tools.workspace.reports["report.html"] = "<html></html>"
        obs = tools.call("send_email", {"to": "management", "subject": "x", "report": "report.html", "approval": "forged"})
        assert not obs.ok and "request_approval first" in obs.error and server.messages == []


def test_a_refusing_smtp_server_fails_the_run_with_its_reason(db):
    with MailServer(accept={"elsewhere.org"}) as server:
        run = execute(plan_graph(Slots("2015-01", "2015-03", 2, "revenue", "management")),
                      sales_tools(db, server.address, yes))
    assert run.stop_reason == "failed" and "refused the recipient" in run.log[-1] and "550" in run.log[-1]


def test_unknown_recipient_and_period_outside_the_data_fail_clearly(db):
    with MailServer() as server:
        tools = sales_tools(db, server.address, yes)
        run = execute(plan_graph(Slots("2015-01", "2015-03", 2, "revenue", "the_ceo")), tools)
        assert not run.ok and "unknown recipient 'the_ceo'" in run.log[-1]
        run = execute(plan_graph(Slots("2015-05", "2015-06", 2, "revenue", "management")), tools)
        assert not run.ok and "outside the data" in run.log[0]


def test_the_slot_grammar_accepts_only_plans_the_workflow_can_run():
    schema = slot_schema(["2015-01", "2015-02", "2015-03"])
    rx = regex.compile(call_regex([schema], max_calls=1, allow_empty=False))
    good = '[plan_report(first_month="2015-01", last_month="2015-03", k=5, by="revenue", to="management")]'
    assert rx.fullmatch(good)
    for bad in ["[]", good.replace("k=5", "k=7"), good.replace('"revenue"', '"profit"'),
                good.replace('"management"', '"ceo"'), good.replace("2015-03", "2015-13")]:
        assert not rx.fullmatch(bad), bad


def test_run_workflow_with_a_scripted_model(db, csv_path):
    good = "Plan: sales from January to March 2015, the top 3 products by revenue, email management the report."
    model = ScriptedChatModel([good, "I would send an email", "Plan: sales from January to March 2015, the top 7"])
    before = {t.ident for t in threading.enumerate()}
    with MailServer() as server:
        run = run_workflow(model, "Top 3 by revenue, Jan-Mar 2015, to management", db, server.address, yes,
                           decoding="free")
        assert run.ok and run.slots == Slots("2015-01", "2015-03", 3, "revenue", "management")
        expected = reference_figures(csv_path, "2015-01-01", "2015-03-31", 3, "revenue")
        assert verify_delivery(server.messages, expected, DIRECTORY["management"]) == []
        prose = run_workflow(model, "again", db, server.address, yes, decoding="free")
        partial = run_workflow(model, "again", db, server.address, yes, decoding="free")
        assert not prose.ok and prose.slots is None and "no plan sentence" in prose.error
        assert not partial.ok and partial.slots is None
        assert len(server.messages) == 1
    assert {t.ident for t in threading.enumerate()} <= before


def test_an_endpoint_cannot_be_constrained_and_says_so(db):
    run = run_workflow(ScriptedChatModel(["x"]), "req", db, "127.0.0.1:1", yes)  # decoding="constrained"
    assert not run.ok and "needs a local model" in run.error


def test_fill_slots_reads_a_sentence_or_one_call():
    sentence = "Plan: sales from February to March 2015, the top 10 products by number sold, email finance the report."
    slots, info = fill_slots(ScriptedChatModel([sentence]), "req", decoding="free")
    assert slots == Slots("2015-02", "2015-03", 10, "quantity", "finance") and info["error"] is None
    call = '[plan_report(first_month="2015-01", last_month="2015-01", k=3, by="quantity", to="finance")]'
    slots, info = fill_slots(ScriptedChatModel([call]), "req", style="call", decoding="free")
    assert slots == Slots("2015-01", "2015-01", 3, "quantity", "finance") and info["error"] is None
    with pytest.raises(ValueError, match="style"):
        fill_slots(ScriptedChatModel([]), "req", style="poem")


def test_parse_plan_and_its_grammar_agree():
    text = "Plan: sales from January to March 2015, the top 5 products by sales revenue, email marketing the report."
    assert regex.fullmatch(plan_pattern(), text)
    assert parse_plan(text) == Slots("2015-01", "2015-03", 5, "revenue", "marketing")
    assert parse_plan("Sure. plan:  sales from JANUARY to march 2015, the top 3 products by quantity, email "
                      "Finance the report. Done.").to == "finance"
    for bad in [text.replace("top 5", "top 7"), text.replace("marketing", "the ceo"), text.replace("2015", "2016")]:
        assert not regex.fullmatch(plan_pattern(), bad)
        with pytest.raises(SalesError, match="no plan sentence"):
            parse_plan(bad)


def test_requests_are_seeded_and_ask_for_january_to_march():
    a, b = make_requests(6, seed=3), make_requests(6, seed=3)
    assert a == b and a != make_requests(6, seed=4)
    assert all(r.truth.first_month == "2015-01" and r.truth.last_month == "2015-03" for r in a)
    assert all(str(r.truth.k) in r.text for r in a)
