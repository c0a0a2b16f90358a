"""The ticket desk and its sweeper on the store's real back ends and a simulated clock: a
follow-up scheduled for later is sent by the sweeper once (even with two sweepers), with an
absolute link when the server's public address is set; resolved tickets close on time; a ticket
without a conversation cannot be updated."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.clock import SimulatedClock, use_clock
from bot.config import HandoffSection
from bot.config.tickets import TicketsSection
from bot.store.sql_store import SqlStore
from bot.store.tickets import TicketConflictError
from handoff.tickets.desk import TicketDesk
from handoff.tickets.sweeper import TicketSweeper

START = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


def _desk(store: SqlStore, **levels: object) -> TicketDesk:
    return TicketDesk(
        store,
        TicketsSection.model_validate(levels),
        skill_groups=HandoffSection().skill_groups,
        default_group="after_sales",
    )


async def test_a_later_follow_up_is_sent_once_by_the_sweepers(store: SqlStore) -> None:
    clock = SimulatedClock(START)
    with use_clock(clock):
        desk = _desk(store, follow_up_after_minutes=30, public_url="https://support.example.com")
        other = _desk(store, follow_up_after_minutes=30)  # a second instance
        amy = await store.agents.add("amy", "Amy", skills=["after_sales"])
        customer = await store.customers.for_identity("telegram", "42")
        conv = await store.conversations.active(customer.id, "telegram")
        await store.conversations.update(conv.id, language="en")
        t = await store.tickets.create(
            customer.id, "battery", conversation_id=conv.id, skill_group="after_sales"
        )
        await desk.claim(t.number, amy)
        await desk.move(t.number, "resolved", amy)
        told = (await store.messages.of(conv.id))[-1]
        assert told.text == (
            f"Your ticket {t.number} has been resolved. If anything is still wrong, "
            "just reply here."
        )
        assert (await store.deliveries.states(conv.id))[told.id].status == "pending"

        clock.advance(29 * 60)
        assert (await TicketSweeper(desk, 60).sweep()).followed_up == []
        clock.advance(2 * 60)
        first = await TicketSweeper(desk, 60).sweep()
        second = await TicketSweeper(other, 60).sweep()
        assert first.followed_up == [t.number] and second.followed_up == []
        asked = (await store.messages.of(conv.id))[-1]
        link = asked.payload["link"]
        assert link.startswith("https://support.example.com/tickets/follow-up/")
        assert link in asked.text  # a chat app shows the text: the link is in it
        token = link.rsplit("/", 1)[1]
        view = await desk.follow_up_view(token)
        assert view is not None and view.language == "en" and not view.answered
        await desk.answer_follow_up(token, solved=False, fast_enough=False, suggestions="")
        with pytest.raises(TicketConflictError, match="answered already"):
            await desk.answer_follow_up(token, solved=True, fast_enough=True, suggestions="")

        # Reopened and resolved again: asked once only.
        await desk.move(t.number, "in_progress", amy)
        await desk.move(t.number, "resolved", amy)
        clock.advance(3600)
        assert (await TicketSweeper(desk, 60).sweep()).followed_up == []

        # Seven days after its resolution it closes; a closed ticket takes no update.
        clock.advance(7 * 86400)
        assert (await TicketSweeper(desk, 60).sweep()).closed == [t.number]
        assert (await store.tickets.get(t.number)).status == "closed"
        with pytest.raises(TicketConflictError, match="closed"):
            await desk.update(t.number, "one more thing", amy)


async def test_groups_outside_the_follow_up_list_are_not_followed_up(store: SqlStore) -> None:
    desk = _desk(store)
    bill = await store.agents.add("bill", "Bill", skills=["billing"])
    customer = await store.customers.for_identity("web", "visitor")
    conv = await store.conversations.active(customer.id, "web")
    t = await store.tickets.create(
        customer.id, "invoice", conversation_id=conv.id, skill_group="billing"
    )
    await desk.claim(t.number, bill)
    await desk.move(t.number, "resolved", bill)
    assert await desk.follow_ups.of_ticket(t.id) is None
    events = [m.payload.get("event") for m in await store.messages.of(conv.id)]
    assert events == ["ticket_resolved"]


async def test_an_update_needs_a_conversation_to_reach_the_customer(store: SqlStore) -> None:
    desk = _desk(store)
    sue = await store.agents.add("sue", "Sue", role="supervisor")
    customer = await store.customers.for_identity("rest", "phoned")
    t = await store.tickets.create(customer.id, "called the hotline", skill_group="after_sales")
    with pytest.raises(TicketConflictError, match="no conversation"):
        await desk.update(t.number, "we are on it", sue)
    # Once they wrote on any channel, that conversation carries the update.
    conv = await store.conversations.active(customer.id, "rest")
    done = await desk.update(t.number, "we are on it", sue)
    assert done.message.conversation_id == conv.id and done.channel == "rest"
    assert done.ticket.status == "in_progress" and done.ticket.first_response_at is not None


async def test_a_customer_who_answers_puts_a_waiting_ticket_back_in_progress(
    store: SqlStore,
) -> None:
    clock = SimulatedClock(START)
    with use_clock(clock):
        desk = _desk(store)
        amy = await store.agents.add("amy", "Amy", skills=["after_sales"])
        customer = await store.customers.for_identity("web", "serial-number")
        conv = await store.conversations.active(customer.id, "web")
        await store.messages.append(conv.id, "customer", "my screen flickers")
        t = await store.tickets.create(
            customer.id, "screen", conversation_id=conv.id, skill_group="after_sales"
        )
        await desk.claim(t.number, amy)
        await desk.update(t.number, "What is the serial number?", amy)
        clock.advance(60)
        await desk.move(t.number, "waiting_customer", amy)
        sweeper = TicketSweeper(desk, 60)
        clock.advance(60)
        assert (await sweeper.sweep()).resumed == []  # nothing new from the customer
        await store.messages.append(conv.id, "customer", "SN 4711")
        clock.advance(60)
        assert (await sweeper.sweep()).resumed == [t.number]
        back = await store.tickets.get(t.number)
        assert back.status == "in_progress" and back.history[-1].note == "the customer replied"
        assert (await sweeper.sweep()).resumed == []
