"""POST /api/events on the real app: a signed event is stored once and shown on the customer's
profile; a bad source, key, signature or stale timestamp is 401; sizes 413 and 400; a batch;
an idempotent replay; customers found by relaydesk id, shop id or channel identity; 400s that
name the field; 429 over a source's rate."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import ClientResponse
from sqlalchemy import func, select

from bot import clock
from bot.http.rate_limit import RateLimiter
from bot.store import models as m
from connectors.events.routes import INTAKE, PATH
from connectors.events.signing import SIGNATURE, TIMESTAMP, sign
from tests.apps import AppFactory, Client, add_agent, login, store_of

KEY, SECRET = "k-shop-key", "s3cret-shop-secret"


def _sources(raw: dict[str, Any]) -> None:
    raw["proactive"]["enabled"] = True
    raw["proactive"]["sources"] = {
        "shop": {"key": KEY, "secret": SECRET},
        "erp": {"key": "k-erp-key-1", "secret": "s3cret-erp-secret"},
    }


async def _app(make_client: AppFactory) -> Client:
    return await make_client(edit=_sources)


def _event(event_id: str = "evt-1", **fields: Any) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "cart_abandoned",
        "customer": {"external_id": "S-1"},
        "occurred_at": (clock.now() - timedelta(hours=1)).isoformat(),
        "data": {"product": "风筝"},
        **fields,
    }


async def _post(
    client: Client,
    doc: Any,
    *,
    source: str = "shop",
    key: str = KEY,
    secret: str = SECRET,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> ClientResponse:
    body = raw if raw is not None else json.dumps(doc).encode()
    signed = sign(source, key, secret, body)
    signed |= headers or {}
    signed["Content-Type"] = "application/json"
    return await client.post(PATH, data=body, headers=signed)


async def _events(client: Client) -> int:
    return await store_of(client).db.run(
        lambda s: int(s.execute(select(func.count()).select_from(m.CustomerEvent)).scalar_one())
    )


async def _refused(resp: ClientResponse, status: int, *needles: str) -> str:
    text = await resp.text()
    assert resp.status == status, text
    message = json.loads(text)["message"]
    for needle in needles:
        assert needle in message, message
    return str(message)


async def test_a_signed_event_is_stored_once_and_shown_on_the_profile(
    make_client: AppFactory,
) -> None:
    client = await _app(make_client)
    resp = await _post(client, _event())
    assert resp.status == 202, await resp.text()
    body = await resp.json()
    assert (body["accepted"], body["duplicates"]) == (1, 0)
    [result] = body["events"]
    assert result["id"] == "evt-1" and not result["duplicate"]
    customer_id = result["customer_id"]

    replay = await _post(client, _event())  # the shop retries: signed again, same event id
    assert replay.status == 202
    again = await replay.json()
    assert (again["accepted"], again["duplicates"]) == (0, 1)
    assert again["events"][0] == {**result, "duplicate": True}
    assert await _events(client) == 1

    store = store_of(client)
    customer = await store.customers.get(customer_id)
    assert customer.external_ref == "S-1"  # created for the shop's user, found again next time
    [stored] = await store.customer_events.of_customer(customer_id)
    assert (stored.source, stored.type, stored.data) == (
        "shop",
        "cart_abandoned",
        {"product": "风筝"},
    )

    await add_agent(client, "sue", role="supervisor")
    session = await login(client, "sue")
    profile = await client.get(f"/api/agent/customers/{customer_id}", headers=session.cookie)
    assert profile.status == 200, await profile.text()
    [shown] = (await profile.json())["events"]
    assert (shown["event_id"], shown["type"], shown["source"]) == (
        "evt-1",
        "cart_abandoned",
        "shop",
    )
    assert shown["data"] == {"product": "风筝"}


async def test_a_batch_resolves_each_customer_and_counts_duplicates(
    make_client: AppFactory,
) -> None:
    client = await _app(make_client)
    store = store_of(client)
    known = await store.customers.for_identity("telegram", "5551")
    signed_in = await store.customers.for_identity("web_user", "U-9")
    batch = {
        "events": [
            _event(
                "b1", customer={"id": known.id}, type="payment_failed", data={"reason": "余额不足"}
            ),
            _event("b2", customer={"external_id": "5551", "channel": "telegram"}, type="delivered"),
            _event("b3", customer={"external_id": "U-9", "channel": "web"}),
            _event("b4", customer={"external_id": "S-new"}, type="shipment_delayed"),
            _event("b1", customer={"id": known.id}, type="payment_failed"),  # repeated
        ]
    }
    resp = await _post(client, batch)
    assert resp.status == 202, await resp.text()
    body = await resp.json()
    assert (body["accepted"], body["duplicates"]) == (4, 1)
    owners = [e["customer_id"] for e in body["events"]]
    assert owners[:3] == [known.id, known.id, signed_in.id]
    assert (await store.customers.get(owners[3])).external_ref == "S-new"
    assert [e["duplicate"] for e in body["events"]] == [False, False, False, False, True]
    # The same event id from another source is another event.
    other = await _post(
        client, _event("b1"), source="erp", key="k-erp-key-1", secret="s3cret-erp-secret"
    )
    assert (await other.json())["accepted"] == 1


async def test_a_bad_source_key_signature_or_time_is_401_and_stores_nothing(
    make_client: AppFactory,
) -> None:
    client = await _app(make_client)
    doc = _event()
    await _refused(
        await _post(client, doc, headers={"X-Relaydesk-Source": "ghost"}),
        401,
        "no source 'ghost'",
    )
    await _refused(await client.post(PATH, json=doc), 401, "missing X-Relaydesk-Source")
    await _refused(await _post(client, doc, key="stolen?"), 401, "not this source's API key")
    await _refused(
        await _post(client, doc, secret="guessed-secret"), 401, "does not match the body"
    )
    stale = str(int(clock.now().timestamp()) - 301)
    body = json.dumps(doc).encode()
    old = sign("shop", KEY, SECRET, body, timestamp=int(stale))
    resp = await client.post(PATH, data=body, headers=old)
    await _refused(resp, 401, "s old", "within 300 s")
    resp = await _post(client, doc, headers={TIMESTAMP: stale})  # fresh-signed, stamp swapped
    await _refused(resp, 401)
    resp = await _post(client, doc, headers={SIGNATURE: "sha256=" + "0" * 64})
    message = await _refused(resp, 401, "does not match")
    assert SECRET not in message and KEY not in message
    assert await _events(client) == 0


async def test_sizes_are_limited(make_client: AppFactory) -> None:
    client = await _app(make_client)
    huge = json.dumps({"events": [_event(f"e{i}", data={"x": "y" * 700}) for i in range(100)]})
    assert len(huge) > 64 * 1024
    await _refused(await _post(client, None, raw=huge.encode()), 413, "at most 65536 bytes")
    await _refused(
        await _post(client, _event(data={"blob": "x" * 5000})), 400, "data: ", "at most 4096"
    )
    many = {"events": [_event(f"e{i}", data={}) for i in range(101)]}
    await _refused(await _post(client, many), 400, "events: 1 to 100 events per request")
    hundred = {"events": [_event(f"e{i}", data={}) for i in range(100)]}
    resp = await _post(client, hundred)
    assert resp.status == 202 and (await resp.json())["accepted"] == 100


async def test_a_wrong_field_is_a_400_naming_it(make_client: AppFactory) -> None:
    client = await _app(make_client)
    no_type = _event()
    del no_type["type"]
    await _refused(await _post(client, no_type), 400, "type: required")
    await _refused(
        await _post(client, _event(occurred_at="2026-12-07 10:00")),
        400,
        "occurred_at: an ISO 8601 time with its time zone",
    )
    await _refused(
        await _post(
            client,
            {"events": [_event(), _event("x", customer={"external_id": 1, "channel": "fax"})]},
        ),
        400,
        "events[1].customer.channel",
    )
    await _refused(await _post(client, None, raw=b"{oops"), 400, "body: not JSON")
    resp = await _post(client, _event(customer={"id": "nobody"}))
    assert (await resp.json())["error"] == "unknown_customer"
    await _refused(resp, 400, "customer: no customer with id 'nobody'")
    batch = {
        "events": [
            _event("n1", customer={"external_id": "S-would-be-created"}),
            _event("n2", customer={"external_id": "777", "channel": "wechat"}),
        ]
    }
    await _refused(
        await _post(client, batch), 400, "events[1].customer: no customer known as '777' on wechat"
    )
    assert await _events(client) == 0
    # Nothing was created for the batch's other event either: the look-ups that cannot create
    # anyone run first.
    unknown = await store_of(client).shop_orders.unknown_customers(["S-would-be-created"])
    assert unknown == {"S-would-be-created"}


async def test_a_source_over_its_rate_gets_429(make_client: AppFactory) -> None:
    client = await _app(make_client)
    client.app[INTAKE].limiter = RateLimiter(per_minute=1, burst=1)
    assert (await _post(client, _event("r1"))).status == 202
    resp = await _post(client, _event("r2"))
    await _refused(resp, 429, "requests from source shop")
    assert int(resp.headers["Retry-After"]) >= 1


async def test_events_are_refused_while_proactive_contact_is_off(make_client: AppFactory) -> None:
    def off(raw: dict[str, Any]) -> None:
        _sources(raw)
        raw["proactive"]["enabled"] = False

    client = await make_client(edit=off)
    await _refused(await _post(client, _event()), 404, "proactive.enabled is off")


async def test_the_shipped_source_without_its_key_and_secret_is_refused_with_what_to_set(
    make_client: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """The shipped config reads the shop's key and secret from the environment with empty
    defaults: until both are set, nobody can sign for it, and the answer says what to set."""
    with caplog.at_level(logging.WARNING, logger="bot.server.app"):
        client = await make_client()  # the shipped config.yml, no PROACTIVE_SHOP_* in the env
    assert any("refuses source(s) shop" in r.getMessage() for r in caplog.records)
    resp = await _post(client, _event(), key="", secret="")
    await _refused(resp, 503, "no key and secret yet", "PROACTIVE_SHOP_KEY")
    assert json.loads(await resp.text())["error"] == "source_not_configured"
    assert await _events(client) == 0
