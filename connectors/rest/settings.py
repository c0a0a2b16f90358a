"""The `connectors.rest` section: on by default; Rasa's credentials.yml entry for the REST
channel carries no keys of its own, and any other key it carries is accepted and ignored, as
before. Authentication is optional, as with Rasa's `--auth-token` and `--jwt-secret`:

- `auth: none` (the default): anyone may post to the webhook;
- `auth: token`: the caller sends the shared `secret` as `Authorization: Bearer <secret>` or
  `?token=<secret>`;
- `auth: jwt`: the caller sends `Authorization: Bearer <JWT>` signed with HS256 and `secret`.

Whatever `auth` says, the long poll answers only a caller holding the sender token handed out
with the webhook's replies, signed with `sender_token_secret` (connectors/rest/auth.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from connectors.settings import ChannelSettings, none_when_empty


class RestSettings(ChannelSettings):
    model_config = ConfigDict(extra="allow", frozen=True)

    enabled: bool = True
    auth: Literal["none", "token", "jwt"] = "none"
    # The shared secret (auth: token) or the HS256 key (auth: jwt); from the environment,
    # e.g. ${REST_SECRET}.
    secret: str | None = Field(None, min_length=16)
    # Clock difference allowed on a JWT's exp and nbf.
    jwt_leeway_seconds: int = Field(30, ge=0, le=600)
    # The key signing sender tokens (e.g. ${REST_SENDER_SECRET}). Unset: `secret` when set,
    # otherwise a random key per process, so tokens do not survive a restart and are not
    # accepted by another instance; set it when several instances serve the channel.
    sender_token_secret: str | None = Field(None, min_length=16)
    # How long a sender token opens the long poll; every reply and poll hands out a fresh one.
    sender_token_max_age_seconds: int = Field(86_400, ge=60, le=30 * 86_400)

    _empty = field_validator("secret", "sender_token_secret", mode="before")(none_when_empty)

    @model_validator(mode="after")
    def _complete(self) -> RestSettings:
        if self.auth != "none" and not self.secret:
            raise ValueError(f"secret: required with auth: {self.auth} (e.g. ${{REST_SECRET}})")
        return self

    def secrets(self) -> list[str]:
        return [v for v in (self.secret, self.sender_token_secret) if v]


SETTINGS = RestSettings
