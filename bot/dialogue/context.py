"""What a follow-up leaves out: the product, order and question the customer named before.

Customers do not repeat themselves: "can I return it?", "and for the Pro?", "那个呢", "where is
it now?" mean something only with the turns before them. The conversation keeps the last product,
order number and question (in the conversation's state, so every instance sees them), and a
follow-up is searched with what it leaves out. A new question with no reference to the old one
(no pronoun, no "and …?", no product) on another topic starts afresh.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# Words that point back at something already named.
_POINTER_EN = re.compile(
    r"\b(it|its|this|that|these|those|them|one|other|same|there)\b", re.IGNORECASE
)
_POINTER_ZH = re.compile(r"它|这个|那个|这款|那款|这台|那台|这单|那单|另一|另外一|同款|这件|那件")
# "and for the Pro?", "what about the blue one", "那 Pro 呢", "还有白色的吗"
_ELLIPSIS_EN = re.compile(
    r"^\s*(?:and|what about|how about|same for|also)\b\s*"
    r"(?:(?:for|with|about|the)\s+)*(.*?)\s*\??\s*$",
    re.IGNORECASE,
)
_ELLIPSIS_ZH = re.compile(r"^\s*(?:那|那么|还有|另外)?\s*(.{1,24}?)\s*(?:呢|的呢)\s*[？?]?\s*$")
MAX_FOLLOW_UP_CHARS = 60  # longer messages say what they mean on their own
MAX_PRODUCT_ONLY_CHARS = 16  # "X5 Pro的", "what about the Pro": a product and a word or two


@dataclass(frozen=True)
class Context:
    product: str | None = None
    order_id: str | None = None
    question: str | None = None  # the last question searched, as searched
    intent: str | None = None  # the last question's intent

    @classmethod
    def of(cls, state: dict[str, Any]) -> Context:
        c = state.get("context") or {}
        return cls(c.get("product"), c.get("order_id"), c.get("question"), c.get("intent"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "product": self.product,
            "order_id": self.order_id,
            "question": self.question,
            "intent": self.intent,
        }


@dataclass(frozen=True)
class Reading:
    """A message as the bot searches it: the text with what it left out, and whether it is a
    follow-up (which keeps the previous question's topic)."""

    search_text: str
    follow_up: bool
    ellipsis: bool  # "and for X?": the previous question again, about X


def read(text: str, entities: dict[str, str], context: Context) -> Reading:
    t = text.strip()
    if len(t) > MAX_FOLLOW_UP_CHARS or (context.question is None and context.product is None):
        return Reading(text, False, False)
    ellipsis = _ELLIPSIS_EN.match(t) or _ELLIPSIS_ZH.match(t)
    if ellipsis and context.question:
        fragment = ellipsis.group(1).strip()
        return Reading(_about(context, fragment, entities.get("product")), True, True)
    named = entities.get("product")
    if named and context.question and len(t) <= MAX_PRODUCT_ONLY_CHARS:
        # "X5 Pro的", "the Pro one?": a product and little else continues the last question.
        return Reading(_about(context, t, named), True, True)
    pointer = bool(_POINTER_EN.search(t) or _POINTER_ZH.search(t))
    if pointer and "product" not in entities and context.product:
        return Reading(f"{t} {context.product}", True, False)
    return Reading(text, pointer, False)


def _about(context: Context, fragment: str, product: str | None) -> str:
    """The last question again, about the product the follow-up names (in place of the one it
    named, where it named one)."""
    question = context.question or ""
    old = context.product
    if product and old and old.casefold() in question.casefold():
        start = question.casefold().index(old.casefold())
        return question[:start] + product + question[start + len(old) :]
    return f"{question} {fragment}".strip()


def update(
    context: Context,
    *,
    entities: dict[str, str],
    reading: Reading,
    intent: str,
    question: bool,
) -> Context:
    """After a turn: what a later follow-up may refer to."""
    product = entities.get("product")
    order_id = entities.get("order_id") or context.order_id
    if not question:
        return Context(product or context.product, order_id, context.question, context.intent)
    topic_changed = not reading.follow_up and product is None and intent != context.intent
    return Context(
        product or (None if topic_changed else context.product),
        order_id,
        reading.search_text,
        intent,
    )
