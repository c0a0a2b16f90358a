"""The webhooks' signature: `X-Relaydesk-Signature: t=<unix seconds>,v1=<hex>` where the hex is
HMAC-SHA256(secret, f"{t}.{body}"). Signing the timestamp with the body lets a receiver refuse
a replayed request: it checks the signature, then that `t` is recent."""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "X-Relaydesk-Signature"
DEFAULT_TOLERANCE_S = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return mac.hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The header value for `body` sent now (or at `timestamp`)."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={signature(secret, t, body)}"


def verify(
    secret: str,
    body: bytes,
    header: str | None,
    *,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """Whether `header` signs `body` with `secret` within `tolerance_s` of now: what a receiver
    runs on every request (constant-time comparison; several v1 values are accepted, for a
    secret being rotated)."""
    if not header:
        return False
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        t = int(parts["t"][0])
    except (KeyError, ValueError):
        return False
    current = time.time() if now is None else now
    if abs(current - t) > tolerance_s:
        return False
    expected = signature(secret, t, body)
    return any(hmac.compare_digest(expected, v) for v in parts.get("v1", []))
