"""The REST channel's authentication: the optional shared secret or HS256 JWT on the webhook, and
the sender token without which the long poll shows nobody's conversation.

The JWTs here are built in the test from the RFC 7515 recipe (base64url without padding,
HMAC-SHA256 over `header.payload`), independently of connectors/rest/auth.py."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest

from bot.server.context import CONTEXT
from connectors.rest.auth import AuthError, RestAuth, verify_hs256
from connectors.rest.settings import RestSettings
from tests.apps import HOOK, AppFactory, Client

SECRET = "rest-shared-secret-for-tests"
POLL = "/webhooks/rest/messages"
TOKEN = "X-Relaydesk-Sender-Token"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(
    claims: dict[str, Any], key: str = SECRET, header: dict[str, Any] | None = None
) -> str:
    head = b64url(json.dumps(header or {"alg": "HS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps(claims).encode())
    sig = hmac.new(key.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(sig)}"


# -- HS256 verification, against vectors built here ----------------------------------------------
def test_rfc7515_appendix_a1_vector_verifies() -> None:
    # RFC 7515 A.1: the JWS example signed with HMAC SHA-256 (key given as a JWK octet string).
    token = (
        "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
        ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt"
        "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
        ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    )
    key = base64.urlsafe_b64decode(
        "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow=="
    )
    claims = verify_hs256(token, key, now=1300819379)
    assert claims == {"iss": "joe", "exp": 1300819380, "http://example.com/is_root": True}
    with pytest.raises(AuthError, match="expired"):
        verify_hs256(token, key, now=1300819380)


def test_a_jwt_built_here_verifies_and_its_claims_come_back() -> None:
    now = time.time()
    claims = verify_hs256(make_jwt({"sub": "s1", "exp": now + 60}), SECRET, now=now)
    assert claims["sub"] == "s1"


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (make_jwt({"sub": "x"}, key="another-secret-of-some-length"), "signature does not verify"),
        (make_jwt({"sub": "x"}, header={"alg": "none"}), "must be signed with HS256"),
        (make_jwt({"sub": "x"}, header={"alg": "HS512"}), "must be signed with HS256"),
        (make_jwt({"exp": 1000}), "has expired"),
        (make_jwt({"nbf": 4_000_000_000}), "not valid yet"),
        (make_jwt({"exp": "soon"}), "'exp' must be a number"),
        ("a.b", "three dot-separated parts"),
        ("e30.e30.!!", "not base64url"),
        (make_jwt({"sub": "x"})[:-2] + "AA", "signature does not verify"),
    ],
)
def test_a_bad_jwt_is_refused_with_its_reason(token: str, message: str) -> None:
    with pytest.raises(AuthError, match=message):
        verify_hs256(token, SECRET, now=2_000_000_000 - 10**9)


def test_alg_none_with_an_empty_signature_is_refused() -> None:
    head = b64url(b'{"alg":"none"}')
    body = b64url(b'{"sub":"x"}')
    with pytest.raises(AuthError):
        verify_hs256(f"{head}.{body}.", SECRET, now=time.time())


def test_leeway_allows_a_little_clock_difference() -> None:
    token = make_jwt({"exp": 1000})
    assert verify_hs256(token, SECRET, now=1010, leeway=30) == {"exp": 1000}
    with pytest.raises(AuthError):
        verify_hs256(token, SECRET, now=1031, leeway=30)


# -- sender tokens -------------------------------------------------------------------------------
def test_a_sender_token_opens_only_its_sender_and_expires() -> None:
    auth = RestAuth(RestSettings(sender_token_secret="s" * 20, sender_token_max_age_seconds=60))
    token = auth.sender_token("alice", now=1000)
    auth.check_sender_token("alice", token, now=1030)
    for sender, given, now, message in [
        ("bob", token, 1030, "does not match"),
        ("alice", token, 1061, "expired"),
        ("alice", None, 1030, "needs the sender token"),
        ("alice", "garbage", 1030, "malformed"),
        ("alice", token.replace("1000.", "1001."), 1030, "does not match"),
    ]:
        with pytest.raises(AuthError, match=message):
            auth.check_sender_token(sender, given, now=now)
    other = RestAuth(RestSettings(sender_token_secret="t" * 20))
    with pytest.raises(AuthError):
        other.check_sender_token("alice", token, now=1030)


def test_auth_needs_a_secret_and_the_secrets_are_redacted() -> None:
    with pytest.raises(ValueError, match="secret: required with auth: jwt"):
        RestSettings(auth="jwt")
    settings = RestSettings(auth="token", secret=SECRET, sender_token_secret="x" * 20)
    assert set(settings.secrets()) == {SECRET, "x" * 20}


# -- on the app ----------------------------------------------------------------------------------
def with_auth(mode: str):  # type: ignore[no-untyped-def]
    def edit(raw: dict[str, Any]) -> None:
        raw.setdefault("connectors", {})["rest"] = {"enabled": True, "auth": mode, "secret": SECRET}

    return edit


async def test_without_auth_the_webhook_hands_out_a_sender_token(client: Client) -> None:
    resp = await client.post(HOOK, json={"sender": "tok", "message": "你好"})
    body = await resp.json()
    token = resp.headers[TOKEN]
    assert all(item["custom"]["sender_token"] == token for item in body)
    refused = await client.get(POLL, params={"sender": "tok"})
    assert refused.status == 401
    assert "sender token" in (await refused.json())["message"]
    wrong = await client.get(POLL, params={"sender": "tok"}, headers={TOKEN: "1.abc"})
    assert wrong.status == 401
    other = await client.post(HOOK, json={"sender": "someone-else", "message": "hi"})
    stolen = await client.get(POLL, params={"sender": "tok"}, headers={TOKEN: other.headers[TOKEN]})
    assert stolen.status == 401 and "does not match" in (await stolen.json())["message"]
    ok = await client.get(POLL, params={"sender": "tok"}, headers={TOKEN: token})
    assert ok.status == 200 and isinstance(await ok.json(), list)
    assert ok.headers[TOKEN]  # a fresh one with every poll


async def test_token_mode_needs_the_shared_secret(make_client: AppFactory) -> None:
    client = await make_client(edit=with_auth("token"))
    body = {"sender": "t1", "message": "你好"}
    missing = await client.post(HOOK, json=body)
    assert missing.status == 401
    assert "shared secret" in (await missing.json())["message"]
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = await client.post(HOOK, json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401 and "wrong" in (await wrong.json())["message"]
    ok = await client.post(HOOK, json=body, headers={"Authorization": f"Bearer {SECRET}"})
    assert ok.status == 200
    query = await client.post(f"{HOOK}?token={SECRET}", json=body)
    assert query.status == 200
    # The long poll needs both the secret and the sender token.
    poll = await client.get(POLL, params={"sender": "t1"}, headers={TOKEN: ok.headers[TOKEN]})
    assert poll.status == 401
    both = {TOKEN: ok.headers[TOKEN], "Authorization": f"Bearer {SECRET}"}
    assert (await client.get(POLL, params={"sender": "t1"}, headers=both)).status == 200


async def test_jwt_mode_verifies_hs256_and_its_subject(make_client: AppFactory) -> None:
    client = await make_client(edit=with_auth("jwt"))
    body = {"sender": "j1", "message": "你好"}
    missing = await client.post(HOOK, json=body)
    assert missing.status == 401 and "JWT" in (await missing.json())["message"]
    forged = make_jwt({"sub": "j1"}, key="not-the-servers-secret")
    resp = await client.post(HOOK, json=body, headers={"Authorization": f"Bearer {forged}"})
    assert resp.status == 401 and "signature" in (await resp.json())["message"]
    expired = make_jwt({"sub": "j1", "exp": time.time() - 3600})
    resp = await client.post(HOOK, json=body, headers={"Authorization": f"Bearer {expired}"})
    assert resp.status == 401 and "expired" in (await resp.json())["message"]
    other = make_jwt({"sub": "someone-else", "exp": time.time() + 60})
    resp = await client.post(HOOK, json=body, headers={"Authorization": f"Bearer {other}"})
    assert resp.status == 403
    good = make_jwt({"sub": "j1", "exp": time.time() + 60})
    resp = await client.post(HOOK, json=body, headers={"Authorization": f"Bearer {good}"})
    assert resp.status == 200 and (await resp.json())[0]["text"]
    assert client.app[CONTEXT].channels["rest"].settings.secrets()  # registered for redaction
