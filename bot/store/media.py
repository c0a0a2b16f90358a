"""Customers' and agents' files: photos, documents, voice notes, with the message they came with.

Two parts behind one Protocol (`MediaStore`): a `media` table that says what each file is and
which conversation and message it belongs to, and a content store that keeps the bytes on disk
under their SHA-256, so a picture sent twice is kept once. A channel first `prepare`s the bytes
(limits checked, type sniffed, bytes written), then the message and its media rows are stored in
one transaction (`insert_rows`, called by the turn's `begin`), so a file never points at a
message that was not stored, and a message is never lost because its file was: a file that
could not be fetched is a `MediaFailure`, kept in the message's payload as a note.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.orm import Session

from bot import clock
from bot.errors import InputError, InputTooLargeError, UnsupportedMediaTypeError
from bot.store import models as m
from bot.store.engine import Database
from bot.store.errors import NotFoundError
from bot.store.tables import utc

MEDIA = cast(Table, m.Media.__table__)
KINDS = ("image", "file", "voice", "video", "sticker")
DIRECTIONS = ("in", "out")
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp", "application/pdf"})
MAX_FILENAME = 200


class MediaTooLargeError(InputTooLargeError):
    """A file over `media.max_bytes` (HTTP 413)."""


class MediaTypeError(UnsupportedMediaTypeError):
    """A file whose type is not in `media.allowed_types` (HTTP 415)."""


@dataclass(frozen=True)
class MediaLimits:
    max_bytes: int = DEFAULT_MAX_BYTES
    allowed_types: frozenset[str] = DEFAULT_TYPES

    def check_size(self, size: int) -> None:
        if size > self.max_bytes:
            raise MediaTooLargeError(f"file of {size} bytes is over the limit of {self.max_bytes}")
        if size == 0:
            raise InputError("empty file")

    def check_type(self, mime_type: str) -> None:
        if mime_type not in self.allowed_types:
            raise MediaTypeError(
                f"file type {mime_type} is not allowed; allowed: "
                + ", ".join(sorted(self.allowed_types))
            )


@dataclass(frozen=True)
class MediaRecord:
    id: str
    conversation_id: str
    message_id: int | None
    direction: str  # in | out
    kind: str  # image | file | voice | video | sticker
    mime_type: str
    size: int
    sha256: str
    filename: str | None
    channel_file_id: str | None  # the channel's own id for it (Telegram file_id, WeChat MediaId)
    created_at: datetime


@dataclass(frozen=True)
class NewMedia:
    """Bytes checked and written, their row not yet inserted (that happens with the message)."""

    kind: str
    mime_type: str
    size: int
    sha256: str
    filename: str | None = None
    channel_file_id: str | None = None
    id: str = field(default_factory=m.new_id)


@dataclass(frozen=True)
class MediaFailure:
    """A file the customer sent that could not be fetched or kept: the message is stored with
    this note in its payload instead."""

    kind: str
    error: str
    channel_file_id: str | None = None


def media_ref(item: NewMedia | MediaRecord | MediaFailure) -> dict[str, Any]:
    """How a message's payload refers to its file (`payload["media"]` is a list of these)."""
    if isinstance(item, MediaFailure):
        return {"kind": item.kind, "error": f"could not fetch the file: {item.error}"}
    return {
        "id": item.id,
        "kind": item.kind,
        "mime_type": item.mime_type,
        "size": item.size,
        "filename": item.filename,
    }


