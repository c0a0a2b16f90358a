"""Custom actions on a Rasa action server (rasa_sdk), so a shop's existing actions run unchanged.

When the customer's intent has a rule naming actions (bot/dialogue/actions_rules.py), the
engine runs them instead of its own policy for that turn. Each custom action is one
`POST {url}` (the server's /webhook) with the body Rasa sends:

    {"next_action": "action_tell_points", "sender_id": ..., "tracker": {...},
     "domain": {...}, "version": "3.6.21"}

and the answer's `responses` become the bot's replies, its `events` change the conversation:
`slot` sets a slot (kept in the conversation's state, sent back in the next tracker),
`reset_slots` and `restart` clear them, `followup` runs one more action (an `utter_*`, a custom
action, or `action_human_handoff`, which hands the chat to a person). Other events are accepted
and ignored: relaydesk keeps its own history.

An action server that is down, slow, rejects the action or answers nonsense never leaves the
customer without an answer: the turn falls back to relaydesk's own policy, and the log says why.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import aiohttp

from bot.config.integrations import ActionServer, plain_headers
from bot.dialogue.actions_rules import ActionRules, is_custom
from bot.dialogue.policy import Decision
from bot.dialogue.responses import Button, OutboundMessage, Responses
from bot.dialogue.shop_http import ShopHttpClient
from bot.nlu.types import ParseResult

log = logging.getLogger(__name__)

# The Rasa version whose protocol this speaks (rasa_sdk only warns on a different one).
RASA_VERSION = "3.6.21"
HANDOFF_ACTION = "action_human_handoff"
MAX_ACTIONS_PER_TURN = 10
MAX_SLOTS = 100
MAX_SLOT_BYTES = 8 * 1024
MAX_MESSAGES = 10
_MESSAGE_KEYS = frozenset(
    {"text", "buttons", "elements", "custom", "json_message", "template", "response", "image"}
    | {"attachment", "quick_replies", "recipient_id"}
)
_CUSTOM = {"type": "custom"}  # a slot the actions fill (Rasa's custom slot mapping)


class ActionFailed(Exception):
    """The action server could not run the action; the message says why, for the log."""


@dataclass(frozen=True)
class TurnInput:
    """What the tracker tells the action about this turn."""

    customer_id: str
    conversation_id: str
    channel: str
    language: str
    text: str
    intent: str
    confidence: float
    entities: tuple[dict[str, Any], ...]
    slots: Mapping[str, Any]
    customer_name: str | None = None


@dataclass
class ActionOutcome:
    """The turn as the actions left it: replies, the slots to store, and whether to hand over."""

    replies: list[OutboundMessage] = field(default_factory=list)
    slots: dict[str, Any] = field(default_factory=dict)
    handoff: bool = False
    ran: list[str] = field(default_factory=list)


class ActionServerClient(ShopHttpClient):
    """The action server's webhook, spoken to as Rasa does."""

    def __init__(self, settings: ActionServer) -> None:
        if settings.url is None:
            raise ValueError("integrations.actions.url is not set")
        self.settings = settings
        super().__init__(
            settings.url,
            {"Content-Type": "application/json", **plain_headers(settings.headers)},
            settings.timeout_seconds,
        )

    async def call(self, body: dict[str, Any]) -> dict[str, Any]:
        """The server's answer to one action call; ActionFailed otherwise."""
        name = body.get("next_action")
        started = time.perf_counter()
        try:
            async with self._http().post(
                self.url, data=json.dumps(body), headers=self.headers, allow_redirects=False
            ) as r:
                raw = await r.content.read(self.settings.max_response_bytes + 1)
                status = r.status
        except TimeoutError as exc:
            raise ActionFailed(
                f"{name}: no answer within {self.settings.timeout_seconds:g} s"
            ) from exc
        except aiohttp.ClientError as exc:
            raise ActionFailed(f"{name}: the action server could not be reached: {exc}") from exc
        finally:
            log.debug("action %s took %.0f ms", name, (time.perf_counter() - started) * 1e3)
        if len(raw) > self.settings.max_response_bytes:
            raise ActionFailed(f"{name}: the answer is over {self.settings.max_response_bytes} B")
        try:
            answer = json.loads(raw) if raw else None
        except (ValueError, UnicodeDecodeError) as exc:
            raise ActionFailed(f"{name}: HTTP {status}, the answer is not JSON") from exc
        if status != 200:
            # 404: no such action registered; 400: the action rejected itself; 500: it raised.
            why = answer.get("error") if isinstance(answer, dict) else None
            raise ActionFailed(f"{name}: HTTP {status}: {why or 'no reason given'}")
        if answer is None:  # rasa_sdk answers `null` for an action that returned nothing
            return {"events": [], "responses": []}
        if not isinstance(answer, dict):
            raise ActionFailed(f"{name}: the answer is not a JSON object")
        return answer


