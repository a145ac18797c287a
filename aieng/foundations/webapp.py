"""A small REST API done properly, and :func:`serve`, which runs any ASGI app under uvicorn on loopback.

Taught in Month 3 (chapters/03-databases-and-apis); the LLM gateway of Month 11 and the SaaS lab build on
:func:`create_app`'s pieces and run their apps with :func:`serve`.

:func:`create_app` builds a FastAPI app that stores documents per owner:

==========================  =============================================================================
``GET  /health``            liveness, no authentication
``POST /token``             ``{"username", "password"}`` (argon2-hashed on the server) -> a JWT with expiry
``POST /v1/documents``      create; an ``Idempotency-Key`` header makes a retried request safe
``GET  /v1/documents``      list, cursor pagination (``limit``, ``cursor`` -> ``next_cursor``)
``GET  /v1/documents/{id}`` one document (404 when it is not the caller's)
``DELETE /v1/documents/{id}`` delete (204)
==========================  =============================================================================

Every ``/v1`` call needs ``Authorization: Bearer <jwt>`` or ``X-API-Key: <key>`` (keys are stored as their
SHA-256) and spends one token of its owner's :class:`~aieng.foundations.ratelimit.TokenBucket`. Every
refusal is JSON ``{"detail": "<reason>"}`` with the right status: 400 for a body that is not JSON, 401
for a missing, malformed, forged or expired credential, 404, 422 for a body or a parameter that does not
validate, 429 with ``Retry-After`` (whole seconds) when the bucket is empty. A bug answers 500 with
``{"detail": "internal error"}``, never a stack trace.

>>> from aieng.foundations.webapp import create_app, serve
>>> app = create_app(users={"ada": "correct horse"}, api_keys={"ak_demo": "ada"})
>>> with serve(app) as server:
...     httpx.get(server.url + "/health").json()
{'status': 'ok'}

Leaving the ``with`` block stops uvicorn, joins its thread and closes the port (a test checks).
"""


import hashlib
import json
import math
import secrets
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import uvicorn
from fastapi import Depends, FastAPI, Header, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from aieng.foundations.auth import AuthError, hash_api_key, hash_password, issue_token, verify_password, \
    verify_token
from aieng.foundations.ratelimit import Clock, RateLimiter

__all__ = ["create_app", "serve", "Served", "fuzz", "FuzzReport", "DocumentIn", "Document", "Page", "Problem", "TokenOut",
           "Credentials"]


# ---- the contract: request and response bodies ----------------------------------------------------

class DocumentIn(BaseModel):
    """A document to store. Unknown fields are refused, so a typo is a 422, not silently dropped."""

    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=200)
    text: str = Field(max_length=20_000)


class Document(DocumentIn):
    id: int
    owner: str


class Page(BaseModel):
    items: list[Document]
    next_cursor: int | None = Field(description="pass as `cursor` for the next page; null on the last")


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class Problem(BaseModel):
    """Every error body: one human-readable reason."""

    detail: str


_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "description": text} for code, text in [
        (400, "The body is not valid JSON"), (401, "Missing, malformed, forged or expired credential"),
        (422, "The body or a parameter does not validate"),
        (429, "Too many requests: wait Retry-After seconds")]}


# ---- the app ---------------------------------------------------------------------------------------

def _reason(err: dict[str, Any]) -> str:
    where = ".".join(str(part) for part in err.get("loc", ()) if part != "body") or "body"
    return f"{where}: {err.get('msg', 'invalid')}"


