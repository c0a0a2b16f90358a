"""`kb eval`'s ceiling: the most a single confidence threshold could answer at the target
precision on the questions given."""

from __future__ import annotations

from typing import Any

from bot.knowledge.evaluate import best_coverage


def _row(confidence: float, right: bool) -> dict[str, Any]:
    return {"confidence": confidence, "top": ["a" if right else "b"], "acceptable": ["a"]}


def test_the_ceiling_is_the_largest_share_kept_at_the_precision() -> None:
    # By confidence: 8 right, 1 wrong, 1 right, then 10 wrong.
    rows = [_row(1 - i / 100, i != 8) for i in range(10)]
    rows += [_row(0.5 - i / 100, False) for i in range(10)]
    assert best_coverage(rows, 0.9) == 0.5  # all 10 above: 9 right of 10
    assert best_coverage(rows, 0.95) == 0.4  # the first 8 only
    assert best_coverage(rows, 1.0) == 0.4
    assert best_coverage([], 0.9) is None


def test_questions_of_equal_confidence_are_answered_together() -> None:
    rows = [_row(0.9, True), _row(0.8, True), _row(0.8, False), _row(0.1, False)]
    assert best_coverage(rows, 0.9) == 0.25  # 0.8 would answer both of its questions
    assert best_coverage([_row(0.5, False)], 0.9) == 0.0
