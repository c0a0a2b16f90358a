"""The supervisor's floor view and knowledge drafts from the console, on the real app. Drafts are
written into a copy of the repository's knowledge folder, never into the repository's own."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from argon2 import PasswordHasher

from bot.config import Config, config_from_dict
from bot.nlu.pipeline import NLUPipeline
from bot.server.app import create_app
from bot.server.runtime import RUNTIME
from bot.store.sql_store import SqlStore
from handoff.console.accounts import Accounts
from handoff.console.auth import COOKIE, CSRF_HEADER
from tests.conftest import REPO, copy_tree, server_config

Client = TestClient[Any, Any]
ClientFactory = Callable[..., Awaitable[Client]]
FAST = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)  # tests only
PASSWORD = "a long enough password"
HOOK = "/webhooks/rest/webhook"
QUESTION = "How long does a refund take to reach my card?"
ANSWER = "Refunds reach the original card within 3 to 5 working days after we receive the item."


@pytest.fixture(scope="module")
def repo_knowledge() -> dict[Path, bytes]:
    """The repository's knowledge folder as it was before this module ran."""
    root = REPO / "knowledge"
    return {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def knowledge(tmp_path: Path) -> Path:
    return copy_tree(REPO / "knowledge", tmp_path / "knowledge")


@pytest.fixture
async def client(
    aiohttp_client: ClientFactory,
    repo_config: Config,
    trained: NLUPipeline,
    tmp_path: Path,
    kb_dir: Path,
    knowledge: Path,
) -> Client:
    base = server_config(repo_config, tmp_path, kb_dir, always_open=True)
    raw = base.model_dump(exclude={"base_dir"})
    raw["pipeline"] = base.pipeline_spec()
    raw["knowledge"]["path"] = str(knowledge)
    config = config_from_dict(raw, base_dir=base.base_dir)
    assert config.path(config.knowledge.path) == knowledge
    return await aiohttp_client(create_app(config, trained, dialogue=True))


@pytest.fixture(autouse=True)
def repository_knowledge_untouched(repo_knowledge: dict[Path, bytes]) -> Any:
    yield
    root = REPO / "knowledge"
    now = {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert now == repo_knowledge, "a test wrote into the repository's knowledge folder"


def store_of(client: Client) -> SqlStore:
    store: SqlStore | None = client.app[RUNTIME].store
    assert store is not None
    return store


@dataclass
class Session:
    token: str
    csrf: str

    @property
    def reads(self) -> dict[str, str]:
        return {"Cookie": f"{COOKIE}={self.token}"}

    @property
    def writes(self) -> dict[str, str]:
        return {**self.reads, CSRF_HEADER: self.csrf}


async def agent(client: Client, username: str, **fields: Any) -> Session:
    """Create an agent with a password and log them in."""
    store = store_of(client)
    await store.add_agent(username, username.title(), status="online", **fields)
    await Accounts(store, hasher=FAST).set_password(username, PASSWORD)
    resp = await client.post(
        "/api/console/login", json={"username": username, "password": PASSWORD}
    )
    assert resp.status == 200, await resp.text()
    client.session.cookie_jar.clear()  # each session sends its own cookie
    return Session(resp.cookies[COOKIE].value, (await resp.json())["csrf"])


async def ask_for_a_person(client: Client, sender: str) -> str:
    resp = await client.post(HOOK, json={"sender": sender, "message": "转人工"})
    assert resp.headers["X-Relaydesk-Status"] == "queued"
    cid: str = (await resp.json())[-1]["custom"]["conversation_id"]
    return cid


def drafts_in(knowledge: Path) -> set[Path]:
    return {p for p in knowledge.rglob("*.md") if "status: draft" in p.read_text("utf-8")}


# -- the floor view ------------------------------------------------------------------------------
async def test_the_floor_view_is_for_supervisors_and_admins(client: Client) -> None:
    amy = await agent(client, "amy", skills=["after_sales"])
    boss = await agent(client, "boss", role="supervisor")
    root = await agent(client, "root", role="admin")
    assert (await client.get("/api/agent/supervisor")).status == 401
    refused = await client.get("/api/agent/supervisor", headers=amy.reads)
    assert refused.status == 403 and "supervisors" in (await refused.json())["message"]
    for who in (boss, root):
        resp = await client.get("/api/agent/supervisor", headers=who.reads)
        assert resp.status == 200
        body = await resp.json()
        assert [a["username"] for a in body["agents"]] == ["amy", "boss", "root"]
        assert body["groups"] == []


async def test_the_floor_view_counts_each_agents_load_and_each_groups_queue(
    client: Client,
) -> None:
    amy = await agent(client, "amy", skills=["after_sales"], max_concurrent=2)
    await agent(client, "bob", skills=["after_sales", "billing"])
    boss = await agent(client, "boss", role="supervisor")

    async def floor() -> tuple[dict[str, int], dict[str, int]]:
        resp = await client.get("/api/agent/supervisor", headers=boss.reads)
        assert resp.status == 200
        body = await resp.json()
        for a in body["agents"]:
            assert set(a) >= {"username", "display_name", "status", "load", "max_concurrent"}
        for g in body["groups"]:
            assert g["longest_wait_s"] >= 0
        assert [g["skill_group"] for g in body["groups"]] == sorted(
            g["skill_group"] for g in body["groups"]
        )
        loads = {a["username"]: a["load"] for a in body["agents"]}
        return loads, {g["skill_group"]: g["waiting"] for g in body["groups"]}

    first = await ask_for_a_person(client, "c1")
    await ask_for_a_person(client, "c2")
    assert await floor() == ({"amy": 0, "bob": 0, "boss": 0}, {"after_sales": 2})

    claimed = await client.post(f"/api/agent/conversations/{first}/claim", headers=amy.writes)
    assert claimed.status == 200
    assert await floor() == ({"amy": 1, "bob": 0, "boss": 0}, {"after_sales": 1})

    moved = await client.post(
        f"/api/agent/conversations/{first}/transfer",
        headers=amy.writes,
        json={"skill_group": "billing"},
    )
    assert moved.status == 200
    assert await floor() == ({"amy": 0, "bob": 0, "boss": 0}, {"after_sales": 1, "billing": 1})

    resp = await client.get("/api/agent/supervisor", headers=boss.reads)
    amy_row = next(a for a in (await resp.json())["agents"] if a["username"] == "amy")
    assert amy_row["max_concurrent"] == 2 and amy_row["display_name"] == "Amy"


# -- knowledge drafts ----------------------------------------------------------------------------
CATEGORY = "after-sales/refunds"
BODY = {"question": QUESTION, "answer": ANSWER, "category": CATEGORY}


async def test_a_resolution_becomes_a_draft_in_the_knowledge_folder(
    client: Client, knowledge: Path
) -> None:
    amy = await agent(client, "amy", skills=["after_sales"])
    cid = await ask_for_a_person(client, "c1")
    assert drafts_in(knowledge) == set()
    path = f"/api/agent/conversations/{cid}/draft"

    resp = await client.post(path, headers=amy.writes, json=BODY)
    assert resp.status == 201, await resp.text()
    draft = (await resp.json())["draft"]
    assert draft == {"id": draft["id"], "version": 1, "status": "draft"}
    assert draft["id"].startswith(f"{CATEGORY}/how-long-does-a-refund-take")
    conv = await store_of(client).conversation(cid)
    file = knowledge / (conv.language or "zh") / f"{draft['id']}.md"
    assert drafts_in(knowledge) == {file}
    text = file.read_text("utf-8")
    assert QUESTION in text and ANSWER in text
    assert "status: draft" in text and f"conversation:{cid}" in text
    assert f"id: {draft['id']}" in text and f"category: {CATEGORY}" in text

    # The same question again is another draft, not an overwrite.
    again = await client.post(path, headers=amy.writes, json={**BODY, "answer": "Other answer."})
    assert again.status == 201, await again.text()
    second = (await again.json())["draft"]
    assert second["id"] != draft["id"] and second["id"].startswith(CATEGORY)
    assert len(drafts_in(knowledge)) == 2
    assert ANSWER in file.read_text("utf-8")

    # A draft is not served: the knowledge base still indexes only published articles.
    kb = client.app[RUNTIME].kb
    assert kb is not None
    assert draft["id"] not in kb.index.articles and second["id"] not in kb.index.articles


async def test_a_draft_without_a_category_is_saved(client: Client, knowledge: Path) -> None:
    amy = await agent(client, "amy", skills=["after_sales"])
    cid = await ask_for_a_person(client, "c1")
    resp = await client.post(
        f"/api/agent/conversations/{cid}/draft",
        headers=amy.writes,
        json={"question": QUESTION, "answer": ANSWER},
    )
    assert resp.status == 201, await resp.text()
    assert len(drafts_in(knowledge)) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"question": QUESTION, "category": CATEGORY},
        {"answer": ANSWER, "category": CATEGORY},
        {**BODY, "answer": "   "},
        {**BODY, "question": ""},
        {**BODY, "answer": 42},
        {**BODY, "answer": "a" * 8001},
        {**BODY, "question": "q" * 501},
        {**BODY, "category": "after-sales/" + "c" * 90},
        {**BODY, "category": 5},
        {**BODY, "category": "billing/refunds"},
        {**BODY, "title": "not a field"},
    ],
    ids=[
        "no-answer",
        "no-question",
        "blank-answer",
        "empty-question",
        "numeric-answer",
        "answer-too-long",
        "question-too-long",
        "category-too-long",
        "numeric-category",
        "unknown-category",
        "unknown-field",
    ],
)
async def test_a_bad_draft_is_refused_and_nothing_written(
    client: Client, knowledge: Path, body: dict[str, Any]
) -> None:
    amy = await agent(client, "amy", skills=["after_sales"])
    cid = await ask_for_a_person(client, "c1")
    before = sorted(knowledge.rglob("*"))
    resp = await client.post(f"/api/agent/conversations/{cid}/draft", headers=amy.writes, json=body)
    assert resp.status == 400, await resp.text()
    assert (await resp.json())["message"]
    assert sorted(knowledge.rglob("*")) == before


