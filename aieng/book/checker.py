"""Autograded exercises: ``check("01.fizzbuzz", fizzbuzz)``.

Introduced in Month 1 and used at the end of every notebook.

A learner's wrong answer never crashes their notebook: :func:`check` prints one line when every
case passes, or the first failing case with what was expected, what came back and a hint. A stub
that still raises ``NotImplementedError`` (or an answer that is ``None`` / ``...``) reads as
"not attempted yet".

What cannot crash or hang it (each has a test in ``tests/test_check.py``):

- a function that loops for ever: each case has a time limit (``Case.timeout_s``, else
  ``AIENG_CHECK_TIMEOUT``, default 60 s). The learner's function runs in the caller's own thread (the
  notebook's main thread: signals, torch's and numpy's per-thread settings behave as in the notebook);
  a watchdog thread injects :class:`CaseTimeout` into it with ``PyThreadState_SetAsyncExc`` when time is
  up. That stops any loop that runs Python code. A call blocked inside C (``time.sleep(10**6)``, a
  socket read) is only reached when it returns to Python: Jupyter's interrupt button (Ctrl-C) still
  stops it. (A subprocess could kill anything, but it would not see the notebook's variables.)
- ``SystemExit``, ``KeyboardInterrupt`` and any other ``BaseException`` *raised by the learner's code*
  become a verdict. A real Ctrl-C is told apart: while a case runs (in the main thread) a SIGINT
  handler records that the signal arrived, and then the ``KeyboardInterrupt`` is re-raised, so the
  learner can still stop a long check.
- an answer whose ``repr`` raises, or is huge, is shown as ``<unprintable ...>`` or cut short.
- an answer object whose ``__eq__`` always says True: :func:`aieng.book.cases.equal` compares types
  first and never asks the answer's ``__eq__``.
- a function that mutates its inputs: the call is shown as it was given (its text is taken before
  the call).

Tests and CI call it strictly (``strict=True`` or ``AIENG_CHECK_STRICT=1``): then a wrong answer
raises :class:`CheckFailed`, so a broken worked solution fails the build. "Not attempted" never raises.

Exercises live in ``aieng/book/exercises/chNN.py``, one module a chapter, registered with
:func:`aieng.book.cases.exercise`.
"""

from __future__ import annotations

import importlib
import pkgutil
import signal
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from aieng import settings
from aieng.foundations.interrupt import raise_in_thread, withdraw
from aieng.book.cases import REGISTRY, Case, Exercise, equal

__all__ = ["CheckResult", "CheckFailed", "CaseTimeout", "check", "registry", "time_limit", "safe_repr"]


class CheckFailed(AssertionError):
    """Raised by a strict :func:`check` when an answer is wrong."""


class CaseTimeout(BaseException):
    """Injected into the learner's running function when a case's time limit is up.

    A ``BaseException``, so that a learner's ``except Exception:`` does not swallow it."""


class _RealInterrupt(Exception):
    pass


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise :class:`CaseTimeout` in this thread if the block runs longer than ``seconds``.

    A watchdog thread (daemon, ended when the block ends) injects the exception with
    ``PyThreadState_SetAsyncExc``; it takes effect at the next Python instruction, so code waiting inside
    C is stopped only when the call returns. An injection that races with the end of the block is
    cancelled, so the exception never escapes after the block.
    """
    if not seconds or seconds <= 0:
        yield
        return
    target = threading.get_ident()
    lock = threading.Lock()
    state = {"done": False, "fired": False}
    stop = threading.Event()

    def watchdog() -> None:
        wait = seconds
        while not stop.wait(wait):  # injected again every 0.2 s: a bare `except:` may swallow one
            with lock:
                if state["done"]:
                    return
                state["fired"] = True
                raise_in_thread(target, CaseTimeout)
            wait = 0.2

    dog = threading.Thread(target=watchdog, daemon=True, name="aieng-check-watchdog")
    dog.start()
    try:
        yield
    finally:
        with lock:
            state["done"] = True
        stop.set()
        dog.join()
        if state["fired"]:
            withdraw(target)  # an injection not yet delivered, and the interpreter's pending flag


@contextmanager
def _sigint_watch() -> Iterator[dict[str, bool]]:
    """Record whether a real SIGINT (Ctrl-C, Jupyter's interrupt) arrives while the block runs."""
    seen = {"sigint": False}
    if threading.current_thread() is not threading.main_thread():
        yield seen
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum: int, frame: Any) -> None:
        seen["sigint"] = True
        if previous is signal.SIG_IGN:
            return
        if callable(previous):
            previous(signum, frame)
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGINT, handler)
    except (ValueError, OSError):  # not allowed here: no distinction possible, Ctrl-C is real
        yield seen
        return
    try:
        yield seen
    finally:
        signal.signal(signal.SIGINT, previous)


