"""Each exercise of notebook 11/01 accepts a reference answer and rejects a wrong one."""

from __future__ import annotations

import re

from tests._exercise_contract import contract

import aieng.book.exercises.ch11_gateway  # noqa: F401  (registers the exercises)


def redact_ip(text):
    octet = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
    return re.sub(rf"(?<![\d.]){octet}(?:\.{octet}){{3}}(?![\d]|\.\d)", "[IP]", text)


def redact_ip_wrong(text):  # any four dotted numbers
    return re.sub(r"\d+\.\d+\.\d+\.\d+", "[IP]", text)


def weighted_order(weights, n):
    score, total, out = [0] * len(weights), sum(weights), []
    for _ in range(n):
        score = [s + w for s, w in zip(score, weights)]
        best = max(range(len(weights)), key=lambda i: (score[i], -i))
        score[best] -= total
        out.append(best)
    return out


def weighted_order_blocks(weights, n):  # right counts, but in blocks
    cycle = [i for i, w in enumerate(weights) for _ in range(w)]
    return [cycle[j % len(cycle)] for j in range(n)]


def normalise_more(text):
    text = text.lower().replace("what's", "what is")
    return re.sub(r"\s+", " ", re.sub(r"[\s?!.]+$", "", text)).strip()


def normalise_too_much(text):  # drops digits: "Is 7 prime?" meets "Is 9 prime?"
    return re.sub(r"[^a-z ]", "", text.lower().replace("what's", "what is")).strip()


CASES = {
    "11.redact_ip": (redact_ip, redact_ip_wrong),
    "11.weighted_order": (weighted_order, weighted_order_blocks),
    "11.normalise_more": (normalise_more, normalise_too_much),
    "11.think_backoff": (1.6, 3.2),
    "11.think_retry": ("a", "b"),
}

test_reference_answer_passes, test_wrong_answer_fails, test_stub_reads_as_not_attempted = contract(CASES)
