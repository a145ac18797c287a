"""The LLM gateway as a real process in front of worker processes (stand-in workers here, the real
SmolLM2 worker in one end-to-end test): auth, validation, limits, caches, balancing, retries, the
circuit breaker, redacted logs, metrics, and a worker killed under load."""

from __future__ import annotations

import json
import signal
import time

import httpx
import pytest

from aieng.foundations.auth import hash_api_key
from aieng.ops.balance import load_test
from aieng.ops.gateway import GatewayConfig, KeyPolicy, scrape, start_gateway
from aieng.ops.worker import Process

# A scripted stand-in worker (a test double, not a model): it echoes the last message after a delay,
# and counts its tokens as words. It runs as its own process, as a real worker does.
ECHO_WORKER = """
import asyncio, os, sys
from fastapi import FastAPI
from aieng.ops.worker import serve_forever
delay = float(sys.argv[1])
app = FastAPI()
@app.get('/healthz')
def healthz():
    return {'status': 'ok'}
@app.post('/v1/chat/completions')
async def chat(body: dict):
    await asyncio.sleep(delay)
    text = 'echo: ' + body['messages'][-1]['content']
    n = min(len(text.split()), body.get('max_tokens', 16))
    return {'id': 'x', 'object': 'chat.completion', 'model': body['model'],
            'choices': [{'index': 0, 'finish_reason': 'stop',
                         'message': {'role': 'assistant', 'content': text}}],
            'usage': {'prompt_tokens': 3, 'completion_tokens': n, 'total_tokens': 3 + n},
            'pid': os.getpid()}
serve_forever(app)
"""

KEY, OTHER = "ak_" + "t" * 40, "ak_" + "u" * 40


def echo_worker(delay_s: float = 0.0) -> Process:
    return Process(["-c", ECHO_WORKER, str(delay_s)], 60, name="echo-worker")


def body(text: str = "hello", **extra):
    return {"model": "smollm2", "messages": [{"role": "user", "content": text}], "max_tokens": 8, **extra}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    log = tmp_path_factory.mktemp("gw") / "requests.jsonl"
    workers = [echo_worker(0.02), echo_worker(0.02)]
    keys = {hash_api_key(KEY): KeyPolicy("ada", burst=1000, per_s=1000, token_quota=10**6, tokens_per_s=1e4),
            hash_api_key(OTHER): KeyPolicy("bob", burst=2, per_s=0.01, token_quota=20, tokens_per_s=0.01)}
    gw = start_gateway(GatewayConfig([w.url for w in workers], keys, log_path=str(log),
                                     breaker_reset_s=30))
    try:
        yield {"gw": gw, "workers": workers, "log": log}
    finally:
        gw.stop()
        for w in workers:
            w.stop()


def post(url, json_body, key=KEY, **headers):
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return httpx.post(url + "/v1/chat/completions", json=json_body, headers=headers, timeout=30)


def test_keys_are_checked_and_only_their_hashes_reach_the_gateway(cluster):
    url = cluster["gw"].url
    assert post(url, body(), key=None).status_code == 401
    r = post(url, body(), key="ak_wrong")
    assert r.status_code == 401 and r.json()["detail"] == "unknown API key"
    assert post(url, body()).status_code == 200
    assert httpx.post(url + "/v1/chat/completions", json=body("x1"), headers={"X-API-Key": KEY}).status_code == 200


@pytest.mark.parametrize("payload,status,words", [
    ({"model": "smollm2"}, 422, "messages"),
    (body(max_tokens=0), 422, "max_tokens"),
    (body(max_tokens=100_000), 422, "max_tokens"),
    (body(temperature=9), 422, "temperature"),
    ({**body(), "messages": [{"role": "robot", "content": "hi"}]}, 422, "role"),
    (body(stream=True), 422, "stream"),
    (body(model="gpt-9"), 404, "unknown model"),
])
def test_bad_input_is_a_4xx_with_a_reason_never_a_traceback(cluster, payload, status, words):
    r = post(cluster["gw"].url, payload)
    assert r.status_code == status, r.text
    assert words in r.json()["detail"] and "Traceback" not in r.text


