"""Intent classification: a multinomial logistic regression over sentence embeddings and n-grams,
with temperature-calibrated confidences, followed by Rasa-style fallback on low or close scores.

Training uses scikit-learn; prediction is a few numpy dot products on the persisted weights, so
serving never unpickles anything and starts fast.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from bot.errors import DataProblem, TrainingDataError
from bot.nlu.component import BaseComponent, TrainContext
from bot.nlu.types import IntentScore, Message
from bot.pipeline_config.params import FallbackClassifierParams, LogisticRegressionParams

log = logging.getLogger(__name__)


def design_matrix(messages: list[Message], dense_weight: float) -> Any:
    """Stack every message's sparse blocks and dense vectors into one CSR matrix."""
    from scipy import sparse

    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    width = 0
    for r, m in enumerate(messages):
        offset = 0
        for ids, weights, size in m.sparse:
            rows.extend([r] * len(ids))
            cols.extend((ids + offset).tolist())
            vals.extend(weights.tolist())
            offset += size
        for vec in m.dense:
            rows.extend([r] * len(vec))
            cols.extend(range(offset, offset + len(vec)))
            vals.extend((vec * dense_weight).tolist())
            offset += len(vec)
        width = max(width, offset)
    return sparse.csr_matrix((vals, (rows, cols)), shape=(len(messages), width), dtype=np.float64)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    out: np.ndarray = e / e.sum(axis=-1, keepdims=True)
    return out


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature that minimises the log-loss of held-out logits."""
    from scipy.optimize import minimize_scalar

    def nll(t: float) -> float:
        p = _softmax(logits / t)
        return float(-np.mean(np.log(p[np.arange(len(labels)), labels] + 1e-12)))

    res = minimize_scalar(nll, bounds=(0.05, 20.0), method="bounded")
    return float(res.x)


class LogisticRegressionClassifier(BaseComponent):
    name: ClassVar[str] = "LogisticRegressionClassifier"
    params: LogisticRegressionParams

    def __init__(self, params: LogisticRegressionParams) -> None:
        super().__init__(params)
        self.classes: list[str] = []
        self.block_sizes: list[int] = []
        self.dense_dims: list[int] = []
        self.w_sparse = np.zeros((0, 0), dtype=np.float32)
        self.w_dense = np.zeros((0, 0), dtype=np.float32)
        self.bias = np.zeros(0, dtype=np.float32)
        self.temperature = 1.0

    # -- training ---------------------------------------------------------------------------
    def _fit(self, x: Any, y: np.ndarray) -> Any:
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(
            C=self.params.C, max_iter=self.params.max_iter, random_state=self.params.random_seed
        )
        model.fit(x, y)
        return model

    @staticmethod
    def _logits(model: Any, x: Any) -> np.ndarray:
        z = model.decision_function(x)
        return np.stack([np.zeros_like(z), z], axis=1) if z.ndim == 1 else z

    def train(self, ctx: TrainContext) -> None:
        labels = [ex.intent for ex in ctx.data.examples]
        self.classes = sorted(set(labels))
        if len(self.classes) < 2:
            raise TrainingDataError(
                [
                    DataProblem(
                        ", ".join(ctx.data.files), None, "need examples of at least two intents"
                    )
                ]
            )
        y = np.array([self.classes.index(label) for label in labels])
        x = design_matrix(ctx.messages, self.params.dense_weight)
        first = ctx.messages[0] if ctx.messages else None
        self.block_sizes = [size for _, _, size in first.sparse] if first else []
        self.dense_dims = [len(v) for v in first.dense] if first else []
        model = self._fit(x, y)
        self.temperature = self._calibrate(x, y) if self.params.calibrate else 1.0
        coef = model.coef_
        intercept = model.intercept_
        if coef.shape[0] == 1:  # scikit-learn's binary form: one row for class 1
            coef = np.vstack([np.zeros_like(coef), coef])
            intercept = np.array([0.0, intercept[0]])
        n_sparse = sum(self.block_sizes)
        self.w_sparse = np.ascontiguousarray(coef[:, :n_sparse].T, dtype=np.float32)
        self.w_dense = np.ascontiguousarray(
            coef[:, n_sparse:].T * self.params.dense_weight, dtype=np.float32
        )
        self.bias = intercept.astype(np.float32)

    def _calibrate(self, x: Any, y: np.ndarray) -> float:
        from sklearn.model_selection import StratifiedKFold

        counts = np.bincount(y)
        folds = min(self.params.calibration_folds, int(counts.min()))
        if folds < 2:
            log.warning("too few examples per intent to calibrate; confidences are uncalibrated")
            return 1.0
        oof = np.zeros((len(y), len(self.classes)))
        splitter = StratifiedKFold(folds, shuffle=True, random_state=self.params.random_seed)
        for train_idx, test_idx in splitter.split(np.zeros(len(y)), y):
            model = self._fit(x[train_idx], y[train_idx])
            z = self._logits(model, x[test_idx])
            # A fold may miss a class; map its columns back onto the full class list.
            full = np.full((len(test_idx), len(self.classes)), -1e4)
            full[:, model.classes_] = z
            oof[test_idx] = full
        t = fit_temperature(oof, y)
        log.info("calibrated intent temperature %.3f over %d folds", t, folds)
        return t

    # -- prediction -------------------------------------------------------------------------
    def logits(self, message: Message) -> np.ndarray:
        z = self.bias.astype(np.float32).copy()
        offset = 0
        for (ids, weights, _), size in zip(message.sparse, self.block_sizes, strict=False):
            if len(ids):
                z += weights @ self.w_sparse[ids + offset]
            offset += size
        if message.dense:
            z += np.concatenate(message.dense).astype(np.float32) @ self.w_dense
        return z

    def probabilities(self, message: Message) -> np.ndarray:
        return _softmax(self.logits(message) / self.temperature)

    def process(self, message: Message) -> None:
        p = self.probabilities(message)
        order = np.argsort(-p)[: self.params.ranking_length]
        message.intent_ranking = [IntentScore(self.classes[i], float(p[i])) for i in order]
        message.intent = message.intent_ranking[0]

    def persist(self, directory: Path) -> None:
        np.savez(
            directory / "weights.npz",
            w_sparse=self.w_sparse,
            w_dense=self.w_dense,
            bias=self.bias,
        )
        meta = {
            "classes": self.classes,
            "block_sizes": self.block_sizes,
            "dense_dims": self.dense_dims,
            "temperature": self.temperature,
        }
        (directory / "classifier.json").write_text(json.dumps(meta), encoding="utf-8")

    @classmethod
    def load(cls, params: Any, directory: Path) -> LogisticRegressionClassifier:
        clf = cls(params)
        meta = json.loads((directory / "classifier.json").read_text(encoding="utf-8"))
        clf.classes = meta["classes"]
        clf.block_sizes = meta["block_sizes"]
        clf.dense_dims = meta["dense_dims"]
        clf.temperature = float(meta["temperature"])
        with np.load(directory / "weights.npz", allow_pickle=False) as f:
            clf.w_sparse, clf.w_dense, clf.bias = f["w_sparse"], f["w_dense"], f["bias"]
        return clf


class FallbackClassifier(BaseComponent):
    """Turns a low-confidence or ambiguous prediction into the fallback (out-of-scope) intent."""

    name: ClassVar[str] = "FallbackClassifier"
    params: FallbackClassifierParams

    def decide(self, ranking: list[IntentScore]) -> str | None:
        if not ranking:
            return "low_confidence"
        top = ranking[0].confidence
        if top < self.params.threshold:
            return "low_confidence"
        if len(ranking) > 1 and top - ranking[1].confidence < self.params.ambiguity_threshold:
            return "ambiguous"
        return None

    def process(self, message: Message) -> None:
        if message.fallback is not None:
            return  # decided upstream already (the Rasa server could not be asked)
        reason = self.decide(message.intent_ranking)
        if reason is None:
            return
        name = self.params.fallback_intent
        message.fallback = reason
        # As Rasa does: the fallback intent leads the ranking with the threshold as confidence.
        fallback = IntentScore(name, self.params.threshold)
        message.intent = fallback
        message.intent_ranking = [fallback] + [s for s in message.intent_ranking if s.name != name]
