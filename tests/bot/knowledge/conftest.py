"""A small real knowledge base copied from the shipped one, and one USE embedder per session."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from bot.config import Config, config_from_dict, load_config
from bot.knowledge.base import KnowledgeBase
from bot.nlu.embedders import UseEmbedder
from tests.conftest import REPO

SAMPLE = [
    "zh/service/shipping/free-shipping.md",
    "en/service/shipping/free-shipping.md",
    "zh/service/shipping/overseas.md",
    "en/service/shipping/overseas.md",
    "zh/after-sales/returns/seven-day.md",
    "en/after-sales/returns/seven-day.md",
    "zh/product/phone/settings/bluetooth.md",
    "en/product/phone/settings/bluetooth.md",
    "zh/service/payment/huabei.md",
    "zh/service/account/reset-password.md",
    "en/service/account/reset-password.md",
]


class CountingEmbedder:
    """The real USE embedder, counting the texts it embeds."""

    def __init__(self, inner: UseEmbedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.texts: list[str] = []

    def embed(self, texts: list[str], kind: str = "query") -> np.ndarray:
        self.texts.extend(texts)
        return self.inner.embed(texts, kind)


@pytest.fixture(scope="session")
def use() -> UseEmbedder:
    return UseEmbedder()


@pytest.fixture
def kb_root(tmp_path: Path) -> Path:
    root = tmp_path / "knowledge"
    for rel in SAMPLE:
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / "knowledge" / rel, target)
    return root


def kb_config(tmp_path: Path, root: Path, **knowledge: object) -> Config:
    base = load_config(REPO / "config.yml")
    raw = base.model_dump(exclude={"base_dir"})
    raw["pipeline"] = base.pipeline_spec()
    raw["knowledge"].update(
        path=str(root),
        index_path=str(tmp_path / "var" / "kb-index"),
        history_db=str(tmp_path / "var" / "knowledge.db"),
        calibration_negatives=str(REPO / "nlu_data"),
        **knowledge,
    )
    return config_from_dict(raw, base_dir=str(REPO))


@pytest.fixture
def kb(tmp_path: Path, kb_root: Path, use: UseEmbedder) -> KnowledgeBase:
    return KnowledgeBase(kb_config(tmp_path, kb_root), embedder=CountingEmbedder(use))