def test_a_body_that_is_not_json_is_a_400(cluster):
    r = httpx.post(cluster["gw"].url + "/v1/chat/completions", content=b"{nope",
                   headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
    assert r.status_code == 400 and "JSON" in r.json()["detail"]


def test_rate_limit_and_token_quota_answer_429_with_retry_after_and_a_reason(cluster):
    url = cluster["gw"].url
    r = post(url, body("q1", max_tokens=16), key=OTHER)  # asks for 16 of bob's 20 tokens
    assert r.status_code == 200
    r = post(url, body("q2", max_tokens=16), key=OTHER)
    assert r.status_code == 429 and "token quota" in r.json()["detail"] and int(r.headers["retry-after"]) >= 1
    r = post(url, body("q3", max_tokens=1), key=OTHER)  # bob's burst of 2 requests is spent
    assert r.status_code == 429 and "rate limit" in r.json()["detail"] and int(r.headers["retry-after"]) >= 1


def test_exact_cache_hits_on_a_respaced_request_and_counts_tokens_saved(cluster):
    url = cluster["gw"].url
    before = scrape(url)
    a = post(url, body("What   is the  capital of France?"))
    b = post(url, body("  What is the capital of France? "))
    c = post(url, body("What is the capital of France?"), **{"Cache-Control": "no-cache"})
    assert (a.headers["x-cache"], b.headers["x-cache"], c.headers["x-cache"]) == ("miss", "exact", "off")
    assert b.json()["choices"] == a.json()["choices"]
    after = scrape(url)
    hits = after["gateway_cache_hits_total{kind=exact}"] - before.get("gateway_cache_hits_total{kind=exact}", 0)
    saved = after["gateway_tokens_saved_total"] - before.get("gateway_tokens_saved_total", 0)
    assert hits == 1 and saved == a.json()["usage"]["total_tokens"]


def test_round_robin_spreads_requests_over_both_workers(cluster):
    result = load_test(cluster["gw"].url + "/v1/chat/completions",
                       [body(f"spread {i}") for i in range(10)], concurrency=2,
                       headers={"Authorization": f"Bearer {KEY}"})
    assert set(result.statuses) == {200}
    assert len(set(result.workers)) == 2


def test_logs_are_redacted(cluster):
    secret = "mail ada@example.com, card 4111 1111 1111 1111, call +44 20 7946 0958, key " + KEY
    assert post(cluster["gw"].url, body(secret)).status_code == 200
    text = cluster["log"].read_text()
    lines = [json.loads(line) for line in text.splitlines()]
    assert any("[EMAIL]" in line.get("prompt", "") for line in lines)
    for leak in ("ada@example.com", "4111 1111", "7946 0958", KEY):
        assert leak not in text


def test_metrics_and_health_are_exposed(cluster):
    url = cluster["gw"].url
    health = httpx.get(url + "/healthz").json()
    assert health["status"] == "ok" and len(health["workers"]) == 2
    text = httpx.get(url + "/metrics").text
    for name in ("gateway_request_seconds_bucket", "gateway_tokens_total", "gateway_errors_total",
                 "gateway_cache_hits_total"):
        assert name in text


def test_openai_client_of_month_7_talks_to_the_gateway(cluster):
    from aieng.llm import load_chat_model

    model = load_chat_model(cluster["gw"].url + "/v1", model="smollm2", api_key=KEY, cache=False)
    assert model.generate([{"role": "user", "content": "ping"}], max_new_tokens=4) == "echo: ping"


def test_a_worker_killed_under_load_loses_no_request():
    workers = [echo_worker(0.05), echo_worker(0.05)]
    keys = {hash_api_key(KEY): KeyPolicy("ada", burst=1000, per_s=1000, token_quota=10**6, tokens_per_s=1e4)}
    gw = start_gateway(GatewayConfig([w.url for w in workers], keys, exact_cache=False))
    try:
        import threading

        def killer():
            time.sleep(0.4)
            workers[1].kill()

        t = threading.Thread(target=killer)
        t.start()
        result = load_test(gw.url + "/v1/chat/completions", [body(f"k{i}") for i in range(60)],
                           concurrency=4, headers={"Authorization": f"Bearer {KEY}"})
        t.join()
        s = result.summary()
        assert not workers[1].alive
        assert s["no_answer"] == 0 and s["n_5xx_without_retry_after"] == 0
        assert s["ok"] + s["n_5xx"] == 60 and s["ok"] >= 55
        assert httpx.get(gw.url + "/healthz").json()["workers"][1]["breaker"] in ("open", "half_open")
    finally:
        gw.stop()
        for w in workers:
            w.stop()
    assert not gw.alive and not any(w.alive for w in workers)


def test_every_worker_down_is_a_503_with_retry_after():
    w = echo_worker()
    keys = {hash_api_key(KEY): KeyPolicy("ada")}
    gw = start_gateway(GatewayConfig([w.url], keys, retries=1, backoff_base_s=0.01))
    try:
        w.kill()
        r = post(gw.url, body())
        assert r.status_code == 503 and int(r.headers["retry-after"]) >= 1 and "worker" in r.json()["detail"]
    finally:
        gw.stop()
        w.stop()


def test_a_stopped_process_leaves_no_port_listening():
    w = echo_worker()
    url = w.url
    w.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/healthz", timeout=2)
    assert w.popen.returncode in (0, -signal.SIGTERM)
