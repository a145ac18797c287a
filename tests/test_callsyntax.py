"""aieng.agents.callsyntax: the grammar and the parser agree, on random schemas (a property test).

The grammar (:func:`call_regex`) is what constrained decoding lets a model write; the parser
(:func:`parse_calls`) reads it back. The promise "valid by construction" holds only if every string the
grammar accepts parses, and parses to the same calls after :func:`format_calls`. Schemas and strings are
drawn at random (seeded), including the hostile corners: keywords and non-identifiers as names, enum
values with quotes, backslashes, newlines, unicode, ``nan``; numbers like ``-0`` and ``1e5``.
"""

from __future__ import annotations

import math
import random
import re

try:
    import re._parser as sre_parse  # Python >= 3.11
    import re._constants as sre_c
except ImportError:  # pragma: no cover
    import sre_constants as sre_c  # type: ignore[no-redef]
    import sre_parse  # type: ignore[no-redef]

import pytest

from aieng.agents.callsyntax import (
    STRING_MAX,
    call_regex,
    format_calls,
    json_type,
    literal,
    parse_calls,
    python_name,
    type_matches,
)

NAMES = ["x", "city", "from", "class", "lambda", "", "max-len", "2nd", "ﬁle", "café", "_a", "None", "True",
         "a b", "print", "x.y", "value"]
FN_NAMES = ["f", "math.hypot", "get-weather", "a.class", "ℌ", "flights.search", "weather", "import", "x.y.z"]
CHARS = 'ab Z09"\\\n\t\x00\x1f\x7f\u2028\u0085é中😀\'`[](){},=:#'
ENUM_VALUES = ["a", 'say "hi"', "back\\slash", "new\nline", "tab\t", "中文", "", "'", "\x7f", "\u2028",
               0, -0, 1, 10**15, 1.5, -0.0, 1e5, 1e-7, float("nan"), float("inf"), True, False, None]


def random_schema(rng: random.Random, depth: int = 0) -> dict:
    kind = rng.choice(["string", "integer", "number", "float", "boolean", "array", "object", "dict", "enum", "any",
                       ["string", "null"], "tuple"])
    if kind == "enum":
        return {"enum": rng.sample(ENUM_VALUES, rng.randint(1, 5))}
    schema: dict = {"type": kind}
    if kind in ("array", "tuple") and depth < 3:
        schema["items"] = random_schema(rng, depth + 1) if rng.random() < 0.8 else {}
    if kind in ("object", "dict") and depth < 3 and rng.random() < 0.7:
        props = {rng.choice(NAMES + ["k", "k2", 'q"uote', "new\nline"]): random_schema(rng, depth + 1)
                 for _ in range(rng.randint(0, 3))}
        schema["properties"] = props
        schema["required"] = [k for k in props if rng.random() < 0.5]
    return schema


def random_functions(rng: random.Random) -> list[dict]:
    fns = []
    for _ in range(rng.randint(1, 3)):
        props = {rng.choice(NAMES): random_schema(rng) for _ in range(rng.randint(0, 4))}
        required = [k for k in props if rng.random() < 0.5]
        fns.append({"name": rng.choice(FN_NAMES), "parameters": {"type": "dict", "properties": props,
                                                                 "required": required}})
    return fns


def sample(rng: random.Random, pattern: str) -> str:
    """A random string the regex ``pattern`` fully matches (a walk over its parse tree)."""

    def one_char_in(items) -> str:
        negate = items and items[0][0] is sre_c.NEGATE
        def inside(ch: str) -> bool:
            for op, av in items:
                if op is sre_c.LITERAL and ord(ch) == av:
                    return True
                if op is sre_c.RANGE and av[0] <= ord(ch) <= av[1]:
                    return True
            return False
        if negate:
            while True:
                ch = rng.choice(CHARS)
                if not inside(ch):
                    return ch
        choices = []
        for op, av in items:
            if op is sre_c.LITERAL:
                choices.append(chr(av))
            elif op is sre_c.RANGE:
                choices.append(chr(rng.randint(av[0], av[1])))
        return rng.choice(choices)

    def walk(tree) -> str:
        out = []
        for op, av in tree:
            if op is sre_c.LITERAL:
                out.append(chr(av))
            elif op is sre_c.NOT_LITERAL:
                out.append(next(c for c in iter(lambda: rng.choice(CHARS), None) if ord(c) != av))
            elif op is sre_c.IN:
                out.append(one_char_in(av))
            elif op is sre_c.SUBPATTERN:
                out.append(walk(av[-1]))
            elif op is sre_c.BRANCH:
                out.append(walk(rng.choice(av[1])))
            elif op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT):
                lo, hi, sub = av
                hi = min(hi, lo + 3) if hi is not sre_c.MAXREPEAT else lo + 3
                # now and then the longest allowed repetition (a 100-character string, 8 items)
                n = av[1] if av[1] is not sre_c.MAXREPEAT and rng.random() < 0.1 else rng.randint(lo, hi)
                out.extend(walk(sub) for _ in range(n))
            else:
                raise AssertionError(f"the call grammar uses an unexpected regex construct: {op}")
        return "".join(out)

    return walk(sre_parse.parse(pattern))


