"""config.yml's `proactive` section: the bot writes first when the shop's data says it should.

    proactive:
      enabled: true
      sources:                       # who may POST /api/events (connectors/events/)
        shop: {key: "${PROACTIVE_SHOP_KEY}", secret: "${PROACTIVE_SHOP_SECRET}"}
      caps: {high_value: 3, default: 2, window_days: 7}   # sends per customer per rolling window
      quiet_hours: {start: "21:00", end: "09:00", default_timezone: Asia/Shanghai}
      opt_out_words: {zh: [退订, 取消订阅], en: [stop, unsubscribe]}
      rules:
        - name: cart_reminder
          event: cart_abandoned
          delay: 24h
          cooldown: 7d                # same rule, same customer
          expires_if: [order_paid]    # an event of these types after the trigger cancels it
          expires_after: 72h          # not sent if it could not go out this long after it was due
          conditions: {segments: [], tags: [], languages: [], channels: []}   # empty = anyone
          message: {zh: "您的购物车里还有 {product}……", en: "You left {product} in your cart…"}
          buttons: [{zh: 去结算, en: Check out, payload: /order_status}]

Durations are written `30s`, `5m`, `24h`, `7d`, `2w` or combined (`1h30m`); a bare number is
seconds. A template may use {order}, {product}, {coupon}, {reason}, {fix}, {name} and the keys
of the event's `data` the rule lists in `variables:`; `{{` and `}}` write braces. Every error
names the key it is about. The decision itself is bot/proactive/decide.py.
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)

# Variables every template may use; a rule adds its own (`variables:`) from the event's data.
BUILTIN_VARIABLES = ("order", "product", "coupon", "reason", "fix", "name")
LANGUAGES = ("zh", "en")
CHANNELS = ("web", "telegram", "wechat", "rest")
MAX_RULES = 100
MAX_TEMPLATE_CHARS = 1000
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_.-]{0,59}$")
_VARIABLE = re.compile(r"^[a-z_][a-z0-9_]{0,39}$")
_TAG = re.compile(r"^[\w-]{1,40}$")
_LIFECYCLES = ("new", "active", "steady", "dormant", "churned")
_VALUE_BANDS = ("high", "mid", "low")
# "lifecycle:active" / "value:high" (as the console shows them), or the bare name.
_SEGMENTS = frozenset(
    [f"lifecycle:{x}" for x in _LIFECYCLES]
    + [f"value:{x}" for x in _VALUE_BANDS]
    + [*_LIFECYCLES, *_VALUE_BANDS]
)
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_DURATION = re.compile(r"^(?:\d+(?:\.\d+)?[smhdw])+$")
_SECONDS = re.compile(r"^\d+(?:\.\d+)?$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}
# A template's placeholders: {name}; {{ and }} are literal braces.
PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def parse_duration(value: Any, *, maximum: timedelta) -> timedelta:
    """`24h`, `5m`, `1h30m`, a number of seconds, or a timedelta; from 0 up to `maximum`."""
    if isinstance(value, timedelta):
        out = value
    elif isinstance(value, bool):
        raise ValueError("a duration such as 30s, 5m, 24h or 7d")
    elif isinstance(value, int | float) or (
        isinstance(value, str) and _SECONDS.match(value.strip())
    ):
        out = timedelta(seconds=float(value))  # a number of seconds
    elif isinstance(value, str) and _DURATION.match(value.strip().lower()):
        seconds = sum(
            float(n) * _UNITS[u] for n, u in _DURATION_PART.findall(value.strip().lower())
        )
        out = timedelta(seconds=seconds)
    else:
        raise ValueError(f"{value!r} is not a duration such as 30s, 5m, 24h or 7d")
    if out < timedelta(0) or out > maximum:
        raise ValueError(f"must be from 0 to {_show(maximum)}")
    return out


def _show(d: timedelta) -> str:
    return f"{d.days}d" if d.days and not d.seconds else f"{int(d.total_seconds())}s"


def placeholders(template: str) -> list[str]:
    """The variable names a template uses, in order (braces escaped as {{ }} are not)."""
    return [m.group(1) for m in PLACEHOLDER.finditer(template) if m.group(1) is not None]


def known_channels(value: list[str]) -> list[str]:
    for v in value:
        if v not in CHANNELS:
            raise ValueError(f"unknown channel {v!r}; allowed: {', '.join(CHANNELS)}")
    return value


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EventSource(_Section):
    """A system allowed to POST /api/events: its key (X-Relaydesk-Source's value is the source's
    name; the key is an API key) and the HMAC-SHA256 secret its bodies are signed with.

    Both empty means "not set up yet" (the shipped config reads them from the environment with
    empty defaults): the endpoint refuses that source with 503 and says which variables to set,
    rather than the product shipping a well-known key that anyone could sign with."""

    key: SecretStr
    secret: SecretStr

    @field_serializer("key", "secret", when_used="unless-none")
    def _plain(self, value: SecretStr, info: Any) -> str:
        # A dump is read back as config (tests, tools); JSON output stays masked.
        return "**********" if info.mode == "json" else value.get_secret_value()

    @field_validator("key", "secret")
    @classmethod
    def _long_enough(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        v = value.get_secret_value()
        if not v:
            return value  # not set up: checked with its twin below
        shortest = 16 if info.field_name == "secret" else 8
        if not shortest <= len(v) <= 256:
            raise ValueError(
                f"{shortest} to 256 characters (set it from the environment: ${{NAME}})"
            )
        if any(c.isspace() for c in v):
            raise ValueError("may not contain spaces or line breaks")
        return value

    @model_validator(mode="after")
    def _both_or_neither(self) -> EventSource:
        key, secret = self.key.get_secret_value(), self.secret.get_secret_value()
        if key and not secret:
            raise ValueError("key is set but secret is empty: set both, or neither to keep it off")
        if secret and not key:
            raise ValueError("secret is set but key is empty: set both, or neither to keep it off")
        return self

    @property
    def configured(self) -> bool:
        return bool(self.key.get_secret_value())


class Caps(_Section):
    """Proactive messages per customer per rolling window, by value band (the playbook's 3 and 2
    a week); every rule's sends count."""

    high_value: int = Field(3, ge=0, le=100)
    default: int = Field(2, ge=0, le=100)
    window_days: float = Field(7, gt=0, le=90)

    @cached_property
    def window(self) -> timedelta:
        return timedelta(days=self.window_days)


