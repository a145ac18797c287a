"""Autograded exercises: ``check("01.fizzbuzz", fizzbuzz)``.

Introduced in Month 1 and used at the end of every notebook.

A learner's wrong answer never crashes their notebook: :func:`check` prints one line when every
case passes, or the first failing case with what was expected, what came back and a hint. A stub
that still raises ``NotImplementedError`` (or an answer that is ``None`` / ``...``) reads as
"not attempted yet".

Tests and CI call it strictly (``strict=True`` or ``AIENG_CHECK_STRICT=1``): then a wrong answer
raises :class:`CheckFailed`, so a broken worked solution fails the build. "Not attempted" never raises.

Exercises live in ``aieng/exercises/chNN.py``, one module a chapter, registered with :func:`exercise`.
"""

from __future__ import annotations

import importlib
import math
import os
import pkgutil
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Case", "Exercise", "CheckResult", "CheckFailed", "check", "exercise", "registry"]


class CheckFailed(AssertionError):
    """Raised by a strict :func:`check` when an answer is wrong."""


@dataclass
class Case:
    """One test case of an exercise.

    Attributes
    ----------
    args, kwargs
        How the learner's function is called. ``args=None`` means the answer is a value, not a function,
        and is compared as it is.
    expected
        The correct result (ignored when ``raises`` or ``test`` is given).
    raises
        The exception type the answer must raise for this input.
    test
        A custom judge ``test(answer) -> str | None`` returning a failure message, or None when it passes.
    show
        How to print the call in a failure message (default: built from ``args``).
    """

    args: tuple[Any, ...] | None = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    expected: Any = None
    raises: type[BaseException] | None = None
    test: Callable[[Any], str | None] | None = None
    show: str | None = None


@dataclass
class Exercise:
    """An exercise: a name like ``"01.fizzbuzz"``, its cases and the hint shown on failure."""

    name: str
    cases: Callable[[], Sequence[Case]]
    hint: str
    compare: Callable[[Any, Any], bool] | None = None


@dataclass
class CheckResult:
    """What :func:`check` found. Truthy when every case passed."""

    name: str
    status: str  # "pass", "fail" or "not attempted"
    message: str
    passed: int = 0
    total: int = 0
    printed: bool = False

    def __bool__(self) -> bool:
        return self.status == "pass"

    def __repr__(self) -> str:
        return self.message

    def _ipython_display_(self) -> None:
        # check() has already printed the verdict; showing the returned value again would repeat it.
        if not self.printed:
            print(self.message)


_REGISTRY: dict[str, Exercise] = {}
_LOADED = False


def exercise(name: str, hint: str, compare: Callable[[Any, Any], bool] | None = None):
    """Decorator registering a function that returns an exercise's cases.

    Examples
    --------
    >>> @exercise("01.double", hint="Multiply by two.")
    ... def _cases():
    ...     return [Case((2,), expected=4), Case((0,), expected=0)]
    """

    def register(make_cases: Callable[[], Sequence[Case]]) -> Callable[[], Sequence[Case]]:
        if name in _REGISTRY and _REGISTRY[name].cases is not make_cases:
            raise ValueError(f"exercise {name!r} is registered twice")
        _REGISTRY[name] = Exercise(name, make_cases, hint, compare)
        return make_cases

    return register


def registry() -> dict[str, Exercise]:
    """Every registered exercise, after importing all ``aieng.exercises`` modules."""
    global _LOADED
    if not _LOADED:
        import aieng.exercises as pkg

        for mod in pkgutil.iter_modules(pkg.__path__):
            importlib.import_module(f"{pkg.__name__}.{mod.name}")
        _LOADED = True
    return _REGISTRY


def equal(expected: Any, got: Any, rtol: float = 1e-6, atol: float = 1e-8) -> bool:
    """Equality that forgives float round-off and compares arrays and tensors element-wise."""
    if hasattr(got, "detach") and hasattr(got, "numpy"):  # torch tensor
        got = got.detach().cpu().numpy()
    if hasattr(expected, "detach") and hasattr(expected, "numpy"):
        expected = expected.detach().cpu().numpy()
    if type(expected).__module__ == "numpy" or type(got).__module__ == "numpy":
        import numpy as np

        try:
            a, b = np.asarray(expected), np.asarray(got)
            if a.shape != b.shape:
                return False
            if a.dtype.kind in "fc" or b.dtype.kind in "fc":
                return bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))
            return bool(np.array_equal(a, b))
        except (TypeError, ValueError):
            return False
    if isinstance(expected, bool) or isinstance(got, bool):
        return expected is got or (type(expected) is type(got) and expected == got)
    if isinstance(expected, float) or isinstance(got, float):
        try:
            return math.isclose(float(expected), float(got), rel_tol=rtol, abs_tol=atol)
        except (TypeError, ValueError):
            return False
    if isinstance(expected, dict) and isinstance(got, dict):
        return expected.keys() == got.keys() and all(equal(expected[k], got[k], rtol, atol) for k in expected)
    if isinstance(expected, (list, tuple)) and isinstance(got, (list, tuple)):
        return (type(expected) is type(got) and len(expected) == len(got)
                and all(equal(e, g, rtol, atol) for e, g in zip(expected, got)))
    return bool(expected == got)


