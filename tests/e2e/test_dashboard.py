"""The supervisor dashboard in a real browser: Debian's Chromium driven by Playwright, against the
real server on a real port, with conversations made through the real webhook and agent API."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy.orm import Session

from bot.server.context import CONTEXT
from bot.store import models as m
from handoff.console.auth import COOKIE, CSRF_HEADER
from tests.apps import HOOK, PASSWORD
from tests.conftest import REPO
from tests.e2e.conftest import ServerFactory

GIBBERISH = ("qwzx plorb", "vrrm kzzt blaf", "xyzzy frobnicate quux")
CHARTS = ("chart-trend", "chart-frt", "chart-problems", "chart-categories", "chart-reasons")


@pytest.fixture
async def server(make_server: ServerFactory) -> TestServer:
    """The e2e server with Sue, a supervisor, besides Amy."""
    server = await make_server()
    context = server.app[CONTEXT]
    await context.store.agents.add("sue", "Sue", role="supervisor", languages=["zh", "en"])
    await context.accounts.set_password("sue", PASSWORD)
    return server


async def _say(http: aiohttp.ClientSession, site: str, sender: str, text: str) -> str:
    async with http.post(f"{site}{HOOK}", json={"sender": sender, "message": text}) as resp:
        assert resp.status == 200, await resp.text()
        return resp.headers["X-Relaydesk-Status"]


async def _make_conversations(site: str) -> None:
    """Through the product, over HTTP: a knowledge question the bot answers, gibberish that fails
    three times and is escalated, and "转人工"; Amy claims, replies to and resolves both
    handoffs; the customer who asked for a person rates 5 with a comment."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        assert await _say(http, site, "kb-1", "How long does delivery take?") == "bot"
        statuses = [await _say(http, site, "lost-1", line) for line in GIBBERISH]
        assert statuses[-1] == "queued"
        assert await _say(http, site, "human-1", "转人工") == "queued"

        login = {"username": "amy", "password": PASSWORD}
        async with http.post(f"{site}/api/console/login", json=login) as resp:
            assert resp.status == 200
            amy = {
                "Cookie": f"{COOKIE}={resp.cookies[COOKIE].value}",
                CSRF_HEADER: (await resp.json())["csrf"],
            }
        async with http.get(f"{site}/api/agent/queue", headers=amy) as resp:
            queue = (await resp.json())["queue"]
        assert len(queue) == 2
        for item in queue:
            path = f"{site}/api/agent/conversations/{item['conversation_id']}"
            for action, body in (("claim", None), ("send", {"text": "您好，我是 Amy"})):
                async with http.post(f"{path}/{action}", headers=amy, json=body) as resp:
                    assert resp.status == 200, (action, await resp.text())
            async with http.post(f"{path}/resolve", headers=amy) as resp:
                assert resp.status == 200
        assert await _say(http, site, "human-1", "5 很满意") == "resolved"


async def _login(page: Any, site: str, username: str, name: str) -> None:
    await page.goto(f"{site}/console")
    await page.get_by_test_id("login-username").fill(username)
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await page.get_by_test_id("me-name").filter(has_text=name).wait_for()


def _card(page: Any, metric: str) -> Any:
    return page.locator(f'[data-testid="dash-card"][data-metric="{metric}"] .card-value')


