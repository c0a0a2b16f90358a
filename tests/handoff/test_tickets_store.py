"""The ticket repository worked as the console works it, on SQLite and PostgreSQL: SLA clocks
stamped at opening, claiming once, status moves that refuse a stale expectation, escalation
once, follow-ups sent once and answered once, alerts once per person."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.clock import SimulatedClock, use_clock
from bot.config.tickets import TicketLevels, TicketsSection
from bot.store.sql_store import SqlStore
from bot.store.ticket_follow_ups import TicketAlerts, TicketFollowUps
from bot.store.tickets import SqlTickets, TicketConflictError

START = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")


async def _customer(store: SqlStore) -> str:
    return (await store.customers.for_identity("web", "tickets-store-customer")).id


async def test_clocks_are_stamped_from_the_groups_levels_and_the_bots_promise(
    store: SqlStore,
) -> None:
    levels = TicketsSection(groups={"complaints": TicketLevels(first_response_hours=0.5)})
    store.tickets = SqlTickets(store.db, store.settings, levels)
    cid = await _customer(store)
    with use_clock(SimulatedClock(START)):
        plain = await store.tickets.create(cid, "broken", skill_group="after_sales")
        urgent = await store.tickets.create(cid, "rude courier", skill_group="complaints")
        promised = await store.tickets.create(
            cid,
            "late",
            skill_group="after_sales",
            due_at=(START + timedelta(hours=5)).astimezone(SHANGHAI),
        )
        cross = await store.tickets.create(
            cid, "refund via bank", skill_group="billing", cross_department=True
        )
    assert plain.number == "T-1001" and plain.history[0].status == "new"
    assert plain.first_response_due_at == START + timedelta(hours=2)
    assert plain.resolution_due_at == START + timedelta(hours=24)
    assert urgent.first_response_due_at == START + timedelta(minutes=30)
    # The bot's promise, made in local time, is the same instant once stored.
    assert promised.first_response_due_at == START + timedelta(hours=5)
    assert promised.due_at == START + timedelta(hours=5)
    assert cross.resolution_due_at == START + timedelta(hours=48)
    # Marking a ticket cross-department later moves its resolution deadline from its opening.
    with use_clock(SimulatedClock(START + timedelta(hours=3))):
        later = await store.tickets.set_details(plain.number, actor="amy", cross_department=True)
    assert later.resolution_due_at == START + timedelta(hours=48)
    assert later.history[-1].kind == "details"


async def test_a_ticket_is_claimed_once_and_moves_refuse_a_stale_status(store: SqlStore) -> None:
    cid = await _customer(store)
    amy = await store.agents.add("amy", "Amy", skills=["after_sales"])
    bob = await store.agents.add("bob", "Bob", skills=["after_sales"])
    t = await store.tickets.create(cid, "screen flickers", skill_group="after_sales")
    claimed = await store.tickets.claim(t.number.lower(), amy.id, actor="amy")
    assert claimed.assigned_to == amy.id and claimed.status == "assigned"
    with pytest.raises(TicketConflictError, match="claimed by someone else"):
        await store.tickets.claim(t.number, bob.id, actor="bob")
    moved = await store.tickets.set_status(
        t.number, "in_progress", actor="amy", expect=("assigned",)
    )
    assert moved.status == "in_progress"
    with pytest.raises(TicketConflictError, match="is in_progress now"):
        await store.tickets.set_status(t.number, "resolved", actor="bob", expect=("assigned",))
    assert (await store.tickets.get(t.number)).status == "in_progress"
    # A note and an update are events; the update is the first response.
    await store.tickets.add_event(t.number, "note", "customer is a VIP", actor="amy")
    updated = await store.tickets.add_event(t.number, "update", "part ordered", actor="amy")
    assert updated.first_response_at is not None
    assert [e.kind for e in updated.history] == ["status", "assigned", "status", "note", "update"]
    resolved = await store.tickets.set_status(t.number, "resolved", actor="amy")
    assert resolved.resolved_at is not None
    reopened = await store.tickets.set_status(t.number, "in_progress", actor="amy")
    assert reopened.resolved_at is None  # the resolution clock runs again
    # Giving it back puts it in the queue as nobody's.
    back = await store.tickets.assign(t.number, None, actor="sue")
    assert back.assigned_to is None
    queue = await store.tickets.work(unassigned=True, groups=["after_sales"])
    assert [x.number for x in queue] == [t.number] and queue[0].history == ()
    # A ticket opened without a group is in the default group's queue when asked for.
    loose = await store.tickets.create(cid, "from a story")
    grouped = await store.tickets.work(unassigned=True, groups=["after_sales"])
    assert [x.number for x in grouped] == [t.number]
    both = await store.tickets.work(unassigned=True, groups=["after_sales"], ungrouped=True)
    assert [x.number for x in both] == [t.number, loose.number]


async def test_escalation_happens_once(store: SqlStore) -> None:
    cid = await _customer(store)
    t = await store.tickets.create(cid, "no refund yet", skill_group="after_sales")
    up = await store.tickets.escalate(t.number, actor="sla", note="unresolved after 10 min")
    assert up.tier == 2 and up.escalated_at is not None
    with pytest.raises(TicketConflictError, match="tier 2 already"):
        await store.tickets.escalate(t.number, actor="amy", note="")
    await store.tickets.set_status(t.number, "closed", actor="sue")
    other = await store.tickets.create(cid, "another", skill_group="after_sales")
    await store.tickets.set_status(other.number, "closed", actor="sue")
    with pytest.raises(TicketConflictError, match="is closed"):
        await store.tickets.escalate(other.number, actor="amy", note="")


async def test_follow_ups_are_sent_once_and_answered_once(store: SqlStore) -> None:
    cid = await _customer(store)
    t = await store.tickets.create(cid, "repair", skill_group="after_sales")
    follow_ups = TicketFollowUps(store.db)
    assert await follow_ups.schedule(t.id, START)
    assert not await follow_ups.schedule(t.id, START)  # one per ticket
    due = await follow_ups.due(START + timedelta(seconds=1))
    assert [d.ticket_number for d in due] == [t.number]
    assert await follow_ups.by_token("x" * 43) is None  # no link works before it is sent
    expires = START + timedelta(days=14)
    assert await follow_ups.claim(due[0].id, "token-1", expires)
    assert not await follow_ups.claim(due[0].id, "token-2", expires)  # the other instance
    assert await follow_ups.due(START + timedelta(days=1)) == []
    found = await follow_ups.by_token("token-1")
    assert found is not None and found.ticket_number == t.number
    assert await follow_ups.by_token("token-2") is None
    assert await follow_ups.answer(found.id, solved=True, fast_enough=False, suggestions="call")
    assert not await follow_ups.answer(found.id, solved=False, fast_enough=False, suggestions="")
    kept = await follow_ups.of_ticket(t.id)
    assert kept is not None and kept.solved is True and kept.fast_enough is False
    assert kept.suggestions == "call"


async def test_alerts_reach_each_person_once(store: SqlStore) -> None:
    cid = await _customer(store)
    sue = await store.agents.add("sue", "Sue", role="supervisor")
    ada = await store.agents.add("ada", "Ada", role="admin")
    t = await store.tickets.create(cid, "escalate me", skill_group="after_sales")
    alerts = TicketAlerts(store.db)
    assert await alerts.notify([sue.id, ada.id, sue.id], t.id, "escalated", "10 min") == 2
    assert await alerts.notify([sue.id], t.id, "escalated", "again") == 0
    mine = await alerts.of_agent(sue.id)
    assert [(a.ticket_number, a.kind, a.read_at) for a in mine] == [(t.number, "escalated", None)]
    assert await alerts.mark_read(sue.id) == 1
    assert await alerts.of_agent(sue.id, unread_only=True) == []
    assert len(await alerts.of_agent(ada.id, unread_only=True)) == 1
