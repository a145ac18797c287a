"""aieng.foundations.ratelimit: the from-scratch limiters agree with the ``limits`` library on a scripted clock."""

from __future__ import annotations

import random
import types
from unittest import mock

import pytest
from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from aieng.foundations.ratelimit import RateLimiter, SlidingWindowLog, TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def _library_decisions(times: list[float], limit: int, period: int, clock: Clock) -> list[bool]:
    """The ``limits`` moving window's answers, its clock (``time.time`` in its memory storage) scripted."""
    with mock.patch("limits.storage.memory.time", types.SimpleNamespace(time=clock)):
        limiter = MovingWindowRateLimiter(MemoryStorage())
        item = RateLimitItemPerSecond(limit, period)
        out = []
        for t in times:
            clock.now = t
            out.append(limiter.hit(item, "client"))
        return out


def _ours(make, times: list[float], clock: Clock) -> list[bool]:
    clock.now = times[0]
    limiter = make(clock)
    out = []
    for t in times:
        clock.now = t
        out.append(limiter.allow())
    return out


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("limit, period", [(1, 1), (5, 2), (3, 1)])
def test_sliding_window_log_matches_limits_moving_window(seed, limit, period):
    rng = random.Random(seed)
    times = sorted(1_000 + rng.uniform(0, 20) for _ in range(300))
    times += [times[-1] + period, times[-1] + period]  # exactly one period later: still inside the window
    clock = Clock()
    ref = _library_decisions(times, limit, period, clock)
    got = _ours(lambda c: SlidingWindowLog(limit, period, clock=c), times, clock)
    assert got == ref
    assert 0 < sum(ref) < len(ref)  # the sequence exercised both answers


@pytest.mark.parametrize("seed", range(5))
def test_token_bucket_of_one_token_matches_limits(seed):
    """A bucket of one token refilled every T seconds admits exactly what "1 per T" moving window does."""
    rng = random.Random(seed)
    times = sorted(1_000 + rng.uniform(0, 30) for _ in range(200))
    clock = Clock()
    ref = _library_decisions(times, 1, 1, clock)
    got = _ours(lambda c: TokenBucket(capacity=1, rate=1.0, clock=c), times, clock)
    assert got == ref and 0 < sum(ref) < len(ref)


def test_token_bucket_long_run_rate_matches_limits_under_a_flood():
    """Under a flood both admit the burst, then the same rate: within one burst of each other."""
    capacity, period = 5, 1
    times = [1_000 + i * 0.01 for i in range(2_000)]  # 100 requests a second for 20 s
    clock = Clock()
    ref = sum(_library_decisions(times, capacity, period, clock))
    got = sum(_ours(lambda c: TokenBucket(capacity, capacity / period, clock=c), times, clock))
    expected = capacity + (times[-1] - times[0]) * capacity / period
    assert abs(got - expected) <= 1
    assert abs(got - ref) <= capacity


def test_token_bucket_burst_refill_and_retry_after():
    clock = Clock()
    bucket = TokenBucket(capacity=3, rate=2.0, clock=clock)
    assert [bucket.allow() for _ in range(4)] == [True, True, True, False]
    assert bucket.retry_after() == pytest.approx(0.5)
    clock.now += 0.25
    assert not bucket.allow() and bucket.retry_after() == pytest.approx(0.25)
    clock.now += 10  # a long idle time refills to capacity, not beyond
    assert bucket.tokens == pytest.approx(3.0)
    assert bucket.retry_after(cost=4) == float("inf")
    clock.now -= 5  # a clock that goes back refills nothing
    assert bucket.tokens == pytest.approx(3.0)


@pytest.mark.parametrize("args", [(0, 1), (1, 0), (-1, 1)])
def test_bad_settings_are_refused(args):
    with pytest.raises(ValueError):
        TokenBucket(*args)
    with pytest.raises(ValueError):
        SlidingWindowLog(*args)


def test_rate_limiter_keeps_one_bucket_per_client_and_bounds_memory():
    clock = Clock()
    limiter = RateLimiter(capacity=2, rate=1.0, clock=clock, max_clients=3)
    assert [limiter.check("a").allowed for _ in range(3)] == [True, True, False]
    assert limiter.check("b").allowed  # another client has its own bucket
    refused = limiter.check("a")
    assert not refused.allowed and refused.retry_after == pytest.approx(1.0)
    for key in "cde":
        limiter.check(key)
    assert len(limiter._buckets) == 3
