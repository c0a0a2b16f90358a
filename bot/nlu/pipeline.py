"""The NLU pipeline: components built from config, trained in order, persisted, loaded, run.

`NLUPipeline.parse` is the one entry point the server, the CLI and the dialogue engine use.
"""

from __future__ import annotations

import importlib
import json
import logging
import re
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from bot.config import Config
from bot.errors import InputError, InputTooLargeError, ModelFormatError, ModelNotFoundError
from bot.nlu import model_store, rasa_format
from bot.nlu.component import Component, RemoteService, TrainContext
from bot.nlu.types import Message, ParseResult, TrainingData
from bot.pipeline_config.params import PARAMS

log = logging.getLogger(__name__)

# name -> "module:Class"; imported only when a pipeline uses the component.
REGISTRY: dict[str, str] = {
    "LanguageDetector": "bot.nlu.language:LanguageDetector",
    "SpacyTokenizer": "bot.nlu.tokenizer:SpacyTokenizer",
    "SentenceEmbeddingFeaturizer": "bot.nlu.embedders:SentenceEmbeddingFeaturizer",
    "CountVectorsFeaturizer": "bot.nlu.featurizers:CountVectorsFeaturizer",
    "LogisticRegressionClassifier": "bot.nlu.classifier:LogisticRegressionClassifier",
    "FallbackClassifier": "bot.nlu.classifier:FallbackClassifier",
    "RegexEntityExtractor": "bot.nlu.entities:RegexEntityExtractor",
    "EntitySynonymMapper": "bot.nlu.entities:EntitySynonymMapper",
    "SentimentAnalyzer": "bot.nlu.sentiment:SentimentAnalyzer",
    "RasaServerNLU": "bot.nlu.rasa_server:RasaServerNLU",
}
assert set(REGISTRY) == set(PARAMS)

# C0/C1 control characters other than tab and newline become spaces (same length, so entity
# offsets still index the caller's text).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def component_class(name: str) -> Any:
    module, cls = REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), cls)


def validate_text(text: Any, max_chars: int) -> str:
    """The checks every entry point applies to a message text before parsing it."""
    if not isinstance(text, str):
        raise InputError(f"'text' must be a string, got {type(text).__name__}")
    if not text.strip():
        raise InputError("'text' is empty")
    if len(text) > max_chars:
        raise InputTooLargeError(
            f"'text' has {len(text)} characters; the limit is {max_chars} (nlu.max_text_chars)"
        )
    require_unicode(text, "'text'")
    return text


