"""An evaluation pipeline: a golden set, a score, and a regression gate that fails a worse change.

Taught in Month 11 (chapters/11-llmops/02-observe-version-evaluate).

A *golden set* is a small list of inputs with checked answers (:class:`GoldenItem`). :func:`run_eval`
scores an answer function on it; :func:`gate` compares a candidate (a new prompt, a new model) with the
baseline and fails when the score drops by more than ``max_drop``, listing the items that regressed.
CI runs the gate on every change to a prompt, exactly as it runs unit tests on every change to code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EvalReport", "GateFailed", "GateResult", "GoldenItem", "gate", "golden_from_gsm8k",
           "golden_from_requests", "run_eval"]


@dataclass(frozen=True)
class GoldenItem:
    """One input with its checked answer."""

    id: str
    input: str
    expected: Any


def golden_from_requests(requests: Sequence[Any]) -> list[GoldenItem]:
    """Month 9's seeded sales requests (:func:`aieng.agents.sales.make_requests`) as a golden set:
    the request text and the plan's slots it asks for."""
    return [GoldenItem(f"sales-{i}", r.text, r.truth) for i, r in enumerate(requests)]


def golden_from_gsm8k(n: int, data_dir: Any = None) -> list[GoldenItem]:
    """The first ``n`` GSM8K test problems with their final numeric answers (after ``####``)."""
    from aieng.data import load_gsm8k

    rows = load_gsm8k(data_dir=data_dir)[:n]
    return [GoldenItem(f"gsm8k-{i}", r["question"], r["answer"].split("####")[-1].strip().replace(",", ""))
            for i, r in enumerate(rows)]


@dataclass
class EvalReport:
    """Per-item scores (0..1) of one answer function on a golden set."""

    name: str
    ids: list[str]
    scores: list[float]
    answers: list[Any] = field(default_factory=list)

    @property
    def score(self) -> float:
        return sum(self.scores) / len(self.scores) if self.scores else 0.0


def run_eval(name: str, answer: Callable[[str], Any], golden: Sequence[GoldenItem],
             score: Callable[[Any, Any], float]) -> EvalReport:
    """Answer every golden input and score it against the checked answer (``score(answer, expected)``).

    An answer function that raises scores 0 on that item (the error is kept as the answer).
    """
    if not golden:
        raise ValueError("the golden set is empty")
    report = EvalReport(name, [], [])
    for item in golden:
        try:
            got = answer(item.input)
            s = float(score(got, item.expected))
        except Exception as exc:  # a crash is a wrong answer, not a crashed pipeline
            got, s = f"error: {type(exc).__name__}: {exc}", 0.0
        if not 0.0 <= s <= 1.0:
            raise ValueError(f"score must be in [0, 1], got {s} for {item.id}")
        report.ids.append(item.id)
        report.scores.append(s)
        report.answers.append(got)
    return report


class GateFailed(AssertionError):
    """The candidate scores worse than the baseline by more than the gate allows."""


@dataclass(frozen=True)
class GateResult:
    passed: bool
    baseline: float
    candidate: float
    regressed: tuple[str, ...]
    reason: str

    def enforce(self) -> None:
        """Raise :class:`GateFailed` when the gate failed (what a CI step does)."""
        if not self.passed:
            raise GateFailed(self.reason)


def gate(baseline: EvalReport, candidate: EvalReport, max_drop: float = 0.0) -> GateResult:
    """Pass when ``candidate.score >= baseline.score - max_drop`` on the same golden items."""
    if baseline.ids != candidate.ids:
        raise ValueError("baseline and candidate were scored on different golden items")
    if max_drop < 0:
        raise ValueError("max_drop must be >= 0")
    regressed = tuple(i for i, b, c in zip(baseline.ids, baseline.scores, candidate.scores) if c < b)
    drop = baseline.score - candidate.score
    passed = drop <= max_drop + 1e-12
    reason = (f"{candidate.name}: score {candidate.score:.3f} vs baseline {baseline.name} "
              f"{baseline.score:.3f} (drop {drop:+.3f}, allowed {max_drop:.3f}); "
              f"{len(regressed)} item(s) regressed: {list(regressed)[:5]}")
    return GateResult(passed, baseline.score, candidate.score, regressed,
                      ("PASS " if passed else "FAIL ") + reason)
