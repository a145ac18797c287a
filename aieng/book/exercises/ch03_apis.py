"""Exercises of Month 3, notebook 03-apis (chapters/03-databases-and-apis).

``03.fixed_window``, ``03.signed_cursor``, ``03.retry_429``, ``03.tune_bucket`` (change it and measure),
``03.think_bucket``, ``03.think_api_key_hash``, ``03.think_idempotency``.

Hints point to the idea or the function to read; they never contain the answer's code.
"""

from __future__ import annotations

import base64
import random
import types
from typing import Any
from unittest import mock

from aieng.book.cases import Case, exercise, same_choice


class _Clock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# ---- 03.fixed_window ------------------------------------------------------------------------------

def _limits_fixed_window(times: list[float], limit: int, period: int) -> list[bool]:
    """The ``limits`` library's fixed window on a scripted clock (its memory storage reads time.time)."""
    from limits import RateLimitItemPerSecond
    from limits.storage import MemoryStorage
    from limits.strategies import FixedWindowRateLimiter

    clock = _Clock()
    with mock.patch("limits.storage.memory.time", types.SimpleNamespace(time=clock)):
        limiter, item = FixedWindowRateLimiter(MemoryStorage()), RateLimitItemPerSecond(limit, period)
        out = []
        for t in times:
            clock.now = t
            out.append(limiter.hit(item, "client"))
    return out


def _judge_fixed_window(FixedWindow: Any) -> str | None:
    for seed, (limit, period) in enumerate([(3, 1), (5, 2), (1, 1), (4, 3)]):
        rng = random.Random(seed)
        times = sorted(1_000 + rng.uniform(0, 15) for _ in range(200))
        times += [times[-1] + 40, times[-1] + 40 + period]  # a fresh window, and exactly at its end
        ref = _limits_fixed_window(times, limit, period)
        clock = _Clock(times[0])
        window = FixedWindow(limit, period, clock=clock)
        for i, t in enumerate(times):
            clock.now = t
            got = window.allow()
            if got is not ref[i]:
                return (f"FixedWindow({limit}, {period}): request {i} at t={t - 1_000:.3f} s (times from "
                        f"the first request's clock) returned {got!r}; the limits library says {ref[i]}")
    return None


@exercise("03.fixed_window", hint="Keep two numbers: when the current window ends and how many requests "
          "it admitted. Read the limits documentation's 'Fixed Window' strategy: the window opens at the "
          "first request after the previous one ended, and a request at exactly the end time is already "
          "in a new window.")
def _fixed_window():
    return [Case(test=_judge_fixed_window)]


# ---- 03.signed_cursor -----------------------------------------------------------------------------

_SECRET = b"cursor-secret-" + b"x" * 18


def _judge_cursor(funcs: Any) -> str | None:
    try:
        make_cursor, read_cursor = funcs
    except (TypeError, ValueError):
        return "pass the pair (make_cursor, read_cursor)"
    for last_id in (0, 7, 123_456_789):
        cursor = make_cursor(last_id, _SECRET)
        if not isinstance(cursor, str) or not cursor.isascii() or any(c in cursor for c in "&=?# /+"):
            return f"make_cursor({last_id}) gave {cursor!r}: use a URL-safe string (base64url)"
        if str(last_id) in cursor and last_id > 100:
            return f"make_cursor({last_id}) shows the id in clear: {cursor!r}; encode it"
        if read_cursor(cursor, _SECRET) != last_id:
            return f"read_cursor(make_cursor({last_id})) gave {read_cursor(cursor, _SECRET)!r}"
    good = make_cursor(41, _SECRET)
    raw = base64.urlsafe_b64decode(good + "=" * (-len(good) % 4))
    forged_bodies = [raw.replace(b"41", b"42"), raw[:-1] + bytes([raw[-1] ^ 1]), b"", b"garbage"]
    forged = [base64.urlsafe_b64encode(b).decode().rstrip("=") for b in forged_bodies]
    forged += ["", "%%%", make_cursor(41, b"another-secret-" + b"y" * 17)]
    for bad in forged:
        try:
            got = read_cursor(bad, _SECRET)
        except ValueError:
            continue
        except Exception as err:  # noqa: BLE001 - the point is which exception
            return f"read_cursor({bad!r}) raised {type(err).__name__}; raise ValueError for a bad cursor"
        return f"read_cursor({bad!r}) accepted a tampered or foreign cursor and returned {got!r}"
    return None


@exercise("03.signed_cursor", hint="The JWT section signs bytes with hmac.new(secret, ..., sha256) and "
          "encodes them with base64url; a cursor is the same idea with the last id as the payload. "
          "Compare signatures with hmac.compare_digest, and turn every decoding error into ValueError.")
