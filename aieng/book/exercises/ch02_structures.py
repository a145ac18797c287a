"""Exercises of Month 2, notebook 01-data-structures (chapters/02-dsa).

``02.ring_queue``, ``02.tombstones``, ``02.scramble_probe`` (change it and measure),
``02.kway_merge``, ``02.think_copies``, ``02.think_btree``, ``02.think_topk``.

The judges build what they need themselves (a deque, a dict, a probe-length count), so they do
not depend on the notebook's own classes except the map the learner subclasses. Hints point to
the idea or the function to read; they never contain the answer's code.
"""

from __future__ import annotations

import collections
import random
import time
from typing import Any

from aieng.book.cases import Case, exercise, same_choice

# --------------------------------------------------------------------------------------------
# 02.ring_queue
# --------------------------------------------------------------------------------------------

RING_MAX_SLOTS = 64
"""After 20,000 items pass through a queue that never holds more than 8, it holds no list longer than this."""

RING_MAX_SLOWDOWN = 4.0
"""``popleft`` on a 16x longer queue may cost at most this many times more per call (O(1), not O(n))."""


def _ring_matches_deque(RingQueue: Any) -> str | None:
    rng = random.Random(2)
    ours, ref = RingQueue(), collections.deque()
    for step in range(5000):
        if rng.random() < 0.5:  # the queue empties again and again
            try:
                got = ours.popleft()
            except IndexError:
                got = "IndexError"
            want = ref.popleft() if ref else "IndexError"
            if got != want:
                return f"step {step}: popleft() gave {got!r}, deque gave {want!r}"
        else:
            x = rng.randrange(1000)
            ours.append(x)
            ref.append(x)
        if len(ours) != len(ref):
            return f"step {step}: len() is {len(ours)}, deque's is {len(ref)}"
    return None


def _longest_list(obj: Any) -> int:
    return max((len(v) for v in vars(obj).values() if isinstance(v, (list, collections.deque))),
               default=0)


def _ring_reuses_slots(RingQueue: Any) -> str | None:
    q = RingQueue()
    for i in range(20_000):
        q.append(i)
        if len(q) > 8:
            q.popleft()
    if isinstance(getattr(q, "__dict__", None), dict) and any(
            isinstance(v, collections.deque) for v in vars(q).values()):
        return "the queue keeps a collections.deque: build it on one list"
    longest = _longest_list(q)
    if longest > RING_MAX_SLOTS:
        return (f"20,000 items passed through a queue that never held more than 9, and it now keeps "
                f"a list of {longest} slots: popped slots should be reused (at most {RING_MAX_SLOTS})")
    return None


def _ring_popleft_is_constant(RingQueue: Any) -> str | None:
    def per_pop(n: int) -> float:
        best = float("inf")
        for _ in range(3):
            q = RingQueue()
            for i in range(n):
                q.append(i)
            start = time.perf_counter()
            for _ in range(n):
                q.popleft()
            best = min(best, (time.perf_counter() - start) / n)
        return best

    small, large = per_pop(4_000), per_pop(64_000)
    if large > RING_MAX_SLOWDOWN * small:
        return (f"popleft took {large * 1e9:.0f} ns a call on a queue of 64,000 against "
                f"{small * 1e9:.0f} ns on 4,000: it grows with the length, like list.pop(0)")
    return None


@exercise("02.ring_queue", hint="Keep the index of the front and the count; the back is front + "
          "count, taken modulo the list's length. Popping only moves the front index forward. "
          "Growing is section 1's resize, except that the items must be copied starting from the "
          "front, wrapping around.")
def _ring_queue():
    return [Case(test=_ring_matches_deque), Case(test=_ring_reuses_slots),
            Case(test=_ring_popleft_is_constant)]


# --------------------------------------------------------------------------------------------
# 02.tombstones
# --------------------------------------------------------------------------------------------

CHURN_MAX_PROBES = 10.0
"""Mean probes per lookup allowed after the insert/delete churn of ``02.tombstones``."""

CHURN_MAX_SLOTS = 4096
"""Slots a map may hold after the churn, when it never held more than 100 keys."""


