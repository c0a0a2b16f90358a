"""GET /api/dashboard/proactive on the real app: supervisors and admins only, the dashboard's
period filter (UTC days, `to` included), the figures from the proactive ledger, and the queries
it refuses with a message naming what is wrong."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.apps import AppFactory, Client, add_agent, login, store_of

API = "/api/dashboard/proactive"


@pytest.fixture
async def client(make_client: AppFactory) -> Client:
    client = await make_client(always_open=True)
    await add_agent(client, "amy", role="agent", skills=["after_sales"])
    await add_agent(client, "sue", role="supervisor")
    await add_agent(client, "ada", role="admin")
    return client


async def _sent(client: Client, n: int, at: datetime, *, replied: bool) -> None:
    """One proactive message sent at `at` on Telegram and delivered (replied to if asked),
    through the store's own ledger API. Times are given explicitly, never by swapping the
    clock (the app's own scheduler runs in this process): the row is due a month from now,
    so that scheduler never takes it, and claimed here as it would."""
    store = store_of(client)
    customer = await store.customers.for_identity("telegram", f"tg-{n}")
    event, _ = await store.customer_events.record(
        "shop", f"evt-{n}", "payment_failed", customer.id, {"reason": "card declined"}, at
    )
    later = datetime.now(UTC) + timedelta(days=30)
    row, _ = await store.proactive.schedule("payment_failed", customer.id, event.id, later)
    assert row.id in {r.id for r in await store.proactive.due(later)}
    ledger = store.proactive
    assert await ledger.mark_sent(
        row.id, message_id=None, conversation_id=None, channel="telegram", at=at
    )
    assert await store.proactive_outcomes.mark_delivered(row.id, at + timedelta(seconds=5))
    if replied:
        assert await store.proactive_outcomes.mark_replied(row.id, at + timedelta(minutes=1))


async def test_supervisors_and_admins_only(client: Client) -> None:
    resp = await client.get(API)
    assert resp.status == 401
    assert "log in at /console" in (await resp.json())["message"]
    amy = await login(client, "amy")
    refused = await client.get(API, headers=amy.cookie)
    assert refused.status == 403
    assert (await refused.json())["message"] == "supervisors and admins only"
    for who in ("sue", "ada"):
        session = await login(client, who)
        resp = await client.get(API, headers=session.cookie)
        assert resp.status == 200, (who, await resp.text())


async def test_the_period_filter_picks_the_days(client: Client) -> None:
    now = datetime.now(UTC)
    today = now - timedelta(minutes=5)
    await _sent(client, 1, today, replied=True)
    await _sent(client, 2, today - timedelta(days=1), replied=False)
    await _sent(client, 3, today - timedelta(days=40), replied=True)  # before the default 30 days
    sue = await login(client, "sue")

    body = await (await client.get(API, headers=sue.cookie)).json()  # the last 30 days
    assert (body["sent"], body["delivered"], body["replied"]) == (2, 2, 1)
    assert body["participation_rate"] == 0.5
    assert {r["reason"] for r in body["suppressed_by_reason"]} >= {"cap", "opt_out", "expired"}
    assert body["period"]["to"].startswith((now + timedelta(days=1)).date().isoformat())

    day = today.date().isoformat()
    one = await (await client.get(f"{API}?from={day}&to={day}", headers=sue.cookie)).json()
    assert (one["sent"], one["replied"], one["participation_rate"]) == (1, 1, 1.0)
    old = (today - timedelta(days=40)).date().isoformat()
    span = await (await client.get(f"{API}?from={old}&to={day}", headers=sue.cookie)).json()
    assert span["sent"] == 3


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("from=2026-11-31&to=2026-12-01", "YYYY-MM-DD"),
        ("from=2026-12-02&to=2026-12-01", "'to' is before 'from'"),
        ("from=2025-01-01&to=2026-12-01", "at most 366 days"),
        ("from=2026-11-01&granularity=day", "unknown parameter(s) granularity"),
        ("from=" + "2" * 200, "from: a date such as"),
    ],
)
async def test_a_bad_query_is_refused_naming_the_problem(
    client: Client, query: str, words: str
) -> None:
    sue = await login(client, "sue")
    resp = await client.get(f"{API}?{query}", headers=sue.cookie)
    assert resp.status == 400
    assert words in (await resp.json())["message"]
