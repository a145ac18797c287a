"""Scoring an agent's answers: the number a reply ends on, and whether two numbers are the same answer.

Taught in Month 9 (chapters/09-agents), where GSM8K is solved with and without a calculator tool; used by
``python -m aieng.bench agent`` so that the chapter and the benchmark score answers the same way.
"""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = ["GSM8K_INSTRUCTIONS", "last_number", "same_number"]

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
