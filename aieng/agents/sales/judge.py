"""Seeded requests, the independent pandas computation, and the judge of a delivered report.

Taught in Month 9 (chapters/09-agents/04-a-task-end-to-end); part of :mod:`aieng.agents.sales`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aieng.agents.sales.db import (
    BY_OPTIONS,
    CHART_KINDS,
    DIRECTORY,
    K_OPTIONS,
    SalesDB,
    month_bounds,
)
from aieng.agents.sales.plan import Slots, run_workflow
from aieng.agents.sales.report import read_report
from aieng.agents.sales.tools import Approver

__all__ = ["TEMPLATES", "Request", "evaluate", "make_requests", "reference_figures", "verify_delivery"]


@dataclass(frozen=True)
class Request:
    """A worded request and the slots a correct plan has (the ground truth of one seeded run)."""

    text: str
    truth: Slots
    template: int


TEMPLATES = (
    "Analyse the last three months of sales (January to March 2015), find the top {k} products by {by}, "
    "write a report with charts and email it to {to}.",
    "Email {to} a report with charts on January-March 2015 sales: the top {k} pizzas by {by}.",
    "For Q1 2015 (January, February and March), rank the top {k} products by {by}; chart it, write it up "
    "and send it to {to}.",
    "I need the top {k} products by {by} over the last three months, January to March 2015. Make charts, "
    "write the report, email {to}.",
)
"""Wordings of the roadmap's objective; every one asks for January to March 2015."""

_BY_WORDS = {"revenue": ("revenue", "sales revenue"), "quantity": ("quantity", "number sold")}


def make_requests(n: int, seed: int = 0, first_month: str = "2015-01", last_month: str = "2015-03",
                  recipients: Sequence[str] = ("management",)) -> list[Request]:
    """``n`` seeded requests: request ``i`` draws a wording, ``k``, the ranking and a recipient with
    ``random.Random(seed + i)``, so run ``i`` is the same on every machine."""
    out = []
    for i in range(n):
        rng = random.Random(seed + i)
        t = rng.randrange(len(TEMPLATES))
        k, by, to = rng.choice(K_OPTIONS), rng.choice(BY_OPTIONS), rng.choice(list(recipients))
        text = TEMPLATES[t].format(k=k, by=rng.choice(_BY_WORDS[by]), to=to)
        out.append(Request(text, Slots(first_month, last_month, k, by, to), t))
    return out


def reference_figures(csv_path: str | Path, start: str, end: str, k: int, by: str) -> dict[str, Any]:
    """The report's figures computed independently: raw CSV -> pandas, filter, ``groupby``, sort.

    Shares no code with :class:`SalesDB` (no SQLite, no ``csv`` module): it is the check, not the tool.
    """
    import pandas as pd

    df = pd.read_csv(csv_path, parse_dates=["date"])
    window = df[(df["date"] >= pd.Timestamp(start)) & (df["date"] <= pd.Timestamp(end))]
    per = window.groupby("name")["price"].agg(quantity="count", revenue="sum").reset_index()
    other = "quantity" if by == "revenue" else "revenue"
    per = per.sort_values([by, other, "name"], ascending=[False, False, True]).head(k)
    return {"orders": int(window["id"].nunique()), "pizzas": len(window), "revenue": float(window["price"].sum()),
            "days": int(window["date"].nunique()),
            "top": [{"name": r.name, "quantity": int(r.quantity), "revenue": float(r.revenue)}
                    for r in per.itertuples()]}


def verify_delivery(messages: Sequence[EmailMessage], expected: Mapping[str, Any], to_address: str,
                    tol: float = 0.01) -> list[str]:
    """Judge a run from what the SMTP server received: an empty list means success.

    Checks that exactly one message went to ``to_address``; that it carries ``report.html`` and both charts
    as valid PNGs; and that the report's summary and top-product table equal ``expected`` (from
    :func:`reference_figures`): names in the same order, quantities exactly, money within ``tol`` dollars.
    """
    problems: list[str] = []
    mine = [m for m in messages if to_address in str(m.get("To", ""))]
    if len(mine) != 1:
        return [f"expected 1 message to {to_address}, the server received {len(mine)} "
                f"(to: {[str(m.get('To')) for m in messages]})"]
    msg = mine[0]
    files = {p.get_filename(): p.get_content() for p in msg.iter_attachments()}
    for name in ["report.html"] + [f"{c}.png" for c in CHART_KINDS]:
        if name not in files:
            problems.append(f"attachment {name} is missing (attached: {sorted(f for f in files if f)})")
        elif name.endswith(".png") and not bytes(files[name]).startswith(b"\x89PNG\r\n\x1a\n"):
            problems.append(f"{name} is not a PNG")
    if "report.html" not in files:
        return problems
    tables = read_report(str(files["report.html"]))
    summary = (tables.get("summary") or [{}])[0]
    for key in ("orders", "pizzas", "days"):
        if str(summary.get(key)) != str(expected[key]):
            problems.append(f"summary {key}: report {summary.get(key)}, pandas {expected[key]}")
    if abs(float(summary.get("revenue", "nan")) - expected["revenue"]) > tol:
        problems.append(f"summary revenue: report {summary.get('revenue')}, pandas {expected['revenue']:.2f}")
    top = tables.get("top-products", [])
    if [r["name"] for r in top] != [r["name"] for r in expected["top"]]:
        problems.append(f"top products: report {[r['name'] for r in top]}, pandas {[r['name'] for r in expected['top']]}")
    else:
        for got, want in zip(top, expected["top"]):
            if int(got["quantity"]) != want["quantity"] or abs(float(got["revenue"]) - want["revenue"]) > tol:
                problems.append(f"{want['name']}: report {got['quantity']} sold / {got['revenue']}, "
                                f"pandas {want['quantity']} / {want['revenue']:.2f}")
    return problems


def evaluate(model: Any, requests: Sequence[Request], db: SalesDB, csv_path: str | Path,
             style: str = "sentence", decoding: str = "constrained", approve: Approver | None = None,
             progress: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
    """Run the workflow once per request against a fresh loopback SMTP server, and judge each run.

    A run succeeds when :func:`verify_delivery` finds nothing wrong: the email reached the requested
    recipient with the report and both charts, and the report's figures equal :func:`reference_figures` for
    what the *request* asked (not for what the model chose). ``approve`` defaults to a scripted "yes".
    Returns one row per run: the request, the model's slots, ``success``, the problems, tokens and seconds.
    """
    from aieng.foundations.mail import MailServer

    approve = approve or (lambda to, subject, page: True)
    rows = []
    cache: dict[Slots, dict[str, Any]] = {}
    for i, req in enumerate(requests):
        truth = req.truth
        if truth not in cache:
            start, end = month_bounds(truth.first_month, truth.last_month)
            cache[truth] = reference_figures(csv_path, start, end, truth.k, truth.by)
        with MailServer() as server:
            run = run_workflow(model, req.text, db, server.address, approve, style=style, decoding=decoding)
            problems = ([f"the plan did not finish: {run.error}"] if not run.ok else
                        verify_delivery(server.messages, cache[truth], DIRECTORY[truth.to]))
        rows.append({"i": i, "template": req.template, **run.to_dict(),
                     "truth": asdict(truth), "slots_right": run.slots == truth,
                     "success": not problems, "problems": problems})
        if progress is not None:
            progress(i + 1, len(requests))
    return rows
