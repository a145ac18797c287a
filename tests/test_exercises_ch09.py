"""Each Month 9 exercise accepts a reference answer and rejects a wrong one."""

from __future__ import annotations

import ast
import re
import sqlite3
import typing

import pytest
import regex

from aieng.book import check


def parse_call(text):
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError:
        raise ValueError("not a call") from None
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name) or node.args:
        raise ValueError("not a keyword call")
    return node.func.id, {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords}


def parse_call_wrong(text):
    name, _, rest = text.partition("(")
    return name, {}


def run_loop(decide, tools, max_steps):
    history = []
    for step in range(1, max_steps + 1):
        d = decide(history)
        if d is None:
            return "", "no_action", step
        name, arg = d
        if name == "final":
            return arg, "answer", step
        try:
            history.append(str(tools[name](arg)))
        except Exception as exc:
            history.append(f"error: {exc}")
    return None, "max_steps", max_steps


def run_loop_wrong(decide, tools, max_steps):  # lets a tool's exception escape
    history = []
    for step in range(1, max_steps + 1):
        d = decide(history)
        if d is None:
            return "", "no_action", step
        if d[0] == "final":
            return d[1], "answer", step
        history.append(str(tools[d[0]](d[1])))
    return None, "max_steps", max_steps


def salvage_answer(trace):
    for step in reversed(trace.steps):
        for obs in reversed(step.observations):
            if obs["ok"] and obs["tool"] != "final_answer":
                try:
                    return float(obs["content"])
                except ValueError:
                    pass
    return None


def salvage_answer_wrong(trace):  # trusts the last observation, which may be an error or missing
    obs = trace.steps[-1].observations
    return float(obs[-1]["content"]) if obs and obs[-1]["ok"] else None


def salvage_answer_invents(trace):  # always answers something, even when no tool succeeded
    return salvage_answer(trace) or 0.0


def fast_allowed(prefix, vocab, viable):
    first, out = {}, []
    for t in vocab:
        if t:
            if t[0] not in first:
                first[t[0]] = viable(prefix + t[0])
            if first[t[0]] and (len(t) == 1 or viable(prefix + t)):
                out.append(t)
    return out


def fast_allowed_naive(prefix, vocab, viable):  # right answer, but one check per token
    return [t for t in vocab if t and viable(prefix + t)]


def fast_allowed_wrong(prefix, vocab, viable):  # prunes by first character only: allows too much
    return [t for t in vocab if t and viable(prefix + t[0])]


def summariser(messages, max_tokens, count):
    said = [s for m in messages for s in re.split(r"(?<=[.!?])\s", m["content"])]
    kept = []
    for s in [s for s in said if said.count(s) == 1]:
        if count(" ".join(kept + [s])) > max_tokens:
            break
        kept.append(s)
    return " ".join(kept)


def summariser_first_sentences(messages, max_tokens, count):  # the extractive default: keeps no planted fact
    from aieng.agents.memory import extractive_summary

    return extractive_summary(messages, max_tokens, count)


def json_type(hint):
    simple = {int: "integer", float: "number", str: "string", bool: "boolean"}
    if hint in simple:
        return {"type": simple[hint]}
    if typing.get_origin(hint) is list:
        return {"type": "array", "items": json_type(typing.get_args(hint)[0])}
    raise TypeError(hint)


def json_type_wrong(hint):
    return {"type": {int: "integer", float: "float", str: "string", bool: "boolean"}.get(hint, "array")}


def allowed_tokens(prefix, vocab, pattern):
    return [t for t in vocab if t and regex.fullmatch(pattern, prefix + t, partial=True) is not None]


def allowed_tokens_wrong(prefix, vocab, pattern):  # full matches only
    return [t for t in vocab if t and regex.fullmatch(pattern, prefix + t) is not None]


def call_matches(args, accepted):
    if any(k not in accepted or args[k] not in [a for a in accepted[k] if a != ""] for k in args):
        return False
    return all(k in args or "" in v for k, v in accepted.items())


def call_matches_wrong(args, accepted):
    return all(k in accepted for k in args)


def topo_order(deps):
    remaining = {t: set(d) for t, d in deps.items()}
    order = []
    ready = [t for t, d in remaining.items() if not d]
    while ready:
        t = ready.pop(0)
        order.append(t)
        for u, d in remaining.items():
            if t in d:
                d.remove(t)
                if not d:
                    ready.append(u)
    if len(order) != len(deps):
        raise ValueError("cycle")
    return order


def topo_order_wrong(deps):
    return list(deps)


def trim_history(messages, max_tokens, count):
    kept, used = [], 0
    for m in reversed(messages):
        n = count(m["content"])
        if kept and used + n > max_tokens:
            break
        kept.insert(0, m)
        used += n
    return kept


def trim_history_wrong(messages, max_tokens, count):
    return messages[-2:]


def authorizer(action, *args):
    return sqlite3.SQLITE_OK if action in (sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ) else sqlite3.SQLITE_DENY


def authorizer_wrong(action, *args):
    return sqlite3.SQLITE_DENY if action == sqlite3.SQLITE_DROP_TABLE else sqlite3.SQLITE_OK


CASES = [
    ("09.parse_call", parse_call, parse_call_wrong),
    ("09.loop", run_loop, run_loop_wrong),
    ("09.salvage", salvage_answer, salvage_answer_wrong),
    ("09.salvage", salvage_answer, salvage_answer_invents),
    ("09.think-cost", 1500, 1000),
    ("09.fast-mask", fast_allowed, fast_allowed_naive),
    ("09.fast-mask", fast_allowed, fast_allowed_wrong),
    ("09.think-grammar", "b", "a"),
    ("09.json_type", json_type, json_type_wrong),
    ("09.allowed_tokens", allowed_tokens, allowed_tokens_wrong),
    ("09.call_matches", call_matches, call_matches_wrong),
    ("09.topo", topo_order, topo_order_wrong),
    ("09.trim", trim_history, trim_history_wrong),
    ("09.authorizer", authorizer, authorizer_wrong),
    ("09.summariser", summariser, summariser_first_sentences),
    ("09.think-fence", "c", "a"),
]


@pytest.mark.parametrize("name, good, bad", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_exercise(name, good, bad):
    assert check(name, good, strict=True, quiet=True)
    assert check(name, bad, strict=False, quiet=True).status == "fail"


def test_hints_point_without_code():
    """A hint points to the idea or to what to read; it never carries the answer's code."""
    from aieng.book.cases import REGISTRY

    for name, ex in REGISTRY.items():
        if ex.cases.__module__ == "aieng.book.exercises.ch09":
            assert not re.search(r"\w\(|==|\breturn\b|lambda", ex.hint), (name, ex.hint)
