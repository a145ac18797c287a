"""Constrained decoding: make a language model emit only strings a grammar accepts.

Taught in Month 9 (chapters/09-agents); the decoding core of the agent lab.

A tool call is text the program must parse, so a model that writes ``[get_weather(city="Paris"]`` (one bracket
short) breaks the agent. Constrained decoding removes the problem at its root: at every step, tokens that would
take the text outside the grammar get probability zero, so whatever the model picks keeps the text a valid
*prefix*, and generation may end only where the text is a complete sentence of the grammar.

Two implementations of the same idea:

- :class:`RegexConstraint` + :func:`decode_teaching`: from scratch, for reading. The grammar is a regular
  expression; the ``regex`` package's partial matching answers "can this text still become a match?", and
  greedy decoding takes the highest-scoring token that passes. About 60 lines.
- :func:`decode_llguidance`: the kept version, backed by ``llguidance`` (chosen over ``xgrammar`` by a
  measurement in the chapter). It computes the full token mask in microseconds and fast-forwards the tokens
  the grammar fully determines (``compute_ff_tokens``), so forced text costs one forward pass, not one per token.

Both take a regular expression; the agents' tool-call grammar is built by
:func:`aieng.agents.callsyntax.call_regex` (a Python-style call list ``[f(a=1, b="x"), g(c=True)]``, or ``[]``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

__all__ = [
    "RegexConstraint",
    "Decoded",
    "vocab_strings",
    "decode_teaching",
    "decode_llguidance",
    "decode_free",
    "library_mask",
    "LIBRARY",
]

LIBRARY = "llguidance"
"""The constrained-decoding library the book keeps (see the chapter for the measurement behind the choice)."""

class RegexConstraint:
    """From-scratch grammar check: is a text a viable prefix, or a complete match, of a regex?

    Uses the ``regex`` package's ``partial=True`` matching: a partial match means the text could still be
    extended into a full match.
    """

    def __init__(self, pattern: str) -> None:
        import regex

        self.pattern = pattern
        self._rx = regex.compile(pattern)

    def viable(self, text: str) -> bool:
        """True when ``text`` is a prefix of some string the grammar accepts."""
        return self._rx.fullmatch(text, partial=True) is not None

    def complete(self, text: str) -> bool:
        """True when the grammar accepts ``text`` as it is."""
        return self._rx.fullmatch(text) is not None

    def token_mask(self, text: str, vocab: Sequence[str]) -> list[bool]:
        """For every token string in ``vocab``: may it come next after ``text``? (The logits mask.)"""
        return [bool(tok) and self.viable(text + tok) for tok in vocab]


@lru_cache(maxsize=4)
def _vocab_cached(tokenizer: Any) -> tuple[str, ...]:
    n = len(tokenizer)
    return tuple(tokenizer.decode([i], skip_special_tokens=False, clean_up_tokenization_spaces=False)
                 for i in range(n))


def vocab_strings(tokenizer: Any) -> tuple[str, ...]:
    """The text of every token id (special tokens included), computed once per tokenizer."""
    return _vocab_cached(tokenizer)


@dataclass
class Decoded:
    """The result of one decoding call.

    Attributes
    ----------
    text
        The generated text.
    prompt_tokens, completion_tokens
        Token counts; ``forced_tokens`` of the completion were fast-forwarded (no choice was left).
    seconds
        Wall time.
    stop_reason
        ``"complete"`` (grammar satisfied and the model ended), ``"grammar_end"`` (nothing can follow),
        ``"max_tokens"`` (the budget ran out; under a grammar the text may be an incomplete call),
        ``"eos"`` (free decoding) or ``"dead_end"`` (no token fits: an unsatisfiable grammar).
    """

    text: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    stop_reason: str
    forced_tokens: int = 0


def _forward(model: Any, ids: Any, past: Any) -> tuple[Any, Any]:
    """Logits after ``ids`` and the extended cache: the model's engine when it has one, else transformers."""
    import torch

    engine = model._engine() if hasattr(model, "_engine") else None
    if engine is not None:
        return engine.forward(ids, past)
    with torch.inference_mode():
        out = model.model(input_ids=ids, past_key_values=past, use_cache=True)
    return out.logits[0, -1], out.past_key_values


