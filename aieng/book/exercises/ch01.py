"""Exercises of Month 1, Python as an engineering language (chapters/01-python).

01-functions-classes-errors: ``01.normalize``, ``01.vector``, ``01.retry``.
02-files-packages-apis: ``01.count_words``, ``01.parse_pin``, ``01.api_handler``.
03-concurrency: ``01.fetch_in_order``, ``01.fetch_async``, ``01.primes_parallel``.
"""

from __future__ import annotations

import json
import math
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from aieng.book.cases import Case, exercise

# --------------------------------------------------------------------------------------------
# 01-functions-classes-errors
# --------------------------------------------------------------------------------------------


@exercise("01.normalize", hint="Check the input first (empty? any negative? a zero total?) and raise "
          "ValueError with a message; then return [w / total for w in weights].")
def _normalize():
    return [
        Case(([1.0, 3.0],), expected=[0.25, 0.75]),
        Case(([2, 2, 4],), expected=[0.25, 0.25, 0.5]),
        Case(([5.0],), expected=[1.0]),
        Case(([0.0, 0.0, 1.0],), expected=[0.0, 0.0, 1.0]),
        Case(([],), raises=ValueError),
        Case(([1.0, -1.0, 2.0],), raises=ValueError),
        Case(([0.0, 0.0],), raises=ValueError),
    ]


def _vector_add(Vector: Any) -> str | None:
    a, b = Vector(1.0, 2.0), Vector(3.0, 4.0)
    if a + b != Vector(4.0, 6.0):
        return f"Vector(1, 2) + Vector(3, 4) gave {a + b!r}, expected Vector(x=4.0, y=6.0)"
    if (a + b) is a or a.x != 1.0:
        return "a + b should return a new Vector and leave a unchanged"
    return None


def _vector_mul(Vector: Any) -> str | None:
    a = Vector(1.0, 2.0)
    if a * 3 != Vector(3.0, 6.0):
        return f"Vector(1, 2) * 3 gave {a * 3!r}, expected Vector(x=3.0, y=6.0)"
    return None


def _vector_norm(Vector: Any) -> str | None:
    for v, expected in [(Vector(3.0, 4.0), 5.0), (Vector(0.0, 0.0), 0.0), (Vector(-1.0, 0.0), 1.0)]:
        if not math.isclose(v.norm(), expected):
            return f"{v!r}.norm() gave {v.norm()!r}, expected {expected}"
    return None


def _judge_vector(Vector: Any) -> str | None:
    a = Vector(1.0, 2.0)
    if Vector(1.0, 2.0) != a or Vector(2.0, 1.0) == a:
        return "equality should compare x and y (a dataclass gives you __eq__)"
    try:
        if len({Vector(1.0, 2.0), Vector(1.0, 2.0), Vector(0.0, 0.0)}) != 2:
            return "equal vectors should have equal hashes: a set of them has the wrong size"
    except TypeError:
        return "Vector is not hashable: make it a frozen dataclass"
    try:
        a.x = 10.0
    except AttributeError:  # dataclasses.FrozenInstanceError is an AttributeError
        pass
    else:
        return "assigning v.x = 10 worked: a frozen Vector should refuse it"
    return None


@exercise("01.vector", hint="Use @dataclass(frozen=True) with fields x and y, and define __add__, "
          "__mul__ (vector times a number) and norm() (math.hypot).")
def _vector():
    return [Case(test=_vector_add), Case(test=_vector_mul), Case(test=_vector_norm), Case(test=_judge_vector)]


class _Flaky:
    """A callable that fails ``failures`` times with ConnectionError, then returns ``"ok"``."""

    def __init__(self, failures: int):
        self.failures = failures
        self.calls = 0

    def __call__(self, x: int = 0) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError(f"attempt {self.calls}: server unavailable")
        return f"ok {x}"


def _retry_keeps_name(retry: Any) -> str | None:
    def fetch(x: int = 0) -> str:
        """Fetch something."""
        return "ok"

    wrapped = retry(3)(fetch)
    if getattr(wrapped, "__name__", None) != "fetch" or wrapped.__doc__ != "Fetch something.":
        return "the decorated function lost its name or docstring: use functools.wraps"
    return None


def _retry_recovers(retry: Any) -> str | None:
    flaky = _Flaky(failures=2)
    got = retry(3)(flaky)(7)
    if got != "ok 7" or flaky.calls != 3:
        return (f"with retry(3) and a function failing twice, expected 'ok 7' after 3 calls; "
                f"got {got!r} after {flaky.calls} calls")
    once = _Flaky(failures=0)
    if retry(5)(once)(1) != "ok 1" or once.calls != 1:
        return f"a function that succeeds at once should be called once, it was called {once.calls} times"
    return None


