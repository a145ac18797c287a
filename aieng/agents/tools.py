"""Tools for agents: Python functions as JSON-schema tools, validated calls, and an AST checker of calls.

Taught in Month 9 (chapters/09-agents); the tool layer of the agent lab.

>>> def add(a: int, b: int = 0) -> int:
...     '''Add two integers.
...
...     Parameters
...     ----------
...     a
...         The first number.
...     b
...         The second number.
...     '''
...     return a + b
>>> box = ToolBox([Tool.from_function(add)])
>>> box.call("add", {"a": "two"}).ok                  # validation error -> an observation, not a crash
False

Pieces:

- :func:`aieng.agents.schemas.schema_from_hints` writes a function's JSON schema from scratch;
  :class:`Tool` uses pydantic for the same job (and for validation); the chapter asserts the two agree.
- :class:`ToolBox`: calls a tool by name with arguments from a model. Unknown tools, invalid arguments, a tool that
  raises and a tool that hangs all come back as an :class:`Observation` with ``ok=False``; nothing propagates.
- the call syntax ``[f(a=1), g(b="x")]`` the agents emit is parsed in :mod:`aieng.agents.callsyntax`.
- the BFCL-style checker of calls is :func:`aieng.agents.scoring.check_calls`.
"""

from __future__ import annotations

import ast
import inspect
import os
import signal
import threading
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aieng.agents.schemas import docstring_params
from aieng.foundations.interrupt import raise_in_thread, withdraw

__all__ = [
    "ToolTimeout",
    "Tool",
    "ToolBox",
    "Observation",
    "render_signature",
    "calculator",
]


def _strip_titles(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _strip_titles(v) for k, v in schema.items() if k != "title"}
    if isinstance(schema, list):
        return [_strip_titles(v) for v in schema]
    return schema


