"""The enterprise task by a team: the sales table in PostgreSQL, four specialists and a coordinator.

Taught in Month 10 (chapters/10-multi-agent/02-the-enterprise-task-by-a-team); part of
:mod:`aieng.agents.sales`. Month 9's :func:`aieng.agents.sales.run_workflow` is the baseline it is measured
against, on the same seeded requests. :class:`PgSalesDB` is the sales table in PostgreSQL (Month 3's
``postgres()``) with the query methods of Month 9's SQLite ``SalesDB``, so the same tools run on either (one
code path a backend). :func:`sales_team` is a :class:`aieng.agents.multi.Coordinator` with four specialists:
research (the period, then SQL), analysis (the ranking), coding (plain code: charts and report) and
communications (the recipient, a person's approval, a retried and idempotent send). Each model decision is one
short sentence under a grammar. :func:`evaluate_team`, :func:`evaluate_baseline` and :func:`summarize` make
the comparison table shared by the notebook and ``python -m aieng.bench team``.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from aieng.agents.multi import Coordinator, SharedState, Specialist, TeamRun
from aieng.agents.reliability import RetryPolicy, check_trajectory, idempotent, with_retries
from aieng.agents.sales.db import DIRECTORY, K_OPTIONS, SalesDB, SalesError, month_bounds
from aieng.agents.sales.judge import Request, evaluate, reference_figures, verify_delivery
from aieng.agents.sales.plan import BY_WORDS, MONTHS, Slots
from aieng.agents.sales.tools import Approver, sales_tools
from aieng.agents.tools import ToolBox

__all__ = ["SPECIALISTS", "TOOL_RULES", "PgSalesDB", "SalesTeam", "decide", "evaluate_baseline",
           "evaluate_team", "failure_mode", "run_team", "sales_team", "summarize", "tool_trajectory_problems"]


# ----------------------------------------------------------------------------- PostgreSQL


class PgSalesDB(SalesDB):
    """The pizza sales table in PostgreSQL; the query methods the tools use (``period``, ``summary``,
    ``top_products``, ``monthly``, ``product``) are :class:`aieng.agents.sales.SalesDB`'s own, unchanged.

    Parameters
    ----------
    pg
        A running server from :func:`aieng.foundations.database.postgres` (the caller starts and stops it).
    csv_path
        ``pizzaplace.csv``; loaded with ``COPY ... FROM STDIN`` (PostgreSQL's bulk load).
    first_day, last_day
        Load only the rows of these days (ISO dates, inclusive; default all).

    ``date`` is a real ``DATE`` column and ``price`` a ``NUMERIC(8, 2)``, so money adds up to the cent.
    """

    def __init__(self, pg: Any, csv_path: str | Path, first_day: str | None = None,
                 last_day: str | None = None) -> None:
        self.path = Path(csv_path)
        self._lock = threading.Lock()
        self.con = pg.connect(autocommit=True)
        header = self.path.open(encoding="utf-8").readline().strip().split(",")
        need = ["id", "date", "time", "name", "size", "type", "price"]
        if header != need:
            raise SalesError(f"{self.path} is not the pizza sales table: it needs the columns {need}")
        self.con.execute("DROP TABLE IF EXISTS sales_raw, sales")
        self.con.execute("CREATE TABLE sales_raw (id TEXT, date DATE, time TIME, name TEXT, size TEXT, "
                         "type TEXT, price NUMERIC(8, 2))")
        with self.con.cursor() as cur, cur.copy("COPY sales_raw FROM STDIN WITH (FORMAT csv, HEADER true)") as cp:
            with self.path.open("rb") as f:
                while chunk := f.read(1 << 16):
                    cp.write(chunk)
        lo, hi = first_day or "0001-01-01", last_day or "9999-12-31"
        self.con.execute("CREATE TABLE sales AS SELECT * FROM sales_raw WHERE date BETWEEN %s AND %s", (lo, hi))
        self.con.execute("DROP TABLE sales_raw")
        self.con.execute("CREATE INDEX sales_date ON sales(date)")
        first, last = self._query("SELECT MIN(date), MAX(date) FROM sales")[0]
        if first is None:
            raise SalesError(f"no sales between {lo} and {hi}")
        self.first_day, self.last_day = first, last
        self.products = sorted(r[0] for r in self._query("SELECT DISTINCT name FROM sales"))

    _MONTH = "to_char(date, 'YYYY-MM')"

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run ``sql`` (written with SQLite's ``?`` placeholders, psycopg's ``%s`` here) and return its rows."""
        with self._lock:
            return self.con.execute(sql.replace("?", "%s"), tuple(params)).fetchall()


# ----------------------------------------------------------------------------- decisions by the model


def _alt(options: Sequence[str]) -> str:
    return "(" + "|".join(re.escape(o).replace("\\ ", " ") for o in options) + ")"


def _patterns(year: int, roles: Sequence[str]) -> dict[str, tuple[str, str]]:
    """Each specialist's one decision: (instructions, the sentence's regular expression, one group a blank)."""
    return {
        "research": ("Which months does the user's request cover? Fill in the period.",
                     f"Period: from {_alt(MONTHS)} to {_alt(MONTHS)} {year}" + r"\."),
        "analysis": ("How many products does the user want ranked, and by what? Fill in the ranking.",
                     f"Ranking: the top {_alt([str(k) for k in K_OPTIONS])} products by {_alt(list(BY_WORDS))}"
                     + r"\."),
        "communications": ("Who should receive the report? Fill in the recipient named in the request.",
                           f"Recipient: email {_alt(sorted(roles))} the report" + r"\."),
    }


def decide(model: Any, request: str, instructions: str, pattern: str,
           max_new_tokens: int = 24) -> tuple[tuple[str, ...], int]:
    """One narrow decision: the model writes one sentence matching ``pattern``; returns its blanks and tokens.

    A local model decodes under the pattern's grammar (llguidance), so the sentence always parses; any other
    chat model (an endpoint) is shown the pattern's shape and its free reply is searched for it. Raises
    ``SalesError`` when no sentence is found.
    """
    from aieng.llm.constrain import decode_free, decode_llguidance

    local = hasattr(model, "encode_chat") and hasattr(model, "model")
    messages = [{"role": "system", "content": instructions + ("" if local else
                 " Reply with one sentence of this exact form (a regular expression): " + pattern)},
                {"role": "user", "content": request}]
    out = (decode_llguidance(model, messages, pattern, max_new_tokens=max_new_tokens) if local
           else decode_free(model, messages, max_new_tokens=4 * max_new_tokens))
    tokens = int(out.prompt_tokens + out.completion_tokens)
    m = re.compile(pattern.replace(" ", r"\s+"), re.IGNORECASE).search(" ".join(out.text.split()))
    if m is None:
        raise SalesError(f"no decision in the reply {out.text[:100]!r}")
    return m.groups(), tokens


SPECIALISTS: dict[str, str] = {
    "research": "the data analyst: reads the period from the request and queries the sales table",
    "analysis": "ranks the top products of the period, by revenue or quantity",
    "coding": "draws the charts and writes the HTML report",
    "communications": "asks a person to approve the report, then emails it",
}
"""The four specialists and the line the coordinator reads about each."""

TOOL_RULES: dict[str, Any] = {
    "required": ["sales_summary", "monthly_sales", "top_products", "make_chart", "write_report",
                 "request_approval", "send_email"],
    "before": [("sales_summary", "top_products"), ("top_products", "make_chart"), ("make_chart", "write_report"),
               ("write_report", "request_approval"), ("request_approval", "send_email")],
    "at_most_once": ["send_email"],
}
"""The valid tool trajectory of the task, for :func:`aieng.agents.reliability.check_trajectory`."""

FIXED_ORDER = ("research", "analysis", "coding", "communications")


class SalesTeam(Coordinator):
    """The coordinator of the sales task, with the run's tool box, tool-call log and the retry policy.

    ``tools``: the Month 9 tool box (``send_email`` retried and idempotent); ``calls``: every tool call of
    the run, in order (the tool-level trajectory).
    """

    tools: ToolBox
    calls: list[str]

    def options(self, state: SharedState) -> list[str]:
        """The specialists still to deliver; ``"done"`` is not offered (code decides that, ``done_when``)."""
        names = [n for n in super().options(state) if n != "done"]
        return names or ["done"]

    def task_for(self, name: str, objective: str, state: SharedState) -> str:
        """Each specialist gets the user's request (the decisions it makes are read from it)."""
        return objective


def _fixed_policy(objective: str, state: SharedState, options: Sequence[str]) -> str:
    return next((n for n in FIXED_ORDER if n in options), "done")


def sales_team(model: Any, db: Any, smtp_server: str, approve: Approver, *, routing: str = "model",
               max_handoffs: int = 8, token_budget: int | None = 4000, time_budget_s: float | None = 300.0,
               retry_policy: RetryPolicy | None = None, directory: Mapping[str, str] | None = None,
               send: Callable[[Callable[..., Any]], Callable[..., Any]] | None = None) -> SalesTeam:
    """The sales task's team over ``db`` (:class:`PgSalesDB` or Month 9's SQLite ``SalesDB``).

    Parameters
    ----------
    routing
        ``"model"``: the coordinator's model chooses who works next (by log-probability among the
        specialists still to deliver, and ``done``); ``"fixed"``: plain code calls them in order.
    max_handoffs, token_budget, time_budget_s
        The coordinator's budgets (each run ends with a stated reason).
    retry_policy
        How ``send_email`` retries a transient failure (default 3 attempts, 0.1 s then 0.2 s).
    send
        ``send(fn) -> fn``: wraps Month 9's send function before the retries and the idempotency key are
        added (the notebook injects a refused connection this way).

    The work is done when ``communications`` has delivered (code decides, ``done_when``, and the model is
    never offered ``"done"``: a 135M model picked it before any work in a trial).
    """
    if routing not in {"model", "fixed"}:
        raise ValueError(f"routing must be 'model' or 'fixed', got {routing!r}")
    people = dict(directory or DIRECTORY)
    box = sales_tools(db, smtp_server, approve, directory=people)
    ws = box.workspace  # type: ignore[attr-defined]
    send_tool = box.tools["send_email"]
    if send is not None:
        send_tool = dataclasses.replace(send_tool, fn=send(send_tool.fn))
    box.tools["send_email"] = idempotent(with_retries(send_tool, retry_policy), key=["to", "subject", "report"])
    calls: list[str] = []
    year = db.first_day.year
    patterns = _patterns(year, list(people))

    def call(name: str, **arguments: Any) -> Any:
        calls.append(name)
        obs = box.call(name, arguments)
        if not obs.ok:
            raise SalesError(obs.error)
        return obs.value

    def research(task: str, state: SharedState) -> tuple[dict[str, Any], int]:
        (first, last), tokens = decide(model, task, *patterns["research"])
        norm = {m.lower(): i + 1 for i, m in enumerate(MONTHS)}
        first_month, last_month = f"{year}-{norm[first.lower()]:02d}", f"{year}-{norm[last.lower()]:02d}"
        start, end = month_bounds(first_month, last_month)
        return {"first_month": first_month, "last_month": last_month, "start": start, "end": end,
                "summary": call("sales_summary", start=start, end=end),
                "monthly": call("monthly_sales", start=start, end=end)}, tokens

    def analysis(task: str, state: SharedState) -> tuple[dict[str, Any], int]:
        found = state.get("research")
        if found is None:
            raise SalesError("analysis needs the period: research has not delivered yet")
        (k, by_words), tokens = decide(model, task, *patterns["analysis"])
        by = BY_WORDS[by_words.lower()]
        return {"k": int(k), "by": by, "top": call("top_products", start=found["start"], end=found["end"],
                                                 k=int(k), by=by)}, tokens

    def coding(task: str, state: SharedState) -> dict[str, Any]:
        found, ranked = state.get("research"), state.get("analysis")
        if found is None or ranked is None:
            raise SalesError("coding needs the figures and the ranking: research and analysis first")
        charts = [call("make_chart", kind="top_products", data=ranked["top"],
                       title=f"Top {ranked['k']} pizzas by {ranked['by']}"),
                  call("make_chart", kind="monthly_revenue", data=found["monthly"], title="Revenue by month")]
        subject = (f"Sales report: {found['start']} to {found['end']}, top {ranked['k']} by {ranked['by']}")
        report = call("write_report", title=subject, summary=found["summary"], top=ranked["top"],
                      monthly=found["monthly"], charts=charts)
        return {"report": report, "subject": subject, "charts": charts}

    def communications(task: str, state: SharedState) -> tuple[dict[str, Any], int]:
        written = state.get("coding")
        if written is None:
            raise SalesError("communications needs the report: coding has not written it yet")
        (to,), tokens = decide(model, task, *patterns["communications"])
        to = to.lower()
        approval = call("request_approval", report=written["report"], to=to, subject=written["subject"])
        sent = call("send_email", to=to, subject=written["subject"], report=written["report"], approval=approval)
        return {"to": to, "approval": approval, "sent": sent}, tokens

    team = SalesTeam(model if routing == "model" else _fixed_policy,
                     [Specialist(n, SPECIALISTS[n], f) for n, f in
                      (("research", research), ("analysis", analysis), ("coding", coding),
                       ("communications", communications))],
                     max_handoffs=max_handoffs, token_budget=token_budget, time_budget_s=time_budget_s,
                     done_when=lambda state: "communications" in state)
    team.tools, team.calls = box, calls
    team.workspace = ws  # type: ignore[attr-defined]
    return team


def team_slots(run: TeamRun) -> Slots | None:
    """The five decisions the team made (``None`` where a specialist did not deliver)."""
    r, a, c = (run.state.get(k) for k in ("research", "analysis", "communications"))
    if r is None or a is None or c is None:
        return None
    return Slots(r["first_month"], r["last_month"], a["k"], a["by"], c["to"])


def run_team(model: Any, request: str, db: Any, smtp_server: str, approve: Approver,
             **kwargs: Any) -> tuple[TeamRun, SalesTeam]:
    """Build :func:`sales_team` and run it on ``request``; returns the run and the team (its tool calls,
    its workspace with what was sent). Never raises for what the model or a tool does."""
    team = sales_team(model, db, smtp_server, approve, **kwargs)
    return team.run(request), team


def tool_trajectory_problems(calls: Sequence[str]) -> list[str]:
    """:func:`aieng.agents.reliability.check_trajectory` with the task's rules (:data:`TOOL_RULES`)."""
    return check_trajectory(calls, **TOOL_RULES)


def failure_mode(row: Mapping[str, Any]) -> str | None:
    """Why a judged run failed, in a few words (``None`` for a success): a wrong decision, a budget, an error."""
    if not row.get("problems"):
        return None
    slots, truth, stop = row.get("slots"), row["truth"], row.get("stop_reason", "")
    wrong = [s for s in ("first_month", "last_month", "k", "by", "to") if slots and slots.get(s) != truth.get(s)]
    if wrong:
        return "wrong " + ", ".join(wrong)
    return f"stopped: {stop}" if stop not in {"done", "answer"} else (row.get("error") or row["problems"][0])[:80]


def _reference(cache: dict[Slots, dict[str, Any]], csv_path: str | Path, truth: Slots) -> dict[str, Any]:
    if truth not in cache:
        start, end = month_bounds(truth.first_month, truth.last_month)
        cache[truth] = reference_figures(csv_path, start, end, truth.k, truth.by)
    return cache[truth]


def evaluate_team(model: Any, requests: Sequence[Request], db: Any, csv_path: str | Path,
                  approve: Approver | None = None, progress: Callable[[int, int], None] | None = None,
                  **team_kwargs: Any) -> list[dict[str, Any]]:
    """Run the team once per request against a fresh loopback SMTP server and judge each run.

    Success is Month 9's: :func:`aieng.agents.sales.verify_delivery` finds the email with the report and both
    charts at the requested recipient, its figures equal to pandas'. Each row adds the coordinator's
    trajectory, the tool calls and their :func:`tool_trajectory_problems`, tokens, seconds and the stop
    reason.
    """
    from aieng.foundations.mail import MailServer

    approve = approve or (lambda to, subject, page: True)
    rows, cache = [], {}
    for i, req in enumerate(requests):
        expected = _reference(cache, csv_path, req.truth)
        with MailServer() as server:
            t0 = time.perf_counter()
            run, team = run_team(model, req.text, db, server.address, approve, **team_kwargs)
            seconds = time.perf_counter() - t0
            problems = ([f"the team did not finish: {run.stop_reason}"] if not run.ok else
                        verify_delivery(server.messages, expected, DIRECTORY[req.truth.to]))
            delivered = len(server.messages)
        slots = team_slots(run)
        errors = [str(m.content) for m in run.errors]
        row = {"i": i, "template": req.template, "request": req.text,
               "slots": asdict(slots) if slots else None, "truth": asdict(req.truth),
               "stop_reason": run.stop_reason, "trajectory": list(run.trajectory), "calls": list(team.calls),
               "trajectory_problems": tool_trajectory_problems(team.calls) if run.ok else [],
               "sent": delivered, "error": errors[-1] if errors else None, "tokens": run.tokens,
               "seconds": round(seconds, 3), "success": not problems, "problems": problems}
        row["failure"] = failure_mode(row)
        rows.append(row)
        if progress is not None:
            progress(i + 1, len(requests))
    return rows


def evaluate_baseline(model: Any, requests: Sequence[Request], db: Any, csv_path: str | Path,
                      approve: Approver | None = None,
                      progress: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
    """Month 9's single agent (:func:`aieng.agents.sales.evaluate`) on the same requests, rows as
    :func:`evaluate_team`'s (its trajectory is the fixed plan's)."""
    rows = evaluate(model, requests, db, csv_path, approve=approve, progress=progress)
    for row in rows:
        row["failure"] = failure_mode(row)
        row["trajectory"] = ["single agent"]
    return rows


def summarize(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One architecture's line of the table: success rate, tokens and seconds per run, failure modes."""
    if not rows:
        raise ValueError("no runs to summarize")
    n = len(rows)
    failures = Counter(r["failure"] or "unknown" for r in rows if not r["success"])
    return {"n": n, "successes": sum(bool(r["success"]) for r in rows),
            "success_rate": sum(bool(r["success"]) for r in rows) / n,
            "tokens_per_run": sum(r["tokens"] for r in rows) / n,
            "seconds_per_run": sum(r["seconds"] for r in rows) / n,
            "valid_trajectories": sum(not r.get("trajectory_problems") for r in rows if r["stop_reason"] == "done"),
            "failures": dict(failures.most_common())}