def sniff_mime(data: bytes) -> str | None:
    """The type the bytes themselves say, for the types we show; None when they say nothing we
    know (then the declared type is all there is)."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    return None


_SNIFFED = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp", "application/pdf"})


def kind_of(mime_type: str) -> str:
    if mime_type.startswith("image/"):
        return "image"
    if mime_type.startswith("video/"):
        return "video"
    if mime_type.startswith("audio/"):
        return "voice"
    return "file"


def clean_filename(name: str | None) -> str | None:
    """Keep a display name only: no directories, no control characters, bounded length."""
    if not name:
        return None
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip()
    return base[:MAX_FILENAME] or None


class BlobStore(Protocol):
    """Where the bytes are kept, by their SHA-256."""

    async def put(self, digest: str, data: bytes) -> None: ...

    async def get(self, digest: str) -> bytes: ...


class DirectoryBlobs:
    """Bytes in files under `root/ab/abcdef...`, written atomically (temp file, then rename), so
    a reader never sees half a file and a second writer of the same bytes changes nothing."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, digest: str) -> Path:
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise NotFoundError("no such file")
        return self.root / digest[:2] / digest

    def _put(self, digest: str, data: bytes) -> None:
        target = self.path(digest)
        if target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def put(self, digest: str, data: bytes) -> None:
        await asyncio.to_thread(self._put, digest, data)

    async def get(self, digest: str) -> bytes:
        try:
            return await asyncio.to_thread(self.path(digest).read_bytes)
        except FileNotFoundError as exc:
            raise NotFoundError("the file's bytes are missing from the media store") from exc


class MediaStore(Protocol):
    """Files with their messages; see the module docstring and /docs/channels.md."""

    limits: MediaLimits

    async def prepare(
        self,
        data: bytes,
        *,
        mime_type: str | None = None,
        filename: str | None = None,
        kind: str | None = None,
        channel_file_id: str | None = None,
    ) -> NewMedia:
        """Check the size and type (the type sniffed from the bytes where we know it), and
        write the bytes. MediaTooLargeError, MediaTypeError."""
        ...

    async def save(
        self,
        new: NewMedia,
        *,
        conversation_id: str,
        direction: str,
        message_id: int | None = None,
    ) -> MediaRecord: ...

    async def add(
        self,
        data: bytes,
        *,
        conversation_id: str,
        direction: str,
        mime_type: str | None = None,
        filename: str | None = None,
        kind: str | None = None,
        channel_file_id: str | None = None,
        message_id: int | None = None,
    ) -> MediaRecord: ...

    async def attach(self, media_id: str, message_id: int) -> None: ...

    async def get(self, media_id: str) -> MediaRecord | None: ...

    async def read(self, media_id: str) -> tuple[MediaRecord, bytes]: ...

    async def of_message(self, message_id: int) -> list[MediaRecord]: ...

    async def of_conversation(self, conversation_id: str) -> list[MediaRecord]: ...


def media_record(row: Any) -> MediaRecord:
    return MediaRecord(
        row.id,
        row.conversation_id,
        row.message_id,
        row.direction,
        row.kind,
        row.mime_type,
        row.size,
        row.sha256,
        row.filename,
        row.channel_file_id,
        utc(row.created_at) or row.created_at,
    )


def insert_rows(
    s: Session,
    conversation_id: str,
    message_id: int | None,
    direction: str,
    items: Sequence[NewMedia | MediaFailure],
) -> None:
    """The rows of a message's files, inside the caller's transaction (failures have none)."""
    if direction not in DIRECTIONS:
        raise InputError(f"media direction must be one of {DIRECTIONS}, got {direction!r}")
    rows = [
        {
            "id": n.id,
            "conversation_id": conversation_id,
            "message_id": message_id,
            "direction": direction,
            "kind": n.kind,
            "mime_type": n.mime_type,
            "size": n.size,
            "sha256": n.sha256,
            "filename": n.filename,
            "channel_file_id": n.channel_file_id,
            "created_at": clock.now(),
        }
        for n in items
        if isinstance(n, NewMedia)
    ]
    if rows:
        s.execute(insert(MEDIA), rows)


