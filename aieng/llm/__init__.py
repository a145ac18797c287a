"""Month 7, transformers and LLMs: chat models, the GGUF engine and its kernels, a GPT from scratch, BPE,
constrained decoding and choosing by log-probability.

Modules: :mod:`~aieng.llm.chat` (the interface), :mod:`~aieng.llm.load` (which model),
:mod:`~aieng.llm.local` and :mod:`~aieng.llm.remote` (in-process and over HTTP),
:mod:`~aieng.llm.engine` and :mod:`~aieng.llm.kernels` (fast CPU decoding), :mod:`~aieng.llm.gpt`
(the model built in the chapter), :mod:`~aieng.llm.bpe` (tokenisation),
:mod:`~aieng.llm.constrain` (grammar-constrained decoding), :mod:`~aieng.llm.choose` (log-probability choice).
"""

from aieng.llm.chat import (
    GREEDY_PROMPTS,
    ChatModel,
    LLMError,
    ModelNotFoundError,
    Usage,
)
from aieng.llm.choose import choose
from aieng.llm.load import load_chat_model
from aieng.llm.local import (
    ContextLengthError,
    DEFAULT_DTYPE,
    DTYPES,
    SMOLLM2_GGUF,
    LocalChatModel,
    quantize_int8,
    smollm2_path,
)
from aieng.llm.remote import OpenAIChatModel

__all__ = [
    "ChatModel",
    "LocalChatModel",
    "OpenAIChatModel",
    "Usage",
    "LLMError",
    "ContextLengthError",
    "ModelNotFoundError",
    "load_chat_model",
    "smollm2_path",
    "quantize_int8",
    "choose",
    "DEFAULT_DTYPE",
    "DTYPES",
    "SMOLLM2_GGUF",
    "GREEDY_PROMPTS",
]
