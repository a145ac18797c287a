"""Exercises of Month 1, Python as an engineering language (chapters/01-python).

01-functions-classes-errors: ``01.normalize``, ``01.interval``, ``01.retry``, ``01.running_var``
(change it and measure), ``01.think_defaults``.
02-files-packages-apis: ``01.count_words``, ``01.parse_pin``, ``01.api_handler``, ``01.fetch_many``
(change it and measure), ``01.think_atomic``.
03-concurrency: ``01.fetch_in_order``, ``01.fetch_async``, ``01.primes_parallel`` (change it and
measure), ``01.think_gil``, ``01.think_event_loop``.

Hints point to the idea or the function to read; they never contain the answer's code.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Self

from aieng.book.cases import Case, exercise, same_choice

# --------------------------------------------------------------------------------------------
# 01-functions-classes-errors
# --------------------------------------------------------------------------------------------


@exercise("01.normalize", hint="Decide what makes the input impossible to normalise (three situations) "
          "and refuse each one before you divide; the section on exceptions shows how to raise with a "
          "message.")
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


def _interval_value(Interval: Any) -> str | None:
    a = Interval(1.0, 3.0)
    if (a.low, a.high) != (1.0, 3.0):
        return f"Interval(1, 3) has low={a.low!r}, high={a.high!r}"
    if a != Interval(1.0, 3.0) or a == Interval(1.0, 4.0):
        return "two intervals with the same ends should be equal, and only those"
    try:
        if len({Interval(1.0, 3.0), Interval(1.0, 3.0), Interval(0.0, 1.0)}) != 2:
            return "equal intervals should have equal hashes: a set of them has the wrong size"
    except TypeError:
        return "Interval is not hashable, so it cannot be a dict key or go in a set"
    try:
        a.low = 2.0
    except AttributeError:  # dataclasses.FrozenInstanceError is an AttributeError
        pass
    else:
        return "assigning iv.low = 2 worked: an Interval should be immutable"
    return None


def _interval_validates(Interval: Any) -> str | None:
    try:
        Interval(3.0, 1.0)
    except ValueError:
        pass
    else:
        return "Interval(3, 1) was accepted: low > high should raise ValueError"
    try:
        point = Interval(2.0, 2.0)
    except ValueError:
        return "Interval(2, 2) raised, but a single point (low == high) is a valid interval"
    if point.width != 0.0 or Interval(-1.0, 2.5).width != 3.5:
        return "width should be high - low (Interval(-1, 2.5).width == 3.5)"
    return None


def _interval_contains(Interval: Any) -> str | None:
    a = Interval(1.0, 3.0)
    for x, inside in [(1.0, True), (2.0, True), (3.0, True), (0.999, False), (3.5, False)]:
        if (x in a) is not inside:
            return f"{x} in Interval(1, 3) gave {x in a!r}, expected {inside} (both ends are included)"
    return None


def _interval_overlap(Interval: Any) -> str | None:
    a = Interval(1.0, 3.0)
    for other, expected in [(Interval(2.0, 5.0), Interval(2.0, 3.0)), (Interval(0.0, 10.0), a),
                            (Interval(3.0, 4.0), Interval(3.0, 3.0)), (Interval(4.0, 5.0), None)]:
        got = a & other
        if got != expected:
            return f"Interval(1, 3) & {other!r} gave {got!r}, expected {expected!r}"
    if (Interval(4.0, 5.0) & a) is not None:
        return "Interval(4, 5) & Interval(1, 3) should be None: they do not overlap"
    return None


@exercise("01.interval", hint="The dataclass section shows how to get __eq__, __hash__ and immutability "
          "for free. A dataclass calls __post_init__ after its generated __init__: the place to "
          "refuse bad fields. `x in iv` calls iv.__contains__(x) and `a & b` calls a.__and__(b) "
          "(Python reference, 'Data model'). The overlap of two intervals starts at the later start "
          "and ends at the earlier end.")
def _interval():
    return [Case(test=_interval_validates), Case(test=_interval_value), Case(test=_interval_contains),
            Case(test=_interval_overlap)]


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


@exercise("01.retry", hint="A decorator that takes an argument is three nested functions: the factory "
          "(which can check its argument at once), the decorator and the wrapper. Reread count_calls "
          "and memoize above; a caught exception can be kept in a variable and raised again later.")
def _retry():
    return [Case(test=_retry_keeps_name), Case(test=_retry_recovers), Case(test=_retry_gives_up),
            Case(test=_retry_refuses_zero)]


RUNNING_VAR_TOL = 1e-6
"""The largest relative error of ``RunningVariance.value`` that ``01.running_var`` accepts."""


def _hard_stream(offset: float, n: int = 5_000) -> list[float]:
    import numpy as np

    rng = np.random.default_rng(1)
    return (offset + rng.normal(0.0, 1.0, size=n)).tolist()


def _judge_running_var(RunningVariance: Any, offset: float) -> str | None:
    import numpy as np

    xs = _hard_stream(offset)
    stats = RunningVariance()
    for x in xs:
        stats.update(x)
    stored = [name for name, v in vars(stats).items() if hasattr(v, "__len__") and len(v) > 16]
    if stored:
        return f"the object keeps the stream in {stored}: a running statistic needs constant memory"
    reference = float(np.var(np.array(xs)))  # population variance, as in the notebook
    error = abs(stats.value - reference) / reference
    if not error < RUNNING_VAR_TOL:
        return (f"on values around {offset:g}, variance {stats.value!r} vs numpy's {reference!r}: "
                f"relative error {error:.1e}, the target is below {RUNNING_VAR_TOL:g}")
    return None


def _running_var_empty(RunningVariance: Any) -> str | None:
    try:
        _ = RunningVariance().value
    except ValueError:
        return None
    return "the variance of no values should raise ValueError, as RunningMean.value does"


@exercise("01.running_var", hint="The naive class subtracts two huge, nearly equal numbers at the end. "
          "Keep quantities that stay small instead: the running mean, and the sum of squared distances "
          "from it, updated with each new value (look up Welford's online algorithm).")
def _running_var():
    return [Case(test=_running_var_empty)] + [
        Case(test=lambda cls, offset=offset: _judge_running_var(cls, offset)) for offset in (0.0, 1e4, 1e9)]


@exercise("01.think_defaults", hint="The default list is created once, when `def` runs; every call that "
          "does not pass `seen` appends to that same list. Work out each call's return value in turn.")
def _think_defaults():
    return [Case(args=None, expected=6)]


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


@exercise("01.count_words", hint="Section 1 lists a folder three ways; only one of them matches a "
          "pattern without descending into subfolders. str.split() with no argument splits on any run "
          "of whitespace.")
def _count_words():
    return [Case(test=_judge_count_words), Case(test=lambda fn: _judge_count_words(fn, as_str=True))]


@exercise("01.parse_pin", hint="Work in steps: cut off the comment, strip, split on the operator, then "
          "refuse every way the two sides can be wrong before you normalise the name. "
          "str.partition tells you whether the separator was found at all.")
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


@exercise("01.api_handler", hint="Decide in this order: does the path exist (else 404), is the method "
          "the one that path accepts (else 405), can the body be parsed and does it have the right "
          "shape (else 400). `route` in section 4 shows how a JSON error is caught; a table from path "
          "to method makes 404 and 405 easy to tell apart.")
def _api_handler():
    return [Case(test=lambda fn, part=part: _judge_api(fn, part)) for part in ("health", "count", "errors")]


class _CountingServer:
    """A JSON server on 127.0.0.1 that counts the TCP connections it accepts.

    ``GET /item/N`` answers ``{"item": N}``; ``/missing`` answers 404; anything else 400.
    """

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def setup(self) -> None:
                with owner.lock:
                    owner.connections += 1
                super().setup()

            def do_GET(self) -> None:
                if self.path.startswith("/item/") and self.path[6:].isdigit():
                    status, payload = 200, {"item": int(self.path[6:])}
                elif self.path == "/missing":
                    status, payload = 404, {"error": "no such item"}
                else:
                    status, payload = 400, {"error": f"bad path {self.path}"}
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.lock = threading.Lock()
        self.connections = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


FETCH_MANY_REQUESTS = 20
FETCH_MANY_MAX_CONNECTIONS = 2


def _judge_fetch_many(fetch_many: Any) -> str | None:
    paths = [f"/item/{i}" for i in range(FETCH_MANY_REQUESTS)]
    with _CountingServer() as server:
        got = fetch_many(server.url, paths)
        expected = [{"item": i} for i in range(FETCH_MANY_REQUESTS)]
        if got != expected:
            return f"fetch_many(url, {paths[:2]} ...) returned {str(got)[:120]}, expected {str(expected)[:120]}"
        if server.connections > FETCH_MANY_MAX_CONNECTIONS:
            return (f"{FETCH_MANY_REQUESTS} requests opened {server.connections} connections; the target "
                    f"is at most {FETCH_MANY_MAX_CONNECTIONS}")
    return None


def _fetch_many_raises(fetch_many: Any) -> str | None:
    import httpx

    with _CountingServer() as server:
        try:
            got = fetch_many(server.url, ["/item/1", "/missing"])
        except httpx.HTTPStatusError:
            return None
    return f"a 404 reply should raise httpx.HTTPStatusError, but fetch_many returned {got!r}"


@exercise("01.fetch_many", hint="Every httpx.get builds a new client and opens a new connection. Read "
          "'Clients' in the HTTPX documentation (and section 4 above): what does one Client keep between "
          "requests? A reply with an error status does not raise by itself.")
def _fetch_many():
    return [Case(test=_fetch_many_raises), Case(test=_judge_fetch_many)]


@exercise("01.think_atomic", hint="Look at where write_json_atomic writes the bytes and at the one step "
          "that touches the real name: what can a reader see before that step, and after it?",
          compare=same_choice)
def _think_atomic():
    return [Case(args=None, expected="c")]


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
                f"{sum(items):.2f} s of waiting): run them in a pool of threads")
    return None


def _judge_fetch_failures(fetch_all: Any) -> str | None:
    calls: list[int] = []
    lock = threading.Lock()

    def fetch(item: int) -> int:
        time.sleep(0.01 * (item % 3))
        with lock:
            calls.append(item)
        if item % 4 == 1:
            raise ConnectionError(f"item {item}: connection reset")
        return item * 10

    items = list(range(9))
    try:
        got = fetch_all(fetch, items, 3)
    except ConnectionError as err:
        return f"one failed fetch stopped them all ({type(err).__name__}: {err}); return it in its slot"
    if sorted(calls) != items:
        return f"fetch was called for {sorted(calls)}, expected every item {items}"
    if not isinstance(got, list) or len(got) != len(items):
        return f"expected a list of {len(items)} results, got {got!r}"
    for item, value in zip(items, got):
        if item % 4 == 1:
            if not (isinstance(value, ConnectionError) and str(value) == f"item {item}: connection reset"):
                return f"slot {item} should hold the ConnectionError that fetch({item}) raised, got {value!r}"
        elif value != item * 10:
            return f"slot {item} should hold fetch({item}) == {item * 10}, got {value!r}"
    return None


def _fetch_empty(fetch_all: Any) -> str | None:
    got = fetch_all(lambda x: x, [], 4)
    return None if got == [] else f"fetch_all(fetch, [], 4) returned {got!r}, expected []"


@exercise("01.fetch_in_order", hint="pool.map stops at the first exception and you lose the other "
          "results. Submit each call on its own: a concurrent.futures.Future remembers either its result "
          "or its exception (read Future.exception), and a list of futures is already in input order.")
def _fetch_in_order():
    return [Case(test=_judge_fetch_in_order), Case(test=_judge_fetch_failures), Case(test=_fetch_empty)]


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
        return f"{state['peak']} fetches ran at once, but limit was 3"
    if state["peak"] < 2 or elapsed > 0.8 * sum(items):
        return f"the fetches did not overlap (peak {state['peak']} at once, {elapsed:.2f} s)"
    return None


def _fetch_async_empty(fetch_all_async: Any) -> str | None:
    from aieng.foundations.concurrency import async_io_task, run_async

    got = run_async(fetch_all_async(async_io_task, [], 3))
    return None if got == [] else f"fetch_all_async(fetch, [], 3) returned {got!r}, expected []"


@exercise("01.fetch_async", hint="asyncio.gather starts all its coroutines at once and keeps the order of "
          "its arguments. To cap how many are in flight, read asyncio.Semaphore: each fetch waits to "
          "acquire it (with `async with`) before it starts.")
def _fetch_async():
    return [Case(test=_judge_fetch_async), Case(test=_fetch_async_empty)]


PRIMES_TASKS = 3_000
"""How many tiny count_primes tasks the ``01.primes_parallel`` check sends."""
PRIMES_MIN_SPEEDUP = 2.0
"""How much faster than ``pool.map`` with the default chunksize ``01.primes_parallel`` must be."""


def _tiny_limits() -> list[int]:
    return [n % 50 for n in range(PRIMES_TASKS)]


def _naive_pool(limits: list[int], workers: int) -> list[int]:
    from concurrent.futures import ProcessPoolExecutor

    from aieng.foundations.concurrency import count_primes

    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(count_primes, limits))


def _judge_primes_speed(primes_parallel: Any) -> str | None:
    from aieng.foundations.concurrency import count_primes

    limits = _tiny_limits()
    expected = [count_primes(n) for n in limits]
    start = time.perf_counter()
    got = primes_parallel(limits, 2)
    yours = time.perf_counter() - start
    if got != expected:
        return f"primes_parallel(<{len(limits)} small limits>, 2) gave wrong counts"
    start = time.perf_counter()
    _naive_pool(limits, 2)
    naive = time.perf_counter() - start
    if yours * PRIMES_MIN_SPEEDUP > naive:
        return (f"{len(limits)} tiny tasks took {yours:.2f} s with yours and {naive:.2f} s with "
                f"pool.map's defaults ({naive / yours:.1f}x); the target is {PRIMES_MIN_SPEEDUP:g}x")
    return None


@exercise("01.primes_parallel", hint="With thousands of tiny tasks, the work is not the cost: each task "
          "is pickled, sent to a worker and its answer sent back, one round trip at a time. Read the "
          "`chunksize` parameter of Executor.map, and measure a few values.")
def _primes_parallel():
    from aieng.foundations.concurrency import count_primes

    limits = [2_000, 10, 5_000, 0, 3_000]
    return [Case((limits, 2), expected=[count_primes(n) for n in limits]),
            Case(([100], 1), expected=[25]),
            Case(([10], 0), raises=ValueError),
            Case(test=_judge_primes_speed)]


@exercise("01.think_gil", hint="Split the job into its waiting part and its computing part, and ask "
          "which of the two ten threads can overlap.")
def _think_gil():
    return [Case(args=None, expected=5.0)]


@exercise("01.think_event_loop", hint="time.sleep never reaches an `await`: what can the event loop do "
          "while it runs?", compare=same_choice)
def _think_event_loop():
    return [Case(args=None, expected="b")]