async def test_a_supervisor_reads_the_dashboard(site: str, browser: Any, artifacts: Path) -> None:
    await _make_conversations(site)
    context = await browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US")
    page = await context.new_page()
    await _login(page, site, "sue", "Sue")
    problems: list[str] = []  # script errors and CSP refusals on the dashboard
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    await page.goto(f"{site}/console/dashboard")

    # The headline cards: three conversations; the bot's is still going, so it is open and in
    # no outcome figure: both closed ones went to a person.
    await _card(page, "conversations").filter(has_text=re.compile(r"^3$")).wait_for()
    assert await page.get_by_test_id("dash-card").count() == 11
    assert (await _card(page, "open").inner_text()) == "1"
    assert (await _card(page, "containment_rate").inner_text()) == "0%"
    assert (await _card(page, "escalation_rate").inner_text()) == "100%"
    # Closed minutes ago: too recent to tell whether the customer comes back within 7 days.
    fcr = page.locator('[data-testid="dash-card"][data-metric="first_contact_resolution_rate"]')
    assert await fcr.get_attribute("data-value") == ""  # shown as "—", read as "no data"
    fcr_sub = page.locator('[data-metric="first_contact_resolution_rate"] .card-sub')
    assert "2 closed too recently to tell" in await fcr_sub.inner_text()
    assert (await _card(page, "csat_mean_100").inner_text()) == "100"
    assert (await _card(page, "sla_breaches").inner_text()) == "0"
    assert re.fullmatch(r"[\d.]+ s", await _card(page, "human_first_response_p50_s").inner_text())
    today = datetime.now(UTC).date().isoformat()
    assert await page.locator("#f-to").input_value() == today
    assert await page.get_by_test_id("dash-error").is_hidden()

    # Every chart is drawn, with DOM-built SVG.
    trend = page.get_by_test_id("chart-trend")
    assert await trend.evaluate("n => n.tagName") == "svg"
    assert await trend.locator("path.line.line-conv:not(.legend-line)").count() == 1
    assert await trend.locator("path.line.line-cont:not(.legend-line)").count() == 1
    for testid in CHARTS[1:]:
        assert await page.get_by_test_id(testid).locator("rect.bar").count() > 0, testid
    assert await page.get_by_test_id("chart-frt").locator("path.sla-mark").count() == 1
    assert "SLA 30 s" in (await page.get_by_test_id("chart-frt").text_content() or "")
    reasons = page.get_by_test_id("chart-reasons")
    assert await reasons.locator("rect.bar").count() == 2
    assert "Asked for a person" in (await reasons.text_content() or "")
    assert "Bot did not understand" in (await reasons.text_content() or "")
    # Screen readers get the figures as text.
    assert f"{today}: 3 conversations" in (await page.locator("#trend-desc").text_content() or "")

    # The gibberish is a knowledge gap; the answered question is not.
    gaps = page.get_by_test_id("gaps-table")
    for line in GIBBERISH:
        await gaps.get_by_text(line).first.wait_for()
    assert "How long does delivery take?" not in await gaps.inner_text()
    slices = page.get_by_test_id("slices-table")
    amy_row = slices.locator('tbody[data-slice="agent"] tr[data-key="amy"]')
    assert (await amy_row.locator("td").first.inner_text()) == "2"
    assert await amy_row.locator("th").get_attribute("title") == "amy"  # the username: a tooltip
    breaches = page.get_by_test_id("breaches-table")
    assert "No SLA breaches" in await breaches.inner_text()
    assert await page.locator("#phrases-zh-body tr").count() >= 1

    # A CSV link downloads the table with the page's session and the current filters.
    links = page.get_by_test_id("csv-link")
    assert await links.count() == 11
    series = page.locator('[data-testid="csv-link"][data-table="series"]')
    href = await series.get_attribute("href")
    assert href is not None and "table=series" in href and f"to={today}" in href
    resp = await page.request.get(site + href)
    assert resp.status == 200 and resp.headers["content-type"].startswith("text/csv")
    text = (await resp.body()).decode("utf-8")
    assert text.startswith("\ufeffkey,conversations,")
    gaps_href = await page.locator('[data-testid="csv-link"][data-table="gaps"]').get_attribute(
        "href"
    )
    gaps_csv = (await (await page.request.get(f"{site}{gaps_href}")).body()).decode("utf-8")
    assert gaps_csv.startswith("\ufefflabel,count,") and "qwzx plorb" in gaps_csv

    await page.screenshot(path=str(artifacts / "dashboard.png"))
    shots = REPO / "docs" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(artifacts / "dashboard.png", shots / "dashboard.png")

    # Slice filters take their choices from the answer; applying one narrows every figure.
    await page.locator("#f-agent").select_option("amy")
    await page.get_by_test_id("dash-apply").click()
    await _card(page, "conversations").filter(has_text=re.compile(r"^2$")).wait_for()
    assert (await _card(page, "open").inner_text()) == "0"
    assert "agent=amy" in (await series.get_attribute("href") or "")
    assert "agent=amy" in page.url  # a reload keeps the view
    options = await page.locator("#f-channel option").all_inner_texts()
    assert options == ["All", "REST API"]

    # Keyboard: a preset is a button; Enter on it applies the period at once.
    await page.get_by_role("button", name="Last 7 days").focus()
    await page.keyboard.press("Enter")
    await page.locator('.preset[data-preset="7"][aria-pressed="true"]').wait_for()
    await page.locator("#f-granularity").select_option("week")
    await page.get_by_test_id("dash-apply").focus()
    await page.keyboard.press("Enter")
    await page.locator("#dash-status").filter(has_text="by week").wait_for()
    assert "-W" in (await page.locator("#trend-desc").text_content() or "")

    # A period the API would refuse is caught with a message next to the form.
    await page.locator("#f-from").fill("2026-12-31")
    await page.locator("#f-to").fill("2026-12-01")
    await page.get_by_test_id("dash-apply").click()
    error = page.get_by_test_id("dash-error")
    await error.filter(has_text="“To” is before “From”.").wait_for()
    assert await page.locator("#f-to").get_attribute("aria-invalid") == "true"

    # Chinese: the whole page, the data stays as it was.
    await page.locator("#lang-select").select_option("zh")
    assert await page.get_by_test_id("dash-apply").inner_text() == "应用"
    assert await page.evaluate("document.documentElement.lang") == "zh-CN"
    label = page.locator('[data-testid="dash-card"][data-metric="conversations"] .card-label')
    assert await label.inner_text() == "会话数"
    assert "客户要求人工" in (await reasons.text_content() or "")
    assert await error.inner_text() == "“结束”早于“开始”。"
    assert problems == []
    await context.close()


