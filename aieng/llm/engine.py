"""A small CPU inference engine for Llama-family GGUF models (taught in Month 7).

transformers runs any model, and pays for that generality on every token: about 1,200 small
PyTorch calls, a key/value cache that is copied as it grows, and fp32 weights (4 bytes each) read
from memory for each token. :class:`LlamaEngine` runs the same computation for one architecture:

- the prompt (many tokens at once) goes through the fp32 weights with ordinary matrix products;
- each new token goes through :class:`aieng.llm.kernels.BlockMatrix`: the GGUF file's 4- and 8-bit
  blocks, with q, k and v fused into one product and gate and up into another;
- keys and values go into a preallocated cache, written in place;
- a new token goes through all the layers in one call to C (``llama_decode_step`` in the kernel's
  source): the norms, rotary embedding, attention over the cache and SiLU between the products are
  plain loops there, where as PyTorch calls they cost as much time as the products themselves.

Every weight is the fp32 model's weight exactly; only the order of additions differs, so greedy
answers match the fp32 transformers model (``python -m aieng.bench generate`` checks it on
:data:`aieng.llm.GREEDY_PROMPTS`, and ``tests/test_engine.py`` compares logits).
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["LlamaEngine", "KVCache", "supports", "top_p_filter"]


def supports(config: Any) -> str | None:
    """``None`` when :class:`LlamaEngine` can run a model with this config, else the reason it cannot."""
    if getattr(config, "model_type", None) != "llama":
        return f"model type {getattr(config, 'model_type', None)!r} is not 'llama'"
    if getattr(config, "attention_bias", False) or getattr(config, "mlp_bias", False):
        return "biases in attention or MLP"
    rope = getattr(config, "rope_scaling", None) or {}
    if rope.get("rope_type", rope.get("type", "default")) not in (None, "default"):
        return f"rope scaling {rope!r}"
    if getattr(config, "hidden_act", "silu") != "silu":
        return f"activation {config.hidden_act!r}"
    return None


@dataclass
class KVCache:
    """Keys and values of every layer, ``[layers][kv_heads, capacity, head_dim]``, filled up to ``length``."""

    k: list[Any] = field(default_factory=list)
    v: list[Any] = field(default_factory=list)
    length: int = 0
    layout: object = field(default_factory=object)  # replaced whenever the storage moves (growth)

    def reserve(self, n_layers: int, n_kv: int, head_dim: int, needed: int) -> None:
        """Make room for ``needed`` positions (doubling, so a long generation copies rarely)."""
        import torch

        capacity = self.k[0].shape[1] if self.k else 0
        if needed <= capacity:
            return
        new = max(needed, 2 * capacity, 256)
        for store in (self.k, self.v):
            for i in range(n_layers):
                grown = torch.zeros(n_kv, new, head_dim)
                if i < len(store):
                    grown[:, : self.length] = store[i][:, : self.length]
                    store[i] = grown
                else:
                    store.append(grown)
        self.layout = object()


class _Layer:
    def __init__(self, hf_layer: Any, blocks: dict[str, Any]) -> None:
        from aieng.llm.kernels import BlockMatrix

        a, mlp = hf_layer.self_attn, hf_layer.mlp
        self.wq, self.wk, self.wv, self.wo = (a.q_proj.weight, a.k_proj.weight, a.v_proj.weight, a.o_proj.weight)
        self.wg, self.wu, self.wd = mlp.gate_proj.weight, mlp.up_proj.weight, mlp.down_proj.weight
        self.norm1, self.eps1 = hf_layer.input_layernorm.weight, hf_layer.input_layernorm.variance_epsilon
        self.norm2, self.eps2 = hf_layer.post_attention_layernorm.weight, hf_layer.post_attention_layernorm.variance_epsilon
        self.qkv = BlockMatrix.stack([blocks["attn_q"], blocks["attn_k"], blocks["attn_v"]])
        self.o = blocks["attn_output"]
        self.gate_up = BlockMatrix.stack([blocks["ffn_gate"], blocks["ffn_up"]])
        self.down = blocks["ffn_down"]


def _rms_norm(x: Any, weight: Any, eps: float) -> Any:
    """transformers' LlamaRMSNorm, operation for operation (so the numbers match)."""
    import torch

    variance = x.pow(2).mean(-1, keepdim=True)
    return weight * (x * torch.rsqrt(variance + eps))


