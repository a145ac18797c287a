"""An LLM gateway: one front door for every model call, run as its own process.

Taught in Month 11 (chapters/11-llmops). ``create_gateway_app(config)`` builds a FastAPI app; ``python -m
aieng.ops.gateway --config FILE.json [--host H --port P]`` serves it (default: a free loopback port,
printed as ``PORT <n>``); :class:`GatewayCluster` starts model workers (:mod:`aieng.ops.worker`) and a
gateway in front of them as child processes, and stops them all.

Routes: ``POST /v1/chat/completions`` (OpenAI-compatible, so ``aieng.llm.load_chat_model("http://.../v1")``
talks to it), ``GET /healthz`` (each worker's breaker and requests in flight), ``GET /metrics`` (Prometheus).

A chat request passes, in order:

1. **authentication**: ``Authorization: Bearer <key>`` or ``X-API-Key``; only SHA-256 hashes of the keys
   are in the config (:mod:`aieng.foundations.auth`) -> 401 with the reason;
2. **validation**: pydantic -> 422 naming the field (400 for a body that is not JSON); an unknown model
   -> 404 naming the served ones;
3. **per-key limits** (:mod:`aieng.foundations.ratelimit`): a request bucket, then a token quota charged
   ``max_tokens`` (the most the call can cost) -> 429 with ``Retry-After`` and the reason;
4. **cache** (:mod:`aieng.ops.cache`), for ``temperature == 0`` unless ``Cache-Control: no-cache``:
   exact, then semantic if configured; a hit spends no quota and no model time (``X-Cache``);
5. **balancer** (:mod:`aieng.ops.balance`) picks a worker whose **circuit breaker**
   (:mod:`aieng.ops.breaker`) is not open; a dropped connection or a 5xx is retried on another worker
   after an exponential back-off with jitter. When every worker is out: 503 with ``Retry-After``.

Every request is logged as one JSON line whose strings went through :func:`aieng.ops.redact.redact`.
Nothing the client sends can produce a traceback: an unexpected error is a 500 ``internal error``.
"""

import argparse
import asyncio
import json
import math
import os
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from aieng.foundations.auth import hash_api_key
from aieng.foundations.ratelimit import RateLimiter
from aieng.ops.balance import POLICIES, Worker, scrape
from aieng.ops.breaker import OPEN, CircuitBreaker, backoff
from aieng.ops.cache import ExactCache, SemanticCache, prompt_text, request_key
from aieng.ops.redact import redact
from aieng.ops.worker import Process, serve_forever, start_worker

__all__ = ["ChatRequest", "Message", "Problem", "KeyPolicy", "GatewayConfig", "create_gateway_app", "start_gateway",
           "GatewayCluster", "scrape", "main"]


@dataclass
class KeyPolicy:
    """A key's limits: ``burst`` requests then ``per_s``/s; ``token_quota`` tokens refilled at ``tokens_per_s``."""

    owner: str
    burst: float = 20
    per_s: float = 5.0
    token_quota: float = 20_000
    tokens_per_s: float = 100.0


@dataclass
class GatewayConfig:
    """Everything the gateway process needs; ``keys`` maps the SHA-256 of each key to its policy."""

    workers: list[str]
    keys: dict[str, KeyPolicy]
    policy: str = "least_outstanding"
    models: tuple[str, ...] = ("smollm2",)
    max_tokens_cap: int = 256
    retries: int = 2
    backoff_base_s: float = 0.05
    breaker_failures: int = 2
    breaker_reset_s: float = 5.0
    upstream_timeout_s: float = 120.0
    exact_cache: bool = True
    semantic_threshold: float | None = None
    log_path: str | None = None

    @classmethod
    def from_json(cls, text: str) -> "GatewayConfig":
        raw = json.loads(text)
        raw["keys"] = {h: KeyPolicy(**p) for h, p in raw["keys"].items()}
        raw["models"] = tuple(raw.get("models", ("smollm2",)))
        return cls(**raw)

    def to_json(self) -> str:
        return json.dumps(asdict(self))


class Message(BaseModel):
    """One chat message."""

    model_config = ConfigDict(extra="forbid")
    role: Literal["system", "user", "assistant"]
    content: str = Field(max_length=20_000)


class ChatRequest(BaseModel):
    """The OpenAI chat-completions body (fields a client may add, such as ``user``, are ignored)."""

    model_config = ConfigDict(extra="ignore")
    model: str = Field(min_length=1, max_length=200)
    messages: list[Message] = Field(min_length=1, max_length=64)
    max_tokens: int = Field(16, ge=1, le=4096)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    stream: Literal[False] = Field(False, description="streaming is not offered by this gateway")
    seed: int | None = None


