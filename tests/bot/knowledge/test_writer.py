"""The article writer: Markdown out that the loader reads back unchanged, written atomically."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from bot.knowledge.article import Article, Media
from bot.knowledge.loader import load_base, parse_article
from bot.knowledge.writer import path_for, render, write

ARTICLE = Article(
    id="after-sales/returns/seven-day.en",
    title="7-day returns: no reason needed",
    category="after-sales/returns",
    language="en",
    body="Within 7 days of delivery, unused items with all accessories can be returned.\n"
    "Go to Me > Orders > Return.",
    version=4,
    updated=date(2026, 11, 1),
    status="review",
    translation_of="after-sales/returns/seven-day",
    questions=("Can I return it?", "yes", "2026-11-01", "What's the 7-day rule?"),
    tags=("returns", "no-reason"),
    media=(
        Media("image", "/kb/media/returns-seven-day.svg", "Three steps: apply, pack, ship"),
        Media("video", "https://video.example/returns.mp4", ""),
    ),
    more="https://help.kite-electronics.example/returns",
)

ZH = Article(
    id="after-sales/returns/seven-day",
    title="7 天无理由退货",
    category="after-sales/returns",
    language="zh",
    body="收到商品 7 天内，未使用、包装和配件齐全，可以无理由退货。",
    updated=date(2026, 11, 1),
)


def test_render_then_parse_round_trips_every_field() -> None:
    parsed, warnings = parse_article(render(ARTICLE), "")
    assert warnings == []
    assert parsed == ARTICLE
    # strings that look like other YAML types stay strings
    assert parsed.questions[1:3] == ("yes", "2026-11-01")


def test_render_round_trips_chinese_without_media_or_more() -> None:
    text = render(ZH)
    assert "7 天无理由退货" in text  # written as readable text, not \u escapes
    assert "media:" not in text and "more:" not in text
    parsed, _ = parse_article(text, "")
    assert parsed == ZH


def test_render_puts_id_first_so_it_sits_on_line_2() -> None:
    assert render(ARTICLE).splitlines()[:2] == ["---", f"id: {ARTICLE.id}"]


def test_path_for_puts_an_english_translation_under_en_without_the_suffix(tmp_path: Path) -> None:
    assert path_for(tmp_path, ARTICLE) == tmp_path / "en/after-sales/returns/seven-day.md"
    assert path_for(tmp_path, ZH) == tmp_path / "zh/after-sales/returns/seven-day.md"


def test_written_files_load_back_from_the_paths_the_format_prescribes(tmp_path: Path) -> None:
    written = {write(tmp_path, ARTICLE), write(tmp_path, ZH)}
    result = load_base(tmp_path)
    assert result.problems == [] and result.warnings == []
    assert {a.path for a in result.articles} == {str(p) for p in written}
    assert {a.id: a.with_changes(path="") for a in result.articles} == {
        ARTICLE.id: ARTICLE,
        ZH.id: ZH,
    }


def test_write_replaces_the_file_atomically(tmp_path: Path) -> None:
    target = write(tmp_path, ARTICLE)
    old_text = target.read_text("utf-8")
    updated = ARTICLE.with_changes(version=5, body="Returns now take 10 days.", path=str(target))

    with target.open(encoding="utf-8") as reader:  # someone reading while we publish
        assert write(tmp_path, updated) == target
        # the reader still sees the whole old article, not a truncated or mixed one
        assert reader.read() == old_text

    assert parse_article(target.read_text("utf-8"), str(target))[0] == updated
    assert sorted(p.name for p in target.parent.iterdir()) == ["seven-day.md"]


def test_write_uses_the_articles_own_path_when_it_has_one(tmp_path: Path) -> None:
    own = tmp_path / "elsewhere" / "returns.md"
    assert write(tmp_path / "knowledge", ARTICLE.with_changes(path=str(own))) == own
    assert own.is_file()
    assert not (tmp_path / "knowledge").exists()


def test_a_failed_write_leaves_the_old_file_intact(tmp_path: Path) -> None:
    target = write(tmp_path, ARTICLE)
    before = target.read_text("utf-8")
    with pytest.raises(UnicodeEncodeError):
        write(tmp_path, ARTICLE.with_changes(body="bad \ud800 surrogate"))
    assert target.read_text("utf-8") == before


def test_a_failed_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = write(tmp_path, ARTICLE)
    with pytest.raises(UnicodeEncodeError):
        write(tmp_path, ARTICLE.with_changes(body="bad \ud800 surrogate"))
    assert list(target.parent.glob(".tmp-*")) == []
