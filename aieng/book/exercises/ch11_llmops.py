"""Exercises of Month 11, notebook 2: observe, version, evaluate (chapters/11-llmops/02-observe-version-evaluate)."""

from __future__ import annotations

import math
from typing import Any

from aieng.book.cases import Case, exercise, near, same_choice

_BOUNDS = (0.1, 0.25, 0.5, 1.0, math.inf)


def _quantile(q: float, bounds: tuple[float, ...], cumulative: tuple[float, ...]) -> float:
    """Prometheus's histogram_quantile, the reference the cases are computed with."""
    rank = q * cumulative[-1]
    for i, (b, c) in enumerate(zip(bounds, cumulative)):
        if c >= rank:
            if math.isinf(b):
                return bounds[i - 1]
            lo, below = (0.0, 0.0) if i == 0 else (bounds[i - 1], cumulative[i - 1])
            return lo + (b - lo) * (rank - below) / (c - below)
    raise AssertionError


def _quantile_case(q: float, cumulative: tuple[float, ...]) -> Case:
    def test(fn: Any) -> str | None:
        got = float(fn(q, list(_BOUNDS), list(cumulative)))
        want = _quantile(q, _BOUNDS, cumulative)
        return None if math.isclose(got, want, abs_tol=1e-9) else \
            f"quantile({q}, {list(_BOUNDS)}, {list(cumulative)}) gave {got}, expected {want}"
    return Case(test=test)


@exercise("11.bucket_quantile", hint="Prometheus stores cumulative bucket counts. Find the first bucket whose "
          "count reaches q times the total, then interpolate linearly between that bucket's lower and upper "
          "bound (the lower bound of the first bucket is 0; a rank in the +Inf bucket returns the last finite "
          "bound).")
def _bucket_quantile():
    return [_quantile_case(0.5, (10, 30, 40, 40, 40)), _quantile_case(0.95, (10, 30, 40, 40, 40)),
            _quantile_case(0.95, (0, 0, 5, 80, 100)), _quantile_case(0.05, (4, 8, 8, 9, 10)),
            _quantile_case(0.99, (1, 2, 3, 4, 50))]


def _rows() -> list[Any]:
    from aieng.ops.telemetry import SpanRow

    def row(name: str, sid: str, parent: str | None, start: float, end: float) -> SpanRow:
        return SpanRow(name, sid, parent, "t", start, end, True,
                       {"tool.name": name[5:]} if name.startswith("tool ") else {})
    return [row("request", "r", None, 0, 100), row("llm fill_slots", "l", "r", 1, 40),
            row("tool top_products", "a", "r", 41, 50), row("tool make_chart", "b", "r", 50, 70),
            row("tool make_chart", "c", "r", 70, 85), row("tool send_email", "d", "r", 85, 99)]


def _share_test(fn: Any) -> str | None:
    got = fn(_rows())
    want = {"llm": 0.39, "tools": 0.58, "other": 0.03}
    if not isinstance(got, dict) or set(got) != set(want):
        return f"expected a dict with keys {sorted(want)}, got {got!r}"
    bad = {k: got[k] for k in want if not math.isclose(float(got[k]), want[k], abs_tol=1e-9)}
    return None if not bad else f"wrong shares {bad}; expected {want}"


@exercise("11.time_shares", hint="The root span is the whole request. Sum the durations of its children whose "
          "names start with 'llm' and those that start with 'tool', divide each by the root's duration; what "
          "is left of the root's time is 'other'.")
def _time_shares():
    return [Case(test=_share_test)]


def _routing_data() -> tuple[list[str], dict[str, list[Any]]]:
    from aieng.agents.sales import make_requests
    from aieng.ops.routing import TierResult

    reqs = make_requests(40, seed=7, recipients=("management", "finance", "marketing"))
    # A scripted outcome table: the small tier gets the short wordings (templates 1 and 3) right only.
    small = [TierResult(r.template in (1, 3), 0.1) for r in reqs]
    large = [TierResult(True, 1.0) for r in reqs]
    return [r.text for r in reqs], {"small": small, "large": large}


def _router_test(fn: Any) -> str | None:
    from aieng.ops.routing import Router, route_outcome

    texts, results = _routing_data()
    router = Router(fn)
    out = route_outcome([router.route(t) for t in texts], results)
    if out["accuracy"] >= 0.95 and out["cost"] <= 28.0:
        return None
    return (f"accuracy {out['accuracy']:.2f} (need >= 0.95) at cost {out['cost']:.1f} (need <= 28.0; "
            f"everything on the large tier costs 40.0), {out['share_small']:.0%} sent to the small tier")


@exercise("11.cheap_router", hint="Measure first: route_outcome on the outcome table tells you which requests the "
          "small tier gets right. Print those texts beside the ones it gets wrong and look for wording that "
          "separates them; a rule on words is enough.")
def _cheap_router():
    return [Case(test=_router_test)]


@exercise("11.think_chance", hint="Two independent raters agree by chance when both say 'correct' or both say "
          "'wrong': add the two products of their marginal frequencies.", compare=near(abs_tol=0.005))
def _think_chance():
    return [Case(args=None, expected=0.82)]


@exercise("11.think_version", hint="Read Prompt.canonical: what is hashed, and what json.dumps(sort_keys=True) "
          "does to the order of keys.", compare=same_choice)
def _think_version():
    return [Case(args=None, expected="c")]
