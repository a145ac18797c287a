"""Planning: an objective as a graph of tool calls, executed in dependency order, replanned on failure.

Taught in Month 9 (chapters/09-agents); the planner of the agent lab.

A :class:`TaskGraph` is a set of :class:`Task` objects (a tool call each) whose arguments may refer to the
results of earlier tasks as ``"$id"`` (the whole argument) or ``"{$id}"`` inside a string. :meth:`TaskGraph.order`
sorts them topologically (Kahn's algorithm, from scratch; the chapter checks it against ``graphlib``).
:func:`execute` runs the tasks through a :class:`aieng.agents.tools.ToolBox`; when one fails, a *replanner* may
replace it (and the run continues), up to ``max_replans`` times. :func:`plan_from_calls` turns a model's call
list into a graph, so a reasoning engine can plan.

The model can also write the whole plan itself, as JSON, under constrained decoding:
:func:`plan_regex` is the grammar of a plan over given tool schemas (task ids ``t1``, ``t2``, ... in
order, and an argument may refer only to an *earlier* task, so every plan the grammar accepts is acyclic
by construction), :func:`plan_schema` the same plans as a JSON schema (which cannot say "earlier"),
:func:`plan_from_json` reads a plan back, :func:`model_plan` asks a local model for one and
:func:`model_replanner` asks it for a replacement task when one fails.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aieng.agents.callsyntax import Call, json_type
from aieng.agents.tools import Observation, ToolBox, render_signature

__all__ = [
    "PlanError",
    "PlanRun",
    "Task",
    "TaskGraph",
    "execute",
    "model_plan",
    "model_replanner",
    "plan_from_calls",
    "plan_from_json",
    "plan_messages",
    "plan_regex",
    "plan_schema",
    "task_regex",
]


class PlanError(ValueError):
    """A task graph is malformed: duplicate ids, unknown dependencies or a cycle."""


_REF = re.compile(r"\$([A-Za-z_][\w-]*)")


@dataclass
class Task:
    """One step of a plan: call ``tool`` with ``args`` after the tasks in ``deps`` (plus those ``args`` refer to)."""

    id: str
    tool: str
    args: dict[str, Any] = field(default_factory=dict)
    deps: list[str] = field(default_factory=list)

    def references(self) -> set[str]:
        """Task ids named in the arguments as ``$id``."""
        found: set[str] = set()

        def walk(v: Any) -> None:
            if isinstance(v, str):
                found.update(_REF.findall(v))
            elif isinstance(v, (list, tuple)):
                for x in v:
                    walk(x)
            elif isinstance(v, dict):
                for x in v.values():
                    walk(x)
        walk(self.args)
        return found

    @property
    def needs(self) -> set[str]:
        return set(self.deps) | self.references()


class TaskGraph:
    """Tasks and their dependencies; raises :class:`PlanError` for duplicates, unknown ids and cycles."""

    def __init__(self, tasks: Sequence[Task]) -> None:
        self.tasks: dict[str, Task] = {}
        for t in tasks:
            if t.id in self.tasks:
                raise PlanError(f"duplicate task id {t.id!r}")
            self.tasks[t.id] = t
        for t in self.tasks.values():
            unknown = t.needs - set(self.tasks)
            if unknown:
                raise PlanError(f"task {t.id!r} depends on unknown task(s) {sorted(unknown)}")
        self.order()

    def order(self) -> list[str]:
        """Task ids in an order where every task comes after what it needs (Kahn's algorithm, ties by insertion)."""
        indegree = {i: len(t.needs) for i, t in self.tasks.items()}
        users: dict[str, list[str]] = {i: [] for i in self.tasks}
        for i, t in self.tasks.items():
            for d in t.needs:
                users[d].append(i)
        ready = [i for i in self.tasks if indegree[i] == 0]
        out = []
        while ready:
            i = ready.pop(0)
            out.append(i)
            for u in users[i]:
                indegree[u] -= 1
                if indegree[u] == 0:
                    ready.append(u)
        if len(out) != len(self.tasks):
            stuck = sorted(set(self.tasks) - set(out))
            raise PlanError(f"the plan has a cycle among {stuck}")
        return out

    def replace(self, task_id: str, new: Sequence[Task]) -> None:
        """Swap task ``task_id`` for ``new`` tasks (one of them should keep the id if later tasks use it)."""
        tasks = []
        for i, t in self.tasks.items():
            tasks.extend(new if i == task_id else [t])
        self.__init__(tasks)  # re-validates

    def __len__(self) -> int:
        return len(self.tasks)

    def __repr__(self) -> str:
        return "TaskGraph(" + ", ".join(f"{i}<-{sorted(t.needs)}" for i, t in self.tasks.items()) + ")"


def _substitute(v: Any, results: Mapping[str, Any]) -> Any:
    if isinstance(v, str):
        whole = re.fullmatch(r"\$([A-Za-z_][\w-]*)", v)
        if whole:
            return results[whole.group(1)]
        return re.sub(r"\{?\$([A-Za-z_][\w-]*)\}?", lambda m: str(results[m.group(1)]), v)
    if isinstance(v, list):
        return [_substitute(x, results) for x in v]
    if isinstance(v, dict):
        return {k: _substitute(x, results) for k, x in v.items()}
    return v


@dataclass
class PlanRun:
    """The outcome of :func:`execute`: results by task id, a log line per event, and how it ended."""

    results: dict[str, Any]
    log: list[str]
    stop_reason: str  # "done", "failed" or "max_replans"
    replans: int = 0

    @property
    def ok(self) -> bool:
        return self.stop_reason == "done"


Replanner = Callable[[Task, Observation, Mapping[str, Any]], Sequence[Task] | None]


def execute(graph: TaskGraph, tools: ToolBox, replan: Replanner | None = None, max_replans: int = 2) -> PlanRun:
    """Run ``graph`` in dependency order; on a failed task ask ``replan(task, observation, results)`` for substitutes.

    A replanner returns replacement tasks (keeping the failed task's id when later tasks use its result), or
    ``None`` to give up. Never raises for a failing tool.
    """
    results: dict[str, Any] = {}
    log: list[str] = []
    replans = 0
    while True:
        pending = [i for i in graph.order() if i not in results]
        if not pending:
            return PlanRun(results, log, "done", replans)
        task = graph.tasks[pending[0]]
        args = _substitute(task.args, results)
        obs = tools.call(task.tool, args)
        if obs.ok:
            results[task.id] = obs.value
            log.append(f"{task.id}: {task.tool} ok -> {str(obs.content)[:80]}")
            continue
        log.append(f"{task.id}: {task.tool} FAILED: {obs.error}")
        if replan is None:
            return PlanRun(results, log, "failed", replans)
        if replans >= max_replans:
            return PlanRun(results, log, "max_replans", replans)
        new = replan(task, obs, results)
        replans += 1
        if not new:
            log.append(f"{task.id}: the replanner gave up")
            return PlanRun(results, log, "failed", replans)
        try:
            graph.replace(task.id, list(new))
        except PlanError as exc:
            log.append(f"{task.id}: the new plan is malformed ({exc})")
            return PlanRun(results, log, "failed", replans)
        log.append(f"{task.id}: replanned as {[t.tool for t in new]}")


def plan_from_calls(calls: Sequence[Call]) -> TaskGraph:
    """A graph from a call list: task ``tN`` is the N-th call (from 1); ``"$tN"`` in an argument is a dependency."""
    return TaskGraph([Task(f"t{i}", c.name, dict(c.arguments)) for i, c in enumerate(calls, 1)])


# ----------------------------------------------------------------------------- plans written by the model

PLAN_STRING_MAX = 80
"""Longest plain string value in a plan (SQL needs more room than a call argument)."""

_JSON_STRING = r'[^"\\$\x00-\x1f]{0,' + str(PLAN_STRING_MAX) + "}"  # no quote, backslash, control char or '$'
_JSON_INTEGER = r"-?(?:0|[1-9][0-9]{0,11})"
_JSON_NUMBER = r"-?(?:0|[1-9][0-9]{0,11})(?:\.[0-9]{1,8})?"


def _plan_value(prop: Mapping[str, Any], refs: Sequence[str]) -> str | None:
    """Regex of one argument value: a reference ``"$tK"`` to an earlier task, or a JSON literal of its type.

    Arrays, objects and untyped parameters may only be references (their values come from earlier tasks);
    returns ``None`` when no value is possible (such a parameter before any task has run).
    """
    ref = "|".join(re.escape(r) for r in refs)
    quoted_ref = rf'"\$(?:{ref})"' if refs else None
    if "enum" in prop:
        lits = [re.escape(json.dumps(v)) for v in prop["enum"]]
        return "(?:" + "|".join(lits + ([quoted_ref] if quoted_ref else [])) + ")"
    t = json_type(prop)
    literal = {"string": f'"{_JSON_STRING}"', "integer": _JSON_INTEGER, "number": _JSON_NUMBER,
               "boolean": "(?:true|false)"}.get(t)
    alts = [a for a in (quoted_ref, literal) if a]
    return "(?:" + "|".join(alts) + ")" if alts else None


def _in_order(items: Sequence[tuple[str, bool]]) -> str:
    """``a, b, c``: required items (in order) always, optional ones (after them) each optional."""
    req = [p for p, r in items if r]
    opt = [p for p, r in items if not r]
    if req:
        return ", ".join(req) + "".join(f"(?:, {p})?" for p in opt)
    alts = ["".join([opt[i]] + [f"(?:, {p})?" for p in opt[i + 1:]]) for i in range(len(opt))]
    return "(?:" + "|".join(alts) + ")?" if alts else ""


def task_regex(schemas: Sequence[Mapping[str, Any]], task_id: str, refs: Sequence[str] = ()) -> str:
    """Regex of one task ``{"id": "t2", "tool": "name", "args": {...}}`` as ``json.dumps`` writes it.

    ``refs`` are the ids the arguments may refer to (``"$t1"``). Required parameters come first, in schema
    order, then optional ones, each optional. A tool with a required parameter that has no possible value
    here is left out; raises ``ValueError`` when no tool is left.
    """
    alts = []
    for fn in schemas:
        params = fn.get("parameters") or {}
        props = params.get("properties") or {}
        required = [k for k in props if k in set(params.get("required") or [])]
        values = {k: _plan_value(props[k], refs) for k in props}
        if any(values[k] is None for k in required):
            continue
        pairs = [(re.escape(json.dumps(k)) + ": " + values[k], k in required) for k in props
                 if values[k] is not None]
        body = _in_order(pairs)
        alts.append(re.escape(json.dumps(fn["name"])) + r', "args": \{' + body + r"\}")
    if not alts:
        raise ValueError(f"no tool can be called as task {task_id!r} with references {list(refs)}")
    return r'\{"id": ' + re.escape(json.dumps(task_id)) + r', "tool": (?:' + "|".join(alts) + r")\}"


def plan_regex(schemas: Sequence[Mapping[str, Any]], max_tasks: int = 6) -> str:
    """The grammar of a whole plan: a JSON list of 1 to ``max_tasks`` tasks ``t1, t2, ...``.

    Task ``tK`` may refer only to ``t1 .. t(K-1)``, so the plan is acyclic and already in dependency order.
    The text is exactly what ``json.dumps`` writes for such a list (``", "`` and ``": "`` separators).
    """
    if max_tasks < 1:
        raise ValueError("max_tasks must be >= 1")
    tasks = [task_regex(schemas, f"t{k}", [f"t{j}" for j in range(1, k)]) for k in range(1, max_tasks + 1)]
    body = tasks[-1]
    for t in reversed(tasks[:-1]):
        body = f"{t}(?:, {body})?"
    return r"\[" + body + r"\]"


def plan_schema(schemas: Sequence[Mapping[str, Any]], max_tasks: int = 6) -> dict[str, Any]:
    """A JSON schema of plans over ``schemas`` (for a library's JSON-schema grammar or a validator).

    Looser than :func:`plan_regex`: a schema cannot say that a reference points to an *earlier* task, so a
    plan valid under it may still refer forwards or to itself (a cycle); :class:`TaskGraph` catches that.
    """
    ref = {"type": "string", "pattern": r"^\$t[0-9]+$"}
    variants = []
    for fn in schemas:
        params = fn.get("parameters") or {}
        props = {}
        for k, prop in (params.get("properties") or {}).items():
            t = json_type(prop)
            own = {"enum": list(prop["enum"])} if "enum" in prop else (
                {"type": t} if t in {"string", "integer", "number", "boolean"} else None)
            props[k] = {"anyOf": [own, ref]} if own else ref
        variants.append({"type": "object", "additionalProperties": False, "required": ["id", "tool", "args"],
                         "properties": {"id": {"type": "string", "pattern": r"^t[0-9]+$"},
                                        "tool": {"const": fn["name"]},
                                        "args": {"type": "object", "properties": props, "additionalProperties": False,
                                                 "required": list(params.get("required") or [])}}})
    return {"type": "array", "minItems": 1, "maxItems": max_tasks, "items": {"anyOf": variants}}


def plan_from_json(text: str) -> TaskGraph:
    """A :class:`TaskGraph` from a plan written as JSON ``[{"id", "tool", "args"}, ...]``.

    Raises :class:`PlanError` for text that is not such a list, and for a malformed graph.
    """
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanError(f"the plan is not JSON: {exc}") from None
    if not isinstance(items, list) or not items:
        raise PlanError("a plan is a non-empty JSON list of tasks")
    tasks = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not isinstance(item.get("tool"), str) \
                or not isinstance(item.get("args", {}), dict):
            raise PlanError(f"a task is {{'id': str, 'tool': str, 'args': dict}}, got {item!r}")
        tasks.append(Task(item["id"], item["tool"], dict(item.get("args", {}))))
    return TaskGraph(tasks)


PLAN_INSTRUCTIONS = ("You plan tasks. Tools:\n{tools}\nWrite the plan as a JSON list of tasks. "
                     'Write "$t1" for the result of task t1. Example, for "send the weather in Paris to Bo": '
                     '[{{"id": "t1", "tool": "weather", "args": {{"city": "Paris"}}}}, '
                     '{{"id": "t2", "tool": "email", "args": {{"to": "Bo", "body": "$t1"}}}}]. '
                     "First get the data, then use it, and send last.")
"""The planner's system prompt (``{tools}`` is one signature line per tool)."""


def plan_messages(objective: str, schemas: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """The chat that asks a model for a plan of ``objective`` over ``schemas``."""
    tools = "\n".join(render_signature(s) for s in schemas)
    return [{"role": "system", "content": PLAN_INSTRUCTIONS.format(tools=tools)},
            {"role": "user", "content": objective}]


def model_plan(model: Any, objective: str, tools: ToolBox, max_tasks: int = 6,
               max_new_tokens: int = 400) -> tuple[TaskGraph, str]:
    """Ask a local model for a plan under :func:`plan_regex` (llguidance); returns the graph and the text.

    The grammar makes the text valid JSON and the graph acyclic; whether the plan is *good* is for
    :func:`execute` and a measurement to say. Raises :class:`PlanError` if the decoder stopped before the
    plan was complete (the token budget ran out).
    """
    from aieng.llm.constrain import decode_llguidance

    out = decode_llguidance(model, plan_messages(objective, tools.schemas), plan_regex(tools.schemas, max_tasks),
                            max_new_tokens=max_new_tokens)
    return plan_from_json(out.text), out.text


def model_replanner(model: Any, tools: ToolBox, context: str = "", max_new_tokens: int = 200) -> Replanner:
    """A replanner for :func:`execute` that asks ``model`` for one replacement task, under a grammar.

    The prompt shows the tools, ``context`` (e.g. a database schema), the failed task and its error; the
    grammar (:func:`task_regex`) keeps the failed task's id and lets the arguments refer only to tasks
    that have already run.
    """
    from aieng.llm.constrain import decode_llguidance

    def replan(task: Task, observation: Observation, results: Mapping[str, Any]) -> list[Task] | None:
        schemas = tools.schemas
        failed = json.dumps({"id": task.id, "tool": task.tool, "args": task.args})
        messages = plan_messages("", schemas)[:1] + [{"role": "user", "content": (
            (context + "\n" if context else "") + f"This task failed:\n{failed}\nError: {observation.error}\n"
            f"Write one corrected task with id {task.id}.")}]
        try:
            pattern = task_regex(schemas, task.id, sorted(results))
        except ValueError:
            return None
        out = decode_llguidance(model, messages, pattern, max_new_tokens=max_new_tokens)
        try:  # the grammar guarantees the shape; it may refer to tasks outside this one, so no TaskGraph here
            item = json.loads(out.text)
        except json.JSONDecodeError:  # the decoder ran out of tokens before the task was complete
            return None
        return [Task(item["id"], item["tool"], dict(item["args"]))]

    return replan
