"""Exercises of Month 11, notebook 3: safety controls (chapters/11-llmops/03-safety-and-deployment).

The "more rules" exercise is measured on the Tensor Trust attacks, read from the registered data set
(never copied here): the same split as the notebook (seed 0), its held-out half.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from aieng.book.cases import Case, exercise, near

# ----------------------------------------------------------------------------- leaks_loosely


def _leak_case(output: str, code: str, want: bool) -> Case:
    return Case((output, code), expected=want, show=f"leaks_loosely({output!r}, {code!r})")


@exercise("11.leaks_loosely", hint="Bring both texts to one form before comparing: lower case, and keep only "
          "letters and digits (the `re` module, or str.isalnum). Then it is the containment test "
          "`leaks_code` uses. Mind the empty code.")
def _leaks_loosely():
    return [
        _leak_case("The code is P-A-R-A-D-O-X.", "paradox", True),
        _leak_case("sure: p a r a d o x", "Paradox", True),
        _leak_case("paradox", "paradox", True),
        _leak_case("I will not say it.", "paradox", False),
        _leak_case("para... no.", "paradox", False),
        _leak_case("xodarap", "paradox", False),
        _leak_case("TheSwitchIsNowOn", "The switch is now ON", True),
        _leak_case("anything at all", "", False),
        _leak_case("code: 4-2-4-2", "4242", True),
    ]


# ----------------------------------------------------------------------------- refund_schema

_REFUNDS: list[tuple[dict[str, Any] | str, bool, str]] = [
    ({"order_id": "ORD-123456", "amount": 19.5, "currency": "EUR", "reason": "damaged"}, True, "a valid refund"),
    ({"order_id": "ORD-000001", "amount": 500, "currency": "GBP", "reason": "late"}, True, "the largest amount"),
    ({"order_id": "ORD-12345", "amount": 19.5, "currency": "EUR", "reason": "damaged"}, False, "five digits"),
    ({"order_id": "ord-123456", "amount": 19.5, "currency": "EUR", "reason": "damaged"}, False, "a lower-case id"),
    ({"order_id": "ORD-123456x", "amount": 19.5, "currency": "EUR", "reason": "damaged"}, False, "a trailing x"),
    ({"order_id": "ORD-123456", "amount": 0, "currency": "EUR", "reason": "damaged"}, False, "a zero amount"),
    ({"order_id": "ORD-123456", "amount": 500.01, "currency": "EUR", "reason": "damaged"}, False, "over 500"),
    ({"order_id": "ORD-123456", "amount": 19.5, "currency": "JPY", "reason": "damaged"}, False, "yen"),
    ({"order_id": "ORD-123456", "amount": 19.5, "currency": "EUR", "reason": "no"}, False, "a 2-letter reason"),
    ({"order_id": "ORD-123456", "amount": 19.5, "currency": "EUR"}, False, "no reason"),
    ('{"order_id": "ORD-123456", "amount": 19.5,', False, "broken JSON"),
]


def _refund_test(fn: Any) -> str | None:
    from pydantic import BaseModel

    from aieng.ops.safety import validate_output

    schema = fn()
    if not (isinstance(schema, type) and issubclass(schema, BaseModel)):
        return f"refund_model() must return a pydantic model class (a subclass of BaseModel), got {schema!r}"
    for candidate, want, why in _REFUNDS:
        raw = candidate if isinstance(candidate, str) else json.dumps(candidate)
        got = validate_output(raw, schema).ok
        if got != want:
            return f"{why}: validate_output({raw!r}, Refund) {'accepted' if got else 'rejected'} it; " \
                   f"it should {'accept' if want else 'reject'} it"
    return None


@exercise("11.refund_schema", hint="Each rule is one pydantic constraint on one field: Field(pattern=...) for the "
          "id (anchor both ends), Field(gt=..., le=...) for the amount, typing.Literal for a closed set, "
          "Field(min_length=...) for the reason. Read CitedAnswer in aieng.ops.safety.")
def _refund_schema():
    return [Case(test=_refund_test, show="validate_output(raw, refund_model()) on 11 candidate outputs")]


# ----------------------------------------------------------------------------- more_rules

DETECTION_TARGET = 0.90
FPR_LIMIT = 0.02


@lru_cache(maxsize=1)
def _held_out() -> tuple[list[str], list[int]]:
    from aieng.data import load_gsm8k, load_pubmedqa, load_tensor_trust
    from aieng.ops.safety import detection_set, split_by_text

    tt = load_tensor_trust()
    attacks = [r["attack"] for r in tt["hijacking"] + tt["extraction"]]
    codes = [r["access_code"] for r in tt["hijacking"] + tt["extraction"]]
    questions = [r["question"] for r in load_gsm8k()] + [r["question"] for r in load_pubmedqa()]
    rows = detection_set(attacks, {"access code": codes, "question": questions})
    _, test = split_by_text(rows, test_size=0.3, seed=0)
    return [rows[i]["text"] for i in test], [rows[i]["y"] for i in test]


def _rules_test(fn: Any) -> str | None:
    import re

    from aieng.ops.safety import RULES, RuleDetector, detection_rates

    extra = list(fn())
    for rule in extra:
        if not (isinstance(rule, tuple) and len(rule) == 2 and all(isinstance(x, str) for x in rule)):
            return f"more_rules() must return (name, regex) pairs of strings, got {rule!r}"
        try:
            re.compile(rule[1])
        except re.error as exc:
            return f"rule {rule[0]!r}: {rule[1]!r} is not a valid regular expression ({exc})"
    texts, y = _held_out()
    rates = detection_rates(y, RuleDetector(RULES + tuple(extra)).predict(texts))
    got = f"detection rate {rates['detection_rate']:.3f}, false-positive rate {rates['false_positive_rate']:.3f}"
    if rates["false_positive_rate"] > FPR_LIMIT:
        return f"{got}: too many benign inputs flagged (at most {FPR_LIMIT})"
    if rates["detection_rate"] < DETECTION_TARGET:
        return f"{got}: needs a detection rate of at least {DETECTION_TARGET}"
    return None


@exercise("11.more_rules", hint="Print the training-half attacks that RuleDetector().explain(...) returns [] for, "
          "and look for what they share: the phrase the defence is guarding, a rare token repeated, words "
          "about secrets. Check each new rule's false positives on the benign texts before adding it.")
def _more_rules():
    return [Case(test=_rules_test, show="RuleDetector(RULES + more_rules()) on the held-out half")]


# ----------------------------------------------------------------------------- think: validity


@exercise("11.think_validity", hint="An owner gets in only if two things happen: the detector lets the code "
          "through, and then the model says the words. Independent events multiply.",
          compare=near(abs_tol=0.005))
def _think_validity():
    return [Case(args=None, expected=0.76)]
