"""Close knowledge articles offered as a question ("Did you mean …"), and the pick read back.

A close call between two or three articles is better asked than failed, but the customer's
answer comes back in whatever form their channel allows: Telegram's callback and the web widget
send the button's payload, WeChat shows the titles as lines the customer types back, and other
text-only channels number the buttons (`OutboundMessage.fallback_text`). Every form is read here
as the payload of the button it stands for, so the engine handles one form only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from bot.dialogue.responses import Button
from bot.knowledge.article import Article
from bot.nlu.types import IntentScore, ParseResult, Sentiment

CALLBACK_LIMIT = 64  # bytes of Telegram callback data
KB_PICK = "kb_article"  # the intent of a picked article, and its payload's name
HUMAN_PAYLOAD = "/request_human"  # the offer's last button
_ARTICLE_PAYLOAD = re.compile(r"^/kb_article\s*(\{.*\})$", re.S)
# "2", "２", "2.", "2、": the numbered fallback lines, typed back.
_NUMBER = re.compile(r"^(\d{1,2})\s*[.、。)）]?$")


def article_fields(article: Article) -> dict[str, Any]:
    """An article as the policy and the renderer see it: what an answer or a choice shows."""
    return {
        "id": article.id,
        "title": article.title,
        "version": article.version,
        "category": article.category,
        "body": article.body,
        "media": [m.to_dict() for m in article.media],
        "more": article.more,
        "language": article.language,
    }


def article_payload(article_id: str) -> str:
    """`/kb_article{"id": "..."}`: JSON, so any id survives the trip through a channel."""
    return f"/{KB_PICK}{json.dumps({'id': article_id}, ensure_ascii=False)}"


def payload_article_id(text: str) -> str | None:
    """The article id in a `/kb_article{...}` payload; None for any other text."""
    m = _ARTICLE_PAYLOAD.match(text.strip())
    if m is None:
        return None
    try:
        data = json.loads(m.group(1))
    except ValueError:
        return None
    found = data.get("id") if isinstance(data, dict) else None
    return found if isinstance(found, str) and found else None


def choice_buttons(choices: Sequence[dict[str, Any]]) -> tuple[Button, ...]:
    """One button per offered article; the person button comes from the response template,
    which knows the customer's language."""
    return tuple(Button(str(c["title"]), article_payload(str(c["id"]))) for c in choices)


def read_pick(text: str, offered: Sequence[tuple[str, str]]) -> str | None:
    """The payload that a reply to an offer of `offered` (article id, title) stands for: a
    number picks the article listed there, the number after the last article is the person
    button, and an article's title typed back picks it. None: the reply is something else."""
    said = text.strip()
    m = _NUMBER.match(said)
    if m is not None:
        n = int(m.group(1))
        if 1 <= n <= len(offered):
            return article_payload(offered[n - 1][0])
        return HUMAN_PAYLOAD if n == len(offered) + 1 else None
    folded = " ".join(said.split()).casefold()
    for article_id, title in offered:
        whole = " ".join(title.split()).casefold()
        if title and folded == whole:
            return article_payload(article_id)
        # Telegram carries at most 64 bytes of callback data: a payload over that comes back
        # as the button's title, cut to 64 bytes.
        cut = len(said.encode()) >= CALLBACK_LIMIT - 4 and len(title.encode()) > CALLBACK_LIMIT
        if cut and whole.startswith(folded):
            return article_payload(article_id)
    return None


def pick_parse(text: str, article: Article) -> ParseResult:
    """The parse of a picked article: certain, and in the article's language (it was offered
    in the customer's), so the NLU is not asked about a digit or a payload."""
    intent = IntentScore(KB_PICK, 1.0)
    neutral = Sentiment("neutral", 0.0, None)
    return ParseResult(text, article.language, intent, (intent,), (), neutral)
