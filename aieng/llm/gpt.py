"""A small GPT you can read in ten minutes: model, character tokenizer, training loop and sampling.

Taught in Month 7 (chapters/07-transformers-and-llms), notebook ``02-build-a-gpt``; reused by later
chapters and by ``python -m aieng.bench chargpt``.

>>> from aieng.data import load_text
>>> from aieng.llm.gpt import CharTokenizer, GPT, GPTConfig, TrainConfig, train, split_data
>>> text = load_text("tinyshakespeare")
>>> tok = CharTokenizer.from_text(text)
>>> train_data, val_data = split_data(tok.encode(text))
>>> model = GPT(GPTConfig(vocab_size=tok.vocab_size, seq_len=64, n_layers=4, n_heads=4, d_model=128))
>>> result = train(model, train_data, val_data, TrainConfig(num_steps=200))
>>> print(tok.decode(model.generate(tok.encode("ROMEO:")[None], 100)[0].tolist()))

The design follows GPT-2 as nanoGPT writes it: learned positions, pre-norm blocks, GELU MLP four
times wider than the model, the output head tied to the token embedding, AdamW with weight decay on
matrices only, linear warm-up then cosine decay of the learning rate.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    "GPTConfig",
    "GPT",
    "CausalSelfAttention",
    "Block",
    "CharTokenizer",
    "TrainConfig",
    "TrainResult",
    "split_data",
    "get_batch",
    "lr_at",
    "estimate_loss",
    "train",
    "NANOGPT_SHAKESPEARE_CHAR",
    "CPU_3MIN",
]


# ----------------------------------------------------------------------------- model


@dataclass
class GPTConfig:
    """The shape of a GPT.

    Attributes
    ----------
    vocab_size
        Number of distinct tokens (65 characters for tiny Shakespeare).
    seq_len
        Context length: the most tokens the model sees at once (``block_size`` in nanoGPT).
    n_layers, n_heads, d_model
        Depth, attention heads per layer, width of the residual stream (``d_model % n_heads == 0``).
    dropout
        Dropout probability inside the blocks (0 for short runs: it only helps when a model overfits).
    bias
        Whether linear layers and layer norms have a bias (GPT-2 does; nanoGPT's smaller runs do not need it).
    """

    vocab_size: int = 65
    seq_len: int = 256
    n_layers: int = 6
    n_heads: int = 6
    d_model: int = 384
    dropout: float = 0.0
    bias: bool = False

    def __post_init__(self) -> None:
        for name in ("vocab_size", "seq_len", "n_layers", "n_heads", "d_model"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


NANOGPT_SHAKESPEARE_CHAR = GPTConfig(seq_len=256, n_layers=6, n_heads=6, d_model=384, dropout=0.2)
"""nanoGPT's ``train_shakespeare_char`` model (about 10.7M parameters), the GPU tier of Month 7."""

CPU_3MIN = GPTConfig(seq_len=64, n_layers=4, n_heads=4, d_model=128, dropout=0.0)
"""A shape that trains well in three minutes on two CPU cores (see the Month 7 notebook)."""


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention where each position sees only itself and earlier positions."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.n_heads, self.d_model, self.dropout = cfg.n_heads, cfg.d_model, cfg.dropout
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=cfg.bias)  # queries, keys, values at once
        self.proj = nn.Linear(cfg.d_model, cfg.d_model, bias=cfg.bias)
        self.resid_drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        # (B, T, C) -> (B, n_heads, T, head_dim): each head attends in its own subspace
        q, k, v = (t.view(B, T, self.n_heads, C // self.n_heads).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                           dropout_p=self.dropout if self.training else 0.0)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # put the heads side by side again
        return self.resid_drop(self.proj(y))


class MLP(nn.Module):
    """The position-wise feed-forward network: widen four times, GELU, project back."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.up = nn.Linear(cfg.d_model, 4 * cfg.d_model, bias=cfg.bias)
        self.down = nn.Linear(4 * cfg.d_model, cfg.d_model, bias=cfg.bias)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.down(F.gelu(self.up(x))))


class Block(nn.Module):
    """One transformer block: ``x + attention(norm(x))``, then ``x + mlp(norm(x))``."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model, bias=cfg.bias)
        self.attn = CausalSelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.d_model, bias=cfg.bias)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))  # tokens exchange information
        return x + self.mlp(self.ln2(x))  # each token thinks on its own


