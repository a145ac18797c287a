"""The tool-call syntax ``[f(a=1, b="x"), g()]``, in one place: its grammar, its parser and its type names.

Taught in Month 9 (chapters/09-agents). The grammar (:func:`call_regex`) is what constrained decoding
(:mod:`aieng.llm.constrain`) lets the model write; the parser (:func:`parse_calls`) reads it back. Keeping both
here means they cannot drift apart: every string :func:`call_regex` accepts, :func:`parse_calls` parses
(``tests/test_callsyntax.py`` checks on random schemas).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Call",
    "CallParseError",
    "parse_calls",
    "format_calls",
    "call_regex",
    "value_regex",
    "json_type",
    "type_matches",
    "JSON_TYPES",
    "STRING_MAX",
]

JSON_TYPES: dict[str, str] = {"dict": "object", "float": "number", "tuple": "array", "int": "integer",
                              "str": "string", "bool": "boolean", "list": "array"}
"""Python-style type names (as BFCL writes them) -> JSON-schema type names. The one copy of this map."""


@dataclass
class Call:
    """One tool call: a name and keyword arguments."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


class CallParseError(ValueError):
    """A model reply is not a call list ``[f(a=1), ...]``."""


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return _dotted(node.value) + "." + node.attr
    raise CallParseError(f"a function name must be a (dotted) name, got {ast.unparse(node)!r}")


def parse_calls(text: str) -> list[Call]:
    """Parse a reply ``[f(a=1, b="x"), g()]`` (or ``[]``) into :class:`Call` objects.

    Leading/trailing prose and code fences are tolerated: the first ``[`` to the last ``]`` is parsed; a bare
    ``f(a=1)`` is read as a one-call list. Arguments must be keywords with literal values.
    Raises :class:`CallParseError` otherwise.
    """
    s = text.strip().strip("`").strip()
    if s.startswith("python\n"):
        s = s[7:]
    if "[" in s and "]" in s:
        candidate = s[s.index("["): s.rindex("]") + 1]
    else:
        candidate = f"[{s}]"
    try:
        tree = ast.parse(candidate, mode="eval").body
    except SyntaxError as exc:
        raise CallParseError(f"not a call list: {exc.msg}") from None
    if not isinstance(tree, ast.List):
        raise CallParseError("not a call list: expected [f(...), ...]")
    calls = []
    for node in tree.elts:
        if not isinstance(node, ast.Call):
            raise CallParseError(f"{ast.unparse(node)!r} is not a function call")
        if node.args:
            raise CallParseError(f"{_dotted(node.func)}: use keyword arguments (name=value)")
        args = {}
        for kw in node.keywords:
            if kw.arg is None:
                raise CallParseError("**kwargs is not allowed in a call")
            try:
                args[kw.arg] = ast.literal_eval(kw.value)
            except ValueError:
                raise CallParseError(f"{kw.arg}={ast.unparse(kw.value)} is not a literal value") from None
        calls.append(Call(_dotted(node.func), args))
    return calls


def format_calls(calls: Sequence[Call]) -> str:
    """The inverse of :func:`parse_calls`: ``[f(a=1, b='x')]`` with double-quoted strings."""
    def lit(v: Any) -> str:
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(lit(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{lit(k)}: {lit(x)}" for k, x in v.items()) + "}"
        return repr(v)
    return "[" + ", ".join(f"{c.name}(" + ", ".join(f"{k}={lit(v)}" for k, v in c.arguments.items()) + ")"
                           for c in calls) + "]"


# ----------------------------------------------------------------------------- the grammar


STRING_MAX = 100
"""Longest string literal the call grammar allows (bounded so a rambling model cannot run forever)."""


def json_type(schema: Mapping[str, Any]) -> str:
    """The JSON type a schema names (``"string"``, ``"integer"``, ..., or ``"any"``), BFCL's Python-style
    names (``"dict"``, ``"float"``, ``"tuple"``, ...) mapped to JSON's and a nullable list to its non-null type."""
    t = schema.get("type", "any")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), "any")
    return JSON_TYPES.get(str(t), str(t))


def type_matches(value: Any, t: str) -> bool:
    """Whether a parsed argument ``value`` is of JSON type ``t`` (an unknown or ``"any"`` type accepts anything)."""
    t = JSON_TYPES.get(t, t)
    if t == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if t == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if t == "string":
        return isinstance(value, str)
    if t == "boolean":
        return isinstance(value, bool)
    if t == "array":
        return isinstance(value, (list, tuple))
    if t == "object":
        return isinstance(value, dict)
    return True