def _signed_cursor():
    return [Case(test=_judge_cursor)]


# ---- 03.retry_429 ---------------------------------------------------------------------------------

class _Server:
    """A scripted server: answers from a list of (status, headers); records the calls."""

    def __init__(self, script: list[tuple[int, dict[str, str]]]) -> None:
        self.script, self.calls = list(script), 0

    def __call__(self) -> tuple[int, dict[str, str]]:
        self.calls += 1
        return self.script.pop(0)


def _judge_retry(get_with_retry: Any) -> str | None:
    cases = [
        ([(429, {"Retry-After": "2"}), (429, {"Retry-After": "1"}), (200, {})], 5, 200, [2.0, 1.0], 3),
        ([(200, {})], 3, 200, [], 1),
        ([(404, {})], 3, 404, [], 1),
        ([(429, {"Retry-After": "3"})] * 3, 3, 429, [3.0, 3.0], 3),
        ([(429, {}), (200, {})], 3, 200, [1.0], 2),
    ]
    for script, attempts, status, waits, calls in cases:
        server, slept = _Server(script), []
        got = get_with_retry(server, slept.append, max_attempts=attempts)
        shown = f"server answering {[s for s, _ in script]}, max_attempts={attempts}"
        if got != status:
            return f"with a {shown}: returned {got!r}, expected the last status {status}"
        if server.calls != calls:
            return f"with a {shown}: made {server.calls} calls, expected {calls}"
        if [float(w) for w in slept] != waits:
            return f"with a {shown}: slept {slept}, expected {waits} (Retry-After, or 1 s when it is absent)"
    return None


@exercise("03.retry_429", hint="Only a 429 is worth retrying here; any other status is the answer. Read "
          "the header the server sends with a 429 in the rate-limiting section, and count attempts so "
          "that the last one is not followed by a sleep.")
def _retry_429():
    return [Case(test=_judge_retry)]


# ---- 03.tune_bucket (change it and measure) -------------------------------------------------------

TUNE_SCRAPER_MAX = 120
"""``03.tune_bucket``: the most requests a scraper flooding for 60 s may get through."""


def measure_bucket(capacity: float, rate: float) -> dict[str, int]:
    """Two scripted clients against :class:`~aieng.foundations.ratelimit.TokenBucket` (one bucket each).

    ``person``: bursts of 8 requests every 10 s for 60 s; ``scraper``: 50 requests a second for 60 s.
    Returns the person's refusals and the scraper's admitted requests.
    """
    from aieng.foundations.ratelimit import TokenBucket

    out = {}
    for who, times in [("person", [10.0 * b + 0.01 * i for b in range(6) for i in range(8)]),
                       ("scraper", [0.02 * i for i in range(3_000)])]:
        clock = _Clock(0.0)
        bucket = TokenBucket(capacity, rate, clock=clock)
        admitted = 0
        for t in times:
            clock.now = t
            admitted += bucket.allow()
        out[who] = len(times) - admitted if who == "person" else admitted
    return {"person_refused": out["person"], "scraper_admitted": out["scraper"]}


def _judge_tune(choose_bucket: Any) -> str | None:
    capacity, rate = choose_bucket()
    got = measure_bucket(capacity, rate)
    if got["person_refused"]:
        return (f"capacity={capacity}, rate={rate}: the person's bursts got {got['person_refused']} "
                f"refusals; they should get none")
    if got["scraper_admitted"] > TUNE_SCRAPER_MAX:
        return (f"capacity={capacity}, rate={rate}: the scraper got {got['scraper_admitted']} requests "
                f"through in a minute; at most {TUNE_SCRAPER_MAX} allowed")
    return None


@exercise("03.tune_bucket", hint="Measure first: call measure_bucket on a few (capacity, rate) pairs. The "
          "capacity decides the biggest burst a client can send at once; the rate decides how fast the "
          "bucket is back between bursts, and how much a client that never stops gets per second.")
def _tune_bucket():
    return [Case(test=_judge_tune)]


# ---- Think! ---------------------------------------------------------------------------------------

@exercise("03.think_bucket", hint="Under a dense flood the bucket admits its capacity at once, then only "
          "what refills: rate times the elapsed time.")
def _think_bucket():
    return [Case(args=None, expected=14)]


@exercise("03.think_api_key_hash", hint="What does an attacker holding the table of hashes have to do to "
          "find one key, and how many guesses does that take for each kind of secret?",
          compare=same_choice)
def _think_api_key_hash():
    return [Case(args=None, expected="b")]


@exercise("03.think_idempotency", hint="The server recognises a repeat by the key; what must the retry "
          "carry so that the server sees a repeat and not a new request?", compare=same_choice)
def _think_idempotency():
    return [Case(args=None, expected="b")]
