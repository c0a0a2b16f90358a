"""Knowledge review through the console's API on the real app: a draft saved from a conversation,
edited, submitted, approved (written, version bumped, re-indexed, history kept) or rejected with a
reason; a change to a published article kept apart until approved; the per-agent monthly counts.

Every test works on its own copy of the knowledge folder, index and history (tests/kit/
private_knowledge.py); the repository's knowledge/ folder is checked untouched after each test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot import clock
from bot.knowledge.base import KnowledgeBase
from bot.server.context import CONTEXT
from tests.apps import AppFactory, Client, Session, add_agent, ask_for_a_person, login
from tests.conftest import REPO
from tests.kit.private_knowledge import private_knowledge, snapshot

QUESTION = "Can I change the engraving on my Kite Watch 3 after ordering?"
ANSWER = "Engraving can be changed within 2 hours of payment in Orders > Details."
CATEGORY = "service/orders"
OVERSEAS = "service/shipping/overseas.en"


@pytest.fixture(scope="module")
def repo_knowledge() -> dict[Path, bytes]:
    return snapshot(REPO / "knowledge")


@pytest.fixture(autouse=True)
def repository_knowledge_untouched(repo_knowledge: dict[Path, bytes]) -> Any:
    yield
    assert snapshot(REPO / "knowledge") == repo_knowledge, "a test wrote into knowledge/"


@pytest.fixture
def knowledge_and_edit(tmp_path: Path, kb_dir: Path) -> tuple[Path, Any]:
    return private_knowledge(tmp_path, kb_dir)


@pytest.fixture
def knowledge(knowledge_and_edit: tuple[Path, Any]) -> Path:
    return knowledge_and_edit[0]


@pytest.fixture
async def client(make_client: AppFactory, knowledge_and_edit: tuple[Path, Any]) -> Client:
    return await make_client(always_open=True, edit=knowledge_and_edit[1])


@pytest.fixture
async def amy(client: Client) -> Session:
    await add_agent(client, "amy", skills=["after_sales", "pre_sales"], languages=["en", "zh"])
    return await login(client, "amy")


@pytest.fixture
async def sue(client: Client) -> Session:
    await add_agent(client, "sue", role="supervisor")
    return await login(client, "sue")


def kb_of(client: Client) -> KnowledgeBase:
    kb = client.app[CONTEXT].kb
    assert kb is not None
    return kb


async def ok(resp: Any, status: int = 200) -> Any:
    assert resp.status == status, await resp.text()
    return await resp.json()


async def refused(resp: Any, status: int, words: str) -> None:
    body = await resp.json()
    assert resp.status == status, body
    assert words in body["message"], body


async def save_draft(client: Client, who: Session) -> str:
    """`who` takes an English chat and saves its resolution as a draft; its id."""
    cid = await ask_for_a_person(client, f"customer-{who.agent['username']}")
    await ok(await client.post(f"/api/agent/conversations/{cid}/claim", headers=who.writes))
    store = client.app[CONTEXT].store
    await store.conversations.update(cid, language="en")
    resp = await client.post(
        f"/api/agent/conversations/{cid}/draft",
        headers=who.writes,
        json={"question": QUESTION, "answer": ANSWER, "category": CATEGORY},
    )
    draft_id: str = (await ok(resp, 201))["draft"]["id"]
    return draft_id


def item(article_id: str) -> str:
    return f"/api/review/items/{article_id}"


async def test_a_draft_goes_through_review_to_publication_and_is_served(
    client: Client, amy: Session, sue: Session, knowledge: Path
) -> None:
    draft_id = await save_draft(client, amy)
    file = knowledge / "en" / f"{draft_id}.md"
    assert "status: draft" in file.read_text("utf-8")

    listed = (await ok(await client.get("/api/review/items", headers=amy.cookie)))["items"]
    assert [(i["id"], i["status"], i["kind"], i["author"]) for i in listed] == [
        (draft_id, "draft", "new", "amy")
    ]
    detail = await ok(await client.get(item(draft_id), headers=amy.cookie))
    assert detail["published"] is None and detail["may_edit"] and not detail["may_decide"]
    assert {d["op"] for d in detail["diff"]} == {"+"}
    assert {"text": ANSWER, "op": "+"} in detail["diff"]

    # The author improves it, then submits it; agents may no longer touch it in review.
    better = ANSWER + " After that, contact us before it ships."
    edited = await ok(
        await client.post(
            item(draft_id) + "/edit",
            headers=amy.writes,
            json={
                "title": "Changing the engraving",
                "body": better,
                "questions": [QUESTION, "change engraving", QUESTION],
                "base": detail["hash"],
            },
        )
    )
    assert edited["article"]["questions"] == [QUESTION, "change engraving"]  # duplicates dropped
    assert "title: Changing the engraving" in file.read_text("utf-8")
    await ok(await client.post(item(draft_id) + "/submit", headers=amy.writes))
    assert "status: review" in file.read_text("utf-8")
    await refused(
        await client.post(item(draft_id) + "/edit", headers=amy.writes, json={"body": "x"}),
        403,
        "supervisors",
    )
    await refused(await client.post(item(draft_id) + "/approve", headers=amy.writes), 403, "")
    assert draft_id not in kb_of(client).index.articles

    # The supervisor approves what they read; a stale read is refused.
    seen = await ok(await client.get(item(draft_id), headers=sue.cookie))
    assert seen["may_decide"] and seen["may_edit"]
    await refused(
        await client.post(item(draft_id) + "/approve", headers=sue.writes, json={"base": "0" * 16}),
        409,
        "changed since you opened it",
    )
    published = await ok(
        await client.post(
            item(draft_id) + "/approve", headers=sue.writes, json={"base": seen["hash"]}
        )
    )
    assert published["published"]["version"] == 1
    assert published["published"]["path"] == f"en/{draft_id}.md"
    text = file.read_text("utf-8")
    assert "status: published" in text and better in text and "version: 1" in text

    # Served at once: indexed, answered, kept in the history, gone from the review list.
    kb = kb_of(client)
    assert kb.index.articles[draft_id].version == 1
    assert (
        kb.search("change the engraving on my watch", language="en").hits[0].article.id == draft_id
    )
    assert [v.version for v in kb.versions(draft_id)] == [1]
    assert (await ok(await client.get("/api/review/items", headers=sue.cookie)))["items"] == []
    await refused(
        await client.get(item(draft_id), headers=sue.cookie), 404, "no change under review"
    )

    steps = await client.app[CONTEXT].store.knowledge_events.of(draft_id)
    assert [(s.action, s.username) for s in steps] == [
        ("contributed", "amy"),
        ("edited", "amy"),
        ("submitted", "amy"),
        ("approved", "sue"),
    ]
    month = f"{clock.now():%Y-%m}"
    counts = await ok(await client.get("/api/review/contributions", headers=sue.cookie))
    assert counts["to"] == month
    assert counts["rows"] == [
        {"month": month, "username": "amy", "contributed": 1, "reviewed": 0, "published": 1},
        {"month": month, "username": "sue", "contributed": 0, "reviewed": 1, "published": 0},
    ]


async def test_a_rejected_draft_goes_back_to_its_author_with_the_reason(
    client: Client, amy: Session, sue: Session, knowledge: Path
) -> None:
    draft_id = await save_draft(client, amy)
    await refused(
        await client.post(item(draft_id) + "/reject", headers=sue.writes, json={"reason": "Why?"}),
        409,
        "only an article in review is rejected",
    )
    await ok(await client.post(item(draft_id) + "/submit", headers=amy.writes))
    await refused(
        await client.post(item(draft_id) + "/submit", headers=amy.writes), 409, "already in review"
    )
    await refused(
        await client.post(item(draft_id) + "/reject", headers=sue.writes, json={"reason": "  "}),
        400,
        "'reason'",
    )
    await refused(
        await client.post(item(draft_id) + "/reject", headers=amy.writes, json={"reason": "no"}),
        403,
        "supervisors",
    )
    reason = "Which models can be engraved? Say it is only the Kite Watch 3."
    back = await ok(
        await client.post(item(draft_id) + "/reject", headers=sue.writes, json={"reason": reason})
    )
    assert back["status"] == "draft" and back["may_edit"]
    assert back["last_decision"]["action"] == "rejected"
    assert back["last_decision"]["reason"] == reason and back["last_decision"]["username"] == "sue"
    assert "status: draft" in (knowledge / "en" / f"{draft_id}.md").read_text("utf-8")
    (listed,) = (await ok(await client.get("/api/review/items", headers=amy.cookie)))["items"]
    assert listed["last_decision"]["reason"] == reason

    # The author fixes it and sends it again.
    await ok(
        await client.post(
            item(draft_id) + "/edit",
            headers=amy.writes,
            json={"body": ANSWER + " Only the Kite Watch 3 can be engraved."},
        )
    )
    again = await ok(await client.post(item(draft_id) + "/submit", headers=amy.writes))
    assert again["status"] == "review"
    # The rejection is still shown, as being about the text before it was resubmitted.
    assert again["last_decision"]["reason"] == reason and again["last_decision"]["superseded"]
    assert not back["last_decision"]["superseded"]
    counts = await ok(await client.get("/api/review/contributions", headers=sue.cookie))
    by_agent = {r["username"]: r for r in counts["rows"]}
    assert by_agent["sue"]["reviewed"] == 1 and by_agent["amy"]["published"] == 0


async def test_a_change_to_a_published_article_is_served_only_once_approved(
    client: Client, amy: Session, sue: Session, knowledge: Path
) -> None:
    file = knowledge / "en/service/shipping/overseas.md"
    before = file.read_bytes()
    found = await ok(await client.get("/api/review/articles?q=overseas", headers=amy.cookie))
    assert OVERSEAS in [a["id"] for a in found["articles"]]

    started = await ok(
        await client.post(f"/api/review/articles/{OVERSEAS}/revise", headers=amy.writes), 201
    )
    assert started["kind"] == "revision" and started["published"]["version"] == 1
    assert all(d["op"] == " " for d in started["diff"])  # nothing changed yet
    await refused(
        await client.post(f"/api/review/articles/{OVERSEAS}/revise", headers=amy.writes),
        409,
        "already has a change under review",
    )
    new_body = started["article"]["body"].replace("5–10 working days", "4–8 working days")
    changed = await ok(
        await client.post(
            item(OVERSEAS) + "/edit",
            headers=amy.writes,
            json={"body": new_body, "base": started["hash"]},
        )
    )
    removed = [d["text"] for d in changed["diff"] if d["op"] == "-"]
    added = [d["text"] for d in changed["diff"] if d["op"] == "+"]
    assert len(removed) == 1 and "5–10 working days" in removed[0]
    assert len(added) == 1 and "4–8 working days" in added[0]
    # Under review the published file and the served version do not move.
    assert file.read_bytes() == before
    assert (knowledge / ".review/en/service/shipping/overseas.md").is_file()
    kb = kb_of(client)
    assert kb.index.articles[OVERSEAS].version == 1

    await ok(await client.post(item(OVERSEAS) + "/submit", headers=amy.writes))
    done = await ok(await client.post(item(OVERSEAS) + "/approve", headers=sue.writes, json={}))
    assert done["published"] == {
        "id": OVERSEAS,
        "version": 2,
        "updated": done["published"]["updated"],
        "path": "en/service/shipping/overseas.md",
    }
    text = file.read_text("utf-8")
    assert "version: 2" in text and "4–8 working days" in text and "status: published" in text
    assert not (knowledge / ".review/en/service/shipping/overseas.md").exists()
    assert kb.index.articles[OVERSEAS].version == 2
    versions = kb.versions(OVERSEAS)
    assert [v.version for v in versions] == [1, 2]
    assert "5–10 working days" in str(versions[0].content["body"])
    hit = kb.search("How long does international delivery take?", language="en").hits[0]
    assert hit.article.id == OVERSEAS and "4–8 working days" in hit.article.body
    counts = await ok(await client.get("/api/review/contributions", headers=sue.cookie))
    amy_row = next(r for r in counts["rows"] if r["username"] == "amy")
    assert amy_row["contributed"] == 1 and amy_row["published"] == 1


async def test_drafts_and_changes_nobody_wants_are_discarded(
    client: Client, amy: Session, sue: Session, knowledge: Path
) -> None:
    await add_agent(client, "bob", skills=["after_sales"])
    bob = await login(client, "bob")
    draft_id = await save_draft(client, amy)
    file = knowledge / "en" / f"{draft_id}.md"
    # Another agent may not drop Amy's draft; Amy may, while it is a draft.
    await refused(await client.post(item(draft_id) + "/discard", headers=bob.writes), 403, "author")
    await ok(await client.post(item(draft_id) + "/submit", headers=amy.writes))
    await refused(await client.post(item(draft_id) + "/discard", headers=amy.writes), 403, "author")
    dropped = await ok(
        await client.post(
            item(draft_id) + "/discard", headers=sue.writes, json={"reason": "Duplicate"}
        )
    )
    assert dropped == {"discarded": {"id": draft_id, "kind": "new"}}
    assert not file.exists()
    await refused(await client.get(item(draft_id), headers=sue.cookie), 404, "no article")

    # A proposed change is dropped; the published article is untouched and can be revised again.
    published = knowledge / "en/service/shipping/overseas.md"
    before = published.read_bytes()
    await ok(await client.post(f"/api/review/articles/{OVERSEAS}/revise", headers=bob.writes), 201)
    await ok(await client.post(item(OVERSEAS) + "/discard", headers=bob.writes))
    assert published.read_bytes() == before
    assert not (knowledge / ".review/en/service/shipping/overseas.md").exists()
    await ok(await client.post(f"/api/review/articles/{OVERSEAS}/revise", headers=bob.writes), 201)
    steps = await client.app[CONTEXT].store.knowledge_events.of(draft_id)
    assert [(s.action, s.username, s.reason) for s in steps][-1] == (
        "discarded",
        "sue",
        "Duplicate",
    )


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({}, "nothing to change"),
        ({"colour": "red"}, "unknown field(s): colour"),
        ({"body": 5}, "'body' must be a string"),
        ({"questions": "one"}, "'questions' must be a list of strings"),
        ({"tags": [1]}, "'tags' must be a list of strings"),
        ({"body": "   "}, "body must be 1 to 8000 characters"),
        ({"title": "t" * 121}, "title must be 1 to 120 characters"),
        ({"questions": [f"question {i}" for i in range(31)]}, "at most 30 questions"),
    ],
)
async def test_bad_edits_are_refused_and_nothing_written(
    client: Client, amy: Session, knowledge: Path, body: dict[str, Any], words: str
) -> None:
    draft_id = await save_draft(client, amy)
    file = knowledge / "en" / f"{draft_id}.md"
    before = file.read_bytes()
    resp = await client.post(item(draft_id) + "/edit", headers=amy.writes, json=body)
    await refused(resp, 400, words)
    assert file.read_bytes() == before


async def test_unknown_articles_and_bad_queries(client: Client, amy: Session, sue: Session) -> None:
    await refused(await client.get(item("no/such"), headers=amy.cookie), 404, "no article")
    await refused(
        await client.post("/api/review/articles/no/such/revise", headers=amy.writes),
        404,
        "no published article",
    )
    await refused(
        await client.get("/api/review/articles?q=" + "x" * 101, headers=amy.cookie), 400, "'q'"
    )
    await refused(await client.get("/api/review/contributions", headers=amy.cookie), 403, "")
    for query, words in (
        ("from=2026-13", "'from' must be a month"),
        ("to=last", "'to' must be a month"),
        ("from=2026-12&to=2026-11", "'from' is after 'to'"),
        ("from=2024-01&to=2026-01", "at most 24 months"),
    ):
        resp = await client.get(f"/api/review/contributions?{query}", headers=sue.cookie)
        await refused(resp, 400, words)
    # A writes without the CSRF header is refused.
    await refused(
        await client.post(f"/api/review/articles/{OVERSEAS}/revise", headers=amy.cookie),
        403,
        "X-CSRF-Token",
    )
