"""A Rasa project's config.yml and data/nlu.yml train relaydesk unchanged: each Rasa component
maps to a relaydesk step, is dropped with a note, or is refused naming the component and key."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config import config_from_dict, load_config
from bot.errors import ConfigError
from bot.nlu.component import TrainContext
from bot.nlu.pipeline import NLUPipeline, train_model
from bot.nlu.tokenizer import SpacyTokenizer
from bot.nlu.types import TrainingData
from bot.pipeline_config.params import DEFAULT_PIPELINE
from tests.conftest import REPO

# config.yml as `rasa init` (Rasa Open Source 3.6) writes it, Apache-2.0: the pipeline and the
# policies are left empty, with the defaults Rasa picks shown commented out.
RASA_INIT_CONFIG = """\
# The config recipe.
# https://rasa.com/docs/rasa/model-configuration/
recipe: default.v1

# The assistant project unique identifier
# This default value must be replaced with a unique assistant name within your deployment
assistant_id: placeholder_default

# Configuration for Rasa NLU.
# https://rasa.com/docs/rasa/nlu/components/
language: en

pipeline:
# # No configuration for the NLU pipeline was provided. The following default pipeline was used to train your model.
# # If you'd like to customize it, uncomment and adjust the pipeline.
# # See https://rasa.com/docs/rasa/tuning-your-model for more information.
#   - name: WhitespaceTokenizer
#   - name: RegexFeaturizer
#   - name: LexicalSyntacticFeaturizer
#   - name: CountVectorsFeaturizer
#   - name: CountVectorsFeaturizer
#     analyzer: char_wb
#     min_ngram: 1
#     max_ngram: 4
#   - name: DIETClassifier
#     epochs: 100
#     constrain_similarities: true
#   - name: EntitySynonymMapper
#   - name: ResponseSelector
#     epochs: 100
#     constrain_similarities: true
#   - name: FallbackClassifier
#     threshold: 0.3
#     ambiguity_threshold: 0.1

# Configuration for Rasa Core.
# https://rasa.com/docs/rasa/core/policies/
policies:
# # No configuration for policies was provided. The following default policies were used to train your model.
# # If you'd like to customize them, uncomment and adjust the policies.
# # See https://rasa.com/docs/rasa/policies for more information.
#   - name: MemoizationPolicy
#   - name: RulePolicy
#   - name: UnexpecTEDIntentPolicy
#     max_history: 5
#     epochs: 100
#   - name: TEDPolicy
#     max_history: 5
#     epochs: 100
#     constrain_similarities: true
"""  # noqa: E501 (quoted verbatim)


def uncommented(config: str) -> str:
    """What a Rasa user does next: uncomment the suggested pipeline and policies."""
    return "\n".join(line[2:] if line.startswith("#   ") else line for line in config.splitlines())


# A typical Rasa project's data/nlu.yml: intents with annotated entities (plain, with a synonym
# value, and the JSON form with a role), a synonym, a regex and a lookup table.
RASA_NLU = """\
version: "3.1"
nlu:
- intent: greet
  examples: |
    - hey
    - hello
    - hi there
    - good morning
    - good evening
    - hey there
    - hello friend
    - morning!
- intent: goodbye
  examples: |
    - bye
    - goodbye
    - see you later
    - have a nice day
    - bye bye
    - talk to you later
    - see you around
    - good night
- intent: order_status
  examples: |
    - where is my order [202611180042](order_id)
    - has order [202611180099](order_id) shipped yet
    - track my parcel
    - when will my package arrive
    - my order has not arrived
    - what is the status of my order
    - is my delivery on its way
    - order [202611180123](order_id) is late
- intent: ask_product
  examples: |
    - does the [Kite X5 Pro](product) support wireless charging
    - how big is the [x5 pro](product:Kite X5 Pro) battery
    - is the [Kite X5](product) waterproof
    - what colours does the [Kite Buds]{"entity": "product", "role": "accessory"} come in
    - tell me about the [kite x5](product)
    - does the [Kite Buds](product) have noise cancelling
    - how much storage does the [Kite X5 Pro](product) have
    - which charger fits the [Kite X5](product)
- synonym: Kite X5 Pro
  examples: |
    - kite x5 pro
    - x5pro
- regex: order_id
  examples: |
    - 20\\d{10}
- lookup: product
  examples: |
    - Kite X5
    - Kite X5 Pro
    - Kite Buds
