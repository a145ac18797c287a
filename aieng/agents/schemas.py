"""A Python function as a tool's JSON schema, from its type hints and numpy-style docstring, from scratch.

Taught in Month 9 (chapters/09-agents), where it is asserted against the schema pydantic writes for
:class:`aieng.agents.tools.Tool`.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["schema_from_hints", "docstring_params"]


def docstring_params(doc: str | None) -> tuple[str, dict[str, str]]:
    """Summary line and ``{parameter: description}`` from a numpy-style docstring."""
    if not doc:
        return "", {}
    text = inspect.cleandoc(doc)
    summary = text.split("\n\n", 1)[0].replace("\n", " ").strip()
    params: dict[str, str] = {}
    m = re.search(r"^Parameters\n-+\n(.*?)(?:\n\n[A-Z][A-Za-z ]*\n-+\n|\Z)", text, flags=re.S | re.M)
    if m:
        current = None
        for line in m.group(1).splitlines():
            if line and not line.startswith(" "):
                current = line.split(":", 1)[0].strip()
                params[current] = ""
            elif current and line.strip():
                params[current] = (params[current] + " " + line.strip()).strip()
    return summary, params


_PRIMITIVES = {int: "integer", float: "number", str: "string", bool: "boolean"}


def _type_schema(hint: Any) -> dict[str, Any]:
    """JSON schema of one type hint (from scratch: primitives, list, dict, Literal, Optional)."""
    if hint in _PRIMITIVES:
        return {"type": _PRIMITIVES[hint]}
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        kinds = {_PRIMITIVES[type(a)] for a in args}
        out: dict[str, Any] = {"enum": list(args)}
        if len(kinds) == 1:
            out["type"] = kinds.pop()
        return out
    if origin in (list, Sequence) or hint is list:
        return {"type": "array", "items": _type_schema(args[0])} if args else {"type": "array", "items": {}}
    if origin is dict or hint is dict:
        return ({"type": "object", "additionalProperties": _type_schema(args[1])} if args
                else {"type": "object", "additionalProperties": True})
    if origin in (typing.Union, types.UnionType):
        non_null = [a for a in args if a is not type(None)]
        parts = [_type_schema(a) for a in non_null] + ([{"type": "null"}] if len(non_null) < len(args) else [])
        return {"anyOf": parts}
    raise TypeError(f"no JSON schema for type hint {hint!r}; use int, float, str, bool, list[...], dict[str, ...], "
                    "Literal[...] or X | None")


def schema_from_hints(fn: Callable[..., Any]) -> dict[str, Any]:
    """The ``{"name", "description", "parameters"}`` tool schema of ``fn``, from scratch.

    Every parameter needs a type hint; parameters without a default are required; descriptions come from
    the numpy-style docstring. Raises ``TypeError`` for a parameter without a hint or with ``*args``.
    """
    hints = typing.get_type_hints(fn)
    summary, docs = docstring_params(fn.__doc__)
    props: dict[str, Any] = {}
    required = []
    for name, p in inspect.signature(fn).parameters.items():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise TypeError(f"{fn.__name__}: *args/**kwargs cannot be described by a schema")
        if name not in hints:
            raise TypeError(f"{fn.__name__}: parameter {name!r} has no type hint")
        prop = _type_schema(hints[name])
        if name in docs:
            prop["description"] = docs[name]
        if p.default is p.empty:
            required.append(name)
        else:
            prop["default"] = p.default
        props[name] = prop
    return {"name": fn.__name__, "description": summary,
            "parameters": {"type": "object", "properties": props, "required": required}}