def safe_repr(value: Any, limit: int = 200) -> str:
    """``repr(value)`` cut to ``limit`` characters, or ``<unprintable T: error>`` when ``repr`` raises."""
    try:
        text = repr(value)
        if not isinstance(text, str):
            raise TypeError("__repr__ returned a non-string")
    except BaseException as exc:  # noqa: BLE001 - a learner's object must not crash the checker
        if isinstance(exc, KeyboardInterrupt):
            raise
        name = type(value).__name__
        return f"<unprintable {name} object: its repr raised {type(exc).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except BaseException:  # noqa: BLE001
        return "<message unprintable>"


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


def _chapter_exercises(name: str) -> dict[str, Exercise]:
    """The registry after importing only the modules of ``name``'s chapter (``01.x`` -> ``ch01*.py``).

    A Month 1 learner's first ``check`` then does not wait for another chapter's imports (torch, for one).
    """
    chapter = name.split(".")[0]
    if not _loaded and chapter.isdigit():
        import aieng.book.exercises as pkg

        for mod in pkgutil.iter_modules(pkg.__path__):
            if mod.name == f"ch{chapter}" or mod.name.startswith(f"ch{chapter}_"):
                importlib.import_module(f"{pkg.__name__}.{mod.name}")
        if name in REGISTRY:
            return REGISTRY
    return registry()


def _short(value: Any, limit: int = 200) -> str:
    return safe_repr(value, limit)


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
    exercises = _chapter_exercises(name)
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
    default_limit = settings.check_timeout()
    for i, case in enumerate(cases, 1):
        where = f"case {i} of {len(cases)}"
        shown = _call_text(fn_name, case) if case.args is not None else "your answer"  # before any mutation
        limit = case.timeout_s if case.timeout_s is not None else default_limit
        try:
            with _sigint_watch() as seen:
                try:
                    with time_limit(limit):
                        if case.test is not None:
                            problem = case.test(answer)
                        else:
                            got = answer if case.args is None else answer(*case.args, **case.kwargs)
                except KeyboardInterrupt:
                    if seen["sigint"]:
                        raise _RealInterrupt from None
                    raise
            if case.test is not None:
                if problem:
                    return _fail(ex, i, len(cases), f"{where}: {_safe_str_value(problem)}")
                continue
        except _RealInterrupt:
            raise KeyboardInterrupt("check() was interrupted") from None
        except CaseTimeout:
            return _fail(ex, i, len(cases),
                         f"{where}: {shown} was stopped after {limit:g} s (the time limit of a case). "
                         "Does it loop for ever (a while loop whose condition never changes)?")
        except NotImplementedError:
            return CheckResult(ex.name, "not attempted",
                               f"⏳ {ex.name}: not attempted yet (the stub still raises NotImplementedError).",
                               0, len(cases))
        except BaseException as exc:  # noqa: BLE001 - the learner's code raised: a verdict, never a crash
            if case.raises is not None and isinstance(exc, case.raises):
                continue
            frames = traceback.extract_tb(exc.__traceback__)
            line = f" (line {frames[-1].lineno})" if frames else ""
            kind = "" if isinstance(exc, Exception) else (
                " (this would have stopped the notebook: a function should return or raise an ordinary error)")
            return _fail(ex, i, len(cases),
                         f"{where}: {shown} raised {type(exc).__name__}: {_safe_str(exc)}{line}{kind}")
        if case.raises is not None:
            return _fail(ex, i, len(cases),
                         f"{where}: {shown} should raise {case.raises.__name__}, "
                         f"but returned {_short(got)}")
        try:
            ok = bool(compare(case.expected, got))
        except Exception as exc:  # noqa: BLE001 - an answer the comparison cannot handle is wrong, not a crash
            ok = False
            note = f" (comparing raised {type(exc).__name__}: {_safe_str(exc)})"
        else:
            note = ""
        if not ok:
            return _fail(ex, i, len(cases),
                         f"{where}: {shown}\n   expected: {_short(case.expected)}\n   got:      {_short(got)}"
                         f"{' (a ' + type(got).__name__ + ')' if _type_differs(case.expected, got) else ''}{note}")
    verdict = "the case passes" if len(cases) == 1 else f"all {len(cases)} cases pass"
    return CheckResult(ex.name, "pass", f"✅ {ex.name}: {verdict}.", len(cases), len(cases))


def _safe_str_value(value: Any) -> str:
    return value if isinstance(value, str) else safe_repr(value)


def _type_differs(expected: Any, got: Any) -> bool:
    return type(expected) is not type(got) and not (
        isinstance(expected, (int, float)) and isinstance(got, (int, float)))


def _fail(ex: Exercise, i: int, total: int, detail: str) -> CheckResult:
    return CheckResult(ex.name, "fail", f"❌ {ex.name}: {detail}\n   hint: {ex.hint}", i - 1, total)