class Problem(BaseModel):
    """Every error body: one reason."""

    detail: str


def _metrics() -> dict[str, Any]:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

    reg = CollectorRegistry()
    return {
        "registry": reg,
        "seconds": Histogram("gateway_request_seconds", "Time to answer a request", ["route"], registry=reg,
                             buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64)),
        "requests": Counter("gateway_requests", "Requests answered, by status", ["status"], registry=reg),
        "tokens": Counter("gateway_tokens", "Model tokens spent, prompt and completion", ["kind"], registry=reg),
        "errors": Counter("gateway_errors", "Refusals and failures, by reason", ["reason"], registry=reg),
        "cache_hits": Counter("gateway_cache_hits", "Answers served from a cache", ["kind"], registry=reg),
        "cache_misses": Counter("gateway_cache_misses", "Cacheable requests the caches missed", registry=reg),
        "tokens_saved": Counter("gateway_tokens_saved", "Tokens a cache hit did not spend", registry=reg),
        "retries": Counter("gateway_upstream_retries", "Requests retried on another worker", registry=reg),
        "outstanding": Gauge("gateway_worker_outstanding", "Requests in flight per worker", ["worker"],
                             registry=reg),
        "breaker_open": Gauge("gateway_worker_breaker_open", "1 when the worker's breaker is open",
                              ["worker"], registry=reg),
    }


