"""One customer turn, end to end: store the message first, parse, look up, decide, reply, store.

The inbound message is committed before anything else happens, so a crash after the customer's
message is accepted never loses it. While an agent holds the conversation the bot stays silent
but still parses, for the agent's view. A reply to a "Did you mean" offer (bot/dialogue/choices.py)
is read as the button it stands for before anything is parsed.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from concurrent.futures import Executor
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from bot.clock import now as clock_now
from bot.coordination import KeyedLocks, TurnLocks
from bot.dialogue.choices import article_fields, payload_article_id, pick_parse, read_pick
from bot.dialogue.context import Context, Reading
from bot.dialogue.context import read as read_context
from bot.dialogue.context import update as update_context
from bot.dialogue.conversation_language import clear_language, next_language
from bot.dialogue.escalation import QueueAnnouncing, Routing
from bot.dialogue.inbound import read_inbound
from bot.dialogue.orders import OrderLookup
from bot.dialogue.policy import (
    QUESTION_INTENTS,
    UNKNOWN_INTENTS,
    Decision,
    PolicySettings,
    Turn,
    decide,
)
from bot.dialogue.responses import OutboundMessage, Responses
from bot.events import MessageEvent
from bot.knowledge.article import Article
from bot.knowledge.base import KnowledgeBase
from bot.logs import conversation_context
from bot.metrics import Metrics, turn_outcome
from bot.nlu.pipeline import NLUPipeline
from bot.nlu.types import IntentScore, ParseResult, Sentiment
from bot.store.errors import NotFoundError, TurnFinishedError
from bot.store.records import CustomerRecord
from bot.store.sql_store import SqlStore
from bot.store.turns import TurnStart, UnfinishedTurn, UnfinishedTurns

log = logging.getLogger(__name__)
MAX_CANDIDATES = 3  # articles offered to a sure question with nothing close
_PAYLOAD = re.compile(r"^/([a-z_]+)$")
ORDER_STATUS_TEXT = {
    "zh": {
        "paid": "已付款，待发货",
        "shipped": "已发货",
        "delivered": "已签收",
        "cancelled": "已取消",
    },
    "en": {
        "paid": "paid, waiting to ship",
        "shipped": "shipped",
        "delivered": "delivered",
        "cancelled": "cancelled",
    },
}


@dataclass(frozen=True)
class HandoffInfo:
    reason: str
    skill_group: str
    position: int | None
    ticket: str | None = None
    assigned_to: str | None = None  # the agent's username, when auto-assigned
    due: str | None = None  # when the ticket promises a reply, "MM-DD HH:MM" local time

    @property
    def status(self) -> str:
        """The conversation's status after it: with a ticket the bot keeps the chat."""
        return "bot" if self.ticket else "assigned" if self.assigned_to else "queued"

    def to_dict(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "skill_group": self.skill_group,
            "position": self.position,
            "ticket": self.ticket,
            "assigned_to": self.assigned_to,
            "due": self.due,
        }


@dataclass(frozen=True)
class TurnResult:
    conversation_id: str
    customer_id: str
    replies: tuple[OutboundMessage, ...]
    status: str  # bot | queued | assigned | resolved
    failed_turns: int
    intent: str
    sentiment: Sentiment
    language: str
    handoff: HandoffInfo | None = None
    kb_article: dict[str, Any] | None = None
    duplicate: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    seqs: tuple[int, ...] = ()  # the stored replies' sequence numbers, one per reply
    failed: bool = False  # the turn counts toward the failed turns that bring in a person
    empathetic: bool = False  # the reply opened with an apology

    def custom(self) -> dict[str, Any]:
        """The state an integrator sees on every reply (Rasa's `custom` payload)."""
        return {
            "status": self.status,
            "failed_turns": self.failed_turns,
            "handoff": self.handoff.to_dict() if self.handoff else None,
            "intent": self.intent,
            "sentiment": self.sentiment.to_dict(),
            "kb_article": self.kb_article,
            "conversation_id": self.conversation_id,
        }


