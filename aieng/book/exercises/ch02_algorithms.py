"""Exercises of Month 2, data structures and algorithms (chapters/02-dsa), notebook 02-algorithms.

``02.bfs_path``, ``02.find_cycle``, ``02.count_paths``, ``02.quicksort_robust`` (change it and
measure: comparisons counted on hostile inputs), ``02.think_binary_search``, ``02.think_sort_growth``.

Hints point to the idea or the function to read; they never contain the answer's code.
"""

from __future__ import annotations

import math
import random
from typing import Any

from aieng.book.cases import Case, equal, exercise, near

# --------------------------------------------------------------------------------------------
# graphs
# --------------------------------------------------------------------------------------------


def _random_adj(seed: int) -> dict:
    """A random undirected graph as an adjacency dict (some disconnected)."""
    import networkx as nx

    r = random.Random(seed)
    graph = nx.gnp_random_graph(r.randint(2, 40), r.uniform(0.03, 0.25), seed=seed)
    return {u: dict.fromkeys(graph[u], 1) for u in graph}


def _judge_paths(shortest_path: Any) -> str | None:
    import networkx as nx

    for seed in range(40):
        adj = _random_adj(seed)
        graph = nx.Graph([(u, v) for u in adj for v in adj[u]])
        graph.add_nodes_from(adj)
        nodes = list(adj)
        r = random.Random(seed)
        for _ in range(5):
            s, t = r.choice(nodes), r.choice(nodes)
            got = shortest_path(adj, s, t)
            if not nx.has_path(graph, s, t):
                if got is not None:
                    return f"seed {seed}: {t} cannot be reached from {s}, expected None, got {got!r}"
                continue
            best = nx.shortest_path_length(graph, s, t)
            if not isinstance(got, list) or not got:
                return f"seed {seed}: shortest_path(adj, {s}, {t}) returned {got!r}, expected a list"
            if got[0] != s or got[-1] != t:
                return f"seed {seed}: the path {got} should start at {s} and end at {t}"
            missing = [(a, b) for a, b in zip(got, got[1:]) if b not in adj[a]]
            if missing:
                return f"seed {seed}: {missing[0]} in your path {got} is not an edge"
            if len(got) - 1 != best:
                return (f"seed {seed}: your path from {s} to {t} has {len(got) - 1} edges; the "
                        f"shortest has {best}")
    return None


@exercise("02.bfs_path", hint="BFS reaches every node for the first time from a node one hop nearer "
          "the source. Remember, for each node, which node discovered it; once the target is reached, "
          "follow those links back and reverse.")
def _bfs_path():
    line = {"a": {"b": 1}, "b": {"a": 1, "c": 1}, "c": {"b": 1}, "z": {}}
    square = {0: {1: 1, 3: 1}, 1: {0: 1, 2: 1}, 2: {1: 1, 3: 1}, 3: {2: 1, 0: 1}, 4: {}}
    return [Case((line, "a", "c"), expected=["a", "b", "c"]),
            Case((line, "a", "a"), expected=["a"]),
            Case((line, "a", "z"), expected=None),
            Case((square, 0, 3), expected=[0, 3]),
            Case(test=_judge_paths)]


def _is_cycle(succ: dict, cycle: Any) -> str | None:
    if not isinstance(cycle, list) or not cycle:
        return f"expected a non-empty list of nodes, got {cycle!r}"
    if len(set(cycle)) != len(cycle):
        return f"{cycle} repeats a node: list each node of the cycle once"
    for a, b in zip(cycle, cycle[1:] + cycle[:1]):
        if a not in succ or b not in succ[a]:
            return f"{a} -> {b} in your cycle {cycle} is not an edge"
    return None


