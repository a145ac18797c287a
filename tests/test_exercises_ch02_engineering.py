"""Each exercise of chapters/02-dsa/03-engineering-practice accepts a correct answer and rejects wrong ones."""

from __future__ import annotations

import math
from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aieng.book import CheckFailed, check, registry
from _exercise_contract import contract

NAMES = {"02.ring_property", "02.conflict_hunks", "02.first_bad_commit", "02.think_bisect",
         "02.think_mypy"}

# ---- reference answers ------------------------------------------------------------------------


def ring_buffer_property(RingBuffer):
    @settings(max_examples=150, derandomize=True, database=None, deadline=None)
    @given(capacity=st.integers(1, 6), items=st.lists(st.integers(), max_size=40))
    def agrees_with_deque(capacity, items):
        buffer, reference = RingBuffer(capacity), deque(maxlen=capacity)
        for item in items:
            buffer.append(item)
            reference.append(item)
            assert buffer.to_list() == list(reference)
            assert len(buffer) == len(reference)

    agrees_with_deque()


def ring_property_contents_only(RingBuffer):
    """Misses the bug in len()."""
    @settings(max_examples=150, derandomize=True, database=None, deadline=None)
    @given(capacity=st.integers(1, 6), items=st.lists(st.integers(), max_size=40))
    def agrees(capacity, items):
        buffer, reference = RingBuffer(capacity), deque(maxlen=capacity)
        for item in items:
            buffer.append(item)
            reference.append(item)
        assert buffer.to_list() == list(reference)

    agrees()


def ring_property_short_lists(RingBuffer):
    """Never appends more than the capacity plus one: misses the bugs that need two turns."""
    @settings(max_examples=150, derandomize=True, database=None, deadline=None)
    @given(capacity=st.integers(3, 6), extra=st.integers(0, 1))
    def agrees(capacity, extra):
        buffer, reference = RingBuffer(capacity), deque(maxlen=capacity)
        for item in range(capacity + extra):
            buffer.append(item)
            reference.append(item)
        assert len(buffer) == len(reference)

    agrees()


def ring_property_too_strict(RingBuffer):
    """Wrong reference: expects every item ever appended, so a correct buffer fails."""
    buffer = RingBuffer(2)
    for item in range(3):
        buffer.append(item)
    assert buffer.to_list() == [0, 1, 2]


def conflict_hunks(text):
    hunks, side, ours, theirs = [], None, [], []
    for line in text.splitlines(keepends=True):
        if line.startswith("<<<<<<<"):
            ours, theirs = [], []
            side = ours
        elif line.startswith("=======") and side is ours:
            side = theirs
        elif line.startswith(">>>>>>>") and side is theirs:
            hunks.append(("".join(ours), "".join(theirs)))
            side = None
        elif side is not None:
            side.append(line)
    return hunks


def conflict_hunks_drops_newlines(text):
    return [(o.rstrip("\n"), t.rstrip("\n")) for o, t in conflict_hunks(text)]


def first_bad(n, is_bad):
    good, bad = 0, n - 1
    while bad - good > 1:
        middle = (good + bad) // 2
        if is_bad(middle):
            bad = middle
        else:
            good = middle
    return bad


def first_bad_linear(n, is_bad):
    """Right answer, too many test runs."""
    for i in range(1, n):
        if is_bad(i):
            return i
    return n - 1


def first_bad_tests_the_ends(n, is_bad):
    """Binary search that also tests both known ends: two runs over the budget."""
    lo, hi = 0, n - 1
    is_bad(lo), is_bad(hi)
    while lo < hi:
        middle = (lo + hi) // 2
        if is_bad(middle):
            hi = middle
        else:
            lo = middle + 1
    return lo


CASES = {
    "02.ring_property": (ring_buffer_property, ring_property_contents_only),
    "02.conflict_hunks": (conflict_hunks, conflict_hunks_drops_newlines),
    "02.first_bad_commit": (first_bad, first_bad_linear),
    "02.think_bisect": (math.ceil(math.log2(1000)), 1000),
    "02.think_mypy": ("B", "a"),
}

MORE_WRONG = [
    ("02.ring_property", ring_property_short_lists),
    ("02.ring_property", ring_property_too_strict),
    ("02.first_bad_commit", first_bad_tests_the_ends),
    ("02.think_bisect", 9),
]


def test_every_exercise_of_the_notebook_is_covered():
    assert {n for n in registry() if n in NAMES} == set(CASES) == NAMES


test_reference_answer_passes, test_wrong_answer_fails, test_stub_reads_as_not_attempted = contract(CASES)


@pytest.mark.parametrize("name, bad", MORE_WRONG, ids=lambda x: getattr(x, "__name__", str(x)))
def test_more_wrong_answers_fail(name, bad):
    with pytest.raises(CheckFailed):
        check(name, bad, strict=True, quiet=True)