def same(a, b) -> bool:
    """Equal values of the same types (1 is not 1.0, True is not 1), nan equal to nan."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


@pytest.mark.parametrize("seed", range(40))
def test_every_string_the_grammar_accepts_parses_and_round_trips(seed):
    rng = random.Random(seed)
    fns = random_functions(rng)
    try:
        pattern = call_regex(fns, max_calls=rng.randint(1, 4))
    except ValueError:
        return  # a schema no call can satisfy (an empty enum, a required parameter without schema)
    rx = re.compile(pattern)
    by_name = {f["name"]: f for f in fns}
    for _ in range(30):
        text = sample(rng, pattern)
        assert rx.fullmatch(text), text
        calls = parse_calls(text)  # must not raise
        again = parse_calls(format_calls(calls))
        assert [c.name for c in again] == [c.name for c in calls]
        for c, d in zip(calls, again):
            assert same(c.arguments, d.arguments), (text, format_calls(calls))
            props = by_name[c.name]["parameters"]["properties"]
            for k, v in c.arguments.items():
                assert k in props, f"{k!r} is not a parameter of {c.name}"
                s = props[k]
                if "enum" in s:
                    assert any(same(v, e) for e in s["enum"]), (k, v, s["enum"])
                else:
                    assert type_matches(v, json_type(s)), (k, v, s)


def test_names_the_parser_cannot_read_are_left_out():
    fns = [{"name": "book", "parameters": {"properties": {"from": {"type": "string"}, "to": {"type": "string"}},
                                           "required": ["to"]}},
           {"name": "fly", "parameters": {"properties": {"from": {"type": "string"}}, "required": ["from"]}},
           {"name": "get-weather", "parameters": {"properties": {}}}]
    rx = re.compile(call_regex(fns))
    assert rx.fullmatch('[book(to="Rome")]') and not rx.fullmatch('[book(from="Oslo", to="Rome")]')
    assert not rx.fullmatch('[fly(from="Oslo")]') and not rx.fullmatch("[get-weather()]")
    assert python_name("a.b", dotted=True) and not python_name("from") and not python_name("ﬁle")
    only_bad = [fns[1]]
    assert call_regex(only_bad) == r"\[\]"
    with pytest.raises(ValueError):
        call_regex(only_bad, allow_empty=False)


@pytest.mark.parametrize("value", ['say "hi"', "back\\slash", "new\nline", "\x00\x1f\x7f", "中😀", "", 0, -0.0,
                                   1e5, 10**20, True, None])
def test_literal_round_trips(value):
    import ast

    assert same(ast.literal_eval(literal(value)), value)


def test_strings_are_bounded_and_numbers_parse():
    rx = re.compile(call_regex([{"name": "f", "parameters": {"properties": {
        "s": {"type": "string"}, "n": {"type": "number"}, "i": {"type": "integer"}}}}]))
    assert rx.fullmatch('[f(s="' + "a" * STRING_MAX + '")]') and not rx.fullmatch('[f(s="' + "a" * (STRING_MAX + 1) + '")]')
    for text in ["[f(n=-0)]", "[f(n=-0.5)]", "[f(i=-0)]", "[f(n=123456789012.12345678)]"]:
        assert rx.fullmatch(text) and parse_calls(text)
    assert not rx.fullmatch("[f(n=1e5)]") and not rx.fullmatch("[f(i=01)]")


@pytest.mark.parametrize("bad", ["[" * 5000 + "]" * 5000, "[f(x=" + "(" * 3000 + "1" + ")" * 3000 + ")]",
                                 "[f(x=\x00)]"])
def test_parser_refuses_hostile_text_cleanly(bad):
    from aieng.agents.callsyntax import CallParseError

    with pytest.raises(CallParseError):
        parse_calls(bad)
