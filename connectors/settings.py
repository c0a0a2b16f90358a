"""The base of every channel's settings: the `connectors.<name>` section of config.yml.

Each channel owns its section's model, in its own folder (connectors/<name>/settings.py, naming
it `SETTINGS`), and the composition root validates every section with it at start-up
(connectors/registry.py). This module imports nothing but pydantic, so checking a config never
loads a channel's libraries.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ChannelSettings(BaseModel):
    """One `connectors.<name>` section. Subclasses add their keys and choose the default of
    `enabled` (a section left out is the model's defaults)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False

    def secrets(self) -> list[str]:
        """The credentials in the section, for the log to redact wherever they turn up."""
        return []


class DeliverySettings(BaseModel):
    """Retries of outbound messages on pushed channels (Telegram, WeChat)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_attempts: int = Field(6, ge=1, le=50)
    first_backoff_seconds: float = Field(1.0, gt=0, le=600)
    max_backoff_seconds: float = Field(60.0, gt=0, le=3600)
    request_timeout_seconds: float = Field(10.0, gt=0, le=120)


def none_when_empty(value: Any) -> Any:
    """A `before` validator: "" is unset (``${TELEGRAM_TOKEN:-}`` with the variable unset)."""
    return None if value == "" else value
