"""What the console's routes (the pages, the agent API, the live feed, the dashboard) work with,
handed over by the composition root once the store is open: one typed value on the app, under
`CONSOLE`, instead of a bag of optional services."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.events import SignalBus
from bot.knowledge.base import KnowledgeBase
from bot.metrics import Metrics
from bot.nlu.pipeline import NLUPipeline
from bot.store.sql_store import SqlStore
from handoff.channel_limits import ChannelLimits
from handoff.console.accounts import Accounts
from handoff.console.administration import Administration
from handoff.service import HandoffService
from handoff.tickets.desk import TicketDesk


@dataclass(frozen=True)
class ConsoleServices:
    store: SqlStore
    # Typing and read receipts, across instances when they share Redis (bot/events.py).
    signals: SignalBus
    handoff: HandoffService
    accounts: Accounts
    kb: KnowledgeBase  # drafts saved from resolved conversations
    metrics: Metrics
    nlu: NLUPipeline  # the dashboard embeds and reads sentiment with it
    canned: Mapping[str, Any]  # canned responses per language (canned.yml)
    # Each registered channel's rules for agents' messages (a window, a length), by name.
    channel_limits: Mapping[str, ChannelLimits]
    # Agents, skill groups, hours, holidays and canned responses (handoff/console/admin_api.py).
    admin: Administration
    # Tickets: queue, claim, statuses, notes, updates, escalation, follow-ups (H1).
    tickets: TicketDesk


CONSOLE = web.AppKey("console", ConsoleServices)