class SqlMedia:
    """`MediaStore` over the store's database and a directory of bytes."""

    def __init__(self, db: Database, blobs: BlobStore, limits: MediaLimits | None = None) -> None:
        self.db = db
        self.blobs = blobs
        self.limits = limits or MediaLimits()

    async def prepare(
        self,
        data: bytes,
        *,
        mime_type: str | None = None,
        filename: str | None = None,
        kind: str | None = None,
        channel_file_id: str | None = None,
    ) -> NewMedia:
        self.limits.check_size(len(data))
        declared = (mime_type or "").split(";", 1)[0].strip().lower() or None
        sniffed = sniff_mime(data)
        if sniffed is None and declared in _SNIFFED:
            # It says it is a picture or a PDF and its bytes say otherwise: refuse, so the
            # console never serves a disguised file under an image type.
            raise MediaTypeError(f"the file's content is not {declared}")
        actual = sniffed or declared or "application/octet-stream"
        self.limits.check_type(actual)
        if kind is not None and kind not in KINDS:
            raise InputError(f"media kind must be one of {KINDS}, got {kind!r}")
        digest = hashlib.sha256(data).hexdigest()
        await self.blobs.put(digest, data)
        return NewMedia(
            kind or kind_of(actual),
            actual,
            len(data),
            digest,
            clean_filename(filename),
            channel_file_id[:200] if channel_file_id else None,
        )

    async def save(
        self,
        new: NewMedia,
        *,
        conversation_id: str,
        direction: str,
        message_id: int | None = None,
    ) -> MediaRecord:
        def work(s: Session) -> MediaRecord:
            insert_rows(s, conversation_id, message_id, direction, [new])
            row = s.execute(select(MEDIA).where(MEDIA.c.id == new.id)).one()
            s.commit()
            return media_record(row)

        return await self.db.run(work)

    async def add(
        self,
        data: bytes,
        *,
        conversation_id: str,
        direction: str,
        mime_type: str | None = None,
        filename: str | None = None,
        kind: str | None = None,
        channel_file_id: str | None = None,
        message_id: int | None = None,
    ) -> MediaRecord:
        new = await self.prepare(
            data,
            mime_type=mime_type,
            filename=filename,
            kind=kind,
            channel_file_id=channel_file_id,
        )
        return await self.save(
            new, conversation_id=conversation_id, direction=direction, message_id=message_id
        )

    async def attach(self, media_id: str, message_id: int) -> None:
        def work(s: Session) -> int:
            n = s.execute(
                update(MEDIA).where(MEDIA.c.id == media_id).values(message_id=message_id)
            ).rowcount  # type: ignore[attr-defined]
            s.commit()
            return int(n)

        if not await self.db.run(work):
            raise NotFoundError(f"no media {media_id!r}")

    async def get(self, media_id: str) -> MediaRecord | None:
        if not media_id or len(media_id) > 32:
            return None

        def work(s: Session) -> MediaRecord | None:
            row = s.execute(select(MEDIA).where(MEDIA.c.id == media_id)).first()
            return media_record(row) if row is not None else None

        return await self.db.run(work)

    async def read(self, media_id: str) -> tuple[MediaRecord, bytes]:
        record = await self.get(media_id)
        if record is None:
            raise NotFoundError(f"no media {media_id!r}")
        return record, await self.blobs.get(record.sha256)

    async def of_message(self, message_id: int) -> list[MediaRecord]:
        def work(s: Session) -> list[MediaRecord]:
            rows = s.execute(
                select(MEDIA).where(MEDIA.c.message_id == message_id).order_by(MEDIA.c.created_at)
            ).all()
            return [media_record(r) for r in rows]

        return await self.db.run(work)

    async def of_conversation(self, conversation_id: str) -> list[MediaRecord]:
        def work(s: Session) -> list[MediaRecord]:
            rows = s.execute(
                select(MEDIA)
                .where(MEDIA.c.conversation_id == conversation_id)
                .order_by(MEDIA.c.created_at)
            ).all()
            return [media_record(r) for r in rows]

        return await self.db.run(work)
