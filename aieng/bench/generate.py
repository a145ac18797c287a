"""Generation speed of the default chat model in each CPU dtype, and whether greedy answers match fp32.

The benchmark behind Month 7 (chapters/07-transformers-and-llms). ``python -m aieng.bench generate`` loads the
bundled SmolLM2-135M-Instruct four ways, generates greedy answers to :data:`aieng.llm.GREEDY_PROMPTS`
and prints tokens/s, how many answers are token-for-token identical to fp32's, and the default dtype.

Side by side with llama.cpp: whenever ``llama-cpp-python`` can be imported (here, or by the Python
given with ``--llama-python``), the same GGUF file, prompt token ids, number of new tokens and threads
run through llama.cpp in the same run, and the figure is the ratio of aieng's gguf engine to it::

    python3 -m venv /tmp/llama && /tmp/llama/bin/pip install llama-cpp-python==0.3.36   # ~10 min build
    python -m aieng.bench generate --variants gguf --llama-python /tmp/llama/bin/python
"""

from __future__ import annotations

import argparse
import time
from typing import Any

HELP = "tokens/s of the default chat model in fp32, bf16, int8 and gguf, and whether greedy answers match fp32"
CHAPTER = "07-transformers-and-llms"


def results_name(args: argparse.Namespace) -> str:
    from aieng.bench.record import scoped_name

    return scoped_name("generate", args, {"threads": 2, "prompts": None, "max_new_tokens": 48,
                                          "variants": "fp32,bf16,int8,gguf"})

