"""How an exercise is defined: its cases, its hint, and the registry that :func:`aieng.book.check` reads.

Introduced in Month 1 and used by every chapter's ``aieng/book/exercises/chNN.py``. This module imports no
exercise module (the checker does), so the checker and the exercises form no import cycle.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Case", "Exercise", "exercise", "equal", "same_choice", "near", "REGISTRY"]


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
        How to print the call in a failure message (default: built from ``args``, before the call).
    timeout_s
        This case's time limit in seconds (default ``AIENG_CHECK_TIMEOUT``, 60 s); ``0`` means none.
    """

    args: tuple[Any, ...] | None = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    expected: Any = None
    raises: type[BaseException] | None = None
    test: Callable[[Any], str | None] | None = None
    show: str | None = None
    timeout_s: float | None = None


@dataclass
class Exercise:
    """An exercise: a name like ``"01.fizzbuzz"``, its cases and the hint shown on failure."""

    name: str
    cases: Callable[[], Sequence[Case]]
    hint: str
    compare: Callable[[Any, Any], bool] | None = None


REGISTRY: dict[str, Exercise] = {}
"""Every exercise registered so far, by name (filled as the exercise modules are imported)."""


def exercise(name: str, hint: str, compare: Callable[[Any, Any], bool] | None = None):
    """Decorator registering a function that returns an exercise's cases.

    Examples
    --------
    >>> @exercise("01.double", hint="Multiply by two.")
    ... def _cases():
    ...     return [Case((2,), expected=4), Case((0,), expected=0)]
    """

    def register(make_cases: Callable[[], Sequence[Case]]) -> Callable[[], Sequence[Case]]:
        if name in REGISTRY and REGISTRY[name].cases is not make_cases:
            raise ValueError(f"exercise {name!r} is registered twice")
        REGISTRY[name] = Exercise(name, make_cases, hint, compare)
        return make_cases

    return register



_NUMBERS = (int, float)


def _is_number(x: Any) -> bool:
    """A real number of a known kind (Python or numpy), never a bool or an arbitrary object."""
    if isinstance(x, bool) or type(x).__module__ == "numpy" and type(x).__name__.startswith("bool"):
        return False
    if type(x) in _NUMBERS:
        return True
    if type(x).__module__ == "numpy":
        import numpy as np

        return isinstance(x, (np.integer, np.floating))
    return False


def _array_like(x: Any) -> bool:
    """An array the checker may convert: a numpy array or scalar, or a list/tuple/number of builtins."""
    if type(x).__module__ == "numpy":
        return True
    if type(x) in (list, tuple):
        return all(_array_like(v) for v in x)
    return type(x) in (int, float, bool)


def equal(expected: Any, got: Any, rtol: float = 1e-6, atol: float = 1e-8) -> bool:
    """Equality that forgives float round-off and compares arrays and tensors element-wise.

    Types are compared first, and ``got``'s own ``__eq__`` is never asked: an object that claims to equal
    everything does not pass. Numbers of different kinds (``int``, ``float``, numpy scalars) compare by
    value; a tensor compares as its numpy array; otherwise the types must be identical (a list is not a
    tuple, ``True`` is not ``1``, a ``str`` subclass is not a ``str``) and the comparison is the
    *expected* value's, element by element for containers.
    """
    if type(got).__module__.startswith("torch") and hasattr(got, "detach") and hasattr(got, "numpy"):
        got = got.detach().cpu().numpy()
    if type(expected).__module__.startswith("torch") and hasattr(expected, "detach") and hasattr(expected, "numpy"):
        expected = expected.detach().cpu().numpy()
    if type(expected).__module__ == "numpy" or type(got).__module__ == "numpy":
        if not (_array_like(expected) and _array_like(got)):
            return False
        import numpy as np

        try:
            a, b = np.asarray(expected), np.asarray(got)
            if a.shape != b.shape or a.dtype.kind == "O" or b.dtype.kind == "O":
                return False
            if a.dtype.kind in "fc" or b.dtype.kind in "fc":
                return bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))
            return bool(np.array_equal(a, b))
        except (TypeError, ValueError):
            return False
    if isinstance(expected, bool) or isinstance(got, bool):
        return type(expected) is type(got) and expected is got
    if _is_number(expected) or _is_number(got):
        if not (_is_number(expected) and _is_number(got)):
            return False
        if isinstance(expected, float) or isinstance(got, float) or type(got).__module__ == "numpy":
            return math.isclose(float(expected), float(got), rel_tol=rtol, abs_tol=atol)
        return int(expected) == int(got)
    if type(expected) is not type(got):
        return False
    if type(expected) is dict:
        return (len(expected) == len(got) and all(k in got for k in expected)
                and all(equal(expected[k], got[k], rtol, atol) for k in expected))
    if type(expected) in (list, tuple):
        return len(expected) == len(got) and all(equal(e, g, rtol, atol) for e, g in zip(expected, got))
    try:
        same = expected.__eq__(got)  # the expected value's own comparison, never the answer's
        return same is not NotImplemented and bool(same)
    except Exception:  # noqa: BLE001
        return False


def same_choice(expected: Any, got: Any) -> bool:
    """A Think! answer: a choice letter compares case-, space- and bracket-insensitively ("(B) " is "b");
    anything else compares with :func:`equal`."""
    if isinstance(expected, str):
        return isinstance(got, str) and got.strip().strip("()").strip().lower() == expected.strip().lower()
    return equal(expected, got)


def near(*, abs_tol: float = 0.0, rel_tol: float = 0.0) -> Callable[[Any, Any], bool]:
    """A comparison for a number worked out by hand: right when it is within ``abs_tol`` of the expected
    value, or within ``rel_tol`` of it relatively. A boolean, a non-number or a non-finite number is wrong."""

    def compare(expected: Any, got: Any) -> bool:
        if isinstance(got, bool):
            return False
        try:
            g, e = float(got), float(expected)
        except (TypeError, ValueError):
            return False
        return math.isfinite(g) and abs(g - e) <= max(abs_tol, rel_tol * abs(e))

    return compare
