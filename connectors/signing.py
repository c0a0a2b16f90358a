"""The HMAC-SHA256 signing the channels share: the widget's signed identity
(connectors/web/identity.py) and the REST channel's sender tokens (connectors/rest/auth.py).

One primitive, so a fix here (the hash, the constant-time comparison) reaches every channel."""

from __future__ import annotations

import hashlib
import hmac


def hmac_hex(secret: str, message: str) -> str:
    """HMAC-SHA256(secret, message) as lowercase hex."""
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def same(expected: str, given: str) -> bool:
    """Whether two signatures are equal, compared in constant time."""
    return hmac.compare_digest(expected.encode(), given.encode())
