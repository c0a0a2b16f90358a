"""`POST /api/events`: the shop's systems report what happened to a customer.

Checks run cheapest first, and nothing is stored unless every one passes: the body's size
(413 over 64 KiB), the source (401 unknown), its key, timestamp and signature (401,
signing.py), the source's rate (429), the body (400 naming the field, validation.py), and each
event's customer (400 naming the event's customer field when there is none). Then the
events are stored in one transaction, once per (source, event id), and the answer is 202
`{"accepted": n, "duplicates": m, "events": [{"id", "customer_id", "duplicate"}]}`.

A shop user id that no customer carries yet creates that customer (bot/store/customer_events.py
`resolve_customer`), so a cart abandoned before the first chat is remembered for when the
customer comes back signed in.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from aiohttp import web

from bot.config.proactive import EventSource, ProactiveSection
from bot.errors import InputTooLargeError
from bot.http.errors import refuse
from bot.http.rate_limit import RateLimiter, too_many
from bot.store.customer_events import CustomerEvents, NewEvent
from bot.store.errors import NotFoundError
from connectors.events.signing import SOURCE, SignatureError, verify
from connectors.events.validation import MAX_BODY_BYTES, EventIn, parse

log = logging.getLogger(__name__)
PATH = "/api/events"
# Requests per minute per source (each may carry up to 100 events), and the burst allowed.
SOURCE_PER_MINUTE = 600
SOURCE_BURST = 120


@dataclass
class EventIntake:
    """What the endpoint needs: where events are stored and who may send them."""

    events: CustomerEvents
    section: ProactiveSection
    limiter: RateLimiter = field(
        default_factory=lambda: RateLimiter(SOURCE_PER_MINUTE, SOURCE_BURST)
    )

    @property
    def sources(self) -> Mapping[str, EventSource]:
        return self.section.sources


INTAKE = web.AppKey("event_intake", EventIntake)
routes = web.RouteTableDef()


def _unauthorized(message: str) -> web.HTTPUnauthorized:
    return refuse(web.HTTPUnauthorized, "bad_signature", message)


@routes.post(PATH)
async def receive(request: web.Request) -> web.Response:
    intake = request.app.get(INTAKE)
    if intake is None or not intake.section.enabled:
        raise refuse(
            web.HTTPNotFound, "not_enabled", "events are not taken: proactive.enabled is off"
        )
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise InputTooLargeError(
            f"body is {request.content_length} bytes; at most {MAX_BODY_BYTES} bytes per request "
            "(send fewer events per batch)"
        )
    name = request.headers.get(SOURCE, "").strip()
    if not name:
        raise _unauthorized(f"missing {SOURCE}: the source's name in proactive.sources")
    source = intake.sources.get(name)
    if source is None:
        raise _unauthorized(f"{SOURCE}: no source {name[:40]!r} in proactive.sources")
    if not source.configured:
        raise refuse(
            web.HTTPServiceUnavailable,
            "source_not_configured",
            f"source {name!r} has no key and secret yet: set proactive.sources.{name}.key and "
            ".secret (the shipped config reads PROACTIVE_SHOP_KEY and PROACTIVE_SHOP_SECRET)",
        )
    body = await _read(request)
    try:
        verify(
            request.headers,
            body,
            source.key.get_secret_value(),
            source.secret.get_secret_value(),
        )
    except SignatureError as exc:
        log.info("events from %s refused: %s", name, exc)
        raise _unauthorized(str(exc)) from exc
    # Counted once signed: a stranger who knows a source's name cannot spend its allowance
    # (unsigned floods meet the per-address limit instead).
    wait = intake.limiter.check(name)
    if wait:
        return too_many(wait, f"requests from source {name}")
    events = parse(body)
    customers = await _customers(intake.events, events)
    stored = await intake.events.record_many(
        [
            NewEvent(name, e.id, e.type, customers[i], dict(e.data), e.occurred_at)
            for i, e in enumerate(events)
        ]
    )
    accepted = sum(1 for _, new in stored if new)
    log.info("events from %s: %d accepted, %d duplicates", name, accepted, len(stored) - accepted)
    return web.json_response(
        {
            "accepted": accepted,
            "duplicates": len(stored) - accepted,
            "events": [
                {"id": e.event_id, "customer_id": e.customer_id, "duplicate": not new}
                for e, new in stored
            ],
        },
        status=202,
    )


async def _read(request: web.Request) -> bytes:
    """The body, refused (413) past MAX_BODY_BYTES even when no length was declared."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(16 * 1024):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise InputTooLargeError(
                f"body is over {MAX_BODY_BYTES} bytes per request (send fewer events per batch)"
            )
        chunks.append(chunk)
    return b"".join(chunks)


async def _customers(store: CustomerEvents, events: list[EventIn]) -> list[str]:
    """Each event's relaydesk customer id. Look-ups that cannot create anyone (relaydesk ids,
    Telegram and WeChat identities) run first, so a batch refused for an unknown customer
    creates nobody."""
    out: dict[int, str] = {}
    found: dict[tuple[str | None, str | None, str | None], str] = {}
    batch = len(events) > 1
    order = sorted(
        range(len(events)),
        key=lambda i: (
            events[i].customer.channel not in ("telegram", "wechat")
            and events[i].customer.id is None
        ),
    )
    for i in order:
        ref = events[i].customer
        key = (ref.id, ref.external_id, ref.channel)
        if key not in found:
            try:
                found[key] = await store.resolve_customer(
                    customer_id=ref.id, external_id=ref.external_id, channel=ref.channel
                )
            except NotFoundError as exc:
                where = f"events[{i}].customer" if batch else "customer"
                raise refuse(
                    web.HTTPBadRequest, "unknown_customer", f"{where}: {exc}; nothing was stored"
                ) from exc
        out[i] = found[key]
    return [out[i] for i in range(len(events))]
