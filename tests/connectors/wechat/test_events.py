"""WeChat events on the real app, with the stand-in as WeChat: a follower's subscribe (greeted
in their language, their profile fetched once), unsubscribe (recorded, pending deliveries
cancelled, the window shown closed), a re-subscribe, menu CLICKs mapped by config, VIEWs
recorded, and the menu's intents checked at start-up."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.errors import ConfigError
from connectors.wechat.api import WechatApi
from connectors.wechat.followers import Profiles
from tests.connectors.wechat.test_wechat import (  # noqa: F401 (fixtures)
    ACCOUNT,
    APP_ID,
    APP_SECRET,
    Rig,
    RigFactory,
    make_rig,
    wx,
)
from tests.standins.wechat_api import event_xml, parse_reply_xml

MENU: list[dict[str, Any]] = [
    {"name": "帮助", "key": "HELP", "command": "help"},
    {
        "name": "服务",
        "sub_button": [
            {"name": "查订单", "key": "ORDER", "intent": "order_status"},
            {"name": "退货", "key": "RETURNS", "text": "怎么退货"},
            {"name": "官网", "url": "https://shop.example.com/"},
        ],
    },
    {"name": "人工", "key": "HUMAN", "command": "human"},
]


async def _event(rig: Rig, openid: str, event: str, key: str | None = None, at: int = 0) -> str:
    resp = await rig.post(event_xml(ACCOUNT, openid, event, key, create_time=at or None))
    assert resp.status == 200, await resp.text()
    return await resp.text()


async def _wechat_attributes(rig: Rig, openid: str) -> dict[str, Any]:
    customer = await rig.store.customers.find("wechat", openid)
    assert customer is not None
    data: dict[str, Any] = customer.attributes.get("wechat", {})
    return data


# ---------------------------------------------------------------------- subscribe, profile


@pytest.mark.parametrize(
    ("language", "nickname", "greeting"),
    # Each language has two greeting variants; both name the shop in the follower's language.
    [("en", None, "Kite Electronics"), ("zh_CN", "小李", "风筝数码")],
    ids=["english-no-nickname", "chinese-nickname"],
)
async def test_a_new_follower_is_greeted_in_their_language_and_profiled_once(
    make_rig: RigFactory,  # noqa: F811
    language: str,
    nickname: str | None,
    greeting: str,
) -> None:
    rig = await make_rig()
    openid = f"o-follower-{language}"
    rig.wx.add_follower(openid, nickname=nickname, language=language)
    reply = parse_reply_xml(await _event(rig, openid, "subscribe", at=1_700_000_200))
    assert greeting in reply["Content"]

    customer = await rig.store.customers.find("wechat", openid)
    assert customer is not None
    assert customer.language == language[:2]
    assert customer.name == nickname  # None since 2021 for most accounts: nothing invented
    profile = (await _wechat_attributes(rig, openid))["profile"]
    assert profile["subscribe"] == 1 and ("nickname" in profile) == (nickname is not None)

    await rig.say(openid, "我的订单到哪了", 300_001)
    await rig.say(openid, "谢谢", 300_002)
    await asyncio.sleep(0.2)
    assert rig.wx.user_info_requests == 1, "the profile must be fetched once per follower"
    # Another instance (or a restart) finds the profile on the customer and does not ask.
    api = WechatApi(rig.wx.api_base, APP_ID, APP_SECRET)
    try:
        await Profiles(api, rig.store.customers).ensure(openid)
    finally:
        await api.close()
    assert rig.wx.user_info_requests == 1


async def test_an_agent_set_name_is_kept_and_an_empty_profile_is_no_error(
    make_rig: RigFactory,  # noqa: F811
) -> None:
    rig = await make_rig()
    stranger = "o-no-profile"  # user/info without nickname or language, as since 2021
    reply = parse_reply_xml(await _event(rig, stranger, "subscribe"))
    assert reply["Content"].strip()  # greeted all the same, in the default language
    assert (await rig.store.customers.find("wechat", stranger)) is not None

    openid = "o-named"
    await rig.say(openid, "你好", 300_101)
    customer = await rig.store.customers.find("wechat", openid)
    assert customer is not None
    await rig.store.customers.update(customer.id, name="王女士")
    rig.wx.add_follower(openid, nickname="wx-nick")
    await _event(rig, openid, "subscribe")
    after = await rig.store.customers.find("wechat", openid)
    assert after is not None and after.name == "王女士"


# ---------------------------------------------------------------------- unsubscribe


async def test_unsubscribe_is_recorded_cancels_pending_deliveries_and_closes_the_window(
    make_rig: RigFactory,  # noqa: F811
) -> None:
    rig = await make_rig(delivery={"max_attempts": 50, "max_backoff_seconds": 0.1})
    openid = "o-leaver"
    cid = await rig.held_by_agent(openid, 310_001)
    rig.wx.http_error_next(500, times=10_000)  # WeChat is down: the agent's message waits
    resp = await rig.send(cid, "您的退款明天到账")
    assert resp.status == 200
    waiting = (await resp.json())["message"]["id"]
    assert (await rig.states(cid))[waiting].status == "pending"

    assert await _event(rig, openid, "unsubscribe") == "success"
    state = (await rig.states(cid))[waiting]
    assert state.status == "failed" and "unsubscribed" in (state.error or "")
    attributes = await _wechat_attributes(rig, openid)
    assert attributes["following"] is False and attributes["unsubscribed_at"]

    view = await rig.transcript(cid)
    window = view["channel_window"]
    assert window["open"] is False and "unsubscribed" in window["closed_because"]
    notices = [m for m in view["messages"] if m["payload"].get("event") == "wechat_unsubscribed"]
    assert len(notices) == 1 and notices[0]["payload"]["cancelled"] == [waiting]
    assert notices[0]["payload"]["internal"] is True and notices[0]["delivery"] is None

    refused = await rig.send(cid, "还在吗？")
    assert refused.status == 409 and "unsubscribed" in (await refused.json())["message"]
    rig.wx.clear_faults()  # WeChat is back: still nothing goes to someone who left
    await asyncio.sleep(0.5)
    assert not any("退款" in t for t in rig.wx.texts(openid))


async def test_a_re_subscribe_is_greeted_again_and_reopens_the_window(
    make_rig: RigFactory,  # noqa: F811
) -> None:
    rig = await make_rig()
    openid = "o-comeback"
    first = parse_reply_xml(await _event(rig, openid, "subscribe", at=1_700_000_300))
    assert await _event(rig, openid, "unsubscribe", at=1_700_000_400) == "success"
    assert (await _wechat_attributes(rig, openid))["following"] is False
    again = parse_reply_xml(await _event(rig, openid, "subscribe", at=1_700_000_500))
    assert first["Content"].startswith("您好") and again["Content"].startswith("您好")
    greetings = [m for m in await rig.messages(openid) if m.sender == "bot"]
    assert [m.text.strip() for m in greetings] == [
        first["Content"].split("\n")[0],
        again["Content"].split("\n")[0],
    ]
    attributes = await _wechat_attributes(rig, openid)
    assert attributes["following"] is True and attributes["resubscribed"] is True
    customer_messages = [m for m in await rig.messages(openid) if m.sender == "customer"]
    assert [m.text for m in customer_messages] == ["/greet", "/greet"]
    cid = customer_messages[0].conversation_id
    window = (await rig.transcript(cid, agent="sam"))["channel_window"]  # the supervisor
    assert window["open"] is True and window["closed_because"] is None


# ---------------------------------------------------------------------- the menu


async def test_menu_clicks_become_commands_intents_and_texts(
    make_rig: RigFactory,  # noqa: F811
) -> None:
    rig = await make_rig(menu=MENU)
    openid = "o-clicker"
    await _event(rig, openid, "CLICK", "ORDER", at=1_700_001_001)
    await _event(rig, openid, "CLICK", "RETURNS", at=1_700_001_002)
    await _event(rig, openid, "CLICK", "NOT_IN_CONFIG", at=1_700_001_003)
    customer = [m for m in await rig.messages(openid) if m.sender == "customer"]
    assert [m.text for m in customer] == ["/order_status", "怎么退货", "/help"]
    assert customer[0].parse is not None
    assert customer[0].parse["intent"]["name"] == "order_status"
    assert customer[2].parse is not None and customer[2].parse["intent"]["name"] == "help"
    assert "NOT_IN_CONFIG" not in [m.text for m in await rig.messages(openid)]

    reply = await _event(rig, openid, "CLICK", "HUMAN", at=1_700_001_004)
    assert reply != "success"
    cid = customer[0].conversation_id
    assert (await rig.store.conversations.get(cid)).status in ("queued", "assigned")


async def test_a_view_is_recorded_and_not_answered(
    make_rig: RigFactory,  # noqa: F811
) -> None:
    rig = await make_rig(menu=MENU)
    openid = "o-viewer"
    await rig.say(openid, "你好", 320_001)
    before = await rig.messages(openid)
    url = "https://shop.example.com/"
    assert await _event(rig, openid, "VIEW", url, at=1_700_002_001) == "success"
    assert len(await rig.messages(openid)) == len(before)
    views = (await _wechat_attributes(rig, openid))["views"]
    assert [v["url"] for v in views] == [url]


async def test_a_menu_naming_an_unknown_intent_stops_the_start(
    make_rig: RigFactory,  # noqa: F811
) -> None:
    bad = [{"name": "查", "key": "LOOKUP", "intent": "order_stauts"}]
    with pytest.raises(ConfigError, match=r"connectors\.wechat\.menu: key LOOKUP: unknown intent"):
        await make_rig(menu=bad)


async def test_create_menu_at_start_pushes_it(
    make_rig: RigFactory,  # noqa: F811
) -> None:
    rig = await make_rig(menu=MENU, create_menu=True)
    for _ in range(100):
        if rig.wx.menu is not None:
            break
        await asyncio.sleep(0.02)
    assert rig.wx.menu is not None
    top = rig.wx.menu["button"]
    assert [b["name"] for b in top] == ["帮助", "服务", "人工"]
    assert top[1]["sub_button"][2] == {
        "type": "view",
        "name": "官网",
        "url": "https://shop.example.com/",
    }
    assert top[0] == {"type": "click", "name": "帮助", "key": "HELP"}
