"""The knowledge review's record (store.knowledge_events) on SQLite and PostgreSQL: steps kept in
order per article, and the per-agent monthly counts the dashboard shows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot import clock
from bot.errors import InputError
from bot.store import models as m
from bot.store.knowledge_events import MonthlyCounts
from bot.store.sql_store import SqlStore


async def _agents(store: SqlStore) -> dict[str, str]:
    ids = {}
    for name in ("amy", "bob", "sue"):
        ids[name] = (await store.agents.add(name, name.title())).id
    return ids


async def test_steps_are_kept_in_order_per_article(store: SqlStore) -> None:
    ids = await _agents(store)
    ev = store.knowledge_events
    await ev.record("a/x", "contributed", agent_id=ids["amy"], username="amy", title="X", version=1)
    await ev.record("b/y", "revised", agent_id=ids["bob"], username="bob", title="Y", version=3)
    await ev.record("a/x", "submitted", agent_id=ids["amy"], username="amy", title="X")
    await ev.record(
        "a/x", "rejected", agent_id=ids["sue"], username="sue", title="X", reason="Too vague"
    )
    steps = await ev.of("a/x")
    assert [(s.action, s.username) for s in steps] == [
        ("contributed", "amy"),
        ("submitted", "amy"),
        ("rejected", "sue"),
    ]
    assert steps[-1].reason == "Too vague" and steps[0].version == 1
    both = await ev.latest(["a/x", "b/y", "c/none"])
    assert set(both) == {"a/x", "b/y"} and both["b/y"][0].version == 3
    assert await ev.of("c/none") == []
    assert await ev.latest([]) == {}


async def test_bad_steps_are_refused(store: SqlStore) -> None:
    ev = store.knowledge_events
    with pytest.raises(InputError, match="action 'deleted'"):
        await ev.record("a/x", "deleted", agent_id=None, username="amy", title="X")
    with pytest.raises(InputError, match="reason over"):
        await ev.record(
            "a/x", "rejected", agent_id=None, username="s", title="X", reason="r" * 2001
        )


async def test_a_deleted_agent_keeps_their_counts(store: SqlStore) -> None:
    ids = await _agents(store)
    ev = store.knowledge_events
    await ev.record("a/x", "contributed", agent_id=ids["bob"], username="bob", title="X")

    def drop(s: Session) -> None:
        s.execute(delete(m.Agent).where(m.Agent.username == "bob"))
        s.commit()

    await store.db.run(drop)
    (step,) = await ev.of("a/x")
    assert step.username == "bob"

    def agent_of_step(s: Session) -> str | None:
        return s.scalars(select(m.KnowledgeEvent.agent_id)).one()

    assert await store.db.run(agent_of_step) is None
    now = clock.now()
    rows = await ev.monthly(now.replace(day=1, hour=0), now.replace(year=now.year + 1))
    assert rows == [MonthlyCounts(f"{now:%Y-%m}", "bob", contributed=1)]


async def test_monthly_counts_per_agent(store: SqlStore) -> None:
    ids = await _agents(store)
    ev = store.knowledge_events

    async def at(when: datetime, *args: str, **kw: str | None) -> None:
        with clock.use_clock(lambda: when):
            await ev.record(
                args[0], args[1], agent_id=ids[args[2]], username=args[2], title="T", **kw
            )

    nov, dec, jan = (
        datetime(y, m, 15, 12, tzinfo=UTC) for y, m in ((2026, 11), (2026, 12), (2027, 1))
    )
    await at(nov, "a/1", "contributed", "amy")
    await at(nov, "a/2", "contributed", "amy")
    await at(nov, "b/1", "revised", "bob")  # a proposed change counts as a contribution
    await at(nov, "a/1", "submitted", "amy")  # not counted
    await at(nov, "a/1", "approved", "sue", author="amy")
    await at(dec, "a/2", "rejected", "sue", reason="Which model?")
    await at(dec, "b/1", "approved", "sue", author="bob")
    await at(dec, "c/1", "approved", "sue", author=None)  # a hand-written file: no author
    await at(jan, "a/3", "contributed", "amy")

    rows = await ev.monthly(datetime(2026, 11, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    assert rows == [
        MonthlyCounts("2026-11", "amy", contributed=2, published=1),
        MonthlyCounts("2026-11", "bob", contributed=1),
        MonthlyCounts("2026-11", "sue", reviewed=1),
        MonthlyCounts("2026-12", "bob", published=1),
        MonthlyCounts("2026-12", "sue", reviewed=3),
    ]
    # The end is exclusive, the start inclusive.
    only_jan = await ev.monthly(datetime(2027, 1, 1, tzinfo=UTC), datetime(2027, 2, 1, tzinfo=UTC))
    assert only_jan == [MonthlyCounts("2027-01", "amy", contributed=1)]