VARIANTS: dict[str, str] = {
    "fp32": "float32 weights and activations (the GGUF's Q4_1 weights dequantised exactly)",
    "bf16": "bfloat16 weights and activations (weights rounded to 8 significant bits)",
    "int8": "torch.ao quantize_dynamic: int8 weights (one scale per output channel, re-quantised from the "
            "dequantised Q4_1 weights) and int8 activations quantised per call; output head in fp32",
    "gguf": "the GGUF file's own Q4_1/Q8_0 blocks through aieng's C kernel (aieng.llm.engine), fp32 activations; "
            "every weight equals fp32's, only the order of additions differs",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-new-tokens", type=int, default=48, help="greedy tokens per prompt (default 48)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (default 2, the book's laptop)")
    parser.add_argument("--prompts", type=int, default=None, help="use only the first N fixed prompts")
    parser.add_argument("--variants", default="fp32,bf16,int8,gguf", help="comma-separated subset of fp32,bf16,int8,gguf")
    parser.add_argument("--llama-python", default=None, metavar="PYTHON",
                        help="a Python interpreter that has llama-cpp-python, to run llama.cpp side by side "
                             "(default: this one, if it can import llama_cpp). Build it in a throwaway "
                             "virtualenv, never in the book's pins: python3 -m venv /tmp/llama && "
                             "/tmp/llama/bin/pip install llama-cpp-python==0.3.36 (about 10 minutes), then "
                             "--llama-python /tmp/llama/bin/python")


def _llama_python(choice: str | None) -> str | None:
    """The interpreter that runs llama.cpp: ``choice``, or this one when it can import llama_cpp."""
    import importlib.util
    import sys

    if choice:
        return choice
    return sys.executable if importlib.util.find_spec("llama_cpp") else None


def _measure_llama_cpp(python: str, prompts: list[list[int]], max_new_tokens: int, threads: int) -> dict[str, Any]:
    """llama.cpp on the same GGUF file, token ids, new tokens and threads (aieng/bench/_llamacpp.py)."""
    import json
    import subprocess
    from pathlib import Path

    from aieng.llm import SMOLLM2_GGUF, smollm2_path

    request = {"model": str(smollm2_path() / SMOLLM2_GGUF), "prompts": prompts,
               "max_new_tokens": max_new_tokens, "threads": threads}
    script = Path(__file__).with_name("_llamacpp.py")
    done = subprocess.run([python, str(script)], input=json.dumps(request), capture_output=True, text=True,
                          timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"llama.cpp via {python} failed:\n{done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout)


def _measure(llm: Any, prompts: list[str], max_new_tokens: int) -> tuple[float, list[list[int]]]:
    answers, n_tokens, seconds = [], 0, 0.0
    llm.generate(prompts[0], max_new_tokens=8)  # warm-up: first-call allocations and kernel choice
    for prompt in prompts:
        ids = llm.encode_chat(prompt)
        t0 = time.perf_counter()
        new = llm.generate_ids(ids, max_new_tokens)  # prompt and new tokens, as a user waits for them
        seconds += time.perf_counter() - t0
        n_tokens += len(new)
        answers.append(new)
    return n_tokens / seconds, answers


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    import transformers

    from aieng.llm import DEFAULT_DTYPE, GREEDY_PROMPTS, load_chat_model

    torch.set_num_threads(args.threads)
    prompts = list(GREEDY_PROMPTS[: args.prompts] if args.prompts else GREEDY_PROMPTS)
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown variant(s) {unknown}; choose from {sorted(VARIANTS)}")
    if "fp32" not in names:
        names.insert(0, "fp32")  # the reference every other variant is compared with
    names.sort(key=lambda n: n != "fp32")
    variants: dict[str, dict[str, Any]] = {}
    reference: list[list[int]] = []
    encoded: list[list[int]] = []  # the prompts' token ids, which llama.cpp gets as they are
    for name in names:
        llm = load_chat_model("smollm2", dtype=name, device="cpu", cache=False)
        tps, answers = _measure(llm, prompts, args.max_new_tokens)
        if name == "fp32":
            reference = answers
            encoded = [llm.encode_chat(p).reshape(-1).tolist() for p in prompts]
        same = sum(a == r for a, r in zip(answers, reference))
        variants[name] = {"tokens_per_s": round(tps, 1), "matches_fp32": same == len(prompts),
                          "identical_answers": f"{same}/{len(prompts)}", "what": VARIANTS[name]}
        if name == "fp32":
            variants[name]["sample"] = llm.tokenizer.decode(answers[0], skip_special_tokens=True)
        del llm
    exact = [n for n, v in variants.items() if v["matches_fp32"]]
    side_by_side = None
    python = _llama_python(args.llama_python)
    if python and "gguf" in variants:
        theirs = _measure_llama_cpp(python, encoded, args.max_new_tokens, torch.get_num_threads())
        same = sum(a == r for a, r in zip(theirs["answers"], reference))
        side_by_side = {"llama_cpp_tokens_per_s": round(theirs["tokens_per_s"], 1),
                        "aieng_gguf_tokens_per_s": variants["gguf"]["tokens_per_s"],
                        "ratio": round(variants["gguf"]["tokens_per_s"] / theirs["tokens_per_s"], 3),
                        "llama_cpp_identical_to_fp32": f"{same}/{len(prompts)}",
                        "llama_cpp_python": theirs["llama_cpp_python"]}
    return {"variants": variants, "default": DEFAULT_DTYPE, "llama_cpp": side_by_side,
            "fastest_exact": max(exact, key=lambda n: variants[n]["tokens_per_s"]),
            "prompts": len(prompts), "max_new_tokens": args.max_new_tokens, "threads": torch.get_num_threads(),
            "torch": torch.__version__, "transformers": transformers.__version__}


def format_table(result: dict[str, Any]) -> str:
    lines = [f"{'dtype':6s} {'tokens/s':>9s}  {'= fp32':>7s}  what"]
    for name, v in result["variants"].items():
        mark = " (default)" if name == result["default"] else ""
        lines.append(f"{name:6s} {v['tokens_per_s']:9.1f}  {v['identical_answers']:>7s}  {v['what']}{mark}")
    lines.append(f"default dtype: {result['default']}; fastest with greedy answers identical to fp32: "
                 f"{result['fastest_exact']}")
    side = result.get("llama_cpp")
    if side:
        lines.append(f"llama.cpp (llama-cpp-python {side['llama_cpp_python']}), same file, prompts and threads: "
                     f"{side['llama_cpp_tokens_per_s']:.1f} tokens/s, {side['llama_cpp_identical_to_fp32']} "
                     f"answers = fp32; aieng gguf / llama.cpp = {side['ratio']:.3f}")
    else:
        lines.append("llama.cpp: not measured (no llama-cpp-python; see --llama-python in --help)")
    lines.append(f"{result['prompts']} prompts x {result['max_new_tokens']} greedy tokens, {result['threads']} threads, "
                 f"torch {result['torch']}, transformers {result['transformers']}")
    return "\n".join(lines)
