"""Reliability for agents: retries with back-off, idempotent tools, and trajectory checks.

Taught in Month 10 (chapters/10-multi-agent/02-the-enterprise-task-by-a-team).

What Month 9 already gives, and this module does not repeat:

- **timeouts**: every :class:`aieng.agents.tools.Tool` has ``timeout_s``, enforced by
  :meth:`aieng.agents.tools.ToolBox.call` (a worker thread, or a killed child process when ``isolated``);
- **budgets that end a run with a stated reason**: :class:`aieng.agents.Agent` (steps, tokens:
  :data:`aieng.agents.STOP_REASONS`) and :class:`aieng.agents.multi.Coordinator` (handoffs, tokens, wall time:
  :data:`aieng.agents.multi.TEAM_STOP_REASONS`).

What is here:

- :class:`RetryPolicy` and :func:`retry`: call again after a *transient* failure (a refused connection, a
  timeout), waiting ``base_s``, ``2 * base_s``, ``4 * base_s``, ... (capped, with optional jitter), and
  re-raise once the attempts are spent; a permanent failure (bad input, a refusal) is never retried;
- :func:`with_retries`: the same for a :class:`~aieng.agents.tools.Tool`;
- :func:`idempotent`: a tool whose side effect happens at most once per *idempotency key*: calling it again
  with the same key returns the first result and does nothing (sending twice sends once);
- :func:`check_trajectory`: the right tools, in a valid order, none repeated that must not be.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aieng.agents.tools import Tool

__all__ = ["TRANSIENT", "RetryLog", "RetryPolicy", "check_trajectory", "idempotency_key", "idempotent", "retry",
           "with_retries"]

TRANSIENT: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError)
"""Failures worth another try by default: the other side was down or slow, the request itself was fine.
(``ConnectionRefusedError`` and ``ConnectionResetError`` are ``ConnectionError``s; ``socket.timeout`` is
``TimeoutError``.)"""


@dataclass(frozen=True)
class RetryPolicy:
    """How to retry: at most ``attempts`` calls, waiting ``base_s * factor**i`` (at most ``max_s``) between them.

    Parameters
    ----------
    attempts
        Calls in all, the first included (1 = no retry).
    base_s, factor, max_s
        The exponential back-off: the waits are ``base_s``, ``base_s * factor``, ... capped at ``max_s``.
    jitter
        Fraction of each wait drawn at random (``0.5``: between half and the full wait), so that many
        clients that failed together do not retry together; ``0`` keeps the waits exact.
    on
        The exception types that count as transient; anything else is re-raised at once.
    """

    attempts: int = 3
    base_s: float = 0.1
    factor: float = 2.0
    max_s: float = 2.0
    jitter: float = 0.0
    on: tuple[type[BaseException], ...] = TRANSIENT

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {self.attempts}")
        if self.base_s < 0 or self.max_s < 0 or self.factor < 1:
            raise ValueError("base_s and max_s must be >= 0 and factor >= 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter is a fraction between 0 and 1, got {self.jitter}")

    def delays(self, rng: random.Random | None = None) -> list[float]:
        """The waits between attempts (``attempts - 1`` of them), jitter applied with ``rng``."""
        rng = rng or random.Random(0)
        out = []
        for i in range(self.attempts - 1):
            d = min(self.max_s, self.base_s * self.factor ** i)
            out.append(d * (1 - self.jitter * rng.random()))
        return out


@dataclass
class RetryLog:
    """What :func:`retry` did: one entry per failed attempt, ``(attempt, error, waited_s)``."""

    failures: list[tuple[int, str, float]] = field(default_factory=list)


def retry(fn: Callable[..., Any], *args: Any, policy: RetryPolicy | None = None,
          sleep: Callable[[float], None] = time.sleep, log: RetryLog | None = None, **kwargs: Any) -> Any:
    """Call ``fn(*args, **kwargs)``; on a transient failure wait and call again, as ``policy`` says.

    Returns the first successful result; re-raises the last transient error when the attempts run out, and
    any other error at once (retrying a wrong request only repeats it). ``sleep`` is injectable for tests;
    ``log`` collects the failures.
    """
    policy = policy or RetryPolicy()
    waits = policy.delays()
    for attempt in range(1, policy.attempts + 1):
        try:
            return fn(*args, **kwargs)
        except policy.on as exc:
            if attempt == policy.attempts:
                raise
            wait = waits[attempt - 1]
            if log is not None:
                log.failures.append((attempt, f"{type(exc).__name__}: {exc}", wait))
            sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


def with_retries(tool: Tool, policy: RetryPolicy | None = None, log: RetryLog | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> Tool:
    """A copy of ``tool`` whose function is retried on transient failures (see :func:`retry`).

    The tool's ``timeout_s`` still bounds *each* call as the :class:`~aieng.agents.tools.ToolBox` makes it,
    so give it room for the waits: it is raised by the sum of the back-off delays.
    """
    policy = policy or RetryPolicy()
    fn = tool.fn

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        return retry(fn, *args, policy=policy, sleep=sleep, log=log, **kwargs)

    return dataclasses.replace(tool, fn=wrapped, timeout_s=tool.timeout_s * policy.attempts + sum(policy.delays()))


def idempotency_key(name: str, arguments: Mapping[str, Any]) -> str:
    """A stable key for one call: SHA-256 of the tool's name and its arguments as canonical JSON."""
    text = json.dumps({"tool": name, "arguments": arguments}, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def idempotent(tool: Tool, key: Callable[[Mapping[str, Any]], str] | Iterable[str] | None = None,
               store: dict[str, Any] | None = None) -> Tool:
    """A copy of ``tool`` that runs at most once per idempotency key; a repeat returns the first result.

    Parameters
    ----------
    key
        How a call's key is made: a function of the arguments, or the names of the arguments that identify
        the side effect (``["to", "subject", "report"]``: the same report to the same person is one email,
        whatever else differs); default all the arguments (:func:`idempotency_key`).
    store
        Where keys and results are kept (default a new dict; pass a shared one, or a table in a database
        in production, so that a restarted worker still knows what it did).

    Only successful calls are remembered: a call that raised may be made again. A lock makes two
    concurrent calls with one key run the side effect once.
    """
    memo: dict[str, Any] = {} if store is None else store
    lock = threading.Lock()
    fields = None if key is None or callable(key) else list(key)
    fn = tool.fn

    def make_key(arguments: Mapping[str, Any]) -> str:
        if callable(key):
            return str(key(arguments))
        chosen = arguments if fields is None else {f: arguments.get(f) for f in fields}
        return idempotency_key(tool.name, chosen)

    @functools.wraps(fn)
    def wrapped(**kwargs: Any) -> Any:
        k = make_key(kwargs)
        with lock:
            if k in memo:
                return memo[k]
            result = fn(**kwargs)
            memo[k] = result
            return result

    new = dataclasses.replace(tool, fn=wrapped)
    new.idempotency_store = memo  # type: ignore[attr-defined]
    return new


def check_trajectory(calls: Sequence[str], required: Sequence[str] = (),
                     before: Sequence[tuple[str, str]] = (), at_most_once: Sequence[str] = (),
                     allowed: Sequence[str] | None = None) -> list[str]:
    """Judge the *path* of a run, not only its result: an empty list means the trajectory is valid.

    Parameters
    ----------
    calls
        The tools (or agents) called, in order.
    required
        Each must appear at least once.
    before
        Pairs ``(a, b)``: every ``b`` comes after some ``a`` (``("request_approval", "send_email")``: no email
        before an approval).
    at_most_once
        Names that may appear once at most (a side effect: ``send_email``).
    allowed
        When given, any other name is a problem.
    """
    problems = []
    calls = list(calls)
    for name in required:
        if name not in calls:
            problems.append(f"{name} was never called")
    for a, b in before:
        for i, c in enumerate(calls):
            if c == b and a not in calls[:i]:
                problems.append(f"{b} (call {i + 1}) came before any {a}")
                break
    for name in at_most_once:
        n = calls.count(name)
        if n > 1:
            problems.append(f"{name} was called {n} times (at most once)")
    if allowed is not None:
        extra = sorted(set(calls) - set(allowed))
        if extra:
            problems.append(f"calls outside the allowed set: {extra}")
    return problems
