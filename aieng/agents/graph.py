"""Month 9's sales-report workflow as a LangGraph ``StateGraph``, to set beside our own plan and executor.

Taught in Month 10 (chapters/10-multi-agent/03-mcp-and-frameworks).

The same steps as :func:`aieng.agents.sales.plan_graph` run by :func:`aieng.agents.execute`, in the
framework's terms: a typed **state** (a dict every node reads and returns updates to), **nodes** (functions),
**edges** (fixed, or *conditional*: a function of the state picks the next node), a **checkpointer**
(``MemorySaver``: the state after every step, by ``thread_id``), an **interrupt** (the graph stops before the
email and waits for a person's answer, resumed with ``Command(resume=...)``) and a **retry policy** per node.
The tools are the same :class:`aieng.agents.ToolBox` (local or over MCP); the model fills the same blanks
(:func:`aieng.agents.sales.fill_slots`).
"""

from __future__ import annotations

from typing import Any, TypedDict

from aieng.agents.tools import ToolBox

__all__ = ["SalesState", "ToolFailed", "approved_by_graph", "run_graph", "sales_graph"]


class SalesState(TypedDict, total=False):
    """The graph's state: the request, what the model chose, each step's result, and how it ended."""

    request: str
    slots: dict[str, Any] | None
    summary: dict[str, Any]
    top: list[dict[str, Any]]
    monthly: list[dict[str, Any]]
    charts: list[str]
    report: str
    subject: str
    approved: bool
    sent: str
    error: str | None
    tokens: int


class ToolFailed(RuntimeError):
    """A tool call came back with ``ok=False``: raised in a node so the node's retry policy can act on it."""


def approved_by_graph(to_address: str, subject: str, report_html: str) -> bool:
    """The tool box's approver in the LangGraph version: always yes, because the graph's ``approve`` node has
    already asked the person (``interrupt``) and routes to ``send`` only on their yes."""
    return True


def _call(tools: ToolBox, name: str, args: dict[str, Any]) -> Any:
    obs = tools.call(name, args)
    if not obs.ok:
        raise ToolFailed(obs.error)
    return obs.value


def sales_graph(model: Any, tools: ToolBox, checkpointer: Any = None, max_attempts: int = 2,
                fill: Any = None) -> Any:
    """The compiled graph ``plan -> figures -> charts -> report -> approve -> send``.

    ``plan`` asks ``model`` to fill the plan's blanks; a conditional edge ends the run when it could not.
    ``approve`` calls ``interrupt`` with the question for a person; a conditional edge goes to ``send`` only on
    a yes. Tool nodes retry a :class:`ToolFailed` up to ``max_attempts`` times. ``checkpointer`` defaults to
    a ``MemorySaver`` (an interrupt needs one). ``fill(model, request) -> (slots, info)`` defaults to
    :func:`aieng.agents.sales.fill_slots` (tests pass a scripted one).
    """
    from langgraph.checkpoint.memory import MemorySaver
    from langgraph.graph import END, START, StateGraph
    from langgraph.types import RetryPolicy, interrupt

    from aieng.agents.sales import Slots, fill_slots, month_bounds

    retry = RetryPolicy(max_attempts=max_attempts, initial_interval=0.01, jitter=False, retry_on=ToolFailed)

    def plan(state: SalesState) -> dict[str, Any]:
        slots, info = (fill or fill_slots)(model, state["request"])
        return {"slots": None if slots is None else vars(slots), "error": info["error"],
                "tokens": info["tokens"]}

    def period(state: SalesState) -> tuple[str, str, Slots]:
        s = Slots(**state["slots"])  # type: ignore[arg-type]
        start, end = month_bounds(s.first_month, s.last_month)
        return start, end, s

    def figures(state: SalesState) -> dict[str, Any]:
        start, end, s = period(state)
        return {"summary": _call(tools, "sales_summary", {"start": start, "end": end}),
                "top": _call(tools, "top_products", {"start": start, "end": end, "k": s.k, "by": s.by}),
                "monthly": _call(tools, "monthly_sales", {"start": start, "end": end})}

    def charts(state: SalesState) -> dict[str, Any]:
        _, _, s = period(state)
        return {"charts": [
            _call(tools, "make_chart", {"kind": "top_products", "data": state["top"],
                                        "title": f"Top {s.k} pizzas by {s.by}"}),
            _call(tools, "make_chart", {"kind": "monthly_revenue", "data": state["monthly"],
                                        "title": "Revenue by month"})]}

    def report(state: SalesState) -> dict[str, Any]:
        start, end, s = period(state)
        subject = f"Sales report: {start} to {end}, top {s.k} by {s.by}"
        name = _call(tools, "write_report", {"title": subject, "summary": state["summary"], "top": state["top"],
                                             "monthly": state["monthly"], "charts": state["charts"]})
        return {"report": name, "subject": subject}

    def approve(state: SalesState) -> dict[str, Any]:
        answer = interrupt({"question": "send this report?", "to": state["slots"]["to"],  # type: ignore[index]
                            "subject": state["subject"], "report": state["report"]})
        return {"approved": bool(answer), "error": None if answer else "the person said no"}

    def send(state: SalesState) -> dict[str, Any]:
        to = state["slots"]["to"]  # type: ignore[index]
        token = _call(tools, "request_approval", {"report": state["report"], "to": to,
                                                  "subject": state["subject"]})
        return {"sent": _call(tools, "send_email", {"to": to, "subject": state["subject"],
                                                    "report": state["report"], "approval": token})}

    g = StateGraph(SalesState)
    g.add_node("plan", plan)
    for name, fn in [("figures", figures), ("charts", charts), ("report", report), ("send", send)]:
        g.add_node(name, fn, retry_policy=retry)
    g.add_node("approve", approve)
    g.add_edge(START, "plan")
    g.add_conditional_edges("plan", lambda s: "figures" if s.get("slots") else END, ["figures", END])
    g.add_edge("figures", "charts")
    g.add_edge("charts", "report")
    g.add_edge("report", "approve")
    g.add_conditional_edges("approve", lambda s: "send" if s.get("approved") else END, ["send", END])
    g.add_edge("send", END)
    return g.compile(checkpointer=checkpointer if checkpointer is not None else MemorySaver())


def run_graph(graph: Any, request: str, approve: Any, thread_id: str = "run-1") -> dict[str, Any]:
    """Run ``graph`` on ``request`` to the approval interrupt, ask ``approve(question) -> bool``, resume.

    Returns the final state; a tool that still fails after its retries ends the run with ``error`` set.
    """
    from langgraph.types import Command

    config = {"configurable": {"thread_id": thread_id}}
    try:
        graph.invoke({"request": request, "error": None}, config)
        snapshot = graph.get_state(config)
        while snapshot.next:  # stopped at an interrupt: a person answers, the graph resumes
            question = snapshot.tasks[0].interrupts[0].value
            graph.invoke(Command(resume=bool(approve(question))), config)
            snapshot = graph.get_state(config)
    except ToolFailed as exc:
        return {**graph.get_state(config).values, "error": f"tool failed after retries: {exc}"}
    return dict(snapshot.values)
