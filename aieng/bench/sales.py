"""The roadmap's enterprise task (Month 9): success rate of the sales-report workflow over seeded requests.

``python -m aieng.bench sales [--n 20] [--seed 0] [--model NAME] [--decoding constrained|free] [--out FILE]``

Each run draws a worded request (``aieng.agents.sales.make_requests``: January to March 2015, a ``k``, a
ranking and a recipient), lets the model fill the plan's slots, executes the plan against a fresh ``aiosmtpd``
server on loopback (approval scripted), and counts a success only when the email arrived with its report and
both charts and the report's figures equal pandas' (``aieng.agents.sales.evaluate``). The figures go to
``chapters/09-agents/results/sales.json`` with date, machine and versions (see :mod:`aieng.bench`).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from typing import Any

HELP = "sales-report workflow: success rate over seeded requests (email delivered, attachments, numbers = pandas)"
CHAPTER = "09-agents"


def results_name(args: argparse.Namespace) -> str:
    from aieng.bench.record import scoped_name

    return scoped_name("sales", args, {"n": 20, "seed": 0, "model": None, "decoding": "constrained",
                                       "recipients": "management,finance,marketing", "threads": 1})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n", type=int, default=20, help="seeded requests (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="request i uses seed + i")
    parser.add_argument("--model", default=None, help="chat model (default: $AIENG_LLM or the bundled SmolLM2-135M)")
    parser.add_argument("--decoding", choices=["constrained", "teaching", "free"], default="constrained")
    parser.add_argument("--recipients", default="management,finance,marketing",
                        help="comma-separated roles the requests draw from")
    parser.add_argument("--data-dir", default=None, help="a folder holding pizzaplace.csv (default: registered data)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from aieng.agents.sales import SalesDB, evaluate, make_requests
    from aieng.data import load_pizzaplace
    from aieng.llm import load_chat_model

    if args.n < 1:
        raise ValueError("--n must be at least 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    csv_path = load_pizzaplace(args.data_dir)
    t0 = time.perf_counter()
    model = load_chat_model(args.model)
    db = SalesDB(csv_path)
    load_s = time.perf_counter() - t0
    recipients = tuple(r.strip() for r in args.recipients.split(",") if r.strip())
    requests = make_requests(args.n, seed=args.seed, recipients=recipients)

    def progress(i: int, n: int) -> None:
        print(f"  sales: {i}/{n} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)

    t1 = time.perf_counter()
    rows = evaluate(model, requests, db, csv_path, decoding=args.decoding, progress=progress)
    run_s = time.perf_counter() - t1
    db.close()
    slots = ("first_month", "last_month", "k", "by", "to")
    per_slot = {s: sum(r["slots"] is not None and r["slots"][s] == r["truth"][s] for r in rows) / len(rows)
                for s in slots}
    failures = Counter(("wrong " + ", ".join(s for s in slots if r["slots"] and r["slots"][s] != r["truth"][s]))
                       if r["slots"] else (r["error"] or "no plan") for r in rows if not r["success"])
    result = {"model": str(getattr(model, "name", args.model)), "decoding": args.decoding, "n": len(rows),
            "seed": args.seed, "success_rate": sum(r["success"] for r in rows) / len(rows),
            "slot_accuracy": per_slot, "failures": dict(failures.most_common()),
            "tokens_per_run": sum(r["tokens"] for r in rows) / len(rows),
            "seconds_per_run": run_s / len(rows), "load_s": round(load_s, 1), "wall_s": round(run_s, 1),
            "runs": rows}
    return result


def format_table(result: dict[str, Any]) -> str:
    lines = [f"model {result['model']}, decoding {result['decoding']}, {result['n']} seeded requests "
             f"(seed {result['seed']})",
             f"success rate {100 * result['success_rate']:.0f}% "
             f"({round(result['success_rate'] * result['n'])}/{result['n']})",
             "slot accuracy: " + ", ".join(f"{k} {100 * v:.0f}%" for k, v in result["slot_accuracy"].items()),
             f"tokens per run {result['tokens_per_run']:.0f}, {result['seconds_per_run']:.2f} s per run, "
             f"model load {result['load_s']} s, wall {result['wall_s']} s"]
    for why, n in result["failures"].items():
        lines.append(f"  failed {n}x: {why}")
    return "\n".join(lines)

