"""How the store treats what it is given, set once from config.yml by the composition root and
shared by reference with the repositories that need it (turns, messages, tickets, ratings)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass
class StoreSettings:
    # After this long without a message, a conversation the bot holds is over; the next
    # message opens a new one. None: conversations never expire.
    session_expiry: timedelta | None = None
    # Store customers' words with e-mail addresses and phone numbers masked
    # (privacy.mask_transcripts): messages, their parses, ticket subjects, rating comments.
    mask_transcripts: bool = False
