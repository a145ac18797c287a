"""A chat model served over the OpenAI chat-completions API (Ollama, vLLM, llama.cpp server, ...).

Named in Month 7 (chapters/07-transformers-and-llms) as the path to a larger model by one setting,
``AIENG_LLM=http://host:port/v1``.

What a misbehaving server cannot do (``tests/test_llm.py`` runs each against a real loopback server):

- **hang a call**: connecting has its own limit (``connect_timeout``, ``AIENG_LLM_CONNECT_TIMEOUT``,
  default 10 s) and every request has a total deadline (``timeout``, ``AIENG_LLM_TIMEOUT``, default
  120 s). httpx's read timeout restarts with every chunk, so a server trickling a byte a second would
  never trip it; the body is therefore read chunk by chunk against the deadline, streamed or not, and
  a timer shuts the socket down at the deadline so a read blocked on a silent server returns. A call
  ends about ``timeout`` seconds after it starts, at the latest (plus the connect time).
- **crash the caller with garbage**: an HTTP error, a body that is not a chat completion, or a stream
  line that is not JSON becomes an :class:`aieng.llm.LLMError` that quotes it.
- **receive a key meant for someone else**: which key goes to which host is one rule,
  :func:`aieng.settings.api_key_for`; a key is refused over plain HTTP to any host other than this
  machine unless ``AIENG_LLM_ALLOW_HTTP=1``; redirects are not followed (a redirect would carry the
  ``Authorization`` header elsewhere).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from aieng import settings
from aieng.llm.chat import LLMError, Messages, Usage, as_messages, check_sampling

__all__ = ["OpenAIChatModel", "MAX_REPLY_BYTES"]

MAX_REPLY_BYTES = 16 * 1024 * 1024
"""Largest reply body read from an endpoint; more is an error (a chat reply is kilobytes)."""


class OpenAIChatModel:
    """A model served over the OpenAI chat-completions API (Ollama, vLLM, llama.cpp server, ...).

    Parameters
    ----------
    base_url
        ``http(s)://host:port/v1``.
    model
        The served model's name.
    api_key
        Sent as ``Authorization: Bearer ...`` to ``base_url`` only (the caller chose it). Refused over
        plain HTTP to a non-loopback host unless ``AIENG_LLM_ALLOW_HTTP=1``.
    timeout
        Total deadline of one request, seconds (default ``AIENG_LLM_TIMEOUT``, 120).
    connect_timeout
        Time allowed to connect, seconds (default ``AIENG_LLM_CONNECT_TIMEOUT``, 10).
    transport
        An httpx transport (tests pass ``httpx.MockTransport``).
    """

    def __init__(self, base_url: str, model: str, api_key: str | None = None, timeout: float | None = None,
                 transport: Any = None, connect_timeout: float | None = None) -> None:
        import httpx

        self.base_url = base_url.rstrip("/")
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"an endpoint URL starts with http:// or https://, got {base_url!r}")
        self.name = model
        self.last_usage = Usage()
        self.timeout = float(settings.llm_timeout() if timeout is None else timeout)
        self.connect_timeout = float(settings.llm_connect_timeout() if connect_timeout is None else connect_timeout)
        if self.timeout <= 0 or self.connect_timeout <= 0:
            raise ValueError(f"timeouts must be > 0 seconds, got timeout={self.timeout}, "
                             f"connect_timeout={self.connect_timeout}")
        host = httpx.URL(self.base_url).host
        if api_key and self.base_url.startswith("http://") and not settings.is_loopback(host) \
                and not settings.llm_allow_http():
            raise LLMError(f"refusing to send an API key over plain HTTP to {host}: anyone on the way could "
                           "read it. Use https://, or set AIENG_LLM_ALLOW_HTTP=1 if this network is yours.")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(base_url=self.base_url, headers=headers, transport=transport,
                                    follow_redirects=False, timeout=self._timeouts(self.timeout))

    def _timeouts(self, left: float) -> Any:
        import httpx

        left = max(left, 0.001)
        return httpx.Timeout(left, connect=min(self.connect_timeout, left), pool=min(self.connect_timeout, left))

    def __repr__(self) -> str:
        return f"OpenAIChatModel({self.name!r} at {self.base_url})"

    def _payload(self, messages: Messages, max_new_tokens: int, temperature: float, top_p: float,
                 stop: Sequence[str] | None, seed: int | None, stream: bool) -> dict[str, Any]:
        check_sampling(max_new_tokens, temperature, top_p)
        body: dict[str, Any] = {"model": self.name, "messages": as_messages(messages), "max_tokens": max_new_tokens,
                                "temperature": temperature, "top_p": top_p, "stream": stream}
        if stop:
            body["stop"] = list(stop)
        if seed is not None:
            body["seed"] = seed
        return body

    def _unreachable(self, exc: Exception) -> LLMError:
        import httpx

        if isinstance(exc, httpx.ConnectTimeout):
            why = f"no connection within {self.connect_timeout:g} s"
        elif isinstance(exc, httpx.TimeoutException):
            why = f"no complete answer within the {self.timeout:g} s deadline (AIENG_LLM_TIMEOUT)"
        else:
            why = f"{type(exc).__name__}: {exc}"
        return LLMError(f"cannot reach the chat endpoint {self.base_url}: {why}. "
                        "Is the server running (e.g. `ollama serve`)?")

    def _chunks(self, resp: Any, deadline: float) -> Iterator[bytes]:
        """The body's chunks; raises :class:`LLMError` once the deadline passes or the body is too big."""
        size = 0
        for chunk in resp.iter_bytes():
            size += len(chunk)
            if size > MAX_REPLY_BYTES:
                raise LLMError(f"the chat endpoint's reply is larger than {MAX_REPLY_BYTES} bytes")
            yield chunk
            if time.monotonic() > deadline:
                raise LLMError(f"the chat endpoint {self.base_url} did not finish its reply within the "
                               f"{self.timeout:g} s deadline (AIENG_LLM_TIMEOUT; a server sending slowly)")

    def _request(self, body: dict[str, Any]) -> Iterator[bytes]:
        """POST ``body``; yields the response body's chunks under the deadline (errors as :class:`LLMError`)."""
        import httpx

        deadline = time.monotonic() + self.timeout
        try:
            with self._client.stream("POST", "/chat/completions", json=body,
                                     timeout=self._timeouts(self.timeout)) as resp, _cut_at(resp, deadline):
                if resp.status_code >= 400 or 300 <= resp.status_code < 400:
                    text = b"".join(self._chunks(resp, deadline))[:500].decode("utf-8", "replace")
                    raise LLMError(f"the chat endpoint answered HTTP {resp.status_code}: {text}")
                yield from self._chunks(resp, deadline)
        except httpx.HTTPError as exc:
            if time.monotonic() > deadline:
                raise LLMError(f"the chat endpoint {self.base_url} did not finish its reply within the "
                               f"{self.timeout:g} s deadline (AIENG_LLM_TIMEOUT)") from exc
            raise self._unreachable(exc) from exc

    def generate(self, messages: Messages, max_new_tokens: int = 256, temperature: float = 0.0,
                 top_p: float = 1.0, stop: Sequence[str] | None = None, seed: int | None = None) -> str:
        t0 = time.perf_counter()
        raw = b"".join(self._request(self._payload(messages, max_new_tokens, temperature, top_p, stop, seed,
                                                   False)))
        text_body = raw.decode("utf-8", "replace")
        try:
            data = json.loads(text_body)
            text = data["choices"][0]["message"]["content"] or ""
            if not isinstance(text, str):
                raise TypeError("content is not text")
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise LLMError(f"the chat endpoint's reply is not an OpenAI chat completion: {text_body[:300]}") from exc
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        self.last_usage = Usage(_count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens")),
                                time.perf_counter() - t0)
        return text

    def stream(self, messages: Messages, max_new_tokens: int = 256, temperature: float = 0.0,
               top_p: float = 1.0, stop: Sequence[str] | None = None, seed: int | None = None) -> Iterator[str]:
        body = self._payload(messages, max_new_tokens, temperature, top_p, stop, seed, True)
        t0, n = time.perf_counter(), 0
        for line in _lines(self._request(body)):
            if not line.startswith("data:"):
                continue  # SSE comments, "event:" and "id:" lines, keep-alives
            payload = line[5:].strip()
            if payload == "[DONE]":
                break
            try:
                event = json.loads(payload)
                choices = event["choices"]
                if not isinstance(choices, list):
                    raise TypeError("choices is not a list")
                delta = choices[0].get("delta", {}).get("content") if choices else None
                if delta is not None and not isinstance(delta, str):
                    raise TypeError("content is not text")
            except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
                raise LLMError(f"the chat endpoint sent a malformed stream line ({type(exc).__name__}): "
                               f"{line[:200]!r}") from None
            if delta:
                n += 1
                yield delta
        self.last_usage = Usage(0, n, time.perf_counter() - t0)


@contextmanager
def _cut_at(resp: Any, deadline: float) -> Iterator[None]:
    """Shut the response's socket down at ``deadline``: a blocked read then returns at once.

    httpx's read timeout restarts with every chunk and is fixed when the body starts, so this timer is
    what makes the deadline exact. The timer thread is cancelled and joined when the block ends.
    """
    import socket

    stream = resp.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if sock is None:  # a mock transport: the chunk checks in OpenAIChatModel._chunks still apply
        yield
        return

    def cut() -> None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    timer = threading.Timer(max(0.0, deadline - time.monotonic()), cut)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        timer.join()


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _lines(chunks: Iterator[bytes], max_line: int = 1024 * 1024) -> Iterator[str]:
    """Text lines of a byte stream (``\\n`` or ``\\r\\n``); a line longer than ``max_line`` bytes is an error."""
    buf = b""
    for chunk in chunks:
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            yield line.rstrip(b"\r").decode("utf-8", "replace")
        if len(buf) > max_line:
            raise LLMError(f"the chat endpoint sent a stream line longer than {max_line} bytes")
    if buf.strip():
        yield buf.rstrip(b"\r").decode("utf-8", "replace")
