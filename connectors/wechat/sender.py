"""Sends one stored message through WeChat's customer-service API, inside the window. A text
over WeChat's limit goes out in parts (connectors/splitting.py), each recorded in the ledger and
each counted against the window.

The limit: the customer-service send API answers 45002 "content size out of limit" above 2048
bytes of UTF-8 content. The official page (Service_Center_messages) does not state it; the
figure is the one WeChat's developer community reports (developers.weixin.qq.com/community)."""

from __future__ import annotations

import logging
from pathlib import Path

from bot import clock
from bot.store.agents import Agents
from bot.store.deliveries import Deliveries, DueDelivery
from bot.store.records import MessageRecord
from connectors.channel import OutputChannel
from connectors.outbox import Undeliverable
from connectors.splitting import split_text, utf8_bytes
from connectors.wechat.api import WechatApi, WindowClosed
from connectors.wechat.followers import Follower, Followers
from connectors.wechat.kb_images import KnowledgeImages, fallback
from connectors.wechat.media import send_file
from connectors.wechat.protocol import CHANNEL, as_text
from connectors.wechat.settings import WechatSettings
from connectors.wechat.templates import values
from connectors.wechat.window import window_of

log = logging.getLogger(__name__)

MAX_TEXT_BYTES = 2048  # one text message's content, UTF-8


def fits_one_message(message: MessageRecord) -> bool:
    """Whether the message's text goes out as one WeChat text (so a passive reply may carry
    it); a longer one is left to the sender, which sends it in parts."""
    text = as_text(message.text, message.payload, limit=None)
    return len(split_text(text, MAX_TEXT_BYTES, utf8_bytes)) <= 1


class WechatSender(OutputChannel):
    """Inside the customer-service window only: a text (in parts when long; WeChat's text
    carries no buttons, they become lines), then a knowledge article's image (uploaded from the
    knowledge folder, connectors/wechat/kb_images.py; its caption as text if the upload fails),
    then each attachment from the media store (an image through media/upload;
    connectors/wechat/media.py), each one message of the window.

    Outside the window (by our count, or because WeChat refused with 45015 or 45047, which is
    recorded on the customer so the console shows the window closed), a message is parked: its
    delivery fails with the reason, which agents see, and is never retried. A template message
    carries it instead when `connectors.wechat.templates` has one for its kind (an agent's
    reply, a ticket update) and the customer still follows the account."""

    channel = CHANNEL
    label = "WeChat"

    def __init__(
        self,
        api: WechatApi,
        deliveries: Deliveries,
        settings: WechatSettings,
        followers: Followers | None = None,
        agents: Agents | None = None,
        images: KnowledgeImages | None = None,
    ) -> None:
        """`followers`: where WeChat's refusals are recorded and read (the connector always
        gives it; without it only our own count of the window applies). `images`: knowledge
        images sent as images (without it they are left out, as WeChat's text cannot show them)."""
        self.api = api
        self.deliveries = deliveries
        self.settings = settings
        self.followers = followers
        self.agents = agents
        self.images = images

    def fits_passive(self, message: MessageRecord) -> bool:
        """Whether a passive reply (one text) carries the whole message: not when it is long,
        nor when it has a knowledge image to send as well."""
        if self.images is not None and self.images.file_of(message.payload.get("image")):
            return False
        return fits_one_message(message)

    async def send(self, delivery: DueDelivery) -> str | None:
        assert delivery.recipient is not None
        now = clock.now()
        follower = await self.followers.of(delivery.customer_id) if self.followers else Follower()
        window = await window_of(
            self.deliveries, delivery.customer_id, self.settings, now, follower=follower
        )
        msg = delivery.message
        texts = split_text(as_text(msg.text, msg.payload, limit=None), MAX_TEXT_BYTES, utf8_bytes)
        image = self.images.file_of(msg.payload.get("image")) if self.images else None
        files = [str(m["id"]) for m in msg.payload.get("media") or [] if m.get("id")]
        # Each text part, the knowledge image and each file is one WeChat message, and one of
        # the window's.
        parts: list[tuple[str, str]] = [
            *(("text", t) for t in texts),
            *([("image", str(image))] if image else []),
            *(("file", f) for f in files),
        ]
        if not parts:
            return None  # nothing WeChat can carry
        todo = [n for n in range(1, len(parts) + 1) if n not in delivery.parts_sent]
        reason = window.why_closed(now)
        if reason is None and len(todo) > window.remaining:  # never half an answer
            reason = (
                f"the message needs {len(todo)} WeChat messages; the window allows "
                f"{window.remaining} until the customer writes again"
            )
        if reason is not None:
            return await self._outside(delivery, reason, follower.following)
        try:
            for n in todo:
                kind, value = parts[n - 1]
                if kind == "text":
                    await self.api.send_text(delivery.recipient, value)
                elif kind == "image":
                    await self._send_image(delivery.recipient, value, msg.payload.get("caption"))
                else:
                    await self._send_file(delivery.recipient, value)
                if len(parts) > 1:
                    await self.deliveries.part_sent(msg.id, n, len(parts))
        except WindowClosed as exc:  # WeChat knows better than our count: record it
            if self.followers is not None:
                await self.followers.window_closed(delivery.customer_id, str(exc))
            return await self._outside(delivery, str(exc), follower.following)
        return None

    async def _outside(self, delivery: DueDelivery, reason: str, following: bool) -> str:
        """A message the window no longer allows: as a template message, or parked."""
        msg = delivery.message
        chosen = self.settings.templates.for_message(msg.sender, msg.payload)
        if chosen is None or not following:
            raise Undeliverable(f"parked, not retried: {reason}")
        kind, template = chosen
        text = as_text(msg.text, msg.payload, limit=None)
        fields = values(
            text, await self._agent_name(msg.sender_id), msg.payload.get("ticket"), msg.created_at
        )
        assert delivery.recipient is not None
        ref = await self.api.send_template(template.body(delivery.recipient, fields))
        log.info("wechat: message %d went as a %s template message (%s)", msg.id, kind, reason)
        return f"template:{kind}:{ref or ''}"

    async def _send_image(self, openid: str, path: str, caption: object) -> None:
        """A knowledge image; its caption as text when WeChat refuses the upload or the image."""
        assert self.images is not None
        try:
            await self.images.send(openid, Path(path))
        except WindowClosed:
            raise
        except Undeliverable as exc:
            log.warning("wechat: knowledge image %s sent as text: %s", Path(path).name, exc)
            await self.api.send_text(openid, fallback(caption, Path(path).name))

    async def _send_file(self, openid: str, media_id: str) -> None:
        if self.media is None:
            raise Undeliverable(f"no media store for the attachment {media_id}")
        record, data = await self.media.read(media_id)
        await send_file(self.api, openid, record, data)

    async def _agent_name(self, agent_id: str | None) -> str | None:
        if agent_id is None or self.agents is None:
            return None
        for agent in await self.agents.all():
            if agent.id == agent_id:
                return agent.display_name
        return None

    async def send_text(self, recipient: str, text: str) -> str | None:
        for part in split_text(text, MAX_TEXT_BYTES, utf8_bytes):
            await self.api.send_text(recipient, part)
        return None
