"""A policy step as the message the customer sees: its template in the customer's language,
with the step's own buttons first, or a knowledge article with its picture or video."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bot.dialogue.responses import OutboundMessage, Responses


def render_step(responses: Responses, step: Any, language: str) -> OutboundMessage:
    """One reply for a step of the policy's decision (bot/dialogue/policy.py)."""
    msg = responses.render(step.response, language, **step.values)
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
