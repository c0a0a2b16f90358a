"""The administration API on the real app: roles enforced on the server, agents an admin adds
who then log in, disabling and password resets that end sessions, settings that take effect in
routing and the console without a restart, and the audit log of who did what."""

from __future__ import annotations

from typing import Any

from bot import clock
from bot.server.context import CONTEXT
from tests.apps import PASSWORD, AppFactory, Client, Session, add_agent, login

LOGIN = "/api/console/login"


async def _post(client: Client, who: Session, path: str, body: Any) -> tuple[int, Any]:
    resp = await client.post(path, json=body, headers=who.writes)
    return resp.status, await resp.json()


async def _get(client: Client, who: Session, path: str) -> tuple[int, Any]:
    resp = await client.get(path, headers=who.cookie)
    return resp.status, await resp.json()


async def _team(client: Client) -> tuple[Session, Session, Session]:
    await add_agent(client, "ada", role="admin")
    await add_agent(client, "sue", role="supervisor")
    await add_agent(client, "amy", skills=["after_sales"])
    return await login(client, "ada"), await login(client, "sue"), await login(client, "amy")


async def test_an_admin_adds_an_agent_who_then_logs_in(make_client: AppFactory) -> None:
    client = await make_client()
    ada, _, _ = await _team(client)
    status, body = await _post(
        client,
        ada,
        "/api/admin/agents",
        {
            "username": "li.wei",
            "display_name": "李伟",
            "skills": ["billing", "after_sales"],
            "languages": ["zh"],
            "max_concurrent": 5,
            "password": "a new agent's password",
        },
    )
    assert status == 201, body
    assert body["agent"] | {"id": None} == {
        "id": None,
        "username": "li.wei",
        "display_name": "李伟",
        "role": "agent",
        "skills": ["billing", "after_sales"],
        "languages": ["zh"],
        "max_concurrent": 5,
        "status": "offline",
        "disabled": False,
    }
    li = await login(client, "li.wei", password="a new agent's password")
    assert li.agent["display_name"] == "李伟"
    status, queue = await _get(client, li, "/api/agent/queue")
    assert status == 200 and queue["queue"] == []
    status, log = await _get(client, ada, "/api/admin/audit")
    first = log["entries"][0]
    assert (first["actor"], first["action"], first["target"]) == (
        "ada",
        "agent.add",
        "agent:li.wei",
    )
    assert first["changes"]["password"] == "set" and "hash" not in str(first["changes"])


async def test_roles_are_enforced_on_the_server(make_client: AppFactory) -> None:
    client = await make_client()
    ada, sue, amy = await _team(client)
    for path in ("/api/admin/agents", "/api/admin/settings", "/api/admin/audit"):
        assert (await client.get(path, headers=amy.cookie)).status == 403
    status, _ = await _post(client, amy, "/api/admin/agents", {"username": "x1"})
    assert status == 403
    status, _ = await _post(client, amy, "/api/admin/agents/amy", {"max_concurrent": 20})
    assert status == 403  # not even on themselves
    # A supervisor runs the team of agents, but grants no role and touches no admin.
    status, body = await _post(
        client, sue, "/api/admin/agents", {"username": "bo", "role": "admin"}
    )
    assert status == 403 and "supervisors manage agents only" in body["message"]
    status, _ = await _post(client, sue, "/api/admin/agents", {"username": "bo"})
    assert status == 201
    status, _ = await _post(client, sue, "/api/admin/agents/bo", {"role": "supervisor"})
    assert status == 403
    status, _ = await _post(client, sue, "/api/admin/agents/ada/disable", {})
    assert status == 403
    status, _ = await _post(client, sue, "/api/admin/agents/amy", {"skills": ["billing"]})
    assert status == 200
    # Skill groups and their hours are an admin's; holidays and canned responses a supervisor's.
    status, _ = await _post(client, sue, "/api/admin/groups/billing", {"hours": "08:00-20:00"})
    assert status == 403
    status, _ = await _post(client, ada, "/api/admin/groups/billing", {"hours": "08:00-20:00"})
    assert status == 200
    day = {"day": "2027-10-01", "name": "国庆节"}
    assert (await _post(client, sue, "/api/admin/holidays", day))[0] == 201
    # The CSRF header is required on every change.
    resp = await client.post(
        "/api/admin/agents/amy", json={"max_concurrent": 4}, headers=ada.cookie
    )
    assert resp.status == 403
    # An admin promotes; the last admin cannot demote themselves.
    assert (await _post(client, ada, "/api/admin/agents/sue", {"role": "admin"}))[0] == 200
    assert (await _post(client, ada, "/api/admin/agents/bo", {"role": "supervisor"}))[0] == 200
    status, body = await _post(client, ada, "/api/admin/agents/ada/disable", {})
    assert status == 400 and "your own account" in body["message"]


