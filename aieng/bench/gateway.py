"""The LLM gateway under load (Month 11): latency, throughput, refusals, failures and caching.

``python -m aieng.bench gateway [--requests 16] [--levels 1,4,8] [--max-tokens 16] [--slow-s 0.5]``

Starts two SmolLM2 worker processes (the second slowed by ``injected_delay_s = --slow-s``, a named,
deliberate delay so the balancing policies meet unequal workers) and one gateway per policy
(round-robin, least-outstanding). At each concurrency level it sends ``--requests`` distinct prompts with
an async httpx client on loopback and records p50/p95 latency, throughput, 429s and 5xx. Then: a burst on
a key with a small request budget (429s with Retry-After), one worker SIGKILLed under load (every
request answered 200, or 5xx with Retry-After), and the cache: :data:`aieng.ops.cache.STREAM` through a
gateway with exact and semantic caches (hit rate and tokens saved from its ``/metrics``) plus the offline
threshold sweep of :func:`aieng.ops.cache.simulate` (false hits). Figures go to
``chapters/11-llmops/results/gateway.json``.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from typing import Any

HELP = "LLM gateway: p50/p95/throughput per load level and policy, 429s, 5xx, worker kill, cache hit rate"
CHAPTER = "11-llmops"


def results_name(args: argparse.Namespace) -> str:
    from aieng.bench.record import scoped_name

    return scoped_name("gateway", args, {"requests": 16, "levels": "1,4,8", "max_tokens": 16, "slow_s": 0.5})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--requests", type=int, default=16, help="requests per level and policy")
    parser.add_argument("--levels", default="1,4,8", help="concurrency levels, comma-separated")
    parser.add_argument("--max-tokens", type=int, default=16, help="max_tokens per request")
    parser.add_argument("--slow-s", type=float, default=0.5, help="injected_delay_s of the second worker")


def _body(text: str, max_tokens: int) -> dict[str, Any]:
    return {"model": "smollm2", "messages": [{"role": "user", "content": text}], "max_tokens": max_tokens}


def run(args: argparse.Namespace) -> dict[str, Any]:
    from aieng.ops.balance import load_test
    from aieng.ops.cache import STREAM, simulate
    from aieng.ops.gateway import GatewayCluster, KeyPolicy, scrape
    from aieng.retrieval import load_embedder

    key, small = "ak_bench_" + "k" * 32, "ak_small_" + "s" * 32
    keys = {key: KeyPolicy("bench", burst=10_000, per_s=10_000, token_quota=10**7, tokens_per_s=10**5),
            small: KeyPolicy("small", burst=5, per_s=0.5, token_quota=10**6, tokens_per_s=10**4)}
    auth = {"Authorization": f"Bearer {key}"}
    levels = [int(x) for x in args.levels.split(",")]
    t0 = time.perf_counter()

    def say(msg: str) -> None:
        print(f"  gateway: {msg} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)

    out: dict[str, Any] = {"requests_per_level": args.requests, "max_tokens": args.max_tokens,
                           "injected_delay_s": [0.0, args.slow_s], "levels": {}}
    with GatewayCluster(keys, injected_delays_s=(0.0, args.slow_s), exact_cache=False) as cluster:
        say("workers and gateway up")
        gateways = {"least_outstanding": cluster.main,
                    "round_robin": cluster.gateway(policy="round_robin")}
        for level in levels:
            for name, gw in gateways.items():
                bodies = [_body(f"Write one short sentence about the number {level * 1000 + i}.",
                                args.max_tokens) for i in range(args.requests)]
                s = load_test(gw.url + "/v1/chat/completions", bodies, level, headers=auth).summary()
                out["levels"].setdefault(f"c{level}", {})[name] = s
                say(f"concurrency {level}, {name}: p50 {s['p50_s']:.2f} s, p95 {s['p95_s']:.2f} s, "
                    f"{s['throughput_rps']:.2f} req/s")
        burst = load_test(cluster.url + "/v1/chat/completions",
                          [_body(f"Say hi {i}.", 2) for i in range(12)], 4,
                          headers={"Authorization": f"Bearer {small}"}).summary()
        out["burst"] = {"key_burst": 5, "requests": 12, "n_429": burst["n_429"], "ok": burst["ok"]}
        cached = cluster.gateway(semantic_threshold=0.9, exact_cache=True)
        for _, text in STREAM:
            load_test(cached.url + "/v1/chat/completions", [_body(text, args.max_tokens)], 1, headers=auth)
        m = scrape(cached.url)
        hits = sum(v for k, v in m.items() if k.startswith("gateway_cache_hits_total"))
        spent = sum(v for k, v in m.items() if k.startswith("gateway_tokens_total"))
        misses = m.get("gateway_cache_misses_total", 0.0)
        out["cache"] = {"threshold": 0.9, "requests": len(STREAM), "hits": hits, "hit_rate": hits / len(STREAM),
                        "tokens_saved": m.get("gateway_tokens_saved_total", 0.0), "tokens_spent": spent,
                        "misses": misses}
        per_miss = spent / misses if misses else 0.0
        victim = cluster.workers[1]
        timer = threading.Timer(2.0, victim.kill)
        timer.start()
        kill = load_test(cluster.url + "/v1/chat/completions",
                         [_body(f"Count to {i}.", args.max_tokens) for i in range(args.requests)], 4,
                         headers=auth).summary()
        timer.join()
        out["worker_killed"] = {k: kill[k] for k in ("requests", "ok", "n_5xx", "n_5xx_without_retry_after",
                                                     "no_answer")}
        say(f"worker killed: {kill['ok']}/{kill['requests']} ok, {kill['n_5xx']} 5xx")
    embed = load_embedder().encode
    out["cache_sweep"] = {f"t{t:.2f}": simulate(STREAM, embed, t, {q: per_miss for q, _ in STREAM})
                          for t in (0.6, 0.7, 0.8, 0.9, 0.95)}
    out["wall_s"] = round(time.perf_counter() - t0, 1)
    return out


def format_table(result: dict[str, Any]) -> str:
    lines = [f"{'level':>6} {'policy':>18} {'p50 s':>7} {'p95 s':>7} {'req/s':>6} {'429':>4} {'5xx':>4}"]
    for level, policies in result["levels"].items():
        for name, s in policies.items():
            lines.append(f"{level:>6} {name:>18} {s['p50_s']:7.2f} {s['p95_s']:7.2f} {s['throughput_rps']:6.2f} "
                         f"{s['n_429']:4d} {s['n_5xx']:4d}")
    lines.append(f"burst: {result['burst']}")
    lines.append(f"worker killed: {result['worker_killed']}")
    lines.append(f"cache: {result['cache']}")
    for t, s in result["cache_sweep"].items():
        lines.append(f"  sweep {t}: {s}")
    return "\n".join(lines)
