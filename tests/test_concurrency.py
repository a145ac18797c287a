"""Unit tests of aieng.foundations.concurrency (Month 1, chapters/01-python/03-concurrency)."""

from __future__ import annotations

import asyncio
import math
import pickle
import time
from concurrent.futures import ProcessPoolExecutor

import pytest

from aieng.foundations.concurrency import async_io_task, count_primes, io_task, measure, predicted_time, run_async


def _sieve_count(n: int) -> int:
    if n < 3:
        return 0
    is_prime = [True] * n
    is_prime[0] = is_prime[1] = False
    for p in range(2, math.isqrt(n - 1) + 1):
        if is_prime[p]:
            is_prime[p * p :: p] = [False] * len(range(p * p, n, p))
    return sum(is_prime)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 10, 11, 100, 1000, 7919, 7920])
def test_count_primes_matches_a_sieve(n):
    assert count_primes(n) == _sieve_count(n)


def test_count_primes_known_values():
    assert count_primes(10) == 4
    assert count_primes(100) == 25


@pytest.mark.parametrize("bad, error", [(-1, ValueError), (2.5, TypeError), ("10", TypeError), (True, TypeError)])
def test_count_primes_rejects_bad_input(bad, error):
    with pytest.raises(error):
        count_primes(bad)


def test_count_primes_pickles_and_runs_in_a_process():
    assert pickle.loads(pickle.dumps(count_primes)) is count_primes
    with ProcessPoolExecutor(max_workers=1) as pool:
        assert list(pool.map(count_primes, [10, 100])) == [4, 25]


def test_io_task_waits_and_returns_delay():
    start = time.perf_counter()
    assert io_task(0.05) == 0.05
    assert time.perf_counter() - start >= 0.045
    with pytest.raises(ValueError):
        io_task(-0.1)


def test_async_io_task_overlaps_under_gather():
    async def main():
        return await asyncio.gather(*(async_io_task(0.05) for _ in range(5)))

    start = time.perf_counter()
    assert run_async(main()) == [0.05] * 5
    assert time.perf_counter() - start < 0.2  # 5 x 0.05 s would be 0.25 s one after another
    with pytest.raises(ValueError):
        run_async(async_io_task(-1))


def test_run_async_inside_a_running_loop():
    async def outer():
        return run_async(async_io_task(0.0))  # what a Jupyter cell does

    assert asyncio.run(outer()) == 0.0


def test_run_async_refuses_a_function():
    with pytest.raises(TypeError):
        run_async(async_io_task)  # forgot to call it


def test_measure_returns_the_best_time():
    t = measure(io_task, 0.02, repeat=2)
    assert 0.015 <= t < 0.5
    calls = []
    measure(calls.append, 1, repeat=4)
    assert calls == [1, 1, 1, 1]
    with pytest.raises(ValueError):
        measure(io_task, 0.0, repeat=0)


@pytest.mark.parametrize("n_tasks, workers, latency, expected", [
    (8, 1, 0.1, 0.8), (8, 2, 0.1, 0.4), (8, 3, 0.1, 0.3), (8, 8, 0.1, 0.1), (8, 100, 0.1, 0.1), (0, 4, 0.1, 0.0)])
def test_predicted_time(n_tasks, workers, latency, expected):
    assert predicted_time(n_tasks, workers, latency) == pytest.approx(expected)


@pytest.mark.parametrize("args", [(8, 0, 0.1), (-1, 2, 0.1), (8, 2, -0.1)])
def test_predicted_time_rejects_bad_input(args):
    with pytest.raises(ValueError):
        predicted_time(*args)
