"""Who a widget visitor is: an anonymous browser token, or a customer the host site vouches for.

The browser keeps a random token; the database knows it only as its SHA-256, so the customer
table never holds a usable credential. A host site that knows its logged-in user passes
`user_id` and `user_hash` = HMAC-SHA256(web.identity_secret, user_id); a pair that verifies
links the chat to that customer and their history on every channel.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

CHANNEL = "web"
USER_CHANNEL = "web_user"  # the host site's own user ids
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")


class IdentityError(Exception):
    """A user_id / user_hash pair that does not verify."""


def new_token() -> str:
    return secrets.token_urlsafe(24)


def valid_token(token: object) -> bool:
    return isinstance(token, str) and bool(_TOKEN.match(token))


def sender_for(token: str) -> str:
    """The identity the store keeps for a browser token."""
    return hashlib.sha256(token.encode()).hexdigest()[:40]


def user_hash(secret: str, user_id: str) -> str:
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def verify_user(secret: str | None, user_id: object, given: object) -> str:
    """The verified user id, or IdentityError saying why not."""
    if secret is None:
        raise IdentityError("identity verification is not configured on this server")
    if not isinstance(user_id, str) or not 1 <= len(user_id) <= 200:
        raise IdentityError("user_id must be a string of 1 to 200 characters")
    if not isinstance(given, str) or not hmac.compare_digest(
        user_hash(secret, user_id), given.lower()
    ):
        raise IdentityError("user_hash does not match user_id")
    return user_id
