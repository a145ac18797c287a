"""Small, importable workloads for measuring threads, processes and asyncio.

Taught in Month 1 (chapters/01-python/03-concurrency).

A :class:`concurrent.futures.ProcessPoolExecutor` sends the function it runs to its worker processes
by *pickling* it, and a function pickles by reference: its module's name and its own name. Under the
"spawn" start method (the default on macOS and Windows) each worker imports that module afresh, so
a function defined in a notebook cannot be found there. The workloads therefore live here, in a module
every worker can import.

- :func:`count_primes` is CPU-bound: a pure-Python loop that holds the GIL the whole time.
- :func:`io_task` and :func:`async_io_task` are I/O-bound: they wait (sleep) and use no CPU,
  standing in for a network call or a disk read.
- :func:`measure` times a call; :func:`run_async` runs a coroutine to completion from any context,
  a Jupyter cell included.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["count_primes", "io_task", "async_io_task", "measure", "run_async", "predicted_time"]

T = TypeVar("T")


def count_primes(n: int) -> int:
    """Count the primes below ``n`` by trial division, in pure Python (deliberately CPU-bound).

    Parameters
    ----------
    n
        Upper bound (exclusive). Must be a non-negative integer.

    Returns
    -------
    int
        How many primes ``p`` satisfy ``2 <= p < n``.

    Raises
    ------
    TypeError
        If ``n`` is not an integer (``bool`` is refused too).
    ValueError
        If ``n`` is negative.

    Examples
    --------
    >>> count_primes(10)
    4
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"count_primes(n) needs an int, got {type(n).__name__}: {n!r}")
    if n < 0:
        raise ValueError(f"count_primes(n) needs n >= 0, got {n}")
    count = 0
    for candidate in range(2, n):
        is_prime = True
        for divisor in range(2, math.isqrt(candidate) + 1):
            if candidate % divisor == 0:
                is_prime = False
                break
        count += is_prime
    return count


def io_task(delay: float) -> float:
    """Wait ``delay`` seconds without using the CPU, as a network call would, and return ``delay``.

    Parameters
    ----------
    delay
        Seconds to wait (``>= 0``).

    Raises
    ------
    ValueError
        If ``delay`` is negative.
    """
    if delay < 0:
        raise ValueError(f"io_task(delay) needs delay >= 0 seconds, got {delay}")
    time.sleep(delay)
    return delay


async def async_io_task(delay: float) -> float:
    """The coroutine version of :func:`io_task`: ``await asyncio.sleep(delay)``, then return ``delay``.

    Parameters
    ----------
    delay
        Seconds to wait (``>= 0``).

    Raises
    ------
    ValueError
        If ``delay`` is negative.
    """
    if delay < 0:
        raise ValueError(f"async_io_task(delay) needs delay >= 0 seconds, got {delay}")
    await asyncio.sleep(delay)
    return delay


def measure(fn: Callable[..., Any], *args: Any, repeat: int = 3, **kwargs: Any) -> float:
    """Best wall-clock time in seconds of ``fn(*args, **kwargs)`` over ``repeat`` runs.

    The minimum is the least noisy estimate: every disturbance (another program, the garbage
    collector) only ever adds time.

    Parameters
    ----------
    fn
        The callable to time.
    *args, **kwargs
        Passed to ``fn``.
    repeat
        How many runs (``>= 1``).

    Returns
    -------
    float
        The fastest run, in seconds.

    Raises
    ------
    ValueError
        If ``repeat`` is less than 1.
    """
    if repeat < 1:
        raise ValueError(f"measure(..., repeat=) needs repeat >= 1, got {repeat}")
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args, **kwargs)
        best = min(best, time.perf_counter() - start)
    return best


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion and return its result, from plain code or from a notebook.

    ``asyncio.run`` refuses to start when an event loop is already running in this thread, which is
    the case inside a Jupyter cell. Then the coroutine runs with ``asyncio.run`` in a helper thread
    (which has no loop). In a notebook you can also simply write ``await coro`` in a cell.

    Parameters
    ----------
    coro
        A coroutine object, e.g. ``main()`` for an ``async def main()``.
    """
    if not asyncio.iscoroutine(coro):
        raise TypeError(f"run_async needs a coroutine (call your async function), got {type(coro).__name__}")
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # no loop here: the ordinary case in a script
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def predicted_time(n_tasks: int, workers: int, latency: float) -> float:
    """Ideal wall time of ``n_tasks`` waits of ``latency`` seconds shared by ``workers`` workers.

    The tasks run in ``ceil(n_tasks / workers)`` rounds, each taking ``latency`` seconds; overheads
    are ignored, so a measurement is never (much) below this.

    Raises
    ------
    ValueError
        If ``workers < 1``, ``n_tasks < 0`` or ``latency < 0``.
    """
    if workers < 1:
        raise ValueError(f"need at least one worker, got workers={workers}")
    if n_tasks < 0 or latency < 0:
        raise ValueError(f"n_tasks and latency must be >= 0, got n_tasks={n_tasks}, latency={latency}")
    return math.ceil(n_tasks / workers) * latency
