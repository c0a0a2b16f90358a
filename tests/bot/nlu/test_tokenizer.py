from __future__ import annotations

from pathlib import Path

from bot.nlu.tokenizer import SpacyTokenizer
from bot.pipeline_config.params import SpacyTokenizerParams


def test_chinese_is_segmented_into_words_by_jieba() -> None:
    tok = SpacyTokenizer(SpacyTokenizerParams())
    assert tok.tokenize("我的快递到哪了", "zh") == ["我", "的", "快递", "到", "哪", "了"]


def test_char_segmenter_splits_every_character() -> None:
    tok = SpacyTokenizer(SpacyTokenizerParams(zh_segmenter="char"))
    assert tok.tokenize("快递到哪", "zh") == ["快", "递", "到", "哪"]


def test_english_tokens_split_punctuation_and_drop_spaces() -> None:
    tok = SpacyTokenizer(SpacyTokenizerParams())
    assert tok.tokenize("where's my  parcel?", "en") == ["where", "'s", "my", "parcel", "?"]


def test_user_words_stay_whole_and_survive_persist_and_load(tmp_path: Path) -> None:
    word = "风筝手表三代"
    before = SpacyTokenizer(SpacyTokenizerParams()).tokenize(f"我的{word}坏了", "zh")
    assert word not in before
    tok = SpacyTokenizer(SpacyTokenizerParams(user_words=[word]))
    assert word in tok.tokenize(f"我的{word}坏了", "zh")
    tok.persist(tmp_path)
    loaded = SpacyTokenizer.load(SpacyTokenizerParams(), tmp_path)
    assert word in loaded.tokenize(f"我的{word}坏了", "zh")