class CustomActions:
    """The rules and the action server, for the engine: `run` plays one turn's actions."""

    def __init__(
        self, rules: ActionRules, client: ActionServerClient, responses: Responses
    ) -> None:
        self.rules = rules
        self.client = client
        self.responses = responses

    def handles(self, intent: str) -> bool:
        return bool(self.rules.actions_for(intent))

    async def close(self) -> None:
        await self.client.close()

    async def run(self, turn: TurnInput) -> ActionOutcome | None:
        """The intent's actions, in order; None when the intent has no rule or the action
        server failed (the engine's own policy answers instead)."""
        queue = list(self.rules.actions_for(turn.intent))
        if not queue:
            return None
        outcome = ActionOutcome(slots=dict(turn.slots))
        for e in turn.entities:  # Rasa fills a slot from the entity of the same name
            outcome.slots[str(e["entity"])] = e["value"]
        events: list[dict[str, Any]] = []
        while queue:
            if len(outcome.ran) >= MAX_ACTIONS_PER_TURN:
                log.warning("more than %d actions in one turn: stopped", MAX_ACTIONS_PER_TURN)
                break
            action = queue.pop(0)
            outcome.ran.append(action)
            if action == HANDOFF_ACTION:
                outcome.handoff = True
                continue
            if not is_custom(action):
                outcome.replies.append(self._utter(action, turn.language, outcome.slots, {}))
                continue
            body = self._request(action, turn, outcome.slots, events)
            try:
                answer = await self.client.call(body)
                follow = self._apply(answer, turn, outcome, events)
            except ActionFailed as exc:
                log.warning("custom action failed, the bot answers instead: %s", exc)
                return None
            if follow:
                queue.insert(0, follow)
        return outcome

    # -- the request -------------------------------------------------------------------------

    def _request(
        self,
        action: str,
        turn: TurnInput,
        slots: Mapping[str, Any],
        earlier: list[dict[str, Any]],
    ) -> dict[str, Any]:
        now = time.time()
        latest = {
            "text": turn.text,
            "intent": {"name": turn.intent, "confidence": turn.confidence},
            "intent_ranking": [{"name": turn.intent, "confidence": turn.confidence}],
            "entities": [dict(e) for e in turn.entities],
            "message_id": None,
            "metadata": {
                "conversation_id": turn.conversation_id,
                "customer_id": turn.customer_id,
                "channel": turn.channel,
                "language": turn.language,
                "customer_name": turn.customer_name,
            },
        }
        events: list[dict[str, Any]] = [
            {"event": "action", "timestamp": now, "name": "action_session_start"},
            {"event": "session_started", "timestamp": now},
            *(
                {"event": "slot", "timestamp": now, "name": k, "value": v}
                for k, v in turn.slots.items()
            ),
            {"event": "action", "timestamp": now, "name": "action_listen"},
            {
                "event": "user",
                "timestamp": now,
                "text": turn.text,
                "parse_data": latest,
                "input_channel": turn.channel,
            },
            *earlier,
        ]
        tracker = {
            "sender_id": turn.customer_id,
            "conversation_id": turn.conversation_id,
            "slots": dict(slots),
            "latest_message": latest,
            "latest_event_time": now,
            "followup_action": None,
            "paused": False,
            "events": events,
            "latest_input_channel": turn.channel,
            "active_loop": {},
            "latest_action": {"action_name": "action_listen"},
            "latest_action_name": "action_listen",
        }
        return {
            "next_action": action,
            "sender_id": turn.customer_id,
            "tracker": tracker,
            "domain": self._domain(turn.language, slots),
            "version": RASA_VERSION,
        }

    def _domain(self, language: str, slots: Mapping[str, Any]) -> dict[str, Any]:
        lang = "en" if language == "en" else "zh"
        return {
            "version": "3.1",
            "config": {"store_entities_as_slots": True},
            "session_config": {
                "session_expiration_time": 60,
                "carry_over_slots_to_new_session": True,
            },
            "intents": sorted(self.rules.by_intent),
            "entities": [],
            "slots": {
                name: {"type": "any", "influence_conversation": False, "mappings": [_CUSTOM]}
                for name in slots
            },
            "responses": {
                name: [{"text": v["text"]} for v in by_lang[lang]]
                for name, by_lang in self.responses.templates.items()
            },
            "actions": self.rules.custom_actions(),
            "forms": {},
        }

    # -- the answer --------------------------------------------------------------------------

    def _apply(
        self,
        answer: dict[str, Any],
        turn: TurnInput,
        outcome: ActionOutcome,
        events: list[dict[str, Any]],
    ) -> str | None:
        """Apply the answer's events and replies; the follow-up action it asks for, if any."""
        raw_events = answer.get("events") or []
        raw_replies = answer.get("responses") or []
        if not isinstance(raw_events, list) or not isinstance(raw_replies, list):
            raise ActionFailed("events and responses must be lists")
        follow = None
        for ev in raw_events:
            if not isinstance(ev, dict):
                raise ActionFailed("an event is not an object")
            kind = ev.get("event")
            if kind == "slot":
                self._set_slot(outcome.slots, ev.get("name"), ev.get("value"))
            elif kind in ("reset_slots", "restart"):
                outcome.slots.clear()
            elif kind == "followup" and isinstance(ev.get("name"), str):
                follow = ev["name"]
            else:
                log.debug("event %r from the action server ignored", kind)
            events.append(ev)
        for item in raw_replies:
            if len(outcome.replies) >= MAX_MESSAGES:
                log.warning("over %d messages from the actions: the rest dropped", MAX_MESSAGES)
                break
            if not isinstance(item, dict):
                raise ActionFailed("a response is not an object")
            message = self._message(item, turn.language, outcome.slots)
            if message is not None:
                outcome.replies.append(message)
        return follow

    def _set_slot(self, slots: dict[str, Any], name: Any, value: Any) -> None:
        if not isinstance(name, str) or not name or len(name) > 100:
            raise ActionFailed(f"a slot event without a valid name: {name!r}")
        if len(json.dumps(value, ensure_ascii=False, default=str)) > MAX_SLOT_BYTES:
            raise ActionFailed(f"slot {name!r}: the value is over {MAX_SLOT_BYTES} B")
        if value is None:
            slots.pop(name, None)
            return
        if name not in slots and len(slots) >= MAX_SLOTS:
            raise ActionFailed(f"more than {MAX_SLOTS} slots")
        slots[name] = value

    def _message(
        self, item: dict[str, Any], language: str, slots: Mapping[str, Any]
    ) -> OutboundMessage | None:
        """One `dispatcher.utter_message(...)` as a reply."""
        # utter_message(response=..., **kwargs) sends the kwargs as keys beside the known ones
        extra = {k: v for k, v in item.items() if k not in _MESSAGE_KEYS}
        values = {**slots, **extra}
        template = item.get("response") or item.get("template")
        if isinstance(template, str) and template:
            if template not in self.responses.templates:
                raise ActionFailed(f"response {template!r} is not in responses.yml")
            return self._utter(template, language, slots, values)
        text = item.get("text")
        text = str(text) if text is not None else ""
        buttons = tuple(
            Button(str(b.get("title", "")), str(b.get("payload", "")))
            for b in item.get("buttons") or []
            if isinstance(b, dict) and b.get("title")
        )
        image = item.get("image") if isinstance(item.get("image"), str) else None
        attachment = item.get("attachment")
        link = attachment if isinstance(attachment, str) else None
        custom = item.get("custom") or item.get("json_message")
        extra = {"custom": custom} if isinstance(custom, dict) and custom else {}
        if not (text or buttons or image or link or extra):
            return None
        return OutboundMessage(text, buttons, image, None, link, "", extra)

    def _utter(
        self,
        name: str,
        language: str,
        slots: Mapping[str, Any],
        values: Mapping[str, Any],
    ) -> OutboundMessage:
        return self.responses.render(name, language, **{**slots, **values})


def turn_input(
    *,
    customer_id: str,
    customer_name: str | None,
    conversation_id: str,
    channel: str,
    language: str,
    text: str,
    intent: str,
    parse: ParseResult,
    state: Mapping[str, Any],
) -> TurnInput:
    """The tracker's view of the turn, from what the engine has at hand."""
    entities = tuple(
        {"entity": e.entity, "value": e.value, "start": e.start, "end": e.end}
        for e in parse.entities
    )
    return TurnInput(
        customer_id=customer_id,
        conversation_id=conversation_id,
        channel=channel,
        language=language,
        text=text,
        intent=intent,
        confidence=float(parse.intent.confidence),
        entities=entities,
        slots=dict(state.get("slots") or {}),
        customer_name=customer_name,
    )


def action_decision(decision: Decision, outcome: ActionOutcome) -> Decision:
    """The policy's decision with the custom actions' turn in place of its replies: a
    successful turn (the rule answered it), handed over only when an action asked to."""
    return replace(
        decision,
        steps=(),
        failed=False,
        failed_turns=0,
        escalate="custom_action" if outcome.handoff else None,
        awaiting=None,
        kb_article=None,
        kb_choices=(),
        asked_back=False,
        empathetic=False,
    )
