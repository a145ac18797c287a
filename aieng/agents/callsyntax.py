"""The tool-call syntax ``[f(a=1, b="x"), g()]``, in one place: its grammar, its parser and its type names.

Taught in Month 9 (chapters/09-agents). The grammar (:func:`call_regex`) is what constrained decoding
(:mod:`aieng.llm.constrain`) lets the model write; the parser (:func:`parse_calls`) reads it back. Keeping both
here means they cannot drift apart: every string :func:`call_regex` accepts, :func:`parse_calls` parses
(``tests/test_callsyntax.py`` checks on random schemas).
"""

from __future__ import annotations

import ast
import keyword
import math
import re
import unicodedata
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
    "python_name",
    "literal",
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
    except (RecursionError, MemoryError, ValueError) as exc:  # absurdly nested, or a NUL character
        raise CallParseError(f"not a call list: {type(exc).__name__}") from None
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
            except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
                raise CallParseError(f"{kw.arg}={ast.unparse(kw.value)} is not a literal value") from None
        calls.append(Call(_dotted(node.func), args))
    return calls


def format_calls(calls: Sequence[Call]) -> str:
    """The inverse of :func:`parse_calls`: ``[f(a=1, b='x')]`` with double-quoted strings."""
    def lit(v: Any) -> str:
        if isinstance(v, str):
            return literal(v)
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


_STRING = r'"[^"\\\x00-\x1f\x7f]{0,%d}"' % STRING_MAX  # no quote, backslash or control character
_INTEGER = r"-?(?:0|[1-9][0-9]{0,11})"
_NUMBER = r"-?(?:0|[1-9][0-9]{0,11})(?:\.[0-9]{1,8})?"
_BOOLEAN = r"(?:True|False)"
_SCALAR = f"(?:{_STRING}|{_NUMBER}|{_BOOLEAN})"


def literal(value: Any) -> str:
    """A Python literal of ``value`` as it appears in a call: strings in double quotes, with backslash,
    quote and control characters escaped (``\\n``, ``\\x1f``), so ``ast.literal_eval`` gives ``value`` back."""
    if isinstance(value, str):
        out = []
        for ch in value:
            if ch in '"\\':
                out.append("\\" + ch)
            elif ord(ch) < 0x20 or ord(ch) == 0x7f:
                out.append({"\n": "\\n", "\t": "\\t", "\r": "\\r"}.get(ch, f"\\x{ord(ch):02x}"))
            else:
                out.append(ch)
        return '"' + "".join(out) + '"'
    return repr(value)


_literal = literal  # the name the grammar builder used before


def python_name(name: Any, dotted: bool = False) -> bool:
    """Whether ``name`` can be written in a call and read back unchanged by :func:`parse_calls`.

    A Python identifier that is not a keyword (``from``, ``class`` and ``lambda`` cannot be keyword
    arguments) and that Python's parser does not rewrite (it NFKC-normalises identifiers, so ``ﬁle``
    would come back as ``file``); with ``dotted=True`` each dot-separated part must be one.
    """
    if not isinstance(name, str):
        return False
    parts = name.split(".") if dotted else [name]
    return all(p.isidentifier() and not keyword.iskeyword(p) and unicodedata.normalize("NFKC", p) == p
               for p in parts)


def _enum_literals(values: Sequence[Any]) -> list[str]:
    """The literals of the enum values that survive the trip text -> :func:`parse_calls` unchanged.

    Dropped: values with no literal (``nan``, ``inf``, objects), strings with lone surrogates (not
    encodable text), and any value ``ast.literal_eval`` would not give back with the same type and value.
    """
    out = []
    for v in values:
        if isinstance(v, float) and not math.isfinite(v):
            continue
        try:
            text = literal(v)
            text.encode("utf-8")
            back = ast.literal_eval(text)
        except (ValueError, TypeError, SyntaxError, UnicodeEncodeError, RecursionError, MemoryError):
            continue
        if type(back) is type(v) and back == v:
            out.append(text)
    return out


def value_regex(schema: Mapping[str, Any], depth: int = 0) -> str:
    """Regular expression of a Python literal matching a JSON-schema ``schema``.

    ``enum`` gives an alternation of literals; ``string``, ``integer``, ``number``, ``boolean`` the obvious
    patterns; ``array`` a bracketed list of items; ``object`` a dict literal over its properties (required
    first); anything else (``any``, deeper nesting) a scalar. Enum values and property names that cannot
    be written as a literal and read back unchanged are left out (see :func:`literal`).
    """
    if not isinstance(schema, Mapping):
        schema = {}
    if "enum" in schema:
        values = schema["enum"] if isinstance(schema["enum"], (list, tuple)) else []
        literals = _enum_literals(values)
        if not literals:
            raise ValueError("an empty enum (or no value of it can be written as a literal): "
                             "no value can satisfy this schema")
        return "(?:" + "|".join(re.escape(v) for v in literals) + ")"
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
        pairs = [(re.escape(literal(k)) + ": " + value_regex(v, depth + 1), k in required)
                 for k, v in props.items() if isinstance(k, str) and _enum_literals([k])]
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

    Every string this grammar accepts parses with :func:`parse_calls` and comes back unchanged through
    :func:`format_calls` (``tests/test_callsyntax.py`` checks it on random schemas). So names the
    parser cannot read are left out, not passed through: a function whose name is not a (dotted) Python
    identifier, or is a keyword, is not offered; nor is an optional parameter with such a name (``from``,
    ``max-len``, ``""``); a function with a *required* one is left out (see :func:`python_name`). Every
    repetition is bounded, so every prefix has a completion of bounded length
    (:func:`aieng.llm.constrain.decode_llguidance` relies on it to finish a call cut by the token budget).
    """
    calls = []
    for fn in functions:
        params = fn.get("parameters") or {}
        props = params.get("properties") or {}
        required = set(params.get("required") or [])
        missing = required - set(props)
        if missing:
            raise ValueError(f"{fn.get('name')}: required parameter(s) {sorted(missing)} have no schema, "
                             "so no call can satisfy it")
        if not python_name(fn.get("name"), dotted=True) or any(not python_name(k) for k in required):
            continue  # cannot be written as f(a=...) and parsed back: left out, see the docstring
        args = [(re.escape(k) + "=" + value_regex(v), k in required) for k, v in props.items() if python_name(k)]
        calls.append(re.escape(fn["name"]) + r"\(" + _sequence(args) + r"\)")
    if not calls:
        if not allow_empty:
            raise ValueError("no callable functions and allow_empty=False: the grammar would accept nothing")
        return r"\[\]"
    call = "(?:" + "|".join(calls) + ")"
    body = f"{call}(?:, {call}){{0,{max_calls - 1}}}"
    return r"\[" + (f"(?:{body})?" if allow_empty else body) + r"\]"
