"""Knowledge indexes built once per test run and copied to every test that starts from one.

Indexing the shipped base (about 100 articles embedded in two models, then the answer decision
fitted on 1,500 searches) takes most of a minute on two cores, and every module that starts the
app, and every dialogue module, used to build the same index again. `seed` puts a copy of it
where a config expects its index; `KnowledgeBase.open()` then finds an index that matches the
articles and uses it, or, when a test changed the articles, brings the copy up to date as before.
The cache is keyed by everything that shapes an index (the knowledge settings, the articles'
folder and the embedder), and locked, so parallel workers (pytest-xdist) build each one once.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bot.config import Config, config_from_dict
from bot.knowledge.base import KnowledgeBase
from bot.nlu.embedders import Embedder

# Set once per run by tests/conftest.py (a session fixture), so fixtures that build a knowledge
# base outside any fixture's reach (helpers such as the dialogue tests' `sample_kb`) share it.
ROOT: Path | None = None


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _key(config: Config, embedder: Embedder | None) -> str:
    k = config.knowledge
    shape = k.model_dump(mode="json", exclude={"index_path", "history_db"})
    shape["path"] = str(config.path(k.path))
    if k.calibration_negatives:
        shape["calibration_negatives"] = str(config.path(k.calibration_negatives))
    shape["embedder"] = embedder.name if embedder is not None else None
    text = json.dumps(shape, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def seed(config: Config, embedder: Embedder | None) -> None:
    """Copy into `config`'s index_path and history_db the index of its articles, built in the
    run's cache by the first caller with the same settings (with `embedder`, as the app passes
    the NLU's)."""
    assert ROOT is not None, "tests/conftest.py sets the cache's folder"
    assert config.knowledge.history_db, "a seeded index needs a history_db of its own"
    cache = ROOT
    cache.mkdir(parents=True, exist_ok=True)
    key = _key(config, embedder)
    entry = cache / key
    with _locked(cache / f"{key}.lock"):
        if not (entry / "built").exists():
            shutil.rmtree(entry, ignore_errors=True)
            raw = config.model_dump(exclude={"base_dir"})
            raw["pipeline"] = config.pipeline_spec()
            raw["knowledge"].update(
                index_path=str(entry / "kb-index"), history_db=str(entry / "kb.db")
            )
            kb = KnowledgeBase(config_from_dict(raw, base_dir=config.base_dir), embedder=embedder)
            kb.reindex()
            kb.history.close()  # its write-ahead log checkpointed into kb.db
            (entry / "built").touch()
    index = config.path(config.knowledge.index_path)
    history = config.path(config.knowledge.history_db)
    index.parent.mkdir(parents=True, exist_ok=True)
    history.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(entry / "kb-index", index)
    shutil.copyfile(entry / "kb.db", history)
