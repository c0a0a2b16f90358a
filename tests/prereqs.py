"""What a test does when the machine lacks something it needs (PostgreSQL's server binaries,
redis-server, Chromium): on a developer's machine it skips, naming what is missing; in CI
(`CI=true`) it fails with the same one line, so CI can never go green while tests did not run.
`make prereqs` installs or starts what it can and names the rest."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def missing(reason: str) -> NoReturn:
    """Skip the test, or under CI=true fail it, because `reason` is missing from the machine."""
    if IN_CI:
        pytest.fail(
            f"CI=true, so a missing prerequisite fails: {reason} (see `make prereqs`)",
            pytrace=False,
        )
    pytest.skip(reason)
