"""Each exercise of notebook 02/01 (data structures) accepts a reference answer and rejects wrong ones."""

from __future__ import annotations

import heapq

import pytest

from aieng.book import CheckFailed, check, registry
from _exercise_contract import contract

# ---- the notebook's map, which 02.tombstones extends (a copy of the lesson's class) ---------------

EMPTY, TOMBSTONE = object(), object()


def linear_probe(h, capacity):
    mask = capacity - 1
    i = h & mask
    while True:
        yield i
        i = (i + 1) & mask


class OpenAddressingMap:
    def __init__(self, capacity=8, max_load=2 / 3, probe=linear_probe):
        self.max_load, self.probe = max_load, probe
        self._keys, self._values = [EMPTY] * capacity, [None] * capacity
        self._size = self._filled = self.probes = 0

    def _find(self, key):
        capacity = len(self._keys)
        for _, slot in zip(range(8 * capacity + 64), self.probe(hash(key), capacity)):
            self.probes += 1
            found = self._keys[slot]
            if found is EMPTY or found == key:
                return slot
        raise RuntimeError("no empty slot found: the table is full")

    def __setitem__(self, key, value):
        slot = self._find(key)
        if self._keys[slot] is EMPTY:
            self._keys[slot] = key
            self._size += 1
            self._filled += 1
        self._values[slot] = value
        if self._filled > self.max_load * len(self._keys):
            self._rebuild()

    def get(self, key, default=None):
        slot = self._find(key)
        return default if self._keys[slot] is EMPTY else self._values[slot]

    def __contains__(self, key):
        return self._keys[self._find(key)] is not EMPTY

    def __len__(self):
        return self._size

    def items(self):
        return [(k, v) for k, v in zip(self._keys, self._values) if k is not EMPTY and k is not TOMBSTONE]

    def _rebuild(self):
        live = self.items()
        capacity = 8
        while capacity * self.max_load < 2 * len(live) + 2:
            capacity *= 2
        self._keys, self._values = [EMPTY] * capacity, [None] * capacity
        self._size = self._filled = 0
        for key, value in live:
            self[key] = value


# ---- reference answers ------------------------------------------------------------------------

class RingQueue:
    def __init__(self):
        self._slots, self._front, self._size = [None] * 8, 0, 0

    def __len__(self):
        return self._size

    def append(self, x):
        if self._size == len(self._slots):
            n = len(self._slots)
            self._slots = [self._slots[(self._front + i) % n] for i in range(n)] + [None] * n
            self._front = 0
        self._slots[(self._front + self._size) % len(self._slots)] = x
        self._size += 1

    def popleft(self):
        if not self._size:
            raise IndexError("empty")
        x = self._slots[self._front]
        self._slots[self._front] = None
        self._front = (self._front + 1) % len(self._slots)
        self._size -= 1
        return x


class MapWithDelete(OpenAddressingMap):
    def __delitem__(self, key):
        slot = self._find(key)
        if self._keys[slot] is EMPTY:
            raise KeyError(key)
        self._keys[slot], self._values[slot] = TOMBSTONE, None
        self._size -= 1


def fibonacci_probe(h, capacity):
    bits = capacity.bit_length() - 1
    mixed = ((h & (2**64 - 1)) * 0x9E3779B97F4A7C15) & (2**64 - 1)
    i = mixed >> (64 - bits) if bits else 0
    for step in range(capacity):
        yield (i + step) & (capacity - 1)


def cpython_probe(h, capacity):  # Objects/dictobject.c, with h taken as unsigned
    mask, perturb = capacity - 1, h & (2**64 - 1)
    i = perturb & mask
    while True:
        yield i
        perturb >>= 5
        i = (5 * i + 1 + perturb) & mask


def merge_sorted(iterables):
    yield from heapq.merge(*iterables)


# ---- wrong answers ----------------------------------------------------------------------------

class RingQueueListPop:  # list.pop(0): right answers, O(n) pops
    def __init__(self):
        self._items = []

    def __len__(self):
        return len(self._items)

    def append(self, x):
        self._items.append(x)

    def popleft(self):
        return self._items.pop(0)


class RingQueueNeverReuses:  # a front index that only moves forward: the list grows forever
    def __init__(self):
        self._items, self._front = [], 0

    def __len__(self):
        return len(self._items) - self._front

    def append(self, x):
        self._items.append(x)

    def popleft(self):
        if self._front == len(self._items):
            raise IndexError("empty")
        self._front += 1
        return self._items[self._front - 1]


class RingQueueLifo(RingQueue):  # pops the newest item
    def popleft(self):
        if not self._size:
            raise IndexError("empty")
        self._size -= 1
        return self._slots[(self._front + self._size) % len(self._slots)]


class MapEmptiesSlot(OpenAddressingMap):  # cuts the probe chain
    def __delitem__(self, key):
        slot = self._find(key)
        if self._keys[slot] is EMPTY:
            raise KeyError(key)
        self._keys[slot], self._values[slot] = EMPTY, None
        self._size -= 1
        self._filled -= 1


class MapForgetsTombstones(OpenAddressingMap):  # tombstones not counted: the table chokes
    def __delitem__(self, key):
        slot = self._find(key)
        if self._keys[slot] is EMPTY:
            raise KeyError(key)
        self._keys[slot], self._values[slot] = TOMBSTONE, None
        self._size -= 1
        self._filled -= 1


class MapNoKeyError(MapWithDelete):
    def __delitem__(self, key):
        if key in self:
            super().__delitem__(key)


def scrambled_misses_slots(h, capacity):  # a step of 2 reaches only half the slots
    i = fibonacci_probe(h, capacity).__next__()
    while True:
        yield i
        i = (i + 2) & (capacity - 1)


def merge_eager(iterables):
    yield from sorted(x for it in iterables for x in it)


def merge_concat(iterables):
    for it in iterables:
        yield from it


CASES = {
    "02.ring_queue": (RingQueue, RingQueueListPop),
    "02.tombstones": (MapWithDelete, MapEmptiesSlot),
    "02.scramble_probe": (fibonacci_probe, linear_probe),
    "02.kway_merge": (merge_sorted, merge_eager),
    "02.think_copies": (1023, 1024),
    "02.think_btree": (3, 4),
    "02.think_topk": ("B ", "a"),
}


def test_every_exercise_of_the_notebook_is_covered():
    ours = {n for n, ex in registry().items() if ex.cases.__module__.endswith("ch02_structures")}
    assert ours == set(CASES)


test_reference_answer_passes, test_wrong_answer_fails, test_stub_reads_as_not_attempted = contract(CASES)




def test_cpythons_probe_sequence_passes_too():
    assert check("02.scramble_probe", cpython_probe, strict=True, quiet=True)


@pytest.mark.parametrize("name, bad", [
    ("02.ring_queue", RingQueueNeverReuses),
    ("02.ring_queue", RingQueueLifo),
    ("02.tombstones", MapForgetsTombstones),
    ("02.tombstones", MapNoKeyError),
    ("02.scramble_probe", scrambled_misses_slots),
    ("02.kway_merge", merge_concat),
])
def test_more_wrong_answers_fail(name, bad):
    with pytest.raises(CheckFailed):
        check(name, bad, strict=True, quiet=True)


def test_the_lesson_map_and_collections_agree():  # the copy above behaves as the notebook's
    m, ref = MapWithDelete(), {}
    for i in range(500):
        m[i * 8] = ref[i * 8] = i
    for i in range(0, 500, 3):
        del m[i * 8]
        del ref[i * 8]
    assert sorted(m.items()) == sorted(ref.items())
