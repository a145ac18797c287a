"""How an exercise is defined: its cases, its hint, and the registry that :func:`aieng.book.check` reads.

Introduced in Month 1 and used by every chapter's ``aieng/book/exercises/chNN.py``. This module imports no
exercise module (the checker does), so the checker and the exercises form no import cycle.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Case", "Exercise", "exercise", "equal", "REGISTRY"]


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
