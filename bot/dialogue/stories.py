"""Conversation tests, like Rasa's test stories: customer lines and agent actions with the
intents, replies and states expected after each. `relaydesk test stories FILE` runs them on a
fresh database, through the real engine."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import yaml

from bot.dialogue.engine import DialogueEngine, TurnResult
from bot.errors import DataProblem, RelaydeskError, TrainingDataError
from bot.store.sql_store import SqlStore

USER_KEYS = {
    "user",
    "intent",
    "status",
    "failed_turns",
    "handoff",
    "skill_group",
    "position",
    "ticket",
    "kb_article",
    "reply_contains",
    "silent",
    "rating",
}
AGENT_KEYS = {"agent", "action", "text", "group", "status", "expect_error"}
AGENT_ACTIONS = ("claim", "send", "transfer", "return_to_bot", "resolve")


class AgentDesk(Protocol):
    """The agent actions a story can take (handoff.service.HandoffService): the caller hands it
    in, so the dialogue package never imports the handoff side."""

    store: SqlStore

    def claim(self, conversation_id: str, /, username: str) -> Awaitable[object]: ...
    def send(self, conversation_id: str, /, username: str, text: str) -> Awaitable[object]: ...
    def transfer(self, conversation_id: str, /, skill_group: str) -> Awaitable[object]: ...
    def return_to_bot(self, conversation_id: str, /) -> Awaitable[object]: ...
    def resolve(self, conversation_id: str, /) -> Awaitable[object]: ...


@dataclass
class StoryResult:
    name: str
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def load_stories(path: Path) -> list[dict[str, Any]]:
    name = str(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise TrainingDataError([DataProblem(name, None, f"cannot read stories: {exc}")]) from exc
    stories = raw.get("stories") if isinstance(raw, dict) else None
    if not isinstance(stories, list) or not stories:
        raise TrainingDataError([DataProblem(name, None, "expected 'stories:' with a list")])
    problems = []
    for i, story in enumerate(stories):
        where = f"stories[{i}]"
        if not isinstance(story, dict) or not story.get("story") or not story.get("steps"):
            problems.append(DataProblem(name, None, f"{where}: needs 'story' and 'steps'"))
            continue
        for j, step in enumerate(story["steps"]):
            keys = set(step) if isinstance(step, dict) else set()
            allowed = USER_KEYS if "user" in keys else AGENT_KEYS if "agent" in keys else None
            if allowed is None:
                problems.append(DataProblem(name, None, f"{where}.steps[{j}]: 'user' or 'agent'"))
            elif keys - allowed:
                problems.append(
                    DataProblem(
                        name,
                        None,
                        f"{where}.steps[{j}]: unknown key(s) {', '.join(sorted(keys - allowed))}",
                    )
                )
            elif "agent" in keys and step.get("action") not in AGENT_ACTIONS:
                problems.append(
                    DataProblem(
                        name, None, f"{where}.steps[{j}]: action one of {', '.join(AGENT_ACTIONS)}"
                    )
                )
    if problems:
        raise TrainingDataError(problems)
    return stories


async def run_story(
    story: dict[str, Any], engine: DialogueEngine, service: AgentDesk
) -> StoryResult:
    result = StoryResult(str(story["story"]))
    store = engine.store
    sender = f"story-{uuid.uuid4().hex[:10]}"
    channel = str(story.get("channel", "rest"))
    if story.get("time"):
        at = datetime.fromisoformat(str(story["time"]))
        engine.clock = lambda: at
    # Each story starts from an empty queue with only its own agents online.
    for waiting in await store.handoffs.queued():
        await store.handoffs.update(waiting.id, status="abandoned")
    for existing in await store.agents.all():
        if existing.status != "offline":
            await store.agents.update(existing.username, status="offline")
    for agent in story.get("agents", []):
        try:
            await store.agents.add(
                agent["username"],
                agent.get("name", agent["username"]),
                skills=agent.get("skills", []),
                languages=agent.get("languages", ["zh", "en"]),
                max_concurrent=agent.get("max", 3),
                status=agent.get("status", "online"),
            )
        except RelaydeskError:
            await store.agents.update(
                agent["username"],
                status=agent.get("status", "online"),
                skills=agent.get("skills", []),
            )
    customer = await store.customers.for_identity(channel, sender)
    if story.get("customer", {}).get("tags"):
        await store.customers.update(customer.id, tags=story["customer"]["tags"])
    for subject in story.get("tickets", []):
        await store.tickets.create(customer.id, str(subject))
    conversation_id: str | None = None
    for n, step in enumerate(story["steps"], 1):
        where = f"step {n}"
        if "user" in step:
            turn = await engine.handle(channel, sender, str(step["user"]))
            conversation_id = turn.conversation_id
            result.failures += [f"{where} ({step['user']!r}): {f}" for f in _check(step, turn)]
        else:
            if conversation_id is None:
                result.failures.append(f"{where}: an agent step needs a customer turn before it")
                break
            failure = await _agent_step(step, service, conversation_id)
            if failure:
                result.failures.append(f"{where} ({step['action']}): {failure}")
    return result


async def _agent_step(step: dict[str, Any], service: AgentDesk, conv: str) -> str | None:
    action = step["action"]
    try:
        if action == "claim":
            await service.claim(conv, step["agent"])
        elif action == "send":
            await service.send(conv, step["agent"], str(step.get("text", "")))
        elif action == "transfer":
            await service.transfer(conv, str(step["group"]))
        elif action == "return_to_bot":
            await service.return_to_bot(conv)
        else:
            await service.resolve(conv)
    except RelaydeskError as exc:
        if step.get("expect_error"):
            return None if step["expect_error"] in str(exc) else f"error {exc} does not match"
        return f"failed: {exc}"
    if step.get("expect_error"):
        return f"expected an error containing {step['expect_error']!r}"
    if "status" in step:
        status = (await service.store.conversations.get(conv)).status
        if status != step["status"]:
            return f"status {status!r}, expected {step['status']!r}"
    return None


def _check(step: dict[str, Any], turn: TurnResult) -> list[str]:
    out = []
    if "intent" in step and turn.intent != step["intent"]:
        out.append(f"intent {turn.intent!r}, expected {step['intent']!r}")
    if "status" in step and turn.status != step["status"]:
        out.append(f"status {turn.status!r}, expected {step['status']!r}")
    if "failed_turns" in step and turn.failed_turns != step["failed_turns"]:
        out.append(f"failed_turns {turn.failed_turns}, expected {step['failed_turns']}")
    if "handoff" in step:
        got = turn.handoff.reason if turn.handoff else None
        if got != step["handoff"]:
            out.append(f"handoff {got!r}, expected {step['handoff']!r}")
    if "skill_group" in step and (
        turn.handoff is None or turn.handoff.skill_group != step["skill_group"]
    ):
        out.append(
            f"skill group {turn.handoff and turn.handoff.skill_group!r}, "
            f"expected {step['skill_group']!r}"
        )
    if "position" in step and (turn.handoff is None or turn.handoff.position != step["position"]):
        out.append(
            f"queue position {turn.handoff and turn.handoff.position}, expected {step['position']}"
        )
    if "ticket" in step and bool(turn.handoff and turn.handoff.ticket) != bool(step["ticket"]):
        out.append("a ticket was" + (" not" if step["ticket"] else "") + " opened")
    if "kb_article" in step:
        got = turn.kb_article["id"] if turn.kb_article else None
        if got != step["kb_article"]:
            out.append(f"knowledge article {got!r}, expected {step['kb_article']!r}")
    text = "\n".join(r.text for r in turn.replies)
    wanted = step.get("reply_contains", [])
    for piece in [wanted] if isinstance(wanted, str) else wanted:
        if str(piece) not in text:
            out.append(f"reply does not contain {piece!r}: {text!r}")
    if step.get("silent") and turn.replies:
        out.append(f"expected no reply, got {text!r}")
    if "rating" in step and turn.extra.get("rating") != step["rating"]:
        out.append(f"rating {turn.extra.get('rating')!r}, expected {step['rating']!r}")
    return out
