"""Natural-language understanding: language, tokens, features, intent, entities and sentiment."""

from bot.nlu.types import (
    EntitySpan,
    IntentScore,
    ParseResult,
    Sentiment,
    TrainingData,
    TrainingExample,
)

__all__ = [
    "EntitySpan",
    "IntentScore",
    "ParseResult",
    "Sentiment",
    "TrainingData",
    "TrainingExample",
]
