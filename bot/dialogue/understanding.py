"""What the bot makes of a customer's message: the parse, and what the knowledge base offers.

A message is parsed once, and the knowledge base is searched with the parse's own sentence
embedding when it wants an answer (or, while a person holds the chat, the agent's suggestions).
A button's payload ("/request_human") or a number or title typed back at an offer of articles
(bot/dialogue/choices.py) is read as the button it stands for, without the NLU.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from bot.dialogue.choices import article_fields, payload_article_id, pick_parse, read_pick
from bot.dialogue.context import Context, Reading
from bot.dialogue.context import read as read_context
from bot.dialogue.inbound import Inbound
from bot.dialogue.policy import QUESTION_INTENTS, UNKNOWN_INTENTS
from bot.knowledge.article import Article
from bot.knowledge.base import KnowledgeBase
from bot.nlu.pipeline import NLUPipeline
from bot.nlu.types import IntentScore, ParseResult, Sentiment

MAX_CANDIDATES = 3  # articles offered to a sure question with nothing close
_PAYLOAD = re.compile(r"^/([a-z_]+)$")
# The intent a channel command stands for ("/start" on Telegram).
COMMAND_INTENT = {
    "start": "greet",
    "help": "help",
    "human": "request_human",
    "opt_out": "opt_out",
}


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


def understand(
    nlu: NLUPipeline,
    kb: KnowledgeBase | None,
    nlu_embedder: object,
    text: str,
    fallback_language: str,
    mode: str,
    context: Context,
) -> Understood:
    """Parse, then search the knowledge base when the bot will answer and the intent calls
    for it (mode "answer"), or for the agent's suggestions whatever the intent (mode
    "suggest", while a person holds the chat), reusing the parse's sentence embedding when
    `nlu_embedder` is the base's own: one trip to the worker thread, one embedding. A follow-up
    is searched with what it left out (bot/dialogue/context.py). Close articles come back as
    choices only when none is sure; the best few come back as candidates either way."""
    parse, vector = parse_text(nlu, text, fallback_language)
    entities = {e.entity: e.value for e in parse.entities}
    reading = read_context(text, entities, context)
    intent = parse.intent.name
    if intent in UNKNOWN_INTENTS and "order_id" in entities:
        # A bare order number, or one in words the NLU cannot place ("sorry, typo: 2026..."):
        # the customer wants that order looked up, not to hear they were not understood.
        intent = "order_status"
    if reading.ellipsis and intent not in QUESTION_INTENTS and context.intent:
        intent = context.intent  # "and for the Pro?": the same question, another product
    language = reply_language(parse.language, fallback_language)
    # A complaint is searched too: a calm fault report an article answers is answered.
    wanted = (
        intent in QUESTION_INTENTS
        or intent in UNKNOWN_INTENTS
        or intent == "complaint"
        or mode == "suggest"
    )
    if kb is None or not wanted:
        return Understood(parse, reading=reading, intent=intent)
    same_model = kb.embedder is nlu_embedder and reading.search_text == text
    result = kb.search(
        reading.search_text,
        language=language,
        intent=intent,
        vector=vector if same_model else None,
    )
    answer = article_fields(result.answer.article) if result.answer is not None else None
    choices = [] if answer else [article_fields(h.article) for h in result.choices]
    candidates = [] if answer else [article_fields(h.article) for h in result.hits[:MAX_CANDIDATES]]
    return Understood(
        parse,
        answer,
        choices,
        [h.to_dict() for h in result.hits],
        candidates,
        reading,
        intent,
    )


def parse_text(nlu: NLUPipeline, text: str, fallback_language: str) -> tuple[ParseResult, Any]:
    """The NLU's parse and sentence vector; a button's payload is its intent, without either."""
    m = _PAYLOAD.match(text.strip())
    if m and m.group(1) in nlu.intents:  # a button's payload: "/request_human"
        intent = IntentScore(m.group(1), 1.0)
        # A payload has no language of its own: the conversation's is kept.
        parse = ParseResult(
            text, fallback_language, intent, (intent,), (), Sentiment("neutral", 0.0, None)
        )
        return parse, None
    return nlu.parse_with_vector(text)


def as_button(kb: KnowledgeBase | None, text: str, state: dict[str, Any]) -> str:
    """While an offer of articles awaits a pick, a number or a title typed back becomes the
    payload of the button it names; any other text is returned as it is."""
    offered = state.get("kb_choices") if state.get("awaiting") == "kb_choice" else None
    if not offered or kb is None:
        return text
    articles = kb.index.articles
    titles = [(i, articles[i].title if i in articles else "") for i in offered]
    return read_pick(text, titles) or text


def picked_article(kb: KnowledgeBase | None, text: str) -> Article | None:
    """The article a `/kb_article{...}` payload names, offered now or by a stale button;
    None when the text is no such payload or the id is not (or no longer) in the base."""
    article_id = payload_article_id(text)
    if article_id is None or kb is None:
        return None
    return kb.index.articles.get(article_id)


def plain_parse(text: str, language: str, intent: str) -> ParseResult:
    """The parse of a message the NLU does not read (a sticker, a command): its intent only."""
    score = IntentScore(intent, 1.0)
    return ParseResult(text, language, score, (score,), (), Sentiment("neutral", 0.0, None))


def reply_language(detected: str, fallback: str) -> str:
    """Reply in the customer's language; mixed Chinese-English gets Chinese."""
    if detected in ("zh", "en"):
        return detected
    return "zh" if detected == "mixed" else fallback


def understood_without_nlu(
    text: str, message: Inbound, picked: Article | None, spoken: str, state: dict[str, Any]
) -> Understood | None:
    """A pick from an offer (answered as the knowledge answer), a message with nothing in words
    to read, or a command, in the conversation's language `spoken`; None when the NLU must read
    the message."""
    if picked is not None:
        return Understood(
            pick_parse(text, picked), article_fields(picked), [], state.get("suggestions", [])
        )
    if message.kind == "media" and not message.text:
        return Understood(plain_parse(text, spoken, "non_text"))
    if message.kind == "command":
        return Understood(plain_parse(text, spoken, COMMAND_INTENT[message.command or "help"]))
    return None
