"""Reads the pipeline of a Rasa config.yml in relaydesk's terms, so a Rasa project trains here.

Each Rasa component either becomes the relaydesk step that does the same job (its parameters
carried over where they mean the same thing), or is dropped because another step here already
does its work, or is refused with what to do instead, because the pipeline would silently lose
something it produces. A pipeline that names any Rasa-only component is "written for Rasa", and
then, as Rasa does, parameters nobody knows are warned about rather than refused; relaydesk's own
pipelines keep strict validation, so a typo there stops the program.

Kept free of heavy imports, like params.py: the config loader runs this before anything loads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.errors import ConfigError
from bot.pipeline_config.params import PARAMS

_TOKENIZER = frozenset(
    {"intent_tokenization_flag", "intent_split_symbol", "token_pattern", "prefix_separator_symbol"}
)
# DIET's and ResponseSelector's architecture and training settings: none applies to a linear model.
_DIET = frozenset(
    {
        "BILOU_flag", "batch_size", "batch_strategy", "checkpoint_model", "concat_dimension",
        "connection_density", "constrain_similarities", "dense_dimension", "drop_rate",
        "drop_rate_attention", "drop_small_last_batch", "embedding_dimension", "epochs",
        "evaluate_every_number_of_epochs", "evaluate_on_number_of_examples", "featurizers",
        "hidden_layers_sizes", "learning_rate", "loss_type", "max_relative_position",
        "maximum_negative_similarity", "maximum_positive_similarity", "model_confidence",
        "negative_margin_scale", "number_of_attention_heads", "number_of_negative_examples",
        "number_of_transformer_layers", "regularization_constant", "renormalize_confidences",
        "run_eagerly", "scale_loss", "share_hidden_layers", "similarity_type",
        "split_entities_by_comma", "tensorboard_log_directory", "tensorboard_log_level",
        "transformer_size", "unidirectional_encoder", "use_dense_input_dropout",
        "use_key_relative_attention", "use_masked_language_model",
        "use_maximum_negative_similarity", "use_sparse_input_dropout",
        "use_value_relative_attention", "retrieval_intent", "use_text_as_label",
    }
)  # fmt: skip
_DENSE = frozenset({"alias", "model_name", "model_weights", "cache_dir", "model_url", "pooling"})
_NO_MODEL = "relaydesk's own sentence encoder (SentenceEmbeddingFeaturizer, backend use) instead"
_ENTITY_ADVICE = (
    "relaydesk finds entities with RegexEntityExtractor (regexes, lookup tables and the values "
    "annotated in the examples); to keep a learned entity model, keep your Rasa server and put "
    "RasaServerNLU in the pipeline"
)


@dataclass(frozen=True)
class _Rule:
    """How one Rasa component maps: to `target` (None: dropped), with its parameters renamed by
    `renames`, `ignored` being Rasa's parameters that mean nothing here, and `why` said in the
    log when the step is translated or dropped."""

    target: str | None
    why: str = ""
    renames: Mapping[str, str] = field(default_factory=dict)
    ignored: frozenset[str] = frozenset()
    set_params: Mapping[str, Any] = field(default_factory=dict)
    convert: Callable[[dict[str, Any], list[str]], dict[str, Any]] | None = None
    warn: bool = False  # the translation changes behaviour: say it as a warning, not a note


def _diet(params: dict[str, Any], ignored: list[str]) -> dict[str, Any]:
    if params.get("ranking_length") == 0:  # Rasa: 0 reports every intent
        params["ranking_length"] = 1000
    return params


def _sklearn(params: dict[str, Any], ignored: list[str]) -> dict[str, Any]:
    if isinstance(params.get("C"), list):  # Rasa grid-searches a list of C; ours is one value
        params.pop("C")
        ignored.append("C (a grid)")
    return params


def _count_vectors(params: dict[str, Any], ignored: list[str]) -> dict[str, Any]:
    if isinstance(params.get("min_df"), float):  # Rasa: a share of documents; ours: a count
        params.pop("min_df")
        ignored.append("min_df (a fraction)")
    return params


_CLASSIFIER = "LogisticRegressionClassifier"
_EMBEDDER = "SentenceEmbeddingFeaturizer"

RULES: dict[str, _Rule] = {
    # -- tokenizers: spaCy's blank pipelines, with jieba for Chinese, whatever the Rasa name
    "WhitespaceTokenizer": _Rule(
        "SpacyTokenizer", "blank spaCy tokenizer; Chinese is segmented with jieba", {}, _TOKENIZER
    ),
    "JiebaTokenizer": _Rule(
        "SpacyTokenizer",
        "blank spaCy tokenizer on jieba",
        {"dictionary_path": "dictionary_path"},
        _TOKENIZER,
        {"zh_segmenter": "jieba"},
    ),
    "SpacyTokenizer": _Rule("SpacyTokenizer", "", {}, _TOKENIZER),
    "MitieTokenizer": _Rule("SpacyTokenizer", "blank spaCy tokenizer", {}, _TOKENIZER),
    # -- language-model loaders: relaydesk loads no spaCy or MITIE model
    "SpacyNLP": _Rule(
        None,
        "dropped: relaydesk uses blank spaCy pipelines and loads no spaCy model",
        ignored=frozenset({"model", "case_sensitive"}),
        warn=True,
    ),
    "MitieNLP": _Rule(
        None, "dropped: relaydesk loads no MITIE model", ignored=frozenset({"model"}), warn=True
    ),
    # -- featurizers
    "RegexFeaturizer": _Rule(
        None,
        "dropped: the regexes and lookup tables feed RegexEntityExtractor, and the classifier's "
        "character n-grams see the same patterns",
        ignored=frozenset(
            {
                "alias",
                "case_sensitive",
                "use_lookup_tables",
                "use_regexes",
                "use_word_boundaries",
                "number_additional_patterns",
            }
        ),
    ),
    "LexicalSyntacticFeaturizer": _Rule(
        None,
        "dropped: its word-shape features serve DIET's entity tagger; the character n-grams "
        "carry prefixes, suffixes and digits",
        ignored=frozenset({"alias", "features"}),
    ),
    "CountVectorsFeaturizer": _Rule(
        "CountVectorsFeaturizer",
        "",
        {},
        frozenset(
            {
                "OOV_token",
                "OOV_words",
                "alias",
                "lowercase",
                "max_df",
                "stop_words",
                "strip_accents",
                "use_lemma",
                "use_shared_vocab",
            }
        ),
        convert=_count_vectors,
    ),
    "LanguageModelFeaturizer": _Rule(_EMBEDDER, _NO_MODEL, {}, _DENSE, warn=True),
    "ConveRTFeaturizer": _Rule(_EMBEDDER, _NO_MODEL, {}, _DENSE, warn=True),
    "SpacyFeaturizer": _Rule(_EMBEDDER, _NO_MODEL, {}, _DENSE, warn=True),
    "MitieFeaturizer": _Rule(_EMBEDDER, _NO_MODEL, {}, _DENSE, warn=True),
    # -- intent classifiers: one calibrated logistic regression
    "DIETClassifier": _Rule(
        _CLASSIFIER,
        "a logistic regression over the same features; DIET's training settings do not apply",
        {"random_seed": "random_seed", "ranking_length": "ranking_length"},
        _DIET | {"entity_recognition", "intent_classification"},
        convert=_diet,
        warn=True,
    ),
    "SklearnIntentClassifier": _Rule(
        _CLASSIFIER,
        "a logistic regression instead of an SVM",
        {},
        frozenset(
            {"gamma", "kernels", "max_cross_validation_folds", "num_threads", "scoring_function"}
        ),
        convert=_sklearn,
        warn=True,
    ),
    "LogisticRegressionClassifier": _Rule(
        _CLASSIFIER, "", {"random_state": "random_seed"}, frozenset({"solver", "tol"})
    ),
    "KeywordIntentClassifier": _Rule(
        _CLASSIFIER,
        "a trained classifier instead of keyword matching",
        ignored=frozenset({"case_sensitive"}),
        warn=True,
    ),
    "MitieIntentClassifier": _Rule(
        _CLASSIFIER, "a logistic regression", ignored=frozenset({"num_threads"}), warn=True
    ),
    "FallbackClassifier": _Rule("FallbackClassifier"),
    # -- entities
    "RegexEntityExtractor": _Rule(
        "RegexEntityExtractor",
        "",
        ignored=frozenset({"use_word_boundaries"}),  # ours bounds matches in Chinese text too
    ),
    "EntitySynonymMapper": _Rule("EntitySynonymMapper"),
    # -- response selection: relaydesk's answers come from the knowledge base and responses.yml
    "ResponseSelector": _Rule(
        None,
        "skipped: relaydesk has no response selector; retrieval intents such as faq/ask_price "
        "are classified as intents of their own, and relaydesk answers questions from its "
        "knowledge base and responses.yml",
        ignored=_DIET,
        warn=True,
    ),
}

# Components whose output relaydesk cannot produce, with what to do instead.
UNSUPPORTED: dict[str, str] = {
    "CRFEntityExtractor": "a learned entity tagger; " + _ENTITY_ADVICE,
    "MitieEntityExtractor": "a learned entity tagger on a MITIE model; " + _ENTITY_ADVICE,
    "SpacyEntityExtractor": (
        "it needs a trained spaCy model (relaydesk uses blank pipelines); " + _ENTITY_ADVICE
    ),
    "DucklingEntityExtractor": (
        "it needs a Duckling server for dates, numbers and amounts; " + _ENTITY_ADVICE
    ),
}

# Relaydesk's own steps a Rasa pipeline has no counterpart for, but the dialogue needs.
_FIRST = "LanguageDetector"
_LAST = "SentimentAnalyzer"


@dataclass(frozen=True)
class Step:
    """One translated component: relaydesk's name, its (unvalidated) parameters, and its index in
    the file's pipeline, so errors point at the right line (None: added by relaydesk)."""

    name: str
    params: dict[str, Any]
    index: int | None


