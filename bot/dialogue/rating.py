"""A customer's rating of a resolved conversation ("5", "4星 很满意", "/rate 3 slow but fine"):
read before anything is parsed, kept, and thanked for.

The engine (bot/dialogue/engine.py) tries `parse_rating` on every message; it is a rating only
while the customer's last conversation on the channel awaits one (`store.ratings.awaiting`).
"""

from __future__ import annotations

import re

from bot.dialogue.responses import Responses
from bot.dialogue.results import TurnResult
from bot.logs import conversation_context
from bot.nlu.types import Sentiment
from bot.store.sql_store import SqlStore

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


async def rate_if_awaited(
    store: SqlStore,
    responses: Responses,
    default_language: str,
    channel: str,
    sender: str,
    text: str,
    external_id: str | None,
) -> TurnResult | None:
    """The turn of a rating, when the message is one and the customer's last conversation on
    the channel awaits it; None when the message is a turn like any other."""
    rating = parse_rating(text)
    if rating is None:
        return None
    customer = await store.customers.for_identity(channel, sender)
    resolved = await store.ratings.awaiting(customer.id, channel)
    if resolved is None:
        return None
    with conversation_context(resolved.id):
        return await rate(
            store, responses, default_language, customer.id, resolved.id, text, rating, external_id
        )


async def rate(
    store: SqlStore,
    responses: Responses,
    default_language: str,
    customer_id: str,
    conversation_id: str,
    text: str,
    rating: tuple[int, str],
    external_id: str | None,
) -> TurnResult:
    """Keep the customer's message and their rating, and thank them (once: a message sent
    again is a duplicate, with nothing said)."""
    # The parse marks the message's turn finished: no recovery sweeper picks it up.
    inbound = await store.messages.append(
        conversation_id, "customer", text, external_id=external_id, parse={"rating": rating[0]}
    )
    conv = await store.conversations.get(conversation_id)
    language = conv.language or default_language
    neutral = Sentiment("neutral", 0.0, None)
    if inbound.duplicate:
        return TurnResult(
            conv.id, customer_id, (), "resolved", 0, "rate", neutral, language, duplicate=True
        )
    await store.ratings.add(conversation_id, rating[0], rating[1])
    thanks = responses.render("utter_thanks_for_rating", language)
    stored = await store.messages.append(
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
