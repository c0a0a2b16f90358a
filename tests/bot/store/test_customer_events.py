"""store.customer_events (contract D2) on SQLite and PostgreSQL: events stored once per (source,
event id) whoever receives them, read per customer and in order, and the customer an event is
about found by relaydesk id, shop number or signed-in identity."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.errors import InputError
from bot.store import models as m
from bot.store.customer_events import NewEvent
from bot.store.errors import NotFoundError
from bot.store.sql_store import SqlStore

T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


async def _count(store: SqlStore) -> int:
    return await store.db.run(
        lambda s: int(s.execute(select(func.count()).select_from(m.CustomerEvent)).scalar_one())
    )


async def test_an_event_is_stored_once_and_a_replay_is_a_duplicate(store: SqlStore) -> None:
    c = await store.customers.for_identity("web", "shopper")
    first, new = await store.customer_events.record(
        "shop", "evt-1", "cart_abandoned", c.id, {"product": "风筝"}, T0
    )
    assert new and first.id > 0
    assert (first.source, first.event_id, first.type, first.customer_id) == (
        "shop",
        "evt-1",
        "cart_abandoned",
        c.id,
    )
    assert first.data == {"product": "风筝"} and first.occurred_at == T0
    again, new_again = await store.customer_events.record(
        "shop", "evt-1", "order_paid", c.id, {"other": 1}, T0 + timedelta(hours=1)
    )
    assert not new_again
    assert again == first  # the event as first stored: a replay changes nothing
    assert await _count(store) == 1


async def test_the_same_event_id_from_another_source_is_another_event(store: SqlStore) -> None:
    c = await store.customers.for_identity("web", "two-sources")
    a, _ = await store.customer_events.record("shop", "1", "delivered", c.id, {}, T0)
    b, new = await store.customer_events.record("payments", "1", "payment_failed", c.id, {}, T0)
    assert new and a.id != b.id


async def test_a_batch_is_stored_in_order_and_repeats_inside_it_are_duplicates(
    store: SqlStore,
) -> None:
    c = await store.customers.for_identity("web", "batch")
    events = [
        NewEvent("shop", f"b-{i % 3}", "cart_abandoned", c.id, {"n": i}, T0 + timedelta(minutes=i))
        for i in range(5)
    ]
    out = await store.customer_events.record_many(events)
    assert [new for _, new in out] == [True, True, True, False, False]
    assert out[3][0] == out[0][0] and out[4][0].data == {"n": 1}
    assert await _count(store) == 3


async def test_receivers_racing_on_one_event_store_it_once(store: SqlStore) -> None:
    c = await store.customers.for_identity("web", "racer")
    results = await asyncio.gather(
        *(store.customer_events.record("shop", "race", "delivered", c.id, {}, T0) for _ in range(8))
    )
    assert sum(new for _, new in results) == 1
    assert len({e.id for e, _ in results}) == 1
    assert await _count(store) == 1


async def test_a_customers_events_newest_first_and_the_cursor_in_id_order(
    store: SqlStore,
) -> None:
    a = await store.customers.for_identity("web", "a")
    b = await store.customers.for_identity("web", "b")
    # Received in this order; a's second event happened before its first.
    e1, _ = await store.customer_events.record("shop", "1", "cart_abandoned", a.id, {}, T0)
    e2, _ = await store.customer_events.record("shop", "2", "delivered", b.id, {}, T0)
    e3, _ = await store.customer_events.record(
        "shop", "3", "page_dwell", a.id, {}, T0 - timedelta(hours=2)
    )
    e4, _ = await store.customer_events.record(
        "shop", "4", "order_paid", a.id, {}, T0 + timedelta(hours=1)
    )
    assert [e.event_id for e in await store.customer_events.of_customer(a.id)] == ["4", "1", "3"]
    assert [e.event_id for e in await store.customer_events.of_customer(a.id, limit=1)] == ["4"]
    assert await store.customer_events.after(0, 2) == [e1, e2]
    assert await store.customer_events.after(e2.id, 10) == [e3, e4]
    assert await store.customer_events.after(e4.id, 10) == []
    assert await store.customer_events.last_id() == e4.id
    assert await store.customer_events.get(e3.id) == e3
    assert await store.customer_events.get(e4.id + 100) is None
    assert e1.to_json()["occurred_at"] == "2026-12-07T10:00:00+00:00"


async def test_later_events_of_given_types_are_found_after_a_time(store: SqlStore) -> None:
    c = await store.customers.for_identity("web", "cart")
    await store.customer_events.record("shop", "c", "cart_abandoned", c.id, {}, T0)
    assert not await store.customer_events.any_after(c.id, ["order_paid"], T0)
    await store.customer_events.record("shop", "p", "order_paid", c.id, {}, T0 + timedelta(hours=3))
    assert await store.customer_events.any_after(c.id, ["order_paid"], T0)
    assert not await store.customer_events.any_after(c.id, ["order_paid"], T0 + timedelta(hours=3))
    assert not await store.customer_events.any_after(c.id, [], T0)
    other = await store.customers.for_identity("web", "someone-else")
    assert not await store.customer_events.any_after(other.id, ["order_paid"], T0)
    assert await store.customer_events.types_after(
        c.id, ["order_paid", "cart_abandoned", "delivered"], T0 - timedelta(seconds=1)
    ) == {"order_paid", "cart_abandoned"}


async def test_fields_wider_than_their_columns_are_refused_naming_them(store: SqlStore) -> None:
    c = await store.customers.for_identity("web", "wide")
    with pytest.raises(InputError, match="event type is over 60"):
        await store.customer_events.record("shop", "x", "t" * 61, c.id, {}, T0)
    with pytest.raises(InputError, match="event id is empty"):
        await store.customer_events.record("shop", "", "delivered", c.id, {}, T0)
    with pytest.raises(InputError, match="time zone"):
        await store.customer_events.record(
            "shop", "x", "delivered", c.id, {}, T0.replace(tzinfo=None)
        )
    assert await _count(store) == 0


async def test_events_go_with_their_customer(store: SqlStore) -> None:
    c = await store.customers.for_identity("web", "leaving")
    await store.customer_events.record("shop", "gone", "delivered", c.id, {}, T0)

    def remove(s: Session) -> None:
        s.delete(s.get(m.Customer, c.id))
        s.commit()

    await store.db.run(remove)
    assert await _count(store) == 0


# -- whom an event is about ----------------------------------------------------------------------
async def test_a_customer_is_found_by_relaydesk_id_or_refused_naming_it(store: SqlStore) -> None:
    c = await store.customers.for_identity("telegram", "4242")
    resolve = store.customer_events.resolve_customer
    assert await resolve(customer_id=c.id) == c.id
    with pytest.raises(NotFoundError, match="no customer with id 'nobody'"):
        await resolve(customer_id="nobody")
    assert await resolve(external_id="4242", channel="telegram") == c.id
    with pytest.raises(NotFoundError, match="on wechat"):
        await resolve(external_id="4242", channel="wechat")


async def test_a_shop_id_finds_the_imported_customer_then_the_signed_in_one(
    store: SqlStore,
) -> None:
    imported = await store.customers.for_identity("web", "imported")

    def set_ref(s: Session) -> None:
        s.execute(
            update(m.Customer).where(m.Customer.id == imported.id).values(external_ref="S-100")
        )
        s.commit()

    await store.db.run(set_ref)
    signed_in = await store.customers.for_identity("web_user", "U-7")
    resolve = store.customer_events.resolve_customer
    assert await resolve(external_id="S-100") == imported.id
    assert await resolve(external_id="S-100", channel="shop") == imported.id
    assert await resolve(external_id="U-7", channel="web") == signed_in.id


async def test_an_unknown_shop_id_creates_one_customer_found_by_both_keys(
    store: SqlStore,
) -> None:
    resolve = store.customer_events.resolve_customer
    with pytest.raises(NotFoundError, match="shop id 'new-1'"):
        await resolve(external_id="new-1", create=False)
    ids = await asyncio.gather(*(resolve(external_id="new-1") for _ in range(4)))
    assert len(set(ids)) == 1
    customer = await store.customers.get(ids[0])
    assert customer.external_ref == "new-1"
    # The widget's signed-in user of the same id is the same customer.
    assert (await store.customers.for_identity("web_user", "new-1")).id == ids[0]
    with pytest.raises(InputError, match="external_id is over 64"):
        await resolve(external_id="x" * 65)
