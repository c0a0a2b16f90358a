"""The turn policy: from what the NLU and the look-ups found, decide what the bot says, whether
the turn failed, and whether to hand over. Pure: no I/O, so every rule is tested directly.

A failed turn is one where the customer is still not helped: an out-of-scope or low-confidence
message, a question the bot could not answer after it already asked back, an unknown order
number, or feedback_negative. A successful turn resets the count; at `max_failed_turns` the bot
escalates. request_human (or /human) escalates at once; a complaint after an apology; and an
upset customer's look-up of an order the record says is delivered or cancelled (the customer
disputes it, and the bot can only repeat the status); and a customer who stands by an order or
ticket number the bot could not find.

A question back is neither a failure nor a success, so the count stays as it was: when no
article is sure but two or three are close, or the NLU is sure the message is a question of a
known topic and the knowledge base has candidates, the bot offers them (a button each, and a
person last); a sure question with no candidate gets one clarifying question. Picking an offered
article is a knowledge answer like any other. Asking back twice in a row is not allowed: the
second time the turn fails.

Stickers, photos, voice notes and other messages that are not text are acknowledged and never
count as failed turns; commands (/start, /help, /human and their Chinese words) are answered
on every channel. An opt-out of proactive messages ("退订", "stop", the /opt_out button) is
confirmed, neither a failed turn nor a success: the count stays, and it never hands over.

A complaint escalates only when the NLU is sure of it: "the box was crushed" or "the screen has
a line" is searched and answered (or asked back) like a question first.

The bot apologises when the customer is upset, not when a word list fires: a complaint, anger
or disappointment, very negative words, or negative words with urgency, after the bot failed
them, or about their own order or ticket; a grievance (the sentiment analyser's learned
probability that the service let them down: waiting, a wrong charge, a refused return, nobody
answering), with a lower bar when they insist after a failed turn; and only once per
conversation, since an apology repeated every turn reads as a script.
(bench/conversations.py measured the alternatives: counting every negative label, or every
second failed turn, apologised to calm customers reporting a fault.) A second failed turn says
so plainly and offers a person. A negative or emotional message still raises the priority of a
handoff.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.dialogue.choices import KB_PICK, choice_buttons
from bot.dialogue.responses import Button
from bot.nlu.types import Sentiment

QUESTION_INTENTS = frozenset(
    {
        "question_complaint",  # a complaint the NLU is not sure of (policy only)
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
# Order states the bot can only repeat: an upset customer disputing one needs a person.
SETTLED_ORDER = frozenset({"delivered", "cancelled"})
# What a customer says when the bot could not find their number and they insist it is right.
STANDING_BY = frozenset({"affirm", "deny", "order_status", "ticket_status", "feedback_negative"})
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
    # A question intent at least this sure is asked back rather than failed when no article is.
    sure_question: float = 0.7
    # Below this, a complaint is read as a question (searched, asked back), not escalated.
    sure_complaint: float = 0.9
    # Negative words this strong are upset on their own; milder ones only with urgency or after
    # the bot failed the customer (a calm report of a fault is negative, not upset, and a
    # disappointed product report can score -0.91). Chosen on the tuning half of
    # bench/data/conversations.yml (`bench/conversations.py --half odd`).
    upset_score: float = -0.95
    # The sentiment's grievance probability (let down by the service: kept waiting, charged
    # wrongly, refused, ignored; bot/nlu/grievance.py) at which the customer is upset whatever
    # the polarity; and the lower one enough when the bot failed them last turn and they insist
    # ("that is the number, check again"). Chosen on held-out lines (bench/grievance.py).
    grievance: float = 0.7
    grievance_insisting: float = 0.5
    # A grievance about their own order or ticket takes less: a customer looking up an order
    # has a stake in it already ("it says delivered, nothing came", "four days and still not
    # sent"); calm look-ups score below 0.35. Chosen on the tuning half (`--half odd`).
    grievance_own_order: float = 0.4


@dataclass(frozen=True)
class Turn:
    """What the policy knows about the customer's message and the conversation so far."""

    intent: str
    sentiment: Sentiment
    entities: dict[str, str] = field(default_factory=dict)
    fallback: bool = False  # the NLU was not confident
    confidence: float = 0.0  # the intent's
    failed_turns: int = 0  # consecutive failed turns before this one
    negative_streak: int = 0
    answered_before: bool = False  # the bot's previous turn was a knowledge answer
    awaiting: str | None = None  # what the bot asked for last turn (a slot, a pick, details)
    apologised: bool = False  # the bot has apologised earlier in this conversation
    media: str | None = None  # not text: image | sticker | voice | file | location | ...
    attachment: str | None = None  # the kind of media a caption came with ("[photo] ...")
    command: str | None = None  # start | help | human | opt_out
    customer_name: str | None = None  # as the channel knows them: greeted by it
    kb_answer: dict[str, Any] | None = None  # the knowledge answer above threshold, if any
    # Close articles to offer when there is no sure answer: id, title, version, ...
    kb_choices: tuple[dict[str, Any], ...] = ()
    # The best articles found, sure or not: offered when a sure question has nothing close.
    kb_candidates: tuple[dict[str, Any], ...] = ()
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
    empathetic: bool  # the reply apologises
    kb_choices: tuple[str, ...] = ()  # the ids of the articles offered, in button order
    asked_back: bool = False  # articles offered or details asked: neither failed nor helped


