"""Tells Chinese from English (or a mix of both) per message, by script, in microseconds.

A statistical detector is not needed to separate these two: the scripts differ. Latin words are
weighted as two characters, about the information one Chinese word of two characters carries,
so "我的order到哪了" counts as Chinese and "my 顺丰 parcel is stuck" as mixed.
"""

from __future__ import annotations

import re
from typing import ClassVar

from bot.nlu.component import BaseComponent
from bot.nlu.types import Message
from bot.pipeline_config.params import LanguageDetectorParams

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef]")
_LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u024f]+")
LATIN_WORD_WEIGHT = 2.0


def han_count(text: str) -> int:
    """How many Chinese characters `text` holds (the CJK blocks, extensions included)."""
    return len(_HAN.findall(text))


def detect(text: str, params: LanguageDetectorParams) -> str:
    han = han_count(text)
    latin = sum(1 for _ in _LATIN_WORD.finditer(text)) * LATIN_WORD_WEIGHT
    if han + latin == 0:
        return params.default
    share = han / (han + latin)
    if share >= params.zh_threshold:
        return "zh"
    if share <= params.en_threshold and han == 0:
        return "en"
    if share <= params.en_threshold:
        return "mixed" if han else "en"
    return "mixed"


class LanguageDetector(BaseComponent):
    name: ClassVar[str] = "LanguageDetector"
    params: LanguageDetectorParams

    def process(self, message: Message) -> None:
        message.language = detect(message.text, self.params)