def _tomb_matches_dict(Map: Any) -> str | None:
    rng = random.Random(3)
    ours, ref = Map(), {}
    universe = [rng.randrange(64) * 64 + rng.randrange(4) for _ in range(300)]  # collide on purpose
    for step in range(6000):
        key = rng.choice(universe)
        op = rng.random()
        if op < 0.4:
            ours[key] = ref[key] = step
        elif op < 0.7:
            try:
                del ours[key]
                got = "deleted"
            except KeyError:
                got = "KeyError"
            want = "deleted" if key in ref else "KeyError"
            ref.pop(key, None)
            if got != want:
                return f"step {step}: del table[{key}] gave {got}, a dict gave {want}"
        else:
            if ours.get(key) != ref.get(key):
                return (f"step {step}: table.get({key}) is {ours.get(key)!r}, a dict says "
                        f"{ref.get(key)!r} (was a key behind a deleted one lost?)")
        if len(ours) != len(ref):
            return f"step {step}: len(table) is {len(ours)}, the dict holds {len(ref)}"
    return None


def _tomb_missing_key(Map: Any) -> str | None:
    m = Map()
    m[1] = "one"
    try:
        del m[2]
    except KeyError:
        return None
    return "del table[2] on a map without key 2 should raise KeyError"


def _tomb_churn(Map: Any) -> str | None:
    m = Map()
    live: collections.deque = collections.deque()
    try:
        for key in range(100_000):
            m[key * 7919] = key
            live.append(key * 7919)
            if len(live) > 100:
                del m[live.popleft()]
        m.probes = 0
        misses = range(10**9, 10**9 + 1000)
        for key in list(live) + list(misses):
            _ = key in m
    except RuntimeError as err:
        return (f"after many inserts and deletes the table filled up ({err}): deleted slots must "
                f"still count towards the load, so the map rebuilds before it is full")
    if len(m._keys) > CHURN_MAX_SLOTS:
        return (f"a map that never held more than 101 keys grew to {len(m._keys)} slots "
                f"(at most {CHURN_MAX_SLOTS})")
    mean = m.probes / (len(live) + 1000)
    if mean > CHURN_MAX_PROBES:
        return (f"after the churn a lookup took {mean:.1f} probes on average (target at most "
                f"{CHURN_MAX_PROBES:g}): the table is choked with deleted slots")
    return None


@exercise("02.tombstones", hint="Follow a lookup for key 17 in the diagram after slot 2 is "
          "emptied: where does it stop? Mark the slot with something a search walks past. Then "
          "read __setitem__ and _rebuild: which counter decides when the table is too full, and "
          "should a deleted slot still count?")
def _tombstones():
    return [Case(test=_tomb_missing_key), Case(test=_tomb_matches_dict), Case(test=_tomb_churn)]


# --------------------------------------------------------------------------------------------
# 02.scramble_probe (change it and measure)
# --------------------------------------------------------------------------------------------

PROBE_MAX_HITS = 5.0
"""Mean probes per successful search, keys ``j * 4096`` at load 0.5 in 4096 slots."""


def _probe_covers(probe: Any) -> str | None:
    for capacity in (1, 2, 8, 64, 1024):
        for h in (0, 1, -1, -2, 12345, 2**61 - 1, -(2**40) + 3, 7 * capacity, 2**70):
            seen = set()
            for _, slot in zip(range(4 * capacity + 64), probe(h, capacity)):
                if not (isinstance(slot, int) and 0 <= slot < capacity):
                    return f"probe({h}, {capacity}) yielded {slot!r}, not a slot in range({capacity})"
                seen.add(slot)
            if len(seen) != capacity:
                return (f"probe({h}, {capacity}) reached {len(seen)} of {capacity} slots in "
                        f"{4 * capacity + 64} yields: a search could miss the only empty slot")
    return None


def _probe_lengths(probe: Any, keys: list[int], capacity: int) -> float:
    """Mean probes of successful searches with open addressing (EMPTY is None here)."""
    slots: list[Any] = [None] * capacity
    for key in keys:
        for slot in probe(hash(key), capacity):
            if slots[slot] is None:
                slots[slot] = key
                break
    probes = 0
    for key in keys:
        for slot in probe(hash(key), capacity):
            probes += 1
            if slots[slot] == key:
                break
    return probes / len(keys)


