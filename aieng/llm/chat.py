"""The chat-model interface: one protocol that local and remote models share, and its small helpers.

The interface behind Month 7's models (chapters/07-transformers-and-llms); used by RAG (Month 8), agents (Month 9) and the labs.
:func:`aieng.llm.load_chat_model` picks the model (see :mod:`aieng.llm.load`); :mod:`aieng.llm.local`
runs one in-process, :mod:`aieng.llm.remote` talks to an OpenAI-compatible endpoint.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, Union, runtime_checkable

__all__ = [
    "ChatModel",
    "Usage",
    "LLMError",
    "ModelNotFoundError",
    "Message",
    "Messages",
    "as_messages",
    "check_sampling",
    "cut_at_stop",
    "stream_additions",
    "GREEDY_PROMPTS",
]

Message = dict[str, str]
Messages = Union[str, Sequence[Message]]


GREEDY_PROMPTS: tuple[str, ...] = (
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "Explain what a neural network is in one sentence.",
    "List three primary colours.",
    "What is 12 plus 7?",
    "Give me a tip for learning Python.",
    "Who wrote Romeo and Juliet?",
    "Translate 'good morning' into Spanish.",
)
"""The fixed prompt set on which a faster dtype must give greedy answers identical to fp32
(``python -m aieng.bench generate`` and ``tests/test_llm.py``)."""



class LLMError(RuntimeError):
    """A chat model could not answer (endpoint unreachable, HTTP error, bad reply)."""


class ModelNotFoundError(LLMError, LookupError):
    """The requested model is not installed, not known, or not reachable."""


@dataclass
class Usage:
    """Token counts and time of the last call: ``tokens_per_s`` is completion tokens per second."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.completion_tokens / self.seconds if self.seconds > 0 else 0.0


@runtime_checkable
class ChatModel(Protocol):
    """What every chat model offers, local or remote."""

    name: str
    last_usage: Usage

    def generate(self, messages: Messages, max_new_tokens: int = 256, temperature: float = 0.0,
                 top_p: float = 1.0, stop: Sequence[str] | None = None, seed: int | None = None) -> str:
        """The assistant's reply to ``messages`` (greedy when ``temperature == 0``)."""
        ...

    def stream(self, messages: Messages, max_new_tokens: int = 256, temperature: float = 0.0,
               top_p: float = 1.0, stop: Sequence[str] | None = None, seed: int | None = None) -> Iterator[str]:
        """The same reply, yielded piece by piece as it is generated."""
        ...


def as_messages(messages: Messages) -> list[Message]:
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    out = list(messages)
    if not out:
        raise ValueError("messages is empty: pass at least one {'role': 'user', 'content': ...} message")
    for i, m in enumerate(out):
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            raise ValueError(f"message {i} must be a dict with 'role' and 'content', got {m!r}")
    return out


def check_sampling(max_new_tokens: int, temperature: float, top_p: float) -> None:
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")


def stream_additions(snapshots: Iterator[str], stop: Sequence[str] | None) -> Iterator[str]:
    """What each longer snapshot of a streamed reply adds, up to the first stop string."""
    sent = 0
    for text in snapshots:
        shown, stopped = cut_at_stop(text, stop)
        if len(shown) > sent:
            yield shown[sent:]
            sent = len(shown)
        if stopped:
            return


def cut_at_stop(text: str, stop: Sequence[str] | None) -> tuple[str, bool]:
    if not stop:
        return text, False
    cuts = [text.find(s) for s in stop if s and s in text]
    return (text[: min(cuts)], True) if cuts else (text, False)
