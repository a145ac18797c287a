"""Each Month 1 exercise accepts a correct reference answer and rejects a wrong one."""

from __future__ import annotations

import asyncio
import functools
import json
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from aieng.book import CheckFailed, check, registry
from _exercise_contract import contract
from aieng.foundations.concurrency import count_primes

# ---- reference answers ------------------------------------------------------------------------

def normalize(weights):
    if not weights:
        raise ValueError("need at least one weight")
    if any(w < 0 for w in weights):
        raise ValueError("weights must be >= 0")
    total = sum(weights)
    if total == 0:
        raise ValueError("weights sum to zero")
    return [w / total for w in weights]


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def __post_init__(self):
        if self.low > self.high:
            raise ValueError("low > high")

    @property
    def width(self):
        return self.high - self.low

    def __contains__(self, x):
        return self.low <= x <= self.high

    def __and__(self, other):
        low, high = max(self.low, other.low), min(self.high, other.high)
        return Interval(low, high) if low <= high else None


class RunningVariance:  # Welford
    def __init__(self):
        self.count, self.mean, self.m2 = 0, 0.0, 0.0

    def update(self, x):
        self.count += 1
        delta = x - self.mean
        self.mean += delta / self.count
        self.m2 += delta * (x - self.mean)

    @property
    def value(self):
        if self.count == 0:
            raise ValueError("no values")
        return self.m2 / self.count


