"""`relaydesk agents` goes through the same rules and audit log as the console's administration:
disable and enable, a password from stdin, skills checked against the administered groups."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from bot.store.audit import SqlAuditLog
from bot.store.sql_store import SqlStore
from tests.apps import run_cli

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "config.yml").write_bytes((REPO / "config.yml").read_bytes())
    (tmp_path / "canned.yml").write_bytes((REPO / "canned.yml").read_bytes())
    return tmp_path


def _with_stdin(project: Path, text: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=project,
        input=text,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_disable_enable_and_passwd_are_audited_as_the_cli(project: Path) -> None:
    added = _with_stdin(
        project,
        "a long enough password\n",
        "agents",
        "add",
        "amy",
        "--skills",
        "billing",
        "--role",
        "supervisor",
        "--password-stdin",
    )
    assert added.returncode == 0, added.stderr
    assert "password set; they can log in" in added.stdout
    assert run_cli("agents", "disable", "amy", cwd=project).stdout.strip() == "amy is disabled"
    listing = run_cli("agents", "list", cwd=project).stdout
    assert "disabled" in listing
    online = run_cli("agents", "set", "amy", "--status", "online", cwd=project)
    assert online.returncode == 1 and "enable them first" in online.stderr
    assert run_cli("agents", "enable", "amy", cwd=project).stdout.strip() == "amy is enabled"
    short = _with_stdin(project, "short\n", "agents", "passwd", "amy", "--password-stdin")
    assert short.returncode == 1 and "10 to 200 characters" in short.stderr
    too_many = run_cli("agents", "set", "amy", "--max", "99", cwd=project)
    assert too_many.returncode == 1 and "max_concurrent" in too_many.stderr

    async def audit() -> list[tuple[str, str]]:
        store = await SqlStore.open("sqlite:///var/relaydesk.db", base_dir=project)
        try:
            return [(e.actor, e.action) for e in await SqlAuditLog(store.db).entries()]
        finally:
            await store.close()

    entries = asyncio.run(audit())
    assert [action for _, action in entries] == [
        "agent.enable",
        "agent.disable",
        "agent.add",
        "settings.seed",
    ]
    assert all(actor.startswith("cli") for actor, _ in entries[:3])
