"""What the server hands a browser for the widget: the script, the demo page, knowledge media."""

from __future__ import annotations

from aiohttp.test_utils import TestClient


async def test_the_widget_script_is_utf8_javascript_for_any_host(client: TestClient) -> None:
    resp = await client.get("/widget.js")
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert "/ws/widget" in await resp.text()


async def test_the_demo_page_embeds_the_widget_with_one_tag(client: TestClient) -> None:
    html = await (await client.get("/")).text()
    assert html.count('src="/widget.js"') == 1


async def test_knowledge_media_is_served_and_nothing_else(client: TestClient) -> None:
    ok = await client.get("/kb/media/delivery-timeline.svg")
    assert ok.status == 200 and "svg" in ok.headers["Content-Type"]
    for bad in ("/kb/media/missing.svg", "/kb/media/..%2Fen%2Fservice.md", "/kb/media/config.yml"):
        assert (await client.get(bad)).status == 404, bad
