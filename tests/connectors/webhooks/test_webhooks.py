"""Outgoing webhooks against a real receiver (an aiohttp server on a real port): it is down
while a conversation, a handoff, a ticket and a rating happen, then comes back and receives
every event exactly once, each signed with HMAC-SHA256 over its timestamp and body. Runs on
SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot import clock
from bot.config import config_from_dict
from bot.config.integrations import WebhookSettings
from bot.errors import ConfigError
from bot.store.sql_store import SqlStore
from connectors.webhooks.ledger import redeliver
from connectors.webhooks.signing import HEADER, sign, verify
from connectors.webhooks.worker import WebhookWorker
from tests.bot.store.conftest import fresh_pg_database
from tests.kit.processes import free_port, until

SECRET = "whsec-test-0123456789abcdef"
EXPECTED = [
    "conversation.started",
    "handoff.requested",
    "handoff.assigned",
    "handoff.resolved",
    "ticket.created",
    "ticket.updated",
    "ticket.updated",
    "rating.submitted",
    "conversation.closed",
]


@pytest.fixture(params=["sqlite", "postgresql"])
async def url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh database: a SQLite file, or a new PostgreSQL database dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'relaydesk.db'}"
        return
    async with fresh_pg_database() as pg:
        yield pg


@pytest.fixture
async def store(url: str) -> AsyncIterator[SqlStore]:
    s = await SqlStore.open(url)
    yield s
    await s.close()


@dataclass
class Receiver:
    """The shop's CRM: records what it was sent; `status` is what it answers."""

    port: int
    status: int = 200
    seen: list[dict[str, Any]] = field(default_factory=list)
    runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hooks/relaydesk", self.hook)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.seen.append(
            {
                "body": body,
                "signature": request.headers.get(HEADER),
                "delivery": request.headers.get("X-Relaydesk-Delivery"),
                "type": request.headers.get("X-Relaydesk-Event"),
                "attempt": int(request.headers.get("X-Relaydesk-Attempt", "0")),
            }
        )
        return web.json_response({"ok": self.status < 300}, status=self.status)

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(x["body"]) for x in self.seen]


def settings(port: int, **endpoint: Any) -> WebhookSettings:
    return WebhookSettings.model_validate(
        {
            "poll_seconds": 0.05,
            "endpoints": [
                {
                    "name": "crm",
                    "url": f"http://127.0.0.1:{port}/hooks/relaydesk",
                    "secret": SECRET,
                    "backoff_seconds": 0.1,
                    "max_backoff_seconds": 0.3,
                    "timeout_seconds": 2,
                    **endpoint,
                }
            ],
        }
    )


async def a_day_at_the_desk(store: SqlStore) -> str:
    """A conversation handed to Amy and resolved, a ticket with a customer update and an
    internal note, a rating, and the conversation closed; the conversation's id."""
    customer = await store.customers.for_identity("rest", "webhook-customer")
    conv = await store.conversations.active(customer.id, "rest")
    agent = await store.agents.add("amy", "Amy", skills=["after_sales"], status="online")
    h = await store.handoffs.queue(conv.id, "explicit_request", "after_sales", language="en")
    assert await store.handoffs.assign(h.id, agent.id)
    await store.handoffs.update(h.id, status="resolved", resolved_at=clock.now())
    ticket = await store.tickets.create(customer.id, "screen flickers", conversation_id=conv.id)
    await store.tickets.add_event(ticket.number, "update", "The part is ordered", actor="amy")
    await store.tickets.add_event(ticket.number, "note", "VIP, call back", actor="amy")
    await store.ratings.add(conv.id, 5, "quick and kind")
    await store.conversations.update(conv.id, status="closed", closed_at=clock.now())
    return conv.id


async def test_a_receiver_down_for_a_while_then_sees_every_event_once_signed(
    store: SqlStore,
) -> None:
    receiver = Receiver(free_port())  # not started: the CRM is down
    worker = WebhookWorker(store.db, settings(receiver.port))
    await worker.start()
    try:
        conversation_id = await a_day_at_the_desk(store)

        async def retried_while_down() -> bool:
            states = await worker.ledger.states()
            return len(states) == len(EXPECTED) and all(
                s.status == "pending" and s.attempts >= 2 for s in states
            )

        await until(retried_while_down, 20, "every event tried at least twice while down")
        states = await worker.ledger.states()
        assert all(s.error and "Connect" in s.error for s in states)

        await receiver.start()  # back up
        await until(
            lambda: _count_at_least(receiver, len(EXPECTED)), 20, "all events after the outage"
        )
        await asyncio.sleep(1.0)  # more rounds of the worker: nothing is sent twice
    finally:
        await worker.stop()
        await receiver.stop()

    deliveries = [x["delivery"] for x in receiver.seen]
    assert len(deliveries) == len(set(deliveries)) == len(EXPECTED)
    assert sorted(x["type"] for x in receiver.seen) == sorted(EXPECTED)
    for x in receiver.seen:
        assert verify(SECRET, x["body"], x["signature"]), x
        assert not verify("another-secret-0123456789", x["body"], x["signature"])
        assert x["attempt"] >= 3  # it came through the ledger's retries
    events = receiver.events()
    assert [e["type"] for e in sorted(events, key=lambda e: int(e["id"][4:]))] == EXPECTED
    by_type = {e["type"]: e["data"] for e in events}
    assert by_type["handoff.assigned"]["agent"] == "amy"
    assert by_type["handoff.resolved"]["conversation_id"] == conversation_id
    assert by_type["rating.submitted"]["score"] == 5
    assert by_type["ticket.created"]["subject"] == "screen flickers"
    updates = [e["data"] for e in events if e["type"] == "ticket.updated"]
    assert {u["change"] for u in updates} == {"update", "note"}
    assert [u.get("note") for u in updates if u["change"] == "update"] == ["The part is ordered"]
    assert all("note" not in u for u in updates if u["change"] == "note")  # internal stays in
    assert {s.status for s in await worker.ledger.states()} == {"sent"}


