from __future__ import annotations

from pathlib import Path

from bot.nlu import rasa_format
from bot.nlu.component import TrainContext
from bot.nlu.entities import EntitySynonymMapper, RegexEntityExtractor
from bot.nlu.types import Message
from bot.pipeline_config.params import EntitySynonymMapperParams, RegexEntityExtractorParams

REPO = Path(__file__).resolve().parents[3]


def _extractor() -> tuple[RegexEntityExtractor, EntitySynonymMapper]:
    data = rasa_format.load(REPO / "nlu_data")
    ctx = TrainContext(data, [], lambda texts: [], REPO)
    ext = RegexEntityExtractor(RegexEntityExtractorParams())
    ext.train(ctx)
    syn = EntitySynonymMapper(EntitySynonymMapperParams())
    syn.train(ctx)
    return ext, syn


EXT, SYN = _extractor()


def _entities(text: str) -> list[tuple[str, str]]:
    m = Message(text=text)
    EXT.process(m)
    SYN.process(m)
    for e in m.entities:
        assert e.end > e.start
    return [(e.entity, e.value) for e in m.entities]


def test_order_number_is_found_inside_chinese_text() -> None:
    assert _entities("订单202611180042到哪了") == [("order_id", "202611180042")]


def test_ticket_numbers_in_several_spellings() -> None:
    assert _entities("工单T-1002有进展吗") == [("ticket_id", "T-1002")]
    assert _entities("what about t-88231") == [("ticket_id", "t-88231")]


def test_phone_and_email_are_extracted_with_offsets() -> None:
    text = "换绑手机13812345678 邮箱 wang.li@example.com"
    m = Message(text=text)
    EXT.process(m)
    found = {e.entity: (e.value, e.start, e.end) for e in m.entities}
    assert found["phone_number"][0] == "13812345678"
    assert found["email"][0] == "wang.li@example.com"
    for value, start, end in found.values():
        assert text[start:end] == value


def test_a_longer_number_is_not_split_into_a_phone_number() -> None:
    # 13 digits: neither a mainland mobile nor an order number.
    assert _entities("my code is 1381234567899") == []


def test_longest_lookup_wins_and_synonyms_map_to_canonical_names() -> None:
    assert _entities("is the Kite X5 Pro waterproof") == [("product", "Kite X5 Pro")]
    assert _entities("x5 pro vs x5") == [("product", "Kite X5 Pro"), ("product", "Kite X5")]


def test_entity_inside_a_word_is_not_matched() -> None:
    assert ("product", "Kite X5") not in _entities("Kite X50 is not our phone")


def test_patterns_survive_persist_and_load(tmp_path: Path) -> None:
    EXT.persist(tmp_path)
    loaded = RegexEntityExtractor.load(RegexEntityExtractorParams(), tmp_path)
    assert loaded.extract("T-1002 and 202611180042") == EXT.extract("T-1002 and 202611180042")


def test_regexes_can_be_switched_off() -> None:
    data = rasa_format.load(REPO / "nlu_data")
    ext = RegexEntityExtractor(RegexEntityExtractorParams(use_regexes=False))
    ext.train(TrainContext(data, [], lambda texts: [], REPO))
    assert all(e.entity != "order_id" for e in ext.extract("order 202611180042"))
