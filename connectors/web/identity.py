"""Who a widget visitor is: an anonymous browser token, or a customer the host site vouches for.

The browser keeps a random token; the database knows it only as its SHA-256, so the customer
table never holds a usable credential. A host site that knows its logged-in user passes
`user_id`, `user_ts` (Unix seconds, when it signed) and `user_hash` =
HMAC-SHA256(web.identity_secret, f"{user_id}:{user_ts}"); a triple that verifies and is not older
than `web.identity_max_age_seconds` links the chat to that customer and their history on every
channel. The signed time is what keeps a leaked hash from working forever: the old form,
HMAC(secret, user_id), is accepted only with `web.legacy_identity_hash`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from connectors.signing import hmac_hex

CHANNEL = "web"
USER_CHANNEL = "web_user"  # the host site's own user ids
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")


class IdentityError(Exception):
    """A signed identity that does not verify, or no longer does."""


def new_token() -> str:
    return secrets.token_urlsafe(24)


def valid_token(token: object) -> bool:
    return isinstance(token, str) and bool(_TOKEN.match(token))


def sender_for(token: str) -> str:
    """The identity the store keeps for a browser token."""
    return hashlib.sha256(token.encode()).hexdigest()[:40]


FUTURE_SKEW_S = 300  # host and server clocks may disagree by this much


def user_hash(secret: str, user_id: str, ts: int | None = None) -> str:
    """What the host site computes: over `user_id:ts`, or over `user_id` alone (legacy)."""
    message = user_id if ts is None else f"{user_id}:{ts}"
    return hmac_hex(secret, message)


@dataclass(frozen=True)
class IdentityPolicy:
    """How signed identities are checked (connectors.web)."""

    secret: str | None
    max_age_s: int = 86_400
    legacy: bool = False


def verify_user(
    policy: IdentityPolicy, user_id: object, given: object, ts: object, now: float
) -> str:
    """The verified user id, or IdentityError saying why not. `now` is Unix seconds."""
    if policy.secret is None:
        raise IdentityError("identity verification is not configured on this server")
    if not isinstance(user_id, str) or not 1 <= len(user_id) <= 200:
        raise IdentityError("user_id must be a string of 1 to 200 characters")
    if not isinstance(given, str):
        raise IdentityError("user_hash must be a string")
    if ts is None:
        if not policy.legacy:
            raise IdentityError(
                "user_ts is missing: sign user_id together with the time (see web-protocol.md)"
            )
        signed_at = None
    else:
        signed_at = _unix_seconds(ts)
    # Both sides are hex strings of our own making or the client's; compare in constant time.
    if not hmac.compare_digest(user_hash(policy.secret, user_id, signed_at), given.lower()):
        raise IdentityError("user_hash does not match user_id and user_ts")
    if signed_at is not None:
        age = now - signed_at
        if age > policy.max_age_s:
            raise IdentityError(
                f"the signed identity has expired: user_ts is {int(age)} s old and the limit is "
                f"{policy.max_age_s} s; sign it again when the page is served"
            )
        if age < -FUTURE_SKEW_S:
            raise IdentityError(
                f"user_ts is {int(-age)} s in the future; check the host site's clock"
            )
    return user_id


def _unix_seconds(ts: object) -> int:
    """An int, or a string of digits (a data- attribute arrives as a string)."""
    if isinstance(ts, bool) or not isinstance(ts, int | str):
        raise IdentityError("user_ts must be Unix seconds")
    text = str(ts)
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        raise IdentityError("user_ts must be Unix seconds")
    return int(text)
