"""Each exercise of notebook 10/02 accepts a reference answer and rejects a wrong one."""

from __future__ import annotations

import math

from _exercise_contract import contract

from aieng.agents.reliability import RetryPolicy, idempotency_key


def email_key(arguments):
    return idempotency_key("send_email", {k: arguments[k] for k in ("to", "subject", "report")})


def email_key_wrong(arguments):  # keys the attempt, not the email
    return idempotency_key("send_email", dict(arguments))


def cost_per_success(rows):
    wins = sum(r["success"] for r in rows)
    return sum(r["tokens"] for r in rows) / wins if wins else math.inf


def cost_per_success_wrong(rows):  # forgets the failed runs' tokens
    wins = [r["tokens"] for r in rows if r["success"]]
    return sum(wins) / len(wins) if wins else math.inf


CASES = {
    "10.email_key": (email_key, email_key_wrong),
    "10.cost_per_success": (cost_per_success, cost_per_success_wrong),
    "10.retry_policy": (lambda: RetryPolicy(attempts=6, base_s=0.1, factor=2.0, max_s=1.0),
                        lambda: RetryPolicy()),
    "10.why_more_tokens": ("b", "a"),
}

test_reference_answer_passes, test_wrong_answer_fails, test_stub_reads_as_not_attempted = contract(CASES)
