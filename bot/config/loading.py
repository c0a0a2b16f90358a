"""Reading config.yml: YAML, ``${VAR}`` references from the environment (this is the only
module that reads it), Rasa's spellings, and validation into `Config` with errors that name
the bad key.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from bot.config.sections import MAX_CONFIG_BYTES, RASA_ONLY_KEYS, Config
from bot.errors import ConfigError
from bot.pipeline_config import rasa_config
from bot.pipeline_config.params import DEFAULT_PIPELINE, PARAMS

log = logging.getLogger("bot.config")
_ENV_REF = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate config.yml; raise ConfigError naming the bad key."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: no such config file")
    if p.stat().st_size > MAX_CONFIG_BYTES:
        raise ConfigError(f"{p}: config file is larger than {MAX_CONFIG_BYTES} bytes")
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else "?"
        raise ConfigError(f"{p}:{line}: invalid YAML: {exc.problem}") from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read: {exc}") from exc
    return config_from_dict(raw, source=str(p), base_dir=str(p.resolve().parent), env=env)


def config_from_dict(
    raw: Any,
    *,
    source: str = "config.yml",
    base_dir: str = ".",
    env: Mapping[str, str] | None = None,
) -> Config:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of sections")
    resolved = _substitute_env(raw, os.environ if env is None else env, source, "")
    if isinstance(resolved.get("language"), str):  # Rasa writes a single language as a string
        resolved["language"] = [resolved["language"]]
    if resolved.get("policies"):
        log.warning("%s: policies: Rasa dialogue policies are ignored by relaydesk", source)
    for key in sorted(RASA_ONLY_KEYS & set(resolved)):
        log.warning("%s: %s: a Rasa setting relaydesk has no use for; ignored", source, key)
        del resolved[key]
    resolved["pipeline"] = _pipeline(resolved.get("pipeline"), source)
    resolved["base_dir"] = base_dir
    resolved["source"] = source
    try:
        return Config.model_validate(resolved)
    except ValidationError as exc:
        raise ConfigError(format_validation(exc, source)) from exc


def _pipeline(raw: Any, source: str) -> list[dict[str, Any]]:
    if raw is None or raw == []:
        # Rasa picks a default pipeline when none is given (`rasa init` writes it commented
        # out); so does relaydesk: its own.
        log.info("%s: pipeline: none given; using relaydesk's default pipeline", source)
        raw = [dict(c) for c in DEFAULT_PIPELINE]
    if not isinstance(raw, list):
        raise ConfigError(f"{source}: pipeline: must be a list of components")
    translation = rasa_config.translate(raw, source)
    for level, message in translation.messages:
        log.log(level, "%s", message)
    out = []
    for step in translation.pipeline:
        try:
            out.append({"name": step.name, "params": PARAMS[step.name].model_validate(step.params)})
        except ValidationError as exc:
            where = f"pipeline[{step.index}] ({step.name})"
            raise ConfigError(format_validation(exc, source, prefix=where)) from exc
    return out


def _substitute_env(value: Any, env: Mapping[str, str], source: str, key: str) -> Any:
    if isinstance(value, dict):
        return {
            k: _substitute_env(v, env, source, f"{key}.{k}" if key else str(k))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_substitute_env(v, env, source, f"{key}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, str) and "${" in value:

        def repl(m: re.Match[str]) -> str:
            name, default = m.group("name"), m.group("default")
            if name in env:
                return env[name]
            if default is not None:
                return default
            raise ConfigError(
                f"{source}: {key}: environment variable {name} is not set "
                f"(write ${{{name}:-default}} to give a default)"
            )

        return _ENV_REF.sub(repl, value)
    return value


def format_validation(
    exc: ValidationError, source: str, prefix: str = "", model: type[BaseModel] | None = None
) -> str:
    """One line per error, naming the key (`prefix` and the error's path in `model`, the model
    that was validated: the whole config unless given)."""
    lines = []
    for err in exc.errors():
        loc = prefix
        for part in err["loc"]:
            loc += f"[{part}]" if isinstance(part, int) else (f".{part}" if loc else str(part))
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
            allowed = _allowed_keys(exc.title, err["loc"], model)
            if allowed:
                msg += f"; allowed: {', '.join(allowed)}"
        elif err["type"] == "literal_error":
            expected = (err.get("ctx") or {}).get("expected", "")
            msg = f"got {err.get('input')!r}; allowed: {expected}"
        lines.append(f"{source}: {loc}: {msg}")
    return "\n".join(lines)


def _allowed_keys(title: str, loc: tuple[Any, ...], root: type[BaseModel] | None) -> list[str]:
    """The keys a section accepts, so an 'unknown key' error can list the right ones."""
    model: Any = (
        root or PARAMS.get(title) or {m.__name__: m for m in PARAMS.values()}.get(title) or Config
    )
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None or not isinstance(field.annotation, type):
            return []
        if not issubclass(field.annotation, BaseModel):
            return []
        model = field.annotation
    return sorted(k for k in model.model_fields if k not in ("base_dir", "source"))
