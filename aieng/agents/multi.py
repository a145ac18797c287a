"""A coordinator and its specialists: messages, handoffs, a shared blackboard, and who says the work is done.

Taught in Month 10 (chapters/10-multi-agent); the team that Month 10's enterprise task is measured with.

>>> from aieng.agents.multi import Coordinator, Specialist
>>> add = Specialist("analysis", "adds two numbers", lambda task, state: 2 + 3)
>>> team = Coordinator(lambda objective, state, options: "analysis" if "analysis" not in state else "done",
...                    [add])
>>> run = team.run("add 2 and 3")
>>> run.stop_reason, run.state.get("analysis"), run.trajectory
('done', 5, ['analysis'])

The pieces, one class each:

- :class:`Message`: who sent what to whom (a ``task``, a ``result``, a ``handoff``, ``done`` or an
  ``error``), and what it cost in tokens;
- :class:`SharedState`: the blackboard every agent reads and writes; every write records its author;
- :class:`Specialist`: one narrow job, done by a model with a few tools (:meth:`Specialist.from_tools`) or
  by plain, vetted Python (:meth:`Specialist.from_function`);
- :class:`Coordinator`: chooses the next specialist, or ``"done"``, among a fixed list of options (so a
  135M model cannot answer off the menu), routes handoffs, and stops every run with a stated reason
  (:data:`TEAM_STOP_REASONS`) when a budget runs out;
- :class:`TeamRun`: the run's record: messages, state, tokens, seconds and the trajectory.

Who decides that the work is done? By default the coordinator's model (it picks ``"done"``); pass
``done_when=`` (a check on the shared state) to let code decide instead, which is what a small model needs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from aieng.agents.loop import STOP_REASONS

__all__ = [
    "MESSAGE_KINDS",
    "TEAM_STOP_REASONS",
    "Message",
    "SharedState",
    "Specialist",
    "Coordinator",
    "TeamRun",
    "choose_option",
]

MESSAGE_KINDS = ("task", "result", "handoff", "done", "error")
"""The kinds of :class:`Message` a team exchanges."""

TEAM_STOP_REASONS = {
    "done": "the coordinator (or the done_when check) decided the work is done",
    "max_handoffs": "the handoff budget ran out (the team's max_steps)",
    "token_budget": STOP_REASONS["token_budget"],
    "time_budget": "the wall-time budget ran out",
    "model_error": STOP_REASONS["model_error"],
    "no_options": "every specialist has delivered and 'done' was not chosen by the check",
    "internal_error": STOP_REASONS["internal_error"],
}
"""Every way :meth:`Coordinator.run` can end, with what it means (Month 9's words where they fit)."""

COORDINATOR = "coordinator"
DONE = "done"


@dataclass
class Message:
    """One message between agents.

    Attributes
    ----------
    sender, recipient
        Agent names (``"coordinator"``, a specialist's name, or ``"user"``).
    kind
        One of :data:`MESSAGE_KINDS`.
    content
        The task text, the result, or the error.
    tokens
        What producing this message cost in model tokens (0 for plain code).
    """

    sender: str
    recipient: str
    kind: str
    content: Any
    tokens: int = 0

    def __post_init__(self) -> None:
        if self.kind not in MESSAGE_KINDS:
            raise ValueError(f"kind must be one of {MESSAGE_KINDS}, got {self.kind!r}")


class SharedState:
    """The blackboard: a dict every agent reads, whose every write records the agent that made it.

    >>> s = SharedState()
    >>> s.put("rows", 3, by="research")
    >>> "rows" in s, s.get("rows"), s.author("rows"), s.history
    (True, 3, 'research', [('research', 'rows')])
    """

    def __init__(self) -> None:
        self._data: dict[str, Any] = {}
        self._author: dict[str, str] = {}
        self.history: list[tuple[str, str]] = []

    def put(self, key: str, value: Any, by: str) -> None:
        """Write ``value`` under ``key`` on behalf of agent ``by``."""
        if not isinstance(key, str) or not key:
            raise ValueError("key must be a non-empty string")
        if not isinstance(by, str) or not by:
            raise ValueError("by must name the agent that writes")
        self._data[key] = value
        self._author[key] = by
        self.history.append((by, key))

    def get(self, key: str, default: Any = None) -> Any:
        """The value under ``key`` (``default`` when absent)."""
        return self._data.get(key, default)

    def author(self, key: str) -> str | None:
        """The agent that last wrote ``key``."""
        return self._author.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def keys(self) -> list[str]:
        """The keys written so far, in the order first written."""
        return list(self._data)

    def as_dict(self) -> dict[str, Any]:
        """A shallow copy of the contents."""
        return dict(self._data)

    def __repr__(self) -> str:
        return f"SharedState({', '.join(f'{k}<-{self._author[k]}' for k in self._data)})"


class Specialist:
    """An agent with one narrow job.

    Parameters
    ----------
    name
        Its name (the coordinator's option).
    description
        One line the coordinator reads to decide whom to call.
    fn
        ``fn(task, state) -> value`` or ``-> (value, tokens)``: the work. Its value is written to the shared
        state under ``key`` by this specialist. Raising ends this step with an ``error`` message (never the run).
        A ``Message`` returned as is (of kind ``handoff``, say) passes through.
    key
        The state key the result goes to (default: ``name``).

    Use :meth:`from_function` for plain, vetted code and :meth:`from_tools` for a model with tools.
    """

    def __init__(self, name: str, description: str, fn: Callable[[str, SharedState], Any],
                 key: str | None = None) -> None:
        if not name or name in (DONE, COORDINATOR):
            raise ValueError(f"a specialist needs a name other than {DONE!r} and {COORDINATOR!r}")
        if not callable(fn):
            raise TypeError("fn must be callable: fn(task, state) -> value")
        self.name = name
        self.description = description
        self.fn = fn
        self.key = key or name

    @classmethod
    def from_function(cls, name: str, description: str, fn: Callable[[str, SharedState], Any],
                      key: str | None = None) -> Specialist:
        """A deterministic specialist: plain Python does the work (no tokens)."""
        return cls(name, description, fn, key)

    @classmethod
    def from_tools(cls, name: str, description: str, model: Any, tools: Sequence[Any], *,
                   key: str | None = None, max_steps: int = 3, decoding: str = "constrained",
                   instructions: str = "") -> Specialist:
        """A model-driven specialist: a Month 9 :class:`aieng.agents.Agent` with its own narrow tool box.

        The task goes to the agent as its objective; the answer (``final_answer``'s, else the last tool
        result) is the specialist's value, and the trace's tokens are its cost.
        """
        from aieng.agents.loop import Agent, ReasoningEngine
        from aieng.agents.tools import ToolBox

        box = ToolBox(list(tools))

        def work(task: str, state: SharedState) -> tuple[Any, int]:
            agent = Agent(ReasoningEngine(model, decoding=decoding), box, max_steps=max_steps,
                          instructions=instructions)
            trace = agent.run(task)
            value = trace.answer
            if value is None:
                for step in reversed(trace.steps):
                    oks = [o for o in step.observations if o.get("ok")]
                    if oks:
                        value = oks[-1].get("content")
                        break
            if value is None:
                raise RuntimeError(f"the agent stopped ({trace.stop_reason}) without a result")
            return value, trace.tokens

        spec = cls(name, description, work, key)
        spec.tools = box  # type: ignore[attr-defined]
        return spec

    def handle(self, task: str, state: SharedState) -> Message:
        """Do ``task``; write the value to ``state`` under :attr:`key`; return a ``result`` (or ``error``) message."""
        try:
            out = self.fn(task, state)
        except Exception as exc:  # a failing specialist is a message, not a crash
            return Message(self.name, COORDINATOR, "error", f"{type(exc).__name__}: {exc}")
        if isinstance(out, Message):
            return out
        tokens = 0
        if isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], int):
            out, tokens = out
        state.put(self.key, out, by=self.name)
        return Message(self.name, COORDINATOR, "result", out, tokens)

    def __repr__(self) -> str:
        return f"Specialist({self.name!r}: {self.description})"


