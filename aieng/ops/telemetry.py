"""Telemetry for an LLM application: OpenTelemetry traces and Prometheus metrics, offline.

Taught in Month 11 (chapters/11-llmops/02-observe-version-evaluate).

- **Traces** (:func:`make_tracer`, :func:`span_rows`, :func:`traced_workflow`): one span for the request,
  a child span for each LLM call and each tool call, kept in memory by OpenTelemetry's
  ``InMemorySpanExporter`` (no collector, no network) and read back as plain rows.
- **Metrics** (:class:`Metrics`): ``prometheus-client`` counters and a latency histogram in their own
  registry, served on a loopback port (:meth:`Metrics.serve`) for a Prometheus server to scrape
  (:mod:`aieng.ops.prometheus`).

Month 9's workflow is instrumented by *wrapping*: :func:`traced_workflow` composes the same public pieces
as :func:`aieng.agents.sales.run_workflow` (``fill_slots``, ``sales_tools``, ``plan_graph``, ``execute``)
with a tool box whose ``call`` opens a span (:class:`TracedToolBox`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Metrics", "SpanRow", "TracedToolBox", "check_tree", "make_tracer", "span_rows",
           "traced_workflow"]


def make_tracer(name: str = "aieng") -> tuple[Any, Any]:
    """A tracer whose finished spans go, synchronously, to an in-memory exporter.

    The provider is private to the caller (OpenTelemetry's global provider is left alone), so two
    notebooks or tests never share spans.

    Returns
    -------
    tracer, exporter
        ``exporter.get_finished_spans()`` returns the spans ended so far.
    """
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer(name), exporter


@dataclass(frozen=True)
class SpanRow:
    """One exported span as plain data: ids in hex, times in milliseconds from the trace's first start."""

    name: str
    span_id: str
    parent_id: str | None
    trace_id: str
    start_ms: float
    end_ms: float
    ok: bool
    attributes: Mapping[str, Any]

    @property
    def duration_ms(self) -> float:
        return self.end_ms - self.start_ms


def span_rows(spans: Sequence[Any]) -> list[SpanRow]:
    """Exported (``ReadableSpan``) spans as :class:`SpanRow` s, ordered by start time."""
    from opentelemetry.trace import StatusCode

    if not spans:
        return []
    t0 = min(s.start_time for s in spans)
    rows = [SpanRow(s.name, f"{s.context.span_id:016x}",
                    None if s.parent is None else f"{s.parent.span_id:016x}",
                    f"{s.context.trace_id:032x}", (s.start_time - t0) / 1e6, (s.end_time - t0) / 1e6,
                    s.status.status_code != StatusCode.ERROR, dict(s.attributes or {}))
            for s in spans]
    return sorted(rows, key=lambda r: (r.start_ms, r.end_ms))


def check_tree(rows: Sequence[SpanRow]) -> SpanRow:
    """Check that ``rows`` form one trace: one root, every parent present, children inside their parent.

    Returns the root; raises ``ValueError`` saying what is wrong.
    """
    by_id = {r.span_id: r for r in rows}
    roots = [r for r in rows if r.parent_id is None]
    if len(roots) != 1:
        raise ValueError(f"expected one root span, got {len(roots)}: {[r.name for r in roots]}")
    if len({r.trace_id for r in rows}) != 1:
        raise ValueError("the spans belong to more than one trace")
    for r in rows:
        if r.parent_id is None:
            continue
        parent = by_id.get(r.parent_id)
        if parent is None:
            raise ValueError(f"span {r.name!r} has a parent that was not exported")
        if r.start_ms < parent.start_ms or r.end_ms > parent.end_ms:
            raise ValueError(f"span {r.name!r} is not inside its parent {parent.name!r}")
    return roots[0]


class TracedToolBox:
    """A tool box whose every ``call`` runs inside a span ``tool <name>``; everything else is delegated.

    Attributes set on the span: ``tool.name``, ``tool.ok``, ``tool.error`` (when it failed), and the
    argument names (``tool.arguments``).
    """

    def __init__(self, toolbox: Any, tracer: Any, metrics: Metrics | None = None) -> None:
        self.toolbox = toolbox
        self.tracer = tracer
        self.metrics = metrics

    def call(self, name: str, arguments: Mapping[str, Any] | None = None) -> Any:
        from opentelemetry.trace import Status, StatusCode

        with self.tracer.start_as_current_span(f"tool {name}") as span:
            span.set_attribute("tool.name", name)
            span.set_attribute("tool.arguments", sorted(arguments or {}))
            t0 = time.perf_counter()
            obs = self.toolbox.call(name, arguments)
            span.set_attribute("tool.ok", bool(obs.ok))
            if not obs.ok:
                span.set_attribute("tool.error", str(obs.error)[:300])
                span.set_status(Status(StatusCode.ERROR, str(obs.error)[:120]))
            if self.metrics is not None:
                self.metrics.tool_seconds.labels(tool=name).observe(time.perf_counter() - t0)
            return obs

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.toolbox, attr)


