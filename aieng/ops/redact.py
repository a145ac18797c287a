"""Redacting personal data and secrets from request logs before they are written.

Taught in Month 11 (chapters/11-llmops): the gateway logs every request, and a prompt is whatever a user
typed, so the log line holds only :func:`redact`'s output.

What is replaced, by a label in brackets:

- ``[EMAIL]``: ``name@host.tld``;
- ``[CARD]``: 13 to 19 digits (spaces or dashes allowed between groups) that pass the Luhn check, so an
  order number that happens to be long is kept;
- ``[PHONE]``: an international ``+CC ...`` number, or a 10-digit national one such as ``(555) 123-4567``;
- ``[KEY]``: API keys and tokens: ``ak_...`` (this book's keys), ``sk-...`` (OpenAI style), a JWT, and
  whatever follows ``Bearer``.

Rules are ordered: keys first (a key may hold digits that look like a card), then emails, cards, phones.
Regexes miss what they were not written for (a phone number spelled out in words); a production system
adds a trained detector (Microsoft Presidio, for example) and keeps raw prompts out of logs altogether.

>>> from aieng.ops.redact import redact
>>> redact("mail ada@example.com, card 4111 1111 1111 1111")
'mail [EMAIL], card [CARD]'
"""

from __future__ import annotations

import re

__all__ = ["redact", "luhn_ok", "PATTERNS"]

PATTERNS: dict[str, re.Pattern[str]] = {
    "KEY": re.compile(r"(?:\bBearer\s+\S+|\bak_[A-Za-z0-9_\-]{16,}|\bsk-[A-Za-z0-9_\-]{16,}"
                      r"|\beyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)"),
    "EMAIL": re.compile(r"\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}\b"),
    "CARD": re.compile(r"\b\d(?:[ \-]?\d){12,18}\b"),
    "PHONE": re.compile(r"(?:\+\d{1,3}[ \-.]?(?:\(\d{1,4}\)[ \-.]?)?\d{1,4}(?:[ \-.]?\d{2,4}){1,4}"
                        r"|(?:\(\d{3}\)\s?|\b\d{3}[ \-.])\d{3}[ \-.]\d{4}\b)"),
}


def luhn_ok(digits: str) -> bool:
    """Whether a string of digits passes the Luhn checksum (every payment card number does)."""
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return "[CARD]" if luhn_ok(digits) else match.group(0)


def redact(text: str) -> str:
    """``text`` with emails, card numbers, phone numbers and API keys replaced by labels."""
    text = PATTERNS["KEY"].sub("[KEY]", text)
    text = PATTERNS["EMAIL"].sub("[EMAIL]", text)
    text = PATTERNS["CARD"].sub(_card, text)
    return PATTERNS["PHONE"].sub("[PHONE]", text)
