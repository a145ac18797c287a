"""The agent loop: a reasoning engine choosing tool calls, an execution layer running them, a trace of every step.

Taught in Month 9 (chapters/09-agents); the core of the agent lab.

>>> from aieng.llm import load_chat_model
>>> from aieng.agents.tools import ToolBox, calculator
>>> agent = Agent(ReasoningEngine(load_chat_model()), ToolBox([calculator]), max_steps=4)
>>> trace = agent.run("What is 17 * 23?")
>>> trace.stop_reason, trace.answer

The five components, one class each:

- **reasoning engine** :class:`ReasoningEngine`: model + prompt + decoding (constrained by default) -> a
  :class:`Decision` (the calls the model chose, or why its reply was unusable);
- **memory**: the conversation buffer (:class:`aieng.agents.memory.ConversationBuffer`) and a long-term store
  (:class:`aieng.agents.memory.LongTermMemory`);
- **tools**: :class:`aieng.agents.tools.ToolBox`;
- **planning**: :mod:`aieng.agents.planning`;
- **execution layer**: the tool box's safe calls and the sandboxed tools of :mod:`aieng.agents.sandbox`.

:class:`Agent` runs think -> act -> observe until the model calls ``final_answer``, makes no call, or a
budget (steps, tokens) runs out; :class:`Trace` records every step and ``stop_reason`` says why it ended.
Nothing a model or tool does raises out of :meth:`Agent.run`.

"""

from __future__ import annotations

import html
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from aieng.agents.callsyntax import Call, CallParseError, call_regex, parse_calls
from aieng.agents.tools import Observation, ToolBox, render_signature
from aieng.llm.constrain import decode_free, decode_llguidance, decode_teaching

__all__ = [
    "ReasoningEngine",
    "Decision",
    "Agent",
    "Step",
    "Trace",
    "STOP_REASONS",
    "system_prompt",
    "final_answer_schema",
    "trace_viewer",
]

STOP_REASONS = {
    "answer": "the model called final_answer",
    "no_action": "the model replied with no call ([])",
    "max_steps": "the step budget ran out",
    "token_budget": "the token budget ran out",
    "bad_tool_schema": "a tool schema cannot be turned into a grammar (no valid call exists)",
    "model_error": "the model could not answer (endpoint down, generation failed)",
    "repeated_call": "the model repeated the previous step's calls exactly (a loop it will not leave)",
    "internal_error": "the loop itself failed (a bug); the trace's last step says what was raised",
}
"""Every way :meth:`Agent.run` can end, with what it means."""


def final_answer_schema(answer_type: str = "string") -> dict[str, Any]:
    """The built-in ``final_answer`` pseudo-tool: calling it ends the run."""
    return {"name": "final_answer", "description": "Give the final answer and stop.",
            "parameters": {"type": "object", "properties": {"answer": {"type": answer_type}}, "required": ["answer"]}}


def system_prompt(schemas: Sequence[dict[str, Any]], instructions: str = "") -> str:
    """A compact prompt: one line per tool and the call format (small models pay for every prompt token)."""
    lines = "\n".join(render_signature(s) for s in schemas)
    return ((instructions + "\n" if instructions else "") + "You can call these functions:\n" + lines +
            "\nReply only with a list of calls, one call for each thing the user asks for, like "
            "[f(a=1), f(a=2)]. If none of these functions can do what the user asks, reply [].")


def _complete_call_list(text: str) -> bool:
    """True once ``text`` ends with a call list that parses (free decoding may stop there)."""
    if not text.rstrip().endswith("]"):
        return False
    try:
        parse_calls(text)
        return True
    except CallParseError:
        return False


@dataclass
class Decision:
    """What the reasoning engine decided in one step.

    Attributes
    ----------
    text
        The model's raw reply.
    calls
        The parsed calls (empty when the reply is ``[]`` or unusable).
    error
        Why the reply could not be used (``None`` when it parsed).
    """

    text: str
    calls: list[Call]
    error: str | None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    decode_stop: str = ""


