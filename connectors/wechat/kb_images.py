"""Knowledge-article images (`/kb/media/<name>`, from the knowledge folder) as WeChat image
messages: WeChat cannot fetch a file from our server, so each goes up with media/upload and out
as a customer-service image message, one message of the window like any other.

- PNG, JPEG and GIF go as they are; SVG, which WeChat does not show, is rasterised to PNG with
  cairosvg (which needs the system's libcairo2: without it, or for any other type, the image is
  not sendable and the message goes without it, as before).
- An upload is a temporary file WeChat keeps three days: its media_id is cached by the file's
  sha256 and re-uploaded once it is older than `REUPLOAD_AFTER`, or when WeChat answers 40007
  (invalid media_id) for it all the same.
- An upload that fails leaves the caption as text in its place (`fallback`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

from bot import clock
from connectors.outbox import Undeliverable
from connectors.wechat.api import WechatApi

log = logging.getLogger(__name__)
MEDIA_PREFIX = "/kb/media/"
RASTER = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif"}
MAX_IMAGE_BYTES = 10 * 1024 * 1024  # media/upload type=image
# WeChat keeps a temporary upload 3 days; re-upload a little before, so a send never races it.
REUPLOAD_AFTER = timedelta(days=3) - timedelta(hours=1)
INVALID_MEDIA_ID = "40007"


@dataclass(frozen=True)
class Upload:
    media_id: str
    at: datetime


@lru_cache(maxsize=1)
def svg_rasteriser() -> Callable[..., bytes] | None:
    """cairosvg's svg2png, or None where it (or libcairo2 under it) is missing."""
    try:
        from cairosvg import svg2png
    except (ImportError, OSError) as exc:  # OSError: cairocffi found no libcairo
        log.warning("wechat: knowledge SVGs are not sent as images (no cairosvg: %s)", exc)
        return None
    render: Callable[..., bytes] = svg2png
    return render


class KnowledgeImages:
    """Knowledge images as uploads, cached in this process by the file's sha256."""

    def __init__(self, api: WechatApi, media_dir: Path) -> None:
        self.api = api
        self.media_dir = media_dir
        self._uploads: dict[str, Upload] = {}

    def file_of(self, url: object) -> Path | None:
        """The knowledge file behind a payload's image URL if WeChat can be sent it as an image
        (raster, or SVG with a rasteriser); None otherwise (the message goes without it)."""
        if not isinstance(url, str) or not url.startswith(MEDIA_PREFIX):
            return None
        name = url[len(MEDIA_PREFIX) :]
        path = (self.media_dir / name).resolve()
        if path.parent != self.media_dir.resolve() or not path.is_file():
            return None
        suffix = path.suffix.lower()
        if suffix in RASTER or (suffix == ".svg" and svg_rasteriser() is not None):
            return path
        return None

    async def send(self, openid: str, path: Path) -> None:
        """Upload (or reuse the upload of) the image and send it as an image message."""
        source = path.read_bytes()
        digest = hashlib.sha256(source).hexdigest()  # of the file: an SVG is rendered once
        now = clock.now()
        cached = self._uploads.get(digest)
        if cached is not None and now - cached.at < REUPLOAD_AFTER:
            try:
                await self.api.send_image(openid, cached.media_id)
                return
            except Undeliverable as exc:  # expired on WeChat's side after all
                if INVALID_MEDIA_ID not in str(exc):
                    raise
                log.info("wechat: the upload of %s expired early; uploading again", path.name)
        # Rendering an SVG takes tens of milliseconds: off the event loop.
        data, mime, filename = await asyncio.to_thread(_image, path, source)
        media_id = await self.api.media_upload("image", data, filename, mime)
        self._uploads[digest] = Upload(media_id, now)
        await self.api.send_image(openid, media_id)


def _image(path: Path, data: bytes) -> tuple[bytes, str, str]:
    """What goes up for the file: its bytes, type and name (an SVG as a PNG)."""
    suffix = path.suffix.lower()
    if suffix == ".svg":
        render = svg_rasteriser()
        if render is None:
            raise Undeliverable(f"no SVG rasteriser for {path.name}")
        try:
            data = render(bytestring=data, scale=2)
        except Exception as exc:
            raise Undeliverable(f"{path.name} could not be rasterised: {exc}") from exc
        return data, "image/png", path.stem + ".png"
    if len(data) > MAX_IMAGE_BYTES:
        raise Undeliverable(f"{path.name} is over WeChat's {MAX_IMAGE_BYTES} bytes")
    return data, RASTER[suffix], path.name


def fallback(caption: object, name: str) -> str:
    """The text sent where the image could not be: its caption, or its name."""
    text = str(caption).strip() if caption else ""
    return f"[图片] {text or name}"