def require_unicode(text: str, what: str) -> None:
    """JSON can carry a lone UTF-16 surrogate ("\\ud800") that is no character at all: no
    tokenizer or database takes it, so refuse it where it comes in."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(
            f"{what} contains a lone UTF-16 surrogate at position {exc.start}; send valid Unicode"
        ) from exc


class NLUPipeline:
    def __init__(self, components: list[Component], metadata: dict[str, Any] | None = None) -> None:
        self.components = components
        self.metadata = metadata or {}

    # -- running ----------------------------------------------------------------------------
    def _messages(
        self, texts: list[str], upto: int | None = None, *, training: bool = False
    ) -> list[Message]:
        messages = [Message(text=_CONTROL.sub(" ", t)) for t in texts]
        for comp in self.components[:upto]:
            if training and not _in_training(comp):
                continue
            comp.process_batch(messages)
        return messages

    def parse(self, text: str) -> ParseResult:
        return self.parse_with_vector(text)[0]

    def parse_with_vector(self, text: str) -> tuple[ParseResult, np.ndarray | None]:
        """The parse and the sentence embedding computed on the way, so the knowledge base
        can search with it instead of embedding the text a second time."""
        message = Message(text=_CONTROL.sub(" ", text))
        for comp in self.components:
            comp.process(message)
        vector = message.dense[0] if message.dense else None
        result = message.result()
        if result.text != text:  # report the caller's text, not our cleaned copy
            result = ParseResult(
                text,
                result.language,
                result.intent,
                result.intent_ranking,
                result.entities,
                result.sentiment,
                result.fallback,
            )
        return result, vector

    def parse_batch(self, texts: list[str]) -> list[ParseResult]:
        results = [m.result() for m in self._messages(texts)]
        return [
            r
            if r.text == t
            else ParseResult(
                t, r.language, r.intent, r.intent_ranking, r.entities, r.sentiment, r.fallback
            )
            for r, t in zip(results, texts, strict=True)
        ]

    @property
    def intents(self) -> list[str]:
        return list(self.metadata.get("intents", []))

    def component(self, name: str) -> Any:
        return next((c for c in self.components if c.name == name), None)

    @property
    def services(self) -> list[RemoteService]:
        """The steps that ask a service outside the process (a Rasa server)."""
        return [c for c in self.components if isinstance(c, RemoteService)]

    def probe_services(self) -> dict[str, str]:
        """The services outside the process that do not answer, each with the reason (an empty
        dict: all answer). Blocks: call it off the event loop."""
        problems = {}
        for service in self.services:
            problem = service.probe()
            if problem is not None:
                problems[service.name] = problem
        return problems

    # -- training ---------------------------------------------------------------------------
    @classmethod
    def build(cls, spec: list[dict[str, Any]]) -> NLUPipeline:
        comps = []
        for item in spec:
            name = item["name"]
            params = PARAMS[name].model_validate({k: v for k, v in item.items() if k != "name"})
            comps.append(component_class(name)(params))
        return cls(comps)

    @classmethod
    def train(
        cls, spec: list[dict[str, Any]], data: TrainingData, base_dir: Path = Path(".")
    ) -> NLUPipeline:
        pipeline = cls.build(spec)
        texts = [ex.text for ex in data.examples]
        messages = [Message(text=_CONTROL.sub(" ", t)) for t in texts]
        timings: dict[str, float] = {}
        for i, comp in enumerate(pipeline.components):
            started = time.perf_counter()

            def prepare(more: list[str], _upto: int = i) -> list[Message]:
                return pipeline._messages(more, upto=_upto, training=True)

            comp.train(TrainContext(data, messages, prepare, base_dir))
            if _in_training(comp):
                comp.process_batch(messages)
            timings[f"{i:02d}_{comp.name}"] = round(time.perf_counter() - started, 3)
        pipeline.metadata = {
            "intents": data.intents,
            "examples": len(data.examples),
            "train_seconds_by_component": timings,
            "pipeline": spec,
        }
        return pipeline

    # -- persistence ------------------------------------------------------------------------
    def persist(self, directory: Path) -> None:
        comps_dir = directory / "components"
        comps_dir.mkdir(parents=True, exist_ok=True)
        for i, comp in enumerate(self.components):
            sub = comps_dir / f"{i:02d}_{comp.name}"
            sub.mkdir()
            comp.persist(sub)
        (directory / model_store.METADATA).write_text(
            json.dumps(self.metadata, ensure_ascii=False, indent=2), encoding="utf-8"
        )

    @classmethod
    def load(cls, directory: Path) -> NLUPipeline:
        info = model_store.read_info(directory)
        spec = info.metadata.get("pipeline")
        if not isinstance(spec, list):
            raise ModelFormatError(f"{directory}: metadata has no pipeline")
        comps = []
        for i, item in enumerate(spec):
            name = item["name"]
            if name not in REGISTRY:
                raise ModelFormatError(f"{directory}: unknown component {name!r}")
            params = PARAMS[name].model_validate({k: v for k, v in item.items() if k != "name"})
            sub = directory / "components" / f"{i:02d}_{name}"
            try:
                comps.append(component_class(name).load(params, sub))
            except FileNotFoundError as exc:
                raise ModelFormatError(f"{sub}: missing {Path(exc.filename).name}") from exc
        return cls(comps, info.metadata)


def train_model(
    config: Config,
    nlu_path: Path | None = None,
    out_dir: Path | None = None,
    *,
    force: bool = False,
) -> tuple[model_store.ModelInfo, bool]:
    """Train from config and data unless a model with the same fingerprint exists.

    Returns the model's info and whether it was trained now (False: reused).
    """
    data_path = nlu_path or config.path(config.nlu.data)
    out = out_dir or config.path(config.nlu.models)
    spec = config.pipeline_spec()
    files = model_store.data_files(data_path)
    fp = model_store.fingerprint(spec, list(config.language), files)
    if not force:
        try:
            return model_store.find_model(out, fp), False
        except (ModelNotFoundError, ModelFormatError):
            pass  # nothing to reuse: train
    data = rasa_format.load(data_path)
    started = time.perf_counter()
    pipeline = NLUPipeline.train(spec, data, base_dir=Path(config.base_dir))
    seconds = time.perf_counter() - started
    tmp, final = model_store.new_model_dir(out, fp)
    try:
        pipeline.metadata.update(
            {
                "format": model_store.MODEL_FORMAT,
                "fingerprint": fp,
                "created": time.time(),
                "languages": list(config.language),
                "data": [str(f) for f in files],
                "train_seconds": round(seconds, 3),
                "warnings": data.warnings,
            }
        )
        pipeline.persist(tmp)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("trained %s in %.1f s (%d examples)", final.name, seconds, len(data.examples))
    return model_store.read_info(final), True


def load_for_config(config: Config, model: Path | None = None) -> NLUPipeline:
    """The model to serve: the given folder, else the one trained from the current data and
    config, else the newest (with a warning that it is stale). Warmed up before it returns."""
    if model is not None:
        info = model_store.find_model(model)
    else:
        models_dir = config.path(config.nlu.models)
        spec = config.pipeline_spec()
        files = model_store.data_files(config.path(config.nlu.data))
        fp = model_store.fingerprint(spec, list(config.language), files)
        try:
            info = model_store.find_model(models_dir, fp)
        except ModelNotFoundError:  # fall back to the newest model, loudly
            info = model_store.find_model(models_dir)
            log.warning(
                "model %s is stale: the training data or pipeline changed since; "
                "run `relaydesk train` (make run does)",
                info.path.name,
            )
    pipeline = NLUPipeline.load(info.path)
    pipeline.metadata["model_path"] = str(info.path)
    _reconnect(pipeline, config)
    # The first parse pays for lazy imports and caches; pay it now, not on a customer's message.
    pipeline.parse("warm up 预热")
    return pipeline


def _in_training(comp: Component) -> bool:
    return bool(getattr(comp, "in_training", True))


def _reconnect(pipeline: NLUPipeline, config: Config) -> None:
    """Where to reach a service (RasaServerNLU's url, token, timeouts) comes from the config
    being served, not from the model folder: the token is never written there, and the same
    model may serve staging and production."""
    from bot.nlu.rasa_server import RasaServerNLU

    current = [c.params for c in config.pipeline if c.name == RasaServerNLU.name]
    remote = [c for c in pipeline.components if isinstance(c, RasaServerNLU)]
    for comp, params in zip(remote, current, strict=False):
        comp.connect(params)
