"""The enterprise task, single agent against a team (Month 10): success rate, tokens, wall time, failure modes.

``python -m aieng.bench team [--n 20] [--seed 0] [--model NAME] [--backend postgres|sqlite]``

Each of ``n`` seeded requests (``aieng.agents.sales.make_requests``) is run twice on the same sales table
(PostgreSQL by default, started with ``aieng.foundations.database.postgres`` and stopped after): by Month 9's
single agent (``run_workflow``: one plan sentence fills a fixed plan), and by the coordinator with four
specialists (``aieng.agents.sales.team``) twice: the model choosing who works next, and code routing them in
order (the model still makes the specialists' decisions). Each run mails through a fresh ``aiosmtpd`` server on loopback
(approval scripted) and counts as a success only when the email arrived with its report and both charts and
the report's figures equal pandas'. Figures go to ``chapters/10-multi-agent/results/team.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from typing import Any

HELP = "sales task: single agent (Month 9) vs coordinator + specialists, on the same seeded requests"
CHAPTER = "10-multi-agent"
ARCHITECTURES = ("single agent", "team, model routes", "team, code routes")


def results_name(args: argparse.Namespace) -> str:
    from aieng.bench.record import scoped_name

    return scoped_name("team", args, {"n": 20, "seed": 0, "model": None, "backend": "postgres", "recipients": "management,finance,marketing",
                                      "threads": 1})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n", type=int, default=20, help="seeded requests per architecture (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="request i uses seed + i")
    parser.add_argument("--model", default=None, help="chat model (default: $AIENG_LLM or the bundled SmolLM2-135M)")
    parser.add_argument("--backend", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--recipients", default="management,finance,marketing",
                        help="comma-separated roles the requests draw from")
    parser.add_argument("--data-dir", default=None, help="a folder holding pizzaplace.csv (default: registered data)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from aieng.agents.sales import SalesDB, make_requests
    from aieng.agents.sales.team import PgSalesDB, evaluate_baseline, evaluate_team, summarize
    from aieng.data import load_pizzaplace
    from aieng.foundations.database import postgres
    from aieng.llm import load_chat_model

    if args.n < 1:
        raise ValueError("--n must be at least 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    csv_path = load_pizzaplace(args.data_dir)
    recipients = tuple(r.strip() for r in args.recipients.split(",") if r.strip())
    requests = make_requests(args.n, seed=args.seed, recipients=recipients)
    t0 = time.perf_counter()
    model = load_chat_model(args.model)
    load_s = time.perf_counter() - t0

    def progress(label: str):
        def show(i: int, n: int) -> None:
            print(f"  team: {label} {i}/{n} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
        return show

    rows: dict[str, list[dict[str, Any]]] = {}
    with contextlib.ExitStack() as stack:
        if args.backend == "postgres":
            pg = stack.enter_context(postgres())
            db = PgSalesDB(pg, csv_path, "2015-01-01", "2015-03-31")
        else:
            db = SalesDB(csv_path)
        stack.callback(db.close)
        rows["single agent"] = evaluate_baseline(model, requests, db, csv_path, progress=progress("single agent"))
        for name, routing in (("team, model routes", "model"), ("team, code routes", "fixed")):
            rows[name] = evaluate_team(model, requests, db, csv_path, routing=routing, progress=progress(name))
    return {"model": str(getattr(model, "name", args.model)), "n": args.n, "seed": args.seed,
            "backend": args.backend, "load_s": round(load_s, 1),
            "wall_s": round(time.perf_counter() - t0, 1),
            "architectures": {a: summarize(r) for a, r in rows.items()}, "runs": rows}


def format_table(result: dict[str, Any]) -> str:
    lines = [f"model {result['model']}, {result['n']} seeded requests (seed {result['seed']}), "
             f"sales table in {result['backend']}",
             f"{'architecture':<20}{'success':>9}{'tokens/run':>12}{'s/run':>8}  failure modes"]
    for name, s in result["architectures"].items():
        fails = "; ".join(f"{k} x{v}" for k, v in s["failures"].items()) or "-"
        lines.append(f"{name:<20}{s['success_rate']:>9.0%}{s['tokens_per_run']:>12.0f}"
                     f"{s['seconds_per_run']:>8.1f}  {fails}")
    return "\n".join(lines)
