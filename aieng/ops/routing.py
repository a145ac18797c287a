"""Cost per request and routing between a small and a large model.

Taught in Month 11 (chapters/11-llmops/02-observe-version-evaluate).

Cost is tokens times a price per million tokens (:data:`PRICES`). **The prices are an assumption**, of
the order hosted small and large models were listed at, not a quote: change them to your provider's.
A :class:`Router` sends the requests a rule calls easy to the small model and the rest to the large one;
:func:`route_outcome` measures what that does to accuracy and cost against sending everything to one tier.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

__all__ = ["PRICES", "Router", "TierResult", "request_cost", "route_outcome", "short_request"]

PRICES: dict[str, dict[str, float]] = {
    "small": {"prompt": 0.05, "completion": 0.10},
    "large": {"prompt": 1.00, "completion": 3.00},
}
"""US dollars per million tokens, by tier (an assumption for teaching; not any provider's price list)."""


def request_cost(prompt_tokens: int, completion_tokens: int, tier: str,
                 prices: Mapping[str, Mapping[str, float]] = PRICES) -> float:
    """Cost in US dollars of one request on ``tier``."""
    if prompt_tokens < 0 or completion_tokens < 0:
        raise ValueError("token counts must be >= 0")
    if tier not in prices:
        raise KeyError(f"no price for tier {tier!r}; known: {sorted(prices)}")
    p = prices[tier]
    return (prompt_tokens * p["prompt"] + completion_tokens * p["completion"]) / 1e6


def short_request(max_words: int = 25) -> Callable[[str], bool]:
    """A difficulty rule: a request of at most ``max_words`` words is easy."""
    return lambda text: len(text.split()) <= max_words


@dataclass(frozen=True)
class Router:
    """Send a request to ``"small"`` when ``is_easy(text)``, else to ``"large"``."""

    is_easy: Callable[[str], bool]

    def route(self, text: str) -> str:
        return "small" if self.is_easy(text) else "large"


@dataclass(frozen=True)
class TierResult:
    """One request's outcome on one tier: was it right, and what it cost."""

    correct: bool
    cost: float


def route_outcome(routes: Sequence[str], results: Mapping[str, Sequence[TierResult]]) -> dict[str, float]:
    """Accuracy and total cost when request ``i`` goes to tier ``routes[i]``.

    ``results[tier][i]`` is request ``i``'s outcome on that tier (each tier measured on every request).
    """
    n = len(routes)
    if any(len(r) != n for r in results.values()):
        raise ValueError("every tier needs one result per request")
    picked = [results[t][i] for i, t in enumerate(routes)]
    return {"accuracy": sum(p.correct for p in picked) / n if n else 0.0,
            "cost": sum(p.cost for p in picked),
            "share_small": sum(t == "small" for t in routes) / n if n else 0.0}
