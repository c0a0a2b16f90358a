"""Telegram, through python-telegram-bot: webhook or long polling in, the outbox out."""

import os

# Opt in to python-telegram-bot's coming behaviour (RetryAfter.retry_after as a timedelta, which
# the sender handles) instead of a deprecation warning on every flood-control answer.
os.environ.setdefault("PTB_TIMEDELTA", "1")
