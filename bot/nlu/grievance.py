"""Grievance: how likely a message says the customer was let down by the service.

Polarity alone cannot tell "my left earbud crackles" (a calm report of a product fault: help, no
apology) from "five days and my repair still isn't back" (the service kept them waiting: a good
agent apologises), and most grievances read only mildly negative: waiting, a parcel that never
came, a wrong charge, a refused return, nobody answering, having to say it all again. So the
dialogue policy (issue 16) reads a separate, learned probability rather than a list of words:
a logistic regression on the sentence embedding and character n-grams, trained on
bot/nlu/resources/grievance_train.yml (grievances and hard non-grievances written for it, in
both languages) plus the neutral and positive lines of the sentiment training file.
bench/grievance.py cross-validates it and measures it on neutral public requests.

The SentimentAnalyzer trains, keeps and runs it, so a pipeline needs no new step.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import numpy as np
import yaml

from bot.errors import DataProblem, TrainingDataError
from bot.nlu.component import TrainContext
from bot.nlu.featurizers import CountVectorsFeaturizer
from bot.nlu.types import Message, TrainingData
from bot.pipeline_config.params import CountVectorsParams

_CHAR_PARAMS = CountVectorsParams(analyzer="char_wb", min_ngram=1, max_ngram=3, min_df=2)
_PREFIX = "grievance_"
# Regularisation chosen by 5-fold cross-validation of the training lines (bench/grievance.py).
C = 4.0


def load_grievances(path: Path | None = None) -> list[tuple[str, bool]]:
    """(text, grievance) pairs of a file: version "1", examples: [{text, language, grievance}]."""
    name = str(path) if path else "grievance_train.yml (packaged)"
    raw_text = (
        path.read_text(encoding="utf-8")
        if path
        else resources.files("bot.nlu.resources").joinpath("grievance_train.yml").read_text("utf-8")
    )
    raw = yaml.safe_load(raw_text)
    if not isinstance(raw, dict) or not isinstance(raw.get("examples"), list):
        raise TrainingDataError([DataProblem(name, None, "expected a mapping with 'examples'")])
    out = []
    for i, item in enumerate(raw["examples"]):
        if (
            not isinstance(item, dict)
            or not str(item.get("text", "")).strip()
            or not isinstance(item.get("grievance"), bool)
        ):
            raise TrainingDataError(
                [DataProblem(name, None, f"examples[{i}]: needs a text and grievance: true|false")]
            )
        out.append((str(item["text"]), bool(item["grievance"])))
    return out


class GrievanceModel:
    """A binary classifier over the messages the pipeline has featurised up to sentiment."""

    def __init__(self) -> None:
        self.chars = CountVectorsFeaturizer(_CHAR_PARAMS)
        self.weights = np.zeros(0, dtype=np.float32)
        self.bias = 0.0
        self.uses_dense = False

    @property
    def trained(self) -> bool:
        return self.weights.size > 0

    def _features(self, message: Message) -> np.ndarray:
        chars = self.chars.dense(message)
        if self.uses_dense and message.dense:
            return np.concatenate([chars, message.dense[0].astype(np.float32)])
        return chars

    def fit(self, messages: list[Message], labels: list[bool], c: float = C) -> GrievanceModel:
        """Train on featurised messages; the classes are weighted to balance, so the score
        does not depend on the file's share of grievances."""
        from sklearn.linear_model import LogisticRegression

        self.uses_dense = bool(messages and messages[0].dense)
        self.chars.train(TrainContext(TrainingData(), messages, lambda _t: [], Path(".")))
        x = np.stack([self._features(m) for m in messages])
        model = LogisticRegression(C=c, max_iter=3000, class_weight="balanced", random_state=0)
        model.fit(x, np.array(labels, dtype=int))
        self.weights = model.coef_[0].astype(np.float32)
        self.bias = float(model.intercept_[0])
        return self

    @classmethod
    def train(
        cls, prepare: Callable[[list[str]], list[Message]], calm: list[str]
    ) -> GrievanceModel:
        """Train on the packaged grievance file plus `calm` lines (never grievances)."""
        pairs = load_grievances() + [(t, False) for t in calm]
        return cls().fit(prepare([t for t, _ in pairs]), [g for _, g in pairs])

    def score(self, message: Message) -> float:
        """The probability that the message is a grievance; 0.0 for an untrained model (one
        saved before this existed)."""
        if not self.trained:
            return 0.0
        z = float(self._features(message) @ self.weights) + self.bias
        return float(1.0 / (1.0 + np.exp(-z)))

    def persist(self, directory: Path) -> None:
        sub = directory / "grievance"
        sub.mkdir(parents=True, exist_ok=True)
        self.chars.persist(sub)
        np.savez(sub / f"{_PREFIX}model.npz", weights=self.weights)
        (sub / f"{_PREFIX}model.json").write_text(
            json.dumps({"bias": self.bias, "uses_dense": self.uses_dense}), encoding="utf-8"
        )

    @classmethod
    def load(cls, directory: Path) -> GrievanceModel:
        """The model saved under `directory`, or an untrained one (scores 0.0) if none was."""
        comp = cls()
        sub = directory / "grievance"
        if not (sub / f"{_PREFIX}model.json").is_file():
            return comp
        meta = json.loads((sub / f"{_PREFIX}model.json").read_text(encoding="utf-8"))
        comp.bias, comp.uses_dense = float(meta["bias"]), bool(meta["uses_dense"])
        comp.chars = CountVectorsFeaturizer.load(_CHAR_PARAMS, sub)
        with np.load(sub / f"{_PREFIX}model.npz", allow_pickle=False) as f:
            comp.weights = f["weights"]
        return comp