async def _count_at_least(receiver: Receiver, n: int) -> bool:
    return len(receiver.seen) >= n


async def test_an_error_status_is_retried_until_failed_and_can_be_sent_again(
    store: SqlStore,
) -> None:
    receiver = Receiver(free_port(), status=503)
    await receiver.start()
    worker = WebhookWorker(store.db, settings(receiver.port, max_attempts=3, events=["rating.*"]))
    await worker.start()
    try:
        customer = await store.customers.for_identity("rest", "r1")
        conv = await store.conversations.active(customer.id, "rest")
        await store.ratings.add(conv.id, 2, "slow")

        async def given_up() -> bool:
            return [s.status for s in await worker.ledger.states()] == ["failed"]

        await until(given_up, 20, "the delivery failed after its tries")
        [state] = await worker.ledger.states()
        assert (state.type, state.attempts, state.last_status) == ("rating.submitted", 3, 503)
        assert [x["attempt"] for x in receiver.seen] == [1, 2, 3]
        assert {x["type"] for x in receiver.seen} == {"rating.submitted"}  # what it asked for

        # The receiver is fixed; the operator sends the failed ones again
        # (`relaydesk webhooks retry`).
        receiver.status = 200
        assert await redeliver(worker.ledger, endpoint="crm") == 1

        async def sent() -> bool:
            return [s.status for s in await worker.ledger.states()] == ["sent"]

        await until(sent, 20, "the failed delivery sent again")
    finally:
        await worker.stop()
        await receiver.stop()
    assert [x["attempt"] for x in receiver.seen] == [1, 2, 3, 1]
    assert len({x["delivery"] for x in receiver.seen}) == 1  # one event, one delivery id


async def test_two_instances_on_one_database_send_each_event_once(
    store: SqlStore, url: str
) -> None:
    other = await SqlStore.open(url)  # a second server instance
    receiver = Receiver(free_port())
    await receiver.start()
    workers = [WebhookWorker(s.db, settings(receiver.port)) for s in (store, other)]
    for w in workers:
        await w.start()
    try:
        await a_day_at_the_desk(store)
        await until(
            lambda: _count_at_least(receiver, len(EXPECTED)), 20, "all events, from two instances"
        )
        await asyncio.sleep(1.0)
    finally:
        for w in workers:
            await w.stop()
        await receiver.stop()
        await other.close()
    deliveries = [x["delivery"] for x in receiver.seen]
    assert len(deliveries) == len(set(deliveries)) == len(EXPECTED)


async def test_history_before_the_first_start_is_not_replayed(store: SqlStore) -> None:
    customer = await store.customers.for_identity("rest", "old")
    await store.conversations.active(customer.id, "rest")
    worker = WebhookWorker(store.db, settings(free_port()))
    await worker.start()
    await worker.stop()
    await worker.feed.scan()
    assert await worker.ledger.states() == []


def test_signatures_are_refused_when_tampered_stale_or_missing() -> None:
    body = b'{"id":"evt_1"}'
    header = sign(SECRET, body)
    assert verify(SECRET, body, header)
    assert not verify(SECRET, body + b" ", header)
    assert not verify(SECRET, body, None)
    assert not verify(SECRET, body, "t=abc,v1=00")
    old = sign(SECRET, body, timestamp=int(time.time()) - 3600)
    assert not verify(SECRET, body, old)
    assert verify(SECRET, body, old, tolerance_s=7200)
    rotating = f"{header},v1={'0' * 64}"  # two signatures while a secret is rotated
    assert verify(SECRET, body, rotating)


@pytest.mark.parametrize(
    ("endpoint", "says"),
    [
        ({"secret": "short"}, "integrations.webhooks.endpoints[0].secret"),
        ({"events": ["handoff.exploded"]}, "unknown event 'handoff.exploded'"),
        ({"url": "crm.example.com/hook"}, "integrations.webhooks.endpoints[0].url"),
        ({"name": "CRM One"}, "integrations.webhooks.endpoints[0].name"),
        ({"max_attempts": 0}, "integrations.webhooks.endpoints[0].max_attempts"),
    ],
)
def test_bad_webhook_settings_fail_at_start_naming_the_key(
    endpoint: dict[str, Any], says: str
) -> None:
    good = {"name": "crm", "url": "https://crm.example.com/hook", "secret": SECRET}
    raw = {
        "pipeline": [{"name": "LanguageDetector"}],
        "integrations": {"webhooks": {"endpoints": [{**good, **endpoint}]}},
    }
    with pytest.raises(ConfigError) as err:
        config_from_dict(raw)
    assert says in str(err.value)


def test_two_endpoints_with_one_name_are_refused() -> None:
    one = {"name": "crm", "url": "https://crm.example.com/hook", "secret": SECRET}
    raw = {
        "pipeline": [{"name": "LanguageDetector"}],
        "integrations": {"webhooks": {"endpoints": [one, one]}},
    }
    with pytest.raises(ConfigError, match="unique: crm"):
        config_from_dict(raw)
