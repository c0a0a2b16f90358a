"""What agents do with a handed-over conversation: claim it, reply, transfer it, give it back to
the bot, resolve it; and the customer's rating afterwards. Talks to conversations only through
the store, never through the dialogue engine."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot import clock
from bot.config import SkillGroup
from bot.dialogue.responses import OutboundMessage, Responses
from bot.errors import InputError, RelaydeskError
from bot.logs import about_conversation
from bot.metrics import Metrics
from bot.store.media import NewMedia, media_ref
from bot.store.records import HandoffRecord, MessageRecord
from bot.store.sql_store import SqlStore
from handoff.announcer import QueueAnnouncer


class HandoffError(RelaydeskError):
    """The action does not fit the conversation's state (not queued, not yours, ...).

    `error_code` is the stable word the HTTP edge answers with (bot/http/errors.py), so the
    console can say it in the agent's language: not_holder, already_claimed, at_capacity,
    resolved (the chat ended), returned (back with the bot), agent_unavailable."""

    def __init__(self, message: str, code: str = "conflict") -> None:
        super().__init__(message)
        self.error_code = code


@dataclass(frozen=True)
class AgentReply:
    message: MessageRecord
    first_reply: bool


class HandoffService:
    def __init__(
        self,
        store: SqlStore,
        responses: Responses,
        *,
        handle_minutes: float = 4.0,
        metrics: Metrics | None = None,
        skill_groups: Mapping[str, SkillGroup] | None = None,
    ) -> None:
        self.store = store
        # Customers read a group's display name in their language, never its id.
        self.skill_groups: Mapping[str, SkillGroup] = {} if skill_groups is None else skill_groups
        self.responses = responses
        self.announcer = QueueAnnouncer(store, responses, handle_minutes)
        self.metrics = metrics or Metrics()

    async def _handoff(self, conversation_id: str) -> HandoffRecord:
        h = await self.store.handoffs.active(conversation_id)
        if h is None:
            conv = await self.store.conversations.get(conversation_id)
            raise HandoffError(
                f"conversation {conversation_id} is not waiting for or with an agent",
                "resolved" if conv.status in ("resolved", "closed") else "returned",
            )
        return h

    @about_conversation
    async def claim(self, conversation_id: str, username: str) -> HandoffRecord:
        """An agent pulls a waiting conversation; atomic across processes."""
        agent = await self.store.agents.get(username)
        h = await self._handoff(conversation_id)
        if h.status != "queued":
            raise HandoffError(
                f"conversation {conversation_id} is already with an agent", "already_claimed"
            )
        if not await self.store.handoffs.assign(h.id, agent.id):
            now = await self.store.handoffs.get(h.id)
            taken = now.status != "queued"
            raise HandoffError(
                f"could not claim: taken by someone else, or {username} is at their limit of "
                f"{agent.max_concurrent} chats",
                "already_claimed" if taken else "at_capacity",
            )
        await self._system(conversation_id, "agent_joined", agent=agent.display_name)
        await self.announcer.announce(h.skill_group)  # everyone behind moves up
        return await self.store.handoffs.get(h.id)

    @about_conversation
    async def send(
        self, conversation_id: str, username: str, text: str, media: NewMedia | None = None
    ) -> AgentReply:
        """The agent's reply; with `media` (bytes the media store prepared), an attachment.
        Its row is stored before the message, so a sender that reads the message finds it."""
        agent = await self.store.agents.get(username)
        h = await self._handoff(conversation_id)
        if h.status != "assigned" or h.assigned_to != agent.id:
            raise HandoffError(
                f"{username} does not hold conversation {conversation_id}", "not_holder"
            )
        if not text.strip() and media is None:
            raise InputError("the reply is empty")
        payload: dict[str, object] = {}
        if media is not None:
            record = await self.store.media.save(
                media, conversation_id=conversation_id, direction="out"
            )
            payload["media"] = [media_ref(record)]
        msg = await self.store.messages.append(
            conversation_id, "agent", text, sender_id=agent.id, payload=payload
        )
        if media is not None:
            await self.store.media.attach(media.id, msg.id)
        first = h.first_agent_reply_at is None
        if first:
            await self.store.handoffs.update(h.id, first_agent_reply_at=clock.now())
        return AgentReply(msg, first)

    @about_conversation
    async def transfer(self, conversation_id: str, skill_group: str) -> HandoffRecord:
        """Back to the queue, for another skill group."""
        if self.skill_groups and skill_group not in self.skill_groups:
            raise InputError(
                f"no skill group {skill_group!r}; defined: {', '.join(sorted(self.skill_groups))}"
            )
        h = await self._handoff(conversation_id)
        await self.store.handoffs.update(h.id, status="returned", resolved_at=clock.now())
        new = await self.store.handoffs.queue(
            conversation_id, "transfer", skill_group, priority=h.priority, language=h.language
        )
        self.metrics.handoff("transfer", skill_group)
        conv = await self.store.conversations.get(conversation_id)
        group = self.skill_groups.get(skill_group)
        shown = group.shown_as(skill_group, conv.language or "zh") if group else skill_group
        await self._system(conversation_id, "transferred", group=shown)
        await self.announcer.tell(new, await self.announcer.place(new))
        await self.announcer.announce(h.skill_group)
        return new

    @about_conversation
    async def transfer_to_agent(self, conversation_id: str, username: str) -> HandoffRecord:
        """To a named colleague: recorded like a group transfer (the old handoff returned, a
        new "transfer" one, assigned to them at once). Refused with `agent_unavailable` when
        they are not online or already at their maximum of chats; nothing changes then."""
        colleague = await self.store.agents.get(username)
        h = await self._handoff(conversation_id)
        if h.assigned_to == colleague.id:
            raise InputError(f"{username} already holds this conversation")
        new = await self.store.handoffs.transfer_to_agent(h.id, colleague.id)
        if new is None:
            raise HandoffError(
                f"{username} is not online or is at their limit of "
                f"{colleague.max_concurrent} chats",
                "agent_unavailable",
            )
        self.metrics.handoff("transfer", new.skill_group)
        await self._system(conversation_id, "transferred_to_agent", agent=colleague.display_name)
        if h.status == "queued":  # it left the queue: everyone behind moves up
            await self.announcer.announce(h.skill_group)
        return new

    @about_conversation
    async def return_to_bot(self, conversation_id: str) -> None:
        h = await self._handoff(conversation_id)
        await self.store.handoffs.update(h.id, status="returned", resolved_at=clock.now())
        await self.store.conversations.update(
            conversation_id, status="bot", failed_turns=0, negative_streak=0
        )
        await self._system(conversation_id, "back_to_bot")
        if h.status == "queued":
            await self.announcer.announce(h.skill_group)

    @about_conversation
    async def resolve(self, conversation_id: str) -> OutboundMessage:
        """Close the handoff and ask the customer for a 1–5 rating and a comment."""
        h = await self._handoff(conversation_id)
        await self.store.handoffs.update(h.id, status="resolved", resolved_at=clock.now())
        await self.store.conversations.update(
            conversation_id, status="resolved", closed_at=clock.now()
        )
        conv = await self.store.conversations.get(conversation_id)
        ask = self.responses.render("utter_ask_rating", conv.language or "zh")
        await self.store.messages.append(conversation_id, "bot", ask.text, payload=ask.to_dict())
        if h.status == "queued":
            await self.announcer.announce(h.skill_group)
        return ask

    async def _system(self, conversation_id: str, event: str, **values: str) -> None:
        conv = await self.store.conversations.get(conversation_id)
        note = self.responses.render(f"utter_{event}", conv.language or "zh", **values)
        await self.store.messages.append(
            conversation_id, "system", note.text, payload={"event": event, **values}
        )
