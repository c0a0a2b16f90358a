"""Fetching a customer's file from Telegram (getFile, then the file download URL) into the media
store. Whatever goes wrong, the answer is something to store with the message: the file, or a
note saying why it could not be fetched; the message itself is never held back by its file."""

from __future__ import annotations

import logging

from telegram import Bot
from telegram.error import TelegramError

from bot.errors import InputError
from bot.store.media import MediaFailure, MediaStore, NewMedia
from connectors.telegram.updates import FileRef

log = logging.getLogger(__name__)
# The Bot API's getFile serves files up to 20 MB.
TELEGRAM_DOWNLOAD_LIMIT = 20 * 1024 * 1024


async def fetch(bot: Bot, ref: FileRef, media: MediaStore) -> NewMedia | MediaFailure:
    limit = min(media.limits.max_bytes, TELEGRAM_DOWNLOAD_LIMIT)
    if ref.file_size is not None and ref.file_size > limit:
        return MediaFailure(
            ref.kind, f"{ref.file_size} bytes, over the limit of {limit}", ref.file_id
        )
    try:
        file = await bot.get_file(ref.file_id)
        if file.file_size is not None and file.file_size > limit:
            return MediaFailure(
                ref.kind, f"{file.file_size} bytes, over the limit of {limit}", ref.file_id
            )
        data = bytes(await file.download_as_bytearray())
        return await media.prepare(
            data,
            mime_type=ref.mime_type,
            filename=ref.file_name or (file.file_path or "").rsplit("/", 1)[-1] or None,
            kind=ref.kind,
            channel_file_id=ref.file_id,
        )
    except InputError as exc:  # over the size, a type not allowed
        return MediaFailure(ref.kind, str(exc), ref.file_id)
    except (TelegramError, OSError) as exc:
        log.warning("telegram: file %s not fetched: %s", ref.file_id, exc)
        return MediaFailure(ref.kind, f"Telegram: {exc}", ref.file_id)
