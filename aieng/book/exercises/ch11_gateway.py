"""Exercises of Month 11, notebook 1: the LLM gateway (chapters/11-llmops/01-the-gateway)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from aieng.book.cases import Case, exercise, near, same_choice


def _ip_case(text: str, want: str) -> Case:
    def test(fn: Any) -> str | None:
        got = fn(text)
        return None if got == want else f"redact_ip({text!r}) gave {got!r}, expected {want!r}"
    return Case(test=test)


@exercise("11.redact_ip", hint="An IPv4 address is four numbers 0-255 joined by dots, not part of a longer run of "
          "digits and dots. Write the pattern for one number (read how aieng.ops.redact checks a card with "
          "a function after the regex matched) and keep a version string such as 1.2.3 untouched.")
def _redact_ip():
    return [_ip_case("client 192.168.0.17 asked", "client [IP] asked"),
            _ip_case("from 10.0.0.1, then 8.8.8.8.", "from [IP], then [IP]."),
            _ip_case("version 1.2.3 shipped", "version 1.2.3 shipped"),
            _ip_case("not an address: 999.1.1.1", "not an address: 999.1.1.1"),
            _ip_case("serial 1.2.3.4.5", "serial 1.2.3.4.5"),
            _ip_case("no numbers here", "no numbers here")]


def _wrr_case(weights: list[int], rounds: int) -> Case:
    def test(fn: Any) -> str | None:
        n = rounds * sum(weights)
        seq = list(fn(weights, n))
        if len(seq) != n:
            return f"weighted_order({weights}, {n}) gave {len(seq)} picks, expected {n}"
        counts = Counter(seq)
        want = {i: w * rounds for i, w in enumerate(weights) if w}
        if dict(counts) != want:
            return f"weighted_order({weights}, {n}) picked {dict(sorted(counts.items()))}, expected {want}"
        window = sum(weights)
        for start in range(0, n, window):
            part = Counter(seq[start:start + window])
            if any(part[i] != w for i, w in enumerate(weights)):
                return (f"each run of {window} picks should hold worker i exactly weights[i] times; picks "
                        f"{start}..{start + window - 1} hold {dict(sorted(part.items()))}")
        longest = max(weights)
        if len(weights) > 1 and longest > 1 and sorted(weights)[-2] > 0:
            first = seq[:window]
            best = max(len(run) for run in "".join("x" if a == b else "|" for a, b in
                                                     zip(first, first[1:])).split("|")) + 1
            if best >= longest:
                return f"picks {first} bunch one worker {best} times in a row: spread them (smooth, not blocks)"
        return None
    return Case(test=test)


@exercise("11.weighted_order", hint="Keep a running score per worker: each pick, add every worker's weight to its "
          "score, pick the highest score, and take the total weight off the one you picked (nginx's smooth "
          "weighted round-robin). Ties go to the lowest index.")
def _weighted_order():
    return [_wrr_case([1, 1], 3), _wrr_case([3, 1], 4), _wrr_case([5, 1, 1], 2), _wrr_case([2, 0, 1], 3)]


HELD_OUT = [  # (question id, wording): for the exact cache, only a normaliser can make these meet
    (0, "What is the capital of France?"), (0, "what is the capital of france"),
    (0, "What's the capital of France?"), (0, "WHAT IS THE CAPITAL OF FRANCE ?"),
    (1, "What is the capital of Peru?"), (1, "what's the capital of peru"),
    (2, "How many legs does a spider have?"), (2, "how many legs does a spider have ??"),
    (2, "How many legs does a spider have!"), (3, "How many legs does a spider need?"),
    (4, "Is 7 prime?"), (4, "is 7 prime"), (5, "Is 9 prime?"),
]


def exact_cache_hit_rate(normalise: Any, stream: list[tuple[int, str]] = HELD_OUT) -> tuple[float, int]:
    """Hit rate and false hits of an exact cache keyed by ``normalise(text)`` over ``stream``."""
    stored: dict[str, int] = {}
    hits = false_hits = 0
    for qid, text in stream:
        key = normalise(text)
        if key in stored:
            hits += 1
            false_hits += stored[key] != qid
        else:
            stored[key] = qid
    return hits / len(stream), false_hits


def _hit_rate_case() -> Case:
    def test(fn: Any) -> str | None:
        rate, false_hits = exact_cache_hit_rate(fn)
        if false_hits:
            return f"{false_hits} false hit(s): two different questions got the same key; normalise less"
        return None if rate >= 0.45 else f"exact-cache hit rate {rate:.2f} on the held-out stream; reach 0.45"
    return Case(test=test)


@exercise("11.normalise_more", hint="Look at which wordings of the same question still miss: case, trailing "
          "punctuation and spacing around it, and one contraction. Change only those; a key that merges two "
          "different questions is a false hit and fails.")
def _normalise_more():
    return [_hit_rate_case()]


@exercise("11.think_backoff", hint="Full jitter draws from [0, min(cap, base * 2**attempt)]; the first retry "
          "is attempt 0.", compare=near(abs_tol=1e-6))
def _think_backoff():
    return [Case(None, expected=1.6)]


@exercise("11.think_retry", hint="Ask what happens if the first attempt did its work but the answer was lost "
          "on the way back: which of these can be done twice without harm?", compare=same_choice)
def _think_retry():
    return [Case(None, expected="a")]