def choose_option(model: Any, messages: Sequence[dict[str, str]], options: Sequence[str]) -> tuple[str, int]:
    """One constrained choice among ``options`` by ``model``; returns the choice and its token cost.

    A local model (:class:`aieng.llm.LocalChatModel`) scores every option by log-probability
    (:func:`aieng.llm.choose`); any other chat model (an endpoint, a test double) replies freely and the
    first option its reply starts with (else mentions) is taken; a reply naming none raises ``ValueError``.
    """
    if hasattr(model, "encode_chat") and hasattr(model, "model"):
        from aieng.llm.choose import choose

        best, _ = choose(model, messages, options)
        prompt = int(model.encode_chat(list(messages)).shape[1])
        extra = sum(len(model.tokenizer(o, add_special_tokens=False)["input_ids"]) for o in options)
        return best, prompt + extra
    reply = model.generate(list(messages), max_new_tokens=8, temperature=0.0)
    usage = getattr(model, "last_usage", None)
    tokens = int(getattr(usage, "prompt_tokens", 0) + getattr(usage, "completion_tokens", 0)) if usage else 0
    text = reply.strip().lower()
    for opt in sorted(options, key=len, reverse=True):
        if text.startswith(opt.lower()):
            return opt, tokens
    for opt in sorted(options, key=len, reverse=True):
        if opt.lower() in text:
            return opt, tokens
    raise ValueError(f"the reply {reply!r} names none of {list(options)}")