class ReasoningEngine:
    """Model + decoding strategy -> :class:`Decision`.

    Parameters
    ----------
    model
        A :class:`aieng.llm.LocalChatModel` (constrained decoding needs its logits) or any chat model with
        ``generate`` (an endpoint, a test double), which is decoded freely and parsed.
    decoding
        ``"constrained"`` (llguidance, the default), ``"teaching"`` (the from-scratch regex decoder) or
        ``"free"`` (no grammar).
    max_new_tokens
        Longest reply.
    max_calls
        Most calls in one reply.
    """

    def __init__(self, model: Any, decoding: str = "constrained", max_new_tokens: int = 96, max_calls: int = 4) -> None:
        if decoding not in {"constrained", "teaching", "free"}:
            raise ValueError(f"decoding must be 'constrained', 'teaching' or 'free', got {decoding!r}")
        self.model = model
        self.decoding = decoding
        self.max_new_tokens = max_new_tokens
        self.max_calls = max_calls

    @property
    def can_constrain(self) -> bool:
        """True when the model exposes logits (a local transformers model)."""
        return hasattr(self.model, "encode_chat") and hasattr(self.model, "model")

    def grammar(self, schemas: Sequence[dict[str, Any]]) -> str:
        """The call-list grammar for ``schemas`` (raises ``ValueError`` when no valid call exists)."""
        return call_regex(schemas, max_calls=self.max_calls)

    def decide(self, messages: Sequence[dict[str, str]], schemas: Sequence[dict[str, Any]]) -> Decision:
        """Ask the model for the next calls. Never raises for a bad reply: see ``Decision.error``."""
        t0 = time.perf_counter()
        if self.decoding != "free" and self.can_constrain:
            pattern = self.grammar(schemas)
            decode = decode_llguidance if self.decoding == "constrained" else decode_teaching
            out = decode(self.model, messages, pattern, max_new_tokens=self.max_new_tokens)
        else:
            out = decode_free(self.model, messages, max_new_tokens=self.max_new_tokens, stop_when=_complete_call_list)
        try:
            calls, error = parse_calls(out.text), None
        except CallParseError as exc:
            calls, error = [], f"{exc}"
        if out.stop_reason == "dead_end":
            calls, error = [], "no token can continue the call: the grammar cannot be satisfied"
        elif out.stop_reason == "max_tokens" and error is not None:
            error = (f"the reply was cut at the token budget (max_new_tokens={self.max_new_tokens}) "
                     f"before the call list was complete ({error})")
        return Decision(out.text, calls, error, out.prompt_tokens, out.completion_tokens,
                        time.perf_counter() - t0, out.stop_reason)


@dataclass
class Step:
    """One think -> act -> observe step of a run."""

    index: int
    reply: str
    calls: list[dict[str, Any]]
    observations: list[dict[str, Any]]
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0


