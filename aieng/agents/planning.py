"""Planning: an objective as a graph of tool calls, executed in dependency order, replanned on failure.

Taught in Month 9 (chapters/09-agents); the planner of the agent lab.

A :class:`TaskGraph` is a set of :class:`Task` objects (a tool call each) whose arguments may refer to the
results of earlier tasks as ``"$id"`` (the whole argument) or ``"{$id}"`` inside a string. :meth:`TaskGraph.order`
sorts them topologically (Kahn's algorithm, from scratch; the chapter checks it against ``graphlib``).
:func:`execute` runs the tasks through a :class:`aieng.agents.tools.ToolBox`; when one fails, a *replanner* may
replace it (and the run continues), up to ``max_replans`` times. :func:`plan_from_calls` turns a model's call
list into a graph, so a reasoning engine can plan.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aieng.agents.tools import Call, Observation, ToolBox

__all__ = ["Task", "TaskGraph", "PlanRun", "execute", "plan_from_calls", "PlanError"]


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
