"""Article history: every published version kept in SQLite, so a citation (id, version) resolves."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from bot.knowledge.article import Article, Media
from bot.knowledge.history import History, VersionConflict

V1 = Article(
    id="service/shipping/free-shipping",
    title="包邮规则",
    category="service/shipping",
    language="zh",
    body="订单满 99 元包邮。",
    version=1,
    updated=date(2026, 11, 1),
    questions=("怎么包邮",),
    media=(Media("image", "/kb/media/delivery-timeline.svg", "时效"),),
)
V2 = V1.with_changes(version=2, updated=date(2026, 11, 20), body="订单满 79 元包邮。")
V3 = V2.with_changes(version=3, updated=date(2026, 12, 1), body="全场包邮。")


@pytest.fixture
def history(tmp_path: Path) -> Iterator[History]:
    h = History(tmp_path / "var" / "knowledge.db")
    yield h
    h.close()


def test_record_stores_a_version_once(history: History) -> None:
    assert history.record(V1, note="first publish") is True
    assert history.record(V1, note="again") is False
    (only,) = history.versions(V1.id)
    assert (only.version, only.note) == (1, "first publish")


def test_the_same_version_with_other_content_is_a_conflict(history: History) -> None:
    history.record(V1)
    with pytest.raises(VersionConflict, match="version is still 1"):
        history.record(V1.with_changes(body="订单满 59 元包邮。"))
    (kept,) = history.versions(V1.id)
    assert kept.content["body"] == V1.body


def test_a_change_to_questions_alone_is_also_a_conflict(history: History) -> None:
    history.record(V1)
    with pytest.raises(VersionConflict):
        history.record(V1.with_changes(questions=("怎么包邮", "运费多少")))


def test_versions_lists_every_version_in_order_with_its_content(history: History) -> None:
    for article in (V2, V3, V1):  # recorded out of order
        history.record(article)
    records = history.versions(V1.id)
    assert [r.version for r in records] == [1, 2, 3]
    assert [r.content["body"] for r in records] == [V1.body, V2.body, V3.body]
    assert [r.updated for r in records] == ["2026-11-01", "2026-11-20", "2026-12-01"]
    assert records[0].content == V1.to_dict()
    assert [r.content_hash for r in records] == [a.content_hash for a in (V1, V2, V3)]


def test_versions_of_an_unknown_article_is_empty(history: History) -> None:
    history.record(V1)
    assert history.versions("service/shipping/overseas") == []


def test_latest_version_is_the_highest_recorded(history: History) -> None:
    assert history.latest_version(V1.id) == 0
    history.record(V1)
    history.record(V3)
    assert history.latest_version(V1.id) == 3
    assert history.latest_version("service/shipping/overseas") == 0


def test_get_returns_that_versions_text(history: History) -> None:
    history.record(V1)
    history.record(V2)
    got = history.get(V1.id, 1)
    assert got is not None
    assert (got.article_id, got.version, got.content["body"]) == (V1.id, 1, V1.body)
    assert got.content["media"] == [
        {"type": "image", "url": "/kb/media/delivery-timeline.svg", "caption": "时效"}
    ]
    second = history.get(V1.id, 2)
    assert second is not None and second.content["body"] == V2.body
    assert history.get(V1.id, 9) is None


def test_history_survives_closing_and_reopening_the_file(tmp_path: Path) -> None:
    db = tmp_path / "var" / "knowledge.db"
    first = History(db)
    first.record(V1, note="published")
    first.record(V2)
    first.close()

    reopened = History(db)
    try:
        assert [r.version for r in reopened.versions(V1.id)] == [1, 2]
        first_version = reopened.get(V1.id, 1)
        assert first_version is not None and first_version.note == "published"
        assert reopened.latest_version(V1.id) == 2
        assert reopened.record(V2) is False
        with pytest.raises(VersionConflict):
            reopened.record(V2.with_changes(body="changed after restart"))
    finally:
        reopened.close()
