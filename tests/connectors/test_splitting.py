"""Splitting long texts into parts within a platform's limit (connectors/splitting.py)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.splitting import grapheme_boundary, split_text, utf8_bytes, utf16_units

UNITS = {"utf16": utf16_units, "utf8": utf8_bytes, "chars": len}
EMOJI = ["👍", "👍🏽", "👨‍👩‍👧‍👦", "🇨🇳", "🇫🇷", "1️⃣", "❤️", "🏳️‍🌈", "é", "😀"]


def assert_split(text: str, parts: list[str], limit: int, unit: str) -> None:
    measure = UNITS[unit]
    # Every part fits, in the platform's unit; none is empty or has whitespace at its edges.
    for part in parts:
        assert part and part == part.strip()
        assert measure(part) <= limit, (measure(part), limit)
    # Nothing is lost, added or reordered: text == w0 + p1 + w1 + ... + pn + wn, each w
    # whitespace (what is dropped at the break points and the text's ends).
    pattern = r"\s*" + r"\s*".join(re.escape(p) for p in parts) + r"\s*"
    assert re.fullmatch(pattern, text, re.DOTALL), "the parts are not the text"
    if text.strip():
        assert parts
    # A part never starts or ends inside a grapheme, unless the part is one grapheme longer
    # than the limit (then it is cut between code points).
    pos = 0
    for part in parts:
        start = text.index(part, pos)
        pos = start + len(part)
        if any(grapheme_boundary(text, i) for i in range(start + 1, pos)):
            assert grapheme_boundary(text, pos)


texts = st.lists(
    st.one_of(
        st.text(min_size=1, max_size=30),
        st.text(alphabet="你好世界中文没有空格的句子", min_size=1, max_size=40),
        st.sampled_from(["。", "！", "？", ". ", "! ", "\n", "\n\n", " ", "”。", "\t"]),
        st.sampled_from(EMOJI),
    ),
    max_size=60,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(
    text=texts,
    limit=st.integers(min_value=8, max_value=80),
    unit=st.sampled_from(sorted(UNITS)),
)
def test_parts_fit_and_rebuild_the_text(text: str, limit: int, unit: str) -> None:
    assert_split(text, split_text(text, limit, UNITS[unit]), limit, unit)


@settings(max_examples=200, deadline=None)
@given(
    prefix=st.integers(min_value=0, max_value=30),
    emoji=st.sampled_from(EMOJI),
    limit=st.integers(min_value=11, max_value=40),  # the family emoji is 11 units
)
def test_emoji_at_the_boundary_stay_whole(prefix: int, emoji: str, limit: int) -> None:
    text = "中" * prefix + emoji * 6 + "文" * prefix
    parts = split_text(text, limit, utf16_units)
    assert_split(text, parts, limit, "utf16")
    for part in parts:  # no part starts inside an emoji sequence
        assert not part.startswith(("\u200d", "\ufe0f", "\U0001f3fd", "\u20e3"))
    assert "".join(parts) == text


@settings(max_examples=100, deadline=None)
@given(
    text=st.text(alphabet=st.characters(codec="utf-8"), max_size=400),
    limit=st.integers(min_value=4, max_value=50),
)
def test_any_text_in_utf8_bytes(text: str, limit: int) -> None:
    assert_split(text, split_text(text, limit, utf8_bytes), limit, "utf8")


def test_a_grapheme_oracle_agrees_where_regex_is_available() -> None:
    regex = pytest.importorskip("regex")
    text = "前言" + "".join(EMOJI) * 5 + "后记"
    bounds = {m.start() for m in regex.finditer(r"\X", text)} | {len(text)}
    for limit in range(11, 30):  # every grapheme fits (the family emoji is 11 units)
        pos = 0
        for part in split_text(text, limit, utf16_units):
            start = text.index(part, pos)
            pos = start + len(part)
            assert start in bounds and pos in bounds


def test_breaks_prefer_paragraphs_then_sentences_then_spaces() -> None:
    para = "First paragraph, one sentence. " * 3
    text = para.strip() + "\n\n" + "Second one here. And more words here."
    parts = split_text(text, len(para) + 10)
    assert parts[0] == para.strip()
    text = "One sentence here. Two sentence here. Three words"
    assert split_text(text, 40) == ["One sentence here. Two sentence here.", "Three words"]
    assert split_text("alpha beta gamma delta", 12) == ["alpha beta", "gamma delta"]


def test_chinese_without_spaces_breaks_after_a_sentence_mark() -> None:
    text = "这是第一句话。" * 3 + "第二段没有标点符号的很长的句子" * 3
    parts = split_text(text, 30, utf8_bytes)  # 10 Chinese characters a part
    assert_split(text, parts, 30, "utf8")
    assert parts[0] == "这是第一句话。"
    assert "".join(parts) == text


def test_telegram_counts_utf16_units() -> None:
    text = "😀" * 3000  # 6000 UTF-16 units, 3000 code points
    parts = split_text(text, 4096, utf16_units)
    assert [len(p) for p in parts] == [2048, 952]
    assert utf16_units(parts[0]) == 4096


def test_nothing_to_send_and_impossible_limits() -> None:
    assert split_text("", 10) == []
    assert split_text(" \n\t ", 10) == []
    assert split_text("  short  ", 10) == ["short"]
    with pytest.raises(ValueError):
        split_text("中", 2, utf8_bytes)
    with pytest.raises(ValueError):
        split_text("x", 0)