class QuietHours(_Section):
    """No proactive message between `start` and `end` (customer's local time; the window may
    cross midnight): a message due then waits until `end`."""

    start: time = time(21, 0)
    end: time = time(9, 0)

    @field_serializer("start", "end")
    def _show_time(self, value: time) -> str:
        return value.strftime("%H:%M")  # what the validator reads back

    # Customers without a known (valid) time zone.
    default_timezone: str = "Asia/Shanghai"

    @field_validator("start", "end", mode="before")
    @classmethod
    def _hhmm(cls, value: Any) -> Any:
        if isinstance(value, time):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            # YAML 1.1 reads an unquoted 21:00 as the sexagesimal number 1260.
            value = f"{value // 60:02d}:{value % 60:02d}"
        if not isinstance(value, str) or not _HHMM.match(value.strip()):
            raise ValueError(f'{value!r}: a time of day such as "21:00" (HH:MM, 24-hour)')
        h, m = value.strip().split(":")
        return time(int(h), int(m))

    @field_validator("default_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{value!r} is not an IANA time zone (Asia/Shanghai)") from exc
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("start and end are the same; leave out quiet_hours for none")
        return self


class OptOutWords(_Section):
    """What a customer writes (the whole message, any case) to stop proactive messages."""

    zh: list[str] = Field(default_factory=lambda: ["退订", "取消订阅"], max_length=20)
    en: list[str] = Field(default_factory=lambda: ["stop", "unsubscribe"], max_length=20)

    @field_validator("zh", "en")
    @classmethod
    def _words(cls, value: list[str]) -> list[str]:
        for w in value:
            if not w.strip() or len(w) > 40:
                raise ValueError(f"{w!r}: a word of 1 to 40 characters")
        return value

    def words(self) -> frozenset[str]:
        return frozenset(w.strip().casefold() for w in (*self.zh, *self.en))