def _rotate_half(x: Any) -> Any:
    import torch

    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class LlamaEngine:
    """Prefill with fp32 matrix products, decode with the fused GGUF kernel; a KV cache in place.

    Parameters
    ----------
    hf_model
        The transformers ``LlamaForCausalLM`` loaded from the same GGUF file, in fp32 on CPU: its fp32
        weights serve the prompt, its embedding table serves token lookups.
    gguf_file
        The GGUF file whose blocks serve each new token.

    Raises
    ------
    ValueError
        When the architecture is not plain Llama (see :func:`supports`) or a tensor is missing.
    aieng.llm.kernels.KernelUnavailable
        When the C kernel cannot be built here.
    """

    _NAMES = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")

    def __init__(self, hf_model: Any, gguf_file: str | Path) -> None:
        import numpy as np
        import torch
        from aieng.llm.ggufread import read_tensors
        from aieng.llm.kernels import BlockMatrix, LayerStruct, library

        self._lib = library()  # fail early, with the reason, if the kernel cannot be built
        cfg = hf_model.config
        reason = supports(cfg)
        if reason:
            raise ValueError(f"LlamaEngine cannot run this model: {reason}")
        self.hf_model = hf_model
        self.n_heads = cfg.num_attention_heads
        self.n_kv = cfg.num_key_value_heads
        self.head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // self.n_heads
        self.q_size, self.kv_size = self.n_heads * self.head_dim, self.n_kv * self.head_dim
        self.ffn = cfg.intermediate_size
        self.eos = _eos_ids(hf_model)

        tensors = read_tensors(gguf_file)  # the tensor table only: gguf.GGUFReader decodes all metadata too

        def rows_unpermuted(n_rows: int, n_head: int) -> Any:
            # llama.cpp stores q and k with the two halves of each head's rotary pairs interleaved;
            # transformers undoes that on load, so the same row order is applied to the blocks.
            half = n_rows // n_head // 2
            return np.arange(n_rows).reshape(n_head, half, 2).swapaxes(2, 1).reshape(n_rows)

        self.layers = []
        for i, hf_layer in enumerate(hf_model.model.layers):
            blocks = {}
            for name in self._NAMES:
                key = f"blk.{i}.{name}.weight"
                if key not in tensors:
                    raise ValueError(f"{gguf_file} has no tensor {key}")
                rows = None
                if name == "attn_q":
                    rows = rows_unpermuted(self.q_size, self.n_heads)
                elif name == "attn_k":
                    rows = rows_unpermuted(self.kv_size, self.n_kv)
                blocks[name] = BlockMatrix.from_gguf(tensors[key], rows)
            self.layers.append(_Layer(hf_layer, blocks))
        head = "output.weight" if "output.weight" in tensors else "token_embd.weight"
        self.head = BlockMatrix.from_gguf(tensors[head])
        self.embed = hf_model.model.embed_tokens.weight
        self.head_fp32 = hf_model.lm_head.weight
        norm = hf_model.model.norm
        self.norm, self.norm_eps = norm.weight, norm.variance_epsilon
        self._rotary = hf_model.model.rotary_emb
        self._cos = self._sin = torch.zeros(0, self.head_dim)
        del tensors
        self.fused = True  # False: decode with one PyTorch call per operation (the teaching version)
        self._c_layers = (LayerStruct * len(self.layers))()
        for c, L in zip(self._c_layers, self.layers):
            c.norm1, c.norm2 = L.norm1.data_ptr(), L.norm2.data_ptr()
            c.eps1, c.eps2 = L.eps1, L.eps2
            c.qkv, c.o, c.gate_up, c.down = (m.as_struct() for m in (L.qkv, L.o, L.gate_up, L.down))
        self._c_head = self.head.as_struct()
        self._bound: object = None  # the cache layout whose key/value pointers _c_layers holds
        self._scratch = torch.zeros(0)

    @property
    def block_bytes(self) -> int:
        """Bytes of GGUF blocks one new token reads (every layer's matrices and the output head)."""
        mats = [m for L in self.layers for m in (L.qkv, L.o, L.gate_up, L.down)] + [self.head]
        return sum(m.nbytes for m in mats)

    # -------------------------------------------------------------------------------------------- model

    def _rope(self, start: int, n: int) -> tuple[Any, Any]:
        """cos and sin for positions ``start .. start + n - 1`` (from transformers' own rotary module)."""
        import torch

        if start + n > self._cos.shape[0]:
            size = max(start + n, 2 * self._cos.shape[0], 512)
            pos = torch.arange(size)[None]
            cos, sin = self._rotary(self.embed[:1][None], pos)
            self._cos, self._sin = cos[0], sin[0]
        return self._cos[start: start + n], self._sin[start: start + n]

    def forward(self, ids: Any, cache: KVCache | None = None) -> tuple[Any, KVCache]:
        """Logits for the last of ``ids`` (a ``[1, T]`` or ``[T]`` tensor), and the cache extended by them.

        ``T > 1`` (a prompt, or tokens a grammar forces) runs the fp32 weights; ``T == 1`` runs the kernel.
        """
        import torch
        import torch.nn.functional as F

        ids = torch.as_tensor(ids).reshape(-1)
        cache = cache if cache is not None else KVCache()
        T, start = int(ids.shape[0]), cache.length
        cache.reserve(len(self.layers), self.n_kv, self.head_dim, start + T)
        decode = T == 1
        if decode and self.fused:
            return self._decode_step(int(ids[0]), cache), cache
        with torch.inference_mode():
            x = self.embed[ids]  # [T, hidden]
            cos, sin = self._rope(start, T)
            cos, sin = cos[None], sin[None]
            mask = None
            if T > 1 and start > 0:  # new tokens see the whole past and the new tokens up to themselves
                mask = torch.arange(start + T)[None, :] <= torch.arange(start, start + T)[:, None]
            for i, L in enumerate(self.layers):
                h = _rms_norm(x, L.norm1, L.eps1)
                if decode:
                    q, k, v = L.qkv.matvec(h).split((self.q_size, self.kv_size, self.kv_size), dim=-1)
                else:
                    q, k, v = F.linear(h, L.wq), F.linear(h, L.wk), F.linear(h, L.wv)
                q = q.view(T, self.n_heads, self.head_dim).transpose(0, 1)
                k = k.view(T, self.n_kv, self.head_dim).transpose(0, 1)
                q = q * cos + _rotate_half(q) * sin
                k = k * cos + _rotate_half(k) * sin
                cache.k[i][:, start: start + T] = k
                cache.v[i][:, start: start + T] = v.view(T, self.n_kv, self.head_dim).transpose(0, 1)
                keys, values = cache.k[i][:, : start + T], cache.v[i][:, : start + T]
                att = F.scaled_dot_product_attention(q[None], keys[None], values[None], attn_mask=mask,
                                                     is_causal=T > 1 and start == 0, enable_gqa=True,
                                                     scale=self.head_dim ** -0.5)
                att = att[0].transpose(0, 1).reshape(T, self.q_size)
                x = x + (L.o.matvec(att) if decode else F.linear(att, L.wo))
                h = _rms_norm(x, L.norm2, L.eps2)
                if decode:
                    g, u = L.gate_up.matvec(h).split(self.ffn, dim=-1)
                    x = x + L.down.matvec(F.silu(g) * u)
                else:
                    x = x + F.linear(F.silu(F.linear(h, L.wg)) * F.linear(h, L.wu), L.wd)
            last = _rms_norm(x[-1:], self.norm, self.norm_eps)
            logits = self.head.matvec(last)[0] if decode else F.linear(last, self.head_fp32)[0]
        cache.length = start + T
        return logits, cache

    def _decode_step(self, token: int, cache: KVCache) -> Any:
        """One new token through every layer in C (``llama_decode_step``); its logits."""
        import torch

        start, capacity = cache.length, cache.k[0].shape[1]
        if self._bound is not cache.layout:  # the cache is new or has grown: point C at its storage
            for c, k, v in zip(self._c_layers, cache.k, cache.v):
                c.k, c.v = k.data_ptr(), v.data_ptr()
            self._bound = cache.layout
        hidden = self.embed.shape[1]
        need = hidden + 2 * self.q_size + 2 * self.kv_size + self.n_heads * capacity + 3 * self.ffn
        if self._scratch.numel() < need:
            self._scratch = torch.empty(need)
        x = self.embed[token].clone()
        cos, sin = self._rope(start, 1)
        cos, sin = cos.contiguous(), sin.contiguous()
        logits = torch.empty(self.head.N)
        self._lib.llama_decode_step(
            self._c_layers, len(self.layers), x.data_ptr(), hidden, cos.data_ptr(), sin.data_ptr(),
            capacity, start, self.n_heads, self.n_kv, self.head_dim, self.ffn,
            self.norm.data_ptr(), self.norm_eps, ctypes.byref(self._c_head), logits.data_ptr(),
            self._scratch.data_ptr(), torch.get_num_threads())
        cache.length = start + 1
        return logits

    # ----------------------------------------------------------------------------------------- decoding

    def generate_tokens(self, ids: Any, max_new_tokens: int, temperature: float = 0.0, top_p: float = 1.0,
                        generator: Any = None, should_stop: Callable[[list[int]], bool] | None = None
                        ) -> Iterator[int]:
        """Yield new token ids one by one: greedy when ``temperature == 0``, else temperature + top-p sampling.

        Like transformers' ``generate``, the end-of-sequence token is yielded and ends the loop.
        ``should_stop(tokens_so_far)`` may end it early (stop strings).
        """
        import torch

        logits, cache = self.forward(ids)
        out: list[int] = []
        for _ in range(max_new_tokens):
            token = _pick(logits, temperature, top_p, generator)
            out.append(token)
            yield token
            if token in self.eos or (should_stop is not None and should_stop(out)):
                return
            logits, cache = self.forward(torch.tensor([token]), cache)


def top_p_filter(scores: Any, top_p: float) -> Any:
    """``scores`` (1-D) with every token outside the smallest set holding ``top_p`` of the probability
    set to ``-inf``; the most likely token is always kept (the rule of transformers' ``TopPLogitsWarper``)."""
    import torch

    if top_p >= 1.0:
        return scores
    order = torch.argsort(scores, descending=False)
    drop = scores[order].softmax(-1).cumsum(-1) <= 1 - top_p
    drop[-1] = False
    out = scores.clone()
    out[order[drop]] = -float("inf")
    return out


def _pick(logits: Any, temperature: float, top_p: float, generator: Any) -> int:
    """The next token: argmax, or a sample after temperature and top-p (the order transformers uses)."""
    import torch

    if temperature <= 0:
        return int(logits.argmax())
    scores = top_p_filter(logits / temperature, top_p)
    return int(torch.multinomial(scores.softmax(-1), 1, generator=generator))


def _eos_ids(hf_model: Any) -> frozenset[int]:
    ids: Sequence[int] | int | None = getattr(hf_model.generation_config, "eos_token_id", None)
    if ids is None:
        ids = hf_model.config.eos_token_id
    if ids is None:
        return frozenset()
    return frozenset([ids] if isinstance(ids, int) else ids)