class DialogueEngine:
    def __init__(
        self,
        store: SqlStore,
        nlu: NLUPipeline,
        kb: KnowledgeBase | None,
        responses: Responses,
        router: Routing,
        orders: OrderLookup,
        settings: PolicySettings,
        *,
        announcer: QueueAnnouncing,
        default_language: str = "zh",
        ticket_follow_up_hours: float = 2.0,
        auto_assign: bool = False,
        executor: Executor | None = None,
        clock: Callable[[], datetime] | None = None,
        metrics: Metrics | None = None,
        max_turn_attempts: int = 3,
    ) -> None:
        self.store = store
        self.nlu = nlu
        self.kb = kb
        self.responses = responses
        self.router = router
        self.orders = orders
        self.settings = settings
        self.default_language = default_language
        self.follow_up = timedelta(hours=ticket_follow_up_hours)
        self.announcer = announcer  # handoff's: tells waiting customers their place
        self.auto_assign = auto_assign
        self.executor = executor
        embed = nlu.component("SentenceEmbeddingFeaturizer")
        self._nlu_embedder = embed.embedder if embed is not None else None
        self.clock = clock or (lambda: clock_now().astimezone(router.tz))
        # Per-customer turn order; instances sharing Redis swap in RedisTurnLocks.
        self.locks: TurnLocks = KeyedLocks()
        self.metrics = metrics or Metrics()
        # Turns whose process died before they finished (bot/dialogue/recovery.py), and how
        # many tries one gets before the conversation goes to a person instead.
        self.unfinished = UnfinishedTurns(store.db)
        self.max_turn_attempts = max_turn_attempts

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def _understand(
        self, text: str, fallback_language: str, mode: str, context: Context
    ) -> Understood:
        """Parse, then search the knowledge base when the bot will answer and the intent calls
        for it (mode "answer"), or for the agent's suggestions whatever the intent (mode
        "suggest", while a person holds the chat), reusing the parse's sentence embedding: one
        trip to the worker thread, one embedding. A follow-up is searched with what it left out
        (bot/dialogue/context.py). Close articles come back as choices only when none is sure;
        the best few come back as candidates either way."""
        parse, vector = self._parse(text, fallback_language)
        entities = {e.entity: e.value for e in parse.entities}
        reading = read_context(text, entities, context)
        intent = parse.intent.name
        if reading.ellipsis and intent not in QUESTION_INTENTS and context.intent:
            intent = context.intent  # "and for the Pro?": the same question, another product
        language = _reply_language(parse.language, fallback_language)
        # A complaint is searched too: a calm fault report an article answers is answered.
        wanted = (
            intent in QUESTION_INTENTS
            or intent in UNKNOWN_INTENTS
            or intent == "complaint"
            or mode == "suggest"
        )
        if self.kb is None or not wanted:
            return Understood(parse, reading=reading, intent=intent)
        same_model = self.kb.embedder is self._nlu_embedder and reading.search_text == text
        result = self.kb.search(
            reading.search_text,
            language=language,
            intent=intent,
            vector=vector if same_model else None,
        )
        answer = article_fields(result.answer.article) if result.answer is not None else None
        choices = [] if answer else [article_fields(h.article) for h in result.choices]
        candidates = (
            [] if answer else [article_fields(h.article) for h in result.hits[:MAX_CANDIDATES]]
        )
        return Understood(
            parse,
            answer,
            choices,
            [h.to_dict() for h in result.hits],
            candidates,
            reading,
            intent,
        )

    def _parse(self, text: str, fallback_language: str) -> tuple[ParseResult, Any]:
        m = _PAYLOAD.match(text.strip())
        if m and m.group(1) in self.nlu.intents:  # a button's payload: "/request_human"
            intent = IntentScore(m.group(1), 1.0)
            # A payload has no language of its own: the conversation's is kept.
            parse = ParseResult(
                text, fallback_language, intent, (intent,), (), Sentiment("neutral", 0.0, None)
            )
            return parse, None
        return self.nlu.parse_with_vector(text)

    def _as_button(self, text: str, state: dict[str, Any]) -> str:
        """While an offer of articles awaits a pick, a number or a title typed back becomes the
        payload of the button it names; any other text is returned as it is."""
        offered = state.get("kb_choices") if state.get("awaiting") == "kb_choice" else None
        if not offered or self.kb is None:
            return text
        articles = self.kb.index.articles
        titles = [(i, articles[i].title if i in articles else "") for i in offered]
        return read_pick(text, titles) or text

    def _picked(self, text: str) -> Article | None:
        """The article a `/kb_article{...}` payload names, offered now or by a stale button;
        None when the text is no such payload or the id is not (or no longer) in the base."""
        article_id = payload_article_id(text)
        if article_id is None or self.kb is None:
            return None
        return self.kb.index.articles.get(article_id)

    async def handle(
        self,
        channel: str,
        sender: str,
        text: str,
        *,
        external_id: str | None = None,
        hold_replies_s: float = 0.0,
        language_hint: str | None = None,
    ) -> TurnResult:
        """One customer message, start to finish. `hold_replies_s` keeps the replies' deliveries
        on a pushed channel back that long, for a connector that may answer in the webhook's
        own response (WeChat's passive reply). `language_hint` is the language the channel
        knows the customer by (the browser's, Telegram's `language_code`): the conversation's
        until the customer writes clearly in one."""
        started = time.perf_counter()
        try:
            result = await self._handle(
                channel, sender, text, external_id, hold_replies_s, language_hint
            )
        except Exception:
            self.metrics.observe_turn(channel, "error", time.perf_counter() - started)
            raise
        self.metrics.observe_turn(channel, turn_outcome(result), time.perf_counter() - started)
        return result

    async def _handle(
        self,
        channel: str,
        sender: str,
        text: str,
        external_id: str | None,
        hold_replies_s: float,
        language_hint: str | None = None,
    ) -> TurnResult:
        # One turn at a time per customer and channel in this process, so replies keep their
        # order.
        async with self.locks.hold((channel, sender)):
            rating = parse_rating(text)
            if rating is not None:
                customer = await self.store.customers.for_identity(channel, sender)
                resolved = await self.store.ratings.awaiting(customer.id, channel)
                if resolved is not None:
                    with conversation_context(resolved.id):
                        return await self._rate(customer.id, resolved.id, text, rating, external_id)
            start = await self.store.turns.begin(channel, sender, text, external_id=external_id)
            inbound = start.inbound
            if inbound.duplicate and inbound.parse is None:
                # Sent again, and its turn never finished (its process died, or it raised). We
                # hold the customer's turn lock, so no first run is still going: finish it now.
                with conversation_context(start.conversation.id):
                    resumed = await self._resume(inbound.id, hold_replies_s)
                if resumed is not None:
                    return resumed
            try:
                with conversation_context(start.conversation.id):
                    return await self._turn(start, hold_replies_s, language_hint)
            except TurnFinishedError:  # a recovery answered it while this turn stalled
                return _duplicate(start)
            except Exception:
                # The message is stored but the turn failed: still tell the channels and the
                # console about it, so an agent can see it.
                if not start.inbound.duplicate:
                    m = start.inbound
                    await self.store.bus.publish(MessageEvent(m.conversation_id, m.seq, m.sender))
                raise

    async def recover(self, turn: UnfinishedTurn) -> TurnResult | None:
        """Finish a turn nobody else will (the sweeper's entry): take the customer's turn locks,
        then run it, unless it was finished or its conversation closed meanwhile (None)."""
        started = time.perf_counter()
        try:
            async with AsyncExitStack() as held:
                # Every name the customer has on the channel, in one order for every taker: the
                # message does not say which of them it came through.
                for sender in turn.senders:
                    await held.enter_async_context(self.locks.hold((turn.channel, sender)))
                with conversation_context(turn.conversation_id):
                    result = await self._resume(turn.message_id)
        except Exception:
            self.metrics.observe_turn(turn.channel, "error", time.perf_counter() - started)
            raise
        if result is not None:
            self.metrics.observe_turn(
                turn.channel, turn_outcome(result), time.perf_counter() - started
            )
        return result

    async def _resume(self, message_id: int, hold_s: float = 0.0) -> TurnResult | None:
        """Run an unfinished turn again, holding the customer's turn lock. The try is counted
        first; past `max_turn_attempts` (or when the last allowed try raises) the conversation
        goes to the human queue instead, so a message that breaks the bot is seen by a person
        rather than tried forever."""
        attempt = await self.unfinished.attempt(message_id)
        if attempt is None:
            return None
        start, tries = attempt
        if tries > self.max_turn_attempts:
            return await self._give_up(start, tries, None)
        try:
            result = await self._turn(start, hold_s)
        except TurnFinishedError:
            return None
        except Exception as exc:
            if tries < self.max_turn_attempts:
                raise
            return await self._give_up(start, tries, exc)
        log.info("finished the turn of message %d on try %d", message_id, tries)
        return result

    async def _give_up(self, start: TurnStart, tries: int, error: Exception | None) -> TurnResult:
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
        language = conv.language or self.default_language
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
        handoff, replies = await self._escalate(
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
        await self._queued(handoff)
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

    async def _turn(
        self, start: TurnStart, hold_s: float = 0.0, language_hint: str | None = None
    ) -> TurnResult:
        inbound, conv, customer_id = start.inbound, start.conversation, start.customer.id
        text = inbound.text
        if inbound.duplicate:
            return _duplicate(start)
        # While the queue or an agent holds the conversation the bot stays silent; it still
        # searches, for the agent's suggestions.
        listening = conv.status in ("queued", "assigned")
        state = dict(conv.state)
        context = Context.of(state)
        said = text if listening else self._as_button(text, state)
        picked = None if listening else self._picked(said)
        message = read_inbound(said)
        spoken = conv.language or self.default_language
        if picked is not None:  # a pick from an offer: answered as the knowledge answer
            understood = Understood(
                pick_parse(text, picked), article_fields(picked), [], state.get("suggestions", [])
            )
        elif message.kind == "media" and not message.text:  # nothing in words to read
            understood = Understood(_plain_parse(text, spoken, "non_text"))
        elif message.kind == "command":
            command = _COMMAND_INTENT[message.command or "help"]
            understood = Understood(_plain_parse(text, spoken, command))
        else:
            understood = await self._run(
                self._understand,
                message.text,
                spoken,
                "suggest" if listening else "answer",
                context,
            )
        parse, kb_answer = understood.parse, understood.answer
        intent = understood.intent or parse.intent.name
        clear = clear_language(message.text) if message.kind != "command" and not picked else None
        language = next_language(
            conv.language,
            clear,
            in_domain=intent not in UNKNOWN_INTENTS and parse.fallback is None,
            previous_clear=state.get("clear_language"),
            hint=language_hint or start.customer.language,
            default=self.default_language,
        )
        state["clear_language"] = clear
        suggestions = understood.suggestions or state.get("suggestions", [])
        if listening:  # the bot keeps the parse for the agent's view, and says nothing
            state["suggestions"] = suggestions
            await self.store.turns.finish(
                conv.id,
                inbound.id,
                parse.to_dict(),
                [],
                inbound_seq=inbound.seq,
                language=language,
                state=state,
            )
            return TurnResult(
                conv.id,
                customer_id,
                (),
                conv.status,
                conv.failed_turns,
                intent,
                parse.sentiment,
                language,
            )

        entities = {e.entity: e.value for e in parse.entities}
        if intent == "order_status" and "order_id" not in entities and context.order_id:
            entities["order_id"] = context.order_id  # "where is it now?" after naming it
        order = None
        if "order_id" in entities and (
            intent == "order_status" or state.get("awaiting") == "order_id"
        ):
            found = await self.orders.find(entities["order_id"])
            if found is not None:
                labels = ORDER_STATUS_TEXT["en" if language == "en" else "zh"]
                order = {
                    "order_id": found.order_id,
                    "items": found.items,
                    "status_text": labels.get(found.status, found.status),
                    "tracking_text": _tracking_text(found, language),
                }
        ticket = None
        if "ticket_id" in entities:
            number = entities["ticket_id"].upper().replace(" ", "-")
            if not number.startswith("T-"):
                number = "T-" + number[1:].lstrip("-")
            try:
                t = await self.store.tickets.get(number)
                ticket = {
                    "number": t.number,
                    "subject": t.subject,
                    "status_text": t.status,
                    "updated": t.updated_at.strftime("%Y-%m-%d %H:%M"),
                }
            except NotFoundError:
                ticket = None
            entities["ticket_id"] = number

        decision = decide(
            Turn(
                intent=intent,
                sentiment=parse.sentiment,
                entities=entities,
                fallback=parse.fallback is not None,
                confidence=parse.intent.confidence,
                failed_turns=conv.failed_turns,
                negative_streak=conv.negative_streak,
                answered_before=bool(state.get("last_article")),
                awaiting=state.get("awaiting"),
                apologised=bool(state.get("apologised")),
                media=message.media if message.kind == "media" and not message.text else None,
                attachment=message.media if message.kind == "media" and message.text else None,
                command=message.command,
                customer_name=start.customer.name,
                kb_answer=kb_answer,
                kb_choices=tuple(understood.choices),
                kb_candidates=tuple(understood.candidates),
                order=order,
                ticket=ticket,
            ),
            self.settings,
        )
        replies = [self._render(step, language) for step in decision.steps]
        handoff = None
        status = "bot"
        if decision.escalate is not None:
            handoff, more = await self._escalate(
                start.customer,
                conv.id,
                decision.escalate,
                intent,
                kb_answer["category"] if kb_answer else state.get("last_category"),
                decision.priority,
                language,
                text,
                state.get("ticket"),
            )
            replies += more
            status = handoff.status
        failed_turns = decision.failed_turns
        if handoff is not None and handoff.ticket is not None:
            failed_turns = 0  # the bot keeps the chat; the banner shows the promise
            if (state.get("ticket") or {}).get("number") == handoff.ticket:
                handoff = None  # the open ticket's promise repeated: no new handoff
            else:
                state["ticket"] = {"number": handoff.ticket, "due": handoff.due}
        state.update(
            awaiting=decision.awaiting,
            last_article=decision.kb_article,
            last_category=kb_answer["category"] if kb_answer else state.get("last_category"),
            suggestions=suggestions,
            apologised=bool(state.get("apologised")) or decision.empathetic,
        )
        if understood.reading is not None:
            state["context"] = update_context(
                context,
                entities=entities,
                reading=understood.reading,
                intent=intent,
                question=intent in QUESTION_INTENTS,
            ).to_dict()
        # The offered ids, for reading a number or a title typed back next turn.
        if decision.kb_choices:
            state["kb_choices"] = list(decision.kb_choices)
        else:
            state.pop("kb_choices", None)
        stored = await self.store.turns.finish(
            conv.id,
            inbound.id,
            {**parse.to_dict(), "turn": _turn_record(decision)},
            inbound_seq=inbound.seq,
            hold_s=hold_s,
            replies=[
                {
                    "text": r.text,
                    "payload": r.to_dict(),
                    "kb_article": decision.kb_article if r.custom.get("kb") else None,
                }
                for r in replies
            ],
            failed_turns=failed_turns,
            negative_streak=decision.negative_streak,
            language=language,
            state=state,
        )
        await self._queued(handoff)
        return TurnResult(
            conv.id,
            customer_id,
            tuple(replies),
            status,
            failed_turns,
            intent,
            parse.sentiment,
            language,
            handoff,
            decision.kb_article,
            extra={"kb_choices": list(decision.kb_choices)} if decision.kb_choices else {},
            seqs=tuple(m.seq for m in stored),
            failed=decision.failed,
            empathetic=decision.empathetic,
        )

    async def _rate(
        self,
        customer_id: str,
        conversation_id: str,
        text: str,
        rating: tuple[int, str],
        external_id: str | None,
    ) -> TurnResult:
        # The parse marks the message's turn finished: no recovery sweeper picks it up.
        inbound = await self.store.messages.append(
            conversation_id, "customer", text, external_id=external_id, parse={"rating": rating[0]}
        )
        conv = await self.store.conversations.get(conversation_id)
        language = conv.language or self.default_language
        neutral = Sentiment("neutral", 0.0, None)
        if inbound.duplicate:
            return TurnResult(
                conv.id, customer_id, (), "resolved", 0, "rate", neutral, language, duplicate=True
            )
        await self.store.ratings.add(conversation_id, rating[0], rating[1])
        thanks = self.responses.render("utter_thanks_for_rating", language)
        stored = await self.store.messages.append(
            conversation_id, "bot", thanks.text, payload=thanks.to_dict()
        )
        return TurnResult(
            conv.id,
            customer_id,
            (thanks,),
            "resolved",
            0,
            "rate",
            neutral,
            language,
            extra={"rating": rating[0]},
            seqs=(stored.seq,),
        )

    def _render(self, step: Any, language: str) -> OutboundMessage:
        msg = self.responses.render(step.response, language, **step.values)
        if step.buttons:  # the step's own (one per offered article) before the template's
            msg = replace(msg, buttons=step.buttons + msg.buttons)
        if step.article is None:
            return msg
        media = step.article.get("media") or []
        image = next((x["url"] for x in media if x["type"] == "image"), None)
        video = next((x["url"] for x in media if x["type"] == "video"), None)
        caption = next((x["caption"] for x in media if x["type"] in ("image", "video")), "")
        return OutboundMessage(
            msg.text, msg.buttons, image, video, step.article.get("more"), caption, {"kb": True}
        )

    async def _ticket(
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

    async def _queued(self, handoff: HandoffInfo | None) -> None:
        """After the turn that queued a customer: those behind them who moved back hear it."""
        if handoff is not None and handoff.status == "queued":
            await self.announcer.announce(handoff.skill_group)

    async def _escalate(
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
        wanted = self.router.group_for(reason, intent, category)
        if "high_value" in customer.tags:
            priority += 1
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
            return await self._ticket(
                customer, conversation_id, reason, wanted, language, text, now
            )
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
        # Those behind it hear that they moved back once it joins the queue (`_queued`).
        place = await self.announcer.place(handoff)
        await self.store.handoffs.tell_position(handoff.id, place.position)
        position = place.position
        msg = self.responses.render(
            "utter_handoff_queued", language, position=position, wait_minutes=place.wait_minutes
        )
        return HandoffInfo(reason, group, position), [msg]


@dataclass(frozen=True)
class Understood:
    """What the bot made of a message: the parse, and from the knowledge base a sure answer,
    or close choices when none is sure, and the top hits (an agent's suggestions)."""

    parse: ParseResult
    answer: dict[str, Any] | None = None
    choices: list[dict[str, Any]] = field(default_factory=list)
    suggestions: list[dict[str, Any]] = field(default_factory=list)
    candidates: list[dict[str, Any]] = field(default_factory=list)
    reading: Reading | None = None
    intent: str | None = None  # the parse's, or the question a follow-up continues


# The digit must stand alone ("5", "4星", "3 stars, ...", "5 很满意"): "3点前下单" or "2号发货"
# is a question that starts with a number, not a rating.
_RATING = re.compile(
    r"^\s*(?:/rate\s*)?([1-5])(?=\s|$|星|分|stars?\b|[,，。!！:：-])"
    r"\s*(?:星|stars?|分)?\s*[,，。!！:：-]?\s*(.*)$",
    re.S | re.I,
)


def parse_rating(text: str) -> tuple[int, str] | None:
    """ "/rate 5", "5", "4星 很满意", "3 stars, slow but fine" -> (score, comment)."""
    m = _RATING.match(text)
    return (int(m.group(1)), m.group(2).strip()[:2000]) if m else None


def _turn_record(decision: Decision) -> dict[str, Any]:
    """Kept with the customer's message: whether the bot managed (the analytics read gaps from
    it), and which articles it offered when it asked back."""
    record: dict[str, Any] = {"failed": decision.failed}
    if decision.kb_choices:
        record["kb_choices"] = list(decision.kb_choices)
    return record


def _duplicate(start: TurnStart) -> TurnResult:
    """A message seen before, already answered: nothing new to say."""
    inbound, conv = start.inbound, start.conversation
    return TurnResult(
        conv.id,
        start.customer.id,
        (),
        conv.status,
        conv.failed_turns,
        (inbound.parse or {}).get("intent", {}).get("name", ""),
        Sentiment("neutral", 0.0, None),
        conv.language or "zh",
        duplicate=True,
    )


# Couriers as Chinese customers know them (the order system stores the English names).
COURIER_ZH = {
    "SF Express": "顺丰速运",
    "JD Logistics": "京东物流",
    "EMS": "中国邮政 EMS",
    "YTO Express": "圆通速递",
    "ZTO Express": "中通快递",
    "STO Express": "申通快递",
    "Yunda Express": "韵达快递",
    "DHL": "DHL",
}
_COMMAND_INTENT = {"start": "greet", "help": "help", "human": "request_human"}


def _plain_parse(text: str, language: str, intent: str) -> ParseResult:
    """The parse of a message the NLU does not read (a sticker, a command): its intent only."""
    score = IntentScore(intent, 1.0)
    return ParseResult(text, language, score, (score,), (), Sentiment("neutral", 0.0, None))


def _reply_language(detected: str, fallback: str) -> str:
    """Reply in the customer's language; mixed Chinese-English gets Chinese."""
    if detected in ("zh", "en"):
        return detected
    return "zh" if detected == "mixed" else fallback


def _tracking_text(order: Any, language: str) -> str:
    if order.tracking:
        if language == "en":
            return f"{order.courier} tracking number {order.tracking}, expected {order.eta}."
        courier = COURIER_ZH.get(order.courier or "", order.courier)
        return f"{courier}运单号 {order.tracking}，预计 {order.eta} 送达。"
    if order.eta and order.status == "paid":
        return (
            f"Expected to ship by {order.eta}."
            if language == "en"
            else f"预计 {order.eta} 前发货。"
        )
    return ""
