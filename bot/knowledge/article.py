"""Knowledge articles as plain data; the Markdown files under knowledge/ are their source."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

CATEGORY_TOPS = ("product", "service", "after-sales")
MAX_CATEGORY_LEVELS = 3  # below the top: product/phone/settings/bluetooth
STATUSES = ("draft", "review", "published")
MEDIA_TYPES = ("image", "video", "link")
LANGUAGES = ("zh", "en")


@dataclass(frozen=True)
class Media:
    type: str
    url: str
    caption: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"type": self.type, "url": self.url, "caption": self.caption}


@dataclass(frozen=True)
class Article:
    id: str
    title: str
    category: str
    language: str
    body: str
    version: int = 1
    updated: date = field(default_factory=date.today)
    status: str = "published"
    translation_of: str | None = None
    questions: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    media: tuple[Media, ...] = ()
    more: str | None = None
    path: str = ""  # the file it was read from, for messages

    @property
    def top_category(self) -> str:
        return self.category.split("/", 1)[0]

    @property
    def content_hash(self) -> str:
        """Hash of everything a reader sees; a change here without a version bump is an error."""
        payload = {
            "title": self.title,
            "category": self.category,
            "language": self.language,
            "body": self.body,
            "questions": list(self.questions),
            "tags": list(self.tags),
            "media": [m.to_dict() for m in self.media],
            "more": self.more,
            "translation_of": self.translation_of,
        }
        raw = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()
        return hashlib.sha256(raw).hexdigest()[:16]

    def with_changes(self, **changes: Any) -> Article:
        return replace(self, **changes)

    def citation(self) -> dict[str, Any]:
        """What an answer records so nobody later wonders which text a customer saw."""
        return {"id": self.id, "version": self.version}

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "category": self.category,
            "language": self.language,
            "translation_of": self.translation_of,
            "version": self.version,
            "updated": self.updated.isoformat(),
            "status": self.status,
            "questions": list(self.questions),
            "tags": list(self.tags),
            "media": [m.to_dict() for m in self.media],
            "more": self.more,
            "body": self.body,
        }
