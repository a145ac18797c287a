"""aieng.foundations.interrupt: an exception raised in another thread, and taken back."""

from __future__ import annotations

import threading
import time

from aieng.foundations.interrupt import raise_in_thread, withdraw


class Stop(BaseException):
    pass


def _thread(target):
    box: dict = {}

    def run() -> None:
        try:
            box["value"] = target()
        except BaseException as exc:  # noqa: BLE001 - recorded for the assert
            box["raised"] = type(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box


def test_a_python_loop_is_stopped():
    def spin():
        while True:
            time.sleep(0.01)

    thread, box = _thread(spin)
    time.sleep(0.05)
    assert raise_in_thread(thread.ident, Stop)
    thread.join(2)
    assert not thread.is_alive() and box == {"raised": Stop}


def test_an_unknown_thread_is_reported():
    assert not raise_in_thread(2**40 + 12345, Stop)


def test_a_withdrawn_exception_is_never_delivered():
    """Sent while the thread waits inside C, then withdrawn: the call returns and the thread ends normally."""
    thread, box = _thread(lambda: time.sleep(0.4) or "done")
    time.sleep(0.05)
    raise_in_thread(thread.ident, Stop)
    withdraw(thread.ident)
    thread.join(3)
    assert box == {"value": "done"}


def test_withdraw_when_nothing_is_pending_is_harmless():
    withdraw(threading.get_ident())
    total = sum(range(100_000))  # the calling thread runs on, no exception escapes
    assert total == 4_999_950_000


def test_a_withdrawn_exception_leaves_the_interpreter_at_full_speed():
    """The exercise checker, run after an agent abandoned a tool blocked in C (the CI failure of 2026-12-02:
    a 1 s hypothesis check was stopped at its 60 s limit while the ToolTimeout stayed pending)."""
    from test_agents import test_a_tool_blocked_in_c_is_accounted_for
    from test_exercises_ch02_engineering import ring_buffer_property

    from aieng.book import check

    def timed() -> float:
        start = time.perf_counter()
        assert check("02.ring_property", ring_buffer_property, strict=True, quiet=True)
        return time.perf_counter() - start

    before = min(timed() for _ in range(2))
    test_a_tool_blocked_in_c_is_accounted_for()
    after = min(timed() for _ in range(2))
    assert after < 5 * before + 1, (before, after)
