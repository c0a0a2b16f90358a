"""Handing a conversation to a person: queued for the skill group that can take it (or assigned
straight to an agent), or, when nobody can, a ticket with a promised reply time while the bot
keeps the chat.

The engine (bot/dialogue/engine.py) decides *that* a conversation goes to a person; this module
decides *where*, tells the customer in one message, and keeps the queue's promise to those
waiting (the announcer). Which group is open when, and each customer's place in line, come from
the handoff side through the Protocols in bot/dialogue/escalation.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.dialogue.escalation import QueueAnnouncing, Routing
from bot.dialogue.responses import OutboundMessage, Responses
from bot.dialogue.results import HandoffInfo, TurnResult
from bot.metrics import Metrics
from bot.nlu.types import Sentiment
from bot.store.records import CustomerRecord
from bot.store.sql_store import SqlStore
from bot.store.turns import TurnStart

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Handover:
    """The parts a handover needs, as the engine holds them at the moment of the turn."""

    store: SqlStore
    router: Routing
    responses: Responses
    announcer: QueueAnnouncing  # handoff's: tells waiting customers their place
    metrics: Metrics
    clock: Callable[[], datetime]
    follow_up: timedelta  # how long after the group opens a ticket promises a reply
    auto_assign: bool

    async def escalate(
        self,
        customer: CustomerRecord,
        conversation_id: str,
        reason: str,
        intent: str,
        category: str | None,
        priority: int,
        language: str,
        text: str,
        open_ticket: dict[str, Any] | None = None,
    ) -> tuple[HandoffInfo, list[OutboundMessage]]:
        """Queue (or assign) the conversation where someone can take it, else open a ticket
        (or repeat the open one's promise); the handoff and the one message that tells it."""
        wanted = self.router.group_for(reason, intent, category)
        # Tags and segments raise the customer in the queue (config.yml customers.priority_boosts).
        priority += self.store.profiles.priority_boost(customer)
        now = self.clock()
        online = [
            a
            for a in await self.store.agents.all()
            if a.status == "online" and language in a.languages
        ]

        def can_take(g: str) -> bool:
            return self.router.is_open(g, now) and any(g in a.skills for a in online)

        # One state, one message: the chat is queued where someone can take it (the wanted
        # group, else the overflow group), or a ticket is opened and the bot keeps the chat.
        overflow = self.router.settings.overflow_group
        group = (
            wanted if can_take(wanted) else overflow if overflow and can_take(overflow) else None
        )
        if group is None and open_ticket:  # the promise stands: no second ticket
            msg = self.responses.render(
                "utter_ticket_already_open",
                language,
                ticket=open_ticket["number"],
                follow_up=open_ticket.get("due") or "",
            )
            info = HandoffInfo(
                reason, wanted, None, open_ticket["number"], due=open_ticket.get("due")
            )
            return info, [msg]
        if group is None:
            self.metrics.handoff(reason, wanted)
            return await self.ticket(customer, conversation_id, reason, wanted, language, text, now)
        handoff = await self.store.handoffs.queue(
            conversation_id, reason, group, priority=priority, language=language, pending=True
        )
        self.metrics.handoff(reason, group)
        agents = [a for a in online if group in a.skills]
        if self.auto_assign:
            loads = await self.store.handoffs.agent_loads()
            for agent in sorted(
                agents, key=lambda a: (loads.get(a.id, 0) / a.max_concurrent, loads.get(a.id, 0))
            ):
                # Atomic: if another process filled this agent meanwhile, try the next one.
                if await self.store.handoffs.assign(handoff.id, agent.id):
                    msg = self.responses.render(
                        "utter_agent_joined", language, agent=agent.display_name
                    )
                    return HandoffInfo(reason, group, 0, assigned_to=agent.username), [msg]
        # The customer's place among those waiting for the same skill group; the reply tells
        # it, and the others in the group hear of theirs if this arrival moved them back.
        # Those behind it hear that they moved back once it joins the queue (`queued`).
        place = await self.announcer.place(handoff)
        await self.store.handoffs.tell_position(handoff.id, place.position)
        position = place.position
        msg = self.responses.render(
            "utter_handoff_queued", language, position=position, wait_minutes=place.wait_minutes
        )
        return HandoffInfo(reason, group, position), [msg]

    async def ticket(
        self,
        customer: CustomerRecord,
        conversation_id: str,
        reason: str,
        group: str,
        language: str,
        text: str,
        now: datetime,
    ) -> tuple[HandoffInfo, list[OutboundMessage]]:
        """Nobody can take the chat: a ticket with a promised reply time (service time: outside
        hours it runs from the next opening), told to the customer once, in their language."""
        due = self.router.next_open(group, now).astimezone(self.router.tz) + self.follow_up
        ticket = await self.store.tickets.create(
            customer.id, text[:200], conversation_id=conversation_id, skill_group=group, due_at=due
        )
        settings = self.router.settings.skill_groups.get(group)
        values = {
            "ticket": ticket.number,
            "follow_up": due.strftime("%m-%d %H:%M"),
            "hours": settings.hours if settings else "00:00-24:00",
            "group": settings.shown_as(group, language) if settings else group,
        }
        open_now = self.router.is_open(group, now)
        template = "utter_handoff_ticket" if open_now else "utter_handoff_unavailable"
        msg = self.responses.render(template, language, **values)
        return HandoffInfo(reason, group, None, ticket.number, due=values["follow_up"]), [msg]

    async def queued(self, handoff: HandoffInfo | None) -> None:
        """After the turn that queued a customer: those behind them who moved back hear it."""
        if handoff is not None and handoff.status == "queued":
            await self.announcer.announce(handoff.skill_group)

    async def give_up(
        self, start: TurnStart, tries: int, error: Exception | None, default_language: str
    ) -> TurnResult:
        """Close a turn that cannot be finished: keep why with the message, and hand the
        conversation to a person (reason "bot_error"), unless one holds it already."""
        inbound, conv = start.inbound, start.conversation
        reason = repr(error)[:500] if error is not None else "the turn never finished"
        log.error(
            "turn of message %d failed %d times (%s); the conversation goes to an agent",
            inbound.id,
            tries,
            reason,
            exc_info=error,
        )
        parse = {"turn": {"failed": True, "error": reason, "attempts": tries}}
        language = conv.language or default_language
        neutral = Sentiment("neutral", 0.0, None)
        if conv.status in ("queued", "assigned"):  # a person has it already; the bot is silent
            await self.store.turns.finish(conv.id, inbound.id, parse, [], inbound_seq=inbound.seq)
            return TurnResult(
                conv.id,
                start.customer.id,
                (),
                conv.status,
                conv.failed_turns,
                "",
                neutral,
                language,
            )
        handoff, replies = await self.escalate(
            start.customer,
            conv.id,
            "bot_error",
            "",
            conv.state.get("last_category"),
            0,
            language,
            inbound.text,
        )
        stored = await self.store.turns.finish(
            conv.id,
            inbound.id,
            parse,
            [{"text": r.text, "payload": r.to_dict()} for r in replies],
            inbound_seq=inbound.seq,
            language=language,
        )
        await self.queued(handoff)
        return TurnResult(
            conv.id,
            start.customer.id,
            tuple(replies),
            handoff.status,
            conv.failed_turns,
            "",
            neutral,
            language,
            handoff,
            seqs=tuple(m.seq for m in stored),
        )