def create_gateway_app(config: GatewayConfig, embed: Any = None) -> Any:
    """The gateway's FastAPI app. ``embed`` (texts -> unit rows) serves the semantic cache; when the
    config sets ``semantic_threshold`` and no ``embed`` is given, MiniLM is loaded at start-up."""
    import httpx
    from fastapi import Depends, FastAPI, HTTPException, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, PlainTextResponse
    from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    metrics = _metrics()
    workers = [Worker(url.rstrip("/"), CircuitBreaker(config.breaker_failures, config.breaker_reset_s))
               for url in config.workers]
    if not workers or config.policy not in POLICIES:
        raise ValueError(f"need >= 1 worker URL and a policy in {sorted(POLICIES)}; got {config.policy!r}")
    policy = POLICIES[config.policy]()
    requests_limiter = {h: RateLimiter(p.burst, p.per_s) for h, p in config.keys.items()}
    token_limiter = {h: RateLimiter(p.token_quota, p.tokens_per_s) for h, p in config.keys.items()}
    exact = ExactCache() if config.exact_cache else None
    state: dict[str, Any] = {"semantic": None, "client": None}
    log_lock = threading.Lock()

    if config.semantic_threshold is not None:  # loaded before the server listens, not in its start-up
        if embed is None:
            from aieng.retrieval import load_embedder

            embed = load_embedder().encode
        state["semantic"] = SemanticCache(embed, config.semantic_threshold)

    @asynccontextmanager
    async def lifespan(app: Any) -> Any:
        state["client"] = httpx.AsyncClient(timeout=config.upstream_timeout_s,
                                            limits=httpx.Limits(max_connections=256))
        yield
        await state["client"].aclose()

    errors = {code: {"model": Problem, "description": text} for code, text in [
        (400, "Not JSON"), (401, "Missing or unknown API key"), (404, "Unknown model"), (422, "A field does "
        "not validate"), (429, "Rate limit or quota: wait Retry-After s"), (503, "No worker: retry later")]}
    app = FastAPI(title="aieng LLM gateway", version="1.0", lifespan=lifespan, responses=errors)

    def log(line: dict[str, Any]) -> None:
        if config.log_path is None:
            return None
        clean = {k: redact(v) if isinstance(v, str) else v for k, v in line.items()}
        with log_lock, open(config.log_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(clean) + "\n")

    @app.middleware("http")
    async def measure(request: Request, call_next: Any) -> Any:
        t0 = time.perf_counter()
        request.state.log = {}
        try:
            response = await call_next(request)
        except Exception:  # a bug: answered, counted and logged, never shown
            response = JSONResponse({"detail": "internal error"}, status_code=500)
        seconds = time.perf_counter() - t0
        route = request.url.path
        if route not in ("/metrics", "/healthz"):
            metrics["seconds"].labels(route).observe(seconds)
            metrics["requests"].labels(str(response.status_code)).inc()
            log({"time": round(time.time(), 3), "method": request.method, "path": route,
                 "status": response.status_code, "latency_ms": round(1000 * seconds, 1), **request.state.log})
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errs = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in errs):
            metrics["errors"].labels("bad_json").inc()
            return JSONResponse({"detail": "body is not valid JSON"}, status_code=400)
        metrics["errors"].labels("validation").inc()
        where = [".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body" for e in errs[:5]]
        detail = "; ".join(f"{w}: {e.get('msg', 'invalid')}" for w, e in zip(where, errs))
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> JSONResponse:
        metrics["errors"].labels("internal").inc()
        return JSONResponse({"detail": "internal error"}, status_code=500)

    bearer = HTTPBearer(auto_error=False)
    key_header = APIKeyHeader(name="X-API-Key", auto_error=False)

    def caller(request: Request, token: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
               api_key: Annotated[str | None, Depends(key_header)]) -> str:
        key = api_key if api_key is not None else (token.credentials if token else None)
        if not key:
            metrics["errors"].labels("auth").inc()
            raise HTTPException(401, "missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key'",
                                headers={"WWW-Authenticate": "Bearer"})
        digest = hash_api_key(key)
        if digest not in config.keys:  # a dict lookup by hash: the key itself is never stored
            metrics["errors"].labels("auth").inc()
            raise HTTPException(401, "unknown API key", headers={"WWW-Authenticate": "Bearer"})
        request.state.log["owner"] = config.keys[digest].owner
        return digest

    def refuse(reason: str, label: str, wait_s: float) -> HTTPException:
        metrics["errors"].labels(label).inc()
        wait = max(1, math.ceil(wait_s)) if math.isfinite(wait_s) else 3600
        return HTTPException(429, reason, headers={"Retry-After": str(wait)})

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "policy": policy.name,
                "workers": [{"url": w.url, "breaker": w.breaker.state, "outstanding": w.outstanding,
                             "served": w.served} for w in workers]}

    @app.get("/metrics", response_class=PlainTextResponse)
    def prometheus() -> PlainTextResponse:
        for w in workers:
            metrics["outstanding"].labels(w.url).set(w.outstanding)
            metrics["breaker_open"].labels(w.url).set(float(w.breaker.state == OPEN))
        return PlainTextResponse(generate_latest(metrics["registry"]), media_type=CONTENT_TYPE_LATEST)

    async def forward(payload: dict[str, Any], request: Request) -> tuple[dict[str, Any], Worker, int]:
        tried: set[str] = set()
        for attempt in range(config.retries + 1):
            ordered = policy.order(workers)
            chosen = next((w for w in ordered if w.url not in tried and w.breaker.allow()), None) or \
                next((w for w in ordered if w.breaker.allow()), None)
            if chosen is None:
                break
            tried.add(chosen.url)
            chosen.outstanding += 1
            try:
                resp = await state["client"].post(chosen.url + "/v1/chat/completions", json=payload)
                failed = resp.status_code >= 500
            except httpx.HTTPError:
                failed = True
            finally:
                chosen.outstanding -= 1
            if not failed and resp.status_code == 200:
                chosen.breaker.record_success()
                chosen.served += 1
                return resp.json(), chosen, attempt + 1
            if not failed:  # the worker refused the request itself: not its health, not retried
                chosen.breaker.record_success()
                raise HTTPException(502, f"the worker refused the request: HTTP {resp.status_code}")
            chosen.breaker.record_failure()
            metrics["errors"].labels("upstream").inc()
            if attempt < config.retries:
                metrics["retries"].inc()
                await asyncio.sleep(backoff(attempt, config.backoff_base_s))
        metrics["errors"].labels("no_worker").inc()
        wait = min(w.breaker.retry_after() for w in workers)
        raise HTTPException(503, "no worker could answer (all failed or their circuit breakers are open)",
                            headers={"Retry-After": str(max(1, math.ceil(wait)))})

    @app.post("/v1/chat/completions")
    async def chat(body: ChatRequest, request: Request,
                   digest: Annotated[str, Depends(caller)]) -> JSONResponse:
        messages = [m.model_dump() for m in body.messages]
        text = prompt_text(messages)
        request.state.log.update(model=body.model, prompt=text, max_tokens=body.max_tokens)
        if body.model not in config.models:
            metrics["errors"].labels("unknown_model").inc()
            raise HTTPException(404, f"unknown model {body.model!r}; this gateway serves {list(config.models)}")
        if body.max_tokens > config.max_tokens_cap:
            metrics["errors"].labels("validation").inc()
            raise HTTPException(422, f"max_tokens: at most {config.max_tokens_cap} on this gateway")
        decision = requests_limiter[digest].check(digest)
        if not decision.allowed:
            p = config.keys[digest]
            raise refuse(f"rate limit: {p.burst:g} requests burst, {p.per_s:g}/s; retry after "
                         f"{max(1, math.ceil(decision.retry_after))} s", "rate_limit", decision.retry_after)
        cacheable = body.temperature == 0 and "no-cache" not in request.headers.get("cache-control", "")
        key = request_key(body.model, messages, body.max_tokens, body.temperature)
        scope = f"{body.model}|{body.max_tokens}"
        vector = None
        if cacheable:
            hit, kind = (exact.get(key) if exact else None), "exact"
            if hit is None and state["semantic"] is not None:
                vector = (await asyncio.to_thread(state["semantic"].embed, [text]))[0]
                hit, _, _ = state["semantic"].lookup_vector(vector, scope)
                kind = "semantic"
            if hit is not None:
                metrics["cache_hits"].labels(kind).inc()
                metrics["tokens_saved"].inc(hit["usage"]["total_tokens"])
                request.state.log["cache"] = kind
                answer = {**hit, "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}}
                return JSONResponse(answer, headers={"X-Cache": kind})
            metrics["cache_misses"].inc()
        quota = token_limiter[digest].check(digest, cost=body.max_tokens)
        if not quota.allowed:
            p = config.keys[digest]
            why = (f"token quota: this request may cost {body.max_tokens} tokens, the quota holds "
                   f"{quota.remaining:.0f} of {p.token_quota:g} (refilled at {p.tokens_per_s:g}/s)")
            raise refuse(why, "quota", quota.retry_after)
        payload = body.model_dump(exclude={"stream"})
        answer, worker, attempts = await forward(payload, request)
        usage = answer.get("usage", {})
        metrics["tokens"].labels("prompt").inc(usage.get("prompt_tokens", 0))
        metrics["tokens"].labels("completion").inc(usage.get("completion_tokens", 0))
        if cacheable and exact is not None:
            exact.put(key, answer)
        if cacheable and state["semantic"] is not None:
            state["semantic"].put(text, answer, scope, vector=vector)
        request.state.log.update(worker=worker.url, attempts=attempts, cache="miss" if cacheable else "off",
                                 completion_tokens=usage.get("completion_tokens", 0))
        return JSONResponse(answer, headers={"X-Worker": worker.url, "X-Attempts": str(attempts),
                                             "X-Cache": "miss" if cacheable else "off"})

    return app


def start_gateway(config: GatewayConfig, ready_timeout_s: float = 600.0) -> Process:
    """The gateway as a child process (its config passed in a temporary file, keys only as hashes)."""
    fd, path = tempfile.mkstemp(prefix="aieng-gateway-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        f.write(config.to_json())
    try:
        return Process(["-m", "aieng.ops.gateway", "--config", path], ready_timeout_s, name="gateway")
    finally:
        os.unlink(path)


class GatewayCluster:
    """``len(injected_delays_s)`` model workers and one gateway in front of them, all child processes.

    ``keys`` maps each plain API key to its :class:`KeyPolicy` (only hashes reach the gateway). Other
    keyword arguments go to :class:`GatewayConfig`. :meth:`gateway` starts one more gateway over the same
    workers (another policy, say). Leaving the ``with`` block stops every process.
    """

    def __init__(self, keys: Mapping[str, KeyPolicy], injected_delays_s: Sequence[float] = (0.0, 0.0),
                 ready_timeout_s: float = 600.0, **config: Any) -> None:
        self.hashed = {hash_api_key(k): p for k, p in keys.items()}
        self.config, self.processes = config, []
        self.workers: list[Process] = []
        try:
            self.workers = [start_worker(d, wait=False) for d in injected_delays_s]
            self.processes = list(self.workers)
            for w in self.workers:
                w.wait_ready(ready_timeout_s)
            self.main = self.gateway()
        except BaseException:
            self.stop()
            raise

    @property
    def url(self) -> str:
        return self.main.url

    def gateway(self, **overrides: Any) -> Process:
        cfg = GatewayConfig(workers=[w.url for w in self.workers], keys=self.hashed,
                            **{**self.config, **overrides})
        proc = start_gateway(cfg)
        self.processes.append(proc)
        return proc

    def stop(self) -> None:
        for proc in [*reversed(self.processes), *self.workers]:  # stopping twice is harmless
            proc.stop()

    def __enter__(self) -> "GatewayCluster":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m aieng.ops.gateway", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="a JSON file holding a GatewayConfig")
    parser.add_argument("--host", default="127.0.0.1", help="0.0.0.0 in a container (default: loopback only)")
    parser.add_argument("--port", type=int, default=0, help="a fixed port (default: a free one, printed)")
    args = parser.parse_args(argv)
    with open(args.config, encoding="utf-8") as f:
        serve_forever(create_gateway_app(GatewayConfig.from_json(f.read())), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
