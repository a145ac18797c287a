"""Unit tests of aieng.llm.constrain (Month 9): the call grammar and the from-scratch regex constraint."""

from __future__ import annotations

import os

import pytest

from aieng.agents.callsyntax import call_regex, parse_calls
from aieng.llm.constrain import RegexConstraint

FNS = [
    {"name": "math.hypot", "parameters": {"type": "dict", "properties": {
        "x": {"type": "integer"}, "y": {"type": "integer"}, "z": {"type": "integer"}}, "required": ["x", "y"]}},
    {"name": "play", "parameters": {"type": "dict", "properties": {
        "song": {"type": "string"}, "loud": {"type": "boolean"}, "mode": {"type": "string", "enum": ["a", "b"]},
        "ids": {"type": "array", "items": {"type": "float"}}}, "required": ["song"]}},
]


@pytest.fixture(scope="module")
def rc():
    return RegexConstraint(call_regex(FNS))


@pytest.mark.parametrize("text", ["[]", "[math.hypot(x=4, y=5)]", "[math.hypot(x=4, y=5, z=-1)]",
                                  '[play(song="Hey Jude", loud=True, mode="b", ids=[1.5, 2])]',
                                  '[math.hypot(x=1, y=2), play(song="x")]'])
def test_accepts_valid_calls(rc, text):
    assert rc.complete(text) and parse_calls(text) is not None


@pytest.mark.parametrize("text", ["[math.hypot(x=4)]", "[math.hypot(y=5, x=4)]", '[play(song=3)]',
                                  '[play(song="x", mode="c")]', "[sqrt(x=1)]", "[math.hypot(x=4.5, y=1)]", "hello"])
def test_rejects_invalid_calls(rc, text):
    assert not rc.complete(text)


def test_prefixes(rc):
    assert rc.viable("") and rc.viable("[ma") and rc.viable('[play(song="He')
    assert not rc.viable("[x") and not rc.viable("The")
    assert rc.token_mask("[math.hypot(", ["x=", "y=", "z", ")"]) == [True, False, False, False]


def test_no_functions():
    assert RegexConstraint(call_regex([])).complete("[]")
    with pytest.raises(ValueError):
        call_regex([], allow_empty=False)


@pytest.mark.skipif(not os.environ.get("AIENG_DATA"), reason="AIENG_DATA does not point at the shared data copies")
def test_bfcl_schemas_compile():
    from aieng.data import BFCL_CATEGORIES, load_bfcl

    items = [it for c in BFCL_CATEGORIES for it in load_bfcl(c)[:20]]
    for it in items:
        RegexConstraint(call_regex(it["function"]))