"""


def load(text: str, env: dict[str, str] | None = None) -> Any:
    return config_from_dict(yaml.safe_load(text), env=env or {})


def names(text: str) -> list[str]:
    return [c.name for c in load(text).pipeline]


def rasa(*pipeline: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"recipe": "default.v1", "language": "en", "pipeline": list(pipeline), **top}


def config_error(raw: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        config_from_dict(raw, env={})
    return str(info.value)


# --- the config.yml `rasa init` writes ------------------------------------------------------------


def test_rasa_init_config_with_no_pipeline_gets_relaydesks_default_pipeline() -> None:
    config = load(RASA_INIT_CONFIG)
    assert [c.name for c in config.pipeline] == [c["name"] for c in DEFAULT_PIPELINE]
    assert config.language == ["en"]
    assert config.assistant_id == "placeholder_default"


def test_the_default_pipeline_is_the_shipped_config_ymls() -> None:
    shipped = load_config(REPO / "config.yml", env={}).pipeline_spec()
    default = config_from_dict({"pipeline": None}, env={}).pipeline_spec()
    assert shipped == default


def test_rasas_suggested_pipeline_maps_step_by_step(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="bot.config"):
        config = load(uncommented(RASA_INIT_CONFIG))
    spec = config.pipeline_spec()
    assert [c["name"] for c in spec] == [
        "LanguageDetector",  # added: Rasa has no counterpart, the dialogue needs it
        "SpacyTokenizer",  # WhitespaceTokenizer
        "CountVectorsFeaturizer",
        "CountVectorsFeaturizer",
        "LogisticRegressionClassifier",  # DIETClassifier
        "RegexEntityExtractor",  # DIET's entity recognition
        "EntitySynonymMapper",
        "FallbackClassifier",
        "SentimentAnalyzer",  # added
    ]
    assert (spec[3]["analyzer"], spec[3]["min_ngram"], spec[3]["max_ngram"]) == ("char_wb", 1, 4)
    fallback = spec[7]
    assert (fallback["threshold"], fallback["ambiguity_threshold"]) == (0.3, 0.1)
    assert fallback["fallback_intent"] == "nlu_fallback"  # Rasa's name, as its users expect
    log = caplog.text
    assert "pipeline[7]: ResponseSelector skipped: relaydesk has no response selector" in log
    assert (
        "pipeline[5]: DIETClassifier: Rasa parameters ignored: constrain_similarities, epochs"
        in (log)
    )
    assert "pipeline[1]: RegexFeaturizer dropped" in log
    assert "pipeline[2]: LexicalSyntacticFeaturizer dropped" in log
    assert "policies: Rasa dialogue policies are ignored" in log
    warned = {r.getMessage() for r in caplog.records if r.levelno == logging.WARNING}
    assert any("ResponseSelector skipped" in m for m in warned)
    assert not any("RegexFeaturizer" in m for m in warned)  # only a note: nothing is lost


def test_a_translated_pipeline_loads_back_unchanged() -> None:
    """Tests and `relaydesk test stories` rebuild a config from pipeline_spec()."""
    spec = load(uncommented(RASA_INIT_CONFIG)).pipeline_spec()
    assert config_from_dict({"pipeline": spec}, env={}).pipeline_spec() == spec


# --- each Rasa component --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rasa_name", "ours"),
    [
        ("WhitespaceTokenizer", "SpacyTokenizer"),
        ("JiebaTokenizer", "SpacyTokenizer"),
        ("SpacyTokenizer", "SpacyTokenizer"),
        ("MitieTokenizer", "SpacyTokenizer"),
        ("LanguageModelFeaturizer", "SentenceEmbeddingFeaturizer"),
        ("ConveRTFeaturizer", "SentenceEmbeddingFeaturizer"),
        ("SpacyFeaturizer", "SentenceEmbeddingFeaturizer"),
        ("DIETClassifier", "LogisticRegressionClassifier"),
        ("SklearnIntentClassifier", "LogisticRegressionClassifier"),
        ("KeywordIntentClassifier", "LogisticRegressionClassifier"),
        ("LogisticRegressionClassifier", "LogisticRegressionClassifier"),
    ],
)
def test_rasa_components_map_to_the_step_doing_the_same_job(rasa_name: str, ours: str) -> None:
    config = config_from_dict(rasa({"name": rasa_name}), env={})
    assert ours in [c.name for c in config.pipeline]


@pytest.mark.parametrize("dropped", ["SpacyNLP", "MitieNLP", "RegexFeaturizer", "ResponseSelector"])
def test_rasa_components_whose_work_is_done_elsewhere_are_dropped(dropped: str) -> None:
    config = config_from_dict(rasa({"name": "WhitespaceTokenizer"}, {"name": dropped}), env={})
    assert [c.name for c in config.pipeline] == [
        "LanguageDetector",
        "SpacyTokenizer",
        "SentimentAnalyzer",
    ]


@pytest.mark.parametrize(
    "refused",
    [
        "CRFEntityExtractor",
        "DucklingEntityExtractor",
        "SpacyEntityExtractor",
        "MitieEntityExtractor",
    ],
)
def test_entity_extractors_relaydesk_cannot_run_are_refused_naming_the_key(refused: str) -> None:
    message = config_error(rasa({"name": "WhitespaceTokenizer"}, {"name": refused, "x": 1}))
    assert message.startswith(f"config.yml: pipeline[1].name: {refused} cannot run in relaydesk")
    assert "RegexEntityExtractor" in message and "RasaServerNLU" in message


def test_a_custom_rasa_component_is_refused_with_the_way_to_keep_it() -> None:
    message = config_error(rasa({"name": "addons.sentiment.MySentiment"}))
    assert "pipeline[0].name: 'addons.sentiment.MySentiment' is a custom Rasa component" in message
    assert "RasaServerNLU" in message


def test_an_unknown_component_lists_relaydesks_and_rasas_names() -> None:
    message = config_error(rasa({"name": "DietClassifier"}))
    assert "pipeline[0].name: unknown component 'DietClassifier'; allowed: " in message
    assert "LogisticRegressionClassifier" in message and "DIETClassifier" in message


def test_count_vectors_parameters_carry_over_and_rasas_others_are_named(
    caplog: pytest.LogCaptureFixture,
) -> None:
    item = {"name": "CountVectorsFeaturizer", "analyzer": "char_wb", "min_ngram": 2}
    item |= {"max_ngram": 5, "max_features": 5000, "lowercase": True, "OOV_token": "oov"}
    item |= {"min_df": 0.01}
    with caplog.at_level(logging.WARNING, logger="bot.config"):
        config = config_from_dict(rasa({"name": "WhitespaceTokenizer"}, item), env={})
    params = config.pipeline[2].params
    assert (params.analyzer, params.min_ngram, params.max_ngram) == ("char_wb", 2, 5)
    assert (params.max_features, params.min_df) == (5000, 1)  # a fraction cannot carry over
    assert (
        "pipeline[1]: CountVectorsFeaturizer: Rasa parameters ignored: OOV_token, lowercase, "
        "min_df (a fraction)"
    ) in caplog.text


def test_diet_parameters_that_mean_something_here_carry_over() -> None:
    diet = {"name": "DIETClassifier", "epochs": 300, "random_seed": 7, "ranking_length": 0}
    config = config_from_dict(rasa(diet), env={})
    clf = next(c.params for c in config.pipeline if c.name == "LogisticRegressionClassifier")
    assert clf.random_seed == 7
    assert clf.ranking_length >= 100  # Rasa's 0: every intent


def test_diet_for_entities_only_adds_no_classifier() -> None:
    diet = {"name": "DIETClassifier", "intent_classification": False}
    config = config_from_dict(rasa({"name": "WhitespaceTokenizer"}, diet), env={})
    assert [c.name for c in config.pipeline] == [
        "LanguageDetector",
        "SpacyTokenizer",
        "RegexEntityExtractor",
        "SentimentAnalyzer",
    ]


def test_rasas_sklearn_and_logistic_regression_parameters_map() -> None:
    sklearn = config_from_dict(rasa({"name": "SklearnIntentClassifier", "C": [1, 2, 5]}), env={})
    assert sklearn.pipeline[1].params.C == 10.0  # a grid becomes relaydesk's default
    lr = {"name": "LogisticRegressionClassifier", "random_state": 3, "solver": "lbfgs"}
    assert config_from_dict(rasa(lr), env={}).pipeline[0].params.random_seed == 3


def test_jieba_tokenizer_keeps_its_user_dictionaries(tmp_path: Path) -> None:
    config = config_from_dict(rasa({"name": "JiebaTokenizer", "dictionary_path": "dict"}), env={})
    params = config.pipeline[1].params
    assert (params.zh_segmenter, params.dictionary_path) == ("jieba", "dict")
    (tmp_path / "dict").mkdir()
    (tmp_path / "dict" / "shop.txt").write_text("凯特飞鸢宝 10 n\n", encoding="utf-8")
    tokenizer = SpacyTokenizer(params)
    tokenizer.train(TrainContext(TrainingData(), [], lambda texts: [], tmp_path))
    assert "凯特飞鸢宝" in tokenizer.tokenize("我想买凯特飞鸢宝", "zh")


def test_two_dense_featurizers_embed_once_and_name_the_model_not_loaded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lm = {"name": "LanguageModelFeaturizer", "model_name": "bert", "model_weights": "rasa/LaBSE"}
    with caplog.at_level(logging.INFO, logger="bot.config"):
        config = config_from_dict(rasa(lm, {"name": "SpacyFeaturizer"}), env={})
    assert [c.name for c in config.pipeline].count("SentenceEmbeddingFeaturizer") == 1
    assert "pipeline[1]: SpacyFeaturizer: dropped: the sentence embedding" in caplog.text
    log = caplog.text
    assert "pipeline[0]: LanguageModelFeaturizer -> SentenceEmbeddingFeaturizer" in log
    assert (
        "pipeline[0]: LanguageModelFeaturizer: Rasa parameters ignored: model_name, model_" in log
    )


def test_errors_in_a_translated_pipeline_point_at_the_files_index() -> None:
    pipeline: list[dict[str, Any]] = [{"name": "WhitespaceTokenizer"}, {"name": "RegexFeaturizer"}]
    pipeline += [{"name": "DIETClassifier", "C": 0}]
    message = config_error(rasa(*pipeline))
    assert "pipeline[2] (LogisticRegressionClassifier).C" in message


# --- unknown keys ------------------------------------------------------------------------------


def test_unknown_parameters_in_a_rasa_pipeline_warn_as_rasa_ignores_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.config"):
        config = config_from_dict(
            rasa({"name": "WhitespaceTokenizer"}, {"name": "FallbackClassifier", "treshold": 0.5}),
            env={},
        )
    assert config.pipeline[2].params.threshold == 0.4
    assert "FallbackClassifier: unknown parameters ignored, as Rasa ignores them: treshold" in (
        caplog.text
    )


def test_unknown_parameters_in_relaydesks_own_pipeline_still_stop_it() -> None:
    message = config_error({"pipeline": [{"name": "FallbackClassifier", "treshold": 0.5}]})
    assert "pipeline[0] (FallbackClassifier).treshold: unknown key; allowed:" in message


def test_rasa_only_top_level_keys_warn_and_load(caplog: pytest.LogCaptureFixture) -> None:
    raw = rasa({"name": "WhitespaceTokenizer"}, importers=[{"name": "RasaFileImporter"}])
    raw |= {"spaces": [{"name": "shop"}], "version": "3.1"}
    with caplog.at_level(logging.WARNING, logger="bot.config"):
        config_from_dict(raw, env={})
    for key in ("importers", "spaces", "version"):
        assert f"config.yml: {key}: a Rasa setting relaydesk has no use for; ignored" in caplog.text


def test_an_unknown_top_level_key_is_still_an_error() -> None:
    assert "sever: unknown key" in config_error(rasa({"name": "WhitespaceTokenizer"}, sever={}))


# --- a Rasa project trains relaydesk --------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("config_text", [RASA_INIT_CONFIG, uncommented(RASA_INIT_CONFIG)])
def test_a_rasa_project_trains_relaydesk_unchanged(tmp_path: Path, config_text: str) -> None:
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    (project / "config.yml").write_text(config_text, encoding="utf-8")
    (project / "data" / "nlu.yml").write_text(RASA_NLU, encoding="utf-8")
    config = load_config(project / "config.yml", env={})
    info, trained = train_model(config, nlu_path=project / "data", out_dir=tmp_path / "models")
    assert trained and set(info.metadata["intents"]) == {
        "greet",
        "goodbye",
        "order_status",
        "ask_product",
    }
    nlu = NLUPipeline.load(info.path)
    order = nlu.parse("where is my order 202611180042")
    assert order.intent.name == "order_status"
    assert [(e.entity, e.value) for e in order.entities] == [("order_id", "202611180042")]
    product = nlu.parse("does the x5 pro come in blue")
    assert ("product", "Kite X5 Pro") in [(e.entity, e.value) for e in product.entities]
    assert product.intent.name == "ask_product"
    assert product.language == "en" and product.sentiment.label in {"neutral", "positive"}
