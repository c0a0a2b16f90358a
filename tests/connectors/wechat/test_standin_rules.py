"""The WeChat stand-in enforces what the real API does, so the connector's window logic is tested
against WeChat's rules rather than against itself: no customer-service message without an
interaction in the last 48 hours (45015) or after an unsubscribe, at most five per interaction
(45047), texts of at most 2,048 bytes (45002), expired tokens (42001), template messages to
followers only (43004), and the menu's limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import ClientSession

from tests.standins.wechat_api import WechatStandIn, event_xml, text_message_xml

USER = "o-rules"


@pytest.fixture
async def api() -> AsyncIterator[tuple[WechatStandIn, ClientSession, str]]:
    async with WechatStandIn() as wx, ClientSession() as session:
        query = {"grant_type": "client_credential", "appid": wx.appid, "secret": wx.secret}
        async with session.get(f"{wx.api_base}/cgi-bin/token", params=query) as resp:
            token = (await resp.json(content_type=None))["access_token"]
        yield wx, session, token


async def _post(
    env: tuple[WechatStandIn, ClientSession, str], path: str, body: dict[str, Any]
) -> int:
    wx, session, token = env
    url = f"{wx.api_base}/cgi-bin/{path}"
    async with session.post(url, params={"access_token": token}, json=body) as resp:
        return int((await resp.json(content_type=None))["errcode"])


def _text(content: str, to: str = USER) -> dict[str, Any]:
    return {"touser": to, "msgtype": "text", "text": {"content": content}}


async def test_the_window_and_the_quota(api: tuple[WechatStandIn, ClientSession, str]) -> None:
    wx = api[0]
    assert await _post(api, "message/custom/send", _text("没来过")) == 45015
    wx.observe(text_message_xml("gh_x", USER, "你好", 1))
    assert [await _post(api, "message/custom/send", _text(f"{n}")) for n in range(6)] == [
        0,
        0,
        0,
        0,
        0,
        45047,
    ]
    wx.observe(event_xml("gh_x", USER, "CLICK", "HELP"))  # a menu click is an interaction
    assert await _post(api, "message/custom/send", _text("again")) == 0
    wx.shift_clock(48.1)
    assert await _post(api, "message/custom/send", _text("too late")) == 45015
    wx.observe(event_xml("gh_x", USER, "VIEW", "https://x.example/"))  # a view is not
    assert await _post(api, "message/custom/send", _text("still late")) == 45015
    wx.observe(text_message_xml("gh_x", USER, "在吗", 2))
    assert await _post(api, "message/custom/send", _text("长" * 683)) == 45002  # 2049 bytes
    assert await _post(api, "message/custom/send", _text("长" * 682)) == 0
    wx.observe(event_xml("gh_x", USER, "unsubscribe"))
    assert await _post(api, "message/custom/send", _text("bye")) == 45015
    assert wx.texts(USER) == ["0", "1", "2", "3", "4", "again", "长" * 682]


async def test_tokens_templates_and_menus(api: tuple[WechatStandIn, ClientSession, str]) -> None:
    wx = api[0]
    wx.template_ids.add("tmpl-1")
    template = {"touser": USER, "template_id": "tmpl-1", "data": {"first": {"value": "hi"}}}
    assert await _post(api, "message/template/send", template) == 43004  # not a follower
    wx.add_follower(USER)
    assert await _post(api, "message/template/send", template) == 0
    assert await _post(api, "message/template/send", {**template, "template_id": "x"}) == 40037

    too_many = {"button": [{"type": "click", "name": f"b{n}", "key": f"K{n}"} for n in range(4)]}
    assert await _post(api, "menu/create", too_many) == 40016
    long_name = {"button": [{"type": "click", "name": "超过四个汉字", "key": "K"}]}
    assert await _post(api, "menu/create", long_name) == 40018
    no_key = {"button": [{"type": "click", "name": "帮助"}]}
    assert await _post(api, "menu/create", no_key) == 40019
    good = {"button": [{"type": "click", "name": "帮助", "key": "HELP"}]}
    assert await _post(api, "menu/create", good) == 0 and wx.menu == good

    wx.time_out_tokens()
    assert await _post(api, "message/template/send", template) == 42001
