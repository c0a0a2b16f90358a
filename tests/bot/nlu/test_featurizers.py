from __future__ import annotations

from pathlib import Path

import numpy as np

from bot.nlu.component import TrainContext
from bot.nlu.featurizers import CountVectorsFeaturizer, normalise_token
from bot.nlu.types import Message, TrainingData
from bot.pipeline_config.params import CountVectorsParams


def _trained(params: CountVectorsParams, token_lists: list[list[str]]) -> CountVectorsFeaturizer:
    feat = CountVectorsFeaturizer(params)
    msgs = [Message(text=" ".join(t), tokens=t) for t in token_lists]
    feat.train(TrainContext(TrainingData(), msgs, lambda texts: [], Path(".")))
    return feat


def test_digits_fold_so_ticket_numbers_share_features() -> None:
    assert normalise_token("T-1002") == normalise_token("T-7781") == "t-0000"
    assert normalise_token("ＡＢＣ") == "abc"  # full-width forms fold too


def test_word_ngrams_include_bigrams() -> None:
    feat = CountVectorsFeaturizer(CountVectorsParams(analyzer="word", min_ngram=1, max_ngram=2))
    assert feat.grams(["查", "物流"]) == ["查", "物流", "查 物流"]


def test_char_wb_ngrams_stay_inside_words() -> None:
    feat = CountVectorsFeaturizer(CountVectorsParams(analyzer="char_wb", min_ngram=2, max_ngram=2))
    grams = feat.grams(["ab", "cd"])
    assert grams == [" a", "ab", "b ", " c", "cd", "d "]
    assert "bc" not in grams


def test_vectors_are_unit_length_and_ignore_unseen_grams() -> None:
    feat = _trained(CountVectorsParams(analyzer="word"), [["refund", "please"], ["hello"]])
    ids, vals, size = feat.vectorize(["refund", "please", "zzz"])
    assert size == 3
    assert sorted(feat.vocabulary[g] for g in ("refund", "please")) == sorted(ids.tolist())
    assert np.isclose(np.linalg.norm(vals), 1.0)
    empty_ids, empty_vals, _ = feat.vectorize(["never", "seen"])
    assert len(empty_ids) == 0 and len(empty_vals) == 0


def test_min_df_and_max_features_limit_the_vocabulary() -> None:
    docs = [["a", "b"], ["a", "c"], ["a", "b"]]
    assert set(_trained(CountVectorsParams(min_df=2), docs).vocabulary) == {"a", "b"}
    assert set(_trained(CountVectorsParams(max_features=1), docs).vocabulary) == {"a"}


def test_rare_grams_weigh_more_than_common_ones() -> None:
    feat = _trained(CountVectorsParams(), [["a", "b"], ["a"], ["a"]])
    ids, vals, _ = feat.vectorize(["a", "b"])
    weight = dict(zip(ids.tolist(), vals.tolist(), strict=True))
    assert weight[feat.vocabulary["b"]] > weight[feat.vocabulary["a"]]


def test_persist_and_load_give_identical_vectors(tmp_path: Path) -> None:
    params = CountVectorsParams(analyzer="char_wb", min_ngram=1, max_ngram=3)
    feat = _trained(params, [["蓝牙", "连不上"], ["battery", "drains"]])
    feat.persist(tmp_path)
    loaded = CountVectorsFeaturizer.load(params, tmp_path)
    a = feat.vectorize(["蓝牙", "battery"])
    b = loaded.vectorize(["蓝牙", "battery"])
    assert np.array_equal(a[0], b[0]) and np.allclose(a[1], b[1]) and a[2] == b[2]
