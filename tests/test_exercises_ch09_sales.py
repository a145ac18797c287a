"""Each exercise of notebook 09/04 accepts a reference answer and rejects a wrong one."""

from __future__ import annotations

import re

import pytest

from aieng.agents.sales import DIRECTORY, Slots, read_report
from aieng.book import check


def revenue_by_type(con, start, end):
    return con.execute("SELECT type, ROUND(SUM(price), 2) AS r FROM sales WHERE date BETWEEN ? AND ? "
                       "GROUP BY type ORDER BY r DESC", (start, end)).fetchall()


def revenue_by_type_wrong(con, start, end):  # end date excluded
    return con.execute("SELECT type, ROUND(SUM(price), 2) AS r FROM sales WHERE date >= ? AND date < ? "
                       "GROUP BY type ORDER BY r DESC", (start, end)).fetchall()


def approve(to, subject, page):
    return to.endswith("@pizzaplace.example") and len(read_report(page).get("top-products", [])) > 0


def approve_wrong(to, subject, page):  # forgets the empty table
    return to.endswith("@pizzaplace.example")


def fill(text):
    k = int(re.search(r"top (\d+)", text).group(1))
    by = "quantity" if re.search(r"by (quantity|number sold)", text) else "revenue"
    to = next(role for role in DIRECTORY if re.search(rf"\b{role}\b", text))
    return Slots("2015-01", "2015-03", k, by, to)


def fill_wrong(text):  # always management
    return Slots("2015-01", "2015-03", int(re.search(r"top (\d+)", text).group(1)),
                 "quantity" if "quantity" in text or "number sold" in text else "revenue", "management")


@pytest.mark.parametrize("name,good,bad", [
    ("09.revenue_by_type", revenue_by_type, revenue_by_type_wrong),
    ("09.approve", approve, approve_wrong),
    ("09.fill_rules", fill, fill_wrong),
    ("09.which_check", "c", "a"),
])
def test_reference_passes_and_wrong_answer_fails(name, good, bad):
    assert check(name, good, strict=True, quiet=True)
    assert check(name, bad, strict=False, quiet=True).status == "fail"