class GPT(nn.Module):
    """A decoder-only transformer language model: token ids in, next-token logits out."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos_emb = nn.Embedding(cfg.seq_len, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.n_layers)])
        self.ln_f = nn.LayerNorm(cfg.d_model, bias=cfg.bias)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.head.weight = self.tok_emb.weight  # weight tying: one matrix reads and writes tokens
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2: scale the residual projections by depth
            if name.endswith(("attn.proj.weight", "mlp.down.weight")):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layers))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def num_params(self, non_embedding: bool = True) -> int:
        """Parameter count; by default without the position embedding (as GPT-2 papers count)."""
        n = sum(p.numel() for p in self.parameters())
        return n - self.pos_emb.weight.numel() if non_embedding else n

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits ``(B, T, vocab_size)`` for token ids ``idx`` ``(B, T)``, and the cross-entropy
        loss against ``targets`` (the same ids shifted by one) when they are given."""
        B, T = idx.shape
        if T > self.cfg.seq_len:
            raise ValueError(f"sequence of length {T} is longer than the context ({self.cfg.seq_len})")
        pos = torch.arange(T, device=idx.device)
        x = self.drop(self.tok_emb(idx) + self.pos_emb(pos))
        for block in self.blocks:
            x = block(x)
        logits = self.head(self.ln_f(x))
        loss = None if targets is None else F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
        return logits, loss

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
                 top_k: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """Append ``max_new_tokens`` sampled tokens to ``idx`` ``(B, T)`` and return the whole sequence.

        ``temperature == 0`` picks the most likely token (greedy); ``top_k`` keeps only the ``k``
        most likely tokens before sampling.
        """
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        was_training = self.training
        self.eval()
        for _ in range(max_new_tokens):
            logits, _ = self(idx[:, -self.cfg.seq_len:])  # crop to the context the model knows
            logits = logits[:, -1, :]
            if temperature == 0:
                nxt = logits.argmax(dim=-1, keepdim=True)
            else:
                logits = logits / temperature
                if top_k is not None:
                    kth = torch.topk(logits, min(top_k, logits.size(-1))).values[:, [-1]]
                    logits = logits.masked_fill(logits < kth, float("-inf"))
                nxt = torch.multinomial(F.softmax(logits, dim=-1), 1, generator=generator)
            idx = torch.cat([idx, nxt], dim=1)
        self.train(was_training)
        return idx


# ----------------------------------------------------------------------------- data


class CharTokenizer:
    """Characters to integer ids and back; the vocabulary is every distinct character of a text."""

    def __init__(self, chars: Sequence[str]) -> None:
        self.chars = list(chars)
        if len(set(self.chars)) != len(self.chars):
            raise ValueError("the vocabulary holds a character twice")
        self.stoi = {c: i for i, c in enumerate(self.chars)}

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        """The sorted set of characters in ``text``."""
        if not text:
            raise ValueError("cannot build a vocabulary from an empty text")
        return cls(sorted(set(text)))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> torch.Tensor:
        """A 1-D ``torch.long`` tensor of ids; raises ``KeyError`` on a character outside the vocabulary."""
        try:
            return torch.tensor([self.stoi[c] for c in text], dtype=torch.long)
        except KeyError as exc:
            raise KeyError(f"character {exc.args[0]!r} is not in the vocabulary") from None

    def decode(self, ids: Sequence[int] | torch.Tensor) -> str:
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        return "".join(self.chars[i] for i in ids)


