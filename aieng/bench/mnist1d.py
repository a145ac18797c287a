"""MLP against CNN on MNIST-1D at the paper's settings: inductive bias, measured (Month 6).

``python -m aieng.bench mnist1d`` generates MNIST-1D with the ``mnist1d`` package (procedurally, from its
default arguments: 4,000 training and 1,000 test signals of length 40, seed 42; nothing is downloaded), trains
the paper's two small models with its settings and prints their test accuracy beside the published figures
(Greydanus & Kobak, "Scaling Down Deep Learning with MNIST-1D", ICML 2024: MLP about 68%, CNN about 94%).

The models and the training loop follow the MNIST-1D repository (``notebooks/models.py`` and
``notebooks/train.py``): ``MLPBase`` (40 -> hidden -> hidden, with a residual connection, -> 10) and
``ConvBase`` (three ``Conv1d`` layers of 25 channels, strides 2, then a linear classifier), trained with
Adam at learning rate 1e-2, batches of 100 taken in order, for 8,000 steps. Chapter
``chapters/06-deep-learning/03-inductive-bias-and-gpus.ipynb`` builds the same models itself and renders
this benchmark's results file.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

HELP = "train the MNIST-1D paper's MLP and CNN; print their test accuracy beside the published figures"
CHAPTER = "06-deep-learning"

#: Test accuracy reported by the paper (and the repository's README) for the default MNIST-1D data.
PAPER = {"mlp": 0.68, "cnn": 0.94}
DEFAULTS = {"steps": 8000, "hidden": 256, "lr": 1e-2, "batch_size": 100, "seeds": 1, "threads": 1,
            "device": None}


def results_name(args: argparse.Namespace) -> str:
    """``mnist1d`` for the reference run; a run with other settings gets its own file."""
    from aieng.bench.record import scoped_name

    return scoped_name("mnist1d", args, {k: v for k, v in DEFAULTS.items() if k != "device"})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--steps", type=int, default=DEFAULTS["steps"], help="optimiser steps per model "
                        "(default 8000, the repository's train.py)")
    parser.add_argument("--hidden", type=int, default=DEFAULTS["hidden"], help="MLP hidden width (default 256)")
    parser.add_argument("--lr", type=float, default=DEFAULTS["lr"], help="Adam learning rate (default 1e-2)")
    parser.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"])
    parser.add_argument("--seeds", type=int, default=DEFAULTS["seeds"],
                        help="independent trainings per model (seeds 0..N-1; default 1); the figures are their mean")
    parser.add_argument("--threads", type=int, default=DEFAULTS["threads"],
                        help="CPU threads (default 1: models this small gain nothing from more, and the "
                        "book's 2-core machine is shared)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default=None, help="default: cuda when present")


def make_data() -> dict[str, Any]:
    """MNIST-1D from the package's generator and default arguments (no download: ``make_dataset``)."""
    from mnist1d.data import get_dataset_args, make_dataset

    return make_dataset(get_dataset_args())


