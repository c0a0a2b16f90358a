"""How a source signs `POST /api/events` (the webhooks' signing, turned around):

    X-Relaydesk-Source:    the source's name in config.yml (`proactive.sources.<name>`)
    X-Relaydesk-Key:       the source's API key (`proactive.sources.<name>.key`)
    X-Relaydesk-Timestamp: unix seconds when the request was signed
    X-Relaydesk-Signature: sha256=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>

The timestamp is signed with the body, so a captured request cannot be replayed after the
tolerance (±5 minutes); within it a replay only repeats event ids, which are stored once.
`SignatureError` says which check failed, for the 401's message; it never echoes a secret.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from bot import clock
from bot.errors import RelaydeskError

SOURCE = "X-Relaydesk-Source"
KEY = "X-Relaydesk-Key"
TIMESTAMP = "X-Relaydesk-Timestamp"
SIGNATURE = "X-Relaydesk-Signature"
PREFIX = "sha256="
TOLERANCE_S = 300


class SignatureError(RelaydeskError):
    """The request's source, key, timestamp or signature does not check out (HTTP 401)."""


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Relaydesk-Signature value for `body` signed at `timestamp`."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return PREFIX + mac.hexdigest()


def sign(
    source: str, key: str, secret: str, body: bytes, timestamp: int | None = None
) -> dict[str, str]:
    """The four headers a source sends with `body` (now, or at `timestamp`): what a shop's
    client does, and what the tests do."""
    t = str(int(clock.now().timestamp()) if timestamp is None else timestamp)
    return {
        SOURCE: source,
        KEY: key,
        TIMESTAMP: t,
        SIGNATURE: signature(secret, t, body),
    }


def verify(
    headers: Mapping[str, str],
    body: bytes,
    key: str,
    secret: str,
    *,
    tolerance_s: int = TOLERANCE_S,
) -> None:
    """Check the key, the timestamp's freshness and the body's signature (constant-time
    comparisons); SignatureError naming what is wrong."""
    given_key = headers.get(KEY)
    if not given_key:
        raise SignatureError(f"missing {KEY}: the source's API key")
    if not hmac.compare_digest(given_key.encode(), key.encode()):
        raise SignatureError(f"{KEY} is not this source's API key")
    stamp = headers.get(TIMESTAMP, "").strip()
    if not stamp:
        raise SignatureError(f"missing {TIMESTAMP}: unix seconds when the request was signed")
    if not stamp.isascii() or not stamp.isdigit() or len(stamp) > 12:
        raise SignatureError(f"{TIMESTAMP} must be unix seconds (digits only)")
    skew = clock.now().timestamp() - int(stamp)
    if abs(skew) > tolerance_s:
        side = "old" if skew > 0 else "in the future"
        raise SignatureError(
            f"{TIMESTAMP} is {int(abs(skew))} s {side}; requests must be signed within "
            f"{tolerance_s} s of the server's clock"
        )
    given = headers.get(SIGNATURE, "").strip()
    if not given:
        raise SignatureError(f"missing {SIGNATURE}: {PREFIX}<hex HMAC-SHA256 of timestamp.body>")
    if not given.startswith(PREFIX):
        raise SignatureError(f"{SIGNATURE} must start with {PREFIX}")
    if not hmac.compare_digest(signature(secret, stamp, body).encode(), given.encode()):
        raise SignatureError(
            f'{SIGNATURE} does not match the body: sign f"{{timestamp}}.{{body}}" with the '
            "source's secret"
        )
