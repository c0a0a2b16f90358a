"""The channels this server knows and runs, from the folders under connectors/ and config.yml's
`connectors:` sections.

A channel is a folder, connectors/<name>/, holding `settings.py` (its section's pydantic model,
named `SETTINGS`) and `channel.py` (its `Channel` class, named `CHANNEL`); a new channel needs no
edit anywhere else. At start-up every `connectors.<name>` section is validated by its channel's
model (a section left out takes the model's defaults; a section naming no folder is refused,
listing the known ones), as Rasa loads its input channels from credentials.yml. Only channels
whose section is enabled are built, mounted and started; every channel kind's limits (a
messaging window, a length) are known all the same, since a conversation outlives the channel's
configuration. Modules are imported by name on purpose: the channel base never depends on the
channels, only the channels on it.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from collections.abc import Iterator, Mapping, Sequence

from pydantic import ValidationError

import connectors
from bot.config import Config, format_validation
from bot.errors import ConfigError
from bot.store.sql_store import SqlStore
from connectors.channel import Channel
from connectors.settings import ChannelSettings
from handoff.channel_limits import ChannelLimits


def channel_names() -> list[str]:
    """Every channel folder under connectors/ (a package with a channel.py), sorted."""
    return sorted(
        m.name
        for m in pkgutil.iter_modules(connectors.__path__)
        if m.ispkg and importlib.util.find_spec(f"connectors.{m.name}.channel") is not None
    )


def settings_model(name: str) -> type[ChannelSettings]:
    """The model of `connectors.<name>` (connectors/<name>/settings.py, `SETTINGS`); the base
    model (just `enabled`) for a channel without settings of its own."""
    try:
        module = importlib.import_module(f"connectors.{name}.settings")
    except ModuleNotFoundError as exc:
        if exc.name != f"connectors.{name}.settings":
            raise
        return ChannelSettings
    model = getattr(module, "SETTINGS", None)
    if not (isinstance(model, type) and issubclass(model, ChannelSettings)):
        raise ConfigError(f"connectors/{name}/settings.py: SETTINGS must name a ChannelSettings")
    return model


def channel_settings(config: Config) -> dict[str, ChannelSettings]:
    """Every known channel's validated section, by name; ConfigError naming the bad key (all
    of them, one a line) or the unknown section."""
    names = channel_names()
    unknown = [name for name in config.connectors if name not in names]
    if unknown:
        raise ConfigError(
            "\n".join(
                f"{config.source}: connectors.{name}: unknown key; allowed: {', '.join(names)}"
                for name in unknown
            )
        )
    settings: dict[str, ChannelSettings] = {}
    errors = []
    for name in names:
        model = settings_model(name)
        try:
            settings[name] = model.model_validate(config.connectors.get(name, {}))
        except ValidationError as exc:
            errors.append(format_validation(exc, config.source, f"connectors.{name}", model))
    if errors:
        raise ConfigError("\n".join(errors))
    return settings


def secrets(config: Config) -> list[str]:
    """The config's credentials with those of every channel's section, for the log to redact."""
    values = config.secrets()
    for settings in channel_settings(config).values():
        values += settings.secrets()
    return values


def channel_class(name: str) -> type[Channel]:
    """The `CHANNEL` class of connectors/<name>/channel.py."""
    try:
        module = importlib.import_module(f"connectors.{name}.channel")
    except ModuleNotFoundError as exc:
        if exc.name not in (f"connectors.{name}", f"connectors.{name}.channel"):
            raise
        raise ConfigError(f"connectors.{name}: no channel folder connectors/{name}/") from exc
    kind = getattr(module, "CHANNEL", None)
    if not (isinstance(kind, type) and issubclass(kind, Channel)):
        raise ConfigError(f"connectors/{name}/channel.py: CHANNEL must name a Channel class")
    if kind.name != name:
        raise ConfigError(f"connectors/{name}/channel.py: the channel calls itself {kind.name}")
    if kind.settings_model is not settings_model(name):
        raise ConfigError(f"connectors/{name}/channel.py: settings_model is not settings.SETTINGS")
    return kind


class ChannelRegistry(Mapping[str, Channel]):
    """The enabled channels by name; and every known channel kind with its settings, for the
    limits the agents need."""

    def __init__(
        self,
        channels: Sequence[Channel],
        kinds: Mapping[str, tuple[type[Channel], ChannelSettings]] | None = None,
    ) -> None:
        self._channels = {c.name: c for c in channels}
        self.kinds: Mapping[str, tuple[type[Channel], ChannelSettings]] = kinds or {}

    def __getitem__(self, name: str) -> Channel:
        return self._channels[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._channels)

    def __len__(self) -> int:
        return len(self._channels)

    @classmethod
    def from_config(cls, config: Config) -> ChannelRegistry:
        """Validate every section and build the enabled channels (no I/O)."""
        kinds = {
            name: (channel_class(name), settings)
            for name, settings in channel_settings(config).items()
        }
        return cls([kind(config, s) for kind, s in kinds.values() if s.enabled], kinds)

    def limits(self, store: SqlStore) -> dict[str, ChannelLimits]:
        """Each known channel's rules for agents' messages, enabled or not."""
        return {name: kind.limits(s, store) for name, (kind, s) in self.kinds.items()}
