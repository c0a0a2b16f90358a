"""Plain data for the NLU: training examples in, parse results out, one working message between."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

LANGUAGES = ("zh", "en")


@dataclass(frozen=True)
class EntitySpan:
    """An entity found in (or annotated on) a text, with character offsets into that text."""

    entity: str
    value: str
    start: int
    end: int
    extractor: str = ""
    role: str | None = None
    group: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "entity": self.entity,
            "value": self.value,
            "start": self.start,
            "end": self.end,
            "extractor": self.extractor,
        }
        if self.role is not None:
            out["role"] = self.role
        if self.group is not None:
            out["group"] = self.group
        return out


@dataclass(frozen=True)
class TrainingExample:
    """One labelled utterance; `source` is "file:line" so errors and reports can point at it."""

    text: str
    intent: str
    entities: tuple[EntitySpan, ...] = ()
    source: str = ""


@dataclass(frozen=True)
class RegexPattern:
    name: str
    pattern: str
    source: str = ""


@dataclass
class TrainingData:
    """Everything a Rasa NLU file can hold: examples, synonyms, regexes and lookup tables."""

    examples: list[TrainingExample] = field(default_factory=list)
    # variant (case-folded) -> canonical value, as Rasa's EntitySynonymMapper uses them
    synonyms: dict[str, str] = field(default_factory=dict)
    regexes: list[RegexPattern] = field(default_factory=list)
    lookups: dict[str, list[str]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def intents(self) -> list[str]:
        return sorted({e.intent for e in self.examples})

    def merge(self, other: TrainingData) -> None:
        self.examples.extend(other.examples)
        self.synonyms.update(other.synonyms)
        self.regexes.extend(other.regexes)
        for name, values in other.lookups.items():
            self.lookups.setdefault(name, []).extend(values)
        self.files.extend(other.files)
        self.warnings.extend(other.warnings)

    def with_examples(self, examples: list[TrainingExample]) -> TrainingData:
        """The same entity resources with another set of examples (for splits and folds)."""
        return TrainingData(
            examples=list(examples),
            synonyms=dict(self.synonyms),
            regexes=list(self.regexes),
            lookups={k: list(v) for k, v in self.lookups.items()},
            files=list(self.files),
        )


@dataclass(frozen=True)
class IntentScore:
    name: str
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "confidence": round(float(self.confidence), 6)}


@dataclass(frozen=True)
class Sentiment:
    """Polarity with a score in [-1, 1], and an emotion flag: urgent, disappointed or angry."""

    label: str
    score: float
    emotion: str | None = None
    # The probability the customer was let down by the service (bot/nlu/grievance.py). Read by
    # the dialogue policy; not part of the parse's wire shape.
    grievance: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "score": round(float(self.score), 4), "emotion": self.emotion}


@dataclass(frozen=True)
class ParseResult:
    """What the NLU concluded about one message; `to_dict` is Rasa's parse shape plus our fields."""

    text: str
    language: str
    intent: IntentScore
    intent_ranking: tuple[IntentScore, ...]
    entities: tuple[EntitySpan, ...]
    sentiment: Sentiment
    # Why the fallback intent was given: low_confidence | ambiguous | rasa_unavailable.
    fallback: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "intent": self.intent.to_dict(),
            "intent_ranking": [s.to_dict() for s in self.intent_ranking],
            "entities": [e.to_dict() for e in self.entities],
            "sentiment": self.sentiment.to_dict(),
            "language": self.language,
            "fallback": self.fallback,
        }


@dataclass
class Message:
    """The working state of one utterance as it passes through the pipeline's components."""

    text: str
    language: str = "en"  # zh | en | mixed
    tokens: list[str] = field(default_factory=list)
    # One block per sparse featurizer, in pipeline order: (feature ids, weights, block width).
    sparse: list[tuple[np.ndarray, np.ndarray, int]] = field(default_factory=list)
    dense: list[np.ndarray] = field(default_factory=list)
    intent: IntentScore | None = None
    intent_ranking: list[IntentScore] = field(default_factory=list)
    entities: list[EntitySpan] = field(default_factory=list)
    sentiment: Sentiment | None = None
    fallback: str | None = None

    @property
    def tokenizer_language(self) -> str:
        """Mixed text goes through the Chinese tokenizer: jieba keeps Latin words whole."""
        return "en" if self.language == "en" else "zh"

    def result(self) -> ParseResult:
        intent = self.intent or IntentScore("out_of_scope", 0.0)
        return ParseResult(
            text=self.text,
            language=self.language,
            intent=intent,
            intent_ranking=tuple(self.intent_ranking),
            entities=tuple(self.entities),
            sentiment=self.sentiment or Sentiment("neutral", 0.0, None),
            fallback=self.fallback,
        )