@dataclass
class Trace:
    """Everything a run did, step by step, and why it stopped."""

    objective: str
    steps: list[Step] = field(default_factory=list)
    stop_reason: str = ""
    answer: Any = None
    model: str = ""
    abandoned_threads: int = 0
    """Tool threads that timed out, could not be stopped (blocked in C) and were still running at the end."""

    @property
    def tokens(self) -> int:
        """Prompt plus completion tokens over all steps."""
        return sum(s.prompt_tokens + s.completion_tokens for s in self.steps)

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.steps)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy (for logs and for the lab's trace store)."""
        return {"objective": self.objective, "model": self.model, "stop_reason": self.stop_reason,
                "answer": self.answer, "tokens": self.tokens, "abandoned_threads": self.abandoned_threads,
                "steps": [asdict(s) for s in self.steps]}

    def step_html(self, i: int) -> str:
        """One step as a small HTML table."""
        s = self.steps[i]
        esc = html.escape
        obs = "<br>".join(esc(("✔ " if o["ok"] else "✘ ") + f"{o['tool']}: " + (o["content"] if o["ok"] else o["error"] or ""))
                          for o in s.observations) or "—"
        rows = [("reply", f"<code>{esc(s.reply)}</code>"), ("observations", obs),
                ("error", esc(s.error or "—")),
                ("tokens", f"{s.prompt_tokens} prompt + {s.completion_tokens} completion, {s.seconds:.2f} s")]
        body = "".join(f"<tr><th style='text-align:left;padding-right:1em'>{k}</th><td style='text-align:left'>{v}</td></tr>"
                       for k, v in rows)
        return f"<b>step {s.index + 1}</b><table>{body}</table>"

    def to_html(self) -> str:
        """The whole trace as static HTML (what the site shows instead of the widget)."""
        head = (f"<p><b>objective:</b> {html.escape(self.objective)}<br><b>stop reason:</b> {self.stop_reason} "
                f"({STOP_REASONS.get(self.stop_reason, '')})<br><b>answer:</b> {html.escape(repr(self.answer))}"
                f" &nbsp; <b>tokens:</b> {self.tokens}</p>")
        return head + "".join(self.step_html(i) for i in range(len(self.steps)))

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:
        return (f"Trace({len(self.steps)} steps, stop_reason={self.stop_reason!r}, answer={self.answer!r}, "
                f"tokens={self.tokens})")


def _obs_dict(obs: Observation) -> dict[str, Any]:
    """An observation for the trace, without its raw ``value`` (which may not be copyable or printable)."""
    return {"tool": obs.tool, "ok": obs.ok, "content": obs.content, "value": None, "error": obs.error}


def _safe_text(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # noqa: BLE001
        return "<message unprintable>"


class _TraceView:
    """Both forms of a trace: the slider for a kernel, the whole trace as HTML for the static site."""

    def __init__(self, trace: Trace, widget: Any) -> None:
        self.trace, self.widget = trace, widget

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = dict(self.widget._repr_mimebundle_(**kwargs) or {})
        bundle["text/html"] = self.trace.to_html()
        return bundle


def trace_viewer(trace: Trace) -> Any:
    """A slider over the steps of ``trace``; the static site (no kernel) shows the whole trace instead.

    The output carries two forms, like :func:`aieng.book.explorer`: an ``ipywidgets`` slider that
    JupyterLab and Colab render, and ``trace.to_html()``, which the site renders (it drops widget views).
    """
    import ipywidgets as widgets
    from IPython.display import HTML, display

    if not trace.steps:
        return _TraceView(trace, widgets.HTML(trace.to_html()))

    def show(step: int) -> None:
        display(HTML(trace.step_html(step - 1)))

    slider = widgets.IntSlider(min=1, max=len(trace.steps), value=1, description="step")
    return _TraceView(trace, widgets.interactive(show, step=slider))


class Agent:
    """The agent loop with a step budget and a token budget.

    Parameters
    ----------
    engine
        The reasoning engine.
    tools
        The execution layer's tool box.
    max_steps
        Most think -> act -> observe steps.
    max_tokens
        Most prompt + completion tokens over the whole run (checked before each step).
    answer_type
        JSON type of ``final_answer``'s argument (``"string"``, ``"number"``, ...).
    instructions
        Extra text at the top of the system prompt.
    memory
        A :class:`aieng.agents.memory.ConversationBuffer` to keep the conversation under a token budget (optional).
    tool_first
        Leave ``final_answer`` out of the grammar at the first step, so the model must use a tool before it may
        answer (a policy enforced by constrained decoding; with free decoding it is only a prompt).
    max_calls_per_step
        Most tool calls run from one reply; the rest are not run, and the step's error and an observation
        say so (a reply of 20,000 calls runs 8).

    :meth:`run` never raises (a ``KeyboardInterrupt`` from the user still stops it). Each tool call is
    bounded by its ``timeout_s``; what a tool that hangs leaves behind is said in :meth:`ToolBox.call`
    (nothing for ``isolated`` tools or tools running Python code; a thread blocked in C is counted in
    ``Trace.abandoned_threads``).
    """

    def __init__(self, engine: ReasoningEngine, tools: ToolBox, max_steps: int = 6, max_tokens: int = 6000,
                 answer_type: str = "string", instructions: str = "", memory: Any = None,
                 tool_first: bool = False, max_calls_per_step: int = 8) -> None:
        if max_calls_per_step < 1:
            raise ValueError(f"max_calls_per_step must be >= 1, got {max_calls_per_step}")
        self.max_calls_per_step = max_calls_per_step
        self.engine = engine
        self.tools = tools
        self.max_steps = max_steps
        self.max_tokens = max_tokens
        self.answer_type = answer_type
        self.instructions = instructions
        self.memory = memory
        self.tool_first = tool_first

    @property
    def schemas(self) -> list[dict[str, Any]]:
        return self.tools.schemas + [final_answer_schema(self.answer_type)]

    def run(self, objective: str) -> Trace:
        """Pursue ``objective`` until an answer, no action, or a budget; returns the :class:`Trace`. Never raises."""
        trace = Trace(str(objective), model=str(getattr(self.engine.model, "name", "")))
        before = len(self.tools.abandoned)
        try:
            self._run(trace)
        except Exception as exc:  # noqa: BLE001 - a bug in the loop must not reach the caller either
            trace.steps.append(Step(len(trace.steps), "", [], [], error=f"internal error: {type(exc).__name__}: "
                                                                        f"{_safe_text(exc)[:500]}"))
            trace.stop_reason = "internal_error"
        trace.abandoned_threads = max(0, len(self.tools.abandoned) - before)
        return trace

    def _run(self, trace: Trace) -> None:
        objective = trace.objective
        schemas = self.schemas
        try:
            self.engine.grammar(schemas)
        except (ValueError, KeyError, TypeError) as exc:
            trace.steps.append(Step(0, "", [], [], error=f"bad tool schema: {exc}"))
            trace.stop_reason = "bad_tool_schema"
            return
        system = {"role": "system", "content": system_prompt(schemas, self.instructions)}
        history: list[dict[str, str]] = [{"role": "user", "content": objective}]
        if self.memory is not None:
            self.memory.clear()
            self.memory.add("user", objective)
        for i in range(self.max_steps):
            if trace.tokens >= self.max_tokens:
                trace.stop_reason = "token_budget"
                return
            context = self.memory.messages() if self.memory is not None else history
            allowed = self.tools.schemas if (self.tool_first and i == 0 and len(self.tools)) else schemas
            try:
                d = self.engine.decide([system, *context], allowed)
            except Exception as exc:  # the model itself failed (endpoint down, generation error)
                trace.steps.append(Step(i, "", [], [], error=f"model error: {type(exc).__name__}: {_safe_text(exc)[:500]}"))
                trace.stop_reason = "model_error"
                return
            step = Step(i, d.text, [asdict(c) for c in d.calls[: self.max_calls_per_step + 1]], [], d.error,
                        d.prompt_tokens,
                        d.completion_tokens, d.seconds)
            trace.steps.append(step)
            if d.error is not None:
                feedback = (f"Error: your reply is not a valid call list ({d.error}). "
                            'Reply only with calls like [func(arg=1)].')
                step.observations.append(_obs_dict(Observation("(parser)", False, "", error=d.error)))
                self._remember(history, d.text, feedback)
                continue
            if not d.calls:
                trace.stop_reason = "no_action"
                return
            if i > 0 and step.calls == trace.steps[-2].calls and trace.steps[-2].error is None:
                trace.stop_reason = "repeated_call"
                return
            results = []
            calls = d.calls
            if len(calls) > self.max_calls_per_step:
                skipped = len(calls) - self.max_calls_per_step
                calls = calls[: self.max_calls_per_step]
                step.calls = [asdict(c) for c in calls]
                step.error = (f"{len(d.calls)} calls in one reply: only the first {self.max_calls_per_step} were run "
                              f"(max_calls_per_step); {skipped} were not")
                step.observations.append(_obs_dict(Observation("(agent)", False, "", error=step.error)))
                results.append(f"(agent) -> Error: {step.error}")
            for call in calls:
                if call.name == "final_answer" and allowed is not schemas:
                    obs = Observation("final_answer", False, "", error="use a tool before answering")
                    step.observations.append(_obs_dict(obs))
                    results.append(f"final_answer -> {obs}")
                    continue
                if call.name == "final_answer":
                    trace.answer = call.arguments.get("answer")
                    trace.stop_reason = "answer"
                    return
                obs = self.tools.call(call.name, call.arguments)
                step.observations.append(_obs_dict(obs))
                results.append(f"{call.name} -> {obs}")
            self._remember(history, d.text, "Observation: " + "; ".join(results))
        trace.stop_reason = "max_steps"
        return

    def _remember(self, history: list[dict[str, str]], reply: str, observation: str) -> None:
        if self.memory is not None:
            self.memory.add("assistant", reply)
            self.memory.add("user", observation)
        else:
            history += [{"role": "assistant", "content": reply}, {"role": "user", "content": observation}]