async def test_a_plain_agent_and_a_stranger_are_turned_away(site: str, browser: Any) -> None:
    context = await browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US")
    page = await context.new_page()
    await page.goto(f"{site}/console/dashboard")
    link = page.get_by_test_id("login-link")
    await link.wait_for()
    assert await link.get_attribute("href") == "/console"
    assert await page.locator("#dash").is_hidden()

    await _login(page, site, "amy", "Amy")
    await page.goto(f"{site}/console/dashboard")
    refused = page.get_by_test_id("dash-forbidden")
    await refused.wait_for()
    assert "supervisors and admins only" in await refused.inner_text()
    assert await page.get_by_role("heading", name="Supervisors only").is_visible()
    assert await page.locator("#dash").is_hidden()
    assert await page.get_by_test_id("dash-card").count() == 0
    await context.close()

    zh = await browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    page = await zh.new_page()
    await _login(page, site, "amy", "Amy")
    await page.goto(f"{site}/console/dashboard")
    await page.get_by_test_id("dash-forbidden").filter(has_text="仅对主管和管理员开放").wait_for()
    await zh.close()


async def _turn(http: aiohttp.ClientSession, site: str, sender: str, text: str) -> str:
    """One REST turn; the conversation it went to."""
    async with http.post(f"{site}{HOOK}", json={"sender": sender, "message": text}) as resp:
        assert resp.status == 200, await resp.text()
        cid: str = (await resp.json())[-1]["custom"]["conversation_id"]
        return cid


async def _late_and_low(server: TestServer, site: str) -> tuple[str, datetime]:
    """Li Lei asks for a person; Bo Wang (username "bo") answers him two minutes after he was
    queued, resolves, and Li Lei rates 1. A bot chat stays open beside it. The conversation's
    id and the time it was queued."""
    store = server.app[CONTEXT].store
    await store.agents.add(
        "bo",
        "Bo Wang",
        skills=["after_sales", "pre_sales"],
        languages=["zh", "en"],
        status="online",
    )
    await server.app[CONTEXT].accounts.set_password("bo", PASSWORD)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        assert await _say(http, site, "kb-1", "How long does delivery take?") == "bot"
        cid = await _turn(http, site, "li-1", "转人工")
        conv = await store.conversations.get(cid)
        await store.customers.update(conv.customer_id, name="Li Lei")
        async with http.post(
            f"{site}/api/console/login", json={"username": "bo", "password": PASSWORD}
        ) as resp:
            assert resp.status == 200
            bo = {
                "Cookie": f"{COOKIE}={resp.cookies[COOKIE].value}",
                CSRF_HEADER: (await resp.json())["csrf"],
            }
        path = f"{site}/api/agent/conversations/{cid}"
        for action, body in (("claim", None), ("send", {"text": "您好，我是 Bo"})):
            async with http.post(f"{path}/{action}", headers=bo, json=body) as resp:
                assert resp.status == 200, (action, await resp.text())
        async with http.post(f"{path}/resolve", headers=bo) as resp:
            assert resp.status == 200
        assert await _say(http, site, "li-1", "1 太慢了") == "resolved"

    def late(s: Session) -> datetime:
        h = s.query(m.Handoff).filter(m.Handoff.conversation_id == cid).one()
        reply = h.first_agent_reply_at
        assert reply is not None
        h.queued_at = reply - timedelta(minutes=2)
        queued: datetime = h.queued_at
        s.commit()
        return queued if queued.tzinfo else queued.replace(tzinfo=UTC)

    return cid, await store.db.run(late)


