"""Exercises of Month 9, AI agents (chapters/09-agents)."""

from __future__ import annotations

import sqlite3
from typing import Any

from aieng.book.cases import Case, exercise

# ----------------------------------------------------------------------------- notebook 1: the loop


@exercise("09.parse_call", hint="ast.parse(text, mode='eval').body is an ast.Call: its .func is an ast.Name (use .id) "
          "and each keyword has .arg and a .value you can read with ast.literal_eval. Raise ValueError otherwise.")
def _parse_call():
    return [
        Case(('add(a=1, b=2)',), expected=("add", {"a": 1, "b": 2})),
        Case(('search(query="cats", k=3)',), expected=("search", {"query": "cats", "k": 3})),
        Case(('now()',), expected=("now", {})),
        Case(('f(xs=[1, 2], flag=True)',), expected=("f", {"xs": [1, 2], "flag": True})),
        Case(('The answer is 4',), raises=ValueError),
        Case(('f(1, 2)',), raises=ValueError),
        Case(('f(a=open("x"))',), raises=ValueError),
    ]


def _scripted(decisions: list[Any]):
    it = iter(decisions)

    def decide(history: list[str]) -> Any:
        return next(it, None)
    return decide


def _loop_case(decisions: list[Any], max_steps: int, expected: tuple[Any, str, int], tools: dict | None = None) -> Case:
    tools = tools if tools is not None else {"double": lambda x: 2 * x, "fail": lambda x: 1 / 0}

    def test(run_loop: Any) -> str | None:
        got = run_loop(_scripted(decisions), tools, max_steps)
        if tuple(got) != expected:
            return f"run_loop with decisions {decisions} and max_steps={max_steps} returned {got!r}, expected {expected!r}"
        return None
    return Case(test=test)


@exercise("09.loop", hint="Loop at most max_steps times: d = decide(history). None -> ('', 'no_action', step). "
          "('final', value) -> (value, 'answer', step). (tool, arg) -> call tools[tool](arg) inside try/except and "
          "append the result or 'error: ...' to history. After the loop: (None, 'max_steps', max_steps). Steps count from 1.")
def _loop():
    return [
        _loop_case([("final", 42)], 3, (42, "answer", 1)),
        _loop_case([("double", 4), ("final", 8)], 3, (8, "answer", 2)),
        _loop_case([("double", 1)] * 5, 3, (None, "max_steps", 3)),
        _loop_case([None], 3, ("", "no_action", 1)),
        _loop_case([("fail", 1), ("final", "recovered")], 3, ("recovered", "answer", 2)),
        _loop_case([("nope", 1), ("final", 0)], 3, (0, "answer", 2)),
        Case(test=lambda run_loop: _history_check(run_loop)),
    ]


def _history_check(run_loop: Any) -> str | None:
    seen: list[list[str]] = []

    def decide(history: list[str]) -> Any:
        seen.append(list(history))
        return ("double", 21) if len(seen) == 1 else ("final", history[-1])
    got = run_loop(decide, {"double": lambda x: 2 * x}, 3)
    if not seen[1] or "42" not in str(seen[1][-1]):
        return f"the second decide() should see the first tool result (42) in the history; it saw {seen[1]!r}"
    if tuple(got)[1] != "answer":
        return f"expected stop reason 'answer', got {got!r}"
    return None


@exercise("09.budget", hint="Accumulate step costs; a step may start only while the total so far is below max_tokens "
          "(the check happens before the step, as in aieng.agents.Agent).")
def _budget():
    return [
        Case(([100, 100, 100], 250), expected=3),
        Case(([100, 100, 100], 200), expected=2),
        Case(([100, 100, 100], 1000), expected=3),
        Case(([300, 10], 100), expected=1),
        Case(([], 100), expected=0),
        Case(([50, 50, 50, 50], 0), expected=0),
    ]


# ----------------------------------------------------------------------------- notebook 2: tools and grammars


@exercise("09.json_type", hint="int -> integer, float -> number, str -> string, bool -> boolean; for list[X] use "
          "typing.get_origin(hint) is list and recurse on typing.get_args(hint)[0] for 'items'.")
def _json_type():
    return [
        Case((int,), expected={"type": "integer"}),
        Case((float,), expected={"type": "number"}),
        Case((str,), expected={"type": "string"}),
        Case((bool,), expected={"type": "boolean"}),
        Case((list[int],), expected={"type": "array", "items": {"type": "integer"}}),
        Case((list[list[str]],), expected={"type": "array", "items": {"type": "array", "items": {"type": "string"}}}),
        Case((bytes,), raises=TypeError),
    ]


_VOCAB = ["[", "]", "add", "(", ")", "a", "=", "1", "12", "x", "add(", "a=", " ", "[]", ", ", "b", "b="]


@exercise("09.allowed_tokens", hint="A token is allowed when prefix + token is still a partial match: "
          "regex.fullmatch(pattern, prefix + token, partial=True) is not None. Skip empty tokens.")
