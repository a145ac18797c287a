"""Authentication for an API: API keys stored hashed, passwords hashed with argon2, JWTs with expiry.

Taught in Month 3 (chapters/03-databases-and-apis); reused by the LLM gateway of Month 11 and the SaaS lab.

- **API keys** are long random strings (:func:`new_api_key`). The server keeps only their SHA-256
  (:func:`hash_api_key`): a key has 256 bits of randomness, so a fast hash cannot be brute-forced, and a
  leaked table of hashes lets nobody in. Compare with :func:`hmac.compare_digest` (constant time).
- **Passwords** are short and guessable, so they get a slow, memory-hard hash: argon2id
  (:func:`hash_password`, :func:`verify_password`, from ``argon2-cffi``).
- **JWTs** (:func:`issue_token`, :func:`verify_token`, from ``PyJWT``) carry a subject and an expiry,
  signed with HMAC-SHA256. :func:`verify_token` raises :class:`AuthError` whose ``reason`` says what was
  wrong (missing, malformed, bad signature, expired), which the web app sends back with a 401.

>>> from aieng.foundations.auth import issue_token, verify_token
>>> token = issue_token("ada", secret="s" * 32, ttl_s=60)
>>> verify_token(token, secret="s" * 32)["sub"]
'ada'
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = ["AuthError", "new_api_key", "hash_api_key", "verify_api_key", "hash_password",
           "verify_password", "issue_token", "verify_token", "ALGORITHM"]

ALGORITHM = "HS256"
"""The one signing algorithm :func:`verify_token` accepts (never ``none``, never chosen by the token)."""

_hasher = PasswordHasher()  # argon2id with argon2-cffi's defaults (RFC 9106's low-memory profile)


class AuthError(Exception):
    """A credential was refused; :attr:`reason` says why, in words safe to send to the client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def new_api_key(prefix: str = "ak_") -> str:
    """A fresh API key: ``prefix`` and 32 random bytes, URL-safe (shown to its owner once)."""
    return prefix + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    """The SHA-256 of an API key, hex: what the server stores instead of the key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def verify_api_key(key: str, stored_hash: str) -> bool:
    """Whether ``key`` hashes to ``stored_hash`` (compared in constant time)."""
    return hmac.compare_digest(hash_api_key(key), stored_hash)


def hash_password(password: str, hasher: PasswordHasher | None = None) -> str:
    """An argon2id hash of ``password`` (salt and parameters included in the string)."""
    return (hasher or _hasher).hash(password)


def verify_password(password: str, stored_hash: str, hasher: PasswordHasher | None = None) -> bool:
    """Whether ``password`` matches ``stored_hash``; ``False`` for a wrong password or a broken hash."""
    try:
        return (hasher or _hasher).verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def issue_token(subject: str, secret: str, ttl_s: float = 900.0, now: float | None = None,
                **claims: Any) -> str:
    """A JWT for ``subject`` that expires ``ttl_s`` seconds after ``now`` (default: the current time)."""
    if len(secret.encode("utf-8")) < 32:
        raise ValueError("the signing secret must be at least 32 bytes (RFC 7518, section 3.2)")
    issued = time.time() if now is None else now
    payload = {**claims, "sub": subject, "iat": int(issued), "exp": int(issued + ttl_s)}
    return jwt.encode(payload, secret, algorithm=ALGORITHM)


def verify_token(token: str | None, secret: str, leeway_s: float = 0.0) -> dict[str, Any]:
    """The claims of a valid, unexpired token signed with ``secret``; :class:`AuthError` otherwise."""
    if not token:
        raise AuthError("missing token: send 'Authorization: Bearer <token>'")
    try:
        return jwt.decode(token, secret, algorithms=[ALGORITHM], leeway=leeway_s,
                          options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError:
        raise AuthError("expired token: ask for a new one") from None
    except jwt.InvalidSignatureError:
        raise AuthError("bad signature: the token was not issued by this server") from None
    except jwt.MissingRequiredClaimError as err:
        raise AuthError(f"invalid token: missing claim {err.claim!r}") from None
    except jwt.InvalidAlgorithmError:
        raise AuthError(f"invalid token: only {ALGORITHM} is accepted") from None
    except jwt.DecodeError:
        raise AuthError("malformed token: not a JWT") from None
    except jwt.InvalidTokenError as err:
        raise AuthError(f"invalid token: {err}") from None
