"""Canned responses for the console: short, reviewed texts per language, from a YAML file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bot.errors import ConfigError


def load_canned(path: Path) -> dict[str, list[dict[str, str]]]:
    """{"zh": [{"title", "text"}], "en": [...]}; a missing file means none."""
    if not path.is_file():
        return {"zh": [], "en": []}
    raw: Any = yaml.safe_load(path.read_text("utf-8")) or {}
    out: dict[str, list[dict[str, str]]] = {"zh": [], "en": []}
    for language, items in raw.items():
        if language not in out or not isinstance(items, list):
            raise ConfigError(f"{path}: top-level keys are zh and en, each a list")
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not {"title", "text"} <= set(item):
                raise ConfigError(f"{path}: {language}[{i}] needs a title and a text")
            out[language].append({"title": str(item["title"]), "text": str(item["text"])})
    return out