def _retry_gives_up(retry: Any) -> str | None:
    always = _Flaky(failures=10**6)
    try:
        retry(2)(always)()
    except ConnectionError:
        if always.calls != 2:
            return f"retry(2) called the function {always.calls} times, expected exactly 2"
        return None
    return "retry(2) on a function that always fails should re-raise its last exception"


def _retry_refuses_zero(retry: Any) -> str | None:
    try:
        retry(0)
    except ValueError:
        return None
    return "retry(0) should raise ValueError (at least one attempt is needed)"


@exercise("01.retry", hint="Three levels: retry(times) checks times and returns a decorator; the "
          "decorator wraps fn with @functools.wraps(fn); the wrapper loops `for attempt in range(times)`, "
          "returns on success, remembers the exception and raises it after the last attempt.")
def _retry():
    return [Case(test=_retry_keeps_name), Case(test=_retry_recovers), Case(test=_retry_gives_up),
            Case(test=_retry_refuses_zero)]


# --------------------------------------------------------------------------------------------
# 02-files-packages-apis
# --------------------------------------------------------------------------------------------


def _judge_count_words(count_words: Any, as_str: bool = False) -> str | None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "a.txt").write_text("the cat sat\non the mat\n", encoding="utf-8")
        (folder / "b.txt").write_text("  hello   world  ", encoding="utf-8")
        (folder / "empty.txt").write_text("", encoding="utf-8")
        (folder / "notes.md").write_text("not a text file at all", encoding="utf-8")
        (folder / "sub").mkdir()
        (folder / "sub" / "c.txt").write_text("in a subfolder", encoding="utf-8")
        expected = {"a.txt": 6, "b.txt": 2, "empty.txt": 0}
        arg = str(folder) if as_str else folder
        got = count_words(arg)
        if got != expected:
            return f"count_words(<a {type(arg).__name__}>) returned {got!r}, expected {expected!r}"
    return None


@exercise("01.count_words", hint="Path(folder).glob('*.txt') lists the .txt files directly inside; "
          "len(path.read_text(encoding='utf-8').split()) counts words; key the dict by path.name.")
def _count_words():
    return [Case(test=_judge_count_words), Case(test=lambda fn: _judge_count_words(fn, as_str=True))]


@exercise("01.parse_pin", hint="Drop any '# comment' and whitespace, split on '==' (exactly one), "
          "check both sides are non-empty and the name has no other operator; normalise the name with "
          ".lower().replace('_', '-').")
def _parse_pin():
    return [
        Case(("numpy==1.26.4",), expected=("numpy", "1.26.4")),
        Case(("  httpx==0.28.1   # HTTP client\n",), expected=("httpx", "0.28.1")),
        Case(("Typing_Extensions==4.12.2",), expected=("typing-extensions", "4.12.2")),
        Case(("numpy>=1.26",), raises=ValueError),
        Case(("numpy",), raises=ValueError),
        Case(("",), raises=ValueError),
        Case(("==1.0",), raises=ValueError),
        Case(("torch==",), raises=ValueError),
    ]


def _judge_api(handle: Any, part: str) -> str | None:
    def call(method: str, path: str, body: Any = b"") -> tuple[int, dict]:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        result = handle(method, path, raw)
        if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], dict)):
            raise AssertionError(f"handle({method!r}, {path!r}, ...) should return (status, dict), got {result!r}")
        return result

    def is_error(result: tuple[int, dict], status: int, what: str) -> str | None:
        code, payload = result
        if code != status:
            return f"{what}: expected status {status}, got {code} with {payload!r}"
        if not isinstance(payload.get("error"), str) or not payload["error"]:
            return f"{what}: the {status} reply should explain itself in payload['error'], got {payload!r}"
        return None

    if part == "health":
        if (got := call("GET", "/health")) != (200, {"status": "ok"}):
            return f"GET /health returned {got!r}, expected (200, {{'status': 'ok'}})"
        return None
    if part == "count":
        for text, words in [("the cat sat", 3), ("  one  ", 1), ("", 0)]:
            if (got := call("POST", "/count", {"text": text})) != (200, {"words": words}):
                return f"POST /count with text={text!r} returned {got!r}, expected (200, {{'words': {words}}})"
        return None
    checks = [
        (call("POST", "/count", b"{not json"), 400, "POST /count with a body that is not JSON"),
        (call("POST", "/count", {"txt": "typo"}), 400, "POST /count without a 'text' field"),
        (call("POST", "/count", {"text": 42}), 400, "POST /count with a 'text' that is not a string"),
        (call("POST", "/count", ["a", "list"]), 400, "POST /count with a JSON list instead of an object"),
        (call("GET", "/nowhere"), 404, "GET /nowhere"),
        (call("GET", "/count"), 405, "GET /count (the path exists, the method does not)"),
        (call("POST", "/health", {}), 405, "POST /health"),
    ]
    for result, status, what in checks:
        if problem := is_error(result, status, what):
            return problem
    return None


