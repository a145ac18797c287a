"""aieng.foundations.webapp: every refusal is a 4xx with a reason, the server leaves nothing behind,
and schemathesis finds no server error in the OpenAPI schema."""

from __future__ import annotations

import socket
import threading

import httpx
import pytest

from aieng.foundations.auth import issue_token
from aieng.foundations.webapp import create_app, fuzz, serve

SECRET = "s" * 32
KEY = "ak_test_key"


@pytest.fixture(scope="module")
def server():
    app = create_app(users={"ada": "correct horse"}, api_keys={KEY: "ada"}, secret=SECRET,
                     capacity=1_000, rate=1_000.0)
    with serve(app) as served:
        yield served


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server.url, timeout=10.0) as c:
        yield c


def _refused(r: httpx.Response, status: int, reason: str) -> None:
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"detail"} and reason in body["detail"], body
    assert "Traceback" not in r.text and "File \"" not in r.text


def test_health_and_login(client):
    assert client.get("/health").json() == {"status": "ok"}
    r = client.post("/token", json={"username": "ada", "password": "correct horse"})
    assert r.status_code == 200 and r.json()["token_type"] == "bearer"
    me = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert client.get("/v1/documents", headers=me).status_code == 200
    _refused(client.post("/token", json={"username": "ada", "password": "wrong"}), 401, "wrong username")


@pytest.mark.parametrize("headers, reason", [
    ({}, "missing token"),
    ({"Authorization": "Bearer not.a.jwt"}, "malformed token"),
    ({"Authorization": f"Bearer {issue_token('ada', SECRET, ttl_s=-5)}"}, "expired token"),
    ({"Authorization": f"Bearer {issue_token('ada', 'x' * 32)}"}, "bad signature"),
    ({"X-API-Key": "ak_guess"}, "unknown API key"),
])
def test_bad_credentials_get_401_with_a_reason(client, headers, reason):
    r = client.get("/v1/documents", headers=headers)
    _refused(r, 401, reason)
    assert r.headers["WWW-Authenticate"] == "Bearer"


def test_bad_bodies_get_4xx_with_a_reason(client):
    key = {"X-API-Key": KEY}
    _refused(client.post("/v1/documents", content=b'{"title": "a",', headers={
        **key, "Content-Type": "application/json"}), 400, "not valid JSON")
    _refused(client.post("/v1/documents", json={"title": "", "text": "x"}, headers=key), 422, "title")
    _refused(client.post("/v1/documents", json={"title": "a", "txt": "x"}, headers=key), 422, "txt")
    _refused(client.get("/v1/documents?limit=0", headers=key), 422, "limit")
    _refused(client.get("/v1/documents/999999", headers=key), 404, "no document 999999")


def test_documents_are_private_paginated_and_idempotent(client):
    ada = {"X-API-Key": KEY}
    created = [client.post("/v1/documents", json={"title": f"t{i}", "text": "x"}, headers=ada).json()
               for i in range(5)]
    seen, cursor = [], 0
    while cursor is not None:
        page = client.get("/v1/documents", params={"limit": 2, "cursor": cursor}, headers=ada).json()
        seen += [d["id"] for d in page["items"]]
        cursor = page["next_cursor"]
    assert [d["id"] for d in created] == [i for i in seen if i in {d["id"] for d in created}]
    assert len(seen) == len(set(seen))
    bob = {"Authorization": f"Bearer {issue_token('bob', SECRET)}"}
    _refused(client.get(f"/v1/documents/{created[0]['id']}", headers=bob), 404, "no document")
    once = {**ada, "Idempotency-Key": "order-42"}
    first = client.post("/v1/documents", json={"title": "pay", "text": "10"}, headers=once)
    again = client.post("/v1/documents", json={"title": "pay", "text": "10"}, headers=once)
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    _refused(client.post("/v1/documents", json={"title": "pay", "text": "99"}, headers=once), 422,
             "Idempotency-Key")
    assert client.delete(f"/v1/documents/{first.json()['id']}", headers=ada).status_code == 204


def test_a_burst_over_the_limit_gets_429_with_retry_after():
    app = create_app(api_keys={KEY: "ada"}, capacity=5, rate=0.5)
    with serve(app) as served, httpx.Client(base_url=served.url, timeout=10.0) as c:
        replies = [c.get("/v1/documents", headers={"X-API-Key": KEY}) for _ in range(20)]
    codes = [r.status_code for r in replies]
    assert codes[:5] == [200] * 5 and 14 <= codes.count(429) <= 15  # a slow machine may refill one
    for r in replies:
        if r.status_code == 429:
            _refused(r, 429, "rate limit")
            assert 1 <= int(r.headers["Retry-After"]) <= 2


def test_a_bug_answers_500_without_a_stack_trace():
    app = create_app()

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    with serve(app) as served:
        r = httpx.get(served.url + "/boom", timeout=10.0)
    assert r.status_code == 500 and r.json() == {"detail": "internal error"} and "secret" not in r.text


def _port_open(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1.0).close()
    except OSError:
        return False
    return True


def test_serve_stops_uvicorn_and_closes_the_port_even_when_the_body_raises():
    before = {t.ident for t in threading.enumerate()}
    with serve(create_app()) as served:
        assert _port_open(served.host, served.port)
    assert not _port_open(served.host, served.port)
    with pytest.raises(ZeroDivisionError), serve(create_app()) as again:
        1 / 0
    assert not _port_open(again.host, again.port)
    assert {t.ident for t in threading.enumerate()} <= before


def test_a_taken_port_is_refused_with_a_reason():
    with serve(create_app()) as served, pytest.raises(RuntimeError, match="cannot listen"):
        with socket.socket() as s:  # SO_REUSEADDR does not let two listeners share a port
            s.bind((served.host, 0))
            with serve(create_app(), port=served.port):
                pass


def test_schemathesis_finds_no_server_error(server):
    report = fuzz(server.url, headers={"X-API-Key": KEY}, max_examples=8)
    assert report.operations == 6 and report.cases >= 50
    assert report.server_errors == 0 and report.failures == []


def test_fuzz_catches_a_planted_server_error():
    app = create_app(api_keys={KEY: "ada"}, capacity=1_000, rate=1_000.0)

    @app.get("/v1/echo")
    def echo(n: int) -> dict[str, int]:
        return {"inverse": 1 // n}  # n == 0: ZeroDivisionError, a 500

    with serve(app) as served:
        report = fuzz(served.url, headers={"X-API-Key": KEY}, max_examples=30, negative=False)
    assert report.server_errors > 0 and any(op == "GET /v1/echo" for op, _, _ in report.failures)
