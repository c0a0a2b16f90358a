"""What the service team does with a ticket, and what the customer hears of it.

The desk moves tickets through their statuses (open -> in progress -> waiting on customer ->
resolved -> closed, reopening a resolved one when it was not), records internal notes, and sends
progress updates to the customer in their newest conversation on the ticket's channel. An update
is an ordinary stored message carrying the ticket's number, so the channel's own delivery takes
it from there: the widget's socket shows it, the delivery ledger pushes it to Telegram or WeChat
(a WeChat customer outside the 48-hour window gets the `ticket_update` template message).

Escalation to tier 2 (by an agent, or by the sweeper when a ticket stays unresolved too long)
alerts every supervisor and admin. A resolution in a follow-up group schedules the follow-up:
a message with a link where the customer answers solved? fast enough? suggestions?, stored
once and reported.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot import clock
from bot.config import SkillGroup
from bot.config.tickets import TicketsSection
from bot.errors import InputError
from bot.store.records import AgentRecord, ConversationRecord, MessageRecord, TicketRecord
from bot.store.sql_store import SqlStore
from bot.store.ticket_follow_ups import (
    MAX_SUGGESTIONS_CHARS,
    FollowUpRecord,
    TicketAlerts,
    TicketFollowUps,
)
from bot.store.tickets import DONE, OPEN_STATUSES, TicketConflictError
from handoff.channel_limits import ChannelLimits
from handoff.tickets import sla
from handoff.tickets.wording import say

log = logging.getLogger(__name__)
SUPERVISORS = ("supervisor", "admin")
MAX_TEXT_CHARS = 4000
FOLLOW_UP_PATH = "/tickets/follow-up/"
TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")

# Where an agent may move a ticket from each status. "assigned" comes from claiming or
# assigning, never from a move; "closed" is final.
MOVES: dict[str, tuple[str, ...]] = {
    "new": ("in_progress", "waiting_customer", "resolved", "closed"),
    "assigned": ("in_progress", "waiting_customer", "resolved", "closed"),
    "in_progress": ("waiting_customer", "resolved", "closed"),
    "waiting_customer": ("in_progress", "resolved", "closed"),
    "resolved": ("in_progress", "closed"),
    "closed": (),
}


@dataclass(frozen=True)
class Delivered:
    """A customer-visible update: the ticket after it, the stored message, and the channel's
    window when the channel has one (a closed WeChat window: it goes as a template message,
    or fails visibly in the ledger)."""

    ticket: TicketRecord
    message: MessageRecord
    channel: str
    window: dict[str, object] | None


@dataclass(frozen=True)
class FollowUpView:
    """What the customer's follow-up page shows."""

    ticket: str
    subject: str
    language: str
    answered: bool
    expired: bool


