"""A restart while a customer and an agent are chatting (issue 20), in a real Chromium against a
real `relaydesk run` process: the customer in the widget asks for a person, Amy claims in the
console, they exchange lines; the process gets SIGTERM. Both pages say "reconnecting" within
2 s (the sockets were closed with 1012, not left open and silent), the process is gone within
5 s, and both type while it is away. A new process on the same port and database comes up;
both pages recover by themselves, and every line shows exactly once on both sides, in order.
Run on a desktop in English and on a phone in Chinese."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from bot.config import Config
from bot.nlu.pipeline import NLUPipeline, train_model
from tests.apps import PASSWORD
from tests.kit.servers import Instance, add_agents, logs_on_failure, write_config

pytestmark = pytest.mark.slow
SHOWN_WITHIN_MS = 2000  # issue 20: both sides show "reconnecting" within 2 s of the SIGTERM
EXIT_BOUND_S = 5.0
BACK_WITHIN_MS = 30_000  # after the new process is ready: the 10 s back-off cap, with room

SIZES: dict[str, dict[str, Any]] = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "is_mobile": True,
        "has_touch": True,
        "device_scale_factor": 2,
    },
}
T = {
    "en": {
        "locale": "en-US",
        "ask": "I want to talk to a human agent please",
        "widget_retry": "Reconnecting",
        "console_retry": "Reconnecting…",
        "live": "Live",
        "lines": [
            ("agent", "Hi, this is Amy. How can I help?"),
            ("customer", "My screen is cracked"),
            ("agent", "Sorry to hear that. Which model is it?"),
            ("customer", "Kite X6, typed while you were restarting"),  # in the gap
            ("agent", "Thanks, typed while the server was away"),  # in the gap
            ("customer", "Is a repair free?"),
            ("agent", "Yes, within the first year"),
        ],
    },
    "zh": {
        "locale": "zh-CN",
        "ask": "转人工",
        "widget_retry": "正在重新连接",
        "console_retry": "正在重连…",
        "live": "已连接",
        "lines": [
            ("agent", "您好，我是 Amy，请问有什么可以帮您？"),
            ("customer", "我的屏幕摔裂了"),
            ("agent", "很抱歉，请问是哪个型号？"),
            ("customer", "Kite X6，重启期间发送"),
            ("agent", "好的，服务器不在时输入的"),
            ("customer", "维修免费吗？"),
            ("agent", "一年内免费"),
        ],
    },
}
GAP = (3, 4)  # the indexes of the lines typed while no process was running


@pytest.fixture(scope="module")
def model_dir(repo_config: Config, trained: NLUPipeline) -> Path:
    info, _ = train_model(repo_config)  # the session's model, found by its fingerprint
    return info.path


@pytest.mark.parametrize(("size", "lang"), [("desktop", "en"), ("phone", "zh")])
async def test_a_restart_mid_chat_shows_reconnecting_and_loses_nothing(
    repo_config: Config,
    model_dir: Path,
    kb_dir: Path,
    tmp_path: Path,
    browser: Any,
    artifacts: Path,
    size: str,
    lang: str,
) -> None:
    s = T[lang]
    lines: list[tuple[str, str]] = s["lines"]  # type: ignore[assignment]
    url = f"sqlite:///{tmp_path / 'relaydesk.db'}"
    groups = list(repo_config.handoff.skill_groups)
    await add_agents(
        url, ["amy"], password=PASSWORD, skills=groups, languages=["zh", "en"], status="online"
    )
    config = write_config(repo_config, tmp_path / "server", storage_url=url, kb_dir=kb_dir)
    old, new = Instance("old", config, model_dir), Instance("new", config, model_dir)
    new.port = old.port  # the same address: what a browser reconnects to
    async with logs_on_failure(old, new, lines=60), asyncio.timeout(300):
        await old.start()
        site = old.url

        # The customer asks for a person; Amy claims from the console.
        cctx = await browser.new_context(**SIZES[size], locale=s["locale"])
        customer = await cctx.new_page()
        await customer.goto(site)
        await customer.get_by_test_id("rd-launcher").click()
        if lang == "zh":  # the demo page is in English: the customer picks 中文 with the switch
            await customer.get_by_test_id("rd-lang").click()
            await customer.locator('[data-testid="rd-input"][placeholder="请输入消息…"]').wait_for()
        await _say(customer, str(s["ask"]))
        actx = await browser.new_context(**SIZES[size], locale=s["locale"])
        agent = await actx.new_page()
        await agent.goto(f"{site}/console")
        await agent.get_by_test_id("login-username").fill("amy")
        await agent.get_by_test_id("login-password").fill(PASSWORD)
        await agent.get_by_test_id("login-submit").click()
        conn = agent.get_by_test_id("conn")
        await conn.filter(has_text=str(s["live"])).wait_for()
        item = agent.get_by_test_id("queue-item").first
        await item.wait_for()
        await item.get_by_test_id("view").click()
        await agent.get_by_test_id("reply-claim").click()
        await agent.get_by_test_id("reply-lock").wait_for(state="hidden")

        for sender, text in lines[: GAP[0]]:
            await _line(customer, agent, sender, text)

        # SIGTERM: both pages say so within 2 s; the process is gone within 5 s.
        assert old.proc is not None
        signalled = time.monotonic()
        old.proc.send_signal(signal.SIGTERM)
        widget_conn = customer.get_by_test_id("rd-conn")
        try:
            await asyncio.gather(
                widget_conn.filter(has_text=str(s["widget_retry"])).wait_for(
                    timeout=SHOWN_WITHIN_MS
                ),
                agent.locator('#conn[data-state="down"]')
                .filter(has_text=str(s["console_retry"]))
                .wait_for(timeout=SHOWN_WITHIN_MS),
            )
        except Exception:
            await customer.screenshot(
                path=str(artifacts / f"restart-failed-widget-{size}-{lang}.png")
            )
            await agent.screenshot(
                path=str(artifacts / f"restart-failed-console-{size}-{lang}.png")
            )
            raise AssertionError(
                f"widget line {await widget_conn.text_content()!r} "
                f"(shown: {await widget_conn.is_visible()}), console "
                f"{await conn.text_content()!r} {await conn.get_attribute('data-state')!r}"
            ) from None
        shown_s = time.monotonic() - signalled
        await asyncio.wait_for(old.proc.wait(), 30)
        exit_s = time.monotonic() - signalled
        print(f"{size}/{lang}: reconnecting shown {shown_s:.2f} s, exit {exit_s:.2f} s")
        assert shown_s < SHOWN_WITHIN_MS / 1000
        assert exit_s < EXIT_BOUND_S, old.log_tail()
        await customer.screenshot(path=str(artifacts / f"restart-widget-{size}-{lang}.png"))
        await agent.screenshot(path=str(artifacts / f"restart-console-{size}-{lang}.png"))

        # Both type while nothing runs: the widget keeps its line to send again; the console
        # refuses to send into a dead connection and keeps the text in the box.
        await _say(customer, lines[GAP[0]][1])
        box = agent.get_by_test_id("reply-input")
        await box.fill(lines[GAP[1]][1])
        await agent.get_by_test_id("reply-send").click()
        assert await conn.get_attribute("data-state") == "down"
        assert await box.input_value() == lines[GAP[1]][1], "the agent's text was lost"

        # The new process: both recover by themselves.
        await new.start()
        await widget_conn.wait_for(state="hidden", timeout=BACK_WITHIN_MS)
        await conn.filter(has_text=str(s["live"])).wait_for(timeout=BACK_WITHIN_MS)
        # The customer's gap line is sent again and reaches the agent; then the agent's.
        await _shown(agent, "customer", lines[GAP[0]][1])
        await _shown(customer, "customer", lines[GAP[0]][1], widget=True)
        await agent.get_by_test_id("reply-send").click()
        await _shown(customer, "agent", lines[GAP[1]][1], widget=True)
        for sender, text in lines[GAP[1] + 1 :]:
            await _line(customer, agent, sender, text)

        # Every line exactly once on both sides, in the order said.
        said = [text for _, text in lines]
        widget_texts = await customer.get_by_test_id("rd-msg").all_inner_texts()
        console_texts = (
            await agent.get_by_test_id("transcript").get_by_test_id("msg").all_inner_texts()
        )
        assert _in_order(widget_texts, said) == said, widget_texts
        assert _in_order(console_texts, said) == said, console_texts
        await cctx.close()
        await actx.close()


async def _say(page: Any, text: str) -> None:
    box = page.get_by_test_id("rd-input")
    await box.fill(text)
    await box.press("Enter")


async def _line(customer: Any, agent: Any, sender: str, text: str) -> None:
    """One line said, and seen on the other side (and echoed on its own)."""
    if sender == "customer":
        await _say(customer, text)
    else:
        await agent.get_by_test_id("reply-input").fill(text)
        await agent.get_by_test_id("reply-send").click()
    await _shown(customer, sender, text, widget=True)
    await _shown(agent, sender, text)


async def _shown(page: Any, sender: str, text: str, *, widget: bool = False) -> None:
    found = page.locator(f'[data-testid="{"rd-msg" if widget else "msg"}"][data-sender="{sender}"]')
    await found.filter(has_text=text).first.wait_for(timeout=BACK_WITHIN_MS)


def _in_order(shown: list[str], said: list[str]) -> list[str]:
    """The said lines in the order the page shows them, each as often as it shows."""
    out: list[str] = []
    for text in shown:
        out.extend(line for line in said if line in text)
    return out
