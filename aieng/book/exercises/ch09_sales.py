"""Exercises of Month 9, notebook 4: the sales-report task end to end (chapters/09-agents/04-a-task-end-to-end).

Kept beside ``ch09.py`` (same chapter, same ``09.`` names) so the notebook's exercises live in one place.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from aieng.book.cases import Case, exercise

_ROWS = [  # id, date, name, type, price
    ("1", "2015-01-01", "hawaiian", "classic", 13.25), ("1", "2015-01-01", "bbq_ckn", "chicken", 20.75),
    ("2", "2015-01-20", "thai_ckn", "chicken", 16.75), ("3", "2015-02-11", "veggie_veg", "veggie", 16.0),
    ("3", "2015-02-11", "hawaiian", "classic", 10.5), ("4", "2015-03-05", "five_cheese", "veggie", 18.5),
    ("5", "2015-03-31", "bbq_ckn", "chicken", 12.75), ("6", "2015-04-01", "hawaiian", "classic", 16.5),
]


def _db() -> sqlite3.Connection:
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE sales (id TEXT, date TEXT, name TEXT, type TEXT, price REAL)")
    con.executemany("INSERT INTO sales VALUES (?, ?, ?, ?, ?)", _ROWS)
    return con


def _by_type(start: str, end: str) -> list[tuple[str, float]]:
    totals: dict[str, float] = {}
    for _, d, _, t, p in _ROWS:
        if start <= d <= end:
            totals[t] = totals.get(t, 0.0) + p
    return sorted(((t, round(v, 2)) for t, v in totals.items()), key=lambda x: -x[1])


def _type_case(start: str, end: str) -> Case:
    def test(fn: Any) -> str | None:
        got = [(str(t), round(float(v), 2)) for t, v in fn(_db(), start, end)]
        want = _by_type(start, end)
        return None if got == want else f"revenue_by_type(con, {start!r}, {end!r}) gave {got}, expected {want}"
    return Case(test=test)


@exercise("09.revenue_by_type", hint="Read how the sales tools' top_products query is built: the same three ideas (a date "
          "range, a grouping, an ordering) answer this one; the dates travel as parameters, never inside the SQL.")
def _revenue_by_type():
    return [_type_case("2015-01-01", "2015-03-31"), _type_case("2015-02-01", "2015-02-28"),
            _type_case("2015-04-01", "2015-04-30")]


def _page(rows: int) -> str:
    body = "".join(f'<tr><td data-col="name" data-value="p{i}">p{i}</td></tr>' for i in range(rows))
    return f'<html><table id="top-products"><tr><th>name</th></tr>{body}</table></html>'


def _approve_case(to: str, page: str, want: bool, why: str) -> Case:
    def test(fn: Any) -> str | None:
        got = fn(to, "Sales report", page)
        return None if bool(got) is want and isinstance(got, bool) else \
            f"approve({to!r}, ...) for {why} returned {got!r}, expected {want}"
    return Case(test=test)


@exercise("09.approve", hint="Return a bool. Check the address's domain with str.endswith, and count the rows "
          "of the top-products table with aieng.agents.sales.read_report (a page without that table has none).")
def _approve():
    ok = "management@pizzaplace.example"
    return [
        _approve_case(ok, _page(5), True, "a report to management with 5 products"),
        _approve_case("boss@gmail.com", _page(5), False, "an address outside pizzaplace.example"),
        _approve_case(ok, _page(0), False, "a report whose top-products table is empty"),
        _approve_case(ok, "<html>no table</html>", False, "a page with no top-products table"),
        _approve_case("finance@pizzaplace.example", _page(3), True, "a report to finance with 3 products"),
    ]


def _slot_accuracy(fill: Any, n: int = 60, seed: int = 1000) -> tuple[float, list[str]]:
    from aieng.agents.sales import make_requests

    reqs = make_requests(n, seed=seed, recipients=("management", "finance", "marketing"))
    wrong = []
    for r in reqs:
        try:
            got = fill(r.text)
        except NotImplementedError:
            raise  # the stub: the checker says "not attempted yet"
        except Exception as exc:  # noqa: BLE001 - a crash counts as wrong
            got = f"{type(exc).__name__}: {exc}"
        if got != r.truth:
            wrong.append(f"{r.text!r} -> {got!r}")
    return 1 - len(wrong) / n, wrong


def _fill_test(fill: Any) -> str | None:
    acc, wrong = _slot_accuracy(fill)
    if acc >= 0.95:
        return None
    return f"{100 * acc:.0f}% of 60 held-out requests filled right (need 95%); e.g. {wrong[0]}"


@exercise("09.fill_rules", hint="Each blank has a cue in the text: a number after 'top', a ranking word after 'by' "
          "('number sold' means quantity), a role from DIRECTORY somewhere in the text, month names for the period "
          "(Q1 means January to March). re.search with a group per cue is enough; return a Slots.")
def _fill_rules():
    return [Case(test=_fill_test)]


@exercise("09.which_check", hint="Which of the three checks compares the report's content with what was asked?")
def _which_check():
    return [Case(args=None, expected="c")]
