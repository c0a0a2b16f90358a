"""Posting due webhook deliveries: signed, bounded by a time-out, recorded in the ledger.

The body is the event as JSON: `{"id": "evt_12", "type": "handoff.assigned", "occurred_at":
..., "data": {...}}`. The headers say which event it is (`X-Relaydesk-Event`,
`X-Relaydesk-Delivery`: the same on every retry, so a receiver can drop one it has seen) and
sign the exact body with the time (signing.py). A 2xx answer is success; anything else (an
error status, a refused connection, a time-out) is tried again after a backoff that doubles
up to `max_backoff_seconds`, until `max_attempts`; a receiver's `Retry-After` is honoured
within those bounds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random

import aiohttp

from bot.config.integrations import WebhookEndpoint
from connectors.webhooks.ledger import DueWebhook, WebhookLedger
from connectors.webhooks.signing import HEADER, sign

log = logging.getLogger(__name__)

USER_AGENT = "relaydesk-webhooks/1"
MAX_CONCURRENT = 8


def body_of(due: DueWebhook) -> bytes:
    event = {
        "id": f"evt_{due.event_id}",
        "type": due.type,
        "occurred_at": due.occurred_at.isoformat(),
        "data": due.payload,
    }
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()


def backoff_s(endpoint: WebhookEndpoint, attempts: int) -> float:
    """The wait before try `attempts + 1`: doubling, capped, with a little jitter so that a
    receiver coming back is not hit by every event in the same instant."""
    base = min(endpoint.backoff_seconds * 2 ** max(attempts - 1, 0), endpoint.max_backoff_seconds)
    return float(base * random.uniform(0.9, 1.1))


class WebhookSender:
    def __init__(self, ledger: WebhookLedger, endpoints: list[WebhookEndpoint]) -> None:
        self.ledger = ledger
        self.endpoints = {e.name: e for e in endpoints}
        self._session: aiohttp.ClientSession | None = None
        self._limit = asyncio.Semaphore(MAX_CONCURRENT)

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def send_due(self) -> int:
        """Post every due delivery once; how many were claimed."""
        lease = max((e.timeout_seconds for e in self.endpoints.values()), default=30) + 30
        due = await self.ledger.claim_due(list(self.endpoints), lease_s=lease)
        await asyncio.gather(*(self._send(d) for d in due))
        return len(due)

    async def _send(self, due: DueWebhook) -> None:
        endpoint = self.endpoints[due.endpoint]
        body = body_of(due)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Relaydesk-Event": due.type,
            "X-Relaydesk-Delivery": f"evt_{due.event_id}",
            "X-Relaydesk-Attempt": str(due.attempts),
            HEADER: sign(endpoint.secret.get_secret_value(), body),
        }
        status: int | None = None
        retry_after: float | None = None
        async with self._limit:
            try:
                async with self._http().post(
                    endpoint.url,
                    data=body,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=endpoint.timeout_seconds),
                    allow_redirects=False,
                ) as r:
                    status = r.status
                    retry_after = _seconds(r.headers.get("Retry-After"))
                    await r.content.read(4096)  # the answer's start; the rest is not needed
                error = f"HTTP {status}"
            except TimeoutError:
                error = f"no answer within {endpoint.timeout_seconds:g} s"
            except aiohttp.ClientError as exc:
                error = f"{type(exc).__name__}: {exc}"
        if status is not None and 200 <= status < 300:
            await self.ledger.sent(due.event_id, due.endpoint, status)
            return
        if due.attempts >= endpoint.max_attempts:
            log.warning(
                "webhook %s to %s failed after %d tries: %s",
                due.type,
                due.endpoint,
                due.attempts,
                error,
            )
            await self.ledger.failed(due.event_id, due.endpoint, status=status, error=error)
            return
        wait = backoff_s(endpoint, due.attempts)
        if retry_after is not None:
            wait = min(max(wait, retry_after), endpoint.max_backoff_seconds)
        log.info("webhook %s to %s: %s; again in %.1f s", due.type, due.endpoint, error, wait)
        await self.ledger.retry(
            due.event_id, due.endpoint, after_s=wait, status=status, error=error
        )


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP date: the backoff decides
