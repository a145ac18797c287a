"""aieng.ops.telemetry: spans read back from the exporter; metrics served and scraped over HTTP."""

from __future__ import annotations

import urllib.request

import pytest

from aieng.agents import Tool, ToolBox
from aieng.ops.telemetry import Metrics, TracedToolBox, check_tree, make_tracer, span_rows


def add(a: int, b: int) -> int:
    """Add two integers.

    Parameters
    ----------
    a
        First.
    b
        Second.
    """
    return a + b


def test_spans_nest_and_carry_attributes():
    tracer, exporter = make_tracer()
    tools = TracedToolBox(ToolBox([Tool.from_function(add)]), tracer)
    with tracer.start_as_current_span("request"):
        with tracer.start_as_current_span("llm call") as llm:
            llm.set_attribute("llm.tokens", 42)
        assert tools.call("add", {"a": 1, "b": 2}).value == 3
        assert not tools.call("add", {"a": "x"}).ok
    rows = span_rows(exporter.get_finished_spans())
    root = check_tree(rows)
    assert root.name == "request"
    assert [r.name for r in rows] == ["request", "llm call", "tool add", "tool add"]
    assert all(r.parent_id == root.span_id for r in rows[1:])
    assert rows[1].attributes["llm.tokens"] == 42
    assert rows[2].attributes["tool.name"] == "add" and rows[2].ok and not rows[3].ok
    assert "tools" in dir(tools.toolbox) or len(tools) == 1  # delegation


def test_check_tree_rejects_two_roots():
    tracer, exporter = make_tracer()
    with tracer.start_as_current_span("a"):
        pass
    with tracer.start_as_current_span("b"):
        pass
    with pytest.raises(ValueError, match="one root"):
        check_tree(span_rows(exporter.get_finished_spans()))


def test_metrics_served_on_loopback():
    metrics = Metrics()
    metrics.observe(0.3, tokens=100, cost_usd=0.001)
    metrics.observe(2.0, tokens=50, ok=False)
    with pytest.raises(ValueError):
        metrics.observe(-1)
    with metrics.serve() as address:
        assert address.startswith("127.0.0.1:")
        text = urllib.request.urlopen(f"http://{address}/metrics", timeout=5).read().decode()
    assert 'llm_requests_total{status="error"} 1.0' in text
    assert "llm_tokens_total 150.0" in text
    assert 'llm_request_seconds_bucket{le="0.5"} 1.0' in text
