"""Exercises of Month 2, notebook 03-engineering-practice (chapters/02-dsa).

``02.ring_property``, ``02.conflict_hunks``, ``02.first_bad_commit`` (change it and measure: the
number of test runs), ``02.think_bisect``, ``02.think_mypy``.

Hints point to the idea or the function to read; they never contain the answer's code.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any, Callable

from aieng.book.cases import Case, exercise, same_choice

# --------------------------------------------------------------------------------------------
# 02.ring_property: a property test that catches planted bugs in a ring buffer
# --------------------------------------------------------------------------------------------


class _Ring:
    """A correct ring buffer: keeps the last ``capacity`` items, oldest first."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._slots: list[Any] = [None] * capacity
        self._start = 0  # index of the oldest item
        self._size = 0

    def _advance(self) -> None:
        self._start = (self._start + 1) % self.capacity

    def append(self, item: Any) -> None:
        if self._size < self.capacity:
            self._slots[(self._start + self._size) % self.capacity] = item
            self._size += 1
        else:  # full: overwrite the oldest, which makes the next one the oldest
            self._slots[self._start] = item
            self._advance()

    def to_list(self) -> list[Any]:
        return [self._slots[(self._start + i) % self.capacity] for i in range(self._size)]

    def __len__(self) -> int:
        return self._size


class _RingNoAdvance(_Ring):
    """Bug: when full, overwrites the oldest slot but never moves the start."""

    def _advance(self) -> None:
        pass


class _RingOffByOne(_Ring):
    """Bug: the start wraps around one slot too late, so it goes wrong only after two full turns."""

    def _advance(self) -> None:
        self._start = (self._start + 1) % (self.capacity + 1)


class _RingLongLen(_Ring):
    """Bug: ``len`` counts every append, not the items kept."""

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self._appended = 0

    def append(self, item: Any) -> None:
        super().append(item)
        self._appended += 1

    def __len__(self) -> int:
        return self._appended


_RING_BUGS = {
    "never moves its start when it overwrites the oldest item": _RingNoAdvance,
    "wraps its start around one slot too late (wrong only after two full turns)": _RingOffByOne,
    "reports len() as the number of appends, not the number of items kept": _RingLongLen,
}


@contextlib.contextmanager
def _no_health_checks() -> Iterator[None]:
    """Judge the property, not the machine: hypothesis's "too slow" checks fire on a busy CPU.

    Settings built while this runs (the learner's ``@settings`` inside the property) take the profile's
    defaults for what they leave unset, so health checks are off for them and for nothing after.
    """
    from hypothesis import HealthCheck, settings

    settings.register_profile("aieng-check", suppress_health_check=list(HealthCheck), deadline=None)
    previous = settings.get_current_profile_name()
    settings.load_profile("aieng-check")
    try:
        yield
    finally:
        settings.load_profile(previous)


def _judge_ring_property(prop: Callable[[type], Any]) -> str | None:
    with _no_health_checks():
        return _judge_ring_property_now(prop)


def _judge_ring_property_now(prop: Callable[[type], Any]) -> str | None:
    try:
        prop(_Ring)
    except NotImplementedError:
        raise  # the stub: "not attempted yet"
    except Exception as err:  # noqa: BLE001 - the learner's property failed on a correct buffer
        return f"your property fails on a correct ring buffer: {type(err).__name__}: {err}"[:400]
    for bug, cls in _RING_BUGS.items():
        try:
            prop(cls)
        except Exception:  # noqa: BLE001 - caught the bug, as wanted
            continue
        return f"a ring buffer that {bug} passed your property"
    return None


@exercise("02.ring_property", hint="Compare the buffer with a reference that is surely right: the "
          "standard library has a double-ended queue with a maximum length. Let hypothesis choose the "
          "capacity and the items, and compare after every append (contents and length), not only at "
          "the end; a buffer only goes wrong after it has wrapped around, so allow lists much longer "
          "than the capacity.")
def _ring_property():
    return [Case(test=_judge_ring_property, show="ring_buffer_property(RingBuffer) on a correct buffer "
                 "and on three with planted bugs")]


# --------------------------------------------------------------------------------------------
# 02.conflict_hunks: read git's conflict markers
# --------------------------------------------------------------------------------------------

_ONE = """\
class LRUCache:
    def __init__(self, capacity):
<<<<<<< HEAD
        self.evictions = 0
=======
        self.hits = 0
        self.misses = 0
>>>>>>> stats
        self.capacity = capacity
"""

_TWO = """\
a
<<<<<<< HEAD
b1
=======
b2
>>>>>>> feature
c
<<<<<<< HEAD
=======
d2
>>>>>>> feature
e
"""


@exercise("02.conflict_hunks", hint="Walk the lines (keep their line endings) with a small state "
          "machine: outside a hunk, in our side (after the line starting with seven '<'), in their "
          "side (after the seven '='), back outside after the seven '>'. Each hunk gives one pair.")
def _conflict_hunks():
    return [
        Case((_ONE,), expected=[("        self.evictions = 0\n",
                                 "        self.hits = 0\n        self.misses = 0\n")]),
        Case((_TWO,), expected=[("b1\n", "b2\n"), ("", "d2\n")]),
        Case(("no conflict here\n",), expected=[]),
    ]


# --------------------------------------------------------------------------------------------
# 02.first_bad_commit: bisect by hand, with the number of test runs measured (change it and measure)
# --------------------------------------------------------------------------------------------


def _judge_first_bad(first_bad: Callable[[int, Callable[[int], bool]], int]) -> str | None:
    for n in (2, 3, 4, 5, 10, 17, 100, 1000, 12345):
        budget = math.ceil(math.log2(n - 1))
        positions = range(1, n) if n <= 100 else sorted({1, 2, n // 3, n // 2, n - 2, n - 1})
        for bad in positions:
            runs = []

            def is_bad(i: int, bad: int = bad, runs: list[int] = runs) -> bool:
                if not 0 <= i < n:
                    raise IndexError(f"commit {i} does not exist: there are {n} (0 to {n - 1})")
                runs.append(i)
                return i >= bad

            got = first_bad(n, is_bad)
            if got != bad:
                return f"first_bad({n}, is_bad) returned {got!r}; the first bad commit is {bad}"
            if len(runs) > budget:
                return (f"first_bad({n}, ...) found commit {bad} but ran the tests {len(runs)} times; "
                        f"ceil(log2({n - 1})) = {budget} runs are enough")
    return None


@exercise("02.first_bad_commit", hint="Keep two commits: the last one known good and the first one "
          "known bad. Test the one halfway between them, and move whichever end the answer tells you "
          "to. Stop when they are neighbours: you never need to test the two ends themselves.")
def _first_bad_commit():
    return [Case(test=_judge_first_bad, show="first_bad(n, is_bad) for n from 2 to 12345, every "
                 "position of the bad commit (a sample of them for large n), with the runs counted")]


# --------------------------------------------------------------------------------------------
# Think!
# --------------------------------------------------------------------------------------------


@exercise("02.think_bisect", hint="Every test run halves the commits that could be the first bad "
          "one. How many halvings take 1,000 candidates down to one?")
def _think_bisect():
    return [Case(args=None, expected=10)]


@exercise("02.think_mypy", hint="mypy reads types, not values: which of the four mistakes shows up in "
          "the types of the expressions, without running anything?", compare=same_choice)
def _think_mypy():
    return [Case(args=None, expected="b")]
