"""The media store's contract on SQLite and PostgreSQL (the `store` fixture runs each test on
both): a message and its files stored together, bytes kept once per SHA-256, limits refused with
the errors the endpoints turn into 413 and 415, and a failed download kept as a note."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.store.errors import NotFoundError
from bot.store.media import (
    DirectoryBlobs,
    MediaFailure,
    MediaLimits,
    MediaTooLargeError,
    MediaTypeError,
    SqlMedia,
)
from bot.store.sql_store import SqlStore

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.4\n" + b"x" * 64


@pytest.fixture
def media(store: SqlStore, tmp_path: Path) -> SqlMedia:
    m = SqlMedia(store.db, DirectoryBlobs(tmp_path / "media"), MediaLimits(max_bytes=1024))
    store.media = m
    return m


async def test_a_photo_is_stored_with_its_message_in_one_turn(
    store: SqlStore, media: SqlMedia, tmp_path: Path
) -> None:
    new = await media.prepare(
        PNG, mime_type="image/png", filename="../../etc/crack.png", channel_file_id="AgAD-1"
    )
    start = await store.turns.begin("telegram", "42", "[photo] the screen", media=[new])
    msg = start.inbound
    assert msg.payload["media"] == [
        {
            "id": new.id,
            "kind": "image",
            "mime_type": "image/png",
            "size": len(PNG),
            "filename": "crack.png",
        }
    ]
    (record,) = await media.of_message(msg.id)
    assert (record.conversation_id, record.direction, record.channel_file_id) == (
        start.conversation.id,
        "in",
        "AgAD-1",
    )
    assert record.created_at.tzinfo is not None
    got, data = await media.read(record.id)
    assert data == PNG and got == record
    (stored,) = await store.messages.of(start.conversation.id)
    assert stored.payload == msg.payload


async def test_the_same_bytes_are_kept_once_and_rows_stay_separate(
    store: SqlStore, media: SqlMedia, tmp_path: Path
) -> None:
    start = await store.turns.begin("web", "w1", "hi")
    conv = start.conversation.id
    a = await media.add(PNG, conversation_id=conv, direction="in")
    b = await media.add(PNG, conversation_id=conv, direction="out", filename="again.png")
    assert a.id != b.id and a.sha256 == b.sha256
    assert len([p for p in (tmp_path / "media").rglob("*") if p.is_file()]) == 1
    assert [r.id for r in await media.of_conversation(conv)] == [a.id, b.id]
    reply = await store.messages.append(conv, "agent", "", payload={"media": []})
    await media.attach(b.id, reply.id)
    assert [r.id for r in await media.of_message(reply.id)] == [b.id]
    with pytest.raises(NotFoundError):
        await media.attach("0" * 32, reply.id)


async def test_limits_refuse_size_type_and_disguised_files(
    store: SqlStore, media: SqlMedia
) -> None:
    with pytest.raises(MediaTooLargeError):
        await media.prepare(PNG + b"\x00" * 2048, mime_type="image/png")
    with pytest.raises(MediaTypeError):
        await media.prepare(b"MZ\x90\x00" * 10, mime_type="application/x-msdownload")
    with pytest.raises(MediaTypeError):  # says PNG, is not
        await media.prepare(b"<html><script>" * 4, mime_type="image/png")
    pdf = await media.prepare(PDF, mime_type="application/octet-stream", filename="bill.pdf")
    assert (pdf.kind, pdf.mime_type) == ("file", "application/pdf")


async def test_a_failed_download_keeps_the_message_with_a_note(
    store: SqlStore, media: SqlMedia
) -> None:
    start = await store.turns.begin(
        "telegram",
        "43",
        "[photo]",
        external_id="u1",
        media=[MediaFailure("image", "Telegram answered 502", "AgAD-2")],
    )
    (stored,) = await store.messages.of(start.conversation.id)
    assert stored.text == "[photo]"
    assert stored.payload["media"] == [
        {"kind": "image", "error": "could not fetch the file: Telegram answered 502"}
    ]
    assert await media.of_message(stored.id) == []
    assert await media.get("nope") is None
    with pytest.raises(NotFoundError):
        await media.read("f" * 32)
