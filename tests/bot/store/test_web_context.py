"""store.web_context (contract C5) on SQLite and PostgreSQL: the latest hello's context of a web
customer, replaced by the next, cut to its columns, gone with the customer."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete
from sqlalchemy.orm import Session

from bot.store import models as m
from bot.store.sql_store import SqlStore
from bot.store.web_context import WebContext


async def test_a_customer_without_a_hello_has_no_context(store: SqlStore) -> None:
    c = await store.customers.for_identity("web", "nobody-yet")
    assert await store.web_context.latest(c.id) is None


async def test_the_latest_hello_replaces_the_one_before(store: SqlStore) -> None:
    c = await store.customers.for_identity("web", "visitor")
    first = WebContext(
        page_url="https://shop.example/cart",
        page_title="Cart",
        user_agent="Mozilla/5.0 …",
        browser="Chrome 120 on Android",
        timezone="Asia/Shanghai",
        screen="390x844",
        language="zh",
        seen_at=datetime(2026, 12, 7, 9, 0, tzinfo=UTC),
    )
    await store.web_context.record(c.id, first)
    got = await store.web_context.latest(c.id)
    assert got == first
    assert got is not None and got.to_json()["seen_at"] == "2026-12-07T09:00:00+00:00"

    second = WebContext(
        page_url="https://shop.example/orders/17",
        referrer="https://search.example/?q=kites",
        browser="Safari 17 on iOS",
        identity="u-3001",
        language="en",
        seen_at=datetime(2026, 12, 7, 10, 0, tzinfo=UTC),
    )
    await store.web_context.record(c.id, second)
    assert await store.web_context.latest(c.id) == second  # page_title etc. are not kept


async def test_overlong_values_are_cut_to_their_columns(store: SqlStore) -> None:
    c = await store.customers.for_identity("web", "long")
    await store.web_context.record(
        c.id, WebContext(page_url="https://x.example/" + "a" * 900, browser="B" * 200, screen="")
    )
    got = await store.web_context.latest(c.id)
    assert got is not None and got.page_url is not None and got.browser is not None
    assert len(got.page_url) == 500 and len(got.browser) == 80
    assert got.screen is None  # empty is unknown


async def test_the_context_goes_with_the_customer(store: SqlStore) -> None:
    c = await store.customers.for_identity("web", "leaving")
    await store.web_context.record(c.id, WebContext(page_url="https://shop.example/"))

    def forget(s: Session) -> None:
        s.execute(delete(m.ChannelIdentity).where(m.ChannelIdentity.customer_id == c.id))
        s.execute(delete(m.Customer).where(m.Customer.id == c.id))
        s.commit()

    await store.db.run(forget)
    assert await store.web_context.latest(c.id) is None