def create_app(*, users: Mapping[str, str] | None = None, api_keys: Mapping[str, str] | None = None,
               secret: str | None = None, capacity: float = 10, rate: float = 1.0,
               token_ttl_s: float = 900.0, clock: Clock = time.monotonic) -> FastAPI:
    """The documents API.

    Parameters
    ----------
    users
        ``{username: password}``; only the argon2 hashes are kept.
    api_keys
        ``{api_key: owner}``; only the SHA-256 of each key is kept.
    secret
        The JWT signing secret (default: 32 random bytes, so tokens die with the app).
    capacity, rate
        Each client's token bucket: a burst of ``capacity`` calls, then ``rate`` calls per second.
    token_ttl_s
        How long a token from ``POST /token`` lives.
    clock
        The rate limiter's clock (scripted in tests).
    """
    secret = secret or secrets.token_hex(32)
    password_hashes = {name: hash_password(pw) for name, pw in (users or {}).items()}
    key_owners = {hash_api_key(key): owner for key, owner in (api_keys or {}).items()}
    limiter = RateLimiter(capacity, rate, clock)
    docs: dict[int, Document] = {}
    replays: dict[tuple[str, str], tuple[str, Document]] = {}
    lock = threading.Lock()
    next_id = iter(range(1, 2**62))

    app = FastAPI(title="aieng documents API", version="1.0", responses=_ERRORS)
    app.state.limiter = limiter

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        bad_json = [e for e in errors if e.get("type") == "json_invalid"]
        if bad_json:
            error = bad_json[0].get("ctx", {}).get("error", "")
            return JSONResponse({"detail": f"body is not valid JSON: {error}".rstrip(": ")}, status_code=400)
        return JSONResponse({"detail": "; ".join(_reason(e) for e in errors[:5])}, status_code=422)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:  # logged by uvicorn, never sent
        return JSONResponse({"detail": "internal error"}, status_code=500)

    def _limit(key: str) -> None:
        decision = limiter.check(key)
        if not decision.allowed:
            wait = max(1, math.ceil(decision.retry_after))
            raise HTTPException(429, f"rate limit: {limiter.capacity:g} requests burst, {limiter.rate:g}/s; "
                                     f"retry after {wait} s", headers={"Retry-After": str(wait)})

    bearer = HTTPBearer(auto_error=False)
    key_header = APIKeyHeader(name="X-API-Key", auto_error=False)

    def principal(token: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
                  api_key: Annotated[str | None, Depends(key_header)]) -> str:
        """Who is calling (401 with the reason if nobody valid), after spending one of their tokens."""
        challenge = {"WWW-Authenticate": "Bearer"}
        if api_key is not None:
            owner = key_owners.get(hash_api_key(api_key))
            if owner is None:
                raise HTTPException(401, "unknown API key", headers=challenge)
        else:
            try:
                owner = str(verify_token(token.credentials if token else None, secret)["sub"])
            except AuthError as err:
                raise HTTPException(401, err.reason, headers=challenge) from None
        _limit(f"user:{owner}")
        return owner

    Owner = Annotated[str, Depends(principal)]
    DocId = Annotated[int, Path(ge=1, le=2**62)]

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/token")
    def token(body: Credentials, request: Request) -> TokenOut:
        _limit(f"addr:{request.client.host if request.client else '?'}")
        stored = password_hashes.get(body.username)
        if stored is None or not verify_password(body.password, stored):
            raise HTTPException(401, "wrong username or password")
        return TokenOut(access_token=issue_token(body.username, secret, token_ttl_s),
                        expires_in=int(token_ttl_s))

    @app.post("/v1/documents", status_code=201)
    def create_document(body: DocumentIn, owner: Owner, response: Response,
                        idempotency_key: Annotated[str | None, Header(max_length=128)] = None) -> Document:
        fingerprint = hashlib.sha256(json.dumps(body.model_dump(), sort_keys=True).encode()).hexdigest()
        with lock:
            if idempotency_key is not None and (owner, idempotency_key) in replays:
                seen, doc = replays[(owner, idempotency_key)]
                if seen != fingerprint:
                    raise HTTPException(422, "Idempotency-Key already used with a different body")
                response.headers["Idempotent-Replayed"] = "true"
                return doc
            doc = Document(id=next(next_id), owner=owner, **body.model_dump())
            docs[doc.id] = doc
            if idempotency_key is not None:
                replays[(owner, idempotency_key)] = (fingerprint, doc)
        response.headers["Location"] = f"/v1/documents/{doc.id}"
        return doc

    @app.get("/v1/documents")
    def list_documents(owner: Owner, limit: Annotated[int, Query(ge=1, le=100)] = 10,
                       cursor: Annotated[int, Query(ge=0, le=2**62)] = 0) -> Page:
        with lock:
            mine = [d for d_id, d in sorted(docs.items()) if d.owner == owner and d_id > cursor]
        items = mine[:limit]
        return Page(items=items, next_cursor=items[-1].id if len(mine) > limit else None)

    def _mine(doc_id: int, owner: str) -> Document:
        doc = docs.get(doc_id)
        if doc is None or doc.owner != owner:  # someone else's document is "not found", not "forbidden"
            raise HTTPException(404, f"no document {doc_id}")
        return doc

    @app.get("/v1/documents/{doc_id}", responses={404: {"model": Problem}})
    def get_document(doc_id: DocId, owner: Owner) -> Document:
        with lock:
            return _mine(doc_id, owner)

    @app.delete("/v1/documents/{doc_id}", status_code=204, responses={404: {"model": Problem}})
    def delete_document(doc_id: DocId, owner: Owner) -> Response:
        with lock:
            del docs[_mine(doc_id, owner).id]
        return Response(status_code=204)

    return app


