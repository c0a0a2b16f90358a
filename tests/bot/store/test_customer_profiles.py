"""Customer profiles on SQLite and PostgreSQL: the sample shop's customers and orders imported and
segmented by the playbook's rules, complaints making a customer complaint-sensitive, agents'
edits validated and recorded, tags, and the CSV reader's per-line errors and limits."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from bot.clock import SimulatedClock, use_clock
from bot.errors import InputError
from bot.store import models as m
from bot.store.customer_import import decode, parse_customers, parse_orders
from bot.store.segments import (
    CustomerFacts,
    SegmentRules,
    lifecycle,
    priority_boost,
    value_bands,
)
from bot.store.sql_store import SqlStore

SAMPLES = Path(__file__).resolve().parents[3] / "samples"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

# What the playbook's rules make of the sample shop on 2026-12-01 (docs/customers.md).
SAMPLE_SEGMENTS = {
    "C1001": ("active", "high", ("high_value",)),
    "C1002": ("steady", "mid", ()),
    "C1003": ("steady", "mid", ()),
    "C1004": ("churned", "low", ()),
    "C1005": ("new", "low", ()),
    "C1006": ("dormant", "mid", ()),
    "C1007": ("steady", "high", ("high_value",)),
    "C1008": ("active", "low", ()),
    "C1009": ("churned", "mid", ()),
    "C1010": ("steady", "low", ()),
    "C1011": ("churned", "mid", ()),
    "C1012": ("steady", "high", ("high_value",)),
    "C1013": ("new", None, ()),
    "C1014": ("churned", "low", ()),
    "C1015": ("active", "mid", ()),
    "C1016": ("dormant", "low", ()),
    "C1017": ("steady", "mid", ()),
    "C1018": ("dormant", "mid", ()),
    "C1019": ("active", "high", ("high_value",)),
    "C1020": ("dormant", None, ()),
}


async def load_samples(store: SqlStore, shift: timedelta = timedelta(0)) -> None:
    """The sample shop's customers and orders, every date moved by `shift` (a test on the real
    clock moves them so that `NOW` falls on today)."""
    customers = parse_customers(decode((SAMPLES / "customers.csv").read_bytes()))
    orders = parse_orders(decode((SAMPLES / "orders.csv").read_bytes()))
    assert not customers.errors and not orders.errors
    people = [replace(c, since=c.since + shift if c.since else None) for c in customers.rows]
    assert await store.profiles.import_customers(people) == (20, 0)
    bought = [replace(o, ordered_at=o.ordered_at + shift) for o in orders.rows]
    assert await store.shop_orders.put_many(bought) == 33


async def test_the_sample_shop_is_segmented_by_the_playbooks_rules(store: SqlStore) -> None:
    await load_samples(store)
    summary = await store.profiles.recompute(NOW)
    got = {}
    for ref in SAMPLE_SEGMENTS:
        c = await store.profiles.by_ref(ref)
        got[ref] = (c.lifecycle, c.value_segment, c.auto_tags)
    assert got == SAMPLE_SEGMENTS
    # 17 bought in the year: the top 4 (20%) high, the next 8 mid, the rest low.
    assert summary.counts["value:high"] == 4 and summary.counts["value:mid"] == 8
    assert summary.counts["value:low"] == 6 and summary.counts["value:none"] == 2
    assert {k: v for k, v in summary.counts.items() if k.startswith("lifecycle:")} == {
        "lifecycle:active": 4,
        "lifecycle:churned": 4,
        "lifecycle:dormant": 4,
        "lifecycle:new": 2,
        "lifecycle:steady": 6,
    }
    assert (summary.high_min_cents, summary.mid_min_cents) == (929_800, 299_900)
    wang = await store.profiles.by_ref("C1001")
    assert wang.yearly_spend_cents == 1_259_700  # the Kite Pad of May counts, within a year
    assert wang.all_tags == ("follows_new_products", "high_value")
    assert await store.profiles.identities(wang.id) == [("rest", "sample-wang")]
    orders = await store.shop_orders.of_customer(wang.id)
    assert [o.order_id for o in orders] == ["202611200317", "202611180042", "202605030011"]
    found = await store.shop_orders.find("#202611180042")
    assert found is not None and found.tracking == "SF1402336851" and found.amount_cents == 799_900
    assert (await store.profiles.summary()) == summary


async def test_lifecycles_move_with_the_calendar(store: SqlStore) -> None:
    await load_samples(store)
    await store.profiles.recompute(NOW)
    chen = await store.profiles.by_ref("C1005")
    assert chen.lifecycle == "new"
    later = await store.profiles.refresh(chen.id, NOW + timedelta(days=40))
    assert later.lifecycle == "steady"  # no longer new; bought 45 days ago
    much_later = await store.profiles.refresh(chen.id, NOW + timedelta(days=200))
    assert much_later.lifecycle == "churned" and much_later.value_segment == "low"


def _conversation(s: Session, customer_id: str, at: datetime) -> str:
    conv = m.Conversation(customer_id=customer_id, channel="rest", status="resolved")
    conv.created_at = conv.updated_at = at
    s.add(conv)
    s.flush()
    return conv.id


async def test_a_complaint_makes_the_customer_complaint_sensitive_and_raises_them(
    store: SqlStore,
) -> None:
    handed = await store.customers.for_identity("rest", "handed-over")
    said = await store.customers.for_identity("rest", "only-said-it")
    calm = await store.customers.for_identity("rest", "calm")
    at = NOW - timedelta(days=3)

    def work(s: Session) -> None:
        cid = _conversation(s, handed.id, at)
        s.add(m.Handoff(conversation_id=cid, reason="complaint", skill_group="complaints",
                        queued_at=at, status="resolved"))  # fmt: skip
        cid = _conversation(s, said.id, at)
        s.add(m.Message(conversation_id=cid, seq=1, sender="customer", text="太差了，我要投诉",
                        parse={"intent": {"name": "complaint", "confidence": 0.97}},
                        created_at=at))  # fmt: skip
        cid = _conversation(s, calm.id, at)
        s.add(m.Message(conversation_id=cid, seq=1, sender="customer", text="where is my order",
                        parse={"intent": {"name": "order_status", "confidence": 0.9}},
                        created_at=at))  # fmt: skip
        s.commit()

    await store.db.run(work)
    summary = await store.profiles.recompute(NOW)
    assert summary.counts["tag:complaint_sensitive"] == 2
    for customer, sensitive in ((handed, True), (said, True), (calm, False)):
        c = await store.customers.get(customer.id)
        assert ("complaint_sensitive" in c.auto_tags) is sensitive
        assert store.profiles.priority_boost(c) == (1 if sensitive else 0)
    # A year on, the complaint no longer counts.
    later = await store.profiles.refresh(handed.id, NOW + timedelta(days=400))
    assert later.auto_tags == ()


async def test_agents_edits_are_checked_and_recorded(store: SqlStore) -> None:
    c = await store.customers.for_identity("rest", "someone")
    with pytest.raises(InputError, match="email: 'not-an-address'"):
        await store.profiles.edit(c.id, "amy", {"email": "not-an-address"})
    with pytest.raises(InputError, match="language: 'fr'; allowed: zh, en"):
        await store.profiles.edit(c.id, "amy", {"language": "fr"})
    with pytest.raises(InputError, match="unknown profile field 'tags'"):
        await store.profiles.edit(c.id, "amy", {"tags": ["x"]})
    with pytest.raises(InputError, match="phone"):
        await store.profiles.edit(c.id, "amy", {"phone": "call me"})
    with pytest.raises(InputError, match="region: longer than 100"):
        await store.profiles.edit(c.id, "amy", {"region": "x" * 101})
    assert (await store.profiles.changes(c.id)) == []  # nothing half-stored

    clock = SimulatedClock(NOW)
    with use_clock(clock):
        edited = await store.profiles.edit(
            c.id,
            "amy",
            {"name": "  李  娜 ", "email": "Li.Na@Example.CN", "phone": "+86 138-1234-5678",
             "region": "上海", "language": "zh"},
        )  # fmt: skip
        clock.advance(60)
        cleared = await store.profiles.edit(c.id, "bob", {"region": "", "name": "李娜"})
    assert (edited.name, edited.email, edited.phone) == (
        "李 娜",
        "Li.Na@example.cn",
        "+86 138-1234-5678",
    )
    assert cleared.region is None and cleared.name == "李娜" and cleared.language == "zh"
    changes = await store.profiles.changes(c.id)
    assert [(ch.actor, ch.field, ch.old, ch.new) for ch in changes[:2]] == [
        ("bob", "name", "李 娜", "李娜"),  # newest first
        ("bob", "region", "上海", None),
    ]
    assert changes[0].at == NOW + timedelta(seconds=60)
    assert {ch.field for ch in changes if ch.actor == "amy"} == {
        "name", "email", "phone", "region", "language",
    }  # fmt: skip
    assert (await store.customers.get(c.id)).email == "Li.Na@example.cn"


async def test_agents_tags_are_added_and_removed_but_computed_ones_are_not_theirs(
    store: SqlStore,
) -> None:
    c = await store.customers.for_identity("rest", "tagged")
    after = await store.profiles.change_tags(c.id, "amy", add=["Follows New Products", "老客户"])
    assert after.tags == ("follows_new_products", "老客户")
    again = await store.profiles.change_tags(c.id, "amy", add=["老客户"], remove=["nope"])
    assert again.tags == after.tags
    with pytest.raises(InputError, match="computed from the data"):
        await store.profiles.change_tags(c.id, "amy", add=["high_value"])
    with pytest.raises(InputError, match="1-40 letters"):
        await store.profiles.change_tags(c.id, "amy", add=["<script>"])
    with pytest.raises(InputError, match="at most 20 tags"):
        await store.profiles.change_tags(c.id, "amy", add=[f"t{i}" for i in range(19)])
    removed = await store.profiles.change_tags(c.id, "bob", remove=["follows_new_products"])
    assert removed.tags == ("老客户",)
    fields = [(ch.actor, ch.field, ch.new) for ch in await store.profiles.changes(c.id)]
    assert fields == [("bob", "tags", "老客户"), ("amy", "tags", "follows_new_products, 老客户")]


async def test_an_import_updates_known_customers_and_takes_over_their_chat_identity(
    store: SqlStore,
) -> None:
    chatted = await store.customers.for_identity("rest", "sample-wang")
    await load_samples(store)
    wang = await store.profiles.by_ref("C1001")
    # The identity the customer chatted under now leads to the imported profile.
    assert (await store.customers.find("rest", "sample-wang")) == wang
    assert wang.id != chatted.id
    text = "customer_id,name,region,tags\nC1001,,北京,vip\n"
    parsed = parse_customers(text)
    assert await store.profiles.import_customers(parsed.rows) == (0, 1)
    again = await store.profiles.by_ref("C1001")
    assert (again.name, again.region) == ("王芳", "北京")  # an empty cell keeps the name
    assert again.tags == ("follows_new_products", "vip")
    assert next(ch.field for ch in await store.profiles.changes(wang.id)) == "region"


# -- the CSV reader: no database ----------------------------------------------------------------
def test_every_bad_line_is_reported_with_its_line_and_column() -> None:
    text = (
        "customer_id,name,email,language,customer_since,identities\n"
        "C1,Ann,ann@example.com,en,2025-01-01,telegram:1\n"
        "C 2,Bob,,,,\n"
        "C3,Cy,cy-at-example,,,\n"
        "C4,Di,,fr,,\n"
        "C5,Ed,,,last tuesday,\n"
        "C1,Fay,,,,\n"
        "\n"
        "C6,Gus,,,,weibo\n"
        "C7,Hal\n"
    )
    parsed = parse_customers(text)
    assert [r.ref for r in parsed.rows] == ["C1"]
    assert [str(e) for e in parsed.errors] == [
        "line 3, customer_id: 'C 2': letters, digits, _ . : - (at most 64)",
        "line 4, email: 'cy-at-example' is not an e-mail address",
        "line 5, language: 'fr'; allowed: zh, en",
        "line 6, customer_since: 'last tuesday' is not a date (YYYY-MM-DD or ISO 8601)",
        "line 7, customer_id: 'C1' again (first on line 2)",
        "line 9, identities: 'weibo' is not channel:id (telegram:5551234)",
        "line 10: 2 cells, the header has 6",
    ]
    assert parsed.lines == 8  # the blank line is not one


def test_orders_are_checked_for_amount_status_currency_and_date() -> None:
    text = (
        "order_id,customer_id,ordered_at,amount,status,currency\n"
        "1001,C1,2026-11-01,1299.00,paid,cny\n"
        "1002,C1,2026-11-01,12.345,paid,\n"
        "1003,C1,2026-11-01,-5,paid,\n"
        "1004,C1,2026-11-01,abc,paid,\n"
        "1005,C1,2026-11-01,10,lost,\n"
        "1006,C1,,10,paid,\n"
        '1007,C1,2026-11-01,"1,299.50",DELIVERED,RMBX\n'
        '1008,C1,2026-11-01T08:00:00+08:00,"1,299.50",DELIVERED,\n'
    )
    parsed = parse_orders(text)
    assert [(o.order_id, o.amount_cents, o.currency, o.status) for o in parsed.rows] == [
        ("1001", 129_900, "CNY", "paid"),
        ("1008", 129_950, "CNY", "delivered"),
    ]
    assert parsed.rows[1].ordered_at == datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
    assert parsed.row_lines == [2, 9]
    assert [(e.line, e.column) for e in parsed.errors] == [
        (3, "amount"), (4, "amount"), (5, "amount"), (6, "status"), (7, "ordered_at"),
        (8, "currency"),
    ]  # fmt: skip


def test_the_header_the_size_and_the_encoding_are_checked_first() -> None:
    with pytest.raises(InputError, match=r"unknown column.* colour; missing column.* amount"):
        parse_orders("order_id,customer_id,ordered_at,status,colour\n")
    with pytest.raises(InputError, match="the file is empty"):
        parse_customers("")
    with pytest.raises(InputError, match="the limit is 1,024"):
        decode(b"x" * 1025, max_bytes=1024)
    with pytest.raises(InputError, match="more than 2 data lines"):
        parse_customers("customer_id\nA\nB\nC\n", max_rows=2)
    too_long = parse_customers("customer_id,region\nA," + "x" * 501 + "\n")
    assert [str(e) for e in too_long.errors] == ["line 2, region: longer than 500 characters"]
    # Excel's UTF-8 (with a BOM) and its Chinese-Windows CSV (GB 18030) both read.
    bom = "customer_id,name\nC1,王芳\n".encode("utf-8-sig")
    gbk = "customer_id,name\nC1,王芳\n".encode("gb18030")
    for data in (bom, gbk):
        assert parse_customers(decode(data)).rows[0].name == "王芳"


# -- the rules, pure ----------------------------------------------------------------------------
def test_value_bands_split_twenty_fifty_thirty_with_ties_going_up() -> None:
    rules = SegmentRules()
    bands = value_bands([100 * i for i in range(1, 11)] + [0, 0], rules)
    assert (bands.high_min_cents, bands.mid_min_cents) == (900, 400)  # 2 high, 5 mid, 3 low
    tied = value_bands([500, 500, 500, 100, 100], rules)
    assert tied.high_min_cents == 500  # all three at the top share it
    assert value_bands([], rules).high_min_cents is None


def test_lifecycle_rules_in_their_order() -> None:
    rules = SegmentRules()

    def ago(days: int | None) -> datetime | None:
        return None if days is None else NOW - timedelta(days=days)

    def facts(since: int, recent: int, talked: int | None, bought: int | None) -> CustomerFacts:
        return CustomerFacts(
            "c", NOW - timedelta(days=since), recent, ago(talked), ago(bought), 0, 0
        )

    assert lifecycle(facts(10, 0, None, None), NOW, rules) == "new"
    assert lifecycle(facts(400, 2, 1, 300), NOW, rules) == "active"  # active beats churned
    assert lifecycle(facts(400, 1, 5, 200), NOW, rules) == "churned"
    assert lifecycle(facts(400, 0, 100, 100), NOW, rules) == "dormant"
    assert (
        lifecycle(facts(400, 0, None, None), NOW, rules) == "dormant"
    )  # never bought: not churned
    assert lifecycle(facts(400, 1, 20, 20), NOW, rules) == "steady"


def test_priority_boosts_add_up_over_tags_and_segments() -> None:
    rules = SegmentRules(priority_boosts={"high_value": 2, "vip": 1, "lifecycle:churned": 1})
    assert priority_boost(("vip", "high_value"), "churned", "high", rules) == 4
    assert priority_boost((), "active", "low", rules) == 0


async def test_the_migration_keeps_customers_and_their_conversations_both_ways(
    store: SqlStore,
) -> None:
    from tests.bot.store.test_turns import _migrate

    start = await store.turns.begin("rest", "kept", "你好")
    await load_samples(store)
    await _migrate(store, "0011")  # down: the profile columns and tables go
    await _migrate(store, "head")  # up again over the existing rows (no table rebuilt)
    kept = await store.customers.get(start.customer.id)
    assert [msg.text for msg in await store.messages.of(start.conversation.id)] == ["你好"]
    assert kept.lifecycle is None and kept.email is None  # dropped with the columns
    assert await store.shop_orders.of_customer(kept.id) == []
    summary = await store.profiles.recompute(NOW)
    assert summary.customers == 21


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.lists(st.text(max_size=12), min_size=0, max_size=7).map(lambda cells: ",".join(cells)),
        max_size=8,
    )
)
def test_any_text_gives_rows_or_line_errors_never_a_crash(lines: list[str]) -> None:
    for header in (
        "customer_id,name,email,tags,identities",
        "order_id,customer_id,ordered_at,amount,status",
    ):
        text = "\n".join([header, *lines])
        parse = parse_customers if header.startswith("customer_id") else parse_orders
        parsed = parse(text)  # the header is right: every problem is a line's
        assert len(parsed.rows) == len(parsed.row_lines)
        assert all(e.line >= 2 for e in parsed.errors)
        # Each data line is a row or an error (+1: a quote left open ends the file as one error).
        assert len(parsed.rows) + len({e.line for e in parsed.errors}) <= parsed.lines + 1
