"""Template messages (模板消息) for what must reach a follower after the customer-service window
closed: "an agent replied", "your ticket changed" and a proactive message (bot/proactive), each
configured in `connectors.wechat.templates` by the template id the account added in the Official
Account platform and the value of each of its fields.

Field values may name `{text}` (the message, cut to `max_value_chars`), `{agent}` (the agent's
display name), `{ticket}` (the ticket number, when the message carries one) and `{time}` (when it
was written, `YYYY-MM-DD HH:MM` UTC). A template message reaches only a follower, and WeChat
does not count it against the window.
"""

from __future__ import annotations

import string
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

PLACEHOLDERS = ("text", "agent", "ticket", "time")
KINDS = ("agent_replied", "ticket_update", "proactive")


class Template(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    template_id: str = Field(min_length=1, max_length=128)
    url: str | None = None  # opened when the follower taps the message
    fields: dict[str, str] = Field(min_length=1)  # the template's keywords: first, keyword1, ...
    max_value_chars: int = Field(200, ge=1, le=2000)

    @field_validator("fields")
    @classmethod
    def _placeholders(cls, fields: dict[str, str]) -> dict[str, str]:
        for name, value in fields.items():
            try:
                named = [f for _, f, _, _ in string.Formatter().parse(value) if f is not None]
            except ValueError as exc:
                raise ValueError(f"fields.{name}: {exc}") from None
            for placeholder in named:
                if placeholder not in PLACEHOLDERS:
                    raise ValueError(
                        f"fields.{name}: unknown placeholder {{{placeholder}}}; allowed: "
                        + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
                    )
        return fields

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("url must be http(s)")
        return value

    def body(self, openid: str, values: dict[str, str]) -> dict[str, Any]:
        """The JSON body of message/template/send."""
        cut = {k: v[: self.max_value_chars] for k, v in values.items()}
        body: dict[str, Any] = {
            "touser": openid,
            "template_id": self.template_id,
            "data": {name: {"value": v.format(**cut)} for name, v in self.fields.items()},
        }
        if self.url:
            body["url"] = self.url
        return body


class Templates(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    agent_replied: Template | None = None  # an agent's message the window no longer allows
    ticket_update: Template | None = None  # a message about a ticket (its payload names one)
    proactive: Template | None = None  # a proactive message (bot/proactive), outside the window

    def for_message(self, sender: str, payload: dict[str, Any]) -> tuple[str, Template] | None:
        """The template that may carry a message outside the window, with its kind."""
        if payload.get("ticket") and self.ticket_update is not None:
            return "ticket_update", self.ticket_update
        if payload.get("proactive") and self.proactive is not None:
            return "proactive", self.proactive
        if sender == "agent" and self.agent_replied is not None:
            return "agent_replied", self.agent_replied
        return None


def values(text: str, agent: str | None, ticket: object, at: datetime) -> dict[str, str]:
    return {
        "text": text,
        "agent": agent or "",
        "ticket": str(ticket or ""),
        "time": at.strftime("%Y-%m-%d %H:%M"),
    }