# ---- running it -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Served:
    """A running server: its base ``url``, ``host`` and ``port``."""

    url: str
    host: str
    port: int


@contextmanager
def serve(app: Any, host: str = "127.0.0.1", port: int = 0, timeout_s: float = 15.0) -> Iterator[Served]:
    """Run ``app`` under uvicorn in a background thread on ``host`` (a free port by default).

    The socket is bound here, before uvicorn starts, so the port is known and nobody can take it in
    between. On exit (also when the body raises) uvicorn shuts down, its thread is joined and the socket
    closed: nothing is left listening.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise RuntimeError(f"cannot listen on {host}:{port}: {err}") from err
    bound_host, bound_port = sock.getsockname()[:2]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True,
                              name=f"uvicorn-{bound_port}")
    thread.start()
    try:
        deadline = time.monotonic() + timeout_s
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start on {bound_host}:{bound_port} within {timeout_s} s")
            time.sleep(0.01)
        yield Served(f"http://{bound_host}:{bound_port}", bound_host, bound_port)
    finally:
        server.should_exit = True
        thread.join(timeout_s)
        sock.close()
        if thread.is_alive():  # pragma: no cover - uvicorn refused to stop
            server.force_exit = True
            thread.join(timeout_s)


# ---- fuzzing it -----------------------------------------------------------------------------------

@dataclass
class FuzzReport:
    """What :func:`fuzz` found: ``operations`` fuzzed, ``cases`` sent, ``statuses`` seen, and ``failures``
    (``(operation, check, message)``); ``server_errors`` counts the 5xx answers."""

    operations: int
    cases: int
    server_errors: int
    statuses: dict[int, int]
    failures: list[tuple[str, str, str]]


def fuzz(base_url: str, *, headers: Mapping[str, str] | None = None, max_examples: int = 25,
         negative: bool = True) -> FuzzReport:
    """Fuzz every operation of the OpenAPI schema at ``base_url/openapi.json`` with schemathesis.

    For each operation, Hypothesis draws up to ``max_examples`` requests that follow the schema
    (and as many that break it, when ``negative``), derandomised so a run repeats. Each answer must
    not be a 5xx, must use a status code, content type and body that the schema declares.
    ``headers`` (an API key) go with every request.
    """
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode
    from schemathesis.checks import (content_type_conformance, not_a_server_error,
                                     response_schema_conformance, status_code_conformance)

    checks = [not_a_server_error, status_code_conformance, content_type_conformance,
              response_schema_conformance]
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    report = FuzzReport(0, 0, 0, {}, [])
    modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if negative else [])
    for result in schema.get_all_operations():
        operation = result.ok()
        report.operations += 1
        for mode in modes:
            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=max_examples, deadline=None, database=None, derandomize=True,
                      suppress_health_check=list(HealthCheck), phases=[Phase.generate])
            def one(case: Any) -> None:
                report.cases += 1
                response = case.call(base_url=base_url, headers=dict(headers or {}))
                code = response.status_code
                report.statuses[code] = report.statuses.get(code, 0) + 1
                report.server_errors += code >= 500
                try:
                    case.validate_response(response, checks=checks)
                except (Exception, BaseExceptionGroup) as err:  # a Failure, or a FailureGroup of them
                    found = getattr(err, "exceptions", None) or [err]
                    titles = "; ".join(getattr(e, "title", None) or str(e).strip().splitlines()[0]
                                       for e in found)
                    report.failures.append((operation.label, mode.value, titles))

            try:
                one()
            except Unsatisfiable:  # nothing to break (GET /health takes no input)
                pass
    return report
