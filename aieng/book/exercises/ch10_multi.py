"""Exercises of Month 10, notebook 1: agents that work together (chapters/10-multi-agent/01-agents-that-work-together)."""

from __future__ import annotations

import random
from typing import Any

from aieng.book.cases import Case, exercise, near, same_choice

_KINDS = ("total", "change", "top")
_MONTHS = ("January", "February", "March", "April", "May", "June")
_TEMPLATES = {
    "total": ["What was the total {metric} in {m1} 2015?", "How many {metric} did we have in {m1} 2015?"],
    "change": ["By how many percent did {metric} change from {m1} to {m2} 2015?",
               "What was the percent change in {metric} from {m1} to {m2} 2015?"],
    "top": ["Which pizza category had the most {metric} in {m1} 2015?",
            "In {m1} 2015, which pizza category led on {metric}?"],
}


def _state(writes: list[tuple[str, str]]) -> Any:
    from aieng.agents.multi import SharedState

    s = SharedState()
    for i, (agent, key) in enumerate(writes):
        s.put(key, i, by=agent)
    return s


def _writes_case(writes: list[tuple[str, str]]) -> Case:
    def test(fn: Any) -> str | None:
        want: dict[str, list[str]] = {}
        for agent, key in writes:
            want.setdefault(agent, []).append(key)
        got = fn(_state(writes))
        return None if got == want else f"for the writes {writes} you returned {got!r}, expected {want!r}"
    return Case(test=test)


@exercise("10.writes_by_agent", hint="The blackboard keeps every write in order, with its author: read "
          "SharedState in aieng.agents.multi (its history attribute), not the current values.")
def _writes_by_agent():
    return [_writes_case([("coordinator", "objective"), ("research", "figures"), ("analysis", "answer")]),
            _writes_case([("research", "rows"), ("coding", "rows"), ("research", "rows")]),
            _writes_case([])]


def _team_run(seed: int) -> Any:
    from aieng.agents.multi import Coordinator, Message, Specialist

    rng = random.Random(seed)
    cost = {n: rng.choice([0, 3, 11]) for n in ("research", "coding", "analysis")}

    def research(task: str, state: Any) -> Any:
        return Message("research", "coding", "handoff", "rank them", cost["research"])

    team = Coordinator(lambda o, s, opts: "research" if "coding" not in s else "analysis",
                       [Specialist("research", "r", research),
                        Specialist("coding", "c", lambda t, s: ("ranked", cost["coding"])),
                        Specialist("analysis", "a", lambda t, s: ("answer", cost["analysis"]), key="answer")],
                       done_when=lambda s: "answer" in s)
    return team.run(f"objective {seed}")


def _tokens_case(seed: int) -> Case:
    def test(fn: Any) -> str | None:
        run = _team_run(seed)
        want: dict[str, int] = {}
        for m in run.messages:
            want[m.sender] = want.get(m.sender, 0) + m.tokens
        got = fn(run)
        if got != want:
            return f"for a run with messages from {sorted(want)} you returned {got!r}, expected {want!r}"
        return None
    return Case(test=test)


@exercise("10.tokens_by_sender", hint="Every Message carries its sender and its tokens; a TeamRun keeps them all "
          "in order. The coordinator is a sender too.")
def _tokens_by_sender():
    return [_tokens_case(s) for s in range(3)]


def _suite(n: int = 30, seed: int = 1) -> list[dict[str, Any]]:
    rng, out = random.Random(seed), []
    for i in range(n):
        kind = _KINDS[i % 3]
        m1, m2 = sorted(rng.sample(_MONTHS, 2), key=_MONTHS.index)
        metric = rng.choice(["revenue", "pizzas sold", "orders"])
        out.append({"kind": kind, "question": rng.choice(_TEMPLATES[kind]).format(metric=metric, m1=m1, m2=m2)})
    return out


def _route_success(route: Any) -> tuple[float, list[str]]:
    """The success rate of a team routed by ``route`` on the suite, and the stop reasons that were not done.

    The specialists are deterministic: research yields the figure(s), coding the ranking, analysis the
    answer from what is on the blackboard (it fails without inputs). The right answer to a kind is a token.
    """
    from aieng.agents.multi import Coordinator, Specialist

    def research(task: str, state: Any) -> Any:
        return "figures:change" if "percent" in task else "figures:total"

    def analysis(task: str, state: Any) -> Any:
        if "coding" in state:
            return "top"
        if "research" in state:
            return state.get("research").split(":")[1]
        raise ValueError("nothing to analyse")

    wins, bad = 0, []
    for obj in _suite():
        team = Coordinator(route, [Specialist("research", "looks up monthly totals", research),
                                   Specialist("coding", "ranks categories", lambda t, s: "ranking"),
                                   Specialist("analysis", "computes the answer", analysis, key="answer")],
                           max_handoffs=4, done_when=lambda s: "answer" in s)
        run = team.run(obj["question"])
        if run.ok and run.state.get("answer") == obj["kind"]:
            wins += 1
        elif not run.ok:
            bad.append(run.stop_reason)
    return wins / len(_suite()), bad


def _route_case() -> Case:
    def test(fn: Any) -> str | None:
        from aieng.agents.multi import SharedState

        fn("probe", SharedState(), ["research", "coding", "analysis", "done"])  # a stub raises here, not in a run
        rate, bad = _route_success(fn)
        if "max_handoffs" in bad:
            return f"{bad.count('max_handoffs')} runs ended on the handoff budget: your router loops"
        return None if rate >= 0.9 else f"success rate {rate:.2f} on 30 objectives; reach 0.9 (stops: {bad})"
    return Case(test=test)


@exercise("10.route", hint="Two facts decide the next step: the kind of objective (which words give a ranking "
          "question away?) and which specialists already wrote to the blackboard (`name in state`). Analysis "
          "comes last; a specialist that already delivered is no longer in options.")
def _route():
    return [_route_case()]


@exercise("10.compound", hint="Three independent events must all happen: how do their probabilities combine?",
          compare=near(abs_tol=0.0015))
def _compound():
    return [Case(args=None, expected=0.729)]


@exercise("10.who_decides", hint="A budget only ends a run; it does not know whether the work is done. Which "
          "option checks the result itself, without trusting the small model's judgement?", compare=same_choice)
def _who_decides():
    return [Case(args=None, expected="b")]
