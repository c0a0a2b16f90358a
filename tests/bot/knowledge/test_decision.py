"""The answer decision: thresholds read off a base's own searches for a target precision, and
the documented fallbacks when nothing can be fitted."""

from __future__ import annotations

import random

from bot.knowledge.decision import (
    FEATURES,
    AnswerDecision,
    Example,
    features,
    fit_decision,
    threshold_for,
    wilson_lower,
)


def test_the_threshold_is_the_lowest_confidence_that_keeps_the_precision() -> None:
    # 100 searches: the top 60 by confidence all right, the rest alternate.
    confidences = [1 - i / 100 for i in range(100)]
    right = [True] * 60 + [i % 2 == 0 for i in range(40)]
    t = threshold_for(confidences, right, 0.9)
    answered = [r for c, r in zip(confidences, right, strict=True) if c >= t]
    assert sum(answered) / len(answered) >= 0.9
    assert wilson_lower(sum(answered), len(answered)) >= 0.9
    # One more search below it would break the bound.
    n = len(answered) + 1
    assert wilson_lower(sum(right[:n]), n) < 0.9
    assert threshold_for(confidences, [False] * 100, 0.9) > 1.0  # never reached


def test_the_bound_holds_a_small_base_to_a_safer_threshold() -> None:
    assert wilson_lower(19, 20) < wilson_lower(950, 1000) < 0.95
    assert wilson_lower(0, 0) == 0.0


def _examples(n_right: int, n_wrong: int, n_unanswerable: int) -> list[Example]:
    rng = random.Random(0)
    out: list[Example] = []
    for _ in range(n_right):
        out.append(Example(features([0.6 + rng.random() * 0.4, 0.2], 0.6), True, True, True))
    for _ in range(n_wrong):
        out.append(Example(features([0.3 + rng.random() * 0.4, 0.25], 0.3), False, True, True))
    for _ in range(n_unanswerable):
        out.append(Example(features([rng.random() * 0.5, 0.2], 0.1), False, False, False))
    return out


def test_a_base_with_right_and_wrong_answers_gets_a_fitted_decision() -> None:
    decision = fit_decision(_examples(200, 60, 80), 0.95, 0.9)
    assert decision.method == "fitted" and decision.answer_model is not None
    assert decision.confidence(features([0.95, 0.5], 0.7)) > decision.answer_threshold
    assert decision.confidence(features([0.1, 0.2], 0.0)) < decision.answer_threshold
    again = AnswerDecision.from_dict(decision.to_dict())  # what the index saves and loads
    x = features([0.7, 0.4], 0.5)
    assert again.confidence(x) == decision.confidence(x)


def test_too_few_right_answers_fall_back_to_the_unanswerable_searches() -> None:
    decision = fit_decision(_examples(3, 2, 40), 0.95, 0.9)
    assert decision.method == "negatives" and decision.answer_model is None
    # The confidence is the share of unanswerable searches scoring lower.
    assert decision.confidence(features([0.99, 0.5], 0.5)) == 1.0
    assert decision.confidence(features([-1.0, 0.0], 0.0)) == 0.0


def test_nothing_to_fit_falls_back_to_the_fixed_curve() -> None:
    decision = fit_decision(_examples(1, 0, 3), 0.95, 0.9)
    assert decision.method == "rule"
    assert (
        decision.confidence(features([0.9, 0.5], 0.5))
        > 0.95
        > decision.confidence(features([0.5, 0.1], 0.1))
    )


def test_the_fallback_sets_its_bar_by_the_in_domain_unanswerable_searches() -> None:
    # Questions about articles the base lacks score high; small talk scores low.
    in_domain = [
        Example(features([0.7 + i / 1000, 0.0], 0.3), False, False, False) for i in range(40)
    ]
    small_talk = [
        Example(features([0.1, 0.0], 0.0), False, False, False, in_domain=False) for _ in range(400)
    ]
    decision = fit_decision(in_domain + small_talk, 0.95, 0.9)
    assert decision.method == "negatives"
    # 0.72 beats every small-talk search but only half of the in-domain ones: no answer.
    assert decision.confidence(features([0.72, 0.0], 0.3)) < decision.answer_threshold
    assert decision.confidence(features([0.8, 0.0], 0.3)) >= decision.answer_threshold


def test_a_decision_saved_before_the_detail_features_still_reads_its_own() -> None:
    # An index saved with the four original features keeps working after an upgrade.
    old = {
        "method": "fitted",
        "answer_precision": 0.95,
        "clarify_precision": 0.9,
        "answer_threshold": 0.8,
        "clarify_threshold": 0.7,
        "answer_model": {"weights": [4.0, 2.0, 1.0, 0.5], "bias": -3.0},
        "clarify_model": None,
    }
    decision = AnswerDecision.from_dict(old)
    x = features([0.9, 0.5], 0.5, (-0.1, 2.0, -0.2, 1.5, 0.1, 0.05))
    assert len(x) == len(FEATURES)
    assert decision.confidence(x) == decision.confidence(features([0.9, 0.5], 0.5))


def test_the_classifier_margin_separates_what_the_score_alone_cannot() -> None:
    # Right and wrong top articles with the same scores; only the classifier's margin differs.
    rng = random.Random(1)
    examples = []
    for i in range(400):
        right = i % 4 != 0
        margin = (1.0 if right else -1.0) + rng.gauss(0, 0.3)
        score = 0.6 + rng.random() * 0.3
        x = features([score, score - 0.1], 0.4, (-0.5, margin, -0.5, margin, 0.1, 0.1))
        examples.append(Example(x, right, True, True))
    decision = fit_decision(examples, 0.95, 0.9)
    assert decision.method == "fitted"
    sure = features([0.75, 0.65], 0.4, (-0.5, 1.0, -0.5, 1.0, 0.1, 0.1))
    unsure = features([0.75, 0.65], 0.4, (-0.5, -1.0, -0.5, -1.0, 0.1, 0.1))
    assert decision.confidence(sure) >= decision.answer_threshold > decision.confidence(unsure)


def test_features_fitted_on_any_scale_give_the_same_decision() -> None:
    # Standardised inside the fit: the top score in thousandths changes nothing.
    examples = _examples(200, 60, 80)
    scaled = [
        Example(
            (e.features[0] * 1000, *e.features[1:]),
            e.top1_right,
            e.in_top3,
            e.answerable,
        )
        for e in examples
    ]
    a, b = fit_decision(examples, 0.95, 0.9), fit_decision(scaled, 0.95, 0.9)
    x = features([0.8, 0.3], 0.5)
    y = (x[0] * 1000, *x[1:])
    assert abs(a.confidence(x) - b.confidence(y)) < 1e-6
    assert abs(a.answer_threshold - b.answer_threshold) < 1e-6


def test_a_base_of_one_phrasing_an_article_decides_by_its_unanswerable_searches() -> None:
    # Enough right and wrong answers to fit, but every answerable search matched only a body:
    # the unanswerable searches decide, as they would had the fit been out of reach.
    examples = _examples(200, 60, 80)
    fitted = fit_decision(examples, 0.95, 0.9)
    assert fitted.method == "fitted"
    decision = fit_decision(examples, 0.95, 0.9, rankable=False)
    assert decision.method == "negatives" and decision.answer_model is None
    assert decision.summary["too_few_phrasings"] is True
    assert decision.confidence(features([0.99, 0.5], 0.5)) == 1.0
    # Without enough unanswerable searches it still fits what it has.
    assert fit_decision(_examples(200, 60, 5), 0.95, 0.9, rankable=False).method == "fitted"
