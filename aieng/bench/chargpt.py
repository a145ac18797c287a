"""Character-level GPT on tiny Shakespeare for a fixed wall-time budget (Month 7).

``python -m aieng.bench chargpt --minutes 3`` trains :data:`aieng.llm.gpt.CPU_3MIN` on CPU (or
:data:`aieng.llm.gpt.NANOGPT_SHAKESPEARE_CHAR` with bf16 autocast and ``torch.compile`` on CUDA) and
prints the best validation loss, the training throughput and every setting used.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import Any

HELP = "train the Month 7 character GPT for --minutes of wall time; print best val loss and tokens/s"
CHAPTER = "07-transformers-and-llms"


def results_name(args: argparse.Namespace) -> str:
    """``chargpt-3min`` for the reference run; ``chargpt.json`` holds the hand-recorded probes and runs."""
    from aieng.bench.record import scoped_name

    keys = ("device", "n_layers", "n_heads", "d_model", "seq_len", "dropout", "batch_size", "lr", "min_lr",
            "warmup", "threads")
    return scoped_name(f"chargpt-{args.minutes:g}min", args,
                       {**{k: None for k in keys}, "no_compile": False, "seed": 0})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--minutes", type=float, default=3.0, help="training wall time (default 3)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default=None, help="default: cuda when present")
    parser.add_argument("--n-layers", type=int, default=None, help="override the tier's model shape")
    parser.add_argument("--n-heads", type=int, default=None)
    parser.add_argument("--d-model", type=int, default=None)
    parser.add_argument("--seq-len", type=int, default=None)
    parser.add_argument("--dropout", type=float, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None, help="peak learning rate")
    parser.add_argument("--min-lr", type=float, default=None)
    parser.add_argument("--warmup", type=float, default=None, help="warm-up as a fraction of the budget")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads (default: torch's choice, one a core); a model this small can "
                        "train faster on 1 thread when other jobs share the cores")
    parser.add_argument("--no-compile", action="store_true", help="CUDA: skip torch.compile")
    parser.add_argument("--seed", type=int, default=0)


def tier_settings(device: str) -> tuple[Any, Any]:
    """The default model and training settings of a device tier: ``(GPTConfig, TrainConfig)``."""
    from aieng.llm.gpt import CPU_3MIN, NANOGPT_SHAKESPEARE_CHAR, TrainConfig

    if device == "cuda":
        return NANOGPT_SHAKESPEARE_CHAR, TrainConfig(batch_size=64, lr=1e-3, min_lr=1e-4, warmup_fraction=0.03,
                                                     betas=(0.9, 0.99), eval_every=250, eval_batches=20,
                                                     amp=True, compile=True, device="cuda")
    return CPU_3MIN, TrainConfig(batch_size=16, lr=3e-3, min_lr=3e-4, warmup_fraction=0.03, eval_every=500,
                                 eval_batches=10, device="cpu")


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from aieng import device as pick_device
    from aieng import seed_everything
    from aieng.data import load_text
    from aieng.llm.gpt import GPT, CharTokenizer, split_data, train

    if args.minutes <= 0:
        raise ValueError(f"--minutes must be > 0, got {args.minutes}")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    seed_everything(args.seed)
    text = load_text("tinyshakespeare")
    tok = CharTokenizer.from_text(text)
    train_data, val_data = split_data(tok.encode(text))
    model_cfg, train_cfg = tier_settings(device)
    model_over = {k: v for k, v in {"n_layers": args.n_layers, "n_heads": args.n_heads, "d_model": args.d_model,
                                    "seq_len": args.seq_len, "dropout": args.dropout}.items() if v is not None}
    train_over = {k: v for k, v in {"batch_size": args.batch_size, "lr": args.lr, "min_lr": args.min_lr,
                                    "warmup_fraction": args.warmup}.items() if v is not None}
    if train_over.get("lr") is not None and "min_lr" not in train_over:
        train_over["min_lr"] = train_over["lr"] / 10
    model_cfg = replace(model_cfg, vocab_size=tok.vocab_size, **model_over)
    train_cfg = replace(train_cfg, max_seconds=args.minutes * 60, seed=args.seed,
                        compile=train_cfg.compile and not args.no_compile, **train_over)
    model = GPT(model_cfg)
    result = train(model, train_data, val_data, train_cfg, progress=True)
    # the final estimate uses more batches than the periodic ones, so the reported figure is steadier
    from aieng.llm.gpt import estimate_loss

    final_val = estimate_loss(model, val_data, 64, 50, device, train_cfg.amp, seed=args.seed + 99)
    return {
        "best_val_loss": round(min(result.best_val_loss, final_val), 4),
        "final_val_loss": round(final_val, 4),
        "tokens_per_s": round(result.tokens_per_s),
        "minutes": args.minutes,
        "device": device,
        "steps": result.num_steps,
        "train_seconds": round(result.train_seconds, 1),
        "total_seconds": round(result.total_seconds, 1),
        "params": result.settings["params"],
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "model": {k: v for k, v in result.settings["model"].items()},
        "train": {k: result.settings["train"][k] for k in ("batch_size", "lr", "min_lr", "warmup_fraction",
                                                            "weight_decay", "amp", "compile")},
        "val_curve": [[s, round(v, 4)] for s, v in zip(result.steps, result.val_loss)],
    }


def format_table(result: dict[str, Any]) -> str:
    m, t = result["model"], result["train"]
    lines = [
        f"best val loss   {result['best_val_loss']:.4f}   (final estimate {result['final_val_loss']:.4f}, 50 x 64 windows)",
        f"tokens/s        {result['tokens_per_s']:,}",
        f"budget          {result['minutes']} min on {result['device']} ({result['threads']} threads), "
        f"{result['steps']} steps",
        f"model           {m['n_layers']} layers, {m['n_heads']} heads, d_model {m['d_model']}, "
        f"seq_len {m['seq_len']}, dropout {m['dropout']}, {result['params']:,} params",
        f"training        batch {t['batch_size']}, lr {t['lr']} -> {t['min_lr']} (warm-up {t['warmup_fraction']:.0%}, "
        f"cosine), weight decay {t['weight_decay']}, bf16 {t['amp']}, compile {t['compile']}",
        f"torch           {result['torch']}",
    ]
    return "\n".join(lines)
