from __future__ import annotations

from pathlib import Path

import pytest

from bot.dialogue.responses import OutboundMessage, Responses
from bot.errors import ConfigError
from tests.conftest import REPO


def test_every_shipped_response_exists_in_both_languages() -> None:
    r = Responses.load(REPO / "responses.yml")
    for name in r.templates:
        assert r.render(name, "zh").text and r.render(name, "en").text


def test_values_fill_placeholders_and_missing_ones_stay_visible() -> None:
    r = Responses.load(REPO / "responses.yml", seed=0)
    m = r.render("utter_handoff_queued", "en", position=3, wait_minutes=4)
    assert "number 3" in m.text and "about 4 min" in m.text
    partial = r.render("utter_handoff_queued", "en", position=3)
    assert "{wait_minutes}" in partial.text


def test_mixed_language_replies_in_chinese() -> None:
    r = Responses.load(REPO / "responses.yml")
    assert "订单号" in r.render("utter_ask_order_id", "mixed").text


def test_rich_parts_fall_back_to_text() -> None:
    r = Responses.load(REPO / "responses.yml", seed=0)
    greet = r.render("utter_greet", "en")
    assert greet.buttons and greet.buttons[-1].payload == "/request_human"
    assert "3. Talk to a person" in greet.fallback_text()
    media = OutboundMessage("See the steps", image="/kb/media/a.svg", caption="Pairing")
    assert media.fallback_text() == "See the steps\nPairing: /kb/media/a.svg"
    assert media.to_dict()["image"] == "/kb/media/a.svg"


def test_a_response_missing_a_language_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "r.yml"
    f.write_text("responses:\n  utter_x:\n    zh: [{text: 你好}]\n", "utf-8")
    with pytest.raises(ConfigError, match=r"responses.utter_x.en"):
        Responses.load(f)
