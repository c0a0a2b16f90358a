"""Facts read back from the store (SQLite and PostgreSQL): timestamps, handoffs, ratings, and
which questions count as knowledge gaps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from bot.analytics.facts import read_facts
from bot.analytics.metrics import Settings
from bot.analytics.summary import Period, summarize
from bot.store import models as m
from bot.store.sql_store import SqlStore

T0 = datetime(2026, 11, 10, 8, 0, tzinfo=UTC)


def _parse(intent: str, failed: bool = False) -> dict[str, Any]:
    return {
        "intent": {"name": intent, "confidence": 0.9},
        "language": "zh",
        "turn": {"failed": failed},
    }


async def _turn(
    store: SqlStore,
    sender: str,
    text: str,
    intent: str,
    replies: list[dict[str, Any]],
    channel: str = "web",
    failed: bool = False,
) -> str:
    start = await store.turns.begin(channel, sender, text)
    await store.turns.finish(
        start.conversation.id, start.inbound.id, _parse(intent, failed), replies
    )
    return start.conversation.id


async def _at(store: SqlStore, cid: str, start: datetime, step_s: float = 2.0) -> None:
    """Move a conversation and its messages to `start`, `step_s` apart, its last change to its
    last message, as if it had happened then (test set-up)."""

    def work(s: Session) -> None:
        rows = s.query(m.Message).filter(m.Message.conversation_id == cid).order_by(m.Message.seq)
        last = start
        for i, msg in enumerate(rows):
            msg.created_at = last = start + timedelta(seconds=step_s * i)
        s.execute(
            update(m.Conversation)
            .where(m.Conversation.id == cid)
            .values(created_at=start, updated_at=last)
        )
        s.commit()

    await store.db.run(work)


async def test_gaps_are_questions_the_bot_could_not_answer(store: SqlStore) -> None:
    kb = {"text": "满99元包邮", "kb_article": {"id": "service/shipping/free", "version": 2}}
    cid = await _turn(store, "u1", "满多少包邮", "question_shipping", [kb])
    await _turn(store, "u1", "你们卖火星车吗", "out_of_scope", [{"text": "没听懂"}], failed=True)
    # An order number alone is not understood as an intent, but the bot looked it up: no gap.
    await _turn(store, "u1", "202611180042", "out_of_scope", [{"text": "已发货"}])
    # Not a question: a failed order look-up is no knowledge gap.
    await _turn(store, "u1", "订单999", "order_status", [{"text": "没找到"}], failed=True)
    await _turn(store, "u1", "谢谢", "thank", [{"text": "不客气"}])
    await _at(store, cid, T0)
    [f] = await read_facts(
        store.db, T0, T0 + timedelta(days=1), categories={"service/shipping/free": "service"}
    )
    assert [q.text for q in f.gaps] == ["你们卖火星车吗"]
    assert f.categories == {"service": 1}
    assert f.first_customer_at == T0 and f.first_bot_at == T0 + timedelta(seconds=2)
    assert f.topic == "question_shipping"  # a tie broken by name, the same on every run
    assert f.intents["thank"] == 1 and not f.escalated


async def test_summary_counts_handoffs_ratings_and_returns(store: SqlStore) -> None:
    bot_only = await _turn(store, "a", "满多少包邮", "question_shipping", [{"text": "99"}])
    await _at(store, bot_only, T0)
    handed = await _turn(store, "b", "转人工", "request_human", [{"text": "正在转接"}])
    h = await store.handoffs.queue(handed, "explicit_request", "after_sales", language="zh")
    agent = await store.agents.add("amy", "Amy", skills=["after_sales"])
    await store.handoffs.assign(h.id, agent.id)
    await store.handoffs.update(
        h.id,
        status="resolved",
        first_agent_reply_at=T0 + timedelta(seconds=50),
        resolved_at=T0 + timedelta(minutes=10),
    )
    await store.conversations.update(
        handed, status="resolved", closed_at=T0 + timedelta(minutes=10)
    )
    await store.ratings.add(handed, 4, "客服很耐心")

    def backdate(s: Session) -> None:
        s.execute(
            update(m.Handoff)
            .where(m.Handoff.id == h.id)
            .values(queued_at=T0, assigned_at=T0 + timedelta(seconds=40))
        )
        s.commit()

    await store.db.run(backdate)
    await _at(store, handed, T0)
    # Customer "b" comes back two days later about the same thing: not first-contact resolved.
    again = await _turn(store, "b", "我要转人工", "request_human", [{"text": "正在转接"}])
    await _at(store, again, T0 + timedelta(days=2))

    out = await summarize(
        store.db,
        Period.days("2026-11-10", "2026-11-10"),
        settings=Settings(sla_seconds=30),
        now=T0 + timedelta(days=8),  # both closed more than the 7 first-contact days ago
    )
    t = out["totals"]
    assert t["conversations"] == 2  # the return falls after the period
    assert (t["closed"], t["open"]) == (2, 0)  # "a" went quiet: its bot session expired
    assert t["contained"] == 1 and t["escalation_rate"] == 0.5
    assert t["human_first_response_p50_s"] == 50 and t["sla_breaches"] == 1
    assert t["csat_rate"] == 1.0 and t["csat_mean_100"] == 75.0
    assert t["first_contact_resolution_rate"] == 0.5  # a kept by the bot; b came back
    assert out["escalation_reasons"] == [{"reason": "explicit_request", "count": 1, "share": 1.0}]
    agents = {row["key"]: row["conversations"] for row in out["slices"]["agent"]}
    assert agents == {"(bot)": 1, "amy": 1}
    assert [b["key"] for b in out["series"]] == ["2026-11-10"]
    assert out["sla_breaches"][0]["conversation_id"] == handed
    web_only = await summarize(
        store.db, Period.days("2026-11-10", "2026-11-10"), filters={"channel": "telegram"}
    )
    assert web_only["totals"]["conversations"] == 0