def _random_digraph(seed: int, acyclic: bool) -> dict:
    r = random.Random(seed)
    n = r.randint(2, 30)
    order = r.sample(range(n), n)
    succ: dict = {u: [] for u in range(n)}
    for i in range(n):
        for j in range(n):
            if i != j and r.random() < 0.12 and (not acyclic or order.index(i) < order.index(j)):
                succ[i].append(j)
    return succ


def _judge_cycles(find_cycle: Any) -> str | None:
    import networkx as nx

    for seed in range(60):
        for acyclic in (True, False):
            succ = _random_digraph(seed, acyclic)
            graph = nx.DiGraph([(u, v) for u in succ for v in succ[u]])
            graph.add_nodes_from(succ)
            got = find_cycle(succ)
            if nx.is_directed_acyclic_graph(graph):
                if got is not None:
                    return f"seed {seed}: the graph {succ} has no cycle, but you returned {got!r}"
            else:
                if got is None:
                    return f"seed {seed}: the graph {succ} has a cycle, you returned None"
                wrong = _is_cycle(succ, got)
                if wrong:
                    return f"seed {seed}: {wrong}"
    return None


def _judge_deep(find_cycle: Any) -> str | None:
    n = 5000
    chain = {i: [i + 1] for i in range(n - 1)} | {n - 1: []}
    try:
        if find_cycle(chain) is not None:
            return f"a chain of {n} nodes has no cycle"
        chain[n - 1] = [0]
        got = find_cycle(chain)
    except RecursionError:
        return f"a chain of {n} nodes raised RecursionError: keep your own stack instead of recursing"
    if got is None or len(got) != n:
        return f"closing the chain of {n} nodes into a ring makes one cycle of {n} nodes; got {got!r:.80}"
    return _is_cycle(chain, got)


@exercise("02.find_cycle", hint="Run a depth-first search and keep, for each node, whether it is "
          "unvisited, on the current path, or finished. Meeting a node that is on the current path "
          "closes a cycle: the part of the path from that node onwards. Section 4.3 shows how to keep "
          "the path on your own stack, so deep graphs do not hit the recursion limit.")
def _find_cycle():
    return [Case(({"a": ["b"], "b": []},), expected=None),
            Case(({"a": []},), expected=None),
            Case(({"a": ["a"]},), expected=["a"]),
            Case(test=lambda f: _is_cycle({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]},
                                          f({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}))),
            Case(test=_judge_cycles),
            Case(test=_judge_deep)]


def _ladder(layers: int) -> dict:
    """`layers` layers of 2 nodes, each joined to both nodes of the next, plus a source and a sink."""
    succ: dict = {"source": [(0, 0), (0, 1)], "sink": []}
    for i in range(layers):
        nxt = [(i + 1, 0), (i + 1, 1)] if i + 1 < layers else ["sink"]
        succ[(i, 0)], succ[(i, 1)] = list(nxt), list(nxt)
    return succ


def _judge_count_small(count_paths: Any) -> str | None:
    import networkx as nx

    for seed in range(40):
        succ = _random_digraph(seed, acyclic=True)
        graph = nx.DiGraph([(u, v) for u in succ for v in succ[u]])
        graph.add_nodes_from(succ)
        r = random.Random(seed)
        for _ in range(4):
            s, t = r.choice(list(succ)), r.choice(list(succ))
            expected = 1 if s == t else len(list(nx.all_simple_paths(graph, s, t)))
            got = count_paths(succ, s, t)
            if not equal(expected, got):
                return f"seed {seed}: {expected} paths from {s} to {t} in {succ}, you counted {got!r}"
    return None


@exercise("02.count_paths", hint="Every path from a node starts with an edge to one of its successors, "
          "so the number of paths from a node is a sum over its successors. The same successor is asked "
          "again and again through different routes: section 4.1's cache makes each node's answer "
          "computed once.")
