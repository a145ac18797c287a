"""aieng.foundations.auth: hashed API keys, argon2 passwords, and JWTs refused with a reason."""

from __future__ import annotations

import time

import jwt
import pytest

from aieng.foundations.auth import (AuthError, hash_api_key, hash_password, issue_token, new_api_key,
                                    verify_api_key, verify_password, verify_token)

SECRET = "a" * 32


def test_api_keys_are_random_and_stored_only_as_their_hash():
    key, other = new_api_key(), new_api_key()
    assert key != other and key.startswith("ak_") and len(key) > 40
    stored = hash_api_key(key)
    assert key not in stored and len(stored) == 64
    assert verify_api_key(key, stored) and not verify_api_key(other, stored)


def test_passwords_use_salted_argon2id():
    h1, h2 = hash_password("correct horse"), hash_password("correct horse")
    assert h1.startswith("$argon2id$") and h1 != h2  # a fresh salt each time
    assert verify_password("correct horse", h1) and not verify_password("wrong", h1)
    assert not verify_password("correct horse", "not-a-hash")


def test_a_token_round_trips_with_its_claims():
    claims = verify_token(issue_token("ada", SECRET, ttl_s=60, role="admin"), SECRET)
    assert claims["sub"] == "ada" and claims["role"] == "admin" and claims["exp"] - claims["iat"] == 60


@pytest.mark.parametrize("token, reason", [
    (None, "missing token"),
    ("", "missing token"),
    ("not.a.jwt", "malformed token"),
    (issue_token("ada", SECRET, ttl_s=-1), "expired token"),
    (issue_token("ada", "b" * 32), "bad signature"),
    (jwt.encode({"sub": "ada"}, SECRET, algorithm="HS256"), "missing claim 'exp'"),
    (jwt.encode({"sub": "ada", "exp": time.time() + 60}, SECRET * 2, algorithm="HS512"), "only HS256"),
])
def test_bad_tokens_are_refused_with_a_reason(token, reason):
    with pytest.raises(AuthError) as err:
        verify_token(token, SECRET)
    assert reason in err.value.reason


def test_an_unsigned_token_is_refused():
    header = jwt.utils.base64url_encode(b'{"alg":"none","typ":"JWT"}').decode()
    payload = jwt.utils.base64url_encode(b'{"sub":"ada","exp":9999999999}').decode()
    with pytest.raises(AuthError):
        verify_token(f"{header}.{payload}.", SECRET)


def test_a_short_secret_is_refused():
    with pytest.raises(ValueError, match="32 bytes"):
        issue_token("ada", "short")