@dataclass
class TeamRun:
    """What a team run did: every message, the final shared state, the cost, and why it stopped."""

    objective: str
    stop_reason: str
    messages: list[Message] = field(default_factory=list)
    state: SharedState = field(default_factory=SharedState)
    tokens: int = 0
    seconds: float = 0.0
    trajectory: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the run ended because the work was declared done (not by a budget or an error)."""
        return self.stop_reason == DONE

    @property
    def handoffs(self) -> list[Message]:
        """The ``handoff`` messages (one specialist passing the work straight to another)."""
        return [m for m in self.messages if m.kind == "handoff"]

    @property
    def errors(self) -> list[Message]:
        """The ``error`` messages."""
        return [m for m in self.messages if m.kind == "error"]

    def transcript(self) -> str:
        """One line per message: ``sender -> recipient [kind] content``."""
        return "\n".join(f"{m.sender:>12} -> {m.recipient:<12} [{m.kind}] {str(m.content)[:70]}"
                         for m in self.messages)


class Coordinator:
    """Chooses which specialist works next, or ``"done"``, until the work is done or a budget runs out.

    Parameters
    ----------
    model
        Who chooses. A chat model (a local one chooses by log-probability over the options, see
        :func:`choose_option`), or a plain function ``policy(objective, state, options) -> option`` (a
        deterministic router: the fixed workflow).
    specialists
        The team.
    max_handoffs
        Most specialist turns in one run.
    token_budget, time_budget_s
        Stop when the run's tokens or seconds reach these (checked before every turn).
    done_when
        ``done_when(state) -> bool``: when given, code decides that the work is done (checked after every
        turn) and the model only chooses whom to call.
    repeat
        Offer a specialist again after it delivered a result (default ``False``: each delivers once, which
        keeps a small model from looping).
    """

    def __init__(self, model: Any, specialists: Sequence[Specialist], *, max_handoffs: int = 8,
                 token_budget: int | None = None, time_budget_s: float | None = None,
                 done_when: Callable[[SharedState], bool] | None = None, repeat: bool = False) -> None:
        if not specialists:
            raise ValueError("a coordinator needs at least one specialist")
        names = [s.name for s in specialists]
        if len(set(names)) != len(names):
            raise ValueError(f"specialist names must be unique, got {names}")
        if max_handoffs < 1:
            raise ValueError("max_handoffs must be at least 1")
        self.model = model
        self.specialists = {s.name: s for s in specialists}
        self.max_handoffs = max_handoffs
        self.token_budget = token_budget
        self.time_budget_s = time_budget_s
        self.done_when = done_when
        self.repeat = repeat

    def prompt(self, objective: str, state: SharedState, options: Sequence[str]) -> list[dict[str, str]]:
        """The coordinator's chat messages: the objective, the team, what is on the blackboard, the options."""
        team = "\n".join(f"- {n}: {self.specialists[n].description}" for n in options if n != DONE)
        have = ", ".join(k for k in state.keys() if k != "objective") or "nothing yet"
        return [{"role": "system", "content": "You coordinate a team. Reply with the name of the team member "
                                              "who should work next, or done when the objective is met."},
                {"role": "user", "content": f"Objective: {objective}\nTeam:\n{team}\n- done: the work is finished"
                                            f"\nResults so far: {have}\nWho works next?"}]

    def options(self, state: SharedState) -> list[str]:
        """The specialists still on offer, then ``"done"``."""
        names = [n for n, s in self.specialists.items() if self.repeat or s.key not in state]
        return names + [DONE]

    def choose(self, objective: str, state: SharedState, options: Sequence[str]) -> tuple[str, int]:
        """The next option and what choosing it cost in tokens."""
        if callable(self.model) and not hasattr(self.model, "generate"):
            choice = self.model(objective, state, list(options))
            if choice not in options:
                raise ValueError(f"the policy chose {choice!r}, not one of {list(options)}")
            return choice, 0
        return choose_option(self.model, self.prompt(objective, state, options), options)

    def task_for(self, name: str, objective: str, state: SharedState) -> str:
        """The task text a specialist receives (the objective; override to narrow it)."""
        return objective

    def run(self, objective: str) -> TeamRun:
        """Run the team on ``objective``. Never raises for what a model or specialist does."""
        t0 = time.perf_counter()
        state = SharedState()
        state.put("objective", objective, by=COORDINATOR)
        run = TeamRun(objective, "", state=state)

        def finish(reason: str, content: Any = None) -> TeamRun:
            run.stop_reason = reason
            kind = "done" if reason == DONE else "error"
            run.messages.append(Message(COORDINATOR, "user", kind,
                                        content if content is not None else TEAM_STOP_REASONS[reason]))
            run.seconds = time.perf_counter() - t0
            return run

        next_name: str | None = None  # set by a handoff
        try:
            while True:
                if self.done_when is not None and self.done_when(state):
                    return finish(DONE, state.get("answer"))
                if self.token_budget is not None and run.tokens >= self.token_budget:
                    return finish("token_budget")
                if self.time_budget_s is not None and time.perf_counter() - t0 >= self.time_budget_s:
                    return finish("time_budget")
                if len(run.trajectory) >= self.max_handoffs:
                    return finish("max_handoffs")
                if next_name is None:
                    options = self.options(state)
                    if options == [DONE] and self.done_when is not None:
                        return finish("no_options")
                    try:
                        choice, tokens = self.choose(objective, state, options)
                    except Exception as exc:
                        return finish("model_error", f"{type(exc).__name__}: {exc}")
                    run.tokens += tokens
                    if choice == DONE:
                        return finish(DONE, state.get("answer"))
                    task = self.task_for(choice, objective, state)
                    run.messages.append(Message(COORDINATOR, choice, "task", task, tokens))
                else:
                    choice, next_name = next_name, None
                    task = run.messages[-1].content
                reply = self.specialists[choice].handle(task, state)
                run.trajectory.append(choice)
                run.tokens += reply.tokens
                run.messages.append(reply)
                if reply.kind == "handoff":
                    if reply.recipient not in self.specialists:
                        run.messages.append(Message(COORDINATOR, choice, "error",
                                                    f"no specialist named {reply.recipient!r}"))
                    else:
                        next_name = reply.recipient
        except Exception as exc:  # a bug in the loop itself: still a stated reason
            return finish("internal_error", f"{type(exc).__name__}: {exc}")