class Conditions(_Section):
    """Who the rule is for; each list matches any of its entries, an empty list anyone."""

    segments: list[str] = Field(default_factory=list, max_length=20)
    tags: list[str] = Field(default_factory=list, max_length=50)
    languages: list[str] = Field(default_factory=list, max_length=2)
    channels: list[str] = Field(default_factory=list, max_length=4)

    @field_validator("segments")
    @classmethod
    def _segments(cls, value: list[str]) -> list[str]:
        for s in value:
            if s not in _SEGMENTS:
                raise ValueError(f"unknown segment {s!r}; allowed: {', '.join(sorted(_SEGMENTS))}")
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        for t in value:
            if not _TAG.match(t):
                raise ValueError(f"{t!r}: a tag of letters, digits, _ and -, at most 40")
        return value

    @field_validator("languages")
    @classmethod
    def _languages(cls, value: list[str]) -> list[str]:
        for v in value:
            if v not in LANGUAGES:
                raise ValueError(f"unknown language {v!r}; allowed: {', '.join(LANGUAGES)}")
        return value

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: list[str]) -> list[str]:
        return known_channels(value)


class Text(_Section):
    """A customer-facing text in both languages."""

    zh: str = Field(min_length=1, max_length=MAX_TEMPLATE_CHARS)
    en: str = Field(min_length=1, max_length=MAX_TEMPLATE_CHARS)

    def get(self, language: str) -> str:
        return self.en if language == "en" else self.zh


class Button(_Section):
    zh: str = Field(min_length=1, max_length=40)
    en: str = Field(min_length=1, max_length=40)
    # What pressing it sends, as if the customer wrote it (an intent: /order_status).
    payload: str = Field(min_length=1, max_length=200)

    @field_validator("payload")
    @classmethod
    def _payload(cls, value: str) -> str:
        if any(c in value for c in "\r\n"):
            raise ValueError("may not contain a line break")
        return value


