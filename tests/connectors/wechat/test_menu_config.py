"""The `connectors.wechat` menu and template settings on their own: errors that name the key,
WeChat's menu limits, what each key says to the bot, the template bodies, and the
`relaydesk wechat menu` command against the stand-in (which checks menus as WeChat does)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from bot.cli import main
from bot.errors import ConfigError
from connectors.wechat.admin import create_menu
from connectors.wechat.menu import actions, check_intents, menu_body
from connectors.wechat.settings import WechatSettings
from connectors.wechat.templates import Templates, values
from tests.standins.wechat_api import WechatStandIn

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
]


def _error(**section: Any) -> str:
    with pytest.raises(ValidationError) as info:
        WechatSettings(**section)
    return str(info.value)


def test_each_key_maps_to_what_the_bot_reads() -> None:
    settings = WechatSettings(menu=MENU)
    assert actions(settings.menu) == {
        "HELP": "/help",
        "ORDER": "/order_status",
        "RETURNS": "怎么退货",
    }
    body = menu_body(settings.menu)
    assert body["button"][0] == {"type": "click", "name": "帮助", "key": "HELP"}
    assert body["button"][1]["sub_button"][2]["type"] == "view"


@pytest.mark.parametrize(
    ("menu", "message"),
    [
        ([{"name": "a", "key": "K1", "command": "help", "text": "x"}], "key K1: give exactly one"),
        ([{"name": "a", "key": "K2"}], "key K2: give exactly one"),
        ([{"name": "a", "key": "K3", "intent": "Not An Intent"}], "key K3: intent"),
        ([{"name": "a", "key": "K4", "command": "reboot"}], "command"),
        ([{"name": "a", "command": "help"}], "give key (a CLICK) or url"),
        ([{"name": "a", "url": "ftp://x"}], "url must be http(s)"),
        ([{"name": "a", "key": "K", "text": "x"}, {"name": "b", "key": "K", "text": "y"}],
         "key K: used by two"),
        ([{"name": f"b{n}", "key": f"K{n}", "text": "x"} for n in range(4)], "at most 3 buttons"),
        ([{"name": "超过四个汉字的名字", "key": "K5", "text": "x"}], "over 16 bytes"),
        ([{"name": "g", "sub_button": [{"name": f"s{n}", "key": f"S{n}", "text": "x"}
                                       for n in range(6)]}], "at most 5"),
        ([{"name": "a", "key": "K" * 129, "text": "x"}], "1 to 128 bytes"),
    ],
    ids=["two-actions", "no-action", "bad-intent", "bad-command", "no-key", "ftp", "dup-key",
         "four-buttons", "long-name", "six-subs", "long-key"],
)  # fmt: skip
def test_a_bad_menu_is_refused_naming_the_key(menu: list[dict[str, Any]], message: str) -> None:
    error = _error(menu=menu)
    assert message in error and "menu" in error


def test_intents_are_checked_against_the_model() -> None:
    settings = WechatSettings(menu=MENU)
    check_intents(settings.menu, ["order_status", "help"])
    check_intents(settings.menu, [])  # an NLU that lists no intents: not checked
    with pytest.raises(ConfigError, match="key ORDER: unknown intent 'order_status'; allowed"):
        check_intents(settings.menu, ["greet", "help"])


def test_templates_name_their_placeholders_and_fill_them() -> None:
    assert "fields.first: unknown placeholder {name}" in _error(
        templates={"agent_replied": {"template_id": "t", "fields": {"first": "Hi {name}"}}}
    )
    assert "url must be http(s)" in _error(
        templates={"ticket_update": {"template_id": "t", "url": "x", "fields": {"a": "b"}}}
    )
    templates = Templates(
        agent_replied={"template_id": "ta", "fields": {"k": "{agent}: {text}"}},
        ticket_update={"template_id": "tt", "fields": {"k": "{ticket} {time}"}},
    )
    at = datetime(2026, 12, 7, 3, 4, tzinfo=UTC)
    assert templates.for_message("bot", {}) is None
    kind, ticket = templates.for_message("bot", {"ticket": "T-1001"}) or ("", None)
    assert kind == "ticket_update" and ticket is not None
    assert ticket.body("o1", values("x", None, "T-1001", at))["data"] == {
        "k": {"value": "T-1001 2026-12-07 03:04"}
    }
    kind, agent = templates.for_message("agent", {}) or ("", None)
    assert kind == "agent_replied" and agent is not None
    assert agent.body("o1", values("hello", "Amy", None, at)) == {
        "touser": "o1",
        "template_id": "ta",
        "data": {"k": {"value": "Amy: hello"}},
    }


def _config(tmp_path: Path, wechat: dict[str, Any]) -> Path:
    """A config with nothing but the WeChat section (the rest takes its defaults)."""
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump({"connectors": {"wechat": wechat}}, allow_unicode=True))
    return path


async def test_the_menu_command_creates_the_menu_on_wechat() -> None:
    async with WechatStandIn() as wx:
        settings = WechatSettings(
            app_id=wx.appid, app_secret=wx.secret, api_base=wx.api_base, menu=MENU
        )
        body = await create_menu(settings)
        assert wx.menu == body and wx.menu["button"][1]["name"] == "服务"
        # What WeChat refuses is reported, with its errcode.
        wx.fail_next(40018, endpoint="/cgi-bin/menu/create")
        with pytest.raises(ConfigError, match="40018"):
            await create_menu(settings)
    with pytest.raises(ConfigError, match=r"wechat\.app_id, connectors\.wechat\.app_secret"):
        await create_menu(WechatSettings(menu=MENU))
    with pytest.raises(ConfigError, match="no buttons"):
        await create_menu(WechatSettings(app_id="a", app_secret="b"), dry_run=True)


def test_relaydesk_wechat_menu_dry_run_prints_the_body(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _config(tmp_path, {"menu": MENU})
    assert main(["wechat", "menu", "--config", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert '"key": "ORDER"' in out and "服务" in out
    bad = _config(tmp_path, {"menu": [{"name": "a", "key": "K9"}]})
    assert main(["wechat", "menu", "--config", str(bad), "--dry-run"]) == 1
    assert "connectors.wechat.menu" in capsys.readouterr().err