FLOWS: dict[str, dict[str, Any]] = {
    "desktop-en": {
        "viewport": {"width": 1280, "height": 800},
        "locale": "en-US",
        "timezone_id": "America/New_York",
    },
    "phone-zh": {
        "viewport": {"width": 390, "height": 844},
        "is_mobile": True,
        "has_touch": True,
        "locale": "zh-CN",
        "timezone_id": "Asia/Shanghai",
    },
}
WORDS = {
    "desktop-en": {"breaches": "SLA breaches", "waited": "2 min 0 s", "low": "Low ratings"},
    "phone-zh": {"breaches": "SLA 超时明细", "waited": "2 分 0 秒", "low": "差评"},
}


@pytest.mark.parametrize("flow", list(FLOWS))
async def test_breach_and_low_rating_rows_open_the_transcript(
    server: TestServer, site: str, browser: Any, flow: str, artifacts: Path
) -> None:
    """The rows that name a conversation name the customer, the channel, the time (in the
    viewer's zone and language) and the agent by display name, and link to the transcript in
    the console; on a phone they read as cards and the link is tapped."""
    cid, queued = await _late_and_low(server, site)
    options = FLOWS[flow]
    context = await browser.new_context(**options)
    page = await context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    await _login(page, site, "sue", "Sue")
    await page.goto(f"{site}/console/dashboard")
    words = WORDS[flow]
    await page.get_by_role("heading", name=words["breaches"], exact=True).wait_for()

    row = page.get_by_test_id("breaches-table").locator(f'tr[data-conversation="{cid}"]')
    link = row.get_by_test_id("transcript-link")
    await link.wait_for()
    assert await link.inner_text() == "Li Lei"
    assert await link.get_attribute("href") == f"/console#conversation={cid}"
    cells = await row.locator("td").all_inner_texts()
    assert cells[1] in ("REST API", "REST 接口")
    agent = row.locator("td[data-username]")
    assert await agent.inner_text() == "Bo Wang" and await agent.get_attribute("title") == "bo"
    assert cells[-1] == words["waited"]
    # The queueing time in the viewer's own zone, in their words: never the UTC or ISO form.
    local = queued.astimezone(ZoneInfo(str(options["timezone_id"])))
    when = cells[2]
    assert "UTC" not in when and "T" not in when.replace("Thu", "").replace("Tue", "")
    hour = local.hour if flow == "phone-zh" else (local.hour % 12 or 12)
    assert f"{hour}:{local.minute:02d}" in when, (when, local)
    assert (await row.locator("time").get_attribute("datetime") or "").endswith("Z")

    low = page.get_by_test_id("low-ratings-table").locator(f'tr[data-conversation="{cid}"]')
    assert "1 ★" in await low.inner_text()
    assert await low.locator("td[data-username]").inner_text() == "Bo Wang"
    assert await page.get_by_role("heading", name=words["low"], exact=True).is_visible()
    # The agent slice and the agent filter by display name.
    bo_row = page.get_by_test_id("slices-table").locator(
        'tbody[data-slice="agent"] tr[data-key="bo"]'
    )
    assert await bo_row.locator("th").inner_text() == "Bo Wang"
    assert "Bo Wang" in await page.locator("#f-agent option").all_inner_texts()
    assert (await _card(page, "open").inner_text()) == "1"  # the bot chat still going

    await page.get_by_test_id("breaches-table").screenshot(
        path=str(artifacts / f"dashboard-breaches-{flow}.png")
    )
    if options.get("is_mobile"):
        # One card per row: the link sits inside the phone's width, big enough to tap.
        box = await link.bounding_box()
        assert box is not None and box["x"] + box["width"] <= 390 and box["height"] >= 30
        await link.scroll_into_view_if_needed()
        await link.tap()
    else:
        await link.click()
    await page.wait_for_url(re.compile(rf"/console#conversation={cid}$"))
    assert problems == []
    await context.close()


