"""Response templates, Rasa-style: named responses with variations per language, each a text with
optional rich parts (buttons, image, video, link) that degrade to plain text."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.errors import ConfigError

LANGS = ("zh", "en")


@dataclass(frozen=True)
class Button:
    title: str
    payload: str


@dataclass(frozen=True)
class OutboundMessage:
    """One bot reply. Channels that cannot show a part use `fallback_text()` instead."""

    text: str
    buttons: tuple[Button, ...] = ()
    image: str | None = None
    video: str | None = None
    link: str | None = None
    caption: str = ""
    custom: dict[str, Any] = field(default_factory=dict)

    def fallback_text(self) -> str:
        lines = [self.text] if self.text else []
        for url, label in ((self.image, "image"), (self.video, "video"), (self.link, "link")):
            if url:
                lines.append(f"{self.caption or label}: {url}")
        if self.buttons:
            lines.append(" / ".join(f"{i}. {b.title}" for i, b in enumerate(self.buttons, 1)))
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"text": self.text}
        if self.buttons:
            out["buttons"] = [{"title": b.title, "payload": b.payload} for b in self.buttons]
        if self.image:
            out["image"] = self.image
        if self.video:
            out["attachment"] = {"type": "video", "payload": {"src": self.video}}
        if self.link:
            out["link"] = self.link
        if self.caption:
            out["caption"] = self.caption
        return out


class _SafeDict(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


class Responses:
    def __init__(
        self, templates: dict[str, dict[str, list[dict[str, Any]]]], seed: int | None = None
    ):
        self.templates = templates
        self._rng = random.Random(seed)

    @classmethod
    def load(cls, path: Path, seed: int | None = None) -> Responses:
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: cannot read responses: {exc}") from exc
        items = raw.get("responses") if isinstance(raw, dict) else None
        if not isinstance(items, dict):
            raise ConfigError(f"{path}: expected 'responses:' mapping names to languages")
        for name, by_lang in items.items():
            if not isinstance(by_lang, dict) or set(by_lang) - set(LANGS):
                raise ConfigError(f"{path}: responses.{name}: give variations under zh and en")
            for lang in LANGS:
                variants = by_lang.get(lang)
                if not variants or not all(isinstance(v, dict) and v.get("text") for v in variants):
                    raise ConfigError(
                        f"{path}: responses.{name}.{lang}: needs a list of {{text: ...}} variations"
                    )
        return cls(items, seed)

    def render(self, name: str, language: str, /, **values: Any) -> OutboundMessage:
        by_lang = self.templates.get(name)
        if by_lang is None:
            raise KeyError(f"no response {name!r}")
        variant = self._rng.choice(by_lang["en" if language == "en" else "zh"])
        fill = _SafeDict({k: v for k, v in values.items() if v is not None})
        buttons = tuple(
            Button(str(b["title"]).format_map(fill), str(b["payload"]))
            for b in variant.get("buttons", [])
        )
        return OutboundMessage(
            text=str(variant["text"]).format_map(fill),
            buttons=buttons,
            image=variant.get("image"),
            video=variant.get("video"),
            link=variant.get("link"),
        )
