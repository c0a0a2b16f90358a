"""Files on WeChat, through the media store (bot/store/media.py):

- in: a customer's image or voice note arrives as a MediaId; media/get fetches it (within
  `media_fetch_seconds`, so the passive reply still has time) and the store keeps it with the
  message. A file that cannot be fetched, or that the store refuses (size, type: WeChat's voice
  notes are AMR, which the default `media.allowed_types` does not list), is stored as a failure
  note with the message: the message is never dropped.
- out: an agent's image goes up with media/upload (a temporary file, valid three days) and out as
  a customer-service image message; anything WeChat cannot show as an image goes as a note.
"""

from __future__ import annotations

import asyncio
import logging

from bot.errors import InputError
from bot.store.media import MediaFailure, MediaRecord, MediaStore, NewMedia
from connectors.outbox import RetryLater, Undeliverable
from connectors.wechat.api import WechatApi
from connectors.wechat.protocol import Inbound

log = logging.getLogger(__name__)
INBOUND_KINDS = {"image": "image", "voice": "voice"}
# Temporary images WeChat takes (media/upload type=image: bmp, png, jpeg, jpg, gif; 10 MB).
IMAGE_TYPES = {"image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "image/bmp": "bmp"}
MAX_IMAGE_BYTES = 10 * 1024 * 1024


async def fetch_inbound(
    api: WechatApi, store: MediaStore, inbound: Inbound, timeout_s: float
) -> list[NewMedia | MediaFailure]:
    """The file the message carries, checked and written; a failure note if it cannot be."""
    kind = INBOUND_KINDS.get(inbound.kind)
    if kind is None or not inbound.media_id:
        return []
    try:
        async with asyncio.timeout(timeout_s):
            data, mime = await api.media_get(inbound.media_id)
        fmt = inbound.media_format
        if kind == "voice" and fmt and mime in ("application/octet-stream", ""):
            mime = f"audio/{fmt}"
        return [
            await store.prepare(
                data,
                mime_type=mime,
                kind=kind,
                filename=f"{kind}.{fmt}" if fmt else None,
                channel_file_id=inbound.media_id,
            )
        ]
    except TimeoutError:
        reason = f"WeChat's media/get took over {timeout_s:g} s"
    except (RetryLater, Undeliverable, InputError) as exc:
        reason = str(exc)
    log.warning("wechat: the customer's %s was not kept: %s", kind, reason)
    return [MediaFailure(kind, reason, inbound.media_id)]


def as_image(record: MediaRecord) -> str | None:
    """The file's extension if WeChat can show it as an image, else None."""
    if record.kind != "image" or record.size > MAX_IMAGE_BYTES:
        return None
    return IMAGE_TYPES.get(record.mime_type)


async def send_file(api: WechatApi, openid: str, record: MediaRecord, data: bytes) -> None:
    """An image as an image message; any other file as a note the customer can read."""
    ext = as_image(record)
    if ext is None:
        name = record.filename or record.kind
        await api.send_text(openid, f"[{record.kind}: {name}]（客服发送的文件，微信里无法显示）")
        return
    media_id = await api.media_upload(
        "image", data, record.filename or f"image.{ext}", record.mime_type
    )
    await api.send_image(openid, media_id)
