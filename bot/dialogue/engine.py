"""One customer turn, end to end: store the message first, parse, look up, decide, reply, store.

The inbound message is committed before anything else happens, so a crash after the customer's
message is accepted never loses it. While an agent holds the conversation the bot stays silent
but still parses, for the agent's view. A reply to a "Did you mean" offer (bot/dialogue/choices.py)
is read as the button it stands for before anything is parsed. An opt-out of proactive messages
("退订", "stop", the /opt_out button: bot/dialogue/inbound.py) is recorded in the store before
the reply confirms it, on every channel, even while a person holds the chat.

The engine runs the turn; its steps live beside it: understanding the message
(understanding.py), the order and ticket facts a reply quotes (lookups.py), the policy's
decision (policy.py) rendered as replies (rendering.py), handing over to a person
(handover.py), ratings (rating.py), and the turn's result (results.py, re-exported here).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from contextlib import AsyncExitStack
from datetime import datetime, timedelta
from typing import Any

from bot.clock import now as clock_now
from bot.coordination import KeyedLocks, TurnLocks
from bot.dialogue.actions import CustomActions, action_decision, turn_input
from bot.dialogue.context import Context
from bot.dialogue.conversation_language import clear_language, next_language
from bot.dialogue.escalation import QueueAnnouncing, Routing
from bot.dialogue.handover import Handover
from bot.dialogue.inbound import OPT_OUT_PAYLOAD, Inbound, OptOutWords, read_inbound
from bot.dialogue.lookups import order_facts, ticket_facts
from bot.dialogue.memory import remember
from bot.dialogue.orders import OrderLookup
from bot.dialogue.policy import UNKNOWN_INTENTS, PolicySettings, Turn, decide
from bot.dialogue.rating import parse_rating, rate_if_awaited
from bot.dialogue.rendering import render_step
from bot.dialogue.responses import Responses
from bot.dialogue.results import HandoffInfo, TurnResult, duplicate_result, turn_record
from bot.dialogue.understanding import (
    Understood,
    as_button,
    picked_article,
    understand,
    understood_without_nlu,
)
from bot.events import MessageEvent
from bot.knowledge.base import KnowledgeBase
from bot.logs import conversation_context
from bot.metrics import Metrics, turn_outcome
from bot.nlu.pipeline import NLUPipeline
from bot.store.errors import TurnFinishedError
from bot.store.media import MediaFailure, NewMedia
from bot.store.sql_store import SqlStore
from bot.store.turns import TurnStart, UnfinishedTurn

# The names callers import from here; each lives in the module named above.
__all__ = ["DialogueEngine", "HandoffInfo", "TurnResult", "parse_rating"]

log = logging.getLogger(__name__)


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
        actions: CustomActions | None = None,
        opt_out_words: Mapping[str, Sequence[str]] | None = None,
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
        self.unfinished = store.unfinished_turns
        self.max_turn_attempts = max_turn_attempts
        # The shop's custom actions on a Rasa action server, for intents its rules name.
        self.actions = actions
        # The words that opt a customer out of proactive messages (config
        # `proactive.opt_out_words`; None: the defaults in bot/dialogue/inbound.py).
        self.opt_out_words = OptOutWords.of(opt_out_words)

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def _understand(
        self, text: str, fallback_language: str, mode: str, context: Context
    ) -> Understood:
        """The message understood (bot/dialogue/understanding.py), run on the worker thread."""
        return understand(
            self.nlu, self.kb, self._nlu_embedder, text, fallback_language, mode, context
        )

    def _handover(self) -> Handover:
        """Handing over with the engine's parts as they are now (stories swap the clock)."""
        return Handover(
            self.store,
            self.router,
            self.responses,
            self.announcer,
            self.metrics,
            self.clock,
            self.follow_up,
            self.auto_assign,
        )

    async def handle(
        self,
        channel: str,
        sender: str,
        text: str,
        *,
        external_id: str | None = None,
        hold_replies_s: float = 0.0,
        language_hint: str | None = None,
        on_stored: Callable[[], None] | None = None,
        media: Sequence[NewMedia | MediaFailure] = (),
        shared: Mapping[str, Any] | None = None,
    ) -> TurnResult:
        """One customer message, start to finish. `media`: the files that came with it
        (prepared by `store.media`), stored with the message in one transaction; `shared`: a
        location or contact it carries, kept in its payload (bot/dialogue/inbound.py).
        `hold_replies_s` keeps the replies' deliveries on a pushed channel back that long,
        for a connector that may answer in the webhook's own response (WeChat's passive
        reply). `language_hint` is the language the channel
        knows the customer by (the browser's, Telegram's `language_code`): the conversation's
        until the customer writes clearly in one. `on_stored` is called once the message is
        newly stored (not for a redelivery), before the bot thinks: a channel's "typing"."""
        started = time.perf_counter()
        try:
            result = await self._handle(
                channel,
                sender,
                text,
                external_id,
                hold_replies_s,
                language_hint,
                on_stored,
                media,
                shared,
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
        on_stored: Callable[[], None] | None = None,
        media: Sequence[NewMedia | MediaFailure] = (),
        shared: Mapping[str, Any] | None = None,
    ) -> TurnResult:
        # One turn at a time per customer and channel in this process, so replies keep their
        # order.
        async with self.locks.hold((channel, sender)):
            rated = await rate_if_awaited(
                self.store,
                self.responses,
                self.default_language,
                channel,
                sender,
                text,
                external_id,
            )
            if rated is not None:
                return rated
            start = await self.store.turns.begin(
                channel, sender, text, external_id=external_id, media=media, shared=shared
            )
            inbound = start.inbound
            if on_stored is not None and not inbound.duplicate:
                on_stored()
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
                return duplicate_result(start)
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
            return await self._handover().give_up(start, tries, None, self.default_language)
        try:
            result = await self._turn(start, hold_s)
        except TurnFinishedError:
            return None
        except Exception as exc:
            if tries < self.max_turn_attempts:
                raise
            return await self._handover().give_up(start, tries, exc, self.default_language)
        log.info("finished the turn of message %d on try %d", message_id, tries)
        return result

    async def _turn(
        self, start: TurnStart, hold_s: float = 0.0, language_hint: str | None = None
    ) -> TurnResult:
        inbound, conv, customer_id = start.inbound, start.conversation, start.customer.id
        text = inbound.text
        if inbound.duplicate:
            return duplicate_result(start)
        # While the queue or an agent holds the conversation the bot stays silent; it still
        # searches, for the agent's suggestions.
        listening = conv.status in ("queued", "assigned")
        state = dict(conv.state)
        context = Context.of(state)
        said = text if listening else as_button(self.kb, text, state)
        picked = None if listening else picked_article(self.kb, said)
        message = read_inbound(said, self.opt_out_words)
        if message.command == "opt_out":
            await self._opt_out(customer_id, conv.channel, message)
        spoken = conv.language or self.default_language
        understood = understood_without_nlu(text, message, picked, spoken, state)
        if understood is None:
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
            order = await order_facts(self.orders, entities["order_id"], language)
        ticket = None
        if "ticket_id" in entities:
            entities["ticket_id"], ticket = await ticket_facts(
                self.store.tickets, entities["ticket_id"], language
            )

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
        # An opt-out is confirmed in the language of the word the customer used.
        said_in = (message.language or language) if message.command == "opt_out" else language
        replies = [render_step(self.responses, step, said_in) for step in decision.steps]
        if (
            self.actions is not None
            and self.actions.handles(intent)
            and message.command != "opt_out"  # recorded here: no shop action may answer it
        ):
            custom = await self.actions.run(
                turn_input(
                    customer_id=customer_id,
                    customer_name=start.customer.name,
                    conversation_id=conv.id,
                    channel=conv.channel,
                    language=language,
                    text=message.text,
                    intent=intent,
                    parse=parse,
                    state=state,
                )
            )
            if custom is not None:  # None: the action server failed, the policy answers
                decision = action_decision(decision, custom)
                replies = list(custom.replies)
                state["slots"] = custom.slots
        handoff = None
        status = "bot"
        if decision.escalate is not None:
            handoff, more = await self._handover().escalate(
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
        remember(
            state,
            decision,
            understood,
            context=context,
            entities=entities,
            intent=intent,
            suggestions=suggestions,
        )
        stored = await self.store.turns.finish(
            conv.id,
            inbound.id,
            {**parse.to_dict(), "turn": turn_record(decision)},
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
        await self._handover().queued(handoff)
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

    async def _opt_out(self, customer_id: str, channel: str, message: Inbound) -> None:
        """Record the customer's opt-out of proactive messages (idempotent: a turn run again
        records it again, harmlessly)."""
        how = "button" if message.text.split("@", 1)[0].lower() == OPT_OUT_PAYLOAD else "word"
        await self.store.opt_outs.opt_out(customer_id, channel, how)
        log.info("customer %s opted out of proactive messages (%s, %s)", customer_id, channel, how)
