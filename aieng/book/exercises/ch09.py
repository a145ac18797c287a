"""Exercises of Month 9, AI agents (chapters/09-agents)."""

from __future__ import annotations

import sqlite3
from typing import Any

from aieng.book.cases import Case, exercise

# ----------------------------------------------------------------------------- notebook 1: the loop


@exercise("09.parse_call", hint="Let Python's own parser read the text in 'eval' mode and look at the node you get "
          "back: is it a call, is the function a plain name, are all arguments keywords? The ast module also has "
          "a function that evaluates literals and nothing else; which cases in the list must raise?")
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


@exercise("09.loop", hint="Reread the stop reasons printed from STOP_REASONS: each result of your function names one "
          "of them. Which of decide's three kinds of reply ends the run, and which goes on? What must a failing or "
          "unknown tool turn into, so that the next decide can read it?")
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


class _Replay:
    """A scripted stand-in, not a language model: replays fixed replies (so the checks are instant)."""

    name = "scripted stand-in"

    def __init__(self, replies: list[str]) -> None:
        self.replies, self.calls = list(replies), 0
        self.last_usage = None

    def generate(self, messages: Any, max_new_tokens: int = 96, **kwargs: Any) -> str:
        from aieng.llm import Usage

        reply = self.replies[self.calls] if self.calls < len(self.replies) else "[]"
        self.calls += 1
        self.last_usage = Usage(sum(len(str(m.get("content", "")).split()) for m in messages), len(reply.split()), 0.0)
        return reply


def _salvage_runs(seed: int = 0, n: int = 24) -> list[tuple[Any, float | None]]:
    """Traces of the real Agent driven by replies that imitate the 135M model, with the true answers.

    Half the runs call the calculator correctly and then repeat the call (``repeated_call``), a quarter
    follow the right call with a wrong one (its error is the last observation), a quarter never manage a
    valid call (nothing to salvage: the true answer there is ``None``).
    """
    import random

    from aieng.agents import Agent, ReasoningEngine, ToolBox, calculator

    rng = random.Random(seed)
    runs = []
    for i in range(n):
        a, b = rng.randint(100, 999), rng.randint(10, 99)
        good = f'[calculator(expression="{a} * {b}")]'
        kind = i % 4
        if kind in (0, 1):
            replies, truth = [good, good], float(a * b)
        elif kind == 2:
            replies, truth = [good, f'[calculator(expression="{a} * ")]', "I think so."], float(a * b)
        else:
            replies, truth = ["Let me think.", f'[calculator(expr="{a}*{b}")]', "[]"], None
        agent = Agent(ReasoningEngine(_Replay(replies), decoding="free"), ToolBox([calculator]), max_steps=3,
                      answer_type="number")
        runs.append((agent.run(f"What is {a} * {b}?"), truth))
    return runs


def _salvage_test(salvage_answer: Any) -> str | None:
    runs = _salvage_runs()
    right = 0
    for trace, truth in runs:
        got = trace.answer if trace.stop_reason == "answer" else salvage_answer(trace)
        if truth is None:
            if got is not None:
                return (f"a run with no successful tool call ({trace.stop_reason}) was salvaged as {got!r}; "
                        "return None when there is nothing to salvage")
            right += 1
        elif got is not None and abs(float(got) - truth) < 1e-6:
            right += 1
    accuracy = right / len(runs)
    baseline = sum(t.stop_reason == "answer" for t, _ in runs) / len(runs)
    print(f"accuracy over {len(runs)} scripted runs: {accuracy:.0%} (the loop alone: {baseline:.0%})")
    if accuracy < 0.95:
        return f"accuracy {accuracy:.0%} over {len(runs)} runs; the mark is 95%"
    return None


@exercise("09.salvage", hint="Print a few traces that stopped as repeated_call and read their steps: where is the "
          "number the model needed? Not every observation is a success, and the last one may be an error.")
def _salvage():
    return [Case(test=_salvage_test, show="salvage_answer over 24 scripted runs")]


exercise("09.think-cost", hint="The prompt of step k holds the system prompt, the objective and everything the "
         "k - 1 earlier steps added. Add the five prompts up.",
         )(lambda: [Case(args=None, expected=1500)])


# ----------------------------------------------------------------------------- notebook 2: tools and grammars


@exercise("09.json_type", hint="Four hints map to one JSON type each. For list[...] the typing module can tell "
          "you the outer type and the inner one separately (read its docs for get_origin); the inner one is "
          "itself a hint.")
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