def retry(times):
    if times < 1:
        raise ValueError("times must be >= 1")

    def decorator(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            for attempt in range(times):
                try:
                    return fn(*args, **kwargs)
                except Exception as err:
                    last = err
            raise last

        return wrapper

    return decorator


def count_words(folder):
    return {p.name: len(p.read_text(encoding="utf-8").split()) for p in Path(folder).glob("*.txt")}


def parse_pin(line):
    line = line.split("#", 1)[0].strip()
    name, sep, version = line.partition("==")
    if not sep or not name.strip() or not version.strip() or any(c in name for c in "<>=!~"):
        raise ValueError(f"not a pin: {line!r}")
    return name.strip().lower().replace("_", "-"), version.strip()


def handle(method, path, body):
    routes = {"/health": "GET", "/count": "POST"}
    if path not in routes:
        return 404, {"error": f"no such path {path}"}
    if method != routes[path]:
        return 405, {"error": f"use {routes[path]}"}
    if path == "/health":
        return 200, {"status": "ok"}
    try:
        data = json.loads(body)
    except json.JSONDecodeError:
        return 400, {"error": "body is not JSON"}
    if not isinstance(data, dict) or not isinstance(data.get("text"), str):
        return 400, {"error": "need {'text': <string>}"}
    return 200, {"words": len(data["text"].split())}


def fetch_many(base_url, paths):
    with httpx.Client(base_url=base_url, timeout=5.0) as client:
        replies = [client.get(p) for p in paths]
    for r in replies:
        r.raise_for_status()
    return [r.json() for r in replies]


def fetch_all(fetch, items, max_workers):
    with ThreadPoolExecutor(max_workers=max_workers) as pool:
        futures = [pool.submit(fetch, x) for x in items]
        return [f.exception() or f.result() for f in futures]


async def fetch_all_async(fetch, items, limit):
    sem = asyncio.Semaphore(limit)

    async def one(x):
        async with sem:
            return await fetch(x)

    return list(await asyncio.gather(*(one(x) for x in items)))


def primes_parallel(limits, workers):
    if workers < 1:
        raise ValueError("need at least one worker")
    chunksize = max(1, len(limits) // (4 * workers))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(count_primes, limits, chunksize=chunksize))


# ---- wrong answers ----------------------------------------------------------------------------

def normalize_no_checks(weights):
    total = sum(weights) or 1
    return [w / total for w in weights]


@dataclass  # not frozen: not hashable, and no validation
class IntervalMutable:
    low: float
    high: float

    @property
    def width(self):
        return self.high - self.low

    def __contains__(self, x):
        return self.low <= x <= self.high

    def __and__(self, other):
        low, high = max(self.low, other.low), min(self.high, other.high)
        return IntervalMutable(low, high) if low <= high else None


class RunningVarianceNaive:  # sum and sum of squares: cancels catastrophically
    def __init__(self):
        self.count, self.total, self.total_sq = 0, 0.0, 0.0

    def update(self, x):
        self.count += 1
        self.total += x
        self.total_sq += x * x

    @property
    def value(self):
        if self.count == 0:
            raise ValueError("no values")
        mean = self.total / self.count
        return self.total_sq / self.count - mean * mean


def fetch_many_fresh(base_url, paths):  # a new connection per request
    replies = [httpx.get(base_url + p, timeout=5.0) for p in paths]
    for r in replies:
        r.raise_for_status()
    return [r.json() for r in replies]


def retry_no_wraps(times):
    def decorator(fn):
        def wrapper(*args, **kwargs):
            return fn(*args, **kwargs)
        return wrapper
    return decorator


def count_words_recursive(folder):
    return {p.name: len(p.read_text(encoding="utf-8").split()) for p in Path(folder).rglob("*.txt")}


def parse_pin_lenient(line):
    name, _, version = line.strip().partition("==")
    return name.lower(), version


def handle_always_200(method, path, body):
    return 200, {"status": "ok"}


def fetch_all_sequential(fetch, items, max_workers):
    return [fetch(x) for x in items]


async def fetch_all_async_unlimited(fetch, items, limit):
    return list(await asyncio.gather(*(fetch(x) for x in items)))


def primes_parallel_no_check(limits, workers):
    return [count_primes(n) for n in limits]


def primes_parallel_chunk_one(limits, workers):  # correct, but one round trip per task
    if workers < 1:
        raise ValueError("need at least one worker")
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(count_primes, limits))


CASES = {
    "01.normalize": (normalize, normalize_no_checks),
    "01.interval": (Interval, IntervalMutable),
    "01.retry": (retry, retry_no_wraps),
    "01.running_var": (RunningVariance, RunningVarianceNaive),
    "01.think_defaults": (6, 3),
    "01.count_words": (count_words, count_words_recursive),
    "01.parse_pin": (parse_pin, parse_pin_lenient),
    "01.api_handler": (handle, handle_always_200),
    "01.fetch_many": (fetch_many, fetch_many_fresh),
    "01.think_atomic": ("C", "d"),
    "01.fetch_in_order": (fetch_all, fetch_all_sequential),
    "01.fetch_async": (fetch_all_async, fetch_all_async_unlimited),
    "01.primes_parallel": (primes_parallel, primes_parallel_no_check),
    "01.think_gil": (5.0, 12.0),
    "01.think_event_loop": ("b", "a"),
}


def test_every_ch01_exercise_is_covered():
    assert {n for n in registry() if n.startswith("01.")} == set(CASES)


test_reference_answer_passes, test_wrong_answer_fails, test_stub_reads_as_not_attempted = contract(CASES)




# ---- more wrong answers, each missing one requirement ----------------------------------------

def retry_swallows(times):
    def decorator(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            for _ in range(times):
                try:
                    return fn(*args, **kwargs)
                except Exception:
                    pass
            return None  # gives up silently instead of re-raising
        return wrapper
    return decorator


def handle_no_405(method, path, body):
    if path == "/health":
        return 200, {"status": "ok"}
    if path == "/count":
        try:
            data = json.loads(body)
        except json.JSONDecodeError:
            return 400, {"error": "not JSON"}
        if not isinstance(data, dict) or not isinstance(data.get("text"), str):
            return 400, {"error": "need text"}
        return 200, {"words": len(data["text"].split())}
    return 404, {"error": "unknown"}


def parse_pin_no_normalise(line):
    name, sep, version = line.split("#", 1)[0].strip().partition("==")
    if not sep or not name or not version or any(c in name for c in "<>=!~"):
        raise ValueError(line)
    return name, version


def count_words_all_files(folder):
    return {p.name: len(p.read_text(encoding="utf-8").split()) for p in Path(folder).iterdir() if p.is_file()}


async def fetch_all_async_sequential(fetch, items, limit):
    return [await fetch(x) for x in items]


def fetch_all_map(fetch, items, max_workers):  # order kept, but one failure loses every result
    with ThreadPoolExecutor(max_workers=max_workers) as pool:
        return list(pool.map(fetch, items))


@dataclass(frozen=True)
class IntervalUnchecked(Interval):  # no validation
    def __post_init__(self):
        pass


@dataclass(frozen=True)
class IntervalOpen(Interval):  # ends excluded
    def __contains__(self, x):
        return self.low < x < self.high


class RunningVarianceStores:  # exact, but keeps the whole stream
    def __init__(self):
        self.values = []

    def update(self, x):
        self.values.append(x)

    @property
    def value(self):
        if not self.values:
            raise ValueError("no values")
        import numpy as np

        return float(np.var(self.values))


def fetch_many_no_raise(base_url, paths):
    with httpx.Client(base_url=base_url, timeout=5.0) as client:
        return [client.get(p).json() for p in paths]


def fetch_all_reordered(fetch, items, max_workers):
    from concurrent.futures import as_completed

    with ThreadPoolExecutor(max_workers=max_workers) as pool:
        return [f.result() for f in as_completed([pool.submit(fetch, x) for x in items])]


@pytest.mark.parametrize("name, bad", [
    ("01.retry", retry_swallows),
    ("01.api_handler", handle_no_405),
    ("01.parse_pin", parse_pin_no_normalise),
    ("01.count_words", count_words_all_files),
    ("01.fetch_async", fetch_all_async_sequential),
    ("01.fetch_in_order", fetch_all_reordered),
    ("01.fetch_in_order", fetch_all_map),
    ("01.interval", IntervalUnchecked),
    ("01.interval", IntervalOpen),
    ("01.running_var", RunningVarianceStores),
    ("01.fetch_many", fetch_many_no_raise),
    ("01.primes_parallel", primes_parallel_chunk_one),
    ("01.normalize", lambda ws: [w / sum(ws) for w in ws]),
])
def test_more_wrong_answers_fail(name, bad):
    with pytest.raises(CheckFailed):
        check(name, bad, strict=True, quiet=True)