@dataclass
class Tool:
    """A callable the model may use: name, description, JSON schema of its parameters, and a validator.

    Build one with :meth:`from_function`; the parameters' schema and the validation both come from pydantic
    (``validate_call`` semantics: ``"3"`` is accepted for an ``int``, ``"three"`` is not).

    ``isolated=True`` runs each call in a child process (forked, so the function need not be picklable,
    but its result must be), killed with its process group at ``timeout_s``: the only way to stop a tool
    that blocks for ever inside C. See :meth:`ToolBox.call` for what each mode guarantees.
    """

    name: str
    description: str
    parameters: dict[str, Any]
    fn: Callable[..., Any]
    timeout_s: float = 10.0
    _model: Any = field(default=None, repr=False)
    isolated: bool = False

    @classmethod
    def from_function(cls, fn: Callable[..., Any], name: str | None = None, timeout_s: float = 10.0,
                      isolated: bool = False) -> Tool:
        """Make a tool of a typed, documented function (``isolated=True``: run it in a child process)."""
        import pydantic

        hints = typing.get_type_hints(fn)
        summary, docs = docstring_params(fn.__doc__)
        fields: dict[str, Any] = {}
        for pname, p in inspect.signature(fn).parameters.items():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise TypeError(f"{fn.__name__}: *args/**kwargs cannot be described by a schema")
            if pname not in hints:
                raise TypeError(f"{fn.__name__}: parameter {pname!r} has no type hint")
            default = ... if p.default is p.empty else p.default
            fields[pname] = (hints[pname], pydantic.Field(default, description=docs.get(pname)))
        model = pydantic.create_model(f"{fn.__name__}_args", __config__=pydantic.ConfigDict(extra="forbid"), **fields)
        schema = _strip_titles(model.model_json_schema())
        schema.pop("additionalProperties", None)
        schema.setdefault("required", [])
        return cls(name or fn.__name__, summary, schema, fn, timeout_s, model, isolated)

    @property
    def schema(self) -> dict[str, Any]:
        """``{"name", "description", "parameters"}``, the form agents and the grammar builder read."""
        return {"name": self.name, "description": self.description, "parameters": self.parameters}

    def validate(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Validated (and coerced) arguments; raises ``pydantic.ValidationError`` when they do not fit."""
        if self._model is None:
            return dict(arguments)
        return self._model.model_validate(dict(arguments)).model_dump()


@dataclass
class Observation:
    """What a tool call gave back, as the model will read it."""

    tool: str
    ok: bool
    content: str
    value: Any = None
    error: str | None = None

    def __str__(self) -> str:
        return self.content if self.ok else f"Error: {self.error}"


class ToolBox:
    """Tools by name, called safely: every failure becomes an :class:`Observation` with ``ok=False``.

    Parameters
    ----------
    tools
        :class:`Tool` objects or plain typed functions.
    max_chars
        Longest observation text handed back to the model (the rest is cut, and the cut is said).
    """

    def __init__(self, tools: Sequence[Tool | Callable[..., Any]] = (), max_chars: int = 2000) -> None:
        self.tools: dict[str, Tool] = {}
        self.max_chars = max_chars
        for t in tools:
            self.add(t)

    def add(self, tool: Tool | Callable[..., Any]) -> Tool:
        """Register a tool (a function is wrapped with :meth:`Tool.from_function`)."""
        t = tool if isinstance(tool, Tool) else Tool.from_function(tool)
        self.tools[t.name] = t
        return t

    def __contains__(self, name: str) -> bool:
        return name in self.tools

    def __len__(self) -> int:
        return len(self.tools)

    @property
    def schemas(self) -> list[dict[str, Any]]:
        """The schemas of every tool."""
        return [t.schema for t in self.tools.values()]

    def call(self, name: str, arguments: Mapping[str, Any] | None = None) -> Observation:
        """Call tool ``name``; never raises.

        Unknown tool, invalid arguments, an exception (any ``BaseException``, ``SystemExit`` included)
        inside the tool, a result that cannot be shown as text, or no answer within the tool's
        ``timeout_s`` each give ``ok=False`` with an error the model can read.

        What is guaranteed when a tool does not answer in time:

        - an ``isolated`` tool runs in a child process, which is killed with its process group: nothing
          is left behind, whatever the tool was doing;
        - any other tool runs in a daemon worker thread. At the timeout a :class:`ToolTimeout` is raised
          inside it (``PyThreadState_SetAsyncExc``), which stops a tool running Python code (a loop, a
          loop of short sleeps) within ``GRACE_S``. A thread blocked inside C for ever (a long
          ``time.sleep``, a socket read without timeout) cannot be stopped by Python: it is kept in
          :attr:`abandoned` (and counted in an agent's trace), and the observation says so. The
          :class:`ToolTimeout` sent to it is withdrawn, so if the call ever returns the tool finishes
          and its result is dropped. Mark such tools ``isolated``.
        """
        import pydantic

        tool = self.tools.get(name)
        if tool is None:
            return Observation(name, False, "", error=f"unknown tool {_clip(name, 80)!r}; available: {sorted(self.tools)}")
        try:
            args = tool.validate(arguments or {})
        except pydantic.ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors())
            return Observation(name, False, "", error=f"invalid arguments for {name}: {_clip(problems, 500)}")
        except Exception as exc:  # a validator bug must not kill the loop either
            return Observation(name, False, "", error=f"invalid arguments for {name}: {_clip(_safe_text(exc), 500)}")
        result = _run_isolated(tool, args) if tool.isolated else self._run_thread(tool, args)
        if "timeout" in result:
            return Observation(name, False, "", error=f"{name} did not answer within {tool.timeout_s:g} s "
                                                     f"(timed out{result['timeout']})")
        if "error" in result:
            return Observation(name, False, "", error=f"{name} raised {_clip(result['error'], 500)}")
        value = result.get("value")
        try:
            text = str(value)
            if not isinstance(text, str):
                raise TypeError("__str__ returned a non-string")
        except Exception as exc:  # noqa: BLE001 - an unprintable result is the tool's problem, not the loop's
            return Observation(name, False, "", error=f"{name} returned a {type(value).__name__} that cannot be "
                                                     f"shown as text ({type(exc).__name__})")
        if len(text) > self.max_chars:
            text = text[: self.max_chars] + f" ... [{len(text) - self.max_chars} more characters cut]"
        return Observation(name, True, text, value=value)

    GRACE_S = 1.0
    """How long a timed-out tool thread is given to stop after :class:`ToolTimeout` is raised in it."""

    @property
    def abandoned(self) -> list[threading.Thread]:
        """Tool threads that timed out and could not be stopped (blocked in C) and are still running."""
        self._abandoned = [t for t in getattr(self, "_abandoned", []) if t.is_alive()]
        return list(self._abandoned)

    def _run_thread(self, tool: Tool, args: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = {}

        def work() -> None:
            try:
                result["value"] = tool.fn(**args)
            except ToolTimeout:
                pass
            except BaseException as exc:  # noqa: BLE001 - reported as an observation
                result["error"] = f"{type(exc).__name__}: {_safe_text(exc)}"

        thread = threading.Thread(target=work, daemon=True, name=f"tool-{tool.name}")
        thread.start()
        thread.join(tool.timeout_s)
        if not thread.is_alive():
            return result
        raise_in_thread(thread.ident, ToolTimeout)
        thread.join(self.GRACE_S)
        if thread.is_alive():
            # Left pending, the ToolTimeout would slow every thread of the process until the call in C
            # returns (aieng.foundations.interrupt): take it back, and let the thread finish unseen.
            withdraw(thread.ident)
            self._abandoned = self.abandoned + [thread]
            return {"timeout": "; it is blocked outside Python and was left running as a daemon thread: "
                               "mark it isolated=True to run it in a process that can be killed"}
        return {"timeout": ""}


class ToolTimeout(BaseException):
    """Raised inside a tool's thread when its time is up (a ``BaseException``: ``except Exception`` in the
    tool does not swallow it)."""


def _safe_text(exc: BaseException) -> str:
    try:
        return str(exc)
    except BaseException:  # noqa: BLE001
        return "<message unprintable>"


def _clip(text: str, n: int) -> str:
    text = str(text)
    return text if len(text) <= n else text[: n - 3] + "..."


def _run_isolated(tool: Tool, args: dict[str, Any]) -> dict[str, Any]:
    """Run ``tool.fn(**args)`` in a forked child (its own process group), killed at ``tool.timeout_s``."""
    import multiprocessing as mp
    import pickle

    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    receive, send = ctx.Pipe(duplex=False)

    def child() -> None:
        try:
            os.setsid()
        except OSError:
            pass
        try:
            out: tuple[str, Any] = ("value", tool.fn(**args))
            try:
                payload = pickle.dumps(out)
            except BaseException as exc:  # noqa: BLE001
                payload = pickle.dumps(("error", f"its result cannot be sent back from the isolated process "
                                                 f"({type(exc).__name__}: {_safe_text(exc)[:200]})"))
        except BaseException as exc:  # noqa: BLE001
            payload = pickle.dumps(("error", f"{type(exc).__name__}: {_safe_text(exc)[:500]}"))
        send.send_bytes(payload)

    proc = ctx.Process(target=child, daemon=True, name=f"tool-{tool.name}")
    proc.start()
    send.close()
    try:
        if receive.poll(tool.timeout_s):
            try:
                kind, value = pickle.loads(receive.recv_bytes())
            except (EOFError, OSError):
                kind, value = "error", f"the isolated process ended without an answer (exit code {proc.exitcode})"
            return {kind: value}
        return {"timeout": "; its process was killed"}
    finally:
        receive.close()
        if proc.is_alive():
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                proc.kill()
        proc.join(5)
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # grandchildren left in its group
        except OSError:
            pass


def render_signature(schema: Mapping[str, Any], max_description: int = 100) -> str:
    """One compact line per tool for a prompt: ``name(a: integer, b: string = ...) - description``."""
    params = schema.get("parameters") or {}
    req = set(params.get("required") or [])
    parts = []
    for k, v in (params.get("properties") or {}).items():
        t = v.get("type", "any")
        if "enum" in v:
            t = "|".join(map(repr, v["enum"][:6]))
        parts.append(f"{k}: {t}" + ("" if k in req else "?"))
    desc = (schema.get("description") or "").strip().replace("\n", " ")
    if len(desc) > max_description:
        desc = desc[: max_description - 3] + "..."
    return f"{schema['name']}({', '.join(parts)}) - {desc}"


# ----------------------------------------------------------------------------- a first tool

_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b, ast.FloorDiv: lambda a, b: a // b, ast.Mod: lambda a, b: a % b,
    ast.Pow: lambda a, b: a ** b,
}


def calculator(expression: str) -> float:
    """Evaluate an arithmetic expression such as (3 + 4) * 2 / 7.

    Parameters
    ----------
    expression
        Numbers, + - * / // % ** and parentheses; nothing else.
    """
    def ev(node: ast.AST) -> float:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            left, right = ev(node.left), ev(node.right)
            if isinstance(node.op, ast.Pow) and abs(right) > 100:
                raise ValueError("exponent too large")
            return _BINOPS[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            v = ev(node.operand)
            return -v if isinstance(node.op, ast.USub) else v
        raise ValueError(f"not arithmetic: {ast.unparse(node)!r}")

    cleaned = expression.replace(",", "").replace("$", "").replace("x", "*").replace("×", "*").replace("÷", "/")
    try:
        tree = ast.parse(cleaned.strip(), mode="eval")
    except SyntaxError:
        raise ValueError(f"cannot parse {expression!r} as arithmetic") from None
    value = ev(tree.body)
    return round(float(value), 10)
