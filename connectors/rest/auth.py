"""Who may use the REST channel: the webhook's optional shared secret or HS256 JWT, and the
sender tokens that open a conversation's long poll to the client that holds its sender.

A sender token is `<ts>.<hmac>`, where hmac = HMAC-SHA256(key, f"rest-sender:{sender}:{ts}")
(connectors/signing.py, the widget identity's signing) and ts the Unix seconds it was made."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import time
from typing import Any

from aiohttp import web

from connectors.rest.settings import RestSettings
from connectors.signing import hmac_hex, same

TOKEN_HEADER = "X-Relaydesk-Sender-Token"
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
FUTURE_SKEW_S = 300


class AuthError(Exception):
    """Credentials missing or wrong: a 401 with this message."""


class RestAuth:
    def __init__(self, settings: RestSettings) -> None:
        self.settings = settings
        self.sender_key = (
            settings.sender_token_secret or settings.secret or secrets.token_urlsafe(32)
        )

    # -- the webhook -----------------------------------------------------------------------
    def check_caller(self, request: web.Request) -> dict[str, Any] | None:
        """Nothing with `auth: none`; otherwise the caller's credentials must verify (AuthError).
        Returns a verified JWT's claims."""
        mode, secret = self.settings.auth, self.settings.secret
        if mode == "none" or secret is None:
            return None
        given = bearer(request)
        if mode == "token":
            given = given or request.query.get("token")
            if not given:
                raise AuthError(
                    "this REST channel needs its shared secret: "
                    "send 'Authorization: Bearer <secret>' or '?token=<secret>'"
                )
            if not same(secret, given):
                raise AuthError("the shared secret is wrong")
            return None
        if not given:
            raise AuthError("this REST channel needs a JWT: send 'Authorization: Bearer <JWT>'")
        return verify_hs256(given, secret, now=_now(), leeway=self.settings.jwt_leeway_seconds)

    # -- sender tokens -----------------------------------------------------------------------
    def sender_token(self, sender: str, now: int | None = None) -> str:
        ts = int(_now() if now is None else now)
        return f"{ts}.{hmac_hex(self.sender_key, f'rest-sender:{sender}:{ts}')}"

    def check_sender_token(self, sender: str, token: str | None, now: float | None = None) -> None:
        if not token:
            raise AuthError(
                "the long poll needs the sender token handed out with the webhook's replies: "
                f"send it as '{TOKEN_HEADER}' or '?sender_token=...'"
            )
        ts_text, _, mac = token.partition(".")
        if not (ts_text.isascii() and ts_text.isdigit() and len(ts_text) <= 12 and mac):
            raise AuthError("the sender token is malformed")
        ts = int(ts_text)
        if not same(hmac_hex(self.sender_key, f"rest-sender:{sender}:{ts}"), mac.lower()):
            raise AuthError("the sender token does not match this sender")
        age = (_now() if now is None else now) - ts
        if age > self.settings.sender_token_max_age_seconds:
            raise AuthError(
                "the sender token has expired: post to the webhook again for a fresh one"
            )
        if age < -FUTURE_SKEW_S:
            raise AuthError("the sender token is from the future")


def bearer(request: web.Request) -> str | None:
    value = request.headers.get("Authorization", "")
    scheme, _, credentials = value.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


def verify_hs256(token: str, secret: str | bytes, *, now: float, leeway: int = 0) -> dict[str, Any]:
    """The claims of a JWT signed with HS256 and `secret` (RFC 7519, RFC 7515), or AuthError.
    Only HS256 is accepted (never `none`, never another algorithm the header names); `exp`
    and `nbf`, when present, are checked against `now` with `leeway` seconds."""
    parts = token.split(".")
    if len(parts) != 3:
        raise AuthError("the JWT is malformed: it must have three dot-separated parts")
    head_b64, body_b64, sig_b64 = parts
    try:
        header = json.loads(_b64url(head_b64))
        claims = json.loads(_b64url(body_b64))
        signature = _b64url(sig_b64)
    except (ValueError, UnicodeDecodeError):
        raise AuthError("the JWT is malformed: a part is not base64url-encoded JSON") from None
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise AuthError("the JWT must be signed with HS256")
    key = secret.encode() if isinstance(secret, str) else secret
    expected = hmac.new(key, f"{head_b64}.{body_b64}".encode("ascii"), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, signature):
        raise AuthError("the JWT's signature does not verify")
    if not isinstance(claims, dict):
        raise AuthError("the JWT's payload must be a JSON object")
    for name in ("exp", "nbf"):
        value = claims.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise AuthError(f"the JWT's '{name}' must be a number of seconds")
    exp, nbf = claims.get("exp"), claims.get("nbf")
    if exp is not None and now >= exp + leeway:
        raise AuthError("the JWT has expired")
    if nbf is not None and now < nbf - leeway:
        raise AuthError("the JWT is not valid yet (nbf)")
    return claims


def _b64url(text: str) -> bytes:
    """base64url without padding (RFC 7515 section 2); anything else is refused, not skipped."""
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:
        raise ValueError(str(exc)) from None


def _now() -> float:
    return time.time()