def _probe_measured(probe: Any) -> str | None:
    capacity = 4096
    mean = _probe_lengths(probe, [j * capacity for j in range(capacity // 2)], capacity)
    if mean > PROBE_MAX_HITS:
        return (f"keys j * 4096 at load 0.5: {mean:.1f} probes per successful search, the target "
                f"is at most {PROBE_MAX_HITS:g}: the home slot must depend on the high bits too")
    random_keys = [random.Random(4).getrandbits(62) for _ in range(capacity // 2)]
    mean = _probe_lengths(probe, random_keys, capacity)
    if mean > PROBE_MAX_HITS:
        return f"random keys at load 0.5: {mean:.1f} probes per successful search (target {PROBE_MAX_HITS:g})"
    return None


@exercise("02.scramble_probe", hint="With a power-of-two capacity, `h & mask` keeps only the low "
          "bits, and these keys agree in all of them. Either mix the hash before choosing the home "
          "slot (multiply by a large odd constant and keep the top bits: 'Fibonacci hashing'), or "
          "feed the high bits into later probes as CPython's dictobject.c does. Make h "
          "non-negative first (mask it to 64 bits).")
def _scramble_probe():
    return [Case(test=_probe_covers), Case(test=_probe_measured)]


# --------------------------------------------------------------------------------------------
# 02.kway_merge
# --------------------------------------------------------------------------------------------


class _Counted:
    """An iterator over ``items`` that counts how many it has handed out."""

    def __init__(self, items: Any):
        self._it, self.taken = iter(items), 0

    def __iter__(self) -> "_Counted":
        return self

    def __next__(self) -> Any:
        x = next(self._it)
        self.taken += 1
        return x


def _merge_correct(merge_sorted: Any) -> str | None:
    rng = random.Random(5)
    for trial in range(50):
        lists = [sorted(rng.randrange(100) for _ in range(rng.randrange(0, 12)))
                 for _ in range(rng.randrange(0, 6))]
        got = list(merge_sorted(lists))
        want = sorted(x for xs in lists for x in xs)
        if got != want:
            return f"merge_sorted({lists}) gave {got}, expected {want}"
    return None


def _merge_lazy(merge_sorted: Any) -> str | None:
    inputs = [_Counted(range(i, 300_000, 3)) for i in range(3)]
    merged = merge_sorted(inputs)
    first = [next(merged) for _ in range(10)]
    if first != list(range(10)):
        return f"the first ten of merge_sorted(three interleaved ranges) were {first}"
    taken = [it.taken for it in inputs]
    if max(taken) > 5:
        return (f"to yield the first 10 items it read {taken} items from the three inputs: read an "
                f"input only when its current head has been used (at most 5 each here)")
    return None


@exercise("02.kway_merge", hint="Put the first item of every input in a heap, tagged with which "
          "input it came from. The smallest in the heap is the next output; replace it with the "
          "next item of the same input. The tag also breaks ties. A function with `yield` hands "
          "out items one at a time.")
def _kway_merge():
    return [Case(test=_merge_correct), Case(test=_merge_lazy)]


# --------------------------------------------------------------------------------------------
# Think! questions
# --------------------------------------------------------------------------------------------


@exercise("02.think_copies", hint="List the sizes at which the array is full when an append "
          "arrives, starting from capacity 1, and add what each resize copies.")
def _think_copies():
    return [Case(args=None, expected=1023)]


@exercise("02.think_btree", hint="A full tree of height 1 holds 499 keys, of height 2 holds "
          "500 * 500 - 1. Find the smallest height whose full tree holds 100 million keys.")
def _think_btree():
    return [Case(args=None, expected=3)]


@exercise("02.think_topk", hint="Count what one score costs in the worst case: one comparison "
          "and possibly one sift. How tall is the heap it sifts through?",
          compare=same_choice)
def _think_topk():
    return [Case(args=None, expected="b")]
