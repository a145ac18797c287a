"""The plan the model fills in: its blanks, the plan sentence and its grammar, the fixed task graph, a run.

Taught in Month 9 (chapters/09-agents/04-a-task-end-to-end); part of :mod:`aieng.agents.sales`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from typing import Any

from aieng.agents.callsyntax import call_regex
from aieng.agents.loop import ReasoningEngine, system_prompt
from aieng.agents.planning import PlanRun, Task, TaskGraph, execute
from aieng.agents.sales.db import (
    BY_OPTIONS,
    DIRECTORY,
    K_OPTIONS,
    SalesDB,
    SalesError,
    month_bounds,
)
from aieng.agents.sales.tools import Approver, sales_tools
from aieng.llm.constrain import decode_free, decode_llguidance

__all__ = ["BY_WORDS", "CALL_INSTRUCTIONS", "MONTHS", "PLAN_INSTRUCTIONS", "Slots", "WorkflowRun", "fill_slots", "parse_plan", "plan_graph", "plan_pattern", "run_workflow", "slot_schema"]


@dataclass(frozen=True)
class Slots:
    """The plan's open arguments, the only things the model decides."""

    first_month: str
    last_month: str
    k: int
    by: str
    to: str


MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
BY_WORDS: dict[str, str] = {"revenue": "revenue", "sales revenue": "revenue", "quantity": "quantity",
                            "number sold": "quantity"}
"""The ranking words the plan sentence allows, and the ranking each one means."""

PLAN_INSTRUCTIONS = "Fill in the plan with the details of the user's request."


def _alt(options: Sequence[str]) -> str:
    return "(" + "|".join(re.escape(o).replace("\\ ", " ") for o in options) + ")"


def plan_pattern(year: int = 2015, directory: Mapping[str, str] | None = None) -> str:
    """The plan as one sentence with five blanks, as a regular expression (one group a blank)::

        Plan: sales from <month> to <month> 2015, the top <3|5|10> products by <ranking>, email <role> the
        report.

    Every word between the blanks is fixed, so constrained decoding fast-forwards it and the model decides only
    the blanks; and each blank follows the words that precede the same detail in a request ("top", "by", "email"),
    so a small model can copy it from the request (the chapter measures how much that helps: "email <role>" was right more often than "email the report
    to <role>" in a trial of both).
    """
    roles = sorted(directory or DIRECTORY)
    return (f"Plan: sales from {_alt(MONTHS)} to {_alt(MONTHS)} {year}, the top {_alt([str(k) for k in K_OPTIONS])}"
            f" products by {_alt(list(BY_WORDS))}, email {_alt(roles)} the report" + r"\.")


def parse_plan(text: str, year: int = 2015, directory: Mapping[str, str] | None = None) -> Slots:
    """The slots of a plan sentence (case and spacing forgiven, prose around it ignored); ``SalesError`` if none."""
    rx = re.compile(plan_pattern(year, directory).replace(" ", r"\s+"), re.IGNORECASE)
    m = rx.search(" ".join(text.split()))
    if m is None:
        raise SalesError(f"no plan sentence in the reply {text[:120]!r}")
    first, last, k, by, to = m.groups()
    norm = {x.lower(): x for x in MONTHS}
    i, j = MONTHS.index(norm[first.lower()]) + 1, MONTHS.index(norm[last.lower()]) + 1
    return Slots(f"{year}-{i:02d}", f"{year}-{j:02d}", int(k), BY_WORDS[by.lower()], to.lower())