def build_model(kind: str, hidden: int = 256) -> Any:
    """The paper's ``"mlp"`` (MLPBase) or ``"cnn"`` (ConvBase) as a torch module."""
    import torch
    from torch import nn

    class MLP(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear1, self.linear2 = nn.Linear(40, hidden), nn.Linear(hidden, hidden)
            self.linear3 = nn.Linear(hidden, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.linear1(x).relu()
            h = h + self.linear2(h).relu()
            return self.linear3(h)

    class CNN(nn.Module):
        def __init__(self, channels: int = 25) -> None:
            super().__init__()
            self.conv1 = nn.Conv1d(1, channels, 5, stride=2, padding=1)
            self.conv2 = nn.Conv1d(channels, channels, 3, stride=2, padding=1)
            self.conv3 = nn.Conv1d(channels, channels, 3, stride=2, padding=1)
            self.linear = nn.Linear(channels * 5, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.conv1(x[:, None, :]).relu()
            h = self.conv2(h).relu()
            h = self.conv3(h).relu()
            return self.linear(h.flatten(1))

    if kind == "mlp":
        return MLP()
    if kind == "cnn":
        return CNN()
    raise ValueError(f"unknown model {kind!r}: use 'mlp' or 'cnn'")


def train_one(kind: str, data: dict[str, Any], *, steps: int, hidden: int, lr: float, batch_size: int,
              seed: int, device: str = "cpu") -> dict[str, Any]:
    """Train one model as the repository's ``train_model`` does; return its final test accuracy and time."""
    import torch

    from aieng import seed_everything

    seed_everything(seed)
    model = build_model(kind, hidden).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    X = torch.tensor(data["x"], dtype=torch.float32, device=device)
    y = torch.tensor(data["y"], dtype=torch.long, device=device)
    X_test = torch.tensor(data["x_test"], dtype=torch.float32, device=device)
    y_test = torch.tensor(data["y_test"], dtype=torch.long, device=device)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    for step in range(steps):
        i = (step * batch_size) % len(X)
        loss = torch.nn.functional.cross_entropy(model(X[i:i + batch_size]), y[i:i + batch_size])
        opt.zero_grad()
        loss.backward()
        opt.step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    with torch.no_grad():
        acc = (model(X_test).argmax(-1) == y_test).float().mean().item()
        train_acc = (model(X).argmax(-1) == y).float().mean().item()
    params = sum(p.numel() for p in model.parameters())
    return {"test_accuracy": acc, "train_accuracy": train_acc, "seconds": seconds, "params": params}


def run(args: argparse.Namespace) -> dict[str, Any]:
    import statistics

    import torch

    from aieng import device as pick_device

    for name in ("steps", "hidden", "batch_size", "seeds"):
        if getattr(args, name) <= 0:
            raise ValueError(f"--{name.replace('_', '-')} must be > 0, got {getattr(args, name)}")
    if args.lr <= 0:
        raise ValueError(f"--lr must be > 0, got {args.lr}")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    t0 = time.perf_counter()
    data = make_data()
    data_seconds = time.perf_counter() - t0
    models = {}
    for kind in ("mlp", "cnn"):
        runs = [train_one(kind, data, steps=args.steps, hidden=args.hidden, lr=args.lr,
                          batch_size=args.batch_size, seed=seed, device=device) for seed in range(args.seeds)]
        accs = [r["test_accuracy"] for r in runs]
        models[kind] = {
            "test_accuracy": round(statistics.fmean(accs), 4),
            "test_accuracy_std": round(statistics.stdev(accs), 4) if len(accs) > 1 else 0.0,
            "test_accuracy_min": round(min(accs), 4),
            "test_accuracy_max": round(max(accs), 4),
            "train_accuracy": round(statistics.fmean(r["train_accuracy"] for r in runs), 4),
            "paper_test_accuracy": PAPER[kind],
            "params": runs[0]["params"],
            "train_seconds": round(statistics.fmean(r["seconds"] for r in runs), 2),
            "steps_per_s": round(args.steps / statistics.fmean(r["seconds"] for r in runs), 1),
        }
    return {
        "models": models,
        "gap": round(models["cnn"]["test_accuracy"] - models["mlp"]["test_accuracy"], 4),
        "paper_gap": round(PAPER["cnn"] - PAPER["mlp"], 4),
        "device": device,
        "threads": torch.get_num_threads(),
        "data": {"train": int(len(data["y"])), "test": int(len(data["y_test"])),
                 "length": int(data["x"].shape[1]), "generate_seconds": round(data_seconds, 2)},
        "settings": {"steps": args.steps, "hidden": args.hidden, "lr": args.lr, "batch_size": args.batch_size,
                     "seeds": args.seeds, "optimizer": "Adam"},
        "torch": torch.__version__,
    }


def format_table(result: dict[str, Any]) -> str:
    s = result["settings"]
    lines = [f"{'model':6} {'params':>7} {'test acc':>9} {'+-':>6} {'paper':>6} {'train acc':>10} "
             f"{'s/run':>7} {'steps/s':>8}"]
    for kind, m in result["models"].items():
        lines.append(f"{kind:6} {m['params']:>7,} {m['test_accuracy']:>9.1%} {m['test_accuracy_std']:>6.1%} "
                     f"{m['paper_test_accuracy']:>6.0%} {m['train_accuracy']:>10.1%} {m['train_seconds']:>7.1f} "
                     f"{m['steps_per_s']:>8.0f}")
    lines.append(f"gap (CNN - MLP) {result['gap']:.1%}   paper {result['paper_gap']:.0%}")
    lines.append(f"settings: Adam lr {s['lr']}, batch {s['batch_size']}, {s['steps']} steps, MLP hidden "
                 f"{s['hidden']}, mean of {s['seeds']} seeds, on {result['device']} "
                 f"({result['threads']} threads), torch {result['torch']}")
    return "\n".join(lines)
