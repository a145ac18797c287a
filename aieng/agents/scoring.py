"""Scoring an agent's answers: tool calls against BFCL's accepted answers, and numbers against GSM8K's.

Taught in Month 9 (chapters/09-agents), where BFCL's tool calls are checked and GSM8K is solved with and without
a calculator tool; used by ``python -m aieng.bench agent`` so that the chapter and the benchmark score the same way.

- :func:`check_calls`: a BFCL-style AST checker (name, parameters, types and accepted values; order-free for
  parallel calls);
- :func:`last_number` and :func:`same_number`: the number a reply ends on, and whether two numbers are one answer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from aieng.agents.callsyntax import Call, type_matches

__all__ = ["check_calls", "GSM8K_INSTRUCTIONS", "last_number", "same_number"]

GSM8K_INSTRUCTIONS = ("Solve the math problem. Use calculator for every arithmetic step, "
                      "then call final_answer with the number.")
"""The agent's instructions for GSM8K (the chapter and the benchmark use the same words)."""

_NUM = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def last_number(text: str) -> float | None:
    """The last number in ``text`` (commas removed), or ``None``."""
    found = _NUM.findall(text)
    if not found:
        return None
    try:
        return float(found[-1].replace(",", ""))
    except ValueError:
        return None


def same_number(pred: Any, gold: str) -> bool:
    """``pred`` equals GSM8K's final answer (numerically)."""
    try:
        return pred is not None and math.isclose(float(pred), float(gold), rel_tol=0, abs_tol=1e-6)
    except (TypeError, ValueError):
        return False


# ----------------------------------------------------------------------------- BFCL-style AST checker


def _norm_str(s: str) -> str:
    """BFCL-style string normalisation: lower case, no spaces or common punctuation."""
    return re.sub(r"[ ,./\-_*^]", "", s.lower())


def _value_eq(got: Any, want: Any) -> bool:
    if isinstance(want, str) and isinstance(got, str):
        return _norm_str(got) == _norm_str(want)
    if isinstance(want, bool) or isinstance(got, bool):
        return got is want if isinstance(want, bool) and isinstance(got, bool) else False
    if isinstance(want, (int, float)) and isinstance(got, (int, float)):
        return float(got) == float(want)
    if isinstance(want, (list, tuple)) and isinstance(got, (list, tuple)):
        return len(want) == len(got) and all(_value_eq(g, w) for g, w in zip(got, want))
    if isinstance(want, dict) and isinstance(got, dict):
        for k, accepted in want.items():
            options = accepted if isinstance(accepted, list) else [accepted]
            if k not in got:
                if "" not in options:
                    return False
                continue
            if not any(_value_eq(got[k], o) for o in options if o != ""):
                return False
        return set(got) <= set(want)
    return got == want


def _check_one(call: Call, truth: Mapping[str, Mapping[str, list[Any]]],
               schemas: Mapping[str, Mapping[str, Any]]) -> str | None:
    (fname, params), = truth.items()
    if call.name != fname:
        return f"wrong function {call.name!r} (expected {fname!r})"
    props = ((schemas.get(fname) or {}).get("parameters") or {}).get("properties") or {}
    for k, v in call.arguments.items():
        if k not in params:
            return f"{fname}: unexpected parameter {k!r}"
        t = (props.get(k) or {}).get("type", "any")
        if not type_matches(v, t):
            return f"{fname}: {k}={v!r} is not of type {t}"
        accepted = [a for a in params[k] if a != ""]
        if accepted and not any(_value_eq(v, a) for a in accepted):
            return f"{fname}: {k}={v!r} is not an accepted value ({accepted[:3]})"
    for k, accepted in params.items():
        if k not in call.arguments and "" not in accepted:
            return f"{fname}: missing required parameter {k!r}"
    return None


def check_calls(calls: Sequence[Call], ground_truth: Sequence[Mapping[str, Any]],
                functions: Sequence[Mapping[str, Any]]) -> tuple[bool, str]:
    """BFCL-style AST check of predicted calls against accepted answers.

    Parameters
    ----------
    calls
        The parsed prediction.
    ground_truth
        BFCL's ``[{func_name: {param: [accepted values, "" = may be omitted]}}, ...]``; ``[]`` means no call
        is correct (the irrelevance category).
    functions
        The offered schemas (for the type checks).

    Returns
    -------
    (ok, reason)
        ``reason`` says what was wrong, or ``"ok"``. Parallel calls match in any order.
    """
    if not ground_truth:
        return (not calls, "ok" if not calls else f"made {len(calls)} call(s) where none fits")
    if len(calls) != len(ground_truth):
        return False, f"made {len(calls)} call(s), expected {len(ground_truth)}"
    schemas = {f["name"]: f for f in functions}
    unmatched = list(range(len(calls)))
    for truth in ground_truth:
        reasons = []
        for j in unmatched:
            problem = _check_one(calls[j], truth, schemas)
            if problem is None:
                unmatched.remove(j)
                break
            reasons.append(problem)
        else:
            return False, reasons[0] if reasons else "no call left to match"
    return True, "ok"
