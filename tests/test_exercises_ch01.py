"""Each Month 1 exercise accepts a correct reference answer and rejects a wrong one."""

from __future__ import annotations

import asyncio
import functools
import json
import math
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from aieng.book import CheckFailed, check, registry
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
class Vector:
    x: float
    y: float

    def __add__(self, other):
        return Vector(self.x + other.x, self.y + other.y)

    def __mul__(self, k):
        return Vector(self.x * k, self.y * k)

    def norm(self):
        return math.hypot(self.x, self.y)


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


def fetch_all(fetch, items, max_workers):
    with ThreadPoolExecutor(max_workers=max_workers) as pool:
        return list(pool.map(fetch, items))


async def fetch_all_async(fetch, items, limit):
    sem = asyncio.Semaphore(limit)

    async def one(x):
        async with sem:
            return await fetch(x)

    return list(await asyncio.gather(*(one(x) for x in items)))


def primes_parallel(limits, workers):
    if workers < 1:
        raise ValueError("need at least one worker")
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(count_primes, limits))


# ---- wrong answers ----------------------------------------------------------------------------

def normalize_no_checks(weights):
    total = sum(weights) or 1
    return [w / total for w in weights]


@dataclass  # not frozen: not hashable
class VectorMutable:
    x: float
    y: float

    def __add__(self, other):
        return VectorMutable(self.x + other.x, self.y + other.y)

    def __mul__(self, k):
        return VectorMutable(self.x * k, self.y * k)

    def norm(self):
        return math.hypot(self.x, self.y)


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


CASES = {
    "01.normalize": (normalize, normalize_no_checks),
    "01.vector": (Vector, VectorMutable),
    "01.retry": (retry, retry_no_wraps),
    "01.count_words": (count_words, count_words_recursive),
    "01.parse_pin": (parse_pin, parse_pin_lenient),
    "01.api_handler": (handle, handle_always_200),
    "01.fetch_in_order": (fetch_all, fetch_all_sequential),
    "01.fetch_async": (fetch_all_async, fetch_all_async_unlimited),
    "01.primes_parallel": (primes_parallel, primes_parallel_no_check),
}


def test_every_ch01_exercise_is_covered():
    assert {n for n in registry() if n.startswith("01.")} == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_reference_answer_passes(name):
    good, _ = CASES[name]
    assert check(name, good, strict=True, quiet=True)


@pytest.mark.parametrize("name", sorted(CASES))
def test_wrong_answer_fails(name):
    _, bad = CASES[name]
    with pytest.raises(CheckFailed):
        check(name, bad, strict=True, quiet=True)


@pytest.mark.parametrize("name", sorted(CASES))
def test_stub_reads_as_not_attempted(name):
    def stub(*args, **kwargs):
        raise NotImplementedError

    result = check(name, stub, strict=True, quiet=True)
    assert result.status == "not attempted"


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
    ("01.normalize", lambda ws: [w / sum(ws) for w in ws]),
])
def test_more_wrong_answers_fail(name, bad):
    with pytest.raises(CheckFailed):
        check(name, bad, strict=True, quiet=True)