def _count_paths():
    diamond = {"a": ["b", "c"], "b": ["d"], "c": ["d"], "d": []}
    return [Case((diamond, "a", "d"), expected=2),
            Case((diamond, "a", "a"), expected=1),
            Case((diamond, "d", "a"), expected=0),
            Case(test=_judge_count_small),
            Case((_ladder(60), "source", "sink"), expected=2 ** 60, show="count_paths(<60 layers>)",
                 timeout_s=5)]


# --------------------------------------------------------------------------------------------
# sorting: change it and measure
# --------------------------------------------------------------------------------------------

QUICKSORT_N = 2000
"""The length of each hostile input ``02.quicksort_robust`` sorts."""
QUICKSORT_BUDGET = 6.0
"""The check allows at most this many times n log2 n comparisons on each input."""


class _Counted:
    """A value that counts every comparison made on it, in ``_Counted.count``."""

    count = 0
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, value: Any):
        self.value = value

    def _tick(self) -> None:
        _Counted.count += 1

    def __lt__(self, other):
        self._tick()
        return self.value < other.value

    def __le__(self, other):
        self._tick()
        return self.value <= other.value

    def __gt__(self, other):
        self._tick()
        return self.value > other.value

    def __ge__(self, other):
        self._tick()
        return self.value >= other.value

    def __eq__(self, other):
        self._tick()
        return isinstance(other, _Counted) and self.value == other.value

    def __ne__(self, other):
        self._tick()
        return not (isinstance(other, _Counted) and self.value == other.value)

    def __repr__(self) -> str:
        return repr(self.value)


def _judge_quicksort(quicksort_robust: Any) -> str | None:
    n = QUICKSORT_N
    budget = QUICKSORT_BUDGET * n * math.log2(n)
    r = random.Random(2)
    inputs = {"shuffled": r.sample(range(n), n), "sorted": list(range(n)),
              "reversed": list(range(n, 0, -1)), "all equal": [7] * n,
              "few distinct values": [r.randint(0, 3) for _ in range(n)]}
    for kind, values in inputs.items():
        _Counted.count = 0
        try:
            result = quicksort_robust([_Counted(v) for v in values])
        except RecursionError:
            return f"on {kind} input of {n} items your sort raised RecursionError (too deep)"
        used = _Counted.count
        if not isinstance(result, list) or [getattr(x, "value", x) for x in result] != sorted(values):
            return f"on {kind} input of {n} items the result is not the sorted list"
        if used > budget:
            return (f"on {kind} input of {n} items your sort made {used:,} comparisons; the budget is "
                    f"{QUICKSORT_BUDGET:g} n log2 n = {budget:,.0f}")
    return None


@exercise("02.quicksort_robust", hint="Two inputs defeat a first-item pivot: sorted input (the pivot is "
          "always the smallest, so one side is empty) and many equal items (they all land on one side, "
          "whatever the pivot). Choose the pivot so no fixed input order can fool it, and give the items "
          "equal to the pivot a place of their own. Measure with `comparisons` before you run the check.")
def _quicksort_robust():
    r = random.Random(1)
    mixed = [r.randint(-50, 50) for _ in range(300)]
    return [Case(([],), expected=[]), Case(([1],), expected=[1]),
            Case(([3, 1, 2, 3, 1],), expected=[1, 1, 2, 3, 3]),
            Case((mixed,), expected=sorted(mixed), show="quicksort_robust(<300 random ints>)"),
            Case(test=_judge_quicksort)]


# --------------------------------------------------------------------------------------------
# Think!
# --------------------------------------------------------------------------------------------


@exercise("02.think_binary_search", hint="Each comparison halves the number of possible answers. How many "
          "insertion points does a list of n items have, and how many halvings bring that down to one?")
def _think_bisect():
    return [Case(args=None, expected=20)]


@exercise("02.think_sort_growth", hint="For an O(n²) algorithm, t(n) = c · n². Write it for both sizes "
          "and divide: the constant c cancels.", compare=near(rel_tol=0.1))
def _think_sort_growth():
    return [Case(args=None, expected=50.0)]