@exercise("01.api_handler", hint="Route on (method, path): unknown path -> 404, known path with another "
          "method -> 405. For POST /count: try json.loads(body) except json.JSONDecodeError -> 400; then "
          "check isinstance(data, dict) and isinstance(data.get('text'), str), else 400.")
def _api_handler():
    return [Case(test=lambda fn, part=part: _judge_api(fn, part)) for part in ("health", "count", "errors")]


# --------------------------------------------------------------------------------------------
# 03-concurrency
# --------------------------------------------------------------------------------------------


class _Tracker:
    """Counts how many calls run at the same time (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active = 0
        self.peak = 0

    def enter(self) -> None:
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)

    def leave(self) -> None:
        with self.lock:
            self.active -= 1


def _judge_fetch_in_order(fetch_all: Any) -> str | None:
    tracker = _Tracker()

    def fetch(item: float) -> str:
        tracker.enter()
        try:
            time.sleep(item)  # a slower item first: finishing order differs from input order
            return f"result {item}"
        finally:
            tracker.leave()

    items = [0.12, 0.02, 0.08, 0.04, 0.10, 0.06, 0.03, 0.05]
    start = time.perf_counter()
    got = fetch_all(fetch, items, 4)
    elapsed = time.perf_counter() - start
    expected = [f"result {x}" for x in items]
    if got != expected:
        return f"fetch_all(fetch, items, 4) returned {got!r}, expected results in input order {expected!r}"
    if tracker.peak > 4:
        return f"{tracker.peak} calls ran at once, but max_workers was 4"
    if tracker.peak < 2 or elapsed > 0.8 * sum(items):
        return (f"the calls did not overlap (peak {tracker.peak} at once, {elapsed:.2f} s for "
                f"{sum(items):.2f} s of waiting): use a ThreadPoolExecutor")
    return None


def _fetch_empty(fetch_all: Any) -> str | None:
    got = fetch_all(lambda x: x, [], 4)
    return None if got == [] else f"fetch_all(fetch, [], 4) returned {got!r}, expected []"


@exercise("01.fetch_in_order", hint="with ThreadPoolExecutor(max_workers=max_workers) as pool: "
          "return list(pool.map(fetch, items)); map yields results in input order.")
def _fetch_in_order():
    return [Case(test=_judge_fetch_in_order), Case(test=_fetch_empty)]


def _judge_fetch_async(fetch_all_async: Any) -> str | None:
    import asyncio

    from aieng.foundations.concurrency import run_async

    state = {"active": 0, "peak": 0}

    async def fetch(item: float) -> str:
        state["active"] += 1
        state["peak"] = max(state["peak"], state["active"])
        try:
            await asyncio.sleep(item)
            return f"done {item}"
        finally:
            state["active"] -= 1

    items = [0.09, 0.01, 0.07, 0.03, 0.08, 0.02, 0.06, 0.04, 0.05]
    start = time.perf_counter()
    got = run_async(fetch_all_async(fetch, items, 3))
    elapsed = time.perf_counter() - start
    expected = [f"done {x}" for x in items]
    if got != expected:
        return f"fetch_all_async(fetch, items, 3) returned {got!r}, expected results in input order {expected!r}"
    if state["peak"] > 3:
        return f"{state['peak']} fetches ran at once, but limit was 3: use an asyncio.Semaphore(limit)"
    if state["peak"] < 2 or elapsed > 0.8 * sum(items):
        return (f"the fetches did not overlap (peak {state['peak']} at once, {elapsed:.2f} s): "
                "start them together with asyncio.gather")
    return None


def _fetch_async_empty(fetch_all_async: Any) -> str | None:
    from aieng.foundations.concurrency import async_io_task, run_async

    got = run_async(fetch_all_async(async_io_task, [], 3))
    return None if got == [] else f"fetch_all_async(fetch, [], 3) returned {got!r}, expected []"


@exercise("01.fetch_async", hint="Create sem = asyncio.Semaphore(limit); write `async def one(x): async with "
          "sem: return await fetch(x)`; then `return list(await asyncio.gather(*(one(x) for x in items)))`.")
def _fetch_async():
    return [Case(test=_judge_fetch_async), Case(test=_fetch_async_empty)]


@exercise("01.primes_parallel", hint="Check workers >= 1, then `with ProcessPoolExecutor(max_workers=workers) "
          "as pool: return list(pool.map(count_primes, limits))`, with count_primes imported from "
          "aieng.foundations.concurrency so the workers can unpickle it.")
def _primes_parallel():
    from aieng.foundations.concurrency import count_primes

    limits = [2_000, 10, 5_000, 0, 3_000]
    return [Case((limits, 2), expected=[count_primes(n) for n in limits]),
            Case(([100], 1), expected=[25]),
            Case(([10], 0), raises=ValueError)]
