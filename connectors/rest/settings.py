"""The `connectors.rest` section: on by default; Rasa's credentials.yml entry for the REST
channel carries no keys of its own, and any it carries are accepted and ignored, as before."""

from __future__ import annotations

from pydantic import ConfigDict

from connectors.settings import ChannelSettings


class RestSettings(ChannelSettings):
    model_config = ConfigDict(extra="allow", frozen=True)

    enabled: bool = True


SETTINGS = RestSettings