def _allowed():
    pat = r"\[(?:add\(a=[0-9]{1,3}(?:, b=[0-9]{1,3})?\))?\]"
    return [
        Case(("", _VOCAB, pat), expected=["[", "[]"]),
        Case(("[", _VOCAB, pat), expected=["]", "add", "a", "add("]),
        Case(("[add(", _VOCAB, pat), expected=["a", "a="]),
        Case(("[add(a=", _VOCAB, pat), expected=["1", "12"]),
        Case(("[add(a=1", _VOCAB, pat), expected=[")", "1", "12", ", "]),
        Case(("[add(a=1)]", _VOCAB, pat), expected=[]),
    ]


@exercise("09.call_matches", hint="Every argument must be a key of accepted and its value one of the accepted values; "
          "every accepted parameter whose list lacks '' must be present.")
def _call_matches():
    acc = {"base": [10], "height": [5], "unit": ["units", ""]}
    return [
        Case(({"base": 10, "height": 5}, acc), expected=True),
        Case(({"base": 10, "height": 5, "unit": "units"}, acc), expected=True),
        Case(({"base": 10}, acc), expected=False),
        Case(({"base": 10, "height": 6}, acc), expected=False),
        Case(({"base": 10, "height": 5, "colour": "red"}, acc), expected=False),
        Case(({"base": 10, "height": 5, "unit": "cm"}, acc), expected=False),
        Case(({}, {}), expected=True),
    ]


# ----------------------------------------------------------------------------- notebook 3: memory, planning, execution


def _topo_test(topo_order: Any) -> str | None:
    graphs = [
        {"load": [], "top": ["load"], "chart": ["load"], "report": ["top", "chart"], "email": ["report"]},
        {"a": [], "b": [], "c": ["a", "b"]},
        {"x": []},
        {},
    ]
    for g in graphs:
        order = list(topo_order(g))
        if sorted(order) != sorted(g):
            return f"topo_order({g}) returned {order}: every task exactly once, please"
        for t, deps in g.items():
            if any(order.index(d) > order.index(t) for d in deps):
                return f"topo_order({g}) returned {order}: {t!r} comes before one of its dependencies {deps}"
    return None


def _topo_cycle(topo_order: Any) -> str | None:
    try:
        topo_order({"a": ["b"], "b": ["a"], "c": []})
    except ValueError:
        return None
    except Exception as exc:  # noqa: BLE001
        return f"a cycle should raise ValueError, got {type(exc).__name__}"
    return "a graph with a cycle (a needs b, b needs a) should raise ValueError"


@exercise("09.topo", hint="Kahn: count each task's unmet dependencies; start with the tasks that have none; when a "
          "task is done, decrement its dependants and queue those reaching zero. Fewer tasks out than in means a cycle.")
def _topo():
    return [Case(test=_topo_test), Case(test=_topo_cycle)]


def _words(text: str) -> int:
    return len(text.split())


@exercise("09.trim", hint="Walk from the newest message backwards, adding messages while the total stays within "
          "max_tokens; always keep the newest; return them in the original order.")
def _trim():
    m = [{"role": "user", "content": "one two three"}, {"role": "assistant", "content": "four five"},
         {"role": "user", "content": "six"}]
    return [
        Case((m, 10, _words), expected=m),
        Case((m, 3, _words), expected=m[1:]),
        Case((m, 2, _words), expected=m[2:]),
        Case((m, 0, _words), expected=m[2:]),
        Case(([], 5, _words), expected=[]),
    ]


def _authorizer_test(authorizer: Any) -> str | None:
    authorizer(sqlite3.SQLITE_SELECT, None, None, None, None)  # a stub's NotImplementedError surfaces here
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (x INTEGER)")
    conn.execute("INSERT INTO t VALUES (1), (2)")
    conn.set_authorizer(authorizer)
    try:
        try:
            rows = conn.execute("SELECT x FROM t WHERE x > ?", [1]).fetchall()
        except sqlite3.DatabaseError as exc:
            return f"a plain SELECT was refused ({exc}); allow SQLITE_SELECT and SQLITE_READ"
        if rows != [(2,)]:
            return f"SELECT returned {rows}"
        for sql in ["DROP TABLE t", "DELETE FROM t", "INSERT INTO t VALUES (3)", "UPDATE t SET x = 0",
                    "CREATE TABLE u (y)", "PRAGMA user_version = 3"]:
            try:
                conn.execute(sql)
            except sqlite3.DatabaseError:
                continue
            return f"{sql!r} was allowed; only reading may pass"
    finally:
        conn.set_authorizer(None)
        conn.close()
    return None


@exercise("09.authorizer", hint="Return sqlite3.SQLITE_OK when action is sqlite3.SQLITE_SELECT or sqlite3.SQLITE_READ "
          "(and SQLITE_FUNCTION if you like), sqlite3.SQLITE_DENY for everything else.")
def _authorizer():
    return [Case(test=_authorizer_test)]