def slot_schema(months: Sequence[str], directory: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The same five blanks as one function, ``plan_report(first_month, last_month, k, by, to)``, every argument
    an enumerated option: the tool-call way to fill the plan (``style="call"``), kept to compare with."""
    return {"name": "plan_report", "description": "Fill in the plan of a sales report.",
            "parameters": {"type": "object", "properties": {
                "first_month": {"type": "string", "enum": list(months)},
                "last_month": {"type": "string", "enum": list(months)},
                "k": {"type": "integer", "enum": list(K_OPTIONS)},
                "by": {"type": "string", "enum": list(BY_OPTIONS)},
                "to": {"type": "string", "enum": sorted(directory or DIRECTORY)}},
                "required": ["first_month", "last_month", "k", "by", "to"]}}


CALL_INSTRUCTIONS = "You plan sales reports: read the request and fill in every argument of plan_report from it."


class _OneCall(ReasoningEngine):
    """The reasoning engine with a grammar of exactly one call (no ``[]``: the plan must be filled in)."""

    def grammar(self, schemas: Sequence[dict[str, Any]]) -> str:
        return call_regex(schemas, max_calls=1, allow_empty=False)


def fill_slots(model: Any, request: str, style: str = "sentence", decoding: str = "constrained",
               year: int = 2015) -> tuple[Slots | None, dict[str, Any]]:
    """Ask the model to fill the plan's blanks for ``request``: one reply.

    Parameters
    ----------
    style
        ``"sentence"``: the plan sentence of :func:`plan_pattern`; ``"call"``: one ``plan_report(...)`` call
        (:func:`slot_schema`, through :class:`aieng.agents.ReasoningEngine`).
    decoding
        ``"constrained"`` (llguidance; needs a local model) or ``"free"`` (any chat model, an endpoint
        included: the reply is parsed, and may not parse).

    Returns ``(slots, info)``: ``slots`` is ``None`` when the reply holds no usable plan; ``info`` has the raw
    ``reply``, the ``error``, ``tokens`` and ``seconds``.
    """
    if style not in {"sentence", "call"}:
        raise ValueError(f"style must be 'sentence' or 'call', got {style!r}")
    if decoding not in {"constrained", "free"}:
        raise ValueError(f"decoding must be 'constrained' or 'free', got {decoding!r}")
    months = [f"{year}-{m:02d}" for m in range(1, 13)]
    if style == "call":
        schema = slot_schema(months)
        engine = _OneCall(model, decoding=decoding, max_new_tokens=64, max_calls=1)
        d = engine.decide([{"role": "system", "content": system_prompt([schema], CALL_INSTRUCTIONS)},
                           {"role": "user", "content": request}], [schema])
        info = {"reply": d.text, "error": d.error, "tokens": d.prompt_tokens + d.completion_tokens,
                "seconds": d.seconds}
        calls = [c for c in d.calls if c.name == "plan_report"]
        if d.error or len(calls) != 1:
            info["error"] = info["error"] or f"expected one plan_report call, got {d.text!r}"
            return None, info
        args = calls[0].arguments
        try:
            return Slots(str(args["first_month"]), str(args["last_month"]), int(args["k"]), str(args["by"]),
                         str(args["to"])), info
        except (KeyError, TypeError, ValueError) as exc:
            info["error"] = f"plan_report is missing or mistypes an argument: {exc}"
            return None, info
    messages = [{"role": "system", "content": PLAN_INSTRUCTIONS + (
                    "" if decoding == "constrained" else
                    " Reply with exactly one sentence of this form: Plan: sales from <Month> to <Month> "
                    f"{year}, the top <3, 5 or 10> products by <revenue or quantity>, email "
                    f"<{' or '.join(sorted(DIRECTORY))}> the report.")},
                {"role": "user", "content": request}]
    local = hasattr(model, "encode_chat") and hasattr(model, "model")
    if decoding == "constrained":
        if not local:
            raise ValueError("constrained decoding needs a local model (its logits); use decoding='free' "
                             "for an endpoint")
        out = decode_llguidance(model, messages, plan_pattern(year), max_new_tokens=48)
    else:
        out = decode_free(model, messages, max_new_tokens=96)
    info = {"reply": out.text, "error": None, "tokens": out.prompt_tokens + out.completion_tokens,
            "seconds": out.seconds}
    try:
        return parse_plan(out.text, year), info
    except SalesError as exc:
        info["error"] = str(exc)
        return None, info


def plan_graph(slots: Slots, title: str = "Sales report") -> TaskGraph:
    """The fixed plan, with the slots filled in: seven tool calls in dependency order (``$id`` = a result)."""
    start, end = month_bounds(slots.first_month, slots.last_month)
    subject = f"{title}: {start} to {end}, top {slots.k} by {slots.by}"
    return TaskGraph([
        Task("summary", "sales_summary", {"start": start, "end": end}),
        Task("top", "top_products", {"start": start, "end": end, "k": slots.k, "by": slots.by}),
        Task("monthly", "monthly_sales", {"start": start, "end": end}),
        Task("chart_top", "make_chart", {"kind": "top_products", "data": "$top",
                                         "title": f"Top {slots.k} pizzas by {slots.by}"}),
        Task("chart_month", "make_chart", {"kind": "monthly_revenue", "data": "$monthly",
                                           "title": "Revenue by month"}),
        Task("report", "write_report", {"title": subject, "summary": "$summary", "top": "$top",
                                        "monthly": "$monthly", "charts": ["$chart_top", "$chart_month"]}),
        Task("approval", "request_approval", {"report": "$report", "to": slots.to, "subject": subject}),
        Task("email", "send_email", {"to": slots.to, "subject": subject, "report": "$report",
                                     "approval": "$approval"}),
    ])


@dataclass
class WorkflowRun:
    """One run of the workflow: what the model chose, how the plan went, and what was sent."""

    request: str
    slots: Slots | None
    plan: PlanRun | None
    sent: list[EmailMessage]
    model_reply: str
    error: str | None
    tokens: int
    seconds: float

    @property
    def ok(self) -> bool:
        """The plan ran to the end (the email went out); whether it was *right* is :func:`verify_delivery`'s job."""
        return self.plan is not None and self.plan.ok

    def to_dict(self) -> dict[str, Any]:
        return {"request": self.request, "slots": asdict(self.slots) if self.slots else None,
                "stop_reason": self.plan.stop_reason if self.plan else "no_plan", "sent": len(self.sent),
                "model_reply": self.model_reply, "error": self.error, "tokens": self.tokens,
                "seconds": round(self.seconds, 3)}


def run_workflow(model: Any, request: str, db: SalesDB, smtp_server: str, approve: Approver,
                 style: str = "sentence", decoding: str = "constrained") -> WorkflowRun:
    """Fill the plan's blanks with ``model`` for ``request`` (:func:`fill_slots`), then execute the plan
    (:func:`plan_graph`: the figures, the charts, the report, a person's approval, the email).

    Never raises for what the model or a tool does: see ``WorkflowRun.error`` and ``WorkflowRun.plan.log``.
    """
    t0 = time.perf_counter()
    try:
        slots, info = fill_slots(model, request, style=style, decoding=decoding, year=db.first_day.year)
    except Exception as exc:  # the model itself failed (an endpoint down)
        return WorkflowRun(request, None, None, [], "", f"model error: {type(exc).__name__}: {exc}", 0,
                           time.perf_counter() - t0)
    if slots is None:
        return WorkflowRun(request, None, None, [], info["reply"], info["error"], info["tokens"],
                           time.perf_counter() - t0)
    tools = sales_tools(db, smtp_server, approve)
    try:
        graph = plan_graph(slots)
    except SalesError as exc:
        return WorkflowRun(request, slots, None, [], info["reply"], str(exc), info["tokens"], time.perf_counter() - t0)
    plan = execute(graph, tools)
    error = None if plan.ok else next((line for line in reversed(plan.log) if "FAILED" in line), plan.stop_reason)
    return WorkflowRun(request, slots, plan, list(tools.workspace.sent), info["reply"], error,  # type: ignore[attr-defined]
                       info["tokens"], time.perf_counter() - t0)
