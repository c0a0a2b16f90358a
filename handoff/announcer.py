"""Keeps every waiting customer told of their place in line and the expected wait.

The queue moves when an agent claims a conversation, when one is transferred, handed back or
resolved, and when a higher-priority customer arrives. After each such change `announce` works
out every waiting customer's position in their skill group and sends a system message to those
whose position changed. The store remembers the position each customer was last told and
records a new one with a conditional update, so two announcers racing (two agents claiming at
once, or two server processes) never send the same update twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.dialogue.responses import Responses
from bot.store.records import AgentRecord, HandoffRecord
from bot.store.sql_store import SqlStore


@dataclass(frozen=True)
class Place:
    position: int  # 1 = next to be served
    wait_minutes: int


def estimate(
    handoff: HandoffRecord,
    queued: list[HandoffRecord],
    agents: list[AgentRecord],
    handle_minutes: float,
) -> Place:
    """The handoff's place among those waiting for the same skill group (the store lists them
    in service order), and the wait: the work ahead of it spread over the online agents who can
    take it."""
    # Those served before it (the store's order); a handoff not yet in the list (one the bot's
    # turn is still answering) takes the place it will have when it joins.
    key = (-handoff.priority, handoff.queued_at, handoff.id)
    position = 1 + sum(
        1
        for h in queued
        if h.skill_group == handoff.skill_group
        and h.id != handoff.id
        and (-h.priority, h.queued_at, h.id) < key
    )
    serving = sum(
        1
        for a in agents
        if a.status == "online"
        and handoff.skill_group in a.skills
        and (handoff.language is None or handoff.language in a.languages)
    )
    return Place(position, max(1, round(position * handle_minutes / max(serving, 1))))


class QueueAnnouncer:
    def __init__(self, store: SqlStore, responses: Responses, handle_minutes: float = 4.0) -> None:
        self.store = store
        self.responses = responses
        self.handle_minutes = handle_minutes

    async def place(self, handoff: HandoffRecord) -> Place:
        queued = await self.store.handoffs.queued()
        return estimate(handoff, queued, await self.store.agents.all(), self.handle_minutes)

    async def tell(self, handoff: HandoffRecord, place: Place) -> bool:
        """Send `place` to the customer unless they were told that position already."""
        if not await self.store.handoffs.tell_position(handoff.id, place.position):
            return False
        conv = await self.store.conversations.get(handoff.conversation_id)
        msg = self.responses.render(
            "utter_queue_update",
            conv.language or "zh",
            position=place.position,
            wait_minutes=place.wait_minutes,
        )
        await self.store.messages.append(
            handoff.conversation_id,
            "system",
            msg.text,
            payload={
                **msg.to_dict(),
                "event": "queue_position",
                "position": place.position,
                "wait_minutes": place.wait_minutes,
                "skill_group": handoff.skill_group,
            },
        )
        return True

    async def announce(self, group: str | None = None) -> int:
        """Update the waiting customers (of one skill group, or all) whose place changed;
        returns how many were told. A customer not yet told any position is skipped: the
        bot's reply that queued them carries their first one."""
        queued = await self.store.handoffs.queued()
        agents = await self.store.agents.all()
        told = 0
        for h in queued:
            if (group is not None and h.skill_group != group) or h.position_told is None:
                continue
            place = estimate(h, queued, agents, self.handle_minutes)
            if place.position != h.position_told and await self.tell(h, place):
                told += 1
        return told
