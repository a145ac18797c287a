"""The sales table in SQLite, the queries the tools run, and the workflow's constants.

Taught in Month 9 (chapters/09-agents/04-a-task-end-to-end); part of :mod:`aieng.agents.sales`.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import difflib
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["BY_OPTIONS", "CHART_KINDS", "DIRECTORY", "K_OPTIONS", "SENDER", "SalesDB", "SalesError", "month_bounds"]


DIRECTORY: dict[str, str] = {
    "management": "management@pizzaplace.example",
    "finance": "finance@pizzaplace.example",
    "marketing": "marketing@pizzaplace.example",
}
"""Who may receive a report: the role the model chooses -> the address the mail goes to."""

SENDER = "reports@pizzaplace.example"
CHART_KINDS = ("top_products", "monthly_revenue")
K_OPTIONS = (3, 5, 10)
BY_OPTIONS = ("revenue", "quantity")


class SalesError(ValueError):
    """Bad input to a sales tool (a period outside the data, an unknown product or recipient, ...)."""




def _date(text: str, what: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(text))
    except ValueError:
        raise SalesError(f"{what} must be a date written YYYY-MM-DD, got {text!r}") from None


def month_bounds(first_month: str, last_month: str) -> tuple[str, str]:
    """``("2015-01", "2015-03")`` -> ``("2015-01-01", "2015-03-31")``: the first and last day of the months."""
    try:
        y0, m0 = map(int, first_month.split("-"))
        y1, m1 = map(int, last_month.split("-"))
        start, end = dt.date(y0, m0, 1), dt.date(y1, m1, calendar.monthrange(y1, m1)[1])
    except ValueError:
        raise SalesError(f"months are written YYYY-MM, got {first_month!r} and {last_month!r}") from None
    if end < start:
        raise SalesError(f"the last month {last_month} comes before the first {first_month}")
    return start.isoformat(), end.isoformat()


class SalesDB:
    """The pizza sales table in an in-memory SQLite database, and the queries the tools run.

    Parameters
    ----------
    csv_path
        ``pizzaplace.csv`` (``id,date,time,name,size,type,price``), e.g. ``aieng.data.load_pizzaplace()``.

    The CSV is read with the ``csv`` module and queried with SQL (pandas is kept for the independent check).
    Safe to use from the tool box's worker threads (one connection, one lock). The queries are written once,
    with ``?`` placeholders; a subclass for another database overrides ``_query`` (and ``_MONTH``, the SQL of
    a date's ``YYYY-MM``), as :class:`aieng.agents.sales.team.PgSalesDB` does for PostgreSQL.
    """

    _MONTH = "substr(date, 1, 7)"

    def __init__(self, csv_path: str | Path) -> None:
        self.path = Path(csv_path)
        self._lock = threading.Lock()
        self.con = sqlite3.connect(":memory:", check_same_thread=False)
        self.con.execute("CREATE TABLE sales (id TEXT, date TEXT, time TEXT, name TEXT, "
                         "size TEXT, type TEXT, price REAL)")
        with self.path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            need = {"id", "date", "time", "name", "size", "type", "price"}
            if not need <= set(reader.fieldnames or []):
                raise SalesError(f"{self.path} is not the pizza sales table: it needs the columns {sorted(need)}")
            rows = [(r["id"], r["date"], r["time"], r["name"], r["size"], r["type"], float(r["price"]))
                    for r in reader]
        self.con.executemany("INSERT INTO sales VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        self.con.execute("CREATE INDEX sales_date ON sales(date)")
        first, last = self._query("SELECT MIN(date), MAX(date) FROM sales")[0]
        self.first_day, self.last_day = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
        self.products = sorted(r[0] for r in self._query("SELECT DISTINCT name FROM sales"))

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self.con.execute(sql, tuple(params)).fetchall()

    def close(self) -> None:
        self.con.close()

    def period(self, start: str, end: str) -> tuple[str, str]:
        """Validate a period: ISO dates, in order, inside the data; returns them as ISO strings."""
        s, e = _date(start, "start"), _date(end, "end")
        if e < s:
            raise SalesError(f"the period ends ({e}) before it starts ({s})")
        if s < self.first_day or e > self.last_day:
            raise SalesError(f"the period {s} to {e} is outside the data, which covers {self.first_day} "
                             f"to {self.last_day}")
        return s.isoformat(), e.isoformat()

    def summary(self, start: str, end: str) -> dict[str, Any]:
        """Orders, pizzas sold, revenue and days with sales in the period (an ``id`` is an order)."""
        s, e = self.period(start, end)
        n, orders, revenue, days = self._query(
            "SELECT COUNT(*), COUNT(DISTINCT id), SUM(price), COUNT(DISTINCT date) FROM sales "
            "WHERE date BETWEEN ? AND ?", (s, e))[0]
        return {"start": s, "end": e, "orders": int(orders), "pizzas": int(n),
                "revenue": round(float(revenue or 0.0), 2), "days": int(days)}

    def top_products(self, start: str, end: str, k: int = 5, by: str = "revenue") -> list[dict[str, Any]]:
        """The ``k`` best-selling pizzas (by name, all sizes) by ``"revenue"`` or ``"quantity"``."""
        s, e = self.period(start, end)
        if by not in BY_OPTIONS:
            raise SalesError(f"rank by one of {BY_OPTIONS}, got {by!r}")
        if not 1 <= int(k) <= len(self.products):
            raise SalesError(f"k must be between 1 and {len(self.products)}, got {k}")
        other = "quantity" if by == "revenue" else "revenue"
        rows = self._query("SELECT name, COUNT(*) AS quantity, ROUND(SUM(price), 2) AS revenue FROM sales "
                           f"WHERE date BETWEEN ? AND ? GROUP BY name ORDER BY {by} DESC, {other} DESC, name "
                           "LIMIT ?", (s, e, int(k)))
        return [{"rank": i, "name": n, "quantity": int(q), "revenue": float(r)} for i, (n, q, r) in enumerate(rows, 1)]

    def monthly(self, start: str, end: str) -> list[dict[str, Any]]:
        """Pizzas and revenue per calendar month of the period."""
        s, e = self.period(start, end)
        rows = self._query(f"SELECT {self._MONTH} AS month, COUNT(*), ROUND(SUM(price), 2) FROM sales "
                           "WHERE date BETWEEN ? AND ? GROUP BY month ORDER BY month", (s, e))
        return [{"month": m, "pizzas": int(n), "revenue": float(r)} for m, n, r in rows]

    def product(self, name: str, start: str, end: str) -> dict[str, Any]:
        """One pizza's sales in the period; an unknown name fails with the closest known names."""
        if name not in self.products:
            close = difflib.get_close_matches(name, self.products, n=3, cutoff=0.5)
            raise SalesError(f"unknown product {name!r}" + (f"; did you mean {close}?" if close else
                                                           f"; known products: {self.products[:8]}..."))
        s, e = self.period(start, end)
        n, revenue = self._query("SELECT COUNT(*), SUM(price) FROM sales WHERE name = ? AND date BETWEEN ? AND ?",
                                 (name, s, e))[0]
        return {"name": name, "quantity": int(n), "revenue": round(float(revenue or 0.0), 2)}
