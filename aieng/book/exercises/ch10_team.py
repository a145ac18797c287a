"""Exercises of Month 10, notebook 2: the enterprise task by a team (chapters/10-multi-agent/02-the-enterprise-task-by-a-team).

``10.email_key`` (an idempotency key), ``10.cost_per_success``, ``10.retry_policy`` (change it and measure),
``10.why_more_tokens`` (Think!).
"""

from __future__ import annotations

import math
from typing import Any

from aieng.book.cases import Case, exercise, same_choice


def _key_test(email_key: Any) -> str | None:
    from aieng.agents import Tool
    from aieng.agents.reliability import idempotent

    sent: list[tuple[str, str]] = []

    def send_email(to: str, subject: str, report: str, approval: str) -> str:
        sent.append((to, subject))
        return f"sent {len(sent)}"

    tool = idempotent(Tool.from_function(send_email), key=email_key)
    base = {"to": "finance", "subject": "Q1", "report": "report.html", "approval": "approval-1"}
    tool.fn(**base)
    tool.fn(**{**base, "approval": "approval-2"})
    if len(sent) != 1:
        return ("the same report to the same person with a second approval id was sent twice: the approval id "
                "must not be part of the key")
    tool.fn(**{**base, "to": "marketing"})
    tool.fn(**{**base, "subject": "Q2"})
    if len(sent) != 3:
        return f"a different recipient or subject is a different email; {len(sent)} sent, expected 3"
    return None


@exercise("10.email_key", hint="The key names the email, not the attempt: which arguments would make two "
          "calls the same message in the manager's inbox? Read idempotency_key for a stable way to hash them.")
def _email_key():
    return [Case(test=_key_test)]


_ROWS = [{"success": True, "tokens": 200}, {"success": False, "tokens": 150}, {"success": True, "tokens": 250}]


@exercise("10.cost_per_success", hint="Failed runs cost tokens too: add them all up, then divide by the runs that "
          "succeeded; with no success there is no finite cost.")
def _cost_per_success():
    return [Case((_ROWS,), expected=300.0), Case(([{"success": False, "tokens": 10}],), expected=math.inf),
            Case(([{"success": True, "tokens": 7}],), expected=7.0)]


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, s: float) -> None:
        self.now += s


def _outage_test(make_policy: Any) -> str | None:
    from aieng.agents.reliability import RetryPolicy, retry

    policy = make_policy()
    if not isinstance(policy, RetryPolicy):
        return f"make_policy() must return a RetryPolicy, got {type(policy).__name__}"
    for outage in (0.5, 1.0, 1.5):
        clock, calls = _Clock(), []

        def send() -> str:
            calls.append(clock.now)
            if clock.now < outage:
                raise ConnectionRefusedError("the SMTP server is restarting")
            return "sent"

        try:
            retry(send, policy=policy, sleep=clock.sleep)
        except ConnectionRefusedError:
            return f"the send gave up during an outage of {outage} s (after {len(calls)} attempts, {clock.now:.2f} s)"
        if clock.now > 2 * outage + 0.25:
            return f"an outage of {outage} s cost {clock.now:.2f} s of waiting: more than twice the outage"
        if len(calls) > 8:
            return f"{len(calls)} attempts for an outage of {outage} s: more than 8 hammers the server"
    return None


@exercise("10.retry_policy", hint="Sum the waits of a policy (RetryPolicy.delays) and compare them with each outage; "
          "the first wait and the factor trade attempts against time lost after the server is back.")
def _retry_policy():
    return [Case(test=_outage_test)]


@exercise("10.why_more_tokens", hint="Count how many times the request's text goes into a prompt in each "
          "architecture.", compare=same_choice)
def _why_more_tokens():
    return [Case(args=None, expected="b")]