_STRING = r'"[^"\\\x00-\x1f]{0,%d}"' % STRING_MAX  # no quote, backslash or control character
_INTEGER = r"-?(?:0|[1-9][0-9]{0,11})"
_NUMBER = r"-?(?:0|[1-9][0-9]{0,11})(?:\.[0-9]{1,8})?"
_BOOLEAN = r"(?:True|False)"
_SCALAR = f"(?:{_STRING}|{_NUMBER}|{_BOOLEAN})"


def _literal(value: Any) -> str:
    """A Python literal of ``value`` as it appears in a call (strings in double quotes)."""
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


def value_regex(schema: Mapping[str, Any], depth: int = 0) -> str:
    """Regular expression of a Python literal matching a JSON-schema ``schema``.

    ``enum`` gives an alternation of literals; ``string``, ``integer``, ``number``, ``boolean`` the obvious
    patterns; ``array`` a bracketed list of items; ``object`` a dict literal over its properties (required
    first); anything else (``any``, deeper nesting) a scalar.
    """
    if "enum" in schema:
        if not schema["enum"]:
            raise ValueError("an empty enum: no value can satisfy this schema")
        return "(?:" + "|".join(re.escape(_literal(v)) for v in schema["enum"]) + ")"
    t = json_type(schema)
    if t == "string":
        return _STRING
    if t == "integer":
        return _INTEGER
    if t == "number":
        return _NUMBER
    if t == "boolean":
        return _BOOLEAN
    if depth >= 2:
        return _SCALAR
    if t == "array":
        item = value_regex(schema.get("items") or {}, depth + 1)
        return rf"\[(?:{item}(?:, {item}){{0,7}})?\]"
    if t == "object":
        props = schema.get("properties") or {}
        if not props:
            return rf"\{{(?:{_STRING}: {_SCALAR}(?:, {_STRING}: {_SCALAR}){{0,5}})?\}}"
        required = set(schema.get("required") or [])
        pairs = [(re.escape(_literal(k)) + ": " + value_regex(v, depth + 1), k in required) for k, v in props.items()]
        return r"\{" + _sequence(pairs) + r"\}"
    return _SCALAR


def _sequence(items: Sequence[tuple[str, bool]]) -> str:
    """``a, b, c`` where required items appear (in order) and optional ones may be left out."""
    req = [p for p, r in items if r]
    opt = [p for p, r in items if not r]
    if req:
        return ", ".join(req) + "".join(f"(?:, {p})?" for p in opt)
    if not opt:
        return ""
    alts = ["".join([opt[i]] + [f"(?:, {p})?" for p in opt[i + 1:]]) for i in range(len(opt))]
    return "(?:" + "|".join(alts) + ")?"


def call_regex(functions: Sequence[Mapping[str, Any]], max_calls: int = 4, allow_empty: bool = True) -> str:
    """Regular expression of a call list ``[f(a=1), g(b="x")]`` over the given function schemas.

    Parameters
    ----------
    functions
        Tool descriptions ``{"name", "description", "parameters": JSON schema}`` (BFCL's ``"dict"`` /
        ``"float"`` type names are accepted as ``"object"`` / ``"number"``).
    max_calls
        Most calls in one list.
    allow_empty
        Allow ``[]``, the way to say "no function fits".
    """
    if not functions:
        if not allow_empty:
            raise ValueError("no functions and allow_empty=False: the grammar would accept nothing")
        return r"\[\]"
    calls = []
    for fn in functions:
        params = fn.get("parameters") or {}
        props = params.get("properties") or {}
        required = set(params.get("required") or [])
        missing = required - set(props)
        if missing:
            raise ValueError(f"{fn.get('name')}: required parameter(s) {sorted(missing)} have no schema, "
                             "so no call can satisfy it")
        args = [(re.escape(k) + "=" + value_regex(v), k in required) for k, v in props.items()]
        calls.append(re.escape(fn["name"]) + r"\(" + _sequence(args) + r"\)")
    call = "(?:" + "|".join(calls) + ")"
    body = f"{call}(?:, {call}){{0,{max_calls - 1}}}"
    return r"\[" + (f"(?:{body})?" if allow_empty else body) + r"\]"