ASKED_BACK = ("kb_choice", "details")
NON_TEXT_REPLY = {
    "image": "utter_non_text_image",
    "file": "utter_non_text_image",
    "voice": "utter_non_text_voice",
    "location": "utter_non_text_location",
    "contact": "utter_non_text_location",
    "sticker": "utter_non_text_sticker",
}


def decide(turn: Turn, settings: PolicySettings) -> Decision:
    s = turn.sentiment
    negative = s.label == "negative" or s.emotion is not None
    strongly = s.label == "negative" and (
        s.score <= settings.strong_negative_score or s.emotion in ("angry", "disappointed")
    )
    negative_streak = turn.negative_streak + 1 if strongly else 0
    priority = (1 if negative else 0) + (1 if s.emotion else 0)
    if turn.media is not None:
        return _non_text(turn, priority)
    intent = turn.intent
    if turn.command == "human":
        intent = "request_human"
    if intent == "complaint" and turn.confidence < settings.sure_complaint:
        # "The box was crushed", "the screen has a line": a report the knowledge base may
        # answer, not a case for the complaints desk unless the NLU is sure it is one.
        intent = "question_complaint"
    # A bare order or ticket number answers the question the bot just asked.
    if turn.awaiting == "order_id" and "order_id" in turn.entities:
        intent = "order_status"
    if turn.awaiting == "ticket_id" and "ticket_id" in turn.entities:
        intent = "ticket_status"
    # Asked to check a number the bot could not find, the customer stands by it ("that is the
    # number, look again"): the bot has nothing more to look up, a person must.
    standing_by = (
        turn.awaiting in ("order_id", "ticket_id")
        and turn.failed_turns > 0
        and turn.awaiting not in turn.entities
        and intent in STANDING_BY
    )

    steps: list[Step] = []
    failed = False
    escalate: str | None = None
    awaiting: str | None = None
    article: dict[str, Any] | None = None
    offered: tuple[str, ...] = ()
    asked_back = False
    neither = False  # acknowledged, neither failed nor helped: the count stays
    asks_kb = intent in QUESTION_INTENTS or intent in UNKNOWN_INTENTS or turn.fallback
    # Close articles are offered only for what the NLU takes for a question: "what's the
    # weather" or "tell me a joke" is close to nothing, whatever the search finds near it.
    may_ask = intent in QUESTION_INTENTS and turn.awaiting not in ASKED_BACK
    sure_question = may_ask and not turn.fallback and turn.confidence >= settings.sure_question

    if turn.command == "start" or (intent == "greet" and not turn.fallback):
        named = turn.customer_name
        steps.append(Step("utter_greet_named", {"name": named}) if named else Step("utter_greet"))
    elif turn.command == "help":
        steps.append(Step("utter_help"))
    elif turn.command == "opt_out":  # recorded by the engine; confirmed here
        steps.append(Step("utter_opt_out"))
        neither = True
    elif intent == "request_human":
        escalate, priority = "explicit_request", priority + 2
    elif standing_by:
        escalate, priority = "not_found", priority + 1
    elif intent == "complaint":
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
            awaiting = slot  # "could you check the number?": a corrected one is looked up
        elif found.get("unavailable"):  # the shop's order API did not answer: not their fault
            steps.append(Step(f"utter_{kind}_lookup_unavailable", {key: value}))
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
    elif may_ask and (turn.kb_choices or (sure_question and turn.kb_candidates)):
        choices = turn.kb_choices or turn.kb_candidates
        steps.append(Step("utter_kb_choices", buttons=choice_buttons(choices)))
        offered = tuple(str(c["id"]) for c in choices)
        awaiting, asked_back = "kb_choice", True
    elif sure_question:
        steps.append(Step("utter_ask_details"))
        awaiting, asked_back = "details", True
    elif turn.attachment is not None:
        # A photo whose caption the bot cannot answer: the photo is for the agent, and the
        # customer is asked for words rather than told they were not understood.
        steps.append(Step(NON_TEXT_REPLY.get(turn.attachment, "utter_non_text_image")))
        neither = True
    elif turn.failed_turns >= 1:
        # Not understood again: say so once more with an apology, and offer a person.
        steps.append(Step("utter_default_again"))
        failed = True
    else:
        # Out of scope, not understood, or a question the knowledge base cannot answer.
        steps.append(Step("utter_default"))
        failed = True

    # The customer is upset (see the module's docstring).
    upset = (
        intent == "complaint"
        or s.emotion in ("angry", "disappointed")
        or (s.label == "negative" and s.score <= settings.upset_score)
        or (s.label == "negative" and (s.emotion == "urgent" or turn.failed_turns > 0))
        # Negative about their own order or ticket, or a mild grievance about it: something
        # already went wrong for them.
        or (
            intent in LOOKUPS
            and (s.label == "negative" or s.grievance >= settings.grievance_own_order)
        )
        # Let down by the service, however calmly said; or insisting after the bot failed them.
        or s.grievance >= settings.grievance
        or (turn.failed_turns > 0 and s.grievance >= settings.grievance_insisting)
    )
    empathetic = upset and not turn.apologised
    if (
        escalate is None
        and intent == "order_status"
        and (upset or turn.apologised)
        and (turn.order or {}).get("status") in SETTLED_ORDER
    ):
        # The record says delivered or cancelled and an upset customer says otherwise ("it never
        # came", "I didn't cancel"): repeating the status cannot help, a person must look.
        escalate, priority = "order_dispute", priority + 1
    if empathetic:
        steps.insert(0, Step("utter_empathy"))
    # A failure grows the count, a question back leaves it, a success resets it.
    failed_turns = (
        turn.failed_turns + 1 if failed else turn.failed_turns if asked_back or neither else 0
    )
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
        empathetic=empathetic,
        kb_choices=offered,
        asked_back=asked_back,
    )


def _non_text(turn: Turn, priority: int) -> Decision:
    """A sticker, photo, voice note ...: acknowledged in words, never a failed turn; what the
    bot was waiting for (an order number, a pick) it still waits for."""
    reply = NON_TEXT_REPLY.get(turn.media or "", "utter_non_text_sticker")
    return Decision(
        steps=(Step(reply),),
        failed=False,
        failed_turns=turn.failed_turns,
        negative_streak=turn.negative_streak,
        escalate=None,
        priority=priority,
        awaiting=turn.awaiting,
        kb_article=None,
        empathetic=False,
    )
