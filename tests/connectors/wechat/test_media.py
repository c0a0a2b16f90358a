"""Files on WeChat through the media store: a customer's image fetched with media/get and kept
with the message; one that cannot be fetched noted on the message instead (never dropped); an
agent's image uploaded with media/upload and sent as an image message, inside the window."""

from __future__ import annotations

import hashlib
import shutil
import struct
import time
import zlib
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.server.context import CONTEXT
from bot.store.media import media_ref
from connectors.wechat import kb_images
from connectors.wechat.kb_images import KnowledgeImages, fallback, svg_rasteriser
from tests.connectors.wechat.test_wechat import (  # noqa: F401 (fixtures)
    ACCOUNT,
    RigFactory,
    _image_xml,
    make_rig,
    wx,
)
from tests.standins.wechat_api import MEDIA_UPLOAD_PATH

KB_MEDIA = Path(__file__).resolve().parents[3] / "knowledge" / "media"


def _png() -> bytes:
    """A 1×1 PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


async def test_a_customers_image_is_fetched_and_kept_with_the_message(
    make_rig: RigFactory,  # noqa: F811
) -> None:
    rig = await make_rig()
    png = _png()
    rig.wx.put_media("media_id_123", png, "image/png")
    resp = await rig.post(_image_xml("o-photo-kept", 500_001))
    assert resp.status == 200
    [message] = [m for m in await rig.messages("o-photo-kept") if m.sender == "customer"]
    assert message.text == "[image]"
    [ref] = message.payload["media"]
    assert ref["kind"] == "image" and ref["mime_type"] == "image/png" and ref["size"] == len(png)
    record, data = await rig.store.media.read(ref["id"])
    assert data == png and record.channel_file_id == "media_id_123"
    assert record.message_id == message.id and record.direction == "in"


async def test_an_image_wechat_cannot_give_is_noted_not_dropped(
    make_rig: RigFactory,  # noqa: F811
) -> None:
    rig = await make_rig()
    resp = await rig.post(_image_xml("o-photo-gone", 500_002))  # no such MediaId: 40007
    assert resp.status == 200
    [message] = [m for m in await rig.messages("o-photo-gone") if m.sender == "customer"]
    [ref] = message.payload["media"]
    assert ref["kind"] == "image" and "40007" in ref["error"] and "id" not in ref


async def test_an_agents_image_goes_up_and_out_as_an_image(
    make_rig: RigFactory,  # noqa: F811
) -> None:
    rig = await make_rig()
    openid = "o-gets-image"
    cid = await rig.held_by_agent(openid, 500_003)
    before = len(rig.wx.messages)
    png = _png()
    record = await rig.store.media.add(
        png, conversation_id=cid, direction="out", mime_type="image/png", filename="label.png"
    )
    message = await rig.store.messages.append(
        cid, "agent", "这是退货标签", payload={"media": [media_ref(record)]}
    )
    states = await rig.settle(cid)
    assert states[message.id].status == "sent", states[message.id]
    sent = rig.wx.messages[before:]
    assert [m["msgtype"] for m in sent] == ["text", "image"]
    assert sent[0]["content"] == "这是退货标签"
    [upload] = rig.wx.uploads
    assert upload["type"] == "image" and upload["size"] == len(png)
    assert upload["filename"] == "label.png"
    assert sent[1]["content"] == upload["media_id"]
    # Two WeChat messages: two of the window's five.
    parts = await rig.store.deliveries.parts(message.id)
    assert [(n, of) for n, of, _ in parts] == [(1, 2), (2, 2)]


# ------------------------------------------- knowledge images (connectors/wechat/kb_images.py)


def _kb_images(rig: Any, media_dir: Path) -> KnowledgeImages:
    """The running sender's knowledge images, reading from `media_dir` (a test's own folder)."""
    images = rig.client.app[CONTEXT].channels["wechat"].connector.sender.images
    assert isinstance(images, KnowledgeImages)
    images.media_dir = media_dir
    return images


async def test_a_knowledge_image_goes_as_an_image_uploaded_once_and_counted_in_the_window(
    make_rig: RigFactory,  # noqa: F811
    tmp_path: Path,
) -> None:
    rig = await make_rig()
    png = _png()
    (tmp_path / "label.png").write_bytes(png)
    images = _kb_images(rig, tmp_path)
    openid = "o-kb-image"
    cid = await rig.held_by_agent(openid, 500_010)
    before = len(rig.wx.messages)
    payload = {"image": "/kb/media/label.png", "caption": "退货标签"}
    first = await rig.store.messages.append(cid, "bot", "退货步骤", payload=payload)
    second = await rig.store.messages.append(cid, "bot", "再看一次", payload=payload)
    states = await rig.settle(cid)
    assert states[first.id].status == states[second.id].status == "sent", states
    sent = rig.wx.messages[before:]
    assert [m["msgtype"] for m in sent] == ["text", "image", "text", "image"]
    [upload] = rig.wx.uploads  # the second message reused the first upload's media_id
    assert upload["filename"] == "label.png" and upload["size"] == len(png)
    assert sent[1]["content"] == sent[3]["content"] == upload["media_id"]
    assert rig.wx.media[upload["media_id"]][0] == png
    # Each image is one message of the window: two parts per message.
    parts = await rig.store.deliveries.parts(first.id)
    assert [(n, of) for n, of, _ in parts] == [(1, 2), (2, 2)]
    # The window's five are used (the queue notice and these four): the customer writes again.
    assert (await rig.say(openid, "好的", 500_012))[0] == 200
    await rig.settle(cid)
    # WeChat forgot the upload early (40007): uploaded again, not sent as text.
    rig.wx.media.pop(upload["media_id"])
    third = await rig.store.messages.append(cid, "bot", "第三次", payload=payload)
    assert (await rig.settle(cid))[third.id].status == "sent"
    assert len(rig.wx.uploads) == 2 and rig.wx.messages[-1]["msgtype"] == "image"
    assert rig.wx.messages[-1]["content"] == rig.wx.uploads[1]["media_id"]
    # Three days on, the cached media_id has expired on WeChat's side: a fresh upload.
    digest = hashlib.sha256(png).hexdigest()
    old = images._uploads[digest]
    images._uploads[digest] = replace(old, at=old.at - timedelta(days=3))
    fourth = await rig.store.messages.append(cid, "bot", "第四次", payload=payload)
    assert (await rig.settle(cid))[fourth.id].status == "sent"
    assert len(rig.wx.uploads) == 3


async def test_a_knowledge_svg_goes_as_a_png_and_a_failed_upload_as_its_caption(
    make_rig: RigFactory,  # noqa: F811
    tmp_path: Path,
) -> None:
    rig = await make_rig()
    if svg_rasteriser() is None:
        pytest.skip("cairosvg or libcairo2 missing: SVGs are not sent as images")
    shutil.copy(KB_MEDIA / "reset-password.svg", tmp_path)
    _kb_images(rig, tmp_path)
    openid = "o-kb-svg"
    cid = await rig.held_by_agent(openid, 500_011)
    before = len(rig.wx.messages)
    payload = {"image": "/kb/media/reset-password.svg", "caption": "我的 > 设置 > 安全"}
    msg = await rig.store.messages.append(cid, "bot", "重置密码", payload=payload)
    assert (await rig.settle(cid))[msg.id].status == "sent"
    assert [m["msgtype"] for m in rig.wx.messages[before:]] == ["text", "image"]
    [upload] = rig.wx.uploads
    assert upload["filename"] == "reset-password.png"
    data, mime = rig.wx.media[upload["media_id"]]
    assert data.startswith(b"\x89PNG") and mime == "image/png"
    # A refused upload: the caption goes in the image's place; the message is still sent.
    (tmp_path / "other.gif").write_bytes(b"GIF89a" + b"\x00" * 20)
    rig.wx.fail_next(40004, endpoint=MEDIA_UPLOAD_PATH)
    gif = {"image": "/kb/media/other.gif", "caption": "示意图"}
    refused = await rig.store.messages.append(cid, "bot", "看图", payload=gif)
    assert (await rig.settle(cid))[refused.id].status == "sent"
    assert rig.wx.texts(openid)[-2:] == ["看图", "[图片] 示意图"]
    # An image WeChat cannot be sent (a missing file): the message goes without it.
    assert (await rig.say(openid, "好的", 500_013))[0] == 200  # the window's five are used
    await rig.settle(cid)
    missing = {"image": "/kb/media/nowhere.png"}
    plain = await rig.store.messages.append(cid, "bot", "没有图", payload=missing)
    assert (await rig.settle(cid))[plain.id].status == "sent"
    assert rig.wx.messages[-1] == {**rig.wx.messages[-1], "msgtype": "text", "content": "没有图"}


async def test_a_location_keeps_its_marker_and_its_place_for_the_agent(
    make_rig: RigFactory,  # noqa: F811
) -> None:
    rig = await make_rig()
    openid = "o-where"
    xml = (
        "<xml>"
        f"<ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime>"
        "<MsgType><![CDATA[location]]></MsgType>"
        "<Location_X>23.134521</Location_X><Location_Y>113.358803</Location_Y>"
        "<Scale>20</Scale><Label><![CDATA[广州市天河区天河路 208 号]]></Label>"
        "<MsgId>500020</MsgId>"
        "</xml>"
    )
    assert (await rig.post(xml)).status == 200
    [message] = [m for m in await rig.messages(openid) if m.sender == "customer"]
    assert message.text == "[location]"
    place = {"lat": 23.134521, "lon": 113.358803, "label": "广州市天河区天河路 208 号", "scale": 20}
    assert message.payload["location"] == place
    # The agent's transcript carries it (the console shows a line with an OpenStreetMap link).
    view = await rig.transcript(message.conversation_id, agent="sam")
    [shown] = [m for m in view["messages"] if m["id"] == message.id]
    assert shown["payload"]["location"] == place


def test_which_knowledge_images_wechat_is_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Raster files as they are; SVG only with a rasteriser; nothing outside the folder."""
    for name in ("a.png", "b.JPG", "c.gif", "d.svg", "e.webp"):
        (tmp_path / name).write_bytes(b"x")
    images = KnowledgeImages(None, tmp_path)  # type: ignore[arg-type]
    sendable = [
        n for n in ("a.png", "b.JPG", "c.gif", "e.webp") if images.file_of(f"/kb/media/{n}")
    ]
    assert sendable == ["a.png", "b.JPG", "c.gif"]
    assert images.file_of("/kb/media/../test_media.py") is None
    assert images.file_of("https://example.com/a.png") is None and images.file_of(None) is None
    monkeypatch.setattr(kb_images, "svg_rasteriser", lambda: None)
    assert images.file_of("/kb/media/d.svg") is None  # no libcairo2: left out, as before
    monkeypatch.setattr(kb_images, "svg_rasteriser", lambda: lambda **_: b"")
    assert images.file_of("/kb/media/d.svg") == (tmp_path / "d.svg").resolve()
    assert fallback("  ", "d.svg") == "[图片] d.svg" and fallback("图示", "d.svg") == "[图片] 图示"
