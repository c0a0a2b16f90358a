"""The supervisor's floor view and knowledge drafts from the console, on the real app. Drafts are
written into a copy of the repository's knowledge folder, never into the repository's own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.http.keys import CONFIG
from bot.server.context import CONTEXT
from tests.apps import AppFactory, Client, Session, add_agent, ask_for_a_person, login, store_of
from tests.conftest import REPO, copy_tree

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
async def client(make_client: AppFactory, knowledge: Path) -> Client:
    def into_the_copy(raw: dict[str, Any]) -> None:
        raw["knowledge"]["path"] = str(knowledge)

    client = await make_client(always_open=True, edit=into_the_copy)
    config = client.app[CONFIG]
    assert config.path(config.knowledge.path) == knowledge
    return client


@pytest.fixture(autouse=True)
def repository_knowledge_untouched(repo_knowledge: dict[Path, bytes]) -> Any:
    yield
    root = REPO / "knowledge"
    now = {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert now == repo_knowledge, "a test wrote into the repository's knowledge folder"


async def agent(client: Client, username: str, **fields: Any) -> Session:
    """Create an agent with a password and log them in."""
    await add_agent(client, username, **fields)
    return await login(client, username)


def drafts_in(knowledge: Path) -> set[Path]:
    return {p for p in knowledge.rglob("*.md") if "status: draft" in p.read_text("utf-8")}


# -- the floor view ------------------------------------------------------------------------------
async def test_the_floor_view_is_for_supervisors_and_admins(client: Client) -> None:
    amy = await agent(client, "amy", skills=["after_sales"])
    boss = await agent(client, "boss", role="supervisor")
    root = await agent(client, "root", role="admin")
    assert (await client.get("/api/agent/supervisor")).status == 401
    refused = await client.get("/api/agent/supervisor", headers=amy.cookie)
    assert refused.status == 403 and "supervisors" in (await refused.json())["message"]
    for who in (boss, root):
        resp = await client.get("/api/agent/supervisor", headers=who.cookie)
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
        resp = await client.get("/api/agent/supervisor", headers=boss.cookie)
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

    resp = await client.get("/api/agent/supervisor", headers=boss.cookie)
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
    conv = await store_of(client).conversations.get(cid)
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
    kb = client.app[CONTEXT].kb
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
    assert (await client.post(path, headers=amy.cookie, json=BODY)).status == 403  # no CSRF
    assert (await client.post(path, json=BODY)).status == 401  # not logged in
    assert drafts_in(knowledge) == set()

    for who in (amy, boss):  # in the agent's group; a supervisor sees everything
        assert (await client.post(path, headers=who.writes, json=BODY)).status == 201
    assert len(drafts_in(knowledge)) == 2
