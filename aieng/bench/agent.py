"""Agent benchmarks (Month 9): tool calling on BFCL, and GSM8K with and without a calculator tool.

``python -m aieng.bench agent --suite bfcl [--decoding constrained|teaching|free] [--n-per-category N]``
``python -m aieng.bench agent --suite gsm8k [--limit N]``

BFCL: each item is one reasoning-engine decision (one step) on the offered functions, scored by the AST checker
:func:`aieng.agents.tools.check_calls`. ``valid_call_rate`` is the share of replies that parse as a call list
(``[]`` included); ``accuracy`` the share judged correct (for ``irrelevance``: no call made). With
``--n-per-category N`` a fixed, evenly spaced subset of each category is used (the same items for every
decoding), e.g. items 0, k, 2k, ... of the shared half.

GSM8K: ``without_tools`` asks for a step-by-step answer and reads the last number; ``with_calculator`` runs the
:class:`aieng.agents.Agent` with :func:`aieng.agents.tools.calculator` and a numeric ``final_answer``.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from typing import Any

HELP = "agent benchmarks: BFCL tool calling (valid calls, accuracy) and GSM8K with/without a calculator"
CHAPTER = "09-agents"


def results_name(args: argparse.Namespace) -> str:
    """``agent-bfcl-constrained``, ``agent-bfcl-free``, ``agent-gsm8k``; a subset or another model adds a suffix."""
    from aieng.bench.record import scoped_name

    if args.suite == "bfcl":
        return scoped_name(f"agent-bfcl-{args.decoding}", args, {"n_per_category": 0, "categories": "",
                                                                  "max_new_tokens": 128, "model": None,
                                                                  "threads": 1})
    return scoped_name("agent-gsm8k", args, {"limit": 0, "max_steps": 4, "model": None, "threads": 1})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--suite", choices=["bfcl", "gsm8k"], default="bfcl")
    parser.add_argument("--data-dir", default=None, help="a folder in the shared copy's format (default: registered data)")
    parser.add_argument("--model", default=None, help="chat model (default: $AIENG_LLM or the bundled SmolLM2-135M)")
    parser.add_argument("--decoding", choices=["constrained", "teaching", "free"], default="constrained",
                        help="BFCL decoding (default constrained, with llguidance)")
    parser.add_argument("--n-per-category", type=int, default=0, help="BFCL: evenly spaced items per category (0 = all)")
    parser.add_argument("--categories", default="", help="BFCL: comma-separated subset of categories")
    parser.add_argument("--max-new-tokens", type=int, default=128, help="BFCL: longest reply, both decodings")
    parser.add_argument("--limit", type=int, default=0, help="GSM8K: first N problems (0 = all 200)")
    parser.add_argument("--max-steps", type=int, default=4, help="GSM8K agent step budget")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: a 135M model gains little from more, and loses a lot "
                             "when other processes share the cores)")


def _progress(i: int, total: int, label: str, t0: float) -> None:
    if i == total or i % 10 == 0:
        print(f"  {label}: {i}/{total} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)


def run_bfcl(model: Any, decoding: str, n_per_category: int = 0, data_dir: str | None = None,
             categories: list[str] | None = None, max_new_tokens: int = 128) -> dict[str, Any]:
    """Score one decoding strategy on BFCL; returns the result dict (see module docstring)."""
    from aieng.agents import Decision, ReasoningEngine, system_prompt
    from aieng.agents.scoring import check_calls
    from aieng.data import BFCL_CATEGORIES, load_bfcl, subset

    engine = ReasoningEngine(model, decoding=decoding, max_new_tokens=max_new_tokens)
    cats: dict[str, Any] = {}
    n_all = valid_all = ok_all = 0
    steps = tokens = 0
    t_start = time.perf_counter()
    for cat in categories or BFCL_CATEGORIES:
        items = subset(load_bfcl(cat, data_dir), n_per_category)
        valid = ok = 0
        t0 = time.perf_counter()
        for i, item in enumerate(items, 1):
            fns = item["function"]
            messages = [{"role": "system", "content": system_prompt(fns)}] + list(item["question"][0])
            try:
                d = engine.decide(messages, fns)
            except ValueError as exc:  # a schema no call can satisfy: counted as an invalid reply
                d = Decision("", [], f"bad tool schema: {exc}")
            steps += 1
            tokens += d.prompt_tokens + d.completion_tokens
            if d.error is None:
                valid += 1
            good, _ = check_calls(d.calls if d.error is None else [], item["ground_truth"], fns)
            ok += int(good)
            _progress(i, len(items), f"{cat} ({decoding})", t0)
        n = len(items)
        cats[cat] = {"n": n, "valid_call_rate": valid / n if n else 0.0, "accuracy": ok / n if n else 0.0}
        n_all, valid_all, ok_all = n_all + n, valid_all + valid, ok_all + ok
    return {"suite": "bfcl", "model": str(getattr(model, "name", "")), "decoding": decoding,
            "categories": cats,
            "overall": {"n": n_all, "valid_call_rate": valid_all / max(n_all, 1), "accuracy": ok_all / max(n_all, 1)},
            "steps_per_task": steps / max(n_all, 1), "tokens_per_task": tokens / max(n_all, 1),
            "wall_s": round(time.perf_counter() - t_start, 1)}


def _stated_answer(text: str) -> bool:
    """True once the text states "answer is <number>" and the number has visibly ended."""
    return re.search(r"answer is\s*\$?-?[\d,]*\d(?:\.\d+)?(?=[^\d.,]|[.,][^\d])", text) is not None




def run_gsm8k(model: Any, limit: int = 0, max_steps: int = 4, data_dir: str | None = None) -> dict[str, Any]:
    """GSM8K accuracy with the calculator agent and without tools."""
    from aieng.agents import Agent, ReasoningEngine
    from aieng.agents.scoring import GSM8K_INSTRUCTIONS, last_number, same_number
    from aieng.agents.tools import ToolBox, calculator
    from aieng.data import load_gsm8k
    from aieng.llm.constrain import decode_free

    rows = load_gsm8k(data_dir)
    rows = rows[:limit] if limit > 0 else rows
    t_start = time.perf_counter()
    # without tools
    ok = tok = 0
    t0 = time.perf_counter()
    for i, r in enumerate(rows, 1):
        msgs = [{"role": "user", "content": r["question"] + "\nThink step by step, then end with: The answer is <number>."}]
        out = decode_free(model, msgs, max_new_tokens=160, stop_when=_stated_answer)
        text = out.text
        tok += out.prompt_tokens + out.completion_tokens
        m = re.search(r"answer is\s*\$?(-?[\d,]+(?:\.\d+)?)", text)
        pred = float(m.group(1).replace(",", "")) if m else last_number(text)
        ok += int(same_number(pred, r["final"]))
        _progress(i, len(rows), "gsm8k without tools", t0)
    n = len(rows)
    without = {"n": n, "valid_call_rate": None, "accuracy": ok / max(n, 1), "steps_per_task": 1.0,
               "tokens_per_task": tok / max(n, 1), "wall_s": round(time.perf_counter() - t0, 1)}
    # with the calculator agent
    agent = Agent(ReasoningEngine(model, max_new_tokens=64, max_calls=1), ToolBox([calculator]), max_steps=max_steps,
                  max_tokens=4000, answer_type="number", instructions=GSM8K_INSTRUCTIONS, tool_first=True)
    ok = tok = steps = valid = replies = used_calc = 0
    stops: dict[str, int] = {}
    t0 = time.perf_counter()
    for i, r in enumerate(rows, 1):
        trace = agent.run(r["question"])
        ok += int(trace.stop_reason == "answer" and same_number(trace.answer, r["final"]))
        tok += trace.tokens
        steps += len(trace.steps)
        replies += len(trace.steps)
        valid += sum(s.error is None for s in trace.steps)
        used_calc += int(any(c["name"] == "calculator" for s in trace.steps for c in s.calls))
        stops[trace.stop_reason] = stops.get(trace.stop_reason, 0) + 1
        _progress(i, len(rows), "gsm8k with calculator", t0)
    with_calc = {"n": n, "valid_call_rate": valid / max(replies, 1), "accuracy": ok / max(n, 1),
                 "steps_per_task": steps / max(n, 1), "tokens_per_task": tok / max(n, 1),
                 "used_calculator": used_calc / max(n, 1), "stop_reasons": stops,
                 "wall_s": round(time.perf_counter() - t0, 1)}
    cats = {"with_calculator": with_calc, "without_tools": without}
    return {"suite": "gsm8k", "model": str(getattr(model, "name", "")), "categories": cats,
            "overall": {"valid_call_rate": with_calc["valid_call_rate"],
                        "accuracy": (with_calc["accuracy"] + without["accuracy"]) / 2},
            "wall_s": round(time.perf_counter() - t_start, 1)}


def run(args: argparse.Namespace) -> dict[str, Any]:
    from aieng.llm import load_chat_model

    if getattr(args, "threads", 0):
        import torch

        torch.set_num_threads(args.threads)
    model = load_chat_model(args.model)
    if args.suite == "bfcl":
        cats = [c.strip() for c in args.categories.split(",") if c.strip()] or None
        return run_bfcl(model, args.decoding, args.n_per_category, args.data_dir, cats, args.max_new_tokens)
    return run_gsm8k(model, args.limit, args.max_steps, args.data_dir)


def format_table(result: dict[str, Any]) -> str:
    """The human-readable report."""
    def pct(v: Any) -> str:
        return "   n/a" if v is None else f"{100 * v:5.1f}%"

    head = f"suite {result['suite']}, model {result['model']}" + (f", decoding {result['decoding']}" if "decoding" in result else "")
    lines = [head, f"{'category':20s} {'n':>4s} {'valid calls':>11s} {'accuracy':>9s}"]
    for name, c in result["categories"].items():
        lines.append(f"{name:20s} {c['n']:4d} {pct(c['valid_call_rate']):>11s} {pct(c['accuracy']):>9s}"
                     + (f"   steps/task {c['steps_per_task']:.2f}, tokens/task {c['tokens_per_task']:.0f}" if "steps_per_task" in c else ""))
    o = result["overall"]
    lines.append(f"{'overall':20s} {o.get('n', ''):>4} {pct(o['valid_call_rate']):>11s} {pct(o['accuracy']):>9s}")
    if "steps_per_task" in result:
        lines.append(f"steps per task {result['steps_per_task']:.2f}, tokens per task {result['tokens_per_task']:.0f}")
    lines.append(f"wall time {result['wall_s']:.1f} s")
    return "\n".join(lines)
