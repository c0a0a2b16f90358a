"""The webhooks' worker: in every server instance, every `poll_seconds`, record new events
(feed.py) and post the due deliveries (sender.py). Instances share the ledger, so running it
in each is safe: an event is recorded once and each delivery claimed by one of them."""

from __future__ import annotations

import logging

from bot.config.integrations import WebhookSettings
from bot.periodic import Periodic
from bot.store.engine import Database
from connectors.webhooks.feed import EventFeed
from connectors.webhooks.ledger import WebhookLedger
from connectors.webhooks.sender import WebhookSender

log = logging.getLogger(__name__)


class WebhookWorker:
    def __init__(self, db: Database, settings: WebhookSettings, *, mask: bool = False) -> None:
        self.settings = settings
        self.ledger = WebhookLedger(db)
        endpoints = settings.endpoints
        self.feed = EventFeed(
            db,
            self.ledger,
            lambda kind: [e.name for e in endpoints if e.wants(kind)],
            mask=mask,
        )
        self.sender = WebhookSender(self.ledger, endpoints)
        self._loop = Periodic(
            "webhooks",
            self.run_once,
            lambda: self.settings.poll_seconds,
            # a database hiccup: the next round tries again
            lambda _exc: log.exception("webhook round failed"),
        )

    async def run_once(self) -> None:
        """One round: what happened, then what is due."""
        await self.feed.scan()
        while await self.sender.send_due() > 0:  # a backlog drains without waiting a poll
            pass

    async def start(self) -> None:
        await self.feed.scan()  # the first scan of a new installation sets the starting point
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()
        await self.sender.close()