@exercise("09.allowed_tokens", hint="The question per token is not 'does it match?' but 'can it still become a "
          "match?'. Read RegexConstraint.viable in aieng.llm.constrain and the regex package's partial matching.")
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


@exercise("09.call_matches", hint="Two directions: is everything the model wrote allowed, and is everything that is "
          "required present? The empty string marks what may be left out; it is not a value the model may write.")
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


_FAST_VOCAB = sorted({a + b for a in "[]()=, abcdefxyz0123456789\"_" for b in ["", "a", "1", "(", "add", "=1"]})


def _fast_mask_test(fast_allowed: Any) -> str | None:
    import regex

    pattern = r"\[(?:add\(a=[0-9]{1,3}(?:, b=[0-9]{1,3})?\))?\]"
    rx = regex.compile(pattern)
    calls = 0

    def viable(text: str) -> bool:
        nonlocal calls
        calls += 1
        return rx.fullmatch(text, partial=True) is not None

    naive = 0
    for prefix in ["", "[", "[add(", "[add(a=", "[add(a=1", "[add(a=12, b="]:
        want = [t for t in _FAST_VOCAB if t and rx.fullmatch(prefix + t, partial=True) is not None]
        naive += len([t for t in _FAST_VOCAB if t])
        got = list(fast_allowed(prefix, _FAST_VOCAB, viable))
        if got != want:
            return f"after {prefix!r} you allowed {got}, the grammar allows {want} (in vocabulary order)"
    share = calls / naive
    print(f"viable() calls: {calls} of the naive {naive} ({share:.0%})")
    if share > 0.4:
        return f"{calls} calls to viable() is {share:.0%} of checking every token; the mark is 40%"
    return None


@exercise("09.fast-mask", hint="Count first: how many different first characters does the vocabulary have, and how "
          "many tokens? If prefix + one character cannot become a match, what do you know about every token "
          "that starts with that character?")
def _fast_mask():
    return [Case(test=_fast_mask_test, show="fast_allowed on six prefixes of a call grammar")]


exercise("09.think-grammar", hint="A grammar is about the shape of the text. Which of the four is about shape, and "
         "which need the model to understand the request?",
         compare=lambda e, g: isinstance(g, str) and g.strip().lower().strip("()") == e,
         )(lambda: [Case(args=None, expected="b")])


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


@exercise("09.topo", hint="Which tasks can run first? After one runs, which others may become runnable? Keep a "
          "count per task of what it still waits for. If tasks are left that never become runnable, what do "
          "they form?")
def _topo():
    return [Case(test=_topo_test), Case(test=_topo_cycle)]


def _words(text: str) -> int:
    return len(text.split())


@exercise("09.trim", hint="Which end of the conversation matters most? Start there and stop at the first message "
          "that does not fit; mind the order of the result.")
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


@exercise("09.authorizer", hint="Read the 'Authorizer Action Codes' page of SQLite's documentation (the sqlite3 "
          "module has a constant for each): which action codes does a plain SELECT produce? Everything else is "
          "a no.")
def _authorizer():
    return [Case(test=_authorizer_test)]


def _summariser_test(summariser: Any) -> str | None:
    from aieng.agents.memory import ConversationBuffer, planted_conversation

    found = total = 0
    for seed in range(6):
        messages, facts = planted_conversation(seed)
        buf = ConversationBuffer(max_tokens=200, policy="summarise", summariser=summariser)
        for m in messages:
            buf.add(m["role"], m["content"])
        seen = " ".join(m["content"] for m in buf.messages())
        found += sum(f["answer"] in seen for f in facts)
        total += len(facts)
    recall = found / total
    print(f"facts still visible at a 200-token budget over 6 conversations: {recall:.0%}")
    if recall < 0.8:
        return f"recall {recall:.0%}; the mark is 80% (the extractive summary keeps far fewer)"
    return None


@exercise("09.summariser", hint="Print one planted conversation and read it as the summariser must: which sentences "
          "appear in many messages, and which only once? The buffer gives the summary a budget: spend it on what "
          "cannot be found elsewhere.")
def _summariser():
    return [Case(test=_summariser_test, show="ConversationBuffer(200, 'summarise', summariser) on 6 conversations")]


exercise("09.think-fence", hint="For each fence ask: where does it run, and could code in the same process reach it?",
         compare=lambda e, g: isinstance(g, str) and g.strip().lower().strip("()") == e,
         )(lambda: [Case(args=None, expected="c")])
