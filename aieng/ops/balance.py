"""Load balancing over model workers, and a bounded load generator that measures it.

Taught in Month 11 (chapters/11-llmops).

Two policies choose the worker for the next request (workers whose circuit breaker is open are skipped):

- :class:`RoundRobin`: the next one in turn. Fair when requests cost the same and workers are equal;
  blind to a worker that has fallen behind.
- :class:`LeastOutstanding`: the one with the fewest requests in flight (ties: in turn). A slow worker
  keeps more requests in flight, so it is sent fewer.

:func:`load_test` sends a fixed list of requests through a URL with at most ``concurrency`` in flight
(an async ``httpx`` client), and returns every latency and status; :func:`percentile` is the linear
interpolation numpy uses by default (the notebook asserts the two agree).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import math
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aieng.ops.breaker import CircuitBreaker

__all__ = ["Worker", "RoundRobin", "LeastOutstanding", "POLICIES", "percentile", "LoadResult", "load_test", "scrape"]


@dataclass
class Worker:
    """One upstream: its ``url``, requests in flight, and its circuit breaker."""

    url: str
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)
    outstanding: int = 0
    served: int = 0


class RoundRobin:
    """Each worker in turn."""

    name = "round_robin"

    def __init__(self) -> None:
        self._turn = itertools.count()
        self._lock = threading.Lock()

    def order(self, workers: Sequence[Worker]) -> list[Worker]:
        """The workers in the order to try them for the next request."""
        with self._lock:
            start = next(self._turn) % len(workers)
        return [workers[(start + i) % len(workers)] for i in range(len(workers))]


class LeastOutstanding(RoundRobin):
    """The worker with the fewest requests in flight first (ties broken in turn)."""

    name = "least_outstanding"

    def order(self, workers: Sequence[Worker]) -> list[Worker]:
        rotated = super().order(workers)
        return sorted(rotated, key=lambda w: w.outstanding)  # sorted() is stable: ties keep the turn


POLICIES = {"round_robin": RoundRobin, "least_outstanding": LeastOutstanding}


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation between order statistics (numpy's default).

    Equal to ``numpy.percentile`` to the last bit, because it rounds as numpy does: the position is
    ``q / 100 * (n - 1)``, and past the midpoint it interpolates back from the upper neighbour
    (``b - (b - a) * (1 - t)``). ``a + (b - a) * t`` everywhere differs from numpy in the last bit on about
    one call in nine.
    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"q must be in [0, 100], got {q}")
    xs = sorted(values)
    pos = q / 100 * (len(xs) - 1)
    lo = math.floor(pos)
    a, b = xs[lo], xs[min(lo + 1, len(xs) - 1)]
    t = pos - lo
    return b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t


@dataclass
class LoadResult:
    """What :func:`load_test` saw: per request ``latencies_s``, ``statuses``, ``retry_after`` headers
    (``None`` when absent), ``workers`` (the ``X-Worker`` header), ``errors`` (transport errors, no answer)
    and the run's ``wall_s``."""

    concurrency: int
    latencies_s: list[float]
    statuses: list[int]
    retry_after: list[str | None]
    workers: list[str | None]
    tokens: list[int]
    wall_s: float

    def summary(self) -> dict[str, Any]:
        ok = [t for t, s in zip(self.latencies_s, self.statuses) if s == 200]
        return {"concurrency": self.concurrency, "requests": len(self.statuses),
                "ok": len(ok), "p50_s": percentile(ok, 50) if ok else math.nan,
                "p95_s": percentile(ok, 95) if ok else math.nan,
                "throughput_rps": len(ok) / self.wall_s if self.wall_s > 0 else 0.0,
                "n_429": sum(s == 429 for s in self.statuses),
                "n_5xx": sum(s >= 500 for s in self.statuses),
                "n_5xx_without_retry_after": sum(s >= 500 and r is None
                                                 for s, r in zip(self.statuses, self.retry_after)),
                "no_answer": sum(s == 0 for s in self.statuses),
                "tokens": sum(self.tokens)}


async def _run(url: str, bodies: Sequence[Mapping[str, Any]], concurrency: int,
               headers: Mapping[str, str], timeout_s: float) -> LoadResult:
    import httpx

    n = len(bodies)
    lat, status = [math.nan] * n, [0] * n
    retry, who, toks = [None] * n, [None] * n, [0] * n  # type: ignore[list-item]
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=timeout_s, limits=limits, headers=dict(headers)) as client:
        async def one_client() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                t0 = time.perf_counter()
                try:
                    resp = await client.post(url, json=dict(bodies[i]))
                    status[i] = resp.status_code
                    retry[i] = resp.headers.get("retry-after")
                    who[i] = resp.headers.get("x-worker")
                    if resp.status_code == 200:
                        toks[i] = int(resp.json().get("usage", {}).get("completion_tokens", 0))
                except httpx.HTTPError:
                    status[i] = 0  # no answer at all: the one outcome a gateway must never give
                lat[i] = time.perf_counter() - t0

        t0 = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(min(concurrency, n))))
        wall = time.perf_counter() - t0
    return LoadResult(concurrency, lat, status, retry, who, toks, wall)


def load_test(url: str, bodies: Sequence[Mapping[str, Any]], concurrency: int,
              headers: Mapping[str, str] | None = None, timeout_s: float = 120.0) -> LoadResult:
    """POST each body to ``url`` with at most ``concurrency`` requests in flight (a closed loop).

    Runs its own event loop in a worker thread, so it works in Jupyter (whose loop is already running).
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _run(url, bodies, concurrency, dict(headers or {}),
                                             timeout_s)).result()


def scrape(url: str) -> dict[str, float]:
    """The gateway's ``/metrics`` as ``{"name{label=value}": number}`` (parsed by ``prometheus-client``)."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(url.rstrip("/") + "/metrics", timeout=10).text
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}" if labels else s.name] = float(s.value)
    return out
