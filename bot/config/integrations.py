"""config.yml's `integrations` section: how relaydesk reaches the shop's own systems.

Three independent parts, each off until configured:

- `orders`: where order look-ups go. `sqlite` (the default) reads the sample shop's file;
  `http` calls the shop's order API with its auth header, maps its JSON fields onto an order,
  gives up after a time-out and caches answers for a while (bot/dialogue/orders.py).
- `actions`: a Rasa action server (rasa_sdk) and the rules naming its custom actions
  (bot/dialogue/actions.py).
- `webhooks`: endpoints told about conversation, handoff, ticket and rating events, signed with
  HMAC-SHA256 and retried from a ledger (connectors/webhooks/).

Every check names the key it is about, so a typo fails at start-up, not at the first customer.
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

ORDER_FIELDS = ("order_id", "items", "status", "courier", "tracking", "eta")
ORDER_STATUSES = ("paid", "shipped", "delivered", "cancelled")
# The event types a webhook can ask for (connectors/webhooks/events.py emits exactly these).
WEBHOOK_EVENTS = (
    "conversation.started",
    "conversation.closed",
    "handoff.requested",
    "handoff.assigned",
    "handoff.resolved",
    "handoff.returned",
    "ticket.created",
    "ticket.updated",
    "rating.submitted",
)
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")
_FIELD_PATH = re.compile(r"^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _http_url(value: str, *, placeholder: str | None = None) -> str:
    parts = urlsplit(value.replace("{order_id}", "x"))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
    if placeholder is not None and placeholder not in value:
        raise ValueError(f"the URL must contain {placeholder} where the order number goes")
    return value


def _headers(value: dict[str, SecretStr]) -> dict[str, SecretStr]:
    for name, v in value.items():
        if not _HEADER_NAME.match(name):
            raise ValueError(f"{name!r} is not a valid HTTP header name")
        if any(c in v.get_secret_value() for c in "\r\n"):
            raise ValueError(f"header {name!r}: a value may not contain a line break")
    return value


class OrderSource(_Section):
    """Where the bot looks up an order the customer names."""

    source: Literal["sqlite", "http"] = "sqlite"
    # http: the order's address; {order_id} is replaced by the number (URL-quoted).
    url: str | None = None
    # Sent with every request; values are secrets: write ${SHOP_API_TOKEN}, not the token.
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    timeout_seconds: float = Field(3.0, gt=0, le=60)
    # A found order is remembered this long; "no such order" half as long; errors never.
    cache_seconds: float = Field(60.0, ge=0, le=86_400)
    cache_size: int = Field(1000, ge=0, le=1_000_000)
    max_response_bytes: int = Field(256 * 1024, ge=1024, le=16 * 1024 * 1024)
    # relaydesk's order field -> where it is in the shop's JSON answer (dots: nested keys,
    # numbers: list positions). Unlisted fields are read from the key of the same name.
    fields: dict[str, str] = Field(default_factory=dict)
    # The shop's own status words -> paid | shipped | delivered | cancelled.
    status_map: dict[str, Literal["paid", "shipped", "delivered", "cancelled"]] = Field(
        default_factory=dict
    )
    # Statuses that mean "no such order" (the rest of 4xx/5xx: the system is unavailable).
    not_found_status: list[int] = Field(default_factory=lambda: [404])

    @field_validator("headers")
    @classmethod
    def _check_headers(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        return _headers(value)

    @field_validator("fields")
    @classmethod
    def _check_fields(cls, value: dict[str, str]) -> dict[str, str]:
        for name, path in value.items():
            if name not in ORDER_FIELDS:
                allowed = ", ".join(ORDER_FIELDS)
                raise ValueError(f"unknown order field {name!r}; allowed: {allowed}")
            if not _FIELD_PATH.match(path):
                raise ValueError(f"{name}: {path!r} is not a path like data.order.status")
        return value

    @model_validator(mode="after")
    def _url_for_http(self) -> OrderSource:
        if self.source == "http":
            if not self.url:
                raise ValueError("url: required when source is http")
            _http_url(self.url, placeholder="{order_id}")
        return self


class ActionServer(_Section):
    """A Rasa action server (rasa_sdk) that runs the shop's custom actions."""

    # The server's webhook, as in Rasa's endpoints.yml: http://localhost:5055/webhook
    url: str | None = None
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    timeout_seconds: float = Field(5.0, gt=0, le=120)
    # Rasa rules (a rules.yml) whose steps name custom actions: `- intent: x` then
    # `- action: action_y`. Relative to config.yml.
    rules: str | None = None
    max_response_bytes: int = Field(1024 * 1024, ge=1024, le=16 * 1024 * 1024)

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        return None if not value else _http_url(value)

    @field_validator("headers")
    @classmethod
    def _check_headers(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        return _headers(value)

    @model_validator(mode="after")
    def _rules_need_url(self) -> ActionServer:
        if self.rules and not self.url:
            raise ValueError("url: required when rules name custom actions")
        return self


class WebhookEndpoint(_Section):
    """One receiver of relaydesk's events (a CRM, a data warehouse, a chat-ops bot)."""

    name: str
    url: str
    # The HMAC-SHA256 key the receiver verifies with; at least 16 characters.
    secret: SecretStr
    # Event types, or a family with `*` (handoff.*); default: every event.
    events: list[str] = Field(default_factory=lambda: ["*"])
    timeout_seconds: float = Field(5.0, gt=0, le=60)
    # Tries before an event is marked failed; with the backoff below 12 tries span ~1 day.
    max_attempts: int = Field(12, ge=1, le=100)
    backoff_seconds: float = Field(10.0, gt=0, le=3600)
    max_backoff_seconds: float = Field(3 * 3600.0, gt=0, le=86_400)

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("lower-case letters, digits, - and _; at most 40 characters")
        return value

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return _http_url(value)

    @field_validator("secret")
    @classmethod
    def _check_secret(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 16:
            raise ValueError("at least 16 characters (set it from the environment: ${NAME})")
        return value

    @field_validator("events")
    @classmethod
    def _check_events(cls, value: list[str]) -> list[str]:
        families = {e.split(".")[0] for e in WEBHOOK_EVENTS}
        for e in value:
            ok = e == "*" or e in WEBHOOK_EVENTS or (e.endswith(".*") and e[:-2] in families)
            if not ok:
                allowed = ", ".join(("*", *sorted(f + ".*" for f in families), *WEBHOOK_EVENTS))
                raise ValueError(f"unknown event {e!r}; allowed: {allowed}")
        return value

    def wants(self, event_type: str) -> bool:
        return any(
            e == "*" or e == event_type or (e.endswith(".*") and event_type.startswith(e[:-1]))
            for e in self.events
        )


class WebhookSettings(_Section):
    endpoints: list[WebhookEndpoint] = Field(default_factory=list)
    # How often the worker looks for new events and due deliveries.
    poll_seconds: float = Field(2.0, gt=0, le=600)

    @field_validator("endpoints")
    @classmethod
    def _unique_names(cls, value: list[WebhookEndpoint]) -> list[WebhookEndpoint]:
        names = [e.name for e in value]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"endpoint names must be unique: {', '.join(twice)}")
        return value


class IntegrationsSection(_Section):
    orders: OrderSource = Field(default_factory=OrderSource)
    actions: ActionServer = Field(default_factory=ActionServer)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)

    def secrets(self) -> list[str]:
        """Header values and webhook keys, for the log's redaction."""
        out = [v.get_secret_value() for v in self.orders.headers.values()]
        out += [v.get_secret_value() for v in self.actions.headers.values()]
        out += [e.secret.get_secret_value() for e in self.webhooks.endpoints]
        return [v for v in out if v]


def plain_headers(headers: dict[str, SecretStr]) -> dict[str, str]:
    """The headers as sent."""
    return {k: v.get_secret_value() for k, v in headers.items()}


__all__ = [
    "ORDER_FIELDS",
    "ORDER_STATUSES",
    "WEBHOOK_EVENTS",
    "ActionServer",
    "IntegrationsSection",
    "OrderSource",
    "WebhookEndpoint",
    "WebhookSettings",
    "plain_headers",
]