def traced_workflow(model: Any, request: str, db: Any, smtp_server: str, approve: Any, tracer: Any,
                    model_name: str = "SmolLM2-135M-Instruct") -> Any:
    """Month 9's sales workflow with a span for the request, the LLM call and each tool call.

    The same steps as :func:`aieng.agents.sales.run_workflow` (fill the plan's blanks, build the plan,
    execute it with the tools), each inside a span. Returns the
    :class:`aieng.agents.sales.WorkflowRun`; never raises for what the model or a tool does.
    """
    from opentelemetry.trace import Status, StatusCode

    from aieng.agents.planning import execute
    from aieng.agents.sales import SalesError, WorkflowRun, fill_slots, plan_graph, sales_tools

    t0 = time.perf_counter()
    with tracer.start_as_current_span("request") as root:
        root.set_attribute("request.chars", len(request))
        with tracer.start_as_current_span("llm fill_slots") as llm:
            llm.set_attribute("llm.model", model_name)
            try:
                slots, info = fill_slots(model, request, year=db.first_day.year)
            except Exception as exc:  # the model itself failed
                llm.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                root.set_status(Status(StatusCode.ERROR, "model error"))
                return WorkflowRun(request, None, None, [], "", f"model error: {exc}", 0,
                                   time.perf_counter() - t0)
            llm.set_attribute("llm.tokens", int(info["tokens"]))
            llm.set_attribute("llm.reply", str(info["reply"])[:200])
        root.set_attribute("llm.tokens", int(info["tokens"]))
        if slots is None:
            root.set_status(Status(StatusCode.ERROR, "no plan"))
            return WorkflowRun(request, None, None, [], info["reply"], info["error"], info["tokens"],
                               time.perf_counter() - t0)
        tools = sales_tools(db, smtp_server, approve)
        try:
            graph = plan_graph(slots)
        except SalesError as exc:
            root.set_status(Status(StatusCode.ERROR, "bad plan"))
            return WorkflowRun(request, slots, None, [], info["reply"], str(exc), info["tokens"],
                               time.perf_counter() - t0)
        plan = execute(graph, TracedToolBox(tools, tracer))  # type: ignore[arg-type]
        error = None if plan.ok else next((x for x in reversed(plan.log) if "FAILED" in x),
                                          plan.stop_reason)
        root.set_attribute("request.ok", error is None)
        if error is not None:
            root.set_status(Status(StatusCode.ERROR, str(error)[:120]))
        return WorkflowRun(request, slots, plan, list(tools.workspace.sent), info["reply"], error,
                           info["tokens"], time.perf_counter() - t0)


class Metrics:
    """The application's Prometheus metrics, in a registry of their own.

    - ``llm_request_seconds`` (histogram): a request's latency;
    - ``llm_tool_seconds{tool}`` (histogram): each tool call's latency;
    - ``llm_tokens_total`` (counter), ``llm_cost_usd_total`` (counter);
    - ``llm_requests_total{status}`` (counter): ``ok`` or ``error``.
    """

    BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry()
        self.request_seconds = Histogram("llm_request_seconds", "Latency of one request.",
                                         buckets=self.BUCKETS, registry=self.registry)
        self.tool_seconds = Histogram("llm_tool_seconds", "Latency of one tool call.", ["tool"],
                                      buckets=self.BUCKETS, registry=self.registry)
        self.tokens = Counter("llm_tokens", "Tokens processed (prompt + completion).",
                              registry=self.registry)
        self.cost = Counter("llm_cost_usd", "Cost in US dollars at the assumed price table.",
                            registry=self.registry)
        self.requests = Counter("llm_requests", "Requests served, by outcome.", ["status"],
                                registry=self.registry)

    def observe(self, seconds: float, tokens: int = 0, cost_usd: float = 0.0, ok: bool = True) -> None:
        """Record one finished request."""
        if seconds < 0 or tokens < 0 or cost_usd < 0:
            raise ValueError("seconds, tokens and cost_usd must be >= 0")
        self.request_seconds.observe(seconds)
        self.tokens.inc(tokens)
        self.cost.inc(cost_usd)
        self.requests.labels(status="ok" if ok else "error").inc()

    def text(self) -> str:
        """The exposition text a scrape receives."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry).decode()

    @contextlib.contextmanager
    def serve(self, port: int = 0) -> Iterator[str]:
        """Serve ``/metrics`` on ``127.0.0.1`` (a free port by default); yields ``"host:port"``; stops after."""
        from prometheus_client import start_http_server

        server, thread = start_http_server(port, addr="127.0.0.1", registry=self.registry)
        try:
            yield f"127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