def _short(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _call_text(fn_name: str, case: Case) -> str:
    if case.show:
        return case.show
    parts = [_short(a, 60) for a in case.args or ()] + [f"{k}={_short(v, 60)}" for k, v in case.kwargs.items()]
    return f"{fn_name}({', '.join(parts)})"


def _not_attempted(answer: Any) -> bool:
    return answer is None or answer is Ellipsis


def _strict_default() -> bool:
    return os.environ.get("AIENG_CHECK_STRICT", "").strip().lower() in {"1", "true", "yes"}


def check(name: str, answer: Any, *, strict: bool | None = None, quiet: bool = False) -> CheckResult:
    """Run exercise ``name``'s cases against ``answer`` and print the verdict.

    Parameters
    ----------
    name
        The exercise, e.g. ``"01.fizzbuzz"``.
    answer
        The learner's function (or value, for exercises that ask for one).
    strict
        Raise :class:`CheckFailed` on a wrong answer. Default: ``AIENG_CHECK_STRICT``.
    quiet
        Do not print; just return the :class:`CheckResult`.
    """
    strict = _strict_default() if strict is None else strict
    exercises = registry()
    if name not in exercises:
        close = [n for n in exercises if n.split(".")[0] == name.split(".")[0]]
        raise KeyError(f"no exercise named {name!r}" + (f"; this chapter has {sorted(close)}" if close else ""))
    ex = exercises[name]
    fn_name = getattr(answer, "__name__", "answer")
    result = _run(ex, answer, fn_name)
    if not quiet:
        print(result.message)
        result.printed = True
    if strict and result.status == "fail":
        raise CheckFailed(result.message)
    return result


def _run(ex: Exercise, answer: Any, fn_name: str) -> CheckResult:
    if _not_attempted(answer):
        return CheckResult(ex.name, "not attempted", f"⏳ {ex.name}: not attempted yet. Write your answer, then run this cell again.")
    cases = list(ex.cases())
    compare = ex.compare or equal
    for i, case in enumerate(cases, 1):
        where = f"case {i} of {len(cases)}"
        try:
            if case.test is not None:
                problem = case.test(answer)
                if problem:
                    return _fail(ex, i, len(cases), f"{where}: {problem}")
                continue
            got = answer if case.args is None else answer(*case.args, **case.kwargs)
        except NotImplementedError:
            return CheckResult(ex.name, "not attempted",
                               f"⏳ {ex.name}: not attempted yet (the stub still raises NotImplementedError).",
                               0, len(cases))
        except Exception as exc:  # the learner's code raised: report it, never crash the notebook
            if case.raises is not None and isinstance(exc, case.raises):
                continue
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            return _fail(ex, i, len(cases),
                         f"{where}: {_call_text(fn_name, case)} raised {type(exc).__name__}: {exc} "
                         f"(line {frame.lineno})")
        if case.raises is not None:
            return _fail(ex, i, len(cases),
                         f"{where}: {_call_text(fn_name, case)} should raise {case.raises.__name__}, "
                         f"but returned {_short(got)}")
        if not compare(case.expected, got):
            call = "your answer" if case.args is None else _call_text(fn_name, case)
            return _fail(ex, i, len(cases), f"{where}: {call}\n   expected: {_short(case.expected)}\n   got:      {_short(got)}")
    verdict = "the case passes" if len(cases) == 1 else f"all {len(cases)} cases pass"
    return CheckResult(ex.name, "pass", f"✅ {ex.name}: {verdict}.", len(cases), len(cases))


def _fail(ex: Exercise, i: int, total: int, detail: str) -> CheckResult:
    return CheckResult(ex.name, "fail", f"❌ {ex.name}: {detail}\n   hint: {ex.hint}", i - 1, total)
