"""Failing well: retries with exponential back-off and jitter, and a circuit breaker.

Taught in Month 11 (chapters/11-llmops), where the gateway (:mod:`aieng.ops.gateway`) retries a request
that a worker dropped on another worker, and stops sending to a worker that keeps failing.

**Back-off.** Retry ``k`` waits a random time in ``[0, min(cap, base * 2**k)]`` (AWS's "full jitter"):
the exponential growth gives a sick server room, the randomness stops many clients from retrying in
lock-step (a thundering herd).

**Circuit breaker.** Three states:

- ``closed``: calls pass; ``failure_threshold`` failures in a row open it;
- ``open``: calls are refused at once (no time wasted on a dead worker) for ``reset_timeout_s``;
- ``half_open``: after the timeout, ``half_open_max`` trial calls pass; a success closes the breaker,
  a failure opens it again for another timeout.

Time comes from ``clock`` (``time.monotonic`` by default) so a test can script it.

>>> from aieng.ops.breaker import CircuitBreaker
>>> now = [0.0]
>>> b = CircuitBreaker(failure_threshold=2, reset_timeout_s=10, clock=lambda: now[0])
>>> b.record_failure(); b.record_failure(); b.state
'open'
>>> now[0] = 10.0; b.allow(), b.state
(True, 'half_open')
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

__all__ = ["backoff", "CircuitBreaker", "CLOSED", "OPEN", "HALF_OPEN"]

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


def backoff(attempt: int, base_s: float = 0.05, cap_s: float = 2.0,
            rng: random.Random | None = None) -> float:
    """Seconds to wait before retry number ``attempt`` (0 for the first retry): full jitter.

    A uniform draw in ``[0, min(cap_s, base_s * 2**attempt)]``.
    """
    if attempt < 0 or base_s < 0 or cap_s < 0:
        raise ValueError(f"attempt, base_s and cap_s must be >= 0, got {attempt}, {base_s}, {cap_s}")
    ceiling = min(cap_s, base_s * 2.0 ** attempt)
    return (rng or random).uniform(0.0, ceiling)


class CircuitBreaker:
    """A closed / open / half-open state machine around calls to one dependency.

    Parameters
    ----------
    failure_threshold
        Consecutive failures that open a closed breaker.
    reset_timeout_s
        How long an open breaker refuses calls before letting trial calls through.
    half_open_max
        Trial calls let through while half-open (the others are refused until one reports).
    clock
        Seconds, monotonic (scripted in tests).
    """

    def __init__(self, failure_threshold: int = 3, reset_timeout_s: float = 5.0, half_open_max: int = 1,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if failure_threshold < 1 or reset_timeout_s <= 0 or half_open_max < 1:
            raise ValueError("failure_threshold >= 1, reset_timeout_s > 0 and half_open_max >= 1 required")
        self.failure_threshold, self.reset_timeout_s = failure_threshold, float(reset_timeout_s)
        self.half_open_max, self.clock = half_open_max, clock
        self._state, self._failures, self._opened_at, self._trials = CLOSED, 0, 0.0, 0
        self._lock = threading.Lock()
        self.transitions: list[tuple[float, str, str]] = []  # (time, from, to), for the notebook's figure

    def _move(self, to: str) -> None:
        if to != self._state:
            self.transitions.append((self.clock(), self._state, to))
        self._state = to
        if to == OPEN:
            self._opened_at, self._trials = self.clock(), 0
        elif to == HALF_OPEN:
            self._trials = 0
        else:
            self._failures = 0

    @property
    def state(self) -> str:
        """The state now (an open breaker whose timeout has passed reads ``half_open``)."""
        with self._lock:
            if self._state == OPEN and self.clock() - self._opened_at >= self.reset_timeout_s:
                self._move(HALF_OPEN)
            return self._state

    def allow(self) -> bool:
        """Whether a call may go now (a half-open breaker counts the trial it lets through)."""
        state = self.state
        with self._lock:
            if state == CLOSED:
                return True
            if state == HALF_OPEN and self._trials < self.half_open_max:
                self._trials += 1
                return True
            return False

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            if self._state != CLOSED:
                self._move(CLOSED)

    def record_failure(self) -> None:
        with self._lock:
            if self._state == HALF_OPEN:
                self._move(OPEN)
                return
            self._failures += 1
            if self._state == CLOSED and self._failures >= self.failure_threshold:
                self._move(OPEN)

    def retry_after(self) -> float:
        """Seconds until an open breaker lets a trial through (0 otherwise)."""
        with self._lock:
            if self._state != OPEN:
                return 0.0
            return max(0.0, self._opened_at + self.reset_timeout_s - self.clock())
