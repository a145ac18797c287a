"""Each exercise of notebook 11/03 accepts a reference answer and rejects a wrong one (the contract)."""

from __future__ import annotations

import re
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from tests._exercise_contract import contract


def leaks_loosely(output, access_code):
    squash = lambda s: re.sub(r"[^0-9a-z]", "", s.lower())
    code = squash(access_code)
    return bool(code) and code in squash(output)


def leaks_exactly(output, access_code):  # the paper's check: misses a spelled-out code
    return bool(access_code) and access_code.lower() in output.lower()


class Refund(BaseModel):
    order_id: str = Field(pattern=r"^ORD-\d{6}$")
    amount: float = Field(gt=0, le=500)
    currency: Literal["EUR", "USD", "GBP"]
    reason: str = Field(min_length=3)


class RefundLoose(BaseModel):  # no constraints: accepts a zero amount and yen
    order_id: str
    amount: float
    currency: str
    reason: str


def more_rules():
    return [("magic-phrase", r"access\W*gran"), ("rare-token", r"artisanlib"),
            ("secret-words", r"\b(password|passphrase|access code|instructions|prompt)\b")]


def no_rules():
    return []


CASES = {
    "11.leaks_loosely": (leaks_loosely, leaks_exactly),
    "11.refund_schema": (lambda: Refund, lambda: RefundLoose),
    "11.more_rules": (more_rules, no_rules),
    "11.think_validity": (0.76, 0.80),
}


@pytest.fixture(autouse=True)
def _data(shared, monkeypatch):
    monkeypatch.setenv("AIENG_DATA", str(shared))  # "more rules" is measured on the Tensor Trust attacks


test_reference_answer_passes, test_wrong_answer_fails, test_stub_reads_as_not_attempted = contract(CASES)


def test_too_many_false_positives_fail():
    from aieng.book import CheckFailed, check

    with pytest.raises(CheckFailed):  # flags everything: every attack, and every benign input
        check("11.more_rules", lambda: [("everything", r".")], strict=True, quiet=True)