def decode_teaching(model: Any, messages: Any, pattern: str, max_new_tokens: int = 96,
                    constraint: RegexConstraint | None = None) -> Decoded:
    """Greedy decoding under a regex, from scratch: the best-scoring token that keeps the text viable.

    Checking tokens in descending logit order and stopping at the first viable one gives exactly
    ``argmax(logits + mask)`` without building the whole mask (usually a handful of checks).

    Parameters
    ----------
    model
        A :class:`aieng.llm.LocalChatModel` (we need its logits).
    messages
        The chat so far.
    pattern
        The grammar as a regular expression (e.g. from :func:`call_regex`).
    """
    import torch

    rc = constraint or RegexConstraint(pattern)
    tok = model.tokenizer
    vocab = vocab_strings(tok)
    eos = tok.eos_token_id
    t0 = time.perf_counter()
    ids = model.encode_chat(messages)
    room = _context_room(model, int(ids.shape[1]))
    max_new_tokens = max_new_tokens if room is None else min(max_new_tokens, room)
    logits, past = _forward(model, ids, None)
    text, n_new, reason = "", 0, "max_tokens"
    while n_new < max_new_tokens:
        order = torch.argsort(logits, descending=True).tolist()
        done = rc.complete(text)
        choice = None
        for t in order:
            if t == eos:
                if done:
                    choice = t
                    break
                continue
            piece = vocab[t]
            if piece and rc.viable(text + piece):
                choice = t
                break
        if choice is None:
            reason = "grammar_end" if done else "dead_end"
            break
        if choice == eos:
            reason = "complete"
            break
        text += vocab[choice]
        n_new += 1
        logits, past = _forward(model, torch.tensor([[choice]]), past)
    return Decoded(text, int(ids.shape[1]), n_new, time.perf_counter() - t0, reason)


@lru_cache(maxsize=4)
def _ll_tokenizer(tokenizer: Any) -> Any:
    import llguidance.hf

    return llguidance.hf.from_tokenizer(tokenizer)


def library_mask(tokenizer: Any, pattern: str, prefix_ids: Sequence[int] = ()) -> Any:
    """llguidance's mask after ``prefix_ids``: a boolean array over the vocabulary (True = allowed next).

    Raises ``ValueError`` when the grammar does not compile or the prefix is not allowed by it.
    """
    import llguidance
    import llguidance.numpy as lln
    import numpy as np

    lltok = _ll_tokenizer(tokenizer)
    matcher = llguidance.LLMatcher(lltok, llguidance.LLMatcher.grammar_from_regex(pattern))
    if matcher.is_error():
        raise ValueError(f"the grammar does not compile: {matcher.get_error()}")
    for t in prefix_ids:
        if not matcher.consume_token(int(t)):
            raise ValueError(f"token {t} is not allowed by the grammar at this point")
    bitmask = lln.allocate_token_bitmask(1, lltok.vocab_size)
    lln.fill_next_token_bitmask(matcher, bitmask, 0)
    bits = ((bitmask[0].reshape(-1, 1) >> np.arange(32, dtype=np.int32)) & 1).reshape(-1)
    return bits[: lltok.vocab_size].astype(bool)


_CLOSERS = ('"', "]", "}", ")", '")', '")]', ")]", '""', "[]", "{}", "0", "False", "True", ",", ", ")
"""Texts that close what is open, most closing first. While *finishing* (the token budget is spent),
:func:`decode_llguidance` takes the first of these the grammar allows; ``,`` comes last because it
extends a list, and it is allowed alone only where the grammar requires another item."""


def _closer_ids(tokenizer: Any) -> list[int]:
    """Token ids whose text is exactly one of :data:`_CLOSERS`, in that order."""
    ids = []
    for c in _CLOSERS:
        enc = tokenizer.encode(c, add_special_tokens=False)
        if len(enc) == 1 and tokenizer.decode(enc, clean_up_tokenization_spaces=False) == c and enc[0] not in ids:
            ids.append(int(enc[0]))
    return ids


def _context_room(model: Any, prompt_tokens: int) -> int | None:
    """How many tokens fit after the prompt in the model's context (None when the model does not say)."""
    limit = getattr(model, "context_length", None)
    return None if not limit else max(0, int(limit) - prompt_tokens)


