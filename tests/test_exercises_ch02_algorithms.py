"""Each exercise of chapters/02-dsa/02-algorithms accepts a correct answer and rejects wrong ones."""

from __future__ import annotations

import functools
import random
from collections import deque

import pytest

from aieng.book import CheckFailed, check
from _exercise_contract import contract
from aieng.book.exercises import ch02_algorithms

# ---- reference answers ------------------------------------------------------------------------


def shortest_path(adj, source, target):
    parent = {source: None}
    queue = deque([source])
    while queue:
        u = queue.popleft()
        if u == target:
            path = []
            while u is not None:
                path.append(u)
                u = parent[u]
            return path[::-1]
        for v in adj[u]:
            if v not in parent:
                parent[v] = u
                queue.append(v)
    return None


def find_cycle(succ):
    state = {}
    for start in succ:
        if start in state:
            continue
        path, stack = [start], [iter(succ[start])]
        state[start] = 1
        while stack:
            for v in stack[-1]:
                if state.get(v) == 1:
                    return path[path.index(v):]
                if v not in state:
                    state[v] = 1
                    path.append(v)
                    stack.append(iter(succ[v]))
                    break
            else:
                state[path.pop()] = 2
                stack.pop()
    return None


def count_paths(succ, source, target):
    @functools.cache
    def paths_from(u):
        return 1 if u == target else sum(paths_from(v) for v in succ[u])

    return paths_from(source)


def quicksort_robust(items):
    if len(items) <= 1:
        return list(items)
    pivot = random.choice(items)
    less = [x for x in items if x < pivot]
    equal = [x for x in items if not (x < pivot) and not (pivot < x)]
    greater = [x for x in items if pivot < x]
    return quicksort_robust(less) + equal + quicksort_robust(greater)


# ---- wrong answers ----------------------------------------------------------------------------


def path_by_dfs(adj, source, target):  # a path, not the shortest
    parent, stack = {source: None}, [source]
    while stack:
        u = stack.pop()
        if u == target:
            path = []
            while u is not None:
                path.append(u)
                u = parent[u]
            return path[::-1]
        for v in adj[u]:
            if v not in parent:
                parent[v] = u
                stack.append(v)
    return None


def path_empty_when_unreachable(adj, source, target):
    return shortest_path(adj, source, target) or []


def cycle_recursive(succ):  # right answers, but recursion: the chain of 5,000 overflows
    state = {}

    def visit(u, path):
        state[u] = 1
        path.append(u)
        for v in succ[u]:
            if state.get(v) == 1:
                return path[path.index(v):]
            if v not in state:
                found = visit(v, path)
                if found:
                    return found
        state[u] = 2
        path.pop()
        return None

    for start in succ:
        if start not in state:
            found = visit(start, [])
            if found:
                return found
    return None


def cycle_any_visited(succ):  # treats any seen node as a cycle: wrong on DAGs with shared nodes
    seen = set()
    for start in succ:
        stack = [start]
        while stack:
            u = stack.pop()
            if u in seen:
                return [u]
            seen.add(u)
            stack.extend(succ[u])
    return None


def count_paths_naive(succ, source, target):  # right, but exponential on the ladder
    if source == target:
        return 1
    return sum(count_paths_naive(succ, v, target) for v in succ[source])


def count_paths_reachable(succ, source, target):  # counts reachable nodes, not paths
    seen, stack = {source}, [source]
    while stack:
        for v in succ[stack.pop()]:
            if v not in seen:
                seen.add(v)
                stack.append(v)
    return int(target in seen)


def quicksort_first_pivot(items):
    if len(items) <= 1:
        return list(items)
    pivot, rest = items[0], items[1:]
    return (quicksort_first_pivot([x for x in rest if x < pivot]) + [pivot]
            + quicksort_first_pivot([x for x in rest if x >= pivot]))


def quicksort_random_two_way(items):  # fixes sorted input, not all-equal input
    if len(items) <= 1:
        return list(items)
    i = random.randrange(len(items))
    pivot, rest = items[i], items[:i] + items[i + 1:]
    return (quicksort_random_two_way([x for x in rest if x < pivot]) + [pivot]
            + quicksort_random_two_way([x for x in rest if x >= pivot]))


def quicksort_drops_duplicates(items):
    if len(items) <= 1:
        return list(items)
    pivot = random.choice(items)
    return (quicksort_drops_duplicates([x for x in items if x < pivot]) + [pivot]
            + quicksort_drops_duplicates([x for x in items if pivot < x]))


CASES = {
    "02.bfs_path": (shortest_path, path_by_dfs),
    "02.find_cycle": (find_cycle, cycle_any_visited),
    "02.count_paths": (count_paths, count_paths_reachable),
    "02.quicksort_robust": (quicksort_robust, quicksort_first_pivot),
    "02.think_binary_search": (20, 1_000_000),
    "02.think_sort_growth": (50.0, 5.0),
}


def test_every_exercise_of_the_notebook_is_covered():
    names = {ex for ex in ch02_algorithms.__doc__.split("``") if ex.startswith("02.")}
    assert names == set(CASES)


test_reference_answer_passes, test_wrong_answer_fails, test_stub_reads_as_not_attempted = contract(CASES)




@pytest.mark.parametrize("name, bad", [
    ("02.bfs_path", path_empty_when_unreachable),
    ("02.find_cycle", cycle_recursive),
    ("02.count_paths", count_paths_naive),
    ("02.quicksort_robust", quicksort_random_two_way),
    ("02.quicksort_robust", quicksort_drops_duplicates),
    ("02.think_sort_growth", 12.5),
])
def test_more_wrong_answers_fail(name, bad):
    with pytest.raises(CheckFailed):
        check(name, bad, strict=True, quiet=True)


def test_forecast_accepts_a_rounded_answer():
    assert check("02.think_sort_growth", 52, strict=True, quiet=True)