async def test_bad_input_is_refused_naming_the_field(make_client: AppFactory) -> None:
    client = await make_client()
    ada, _, _ = await _team(client)
    cases = [
        ("/api/admin/agents", {"username": "x"}, "username"),
        ("/api/admin/agents", {"username": "xy", "skills": ["nope"]}, "unknown skill group"),
        ("/api/admin/agents", {"username": "xy", "max_concurrent": 99}, "max_concurrent"),
        ("/api/admin/agents", {"username": "xy", "skills": "billing"}, "skills: a list"),
        ("/api/admin/agents", {"username": "xy", "languages": ["fr"]}, "languages"),
        ("/api/admin/agents", {"username": "xy", "password": "short"}, "password"),
        ("/api/admin/agents", {"username": "xy", "is_admin": True}, "unknown field"),
        ("/api/admin/agents/amy", {"role": "root"}, "role"),
        ("/api/admin/groups/billing", {"hours": "09:00-25:00"}, "hours"),
        ("/api/admin/groups/Bad-Name", {"hours": "09:00-18:00"}, "name"),
        ("/api/admin/holidays", {"day": "2027-02-30", "name": "x"}, "day"),
        ("/api/admin/canned", {"language": "fr", "title": "t", "text": "x"}, "language"),
        ("/api/admin/canned", {"language": "en", "title": "t", "text": "x" * 2001}, "text"),
    ]
    for path, body, words in cases:
        status, answer = await _post(client, ada, path, body)
        assert status == 400 and words in answer["message"], (path, body, answer)
    status, _ = await _post(client, ada, "/api/admin/agents/ghost", {"max_concurrent": 2})
    assert status == 404
    status, _ = await _post(client, ada, "/api/admin/canned/99999/delete", {})
    assert status == 404


async def test_disabling_and_resetting_a_password_end_the_sessions(make_client: AppFactory) -> None:
    client = await make_client()
    ada, _, amy = await _team(client)
    assert (await _post(client, ada, "/api/admin/agents/amy/disable", {}))[0] == 200
    assert (await client.get("/api/console/me", headers=amy.cookie)).status == 401
    resp = await client.post(LOGIN, json={"username": "amy", "password": PASSWORD})
    assert resp.status == 401 and "disabled" in (await resp.json())["message"]
    status, body = await _get(client, ada, "/api/admin/agents")
    assert {a["username"]: a["disabled"] for a in body["agents"]}["amy"] is True
    assert (await _post(client, ada, "/api/admin/agents/amy/enable", {}))[0] == 200
    amy = await login(client, "amy")
    status, body = await _post(client, ada, "/api/admin/agents/amy/password", {})
    assert status == 200 and len(body["password"]) >= 16  # made up, shown once
    assert (await client.get("/api/console/me", headers=amy.cookie)).status == 401
    resp = await client.post(LOGIN, json={"username": "amy", "password": PASSWORD})
    assert resp.status == 401
    await login(client, "amy", password=body["password"])


async def test_settings_take_effect_without_a_restart(make_client: AppFactory) -> None:
    client = await make_client(always_open=True)
    ada, _, amy = await _team(client)
    await client.app[CONTEXT].store.agents.update("amy", status="online")
    # Canned responses: what agents pick from changes at once.
    status, made = await _post(
        client, ada, "/api/admin/canned", {"language": "en", "title": "Invoice", "text": "Sent."}
    )
    assert status == 201
    status, canned = await _get(client, amy, "/api/agent/canned")
    assert {"id": made["canned"]["id"], "title": "Invoice", "text": "Sent."} in canned["en"]
    # A new skill group is offered for transfers and to agents' skills.
    status, _ = await _post(
        client,
        ada,
        "/api/admin/groups/vip",
        {"intents": [], "languages": ["zh", "en"], "display_name": {"zh": "贵宾", "en": "VIP"}},
    )
    assert status == 200
    assert "vip" in (await _get(client, amy, "/api/agent/skill-groups"))[1]["groups"]
    # A holiday for every group today: the next customer who asks for a person gets a ticket.
    today = clock.now().astimezone(client.app[CONTEXT].engine.router.tz).date().isoformat()
    status, _ = await _post(client, ada, "/api/admin/holidays", {"day": today, "name": "Closed"})
    assert status == 201
    resp = await client.post("/webhooks/rest/webhook", json={"sender": "c9", "message": "转人工"})
    replies = await resp.json()
    assert resp.headers["X-Relaydesk-Status"] != "queued", replies
    assert any("T-" in r.get("text", "") for r in replies), replies
    _, settings = await _get(client, ada, "/api/admin/settings")
    assert [h["name"] for h in settings["holidays"]] == ["Closed"]
    assert settings["may_edit_groups"] is True
