"""The turn policy: from what the NLU and the look-ups found, decide what the bot says, whether
the turn failed, and whether to hand over. Pure: no I/O, so every rule is tested directly.

Rules (issue #4): a failed turn is an out-of-scope or low-confidence intent, a question with no
knowledge answer above threshold, or feedback_negative. A successful turn resets the count; at
`max_failed_turns` the bot escalates. request_human escalates at once; complaint after an
empathetic reply. Negative sentiment or an emotion flag opens the reply with an empathy line and
raises the priority; a streak of strongly negative turns escalates too.

When no article is sure but two or three are close, the bot asks which one was meant (a button
each, and a person last): a question back is neither a failure nor a success, so the count stays
as it was; picking one is a knowledge answer like any other, and a success. Only a message the
NLU takes for a question is asked back; anything else fails as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.dialogue.choices import KB_PICK, choice_buttons
from bot.dialogue.responses import Button
from bot.nlu.types import Sentiment

QUESTION_INTENTS = frozenset(
    {
        "question_shipping",
        "question_returns",
        "question_payment",
        "question_account",
        "question_product",
    }
)
SMALL_TALK = {
    "greet": "utter_greet",
    "goodbye": "utter_goodbye",
    "thank": "utter_thank",
    "affirm": "utter_affirm",
    "deny": "utter_deny",
    "bot_challenge": "utter_bot_challenge",
}
UNKNOWN_INTENTS = frozenset({"out_of_scope", "nlu_fallback"})
# intent -> (entity slot, template value name, what is looked up)
LOOKUPS = {
    "order_status": ("order_id", "order_id", "order"),
    "ticket_status": ("ticket_id", "number", "ticket"),
}


@dataclass(frozen=True)
class PolicySettings:
    max_failed_turns: int = 3
    negative_streak_to_escalate: int = 3
    strong_negative_score: float = -0.6


@dataclass(frozen=True)
class Turn:
    """What the policy knows about the customer's message and the conversation so far."""

    intent: str
    sentiment: Sentiment
    entities: dict[str, str] = field(default_factory=dict)
    fallback: bool = False  # the NLU was not confident
    failed_turns: int = 0  # consecutive failed turns before this one
    negative_streak: int = 0
    answered_before: bool = False  # the bot's previous turn was a knowledge answer
    awaiting: str | None = None  # the slot the bot asked for last turn
    kb_answer: dict[str, Any] | None = None  # the knowledge answer above threshold, if any
    # Close articles to offer when there is no sure answer: id, title, version, ...
    kb_choices: tuple[dict[str, Any], ...] = ()
    order: dict[str, Any] | None = None  # the looked-up order (when an order id was given)
    ticket: dict[str, Any] | None = None  # the looked-up ticket (when a ticket id was given)


@dataclass(frozen=True)
class Step:
    """One reply: a response template and its values, or a knowledge article."""

    response: str
    values: dict[str, Any] = field(default_factory=dict)
    article: dict[str, Any] | None = None
    buttons: tuple[Button, ...] = ()  # shown before the template's own buttons


@dataclass(frozen=True)
class Decision:
    steps: tuple[Step, ...]
    failed: bool
    failed_turns: int
    negative_streak: int
    escalate: str | None  # reason code, or None to stay with the bot
    priority: int
    awaiting: str | None
    kb_article: dict[str, Any] | None  # {id, version} of the answer given, if any
    empathetic: bool
    kb_choices: tuple[str, ...] = ()  # the ids of the articles offered, in button order


def decide(turn: Turn, settings: PolicySettings) -> Decision:
    s = turn.sentiment
    negative = s.label == "negative" or s.emotion is not None
    strongly = s.score <= settings.strong_negative_score or s.emotion in ("angry", "disappointed")
    negative_streak = turn.negative_streak + 1 if negative and strongly else 0
    steps: list[Step] = [Step("utter_empathy")] if negative else []
    priority = (1 if negative else 0) + (1 if s.emotion else 0)
    intent = turn.intent
    # A bare order or ticket number answers the question the bot just asked.
    if turn.awaiting == "order_id" and "order_id" in turn.entities:
        intent = "order_status"
    if turn.awaiting == "ticket_id" and "ticket_id" in turn.entities:
        intent = "ticket_status"

    failed = False
    escalate: str | None = None
    awaiting: str | None = None
    article: dict[str, Any] | None = None
    offered: tuple[str, ...] = ()
    asks_kb = intent in QUESTION_INTENTS or intent in UNKNOWN_INTENTS or turn.fallback
    # Close articles are offered only for what the NLU takes for a question: "what's the
    # weather" or "tell me a joke" is close to nothing, whatever the search finds near it.
    may_ask = intent in QUESTION_INTENTS

    if intent == "request_human":
        escalate, priority = "explicit_request", priority + 2
    elif intent == "complaint":
        if not negative:
            steps.append(Step("utter_empathy"))
        steps.append(Step("utter_complaint_received"))
        escalate, priority = "complaint", priority + 1
    elif intent in LOOKUPS:
        slot, key, kind = LOOKUPS[intent]
        value = turn.entities.get(slot)
        found = turn.order if kind == "order" else turn.ticket
        if value is None:  # ask for the number, and remember that we asked
            steps.append(Step(f"utter_ask_{slot}"))
            awaiting = slot
        elif found is None:
            steps.append(Step(f"utter_{kind}_not_found", {key: value}))
            failed = True
        else:
            steps.append(Step(f"utter_{kind}_status", dict(found)))
    elif intent == "feedback_negative":
        steps.append(Step("utter_sorry_not_helpful"))
        failed = True
    elif intent in SMALL_TALK and not turn.fallback:
        steps.append(Step(SMALL_TALK[intent]))
    elif turn.kb_answer is not None and (asks_kb or intent == KB_PICK):
        steps.append(
            Step("utter_kb_answer", {"answer": turn.kb_answer["body"]}, article=turn.kb_answer)
        )
        article = {"id": turn.kb_answer["id"], "version": turn.kb_answer["version"]}
    elif turn.kb_choices and may_ask:
        steps.append(Step("utter_kb_choices", buttons=choice_buttons(turn.kb_choices)))
        offered = tuple(str(c["id"]) for c in turn.kb_choices)
        awaiting = "kb_choice"
    else:
        # Out of scope, not understood, or a question the knowledge base cannot answer.
        steps.append(Step("utter_default"))
        failed = True

    # A failure grows the count, a question back (articles offered) leaves it, a success resets it.
    failed_turns = turn.failed_turns + 1 if failed else turn.failed_turns if offered else 0
    if escalate is None and failed_turns >= settings.max_failed_turns:
        escalate = "failed_turns"
    if escalate is None and negative_streak >= settings.negative_streak_to_escalate:
        escalate, priority = "negative_sentiment", priority + 1
    return Decision(
        steps=tuple(steps),
        failed=failed,
        failed_turns=failed_turns,
        negative_streak=negative_streak,
        escalate=escalate,
        priority=priority,
        awaiting=awaiting,
        kb_article=article,
        empathetic=negative,
        kb_choices=offered,
    )