async def test_a_draft_at_the_length_limits_is_accepted(client: Client, knowledge: Path) -> None:
    amy = await agent(client, "amy", skills=["after_sales"])
    cid = await ask_for_a_person(client, "c1")
    resp = await client.post(
        f"/api/agent/conversations/{cid}/draft",
        headers=amy.writes,
        json={**BODY, "question": "q" * 500, "answer": "a" * 8000},
    )
    assert resp.status == 201, await resp.text()
    assert len(drafts_in(knowledge)) == 1


async def test_only_an_agent_who_may_see_the_conversation_saves_a_draft(
    client: Client, knowledge: Path
) -> None:
    bob = await agent(client, "bob", skills=["billing"])  # not the conversation's group
    amy = await agent(client, "amy", skills=["after_sales"])
    boss = await agent(client, "boss", role="supervisor")
    cid = await ask_for_a_person(client, "c1")
    path = f"/api/agent/conversations/{cid}/draft"

    refused = await client.post(path, headers=bob.writes, json=BODY)
    assert refused.status == 403 and "not in your queue" in (await refused.json())["message"]
    unknown = await client.post(
        "/api/agent/conversations/no-such-conversation/draft", headers=amy.writes, json=BODY
    )
    assert unknown.status == 404
    assert (await client.post(path, headers=amy.reads, json=BODY)).status == 403  # no CSRF
    assert (await client.post(path, json=BODY)).status == 401  # not logged in
    assert drafts_in(knowledge) == set()

    for who in (amy, boss):  # in the agent's group; a supervisor sees everything
        assert (await client.post(path, headers=who.writes, json=BODY)).status == 201
    assert len(drafts_in(knowledge)) == 2