class TicketDesk:
    def __init__(
        self,
        store: SqlStore,
        levels: TicketsSection,
        *,
        skill_groups: Mapping[str, SkillGroup],
        default_group: str,
        channel_limits: Mapping[str, ChannelLimits] | None = None,
    ) -> None:
        self.store = store
        self.levels = levels
        self.skill_groups = skill_groups
        self.default_group = default_group
        self.channel_limits = channel_limits or {}
        self.follow_ups = TicketFollowUps(store.db)
        self.alerts = TicketAlerts(store.db)

    # -- who may do what -------------------------------------------------------------------
    def group_of(self, ticket: TicketRecord) -> str:
        """The team a ticket belongs to (one the bot opened without a group: the default)."""
        return ticket.skill_group or self.default_group

    def may_see(self, agent: AgentRecord, ticket: TicketRecord) -> bool:
        return (
            agent.role in SUPERVISORS
            or ticket.assigned_to == agent.id
            or self.group_of(ticket) in agent.skills
        )

    def may_work(self, agent: AgentRecord, ticket: TicketRecord) -> bool:
        """Status, updates, escalation: the holder, or a supervisor."""
        return agent.role in SUPERVISORS or ticket.assigned_to == agent.id

    # -- the queue -------------------------------------------------------------------------
    async def queue(self, agent: AgentRecord, group: str | None = None) -> list[TicketRecord]:
        """Open tickets nobody holds, in the agent's skill groups (all for a supervisor)."""
        groups: list[str] | None = None if agent.role in SUPERVISORS else list(agent.skills)
        if group is not None:
            groups = [group] if groups is None or group in groups else []
        found = await self.store.tickets.work(
            unassigned=True,
            groups=groups,
            ungrouped=groups is None or self.default_group in groups,
            limit=500,
        )
        return [t for t in found if groups is None or self.group_of(t) in groups]

    async def mine(self, agent: AgentRecord) -> list[TicketRecord]:
        """The agent's open tickets and those they resolved (until closed: a reopened or
        followed-up one is still theirs to read)."""
        return await self.store.tickets.work(
            statuses=(*OPEN_STATUSES, "resolved"), assigned_to=agent.id
        )

    # -- working a ticket ------------------------------------------------------------------
    async def claim(self, number: str, agent: AgentRecord) -> TicketRecord:
        return await self.store.tickets.claim(number, agent.id, actor=agent.username)

    async def assign(self, number: str, username: str | None, by: AgentRecord) -> TicketRecord:
        if username is None:
            return await self.store.tickets.assign(number, None, actor=by.username)
        target = await self.store.agents.get(username)
        if target.disabled:
            raise InputError(f"agent {username!r} is disabled")
        return await self.store.tickets.assign(number, target.id, actor=by.username)

    async def move(self, number: str, status: str, by: AgentRecord, note: str = "") -> TicketRecord:
        """Move the ticket along MOVES; a resolution tells the customer and, in a follow-up
        group, schedules the follow-up."""
        _check_text(note, "note", allow_empty=True)
        ticket = await self.store.tickets.get(number)
        allowed = MOVES.get(ticket.status, ())
        if status not in allowed:
            raise TicketConflictError(
                f"ticket {ticket.number} is {ticket.status}; it can become "
                + (", ".join(allowed) if allowed else "nothing else")
            )
        moved = await self.store.tickets.set_status(
            number, status, note=note, actor=by.username, expect=(ticket.status,)
        )
        if status == "resolved":
            await self._tell(
                moved, say("resolved", await self._language(moved), ticket=moved.number), by
            )
            await self.after_resolution(moved)
        return moved

    async def note(self, number: str, text: str, by: AgentRecord) -> TicketRecord:
        """An internal note: in the ticket's history, never sent to the customer."""
        _check_text(text, "text")
        return await self.store.tickets.add_event(number, "note", text, actor=by.username)

    async def update(self, number: str, text: str, by: AgentRecord) -> Delivered:
        """A progress update the customer receives on their channel; the ticket's first
        response if it had none, and an open ticket being worked is in progress from then."""
        _check_text(text, "text")
        ticket = await self.store.tickets.get(number)
        if ticket.status == "closed":
            raise TicketConflictError(f"ticket {ticket.number} is closed")
        conv = await self._reach(ticket)
        limits = self.channel_limits.get(conv.channel)
        wording = say("update", conv.language, ticket=ticket.number, text=text.strip())
        if limits is not None and limits.max_text_chars and len(wording) > limits.max_text_chars:
            raise InputError(
                f"{conv.channel} carries at most {limits.max_text_chars} characters per message"
            )
        window = None
        if limits is not None:
            found = await limits.messaging_window(conv.customer_id, clock.now())
            window = found.to_dict() if found is not None else None
        message = await self.store.messages.append(
            conv.id,
            "agent",
            wording,
            sender_id=by.id,
            payload={"ticket": ticket.number, "event": "ticket_update"},
        )
        after = await self.store.tickets.add_event(
            number, "update", text.strip(), actor=by.username, message_id=message.id
        )
        if after.status in ("new", "assigned"):
            after = await self.store.tickets.set_status(
                number, "in_progress", actor=by.username, expect=(after.status,)
            )
        return Delivered(after, message, conv.channel, window)

    async def escalate(self, number: str, by: AgentRecord | None, note: str = "") -> TicketRecord:
        """Tier 1 -> tier 2, and every supervisor and admin is alerted."""
        _check_text(note, "note", allow_empty=True)
        actor = by.username if by is not None else "sla"
        ticket = await self.store.tickets.escalate(number, actor=actor, note=note)
        await self._alert_supervisors(ticket, note or f"escalated by {actor}")
        return ticket

    async def set_details(
        self,
        number: str,
        by: AgentRecord,
        *,
        skill_group: str | None = None,
        cross_department: bool | None = None,
    ) -> TicketRecord:
        if skill_group is not None and skill_group not in self.skill_groups:
            raise InputError(f"skill_group: one of {', '.join(sorted(self.skill_groups))}")
        return await self.store.tickets.set_details(
            number,
            actor=by.username,
            skill_group=skill_group,
            cross_department=cross_department,
        )

    # -- the sweeper's work ----------------------------------------------------------------
    async def escalate_overdue(self, now: datetime) -> list[str]:
        """Tier-1 tickets unresolved past their group's escalation time (not those waiting on
        the customer) go to tier 2; their numbers."""
        done: list[str] = []
        for t in await self.store.tickets.work(
            statuses=("new", "assigned", "in_progress"), tier=1, limit=500
        ):
            after = self.levels.escalate_after(t.skill_group)
            if t.created_at + after > now:
                continue
            minutes = round(after.total_seconds() / 60)
            try:
                await self.escalate(t.number, None, f"unresolved after {minutes} min")
            except TicketConflictError:
                continue  # another instance, or an agent, was first
            log.info("ticket %s escalated to tier 2 after %d min", t.number, minutes)
            done.append(t.number)
        return done

    async def resume_answered(self) -> list[str]:
        """Tickets waiting on the customer whose customer wrote since: back in progress, so
        the holder sees them move; their numbers."""
        resumed = []
        for t in await self.store.tickets.work(statuses=("waiting_customer",), limit=500):
            full = await self.store.tickets.get(t.number)
            since = max((e.at for e in full.history if e.kind == "status"), default=full.created_at)
            try:
                conv = await self._reach(full)
            except TicketConflictError:
                continue
            answered = any(
                m.sender == "customer" and m.created_at > since
                for m in await self.store.messages.of(conv.id)
            )
            if not answered:
                continue
            try:
                await self.store.tickets.set_status(
                    t.number,
                    "in_progress",
                    note="the customer replied",
                    actor="customer",
                    expect=("waiting_customer",),
                )
            except TicketConflictError:
                continue
            resumed.append(t.number)
        return resumed

    async def close_resolved(self, now: datetime) -> list[str]:
        days = self.levels.close_resolved_after_days
        if not days:
            return []
        closed = []
        for t in await self.store.tickets.resolved_before(now - timedelta(days=days)):
            try:
                await self.store.tickets.set_status(
                    t.number,
                    "closed",
                    note=f"closed {days:g} days after resolution",
                    actor="sla",
                    expect=("resolved",),
                )
            except TicketConflictError:
                continue
            closed.append(t.number)
        return closed

    # -- follow-ups ------------------------------------------------------------------------
    async def after_resolution(self, ticket: TicketRecord) -> bool:
        """Schedule the follow-up of a resolution in a follow-up group (once per ticket), and
        send it now when it is due now; whether one was scheduled."""
        if self.group_of(ticket) not in self.levels.follow_up_groups:
            return False
        now = clock.now()
        due = now + timedelta(minutes=self.levels.follow_up_after_minutes)
        if not await self.follow_ups.schedule(ticket.id, due):
            return False
        if due <= now:
            await self.send_due_follow_ups(now)
        return True

    async def send_due_follow_ups(self, now: datetime) -> list[str]:
        """Send every follow-up whose time has come (each once, whichever instance claims it);
        the tickets' numbers."""
        return [r.ticket_number for r in await self.follow_ups.due(now) if await self._send(r)]

    async def _send(self, record: FollowUpRecord) -> bool:
        token = secrets.token_urlsafe(32)
        expires = clock.now() + timedelta(days=self.levels.follow_up_valid_days)
        if not await self.follow_ups.claim(record.id, token, expires):
            return False  # another instance sent it
        ticket = await self.store.tickets.get(record.ticket_number)
        try:
            conv = await self._reach(ticket)
        except TicketConflictError:
            log.warning("ticket %s: no conversation to send the follow-up to", ticket.number)
            return False
        link = self.follow_up_link(token)
        absolute = link.startswith("http")
        text = say(
            "follow_up" if absolute else "follow_up_below",
            conv.language,
            ticket=ticket.number,
            link=link,
        )
        message = await self.store.messages.append(
            conv.id,
            "bot",
            text,
            payload={
                "ticket": ticket.number,
                "event": "ticket_follow_up",
                "link": link,
                "caption": say("follow_up_caption", conv.language),
            },
        )
        await self.follow_ups.sent_as(record.id, message.id)
        await self.store.tickets.add_event(
            ticket.number, "follow_up", "follow-up sent", actor="bot", message_id=message.id
        )
        return True

    def follow_up_link(self, token: str) -> str:
        return (self.levels.public_url or "") + FOLLOW_UP_PATH + token

    async def follow_up_view(self, token: str) -> FollowUpView | None:
        record = await self._follow_up(token)
        if record is None:
            return None
        ticket = await self.store.tickets.get(record.ticket_number)
        return FollowUpView(
            ticket.number,
            ticket.subject,
            await self._language(ticket),
            record.answered_at is not None,
            record.expires_at <= clock.now(),
        )

    async def answer_follow_up(
        self, token: str, *, solved: bool, fast_enough: bool, suggestions: str
    ) -> FollowUpView | None:
        """Store the customer's answers; None for an unknown link, TicketConflictError when it
        expired or was answered already."""
        if len(suggestions) > MAX_SUGGESTIONS_CHARS:
            raise InputError(f"'suggestions' is over {MAX_SUGGESTIONS_CHARS} characters")
        record = await self._follow_up(token)
        if record is None:
            return None
        if record.expires_at <= clock.now():
            raise TicketConflictError("this follow-up has expired")
        if not await self.follow_ups.answer(
            record.id, solved=solved, fast_enough=fast_enough, suggestions=suggestions.strip()
        ):
            raise TicketConflictError("this follow-up was answered already")
        verdict = (
            f"solved: {'yes' if solved else 'no'}; fast enough: {'yes' if fast_enough else 'no'}"
        )
        await self.store.tickets.add_event(
            record.ticket_number,
            "follow_up",
            verdict + (f"; suggestions: {suggestions.strip()}" if suggestions.strip() else ""),
            actor="customer",
        )
        return await self.follow_up_view(token)

    async def _follow_up(self, token: str) -> FollowUpRecord | None:
        if not TOKEN.match(token):
            return None
        return await self.follow_ups.by_token(token)

    # -- reports ---------------------------------------------------------------------------
    async def report(self, since: datetime, until: datetime) -> dict[str, Any]:
        """The SLA figures of the period's tickets and the answers to its follow-ups."""
        now = clock.now()
        tickets = await self.store.tickets.opened_or_open(since, until)
        out = sla.report(tickets, now)
        out["follow_ups"] = follow_up_report(await self.follow_ups.sent_between(since, until))
        return out

    async def transcript(self, ticket: TicketRecord, last: int = 30) -> list[dict[str, Any]]:
        """The newest messages of the conversation the customer hears about the ticket in
        (what they answered to an update, say), oldest first; agents' private notes are not
        messages and never appear."""
        try:
            conv = await self._reach(ticket)
        except TicketConflictError:
            return []
        messages = (await self.store.messages.of(conv.id))[-last:]
        return [
            {
                "id": m.id,
                "sender": m.sender,
                "text": m.text,
                "at": m.created_at,
                "channel": conv.channel,
            }
            for m in messages
        ]

    # -- helpers ---------------------------------------------------------------------------
    async def _reach(self, ticket: TicketRecord) -> ConversationRecord:
        """Where the customer hears about the ticket: their newest conversation on the channel
        the ticket came from (the one their widget or chat app shows), else their newest
        conversation anywhere."""
        if ticket.conversation_id is not None:
            conv = await self.store.conversations.get(ticket.conversation_id)
            latest = await self.store.conversations.latest(ticket.customer_id, conv.channel)
            return latest or conv
        convs = await self.store.conversations.of_customer(ticket.customer_id)
        if not convs:
            raise TicketConflictError(
                f"ticket {ticket.number}: the customer has no conversation to reach them in"
            )
        return max(convs, key=lambda c: c.created_at)

    async def _language(self, ticket: TicketRecord) -> str:
        try:
            conv = await self._reach(ticket)
        except TicketConflictError:
            conv = None
        if conv is not None and conv.language:
            return conv.language
        customer = await self.store.customers.get(ticket.customer_id)
        return customer.language or "zh"

    async def _tell(self, ticket: TicketRecord, text: str, by: AgentRecord) -> None:
        try:
            conv = await self._reach(ticket)
        except TicketConflictError:
            return  # nobody to tell; the history has the change
        await self.store.messages.append(
            conv.id,
            "agent",
            text,
            sender_id=by.id,
            payload={"ticket": ticket.number, "event": "ticket_resolved"},
        )

    async def _alert_supervisors(self, ticket: TicketRecord, why: str) -> None:
        people = [
            a.id for a in await self.store.agents.all() if a.role in SUPERVISORS and not a.disabled
        ]
        told = await self.alerts.notify(people, ticket.id, "escalated", why)
        log.info("ticket %s: %d supervisor(s) alerted (%s)", ticket.number, told, why)


