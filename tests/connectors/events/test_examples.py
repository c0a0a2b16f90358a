"""The copy-paste examples for each trigger, in the README (curl) and docs/proactive.md (the same
curl block, and Python), run as written against a live server: a reader who pastes them gets
every event stored, and a second paste only duplicates."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bot.store import models as m
from tests.apps import AppFactory, Client, store_of
from tests.bot.proactive import PLAYBOOK_TRIGGERS

REPO = Path(__file__).resolve().parents[3]
KEY, SECRET = "shop-key-for-examples", "s3cret-for-the-examples-0123"


def _block(path: Path, language: str, starts: str) -> str:
    """The fenced `language` block whose first line starts with `starts`."""
    text = path.read_text(encoding="utf-8")
    for found in re.finditer(rf"```{language}\n(.*?)```", text, re.S):
        if found.group(1).startswith(starts):
            return found.group(1)
    raise AssertionError(f"{path.name}: no ```{language} block starting {starts!r}")


def _sources(raw: dict[str, Any]) -> None:
    raw["proactive"]["enabled"] = True
    raw["proactive"]["sources"] = {"shop": {"key": KEY, "secret": SECRET}}


async def _run(*argv: str, client: Client) -> list[dict[str, Any]]:
    env = os.environ | {
        "PROACTIVE_SHOP_KEY": KEY,
        "PROACTIVE_SHOP_SECRET": SECRET,
        "RELAYDESK_URL": str(client.make_url("")).rstrip("/"),
    }
    proc = await asyncio.create_subprocess_exec(
        *argv,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]


async def _stored_types(client: Client) -> list[str]:
    def work(s: Any) -> list[str]:
        return sorted(s.execute(select(m.CustomerEvent.type)).scalars())

    return await store_of(client).db.run(work)


def test_the_readme_and_the_docs_show_the_same_curl_example() -> None:
    readme = _block(REPO / "README.md", "bash", "send_event() {")
    docs = _block(REPO / "docs/proactive.md", "bash", "send_event() {")
    assert readme == docs
    assert {t for t in PLAYBOOK_TRIGGERS if f'"type":"{t}"' in readme} == PLAYBOOK_TRIGGERS


async def test_the_curl_example_sends_every_trigger_once(make_client: AppFactory) -> None:
    client = await make_client(edit=_sources)
    script = _block(REPO / "README.md", "bash", "send_event() {")
    first = await _run("bash", "-c", script, client=client)
    assert [a["accepted"] for a in first] == [1] * 7, first
    assert set(await _stored_types(client)) == PLAYBOOK_TRIGGERS | {"order_paid"}
    again = await _run("bash", "-c", script, client=client)
    assert [(a["accepted"], a["duplicates"]) for a in again] == [(0, 1)] * 7
    count = await store_of(client).db.run(
        lambda s: s.execute(select(func.count()).select_from(m.CustomerEvent)).scalar_one()
    )
    assert count == 7


async def test_the_python_example_sends_every_trigger_once(make_client: AppFactory) -> None:
    client = await make_client(edit=_sources)
    script = _block(REPO / "docs/proactive.md", "python", "import hashlib")
    script += "\nprint(json.dumps(send_event('extra-1', 'page_dwell', 'u-42', {})))\n"
    out = await _run(sys.executable, "-c", script, client=client)
    assert out and out[-1]["accepted"] == 1
    assert set(await _stored_types(client)) == PLAYBOOK_TRIGGERS | {"order_paid"}
