"""The report: charts as PNGs, one self-contained HTML page, and a reader for its tables.

Taught in Month 9 (chapters/09-agents/04-a-task-end-to-end); part of :mod:`aieng.agents.sales`.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from html.parser import HTMLParser
from typing import Any

from aieng.agents.sales.db import CHART_KINDS, SalesError

__all__ = ["chart_png", "read_report", "report_html"]


def chart_png(kind: str, data: Sequence[Mapping[str, Any]], title: str = "") -> bytes:
    """A PNG of ``top_products`` (horizontal bars) or ``monthly_revenue`` (bars per month), drawn with
    matplotlib's object API (no pyplot state, so tools may draw from worker threads)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if kind not in CHART_KINDS:
        raise SalesError(f"chart kind must be one of {CHART_KINDS}, got {kind!r}")
    if not data:
        raise SalesError("nothing to chart: the data is empty")
    fig = Figure(figsize=(6, 3.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if kind == "top_products":
        names = [str(d["name"]) for d in data][::-1]
        ax.barh(names, [float(d["revenue"]) for d in data][::-1], color="#4C72B0")
        ax.set_xlabel("revenue ($)")
    else:
        ax.bar([str(d["month"]) for d in data], [float(d["revenue"]) for d in data], color="#55A868")
        ax.set_ylabel("revenue ($)")
    ax.set_title(title or kind.replace("_", " "))
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _table(table_id: str, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f'<td data-col="{c}" data-value="{html.escape(str(r[c]))}">'
                                    f"{html.escape(_fmt(r[c]))}</td>" for c in columns) + "</tr>" for r in rows)
    return f'<table id="{table_id}"><tr>{head}</tr>{body}</table>'


def _fmt(v: Any) -> str:
    return f"{v:,.2f}" if isinstance(v, float) else f"{v:,}" if isinstance(v, int) else str(v)


def report_html(title: str, summary: Mapping[str, Any], top: Sequence[Mapping[str, Any]],
                monthly: Sequence[Mapping[str, Any]], charts: Mapping[str, bytes]) -> str:
    """The report as one self-contained HTML page: the figures as tables (each cell carries its exact value
    in ``data-value``, so a program can read them back) and the charts as embedded PNGs."""
    imgs = "".join(f'<figure><img alt="{html.escape(n)}" src="data:image/png;base64,'
                   f'{base64.b64encode(png).decode()}"><figcaption>{html.escape(n)}</figcaption></figure>'
                   for n, png in charts.items())
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head><body>"
            f"<h1>{html.escape(title)}</h1>"
            f"<p>From {summary['start']} to {summary['end']}: {summary['orders']:,} orders, "
            f"{summary['pizzas']:,} pizzas sold, "
            f"revenue ${summary['revenue']:,.2f}, over {summary['days']} trading days.</p>"
            + _table("summary", [summary], ["start", "end", "orders", "pizzas", "revenue", "days"])
            + "<h2>Top products</h2>" + _table("top-products", top, ["rank", "name", "quantity", "revenue"])
            + "<h2>By month</h2>" + _table("monthly", monthly, ["month", "pizzas", "revenue"])
            + imgs + "</body></html>")


class _Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[dict[str, str]]] = {}
        self._table: str | None = None
        self._row: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table":
            self._table = a.get("id") or f"table{len(self.tables)}"
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self._row = {}
        elif tag == "td" and self._row is not None and a.get("data-col") is not None:
            self._row[str(a["data-col"])] = str(a.get("data-value"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr" and self._table is not None and self._row:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None


def read_report(page: str) -> dict[str, list[dict[str, str]]]:
    """The tables of a report page, by id (``summary``, ``top-products``, ``monthly``), as the strings stored
    in each cell's ``data-value`` (read with the standard library's HTML parser, not with our writer)."""
    parser = _Tables()
    parser.feed(page)
    return parser.tables