def split_data(data: torch.Tensor, val_fraction: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """First ``1 - val_fraction`` of the ids for training, the rest for validation (nanoGPT's split)."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    n = int(len(data) * (1 - val_fraction))
    return data[:n], data[n:]


def get_batch(data: torch.Tensor, batch_size: int, seq_len: int, device: str = "cpu",
              generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch_size`` random windows of ``seq_len`` ids (``X``) and the same windows shifted by one (``y``)."""
    if len(data) <= seq_len:
        raise ValueError(f"data has {len(data)} tokens, fewer than seq_len + 1 = {seq_len + 1}")
    ix = torch.randint(len(data) - seq_len, (batch_size,), generator=generator)
    offsets = torch.arange(seq_len)
    X = data[ix[:, None] + offsets]
    y = data[ix[:, None] + offsets + 1]
    return X.to(device), y.to(device)


# ----------------------------------------------------------------------------- training


@dataclass
class TrainConfig:
    """How to train.

    Attributes
    ----------
    num_steps
        Optimiser steps. Ignored for the schedule when ``max_seconds`` is set.
    max_seconds
        Train for this much wall time instead (evaluation time not counted); the learning-rate
        schedule then follows the elapsed fraction of the budget instead of the step count.
    batch_size, lr, min_lr, warmup_fraction, weight_decay, grad_clip, betas
        AdamW settings; the learning rate warms up linearly over ``warmup_fraction`` of training,
        then follows a cosine down to ``min_lr``.
    eval_every, eval_batches
        Estimate train and validation loss every ``eval_every`` steps (and at the end) on
        ``eval_batches`` random batches each.
    device
        ``"cpu"`` or ``"cuda"``; default :func:`aieng.device`.
    amp
        Use bf16 autocast (on CUDA; on CPU it is slower for small models).
    compile
        Wrap the model in ``torch.compile`` (pays a one-off compile time).
    seed
        Seeds the batch sampler.
    """

    num_steps: int = 2000
    max_seconds: float | None = None
    batch_size: int = 32
    lr: float = 2e-3
    min_lr: float = 2e-4
    warmup_fraction: float = 0.05
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    betas: tuple[float, float] = (0.9, 0.99)
    eval_every: int = 250
    eval_batches: int = 20
    device: str | None = None
    amp: bool = False
    compile: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if self.num_steps < 1:
            raise ValueError(f"num_steps must be >= 1, got {self.num_steps}")
        if self.max_seconds is not None and self.max_seconds <= 0:
            raise ValueError(f"max_seconds must be > 0, got {self.max_seconds}")
        if self.lr <= 0 or self.min_lr < 0 or self.min_lr > self.lr:
            raise ValueError(f"need 0 <= min_lr <= lr and lr > 0, got lr={self.lr}, min_lr={self.min_lr}")
        if not 0 <= self.warmup_fraction < 1:
            raise ValueError(f"warmup_fraction must be in [0, 1), got {self.warmup_fraction}")


@dataclass
class TrainResult:
    """What :func:`train` measured: the loss curves, the best validation loss and the speed."""

    steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    step_loss: list[float] = field(default_factory=list)
    best_val_loss: float = float("inf")
    num_steps: int = 0
    tokens_per_s: float = 0.0
    train_seconds: float = 0.0
    total_seconds: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)


def lr_at(progress: float, lr: float, min_lr: float, warmup_fraction: float) -> float:
    """Learning rate at ``progress`` in [0, 1] of training: linear warm-up, then cosine to ``min_lr``."""
    progress = min(max(progress, 0.0), 1.0)
    if warmup_fraction > 0 and progress < warmup_fraction:
        return lr * (progress / warmup_fraction)
    decay = (progress - warmup_fraction) / (1 - warmup_fraction)
    return min_lr + 0.5 * (1 + math.cos(math.pi * decay)) * (lr - min_lr)


@torch.no_grad()
def estimate_loss(model: nn.Module, data: torch.Tensor, batch_size: int, num_batches: int,
                  device: str = "cpu", amp: bool = False, seed: int = 1234) -> float:
    """Mean cross-entropy of ``model`` over ``num_batches`` random batches of ``data`` (a fixed seed,
    so two calls see the same windows)."""
    was_training = model.training
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    seq_len = _unwrap(model).cfg.seq_len
    losses = []
    for _ in range(num_batches):
        X, y = get_batch(data, batch_size, seq_len, device, gen)
        with _autocast(device, amp):
            _, loss = model(X, y)
        losses.append(loss.item())
    model.train(was_training)
    return sum(losses) / len(losses)


def _unwrap(model: nn.Module) -> GPT:
    return getattr(model, "_orig_mod", model)  # torch.compile wraps the module


def _autocast(device: str, amp: bool) -> Any:
    return torch.autocast(device_type=device, dtype=torch.bfloat16) if amp else nullcontext()


