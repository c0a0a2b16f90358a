"""The body of `POST /api/events`: one event, or `{"events": [...]}` with up to 100.

    {"id": "evt-123", "type": "cart_abandoned",
     "customer": {"id": "<relaydesk id>"} | {"external_id": "<shop user id>", "channel"?: ...},
     "occurred_at": "2026-12-07T10:00:00+08:00", "data": {"product": "..."}}

Every field is checked and size-limited; `EventBodyError` names the first field that is wrong
("events[3].customer.external_id: ..."), for the 400's message.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bot import clock
from bot.errors import InputError

MAX_BODY_BYTES = 64 * 1024
MAX_DATA_BYTES = 4 * 1024
MAX_BATCH = 100
MAX_EVENT_ID = 100
# How far ahead of the server's clock an event may say it happened (the shop's clock may run
# a little fast); anything later is a mistake in the sender's time zone or format.
MAX_FUTURE = timedelta(minutes=5)
# What the config's rules may name as a trigger (bot/config/proactive.py): lower-case words.
TYPE = re.compile(r"^[a-z][a-z0-9_.-]{0,59}$")
EVENT_ID = re.compile(r"^[\x21-\x7e]{1,100}$")  # visible ASCII, no spaces
CHANNELS = ("shop", "web", "telegram", "wechat")


class EventBodyError(InputError):
    """The body is not JSON, not an event or a batch of events, or a field is wrong."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _text(value: Any) -> Any:
    """Shops often send numeric ids: 1001 is read as "1001"."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


class CustomerRef(_Model):
    """Who the event is about: relaydesk's customer id, or the shop's user id (`external_id`),
    optionally on a channel (`telegram` chat id, `wechat` openid; `shop` or `web`: the shop's
    customer number or the widget's signed-in user id, which are the same)."""

    id: str | None = Field(None, min_length=1, max_length=32)
    external_id: str | None = Field(None, min_length=1, max_length=64)
    channel: Literal["shop", "web", "telegram", "wechat"] | None = None

    _texts = field_validator("id", "external_id", mode="before")(_text)

    @model_validator(mode="after")
    def _one_key(self) -> CustomerRef:
        if (self.id is None) == (self.external_id is None):
            raise ValueError("give exactly one of id (relaydesk's) or external_id (the shop's)")
        if self.channel is not None and self.external_id is None:
            raise ValueError("channel goes with external_id, not with id")
        return self


class EventIn(_Model):
    id: str = Field(min_length=1, max_length=MAX_EVENT_ID)
    type: str
    customer: CustomerRef
    occurred_at: AwareDatetime
    data: dict[str, Any] = Field(default_factory=dict)

    _ids = field_validator("id", mode="before")(_text)

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not EVENT_ID.match(value):
            raise ValueError("visible ASCII characters without spaces, at most 100")
        return value

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        if not TYPE.match(value):
            raise ValueError(
                "a lower-case name such as cart_abandoned: a-z first, then a-z, 0-9, _ . -, "
                "at most 60"
            )
        return value

    @field_validator("occurred_at")
    @classmethod
    def _not_ahead(cls, value: datetime) -> datetime:
        ahead = value - clock.now()
        if ahead > MAX_FUTURE:
            raise ValueError(
                f"{int(ahead.total_seconds())} s in the future; send when it happened, with "
                "its time zone"
            )
        return value

    @field_validator("data")
    @classmethod
    def _small(cls, value: dict[str, Any]) -> dict[str, Any]:
        size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())
        if size > MAX_DATA_BYTES:
            raise ValueError(f"{size} bytes of JSON; at most {MAX_DATA_BYTES}")
        return value


class Batch(_Model):
    events: list[EventIn] = Field(min_length=1, max_length=MAX_BATCH)


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def _message(exc: ValidationError) -> str:
    first = exc.errors(include_url=False)[0]
    loc = tuple(p for p in first["loc"] if not str(p).startswith("function-"))
    msg = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "missing":
        msg = "required"
    elif first["type"] == "extra_forbidden":
        msg = "unknown field"
    elif first["type"] == "timezone_aware":
        msg = "an ISO 8601 time with its time zone, e.g. 2026-12-07T10:00:00+08:00"
    elif first["type"] in ("too_long", "too_short") and loc == ("events",):
        msg = f"1 to {MAX_BATCH} events per request"
    more = len(exc.errors()) - 1
    tail = f" (and {more} more error{'s' if more > 1 else ''})" if more else ""
    return f"{_where(loc)}: {msg}{tail}"


def parse(body: bytes) -> list[EventIn]:
    """The events in a request's body, in order; EventBodyError naming the first wrong field."""
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EventBodyError(f"body: not JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise EventBodyError('body: a JSON object, one event or {"events": [...]}')
    try:
        if "events" in doc:
            return list(Batch.model_validate(doc).events)
        return [EventIn.model_validate(doc)]
    except ValidationError as exc:
        raise EventBodyError(_message(exc)) from exc