def follow_up_report(records: list[FollowUpRecord]) -> dict[str, Any]:
    """Sent, answered, and the shares that said solved and fast enough, with the suggestions."""
    answered = [r for r in records if r.answered_at is not None]
    n = len(answered)
    return {
        "sent": len(records),
        "answered": n,
        "solved": sum(1 for r in answered if r.solved),
        "fast_enough": sum(1 for r in answered if r.fast_enough),
        "solved_share": (sum(1 for r in answered if r.solved) / n) if n else None,
        "fast_enough_share": (sum(1 for r in answered if r.fast_enough) / n) if n else None,
        "answers": [
            {
                "ticket": r.ticket_number,
                "skill_group": r.skill_group,
                "answered_at": r.answered_at,
                "solved": r.solved,
                "fast_enough": r.fast_enough,
                "suggestions": r.suggestions,
            }
            for r in sorted(answered, key=lambda r: r.answered_at or r.due_at, reverse=True)
        ][:200],
    }


def _check_text(text: Any, name: str, *, allow_empty: bool = False) -> None:
    if not isinstance(text, str) or (not allow_empty and not text.strip()):
        raise InputError(f"'{name}' must be a non-empty string")
    if len(text) > MAX_TEXT_CHARS:
        raise InputError(f"'{name}' is over {MAX_TEXT_CHARS} characters")


__all__ = ["DONE", "MOVES", "OPEN_STATUSES", "Delivered", "FollowUpView", "TicketDesk"]
