"""Autograded exercises: ``check("01.fizzbuzz", fizzbuzz)``.

Introduced in Month 1 and used at the end of every notebook.

A learner's wrong answer never crashes their notebook: :func:`check` prints one line when every
case passes, or the first failing case with what was expected, what came back and a hint. A stub
that still raises ``NotImplementedError`` (or an answer that is ``None`` / ``...``) reads as
"not attempted yet".

Tests and CI call it strictly (``strict=True`` or ``AIENG_CHECK_STRICT=1``): then a wrong answer
raises :class:`CheckFailed`, so a broken worked solution fails the build. "Not attempted" never raises.

Exercises live in ``aieng/book/exercises/chNN.py``, one module a chapter, registered with
:func:`aieng.book.cases.exercise`.
"""

from __future__ import annotations

import importlib
import pkgutil
import traceback
from dataclasses import dataclass
from typing import Any

from aieng import settings
from aieng.book.cases import REGISTRY, Case, Exercise, equal

__all__ = ["CheckResult", "CheckFailed", "check", "registry"]


class CheckFailed(AssertionError):
    """Raised by a strict :func:`check` when an answer is wrong."""


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


_loaded = False


def registry() -> dict[str, Exercise]:
    """Every registered exercise, after importing all ``aieng.book.exercises`` modules."""
    global _loaded
    if not _loaded:
        import aieng.book.exercises as pkg

        for mod in pkgutil.iter_modules(pkg.__path__):
            importlib.import_module(f"{pkg.__name__}.{mod.name}")
        _loaded = True
    return REGISTRY


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
    strict = settings.check_strict() if strict is None else strict
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
