"""aieng.ops.routing: cost per request and the router's accuracy/cost trade."""

from __future__ import annotations

import pytest

from aieng.ops.routing import PRICES, Router, TierResult, request_cost, route_outcome, short_request


def test_cost():
    assert request_cost(1_000_000, 0, "small") == pytest.approx(PRICES["small"]["prompt"])
    assert request_cost(1000, 500, "large") == pytest.approx((1000 * 1.0 + 500 * 3.0) / 1e6)
    with pytest.raises(KeyError):
        request_cost(1, 1, "huge")
    with pytest.raises(ValueError):
        request_cost(-1, 1, "small")


def test_router_trades_cost_for_accuracy():
    texts = ["short one", "a much longer request " * 10, "short two"]
    router = Router(short_request(5))
    routes = [router.route(t) for t in texts]
    assert routes == ["small", "large", "small"]
    results = {"small": [TierResult(True, 1.0), TierResult(False, 1.0), TierResult(True, 1.0)],
               "large": [TierResult(True, 10.0)] * 3}
    out = route_outcome(routes, results)
    assert out == {"accuracy": 1.0, "cost": 12.0, "share_small": pytest.approx(2 / 3)}
    with pytest.raises(ValueError):
        route_outcome(routes[:2], results)