async def _proactive_ledger(server: TestServer) -> None:
    """Through the store's ledger API, an hour ago: three proactive messages sent on Telegram
    (two delivered, one of those answered), one held back by the weekly cap and two because no
    channel reached the customer; one customer opted out. Times are explicit (the
    server's own scheduler shares this process's clock); the rows are due a month ahead, so
    that scheduler never takes them, and are claimed here as it would."""
    store = server.app[CONTEXT].store
    ledger = store.proactive
    at = datetime.now(UTC) - timedelta(hours=1)
    later = at + timedelta(days=30)
    ids = []
    for n in range(6):
        customer = await store.customers.for_identity("telegram", f"tg-pro-{n}")
        event, _ = await store.customer_events.record(
            "shop", f"evt-pro-{n}", "cart_abandoned", customer.id, {"product": "伞"}, at
        )
        row, _ = await ledger.schedule("cart_reminder", customer.id, event.id, later)
        ids.append(row.id)
    assert {r.id for r in await ledger.due(later)} == set(ids)
    for i in ids[:3]:
        assert await ledger.mark_sent(
            i, message_id=None, conversation_id=None, channel="telegram", at=at
        )
    for i in ids[:2]:
        assert await store.proactive_outcomes.mark_delivered(i, at)
    assert await store.proactive_outcomes.mark_replied(ids[0], at + timedelta(minutes=1))
    assert await ledger.suppress(ids[3], "cap", at=at)
    assert await ledger.suppress(ids[4], "unreachable", at=at)
    assert await ledger.suppress(ids[5], "unreachable", at=at)
    assert await store.opt_outs.opt_out(customer.id, "telegram", "keyword")  # the last one


PROACTIVE_WORDS = {
    "desktop-en": {
        "heading": "Proactive contact",
        "cap": "Weekly cap reached",
        "participation": "Participation rate",
    },
    "phone-zh": {"heading": "主动触达", "cap": "已达每周上限", "participation": "参与率"},
}


@pytest.mark.parametrize("flow", list(FLOWS))
async def test_the_proactive_contact_panel(
    server: TestServer, site: str, browser: Any, flow: str, artifacts: Path
) -> None:
    """The "Proactive contact / 主动触达" panel: sent, delivered, replied, converted, the
    participation rate (replied ÷ delivered) and the messages held back by reason, in the
    viewer's language; on a phone it fits the screen's width."""
    await _proactive_ledger(server)
    options = FLOWS[flow]
    words = PROACTIVE_WORDS[flow]
    context = await browser.new_context(**options)
    page = await context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    await _login(page, site, "sue", "Sue")
    await page.goto(f"{site}/console/dashboard")
    panel = page.get_by_test_id("proactive-panel")
    await panel.get_by_role("heading", name=words["heading"], exact=True).wait_for()

    def figure(metric: str) -> Any:
        return panel.locator(f'[data-testid="proactive-card"][data-metric="{metric}"] .card-value')

    assert await figure("sent").inner_text() == "3"
    assert await figure("delivered").inner_text() == "2"
    assert await figure("replied").inner_text() == "1"
    assert await figure("converted").inner_text() == "0"
    assert await figure("participation_rate").inner_text() == "50%"  # 1 of 2 delivered
    assert await figure("suppressed").inner_text() == "3"  # quiet hours only postpone
    assert await figure("opt_outs").inner_text() == "1"
    rate = panel.locator('[data-testid="proactive-card"][data-metric="participation_rate"]')
    assert words["participation"] in await rate.inner_text()
    reasons = panel.get_by_test_id("proactive-reasons")
    cap = reasons.locator('tr[data-reason="cap"]')
    assert await cap.locator("td").all_inner_texts() == [words["cap"], "1"]
    assert await reasons.locator('tr[data-reason="unreachable"] td.num').inner_text() == "2"
    # Quiet hours only postpone (the analytics test counts them): listed, not in the total.
    assert await reasons.locator('tr[data-reason="quiet_hours"] td.num').inner_text() == "0"
    assert await reasons.locator('tr[data-reason="opt_out"] td.num').inner_text() == "0"
    assert "null" not in await panel.inner_text()  # optional parts left out, not written out
    rules = panel.get_by_test_id("proactive-rules")
    assert await rules.locator('tr[data-rule="cart_reminder"] td.num').inner_text() == "3"

    if options.get("is_mobile"):
        box = await panel.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
        # Nothing in the panel is wider than the panel: no sideways scrolling.
        assert await panel.evaluate("n => n.scrollWidth <= n.clientWidth")
        cards = panel.get_by_test_id("proactive-card")
        first, second = await cards.nth(0).bounding_box(), await cards.nth(1).bounding_box()
        assert first is not None and second is not None
        assert first["y"] == second["y"]  # two figures to a row
    else:
        # A period without proactive messages: zeros, and no rate rather than 0%.
        await page.locator("#f-from").fill("2026-01-01")
        await page.locator("#f-to").fill("2026-01-31")
        await page.get_by_test_id("dash-apply").click()
        await panel.get_by_test_id("proactive-empty").wait_for()
        assert await figure("sent").inner_text() == "0"
        assert await figure("participation_rate").inner_text() == "—"
    await panel.screenshot(path=str(artifacts / f"dashboard-proactive-{flow}.png"))
    assert problems == []
    await context.close()
