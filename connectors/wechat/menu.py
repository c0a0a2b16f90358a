"""The Official Account's custom menu (自定义菜单), defined in `connectors.wechat.menu`: what
menu/create is given, and what each CLICK button means to the bot.

A CLICK button carries a `key` that WeChat posts back as a CLICK event; the key maps to exactly
one of a command (`start`, `help`, `human`: what /start, /help, /human do on every channel), an
intent (fed to the bot as its payload, "/order_status", read without the NLU) or a text (read as
if the customer had typed it). A VIEW button opens its `url` (WeChat posts a VIEW event, which is
recorded on the customer). WeChat's own limits are checked at start-up: at most 3 buttons, 5
under each, names of 16 (top) or 60 bytes, keys of 128 bytes, URLs of 1024 bytes.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.errors import ConfigError

MAX_BUTTONS, MAX_SUB_BUTTONS = 3, 5
MAX_NAME_BYTES, MAX_SUB_NAME_BYTES = 16, 60
MAX_KEY_BYTES, MAX_URL_BYTES = 128, 1024
COMMAND_TEXT = {"start": "/start", "help": "/help", "human": "/human"}  # bot/dialogue/inbound.py
_INTENT = re.compile(r"^[a-z][a-z0-9_]*$")


class MenuButton(BaseModel):
    """One button: a CLICK (`key` and its action), a VIEW (`url`) or a group (`sub_button`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1)
    key: str | None = None
    url: str | None = None
    command: Literal["start", "help", "human"] | None = None
    intent: str | None = None
    text: str | None = Field(None, min_length=1, max_length=500)
    sub_button: list[MenuButton] = Field(default_factory=list)

    @field_validator("key")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        if value is not None and not 0 < len(value.encode()) <= MAX_KEY_BYTES:
            raise ValueError(f"key {value!r}: 1 to {MAX_KEY_BYTES} bytes")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> MenuButton:
        actions = [a for a in ("command", "intent", "text") if getattr(self, a) is not None]
        if self.sub_button:
            if self.key or self.url or actions:
                raise ValueError(f"button {self.name!r}: a group has only name and sub_button")
            if len(self.sub_button) > MAX_SUB_BUTTONS:
                raise ValueError(f"button {self.name!r}: at most {MAX_SUB_BUTTONS} sub_button")
            for sub in self.sub_button:
                if sub.sub_button:
                    raise ValueError(f"button {sub.name!r}: menus nest one level only")
            return self
        if (self.key is None) == (self.url is None):
            raise ValueError(f"button {self.name!r}: give key (a CLICK) or url (a VIEW)")
        if self.url is not None:
            if actions:
                raise ValueError(f"button {self.name!r}: a url button has no {actions[0]}")
            if not self.url.startswith(("https://", "http://")):
                raise ValueError(f"button {self.name!r}: url must be http(s)")
            if len(self.url.encode()) > MAX_URL_BYTES:
                raise ValueError(f"button {self.name!r}: url over {MAX_URL_BYTES} bytes")
            return self
        if len(actions) != 1:
            raise ValueError(f"key {self.key}: give exactly one of command, intent or text")
        if self.intent is not None and not _INTENT.match(self.intent):
            raise ValueError(f"key {self.key}: intent {self.intent!r} is not an intent name")
        return self

    def to_wechat(self) -> dict[str, Any]:
        """The button as menu/create takes it."""
        if self.sub_button:
            return {"name": self.name, "sub_button": [b.to_wechat() for b in self.sub_button]}
        if self.url is not None:
            return {"type": "view", "name": self.name, "url": self.url}
        return {"type": "click", "name": self.name, "key": self.key}

    def action(self) -> str:
        """What a press of this CLICK button says to the bot."""
        if self.command is not None:
            return COMMAND_TEXT[self.command]
        if self.intent is not None:
            return f"/{self.intent}"
        assert self.text is not None
        return self.text


def check_menu(buttons: Sequence[MenuButton]) -> None:
    """WeChat's limits on the whole menu, and each key used once; ValueError naming the key."""
    if len(buttons) > MAX_BUTTONS:
        raise ValueError(f"at most {MAX_BUTTONS} buttons (WeChat's limit), got {len(buttons)}")
    for top in buttons:
        if len(top.name.encode()) > MAX_NAME_BYTES:
            raise ValueError(f"button {top.name!r}: a name over {MAX_NAME_BYTES} bytes")
        for sub in top.sub_button:
            if len(sub.name.encode()) > MAX_SUB_NAME_BYTES:
                raise ValueError(f"button {sub.name!r}: a name over {MAX_SUB_NAME_BYTES} bytes")
    seen: set[str] = set()
    for button in clicks(buttons):
        assert button.key is not None
        if button.key in seen:
            raise ValueError(f"key {button.key}: used by two buttons")
        seen.add(button.key)


def clicks(buttons: Sequence[MenuButton]) -> Iterator[MenuButton]:
    """Every CLICK button, groups opened."""
    for button in buttons:
        if button.sub_button:
            yield from clicks(button.sub_button)
        elif button.key is not None:
            yield button


def actions(buttons: Sequence[MenuButton]) -> dict[str, str]:
    """Each CLICK key and what it says to the bot."""
    return {b.key: b.action() for b in clicks(buttons) if b.key is not None}


def check_intents(buttons: Sequence[MenuButton], known: Collection[str]) -> None:
    """At start-up, once the model is loaded: every intent a key names is one the bot knows
    (skipped for an NLU that does not list its intents, such as a remote Rasa server)."""
    if not known:
        return
    for button in clicks(buttons):
        if button.intent is not None and button.intent not in known:
            raise ConfigError(
                f"connectors.wechat.menu: key {button.key}: unknown intent {button.intent!r};"
                f" allowed: {', '.join(sorted(known))}"
            )


def menu_body(buttons: Sequence[MenuButton]) -> dict[str, Any]:
    """The JSON body of menu/create."""
    if not buttons:
        raise ConfigError("connectors.wechat.menu: no buttons to create")
    return {"button": [b.to_wechat() for b in buttons]}
