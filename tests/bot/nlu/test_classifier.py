from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.config import Config
from bot.nlu.classifier import FallbackClassifier, _softmax, fit_temperature
from bot.nlu.pipeline import NLUPipeline, train_model
from bot.nlu.types import IntentScore, Message
from bot.pipeline_config.params import FallbackClassifierParams


def test_temperature_softens_overconfident_logits() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 400)
    logits = rng.normal(0, 1, (400, 3))
    logits[np.arange(400), labels] += 1.0
    overconfident = logits * 8  # right 60% of the time, but sure of itself every time
    t = fit_temperature(overconfident, labels)
    assert t > 3

    def nll(z: np.ndarray) -> float:
        return float(-np.mean(np.log(_softmax(z)[np.arange(400), labels])))

    assert nll(overconfident / t) < nll(overconfident)


def _ranking(*scores: tuple[str, float]) -> list[IntentScore]:
    return [IntentScore(n, c) for n, c in scores]


@pytest.mark.parametrize(
    ("ranking", "reason"),
    [
        (_ranking(("greet", 0.9), ("thank", 0.05)), None),
        (_ranking(("greet", 0.25), ("thank", 0.05)), "low_confidence"),
        (_ranking(("greet", 0.45), ("thank", 0.40)), "ambiguous"),
        ([], "low_confidence"),
    ],
)
def test_fallback_decides_on_threshold_and_gap(
    ranking: list[IntentScore], reason: str | None
) -> None:
    assert FallbackClassifier(FallbackClassifierParams()).decide(ranking) == reason


def test_fallback_puts_the_fallback_intent_first_like_rasa() -> None:
    params = FallbackClassifierParams(threshold=0.5, fallback_intent="nlu_fallback")
    m = Message(text="x", intent_ranking=_ranking(("greet", 0.4), ("thank", 0.3)))
    m.intent = m.intent_ranking[0]
    FallbackClassifier(params).process(m)
    assert m.intent == IntentScore("nlu_fallback", 0.5)
    assert [s.name for s in m.intent_ranking] == ["nlu_fallback", "greet", "thank"]
    assert m.fallback == "low_confidence"


def test_trained_classifier_ranks_every_intent_with_probabilities(small: Config) -> None:
    info, _ = train_model(small)
    nlu = NLUPipeline.load(info.path)
    result = nlu.parse("where is my order")
    assert result.intent.name == "order_status"
    assert {s.name for s in result.intent_ranking} == {"greet", "order_status", "request_human"}
    assert sum(s.confidence for s in result.intent_ranking) == pytest.approx(1.0, abs=1e-4)
    assert nlu.parse("转人工").intent.name == "request_human"


def test_persisted_classifier_predicts_exactly_what_the_trained_one_did(
    small: Config, tmp_path: Path
) -> None:
    from bot.nlu import rasa_format

    data = rasa_format.load(small.path(small.nlu.data))
    live = NLUPipeline.train(small.pipeline_spec(), data, base_dir=tmp_path)
    out = tmp_path / "m"
    live.metadata.update({"format": 1, "fingerprint": "x", "created": 0.0})
    live.persist(out)
    loaded = NLUPipeline.load(out)
    for text in ["hello", "我的订单到哪了", "agent please", "something else entirely"]:
        a, b = live.parse(text), loaded.parse(text)
        assert a.intent.name == b.intent.name
        assert [s.confidence for s in a.intent_ranking] == pytest.approx(
            [s.confidence for s in b.intent_ranking], abs=1e-5
        )


def test_training_needs_two_intents(tmp_path: Path) -> None:
    from bot.errors import TrainingDataError
    from bot.nlu import rasa_format
    from tests.conftest import small_config

    config = small_config(tmp_path)
    data = rasa_format.parse('version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n    - hi\n')
    with pytest.raises(TrainingDataError, match="at least two intents"):
        NLUPipeline.train(config.pipeline_spec(), data)


def test_the_fitted_temperature_is_applied_to_confidences(trained: NLUPipeline) -> None:
    from bot.nlu.types import Message

    clf = trained.component("LogisticRegressionClassifier")
    assert clf.temperature != 1.0  # it was fitted on out-of-fold predictions
    m = Message(text="嗯嗯那个就是吧")
    for comp in trained.components[: trained.components.index(clf)]:
        comp.process(m)
    expected = _softmax(clf.logits(m) / clf.temperature)
    assert np.allclose(clf.probabilities(m), expected)
    assert not np.allclose(expected, _softmax(clf.logits(m)))
