from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import TrainingDataError
from bot.nlu.pipeline import NLUPipeline
from bot.nlu.sentiment import EmotionCues, load_labelled


@pytest.mark.parametrize(
    ("text", "label", "emotion"),
    [
        ("快递一个星期了还没到，急死了！", "negative", "urgent"),
        ("太失望了，买了三天就坏了", "negative", "disappointed"),
        ("this is ridiculous, third time I'm asking and nobody answers!!", "negative", "angry"),
        ("I need this delivered today, it's urgent", "negative", "urgent"),
        ("谢谢，问题解决了，服务很好", "positive", None),
        ("thanks so much, that fixed it!", "positive", None),
        ("请问满多少包邮？", "neutral", None),
        ("how do I pair the buds with my laptop", "neutral", None),
        # Keyboard mash is not a feeling (it used to lean negative and earn an apology).
        ("plorf zindle kwop", "neutral", None),
        ("qazwsx edc", "neutral", None),
    ],
)
def test_sentiment_and_emotion_in_both_languages(
    trained: NLUPipeline, text: str, label: str, emotion: str | None
) -> None:
    s = trained.parse(text).sentiment
    assert s.label == label
    assert s.emotion == emotion
    assert -1.0 <= s.score <= 1.0
    if label == "negative":
        assert s.score < 0
    if label == "positive":
        assert s.score > 0


def test_emotion_cues_match_english_words_not_substrings() -> None:
    cues = EmotionCues({"urgent": {"en": ["asap"], "zh": ["着急"]}})
    assert cues.counts("please asap")["urgent"] == 1
    assert cues.counts("wasap")["urgent"] == 0
    assert cues.counts("我很着急")["urgent"] == 1


def test_labelled_file_with_a_bad_label_is_rejected(tmp_path: Path) -> None:
    f = tmp_path / "s.yml"
    f.write_text('version: "1"\nexamples:\n- {text: hi, label: happy, emotion: null}\n', "utf-8")
    with pytest.raises(TrainingDataError, match="label 'happy'"):
        load_labelled(f)


def test_packaged_training_set_has_every_label_in_both_languages() -> None:
    data = load_labelled(None)
    assert {(d.language, d.label) for d in data} >= {
        (lang, label) for lang in ("zh", "en") for label in ("negative", "neutral", "positive")
    }


def test_custom_lexicon_resolves_against_the_config_folder_and_is_kept_in_the_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.config import config_from_dict
    from bot.nlu.pipeline import train_model
    from tests.conftest import small_config

    base = small_config(tmp_path)
    (tmp_path / "my_lexicon.yml").write_text(
        'version: "1"\nangry:\n  en: [banana split]\n  zh: [香蕉船]\n', encoding="utf-8"
    )
    spec = base.pipeline_spec()
    for comp in spec:
        if comp["name"] == "SentimentAnalyzer":
            comp["emotion_lexicon"] = "my_lexicon.yml"
    config = config_from_dict(
        {"pipeline": spec, "nlu": base.nlu.model_dump()}, base_dir=str(tmp_path)
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    info, _ = train_model(config)
    (tmp_path / "my_lexicon.yml").unlink()  # the model must not need it any more
    nlu = NLUPipeline.load(info.path)
    assert nlu.parse("this is a banana split situation").sentiment.emotion == "angry"
    assert nlu.parse("急死了").sentiment.emotion is None  # the packaged cues were replaced
