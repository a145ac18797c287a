"""aieng.agents.reliability: retries with back-off, idempotent tools, trajectory checks."""

from __future__ import annotations

import threading

import pytest

from aieng.agents import Tool, ToolBox
from aieng.agents.reliability import (
    RetryLog,
    RetryPolicy,
    check_trajectory,
    idempotency_key,
    idempotent,
    retry,
    with_retries,
)


class Flaky:
    """Fails with ``exc`` the first ``n`` calls, then returns ``"ok"``."""

    def __init__(self, n: int, exc: BaseException = ConnectionRefusedError("refused")) -> None:
        self.n, self.exc, self.calls = n, exc, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.calls <= self.n:
            raise self.exc
        return "ok"


def test_delays_are_exponential_and_capped():
    assert RetryPolicy(attempts=5, base_s=0.1, factor=2, max_s=0.5).delays() == pytest.approx([0.1, 0.2, 0.4, 0.5])
    jittered = RetryPolicy(attempts=4, base_s=1.0, jitter=0.5).delays()
    assert all(0.5 * d <= j <= d for j, d in zip(jittered, [1.0, 2.0, 2.0]))


@pytest.mark.parametrize("bad", [dict(attempts=0), dict(base_s=-1), dict(factor=0.5), dict(jitter=2)])
def test_policy_refuses_nonsense(bad):
    with pytest.raises(ValueError):
        RetryPolicy(**bad)


def test_retry_recovers_after_transient_failures_with_back_off():
    waits, log, fn = [], RetryLog(), Flaky(2)
    assert retry(fn, policy=RetryPolicy(attempts=3, base_s=0.1), sleep=waits.append, log=log) == "ok"
    assert fn.calls == 3 and waits == pytest.approx([0.1, 0.2]) and len(log.failures) == 2


def test_retry_gives_up_with_the_last_error():
    fn = Flaky(5)
    with pytest.raises(ConnectionRefusedError):
        retry(fn, policy=RetryPolicy(attempts=3), sleep=lambda s: None)
    assert fn.calls == 3


def test_retry_never_repeats_a_permanent_error():
    fn = Flaky(1, ValueError("bad input"))
    with pytest.raises(ValueError):
        retry(fn, policy=RetryPolicy(attempts=5), sleep=lambda s: None)
    assert fn.calls == 1


def test_with_retries_through_a_toolbox():
    flaky = Flaky(1)

    def ping(host: str) -> str:
        """Ping a host.

        Parameters
        ----------
        host
            The host.
        """
        return flaky(host)

    box = ToolBox([with_retries(Tool.from_function(ping), RetryPolicy(attempts=2, base_s=0.0))])
    obs = box.call("ping", {"host": "a"})
    assert obs.ok and obs.value == "ok" and flaky.calls == 2


def _send_tool(sent: list):
    def send(to: str, subject: str, note: str = "") -> str:
        """Send.

        Parameters
        ----------
        to
            Who.
        subject
            What.
        note
            Anything.
        """
        sent.append((to, subject))
        return f"sent {len(sent)}"
    return Tool.from_function(send)


def test_idempotent_sends_once_per_key():
    sent: list = []
    box = ToolBox([idempotent(_send_tool(sent), key=["to", "subject"])])
    first = box.call("send", {"to": "a", "subject": "Q1"})
    again = box.call("send", {"to": "a", "subject": "Q1", "note": "retry"})
    other = box.call("send", {"to": "b", "subject": "Q1"})
    assert first.value == again.value == "sent 1" and other.value == "sent 2" and len(sent) == 2


def test_idempotent_is_safe_under_concurrency_and_forgets_failures():
    sent: list = []
    tool = idempotent(_send_tool(sent))
    threads = [threading.Thread(target=tool.fn, kwargs={"to": "a", "subject": "s"}) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(sent) == 1
    flaky = Flaky(1)

    def f(x: int) -> str:
        return flaky(x)

    t2 = idempotent(Tool.from_function(f))
    with pytest.raises(ConnectionRefusedError):
        t2.fn(x=1)
    assert t2.fn(x=1) == "ok" and flaky.calls == 2


def test_idempotency_key_is_stable_and_order_free():
    assert idempotency_key("t", {"a": 1, "b": 2}) == idempotency_key("t", {"b": 2, "a": 1})
    assert idempotency_key("t", {"a": 1}) != idempotency_key("u", {"a": 1})


def test_check_trajectory():
    rules = dict(required=["read", "approve", "send"], before=[("approve", "send")], at_most_once=["send"],
                 allowed=["read", "approve", "send"])
    assert check_trajectory(["read", "approve", "send"], **rules) == []
    problems = check_trajectory(["read", "send", "approve", "send", "rm"], **rules)
    assert any("send (call 2) came before any approve" in p for p in problems)
    assert any("called 2 times" in p for p in problems)
    assert any("'rm'" in p for p in problems)
    assert check_trajectory(["read"], **rules)[:2] == ["approve was never called", "send was never called"]