@dataclass
class Translation:
    """A pipeline in relaydesk's names, and what was changed on the way, in file order: notes
    (INFO) where nothing is lost, warnings where the behaviour differs from Rasa's."""

    pipeline: list[Step]
    messages: list[tuple[int, str]] = field(default_factory=list)
    written_for_rasa: bool = False

    def note(self, text: str) -> None:
        self.messages.append((logging.INFO, text))

    def warn(self, text: str) -> None:
        self.messages.append((logging.WARNING, text))

    def say(self, rule: _Rule, text: str) -> None:
        (self.warn if rule.warn else self.note)(text)


def translate(raw: list[Any], source: str) -> Translation:
    """Map a config.yml `pipeline` list onto relaydesk's components.

    Raises ConfigError naming `pipeline[i]` for a component that cannot run here. Parameters are
    only renamed, not validated: the caller validates them against the target's model.
    """
    allowed = ", ".join(sorted(PARAMS))
    names = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or "name" not in item:
            raise ConfigError(
                f"{source}: pipeline[{i}]: each component needs a 'name' (one of {allowed})"
            )
        names.append(str(item["name"]))
    out = Translation([], written_for_rasa=any(n not in PARAMS for n in names))
    entities_from_diet: int | None = None
    for i, (name, item) in enumerate(zip(names, raw, strict=True)):
        key = f"pipeline[{i}]"
        if name in UNSUPPORTED:
            raise ConfigError(
                f"{source}: {key}.name: {name} cannot run in relaydesk: {UNSUPPORTED[name]}"
            )
        params = {k: v for k, v in item.items() if k != "name"}
        rule = RULES.get(name)
        if rule is None:
            if name in PARAMS:
                out.pipeline.append(Step(name, params, i))
                continue
            if "." in name:
                raise ConfigError(
                    f"{source}: {key}.name: {name!r} is a custom Rasa component and cannot run "
                    "in relaydesk; keep your Rasa server and put RasaServerNLU in the pipeline"
                )
            raise ConfigError(
                f"{source}: {key}.name: unknown component {name!r}; allowed: {allowed}; "
                f"or Rasa's {', '.join(sorted(RULES))}"
            )
        said = f"{source}: {key}: {name}"
        if rule.target is None:
            out.say(rule, f"{said} {rule.why}")
            continue
        mapped, ignored, unknown = _params(rule, params, out.written_for_rasa)
        diet_entities = name == "DIETClassifier" and params.get("entity_recognition") is not False
        if name == "DIETClassifier" and params.get("intent_classification") is False:
            out.note(f"{said}: intent_classification is off; no classifier added")
            entities_from_diet = len(out.pipeline) if diet_entities else entities_from_diet
            continue
        if rule.target == _EMBEDDER and any(c.name == _EMBEDDER for c in out.pipeline):
            out.note(f"{said}: dropped: the sentence embedding is computed already")
            continue
        if name == "FallbackClassifier" and out.written_for_rasa:
            mapped.setdefault("fallback_intent", "nlu_fallback")  # Rasa's name for it
        if rule.target != name:
            out.say(rule, f"{said} -> {rule.target}" + (f": {rule.why}" if rule.why else ""))
        if ignored:
            out.warn(f"{said}: Rasa parameters ignored: {', '.join(ignored)}")
        if unknown:
            out.warn(
                f"{said}: unknown parameters ignored, as Rasa ignores them: {', '.join(unknown)}"
            )
        out.pipeline.append(Step(rule.target, mapped, i))
        if diet_entities:
            entities_from_diet = len(out.pipeline)  # right after the classifier
    if out.written_for_rasa:
        _add_relaydesk_steps(out, entities_from_diet, source)
    return out


