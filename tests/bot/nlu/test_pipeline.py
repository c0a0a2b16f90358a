from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from bot.config import Config
from bot.errors import InputError, InputTooLargeError, ModelFormatError, ModelNotFoundError
from bot.nlu import model_store
from bot.nlu.pipeline import NLUPipeline, load_for_config, train_model, validate_text


def test_training_twice_reuses_the_model_until_data_changes(small: Config) -> None:
    first, trained = train_model(small)
    assert trained
    again, trained_again = train_model(small)
    assert not trained_again and again.path == first.path

    data = small.path(small.nlu.data)
    data.write_text(data.read_text("utf-8") + "    - yo\n", "utf-8")  # appended to the last block
    third, retrained = train_model(small)
    assert retrained and third.path != first.path
    assert third.fingerprint != first.fingerprint


def test_a_pipeline_change_changes_the_fingerprint(small: Config) -> None:
    files = model_store.data_files(small.path(small.nlu.data))
    spec = small.pipeline_spec()
    base = model_store.fingerprint(spec, ["zh", "en"], files)
    changed = [dict(c) for c in small.pipeline_spec()]
    changed[0]["zh_threshold"] = 0.7
    assert model_store.fingerprint(changed, ["zh", "en"], files) != base


def test_model_folder_is_self_describing(small: Config) -> None:
    info, _ = train_model(small)
    meta = json.loads((info.path / "metadata.json").read_text("utf-8"))
    assert meta["fingerprint"] == info.fingerprint
    assert meta["intents"] == ["greet", "order_status", "request_human"]
    assert [c["name"] for c in meta["pipeline"]][:2] == ["LanguageDetector", "SpacyTokenizer"]
    assert info.path.name.endswith(info.fingerprint[:12])
    # No pickles: every learned array is an .npz, everything else JSON.
    assert not list(info.path.rglob("*.pkl"))


def test_serving_prefers_the_current_model_and_warns_on_a_stale_one(
    small: Config, caplog: pytest.LogCaptureFixture
) -> None:
    info, _ = train_model(small)
    assert load_for_config(small).metadata["model_path"] == str(info.path)
    data = small.path(small.nlu.data)
    data.write_text(data.read_text("utf-8") + "    - yo yo\n", "utf-8")
    with caplog.at_level("WARNING"):
        nlu = load_for_config(small)
    assert nlu.metadata["model_path"] == str(info.path)
    assert "stale" in caplog.text


def test_no_model_says_how_to_train(small: Config) -> None:
    with pytest.raises(ModelNotFoundError, match="relaydesk train"):
        load_for_config(small)


def test_a_broken_model_folder_is_reported(small: Config, tmp_path: Path) -> None:
    info, _ = train_model(small)
    meta = json.loads((info.path / "metadata.json").read_text("utf-8"))
    meta["format"] = 999
    (info.path / "metadata.json").write_text(json.dumps(meta), "utf-8")
    with pytest.raises(ModelFormatError, match="retrain"):
        NLUPipeline.load(info.path)


def test_a_missing_component_file_is_reported(small: Config) -> None:
    info, _ = train_model(small)
    next(info.path.rglob("weights.npz")).unlink()
    with pytest.raises(ModelFormatError, match=r"weights\.npz"):
        NLUPipeline.load(info.path)


def test_half_written_models_are_never_picked_up(small: Config) -> None:
    info, _ = train_model(small)
    tmp = info.path.parent / ".tmp-nlu-99990101-000000-abc"
    tmp.mkdir()
    (tmp / "metadata.json").write_text(
        json.dumps({"format": 1, "fingerprint": "abc", "created": time.time() + 1000}), "utf-8"
    )
    assert model_store.find_model(info.path.parent).path == info.path


@pytest.mark.parametrize(
    "text",
    [
        "hello\x00\x07 there",  # control characters
        "👋😀 hi",  # emoji
        "مرحبا أين طلبي",  # right-to-left script
        "\u202eevil override\u202c 你好 hello",  # bidi controls and mixed scripts
        "a" * 4000,  # exactly at the limit
        "\t\n where \r\n is it",
    ],
)
def test_unusual_text_parses_and_keeps_the_callers_text(small: Config, text: str) -> None:
    info, _ = train_model(small)
    nlu = NLUPipeline.load(info.path)
    result = nlu.parse(validate_text(text, 4000))
    assert result.text == text
    assert result.intent.name
    for e in result.entities:
        assert text[e.start : e.end] == e.value or e.extractor


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        ("", InputError, "empty"),
        ("   \n", InputError, "empty"),
        (None, InputError, "must be a string"),
        (["hi"], InputError, "must be a string"),
        ("x" * 4001, InputTooLargeError, "limit is 4000"),
    ],
)
def test_invalid_text_is_refused_with_a_reason(value: object, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        validate_text(value, 4000)


def test_batch_and_single_parses_agree(small: Config) -> None:
    info, _ = train_model(small)
    nlu = NLUPipeline.load(info.path)
    texts = ["hi", "订单202611180042到哪了", "agent please"]
    batch = nlu.parse_batch(texts)
    for text, b in zip(texts, batch, strict=True):
        s = nlu.parse(text)
        assert (s.intent.name, s.entities, s.language) == (b.intent.name, b.entities, b.language)
