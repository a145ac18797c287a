"""Months 9 and 10, agents: the loop and its five components (reasoning engine, memory, tools, planning,
execution layer), the tool-call syntax, and the sandbox that runs model-written code.

Modules: :mod:`~aieng.agents.loop` (the agent loop and its trace), :mod:`~aieng.agents.callsyntax` (the
``[f(a=1)]`` grammar and parser), :mod:`~aieng.agents.tools`, :mod:`~aieng.agents.memory`,
:mod:`~aieng.agents.planning`, :mod:`~aieng.agents.scoring` (BFCL calls, GSM8K numbers), and the execution
layer's :mod:`~aieng.agents.sandbox` and :mod:`~aieng.agents.sqltool` (import those two by their full names).
Month 10, imported by their full names: :mod:`~aieng.agents.multi` (a coordinator with specialists,
messages and shared state), :mod:`~aieng.agents.reliability` (retries, idempotent tools, trajectory
checks), :mod:`~aieng.agents.mcp` (tools over the Model Context Protocol), :mod:`~aieng.agents.graph` (the
sales workflow in LangGraph) and :mod:`aieng.agents.sales.team` (the roadmap's task by a team).

>>> from aieng.agents import Agent, ReasoningEngine, ToolBox, calculator
"""

from aieng.agents.callsyntax import Call, CallParseError, call_regex, format_calls, parse_calls
from aieng.agents.loop import (STOP_REASONS, Agent, Decision, ReasoningEngine, Step, Trace, final_answer_schema,
                               system_prompt, trace_viewer)
from aieng.agents.memory import ConversationBuffer, LongTermMemory
from aieng.agents.planning import PlanError, Task, TaskGraph, execute, plan_from_calls
from aieng.agents.scoring import check_calls
from aieng.agents.schemas import schema_from_hints
from aieng.agents.tools import Observation, Tool, ToolBox, calculator

__all__ = [
    "Agent",
    "ReasoningEngine",
    "Decision",
    "Step",
    "Trace",
    "STOP_REASONS",
    "system_prompt",
    "final_answer_schema",
    "trace_viewer",
    "Call",
    "CallParseError",
    "parse_calls",
    "format_calls",
    "call_regex",
    "Tool",
    "ToolBox",
    "Observation",
    "calculator",
    "check_calls",
    "schema_from_hints",
    "ConversationBuffer",
    "LongTermMemory",
    "Task",
    "TaskGraph",
    "PlanError",
    "execute",
    "plan_from_calls",
]
