"""Sends one stored message to a Telegram chat: text with inline-keyboard buttons, then its
image or video. A text over Telegram's limit goes out in parts (connectors/splitting.py), each
recorded in the ledger, the buttons with the last. Knowledge media under /kb/media/ are uploaded
from the knowledge folder (Telegram cannot fetch them from a private server); SVG goes as a
document, since Telegram shows no SVG photos. Telegram's errors are sorted into retry-later and
undeliverable."""

from __future__ import annotations

import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.warnings import PTBDeprecationWarning

from bot.store.deliveries import Deliveries, DueDelivery
from bot.store.errors import NotFoundError
from bot.store.media import MediaStore
from connectors.channel import OutputChannel
from connectors.outbox import RetryLater, Undeliverable
from connectors.splitting import split_text, utf16_units
from connectors.telegram.updates import CHANNEL

MEDIA_PREFIX = "/kb/media/"
MAX_TEXT = 4096  # sendMessage text, in UTF-16 code units after entity parsing
MAX_CAPTION = 1024  # a photo's, video's or document's caption, likewise
MAX_CALLBACK_DATA = 64  # bytes
PHOTO_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})  # GIF, PDF: as documents


class TelegramSender(OutputChannel):
    """Text with an inline keyboard, then the media; a retry after a partial success sends only
    the rest (so `send` is its own rather than the base class's)."""

    channel = CHANNEL
    label = "Telegram"

    def __init__(
        self,
        bot: Bot,
        media_dir: Path,
        deliveries: Deliveries | None = None,
        media: MediaStore | None = None,
    ) -> None:
        self.bot = bot
        self.media_dir = media_dir
        self.media = media  # the media store: an agent's attachments
        self.deliveries = deliveries  # records each part of a long text; None: in-process only
        # Parts of a message already sent in this process (text, media): a retry after a
        # partial success sends only the rest.
        self._done: dict[int, set[str]] = {}

    async def send(self, delivery: DueDelivery) -> str | None:
        assert delivery.recipient is not None
        chat_id = int(delivery.recipient)
        msg = delivery.message
        done = self._done.setdefault(msg.id, set())
        ref = None
        try:
            if "text" not in done and msg.text.strip():
                parts = split_text(msg.text, MAX_TEXT, utf16_units)
                for n, part in enumerate(parts, 1):
                    if n in delivery.parts_sent or f"text{n}" in done:
                        continue
                    last = n == len(parts)
                    sent = await self.bot.send_message(
                        chat_id, part, reply_markup=_keyboard(msg.payload) if last else None
                    )
                    ref = str(sent.message_id)
                    done.add(f"text{n}")
                    if len(parts) > 1 and self.deliveries is not None:
                        await self.deliveries.part_sent(msg.id, n, len(parts), ref=ref)
                done.add("text")
            for kind in ("image", "video"):
                url = msg.payload.get(kind)
                if url and kind not in done:
                    await self._media(chat_id, kind, str(url), msg.payload.get("caption"))
                    done.add(kind)
            for item in msg.payload.get("media") or []:
                key = f"media:{item.get('id')}"
                if item.get("id") and key not in done:
                    await self._stored_media(chat_id, str(item["id"]))
                    done.add(key)
        except RetryAfter as exc:
            raise RetryLater("Telegram flood control", _retry_after(exc)) from exc
        except ChatMigrated as exc:
            raise Undeliverable(f"the chat moved to {exc.new_chat_id}") from exc
        except Forbidden as exc:
            raise Undeliverable(f"Telegram refused: {exc.message}") from exc
        except BadRequest as exc:
            raise Undeliverable(f"Telegram rejected the message: {exc.message}") from exc
        except InvalidToken as exc:  # the bot's token is wrong: retry, it may be fixed
            raise RetryLater(f"Telegram does not accept the bot token: {exc.message}") from exc
        except NetworkError as exc:  # 5xx, timeouts, connection errors
            raise RetryLater(f"Telegram unreachable or failing: {exc.message}") from exc
        except TelegramError as exc:
            raise RetryLater(f"Telegram error: {exc.message}") from exc
        self._done.pop(msg.id, None)
        return ref

    async def send_text(self, recipient: str, text: str) -> str | None:
        ref = None
        for part in split_text(text, MAX_TEXT, utf16_units):
            sent = await self.bot.send_message(int(recipient), part)
            ref = str(sent.message_id)
        return ref

    async def _media(self, chat_id: int, kind: str, url: str, caption: Any) -> None:
        # A photo carries one caption: a longer one goes with it in part, and the rest follows
        # as text messages, so nothing of it is cut.
        caps = split_text(str(caption), MAX_CAPTION, utf16_units) if caption else []
        cap = caps[0] if caps else None
        await self._send_media(chat_id, kind, url, cap)
        # The first part is a prefix of the caption (a split drops only white space at breaks).
        rest = str(caption).lstrip()[len(cap) :].strip() if cap else ""
        for part in split_text(rest, MAX_TEXT, utf16_units) if rest else []:
            await self.bot.send_message(chat_id, part)

    async def _stored_media(self, chat_id: int, media_id: str) -> None:
        """An attachment from the media store: photos as photos, anything else as a file."""
        if self.media is None:
            raise Undeliverable("no media store to read the attachment from")
        try:
            record, data = await self.media.read(media_id)
        except NotFoundError as exc:
            raise Undeliverable(f"attachment {media_id} is missing: {exc}") from exc
        upload = InputFile(data, filename=record.filename or f"{record.id}")
        if record.mime_type in PHOTO_TYPES:
            await self.bot.send_photo(chat_id, upload)
        else:
            await self.bot.send_document(chat_id, upload)

    async def _send_media(self, chat_id: int, kind: str, url: str, cap: str | None) -> None:
        if url.startswith(MEDIA_PREFIX):
            name = url[len(MEDIA_PREFIX) :]
            path = (self.media_dir / name).resolve()
            if path.parent != self.media_dir.resolve() or not path.is_file():
                raise Undeliverable(f"knowledge media file {name!r} is missing")
            data = InputFile(path.read_bytes(), filename=name)
            if kind == "video":
                await self.bot.send_video(chat_id, data, caption=cap)
            elif path.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp"):
                await self.bot.send_photo(chat_id, data, caption=cap)
            else:  # SVG, GIF: as a file
                await self.bot.send_document(chat_id, data, caption=cap)
        elif url.startswith(("https://", "http://")):  # Telegram fetches public URLs itself
            if kind == "video":
                await self.bot.send_video(chat_id, url, caption=cap)
            else:
                await self.bot.send_photo(chat_id, url, caption=cap)


def _keyboard(payload: dict[str, Any]) -> InlineKeyboardMarkup | None:
    rows = []
    for b in payload.get("buttons") or []:
        title = str(b.get("title", ""))[:64]
        data = str(b.get("payload") or title)
        if len(data.encode()) > MAX_CALLBACK_DATA:  # Telegram's limit: fall back to the title
            data = title.encode()[:MAX_CALLBACK_DATA].decode(errors="ignore")
        if title:
            rows.append([InlineKeyboardButton(title, callback_data=data)])
    link = payload.get("link")
    if isinstance(link, str) and link.startswith("https://"):
        rows.append([InlineKeyboardButton("🔗", url=link)])
    return InlineKeyboardMarkup(rows) if rows else None


def _retry_after(exc: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns that the type will become timedelta
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
