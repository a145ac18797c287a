"""Each exercise of 03-apis accepts a correct reference answer and rejects a wrong one."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from aieng.book import CheckFailed, check, registry
from _exercise_contract import contract
from aieng.book.exercises.ch03_apis import measure_bucket

# ---- reference answers ------------------------------------------------------------------------


class FixedWindow:
    def __init__(self, limit, period, clock):
        self.limit, self.period, self.clock = limit, period, clock
        self.ends, self.count = float("-inf"), 0

    def allow(self):
        now = self.clock()
        if now >= self.ends:
            self.ends, self.count = now + self.period, 0
        self.count += 1
        return self.count <= self.limit


def make_cursor(last_id, secret):
    body = str(last_id).encode()
    tag = hmac.new(secret, body, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(tag + body).decode().rstrip("=")


def read_cursor(cursor, secret):
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        tag, body = raw[:32], raw[32:]
        if not hmac.compare_digest(tag, hmac.new(secret, body, hashlib.sha256).digest()):
            raise ValueError("bad signature")
        return int(body)
    except (ValueError, TypeError) as err:
        raise ValueError(f"bad cursor: {err}") from None


def get_with_retry(send, sleep, max_attempts):
    for attempt in range(1, max_attempts + 1):
        status, headers = send()
        if status != 429 or attempt == max_attempts:
            return status
        sleep(float(headers.get("Retry-After", 1)))


def choose_bucket():
    return 8, 1.0


# ---- wrong answers ----------------------------------------------------------------------------


class FixedWindowAligned(FixedWindow):  # windows aligned to the clock, not to the first request
    def allow(self):
        now = self.clock()
        start = now - now % self.period
        if start + self.period != self.ends:
            self.ends, self.count = start + self.period, 0
        self.count += 1
        return self.count <= self.limit


class FixedWindowOffByOne(FixedWindow):  # a request at exactly the end stays in the old window
    def allow(self):
        now = self.clock()
        if now > self.ends:
            self.ends, self.count = now + self.period, 0
        self.count += 1
        return self.count <= self.limit


def make_cursor_plain(last_id, secret):
    return base64.urlsafe_b64encode(str(last_id).encode()).decode().rstrip("=")


def read_cursor_plain(cursor, secret):
    try:
        return int(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except Exception as err:
        raise ValueError(err) from None


def get_with_retry_every_error(send, sleep, max_attempts):  # retries a 404 too
    for attempt in range(1, max_attempts + 1):
        status, headers = send()
        if status < 400 or attempt == max_attempts:
            return status
        sleep(float(headers.get("Retry-After", 1)))


def get_with_retry_fixed_sleep(send, sleep, max_attempts):  # ignores Retry-After
    for attempt in range(1, max_attempts + 1):
        status, headers = send()
        if status != 429 or attempt == max_attempts:
            return status
        sleep(1.0)


CASES = {
    "03.fixed_window": (FixedWindow, FixedWindowAligned),
    "03.signed_cursor": ((make_cursor, read_cursor), (make_cursor_plain, read_cursor_plain)),
    "03.retry_429": (get_with_retry, get_with_retry_every_error),
    "03.tune_bucket": (choose_bucket, lambda: (5, 0.5)),
    "03.think_bucket": (14, 24),
    "03.think_api_key_hash": ("B", "a"),
    "03.think_idempotency": ("b", "a"),
}


def test_every_ch03_apis_exercise_is_covered():
    from aieng.book.exercises import ch03_apis

    names = {n for n in registry() if n.startswith("03.")}
    mine = {n for n in names if registry()[n].cases.__module__ == ch03_apis.__name__}
    assert mine == set(CASES)


test_reference_answer_passes, test_wrong_answer_fails, _ = contract(CASES)


@pytest.mark.parametrize("name, bad", [
    ("03.fixed_window", FixedWindowOffByOne),
    ("03.retry_429", get_with_retry_fixed_sleep),
    ("03.tune_bucket", lambda: (100, 10.0)),
    ("03.signed_cursor", (make_cursor, lambda c, s: int(base64.urlsafe_b64decode(c + "==")[32:]))),
])
def test_more_wrong_answers_fail(name, bad):
    with pytest.raises(CheckFailed):
        check(name, bad, strict=True, quiet=True)


def test_measure_bucket_counts_both_clients():
    assert measure_bucket(8, 1.0) == {"person_refused": 0, "scraper_admitted": 67}  # 8 + 59.98 s x 1/s
    assert measure_bucket(5, 0.5)["person_refused"] > 0