def _params(
    rule: _Rule, params: dict[str, Any], lenient: bool
) -> tuple[dict[str, Any], list[str], list[str]]:
    """Rename a Rasa component's parameters; return (ours, Rasa's ignored, unknown ignored).

    Parameters nobody knows stay in `ours` for a strict pipeline, so validation names them."""
    assert rule.target is not None
    ours = PARAMS[rule.target].model_fields
    mapped: dict[str, Any] = dict(rule.set_params)
    ignored: list[str] = []
    unknown: list[str] = []
    for k, v in params.items():
        if k in rule.renames:
            mapped[rule.renames[k]] = v
        elif k in ours:
            mapped[k] = v
        elif k in rule.ignored:
            ignored.append(k)
        elif lenient:
            unknown.append(k)
        else:
            mapped[k] = v
    if rule.convert is not None:
        mapped = rule.convert(mapped, ignored)
    return mapped, sorted(ignored), sorted(unknown)


def _add_relaydesk_steps(out: Translation, entities_at: int | None, source: str) -> None:
    names = [c.name for c in out.pipeline]
    if entities_at is not None and "RegexEntityExtractor" not in names:
        out.pipeline.insert(entities_at, Step("RegexEntityExtractor", {}, None))
        out.warn(
            f"{source}: pipeline: DIETClassifier's entity recognition -> RegexEntityExtractor, "
            "added after it: entities are found by the regexes, lookup tables and annotated "
            "values; a value never annotated is not found"
        )
    if _FIRST not in names:
        out.pipeline.insert(0, Step(_FIRST, {}, None))
        out.note(
            f"{source}: pipeline: {_FIRST} added first: the tokenizer, the knowledge base and "
            "the replies need each message's language"
        )
    if _LAST not in names:
        out.pipeline.append(Step(_LAST, {}, None))
        out.note(
            f"{source}: pipeline: {_LAST} added last: handoff rules and the console use each "
            "message's sentiment"
        )
