"""A chat model served over the OpenAI chat-completions API (Ollama, vLLM, llama.cpp server, ...).

Named in Month 7 (chapters/07-transformers-and-llms) as the path to a larger model by one setting,
``AIENG_LLM=http://host:port/v1``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

from aieng.llm.chat import LLMError, Messages, Usage, as_messages, check_sampling

__all__ = ["OpenAIChatModel"]


class OpenAIChatModel:
    """A model served over the OpenAI chat-completions API (Ollama, vLLM, llama.cpp server, ...)."""

    def __init__(self, base_url: str, model: str, api_key: str | None = None, timeout: float = 120.0,
                 transport: Any = None) -> None:
        import httpx

        self.base_url = base_url.rstrip("/")
        self.name = model
        self.last_usage = Usage()
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout, transport=transport)

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

    def _post(self, body: dict[str, Any]) -> Any:
        import httpx

        try:
            return self._client.post("/chat/completions", json=body)
        except httpx.HTTPError as exc:
            raise LLMError(f"cannot reach the chat endpoint {self.base_url}: {type(exc).__name__}: {exc}. "
                           "Is the server running (e.g. `ollama serve`)?") from exc

    @staticmethod
    def _raise_for(resp: Any) -> None:
        if resp.status_code >= 400:
            raise LLMError(f"the chat endpoint answered HTTP {resp.status_code}: {resp.text[:500]}")

    def generate(self, messages: Messages, max_new_tokens: int = 256, temperature: float = 0.0,
                 top_p: float = 1.0, stop: Sequence[str] | None = None, seed: int | None = None) -> str:
        t0 = time.perf_counter()
        resp = self._post(self._payload(messages, max_new_tokens, temperature, top_p, stop, seed, False))
        self._raise_for(resp)
        try:
            data = resp.json()
            text = data["choices"][0]["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise LLMError(f"the chat endpoint's reply is not an OpenAI chat completion: {resp.text[:300]}") from exc
        usage = data.get("usage") or {}
        self.last_usage = Usage(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0),
                                time.perf_counter() - t0)
        return text

    def stream(self, messages: Messages, max_new_tokens: int = 256, temperature: float = 0.0,
               top_p: float = 1.0, stop: Sequence[str] | None = None, seed: int | None = None) -> Iterator[str]:
        import json

        import httpx

        body = self._payload(messages, max_new_tokens, temperature, top_p, stop, seed, True)
        t0, n = time.perf_counter(), 0
        try:
            with self._client.stream("POST", "/chat/completions", json=body) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    self._raise_for(resp)
                for line in resp.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        break
                    delta = json.loads(payload)["choices"][0].get("delta", {}).get("content")
                    if delta:
                        n += 1
                        yield delta
        except httpx.HTTPError as exc:
            raise LLMError(f"cannot reach the chat endpoint {self.base_url}: {exc}") from exc
        self.last_usage = Usage(0, n, time.perf_counter() - t0)
