"""The parts of a top article's score that the answer decision sees beside the score itself."""

from __future__ import annotations

from bot.knowledge.scoring import Components, FusionWeights, detail


def _parts(match: dict[str, float], cls: dict[str, float]) -> Components:
    return Components(
        {view: {0.02: m, 0.05: m, 0.1: m} for view, m in match.items()},
        dict.fromkeys(match, 0.0),
        0.0,
        0.0,
        "chunk",
        max(match.values()),
        cls,
    )


def test_detail_gives_each_views_classifier_and_dense_margins() -> None:
    top = _parts({"main": 0.8, "en": 0.9}, {"main": -0.5, "en": -0.2})
    second = _parts({"main": 0.7, "en": 0.85}, {"main": -1.5, "en": -2.2})
    got = detail(top, second, FusionWeights())
    want = (-0.5, 1.0, -0.2, 2.0, 0.05, 0.1)
    assert all(abs(a - b) < 1e-9 for a, b in zip(got, want, strict=True))


def test_detail_is_zero_where_a_view_or_a_second_article_is_missing() -> None:
    # A Chinese base: no language view; no classifier (one phrasing an article); one candidate.
    only = _parts({"main": 0.8}, {})
    assert detail(only, None, FusionWeights()) == (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    top = _parts({"main": 0.8}, {"main": -0.1})
    assert detail(top, None, FusionWeights()) == (-0.1, 0.0, 0.0, 0.0, 0.0, 0.0)