def _optimizer(model: nn.Module, cfg: TrainConfig, device: str) -> torch.optim.Optimizer:
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]  # matrices and embeddings
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]  # norms and biases
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, fused=device == "cuda")


def train(model: GPT, train_data: torch.Tensor, val_data: torch.Tensor, cfg: TrainConfig | None = None,
          progress: bool = True) -> TrainResult:
    """Train ``model`` in place with AdamW and a warm-up + cosine schedule; return the measured curves.

    Parameters
    ----------
    model
        A :class:`GPT` (moved to ``cfg.device``).
    train_data, val_data
        1-D tensors of token ids (see :func:`split_data`).
    cfg
        The settings (default :class:`TrainConfig`).
    progress
        Show a tqdm progress bar (on stderr).
    """
    from tqdm.auto import tqdm

    from aieng import device as pick_device

    cfg = cfg or TrainConfig()
    device = pick_device(cfg.device)
    model.to(device).train()
    seq_len = model.cfg.seq_len
    for name, data in (("train_data", train_data), ("val_data", val_data)):
        if data.dim() != 1 or len(data) <= seq_len:
            raise ValueError(f"{name} must be a 1-D tensor longer than seq_len={seq_len}, got shape {tuple(data.shape)}")
    runner: nn.Module = torch.compile(model) if cfg.compile else model
    opt = _optimizer(model, cfg, device)
    gen = torch.Generator().manual_seed(cfg.seed)
    result = TrainResult(settings={"model": asdict(model.cfg), "train": {**asdict(cfg), "device": device},
                                   "params": model.num_params(), "torch": torch.__version__,
                                   "threads": torch.get_num_threads()})
    timed = cfg.max_seconds is not None
    bar = tqdm(total=int(cfg.max_seconds) if timed else cfg.num_steps, unit="s" if timed else "step",
               disable=not progress, file=sys.stderr, leave=False)

    def evaluate(step: int) -> None:
        tl = estimate_loss(runner, train_data, cfg.batch_size, cfg.eval_batches, device, cfg.amp, seed=cfg.seed + 1)
        vl = estimate_loss(runner, val_data, cfg.batch_size, cfg.eval_batches, device, cfg.amp, seed=cfg.seed + 2)
        result.steps.append(step)
        result.train_loss.append(tl)
        result.val_loss.append(vl)
        result.best_val_loss = min(result.best_val_loss, vl)
        bar.set_postfix(train=f"{tl:.3f}", val=f"{vl:.3f}")

    t_start = time.perf_counter()
    if cfg.compile:  # compile once outside the clock: one forward and backward, no optimiser step
        X, y = get_batch(train_data, cfg.batch_size, seq_len, device, torch.Generator().manual_seed(cfg.seed + 3))
        with _autocast(device, cfg.amp):
            runner(X, y)[1].backward()
        opt.zero_grad(set_to_none=True)
        result.settings["compile_seconds"] = round(time.perf_counter() - t_start, 1)
    train_seconds, step = 0.0, 0
    while True:
        p = train_seconds / cfg.max_seconds if timed else step / cfg.num_steps
        if p >= 1:
            break
        if step % cfg.eval_every == 0 and step > 0:
            evaluate(step)
        t0 = time.perf_counter()
        for group in opt.param_groups:
            group["lr"] = lr_at(p, cfg.lr, cfg.min_lr, cfg.warmup_fraction)
        X, y = get_batch(train_data, cfg.batch_size, seq_len, device, gen)
        with _autocast(device, cfg.amp):
            _, loss = runner(X, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        loss_value = loss.item()  # also waits for the GPU, so the clock below is honest
        dt = time.perf_counter() - t0
        train_seconds += dt
        step += 1
        result.step_loss.append(loss_value)
        if timed:
            bar.n = min(int(train_seconds), bar.total)
            bar.refresh()
        else:
            bar.update(1)
    evaluate(step)
    bar.close()
    result.num_steps = step
    result.train_seconds = train_seconds
    result.total_seconds = time.perf_counter() - t_start
    result.tokens_per_s = step * cfg.batch_size * seq_len / train_seconds if train_seconds else 0.0
    return result
