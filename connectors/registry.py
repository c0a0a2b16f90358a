"""The channels this server runs, built from config.yml's `connectors:` sections.

Each enabled section names a channel folder: `connectors.<name>.channel` is imported by name and
its `CHANNEL` class built from the config, as Rasa loads its input channels from
credentials.yml. A section left out or with `enabled: false` loads nothing, so the libraries of
a channel that is not used are never imported. The import is by name on purpose: the channel
base never depends on the channels, only the channels on it.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any

from bot.config import Config
from bot.errors import ConfigError
from connectors.channel import Channel


class ChannelRegistry(Mapping[str, Channel]):
    """The configured channels by name, in config order."""

    def __init__(self, channels: list[Channel]) -> None:
        self._channels = {c.name: c for c in channels}

    def __getitem__(self, name: str) -> Channel:
        return self._channels[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._channels)

    def __len__(self) -> int:
        return len(self._channels)

    @classmethod
    def from_config(cls, config: Config) -> ChannelRegistry:
        return cls([load_channel(name, config) for name in enabled_channels(config)])


def enabled_channels(config: Config) -> list[str]:
    """The names of the `connectors:` sections that are enabled."""
    names = []
    for name in type(config.connectors).model_fields:
        section: Any = getattr(config.connectors, name)
        enabled = section.get("enabled", True) if isinstance(section, dict) else section.enabled
        if enabled:
            names.append(name)
    return names


def load_channel(name: str, config: Config) -> Channel:
    """The channel of folder connectors/<name>, built from the config."""
    try:
        module = importlib.import_module(f"connectors.{name}.channel")
    except ModuleNotFoundError as exc:
        if exc.name not in (f"connectors.{name}", f"connectors.{name}.channel"):
            raise
        raise ConfigError(f"connectors.{name}: no channel folder connectors/{name}/") from exc
    kind = getattr(module, "CHANNEL", None)
    if not (isinstance(kind, type) and issubclass(kind, Channel)):
        raise ConfigError(f"connectors/{name}/channel.py: CHANNEL must name a Channel class")
    channel = kind(config)
    if channel.name != name:
        raise ConfigError(f"connectors/{name}/channel.py: the channel calls itself {channel.name}")
    return channel