def decode_llguidance(model: Any, messages: Any, pattern: str, max_new_tokens: int = 96,
                      finish_tokens: int = 256) -> Decoded:
    """Greedy decoding under a regex with ``llguidance``: full token masks plus fast-forwarding.

    Tokens the grammar forces (``compute_ff_tokens``) are fed to the model in a single forward pass.

    **What is guaranteed.** The text is always a prefix the grammar allows, and it ends complete
    (``stop_reason`` ``"complete"`` or ``"grammar_end"``) unless ``"max_tokens"`` or ``"dead_end"`` says
    otherwise. When ``max_new_tokens`` is reached before the grammar is complete (a small model repeating
    itself inside a string), decoding switches to *finishing*: it takes, among the tokens the grammar
    allows, the first of :data:`_CLOSERS` (end of text, ``"``, ``]``, ``}``, ``)``, ``0``, ...) and the
    model's choice only where none is allowed. Every repetition in :func:`aieng.agents.callsyntax.call_regex`
    is bounded and a closer is always preferred over anything that extends, so finishing ends after a
    bounded number of tokens: a few per open bracket or required argument. ``finish_tokens`` is the hard
    cap on that tail; a grammar so large that it is reached ends with ``"max_tokens"`` (an incomplete
    text, which :class:`aieng.agents.ReasoningEngine` reports as cut, never as a call). The prompt plus
    the whole budget never exceeds the model's context: the budget is shrunk to fit.
    """
    import llguidance
    import llguidance.numpy as lln  # not llguidance.torch, whose torch.compile'd mask costs each process 4-14 s
    import torch

    lltok = _ll_tokenizer(model.tokenizer)
    matcher = llguidance.LLMatcher(lltok, llguidance.LLMatcher.grammar_from_regex(pattern))
    if matcher.is_error():
        raise ValueError(f"the grammar does not compile: {matcher.get_error()}")
    bitmask = lln.allocate_token_bitmask(1, lltok.vocab_size)
    t0 = time.perf_counter()
    ids = model.encode_chat(messages)
    room = _context_room(model, int(ids.shape[1]))
    limit = max_new_tokens + finish_tokens
    if room is not None and limit > room:
        limit = room
        max_new_tokens = min(max_new_tokens, max(0, room - finish_tokens // 4))
    logits, past = _forward(model, ids, None)
    out: list[int] = []
    forced = 0
    reason = "max_tokens"
    eos = model.tokenizer.eos_token_id
    closers = [eos] + _closer_ids(model.tokenizer)
    while len(out) < limit:
        finishing = len(out) >= max_new_tokens
        if matcher.is_stopped():
            reason = "grammar_end"
            break
        lln.fill_next_token_bitmask(matcher, bitmask, 0)
        scores = logits.float().clone().reshape(1, -1)
        if scores.shape[1] < lltok.vocab_size:
            scores = torch.nn.functional.pad(scores, (0, lltok.vocab_size - scores.shape[1]), value=-float("inf"))
        lln.apply_token_bitmask_inplace(scores.numpy(), bitmask)  # the array shares the tensor's memory
        if not torch.isfinite(scores.max()):
            reason = "dead_end"
            break
        choice = int(scores.argmax())
        if finishing:
            allowed = [c for c in closers if c is not None and c < scores.shape[1] and torch.isfinite(scores[0, c])]
            if allowed:
                choice = allowed[0]
        if choice == eos or choice == lltok.eos_token:
            reason = "complete"
            break
        if not matcher.consume_token(choice):
            reason = "dead_end"
            break
        step = [choice]
        ff = matcher.compute_ff_tokens()
        left = limit - len(out) - 1
        if ff and left > 0:
            ff = ff[:left]
            if matcher.try_consume_tokens(ff) == len(ff):
                step += ff
                forced += len(ff)
        out += step
        if matcher.is_stopped():
            reason = "grammar_end"
            break
        if len(out) >= limit:
            if matcher.is_accepting():
                reason = "complete"
            break
        logits, past = _forward(model, torch.tensor([step]), past)
    text = model.tokenizer.decode(out, skip_special_tokens=True, clean_up_tokenization_spaces=False)
    return Decoded(text, int(ids.shape[1]), len(out), time.perf_counter() - t0, reason, forced)


def decode_free(model: Any, messages: Any, max_new_tokens: int = 96,
                stop_when: Callable[[str], bool] | None = None) -> Decoded:
    """Plain greedy decoding (no grammar), with the same bookkeeping as the constrained decoders.

    For a local model the loop is the same as :func:`decode_teaching` without the mask (so timings compare);
    ``stop_when(text)`` may end it early (e.g. as soon as a complete call list parses). Other chat models
    (an endpoint) go through their ``generate``.
    """
    t0 = time.perf_counter()
    if not (hasattr(model, "encode_chat") and hasattr(model, "model")):
        text = model.generate(messages, max_new_tokens=max_new_tokens)
        usage = model.last_usage
        n = int(getattr(usage, "completion_tokens", 0))
        return Decoded(text, int(getattr(usage, "prompt_tokens", 0)), n, time.perf_counter() - t0,
                       "max_tokens" if n >= max_new_tokens else "eos")
    import torch

    tok = model.tokenizer
    ids = model.encode_chat(messages)
    room = _context_room(model, int(ids.shape[1]))
    max_new_tokens = max_new_tokens if room is None else min(max_new_tokens, room)
    logits, past = _forward(model, ids, None)
    out: list[int] = []
    reason = "max_tokens"
    while len(out) < max_new_tokens:
        choice = int(torch.argmax(logits))
        if choice == tok.eos_token_id:
            reason = "eos"
            break
        out.append(choice)
        if stop_when is not None and stop_when(tok.decode(out, skip_special_tokens=True)):
            reason = "stop"
            break
        logits, past = _forward(model, torch.tensor([[choice]]), past)
    text = tok.decode(out, skip_special_tokens=True)
    return Decoded(text, int(ids.shape[1]), len(out), time.perf_counter() - t0, reason)