class ProactiveRule(_Section):
    name: str
    event: str  # the trigger: an event type (cart_abandoned, page_dwell, a custom one)
    delay: timedelta = timedelta(0)
    cooldown: timedelta = timedelta(0)  # 0: none; the same trigger event never sends twice
    expires_if: list[str] = Field(default_factory=list, max_length=20)
    expires_after: timedelta | None = None  # None: never too old

    @field_serializer("delay", "cooldown", "expires_after")
    def _seconds(self, value: timedelta | None) -> float | None:
        return None if value is None else value.total_seconds()  # read back as seconds

    conditions: Conditions = Field(default_factory=Conditions)
    message: Text
    buttons: list[Button] = Field(default_factory=list, max_length=5)
    # Keys of the event's `data` the templates may use besides the built-in variables.
    variables: list[str] = Field(default_factory=list, max_length=20)
    # Quiet hours protect people from being interrupted; a prompt shown only to a visitor who
    # is on the site right now (`via: [web]`) interrupts nobody, so it may opt out of them.
    quiet_hours: bool = True
    # The channels it may go out on (bot/proactive/delivery.py); empty: wherever the customer
    # can be reached. [web] means only while their widget is open.
    via: list[str] = Field(default_factory=list, max_length=4)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("lower-case letters, digits, - and _; at most 40 characters")
        return value

    @field_validator("event")
    @classmethod
    def _event(cls, value: str) -> str:
        if not _EVENT_TYPE.match(value):
            raise ValueError(f"{value!r}: an event type such as cart_abandoned")
        return value

    @field_validator("expires_if")
    @classmethod
    def _types(cls, value: list[str]) -> list[str]:
        for v in value:
            if not _EVENT_TYPE.match(v):
                raise ValueError(f"{v!r}: an event type such as order_paid")
        return value

    @field_validator("delay", mode="before")
    @classmethod
    def _delay(cls, value: Any) -> timedelta:
        return parse_duration(value, maximum=timedelta(days=90))

    @field_validator("cooldown", mode="before")
    @classmethod
    def _cooldown(cls, value: Any) -> timedelta:
        return parse_duration(value, maximum=timedelta(days=365))

    @field_validator("expires_after", mode="before")
    @classmethod
    def _expires_after(cls, value: Any) -> timedelta | None:
        if value is None:
            return None
        out = parse_duration(value, maximum=timedelta(days=365))
        if out <= timedelta(0):
            raise ValueError("must be longer than 0 (leave it out for never)")
        return out

    @field_validator("via")
    @classmethod
    def _via(cls, value: list[str]) -> list[str]:
        return known_channels(value)

    @field_validator("variables")
    @classmethod
    def _variables(cls, value: list[str]) -> list[str]:
        for v in value:
            if not _VARIABLE.match(v):
                raise ValueError(f"{v!r}: a name of lower-case letters, digits and _")
        return value

    @model_validator(mode="after")
    def _known_placeholders(self) -> ProactiveRule:
        allowed = self.allowed_variables()
        for language in LANGUAGES:
            template = self.message.get(language)
            for name in placeholders(template):
                if name not in allowed:
                    raise ValueError(
                        f"message.{language}: unknown variable {{{name}}}; allowed: "
                        + ", ".join(sorted(allowed))
                        + " (add keys of the event's data to `variables:`)"
                    )
            if PLACEHOLDER.sub("", template).count("{") or PLACEHOLDER.sub("", template).count("}"):
                raise ValueError(f"message.{language}: a lone brace; write {{{{ or }}}}")
        return self

    def allowed_variables(self) -> frozenset[str]:
        return frozenset(BUILTIN_VARIABLES) | frozenset(self.variables)


class ProactiveSection(_Section):
    enabled: bool = False
    sources: dict[str, EventSource] = Field(default_factory=dict, max_length=50)
    caps: Caps = Field(default_factory=Caps)
    quiet_hours: QuietHours | None = Field(default_factory=QuietHours)
    opt_out_words: OptOutWords = Field(default_factory=OptOutWords)
    rules: list[ProactiveRule] = Field(default_factory=list, max_length=MAX_RULES)
    # How often each instance's scheduler looks for new events and due messages.
    interval_seconds: float = Field(10, ge=0.5, le=3600)

    @field_validator("sources")
    @classmethod
    def _source_names(cls, value: dict[str, EventSource]) -> dict[str, EventSource]:
        for name in value:
            if not _NAME.match(name):
                raise ValueError(
                    f"{name!r}: a source name of lower-case letters, digits, - and _ (at most 40)"
                )
        return value

    @field_validator("rules")
    @classmethod
    def _unique_names(cls, value: list[ProactiveRule]) -> list[ProactiveRule]:
        names = [r.name for r in value]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"rule names must be unique: {', '.join(twice)}")
        return value

    def rules_for(self, event_type: str) -> list[ProactiveRule]:
        """The rules an event of this type triggers."""
        return [r for r in self.rules if r.event == event_type]

    def rule(self, name: str) -> ProactiveRule | None:
        return next((r for r in self.rules if r.name == name), None)

    def secrets(self) -> list[str]:
        """The sources' keys and secrets, for the log's redaction."""
        out = []
        for s in self.sources.values():
            out += [s.key.get_secret_value(), s.secret.get_secret_value()]
        return [v for v in out if v]


__all__ = [
    "BUILTIN_VARIABLES",
    "CHANNELS",
    "LANGUAGES",
    "PLACEHOLDER",
    "Button",
    "Caps",
    "Conditions",
    "EventSource",
    "OptOutWords",
    "ProactiveRule",
    "ProactiveSection",
    "QuietHours",
    "Text",
    "parse_duration",
    "placeholders",
]
