"""Rate limits from scratch: a token bucket, a sliding-window log, and one limiter per client.

Taught in Month 3 (chapters/03-databases-and-apis), where the bucket is checked against the ``limits``
library on a scripted clock and enforced in a FastAPI app (:mod:`aieng.foundations.webapp`); reused by
the LLM gateway of Month 11 and the SaaS lab.

A **token bucket** holds at most ``capacity`` tokens and refills at ``rate`` tokens per second; a request
spends ``cost`` tokens or is refused. It lets a client burst up to ``capacity`` requests, then holds it to
``rate`` requests per second. A **sliding-window log** admits a request when fewer than ``limit`` were
admitted in the last ``period`` seconds: each spent token comes back exactly ``period`` seconds after it
was spent (the ``limits`` library calls it the *moving window*).

Every limiter takes a ``clock`` (a function returning seconds, ``time.monotonic`` by default), so a test
can script time instead of sleeping.

>>> from aieng.foundations.ratelimit import TokenBucket
>>> bucket = TokenBucket(capacity=2, rate=1.0, clock=lambda: 0.0)
>>> [bucket.allow() for _ in range(3)]
[True, True, False]
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["TokenBucket", "SlidingWindowLog", "RateLimiter", "Decision"]

Clock = Callable[[], float]


class TokenBucket:
    """At most ``capacity`` tokens, refilled continuously at ``rate`` tokens per second; starts full."""

    def __init__(self, capacity: float, rate: float, clock: Clock = time.monotonic) -> None:
        if capacity <= 0 or rate <= 0:
            raise ValueError(f"capacity and rate must be > 0, got capacity={capacity}, rate={rate}")
        self.capacity, self.rate, self.clock = float(capacity), float(rate), clock
        self._tokens = self.capacity
        self._last = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self.clock()
        elapsed = max(0.0, now - self._last)  # a clock that goes back refills nothing
        self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)
        self._last = now

    @property
    def tokens(self) -> float:
        """Tokens in the bucket now."""
        with self._lock:
            self._refill()
            return self._tokens

    def allow(self, cost: float = 1.0) -> bool:
        """Spend ``cost`` tokens if the bucket holds them; ``False`` (and nothing spent) otherwise."""
        with self._lock:
            self._refill()
            if self._tokens >= cost:
                self._tokens -= cost
                return True
            return False

    def retry_after(self, cost: float = 1.0) -> float:
        """Seconds until ``cost`` tokens are available (0 when they are now); ``inf`` if never."""
        if cost > self.capacity:
            return math.inf
        with self._lock:
            self._refill()
            return max(0.0, (cost - self._tokens) / self.rate)


class SlidingWindowLog:
    """Admit a request when fewer than ``limit`` were admitted in the last ``period`` seconds."""

    def __init__(self, limit: int, period: float, clock: Clock = time.monotonic) -> None:
        if limit < 1 or period <= 0:
            raise ValueError(f"limit must be >= 1 and period > 0, got limit={limit}, period={period}")
        self.limit, self.period, self.clock = int(limit), float(period), clock
        self._admitted: deque[float] = deque()  # times of the admitted requests, oldest first
        self._lock = threading.Lock()

    def _forget(self, now: float) -> None:
        while self._admitted and self._admitted[0] < now - self.period:
            self._admitted.popleft()

    def allow(self) -> bool:
        with self._lock:
            now = self.clock()
            self._forget(now)
            if len(self._admitted) < self.limit:
                self._admitted.append(now)
                return True
            return False

    def retry_after(self) -> float:
        """Seconds until the oldest admitted request leaves the window (0 when one is admitted now)."""
        with self._lock:
            now = self.clock()
            self._forget(now)
            if len(self._admitted) < self.limit:
                return 0.0
            return max(0.0, self._admitted[0] + self.period - now)


class Decision:
    """What :meth:`RateLimiter.check` decided: ``allowed``, and ``retry_after`` seconds when refused."""

    __slots__ = ("allowed", "retry_after", "remaining")

    def __init__(self, allowed: bool, retry_after: float, remaining: float) -> None:
        self.allowed, self.retry_after, self.remaining = allowed, retry_after, remaining

    def __repr__(self) -> str:
        return f"Decision(allowed={self.allowed}, retry_after={self.retry_after:.3f}, " \
               f"remaining={self.remaining:.3f})"


class RateLimiter:
    """One :class:`TokenBucket` per client key (an API key's owner, a token's subject, an address).

    Buckets are made on first use; ``max_clients`` bounds memory by forgetting the least recently
    seen client (a forgotten client comes back with a full bucket).
    """

    def __init__(self, capacity: float, rate: float, clock: Clock = time.monotonic,
                 max_clients: int = 10_000) -> None:
        TokenBucket(capacity, rate, clock)  # validates the settings
        self.capacity, self.rate, self.clock, self.max_clients = capacity, rate, clock, max_clients
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def bucket(self, key: str) -> TokenBucket:
        with self._lock:
            bucket = self._buckets.pop(key, None) or TokenBucket(self.capacity, self.rate, self.clock)
            self._buckets[key] = bucket  # re-inserted: the dict's order is least recently seen first
            while len(self._buckets) > self.max_clients:
                del self._buckets[next(iter(self._buckets))]
            return bucket

    def check(self, key: str, cost: float = 1.0) -> Decision:
        bucket = self.bucket(key)
        if bucket.allow(cost):
            return Decision(True, 0.0, bucket.tokens)
        return Decision(False, bucket.retry_after(cost), bucket.tokens)
