from __future__ import annotations

import pytest

from bot.nlu.language import LanguageDetector, detect
from bot.nlu.types import Message
from bot.pipeline_config.params import LanguageDetectorParams

P = LanguageDetectorParams()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我的快递到哪了", "zh"),
        ("where is my parcel", "en"),
        ("我的order到哪了", "zh"),  # one Latin word inside a Chinese sentence
        ("转人工 please", "zh"),
        ("my 顺丰 tracking is stuck", "mixed"),
        ("Kite X5 Pro 蓝牙 pairing 失败 again", "mixed"),
    ],
)
def test_detects_chinese_english_and_mixed(text: str, expected: str) -> None:
    assert detect(text, P) == expected


@pytest.mark.parametrize("text", ["😀😀", "202611180042", "???", "\u200f"])
def test_text_without_letters_gets_the_configured_default(text: str) -> None:
    assert detect(text, P) == "en"
    assert detect(text, LanguageDetectorParams(default="zh")) == "zh"


def test_thresholds_are_configurable() -> None:
    strict = LanguageDetectorParams(zh_threshold=0.9)
    assert detect("我的order到哪了", strict) == "mixed"


def test_component_sets_language_and_mixed_text_uses_the_chinese_tokenizer() -> None:
    m = Message(text="my 顺丰 tracking is stuck")
    LanguageDetector(P).process(m)
    assert m.language == "mixed"
    assert m.tokenizer_language == "zh"
