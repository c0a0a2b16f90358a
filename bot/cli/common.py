"""What every command shares: reading the config file named by `--config`, and printing
problems to stderr."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable

from bot.config import Config


def read_config(args: argparse.Namespace) -> Config:
    """The validated config.yml (or `--config FILE`), channel sections included: every command
    reports a bad `connectors.<name>` key before it loads a model."""
    from bot.config import load_config
    from connectors.registry import channel_settings

    config = load_config(args.config)
    channel_settings(config)  # each connectors.<name> section, by its channel's own model
    return config


def print_problems(problems: Iterable[object], label: str = "error") -> None:
    for p in problems:
        print(f"{label}: {p}", file=sys.stderr)
