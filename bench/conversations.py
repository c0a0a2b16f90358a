"""Whole conversations through the real dialogue engine, scored against what a good agent would
do (issue 16): the language of every reply, apologies, knowledge answers, "did you mean" offers,
failed turns and handoffs.

    .venv/bin/python bench/conversations.py [--data FILE] [--half odd|even] [--verbose]
        [--models DIR]

The conversations (bench/data/conversations.yml) were written for this benchmark in customers'
own words, Chinese and English, 2-7 turns each; every turn is labelled with the language a good
agent replies in, whether the customer is upset (a good agent apologises), whether a person
should be brought in, and the knowledge articles that answer it. The file's schema is checked
before anything runs (`load_conversations`).

The stack is the one the dialogue tests build: config.yml's pipeline trained on nlu_data (kept
under --models by its fingerprint, so a second run reuses it), the knowledge base indexed into a
temporary folder, a fresh SQLite store per conversation (with one online agent in every skill
group when the conversation says agents are online), routing from config.yml's handoff section,
the sample orders, responses.yml, and a clock fixed inside service hours (a Tuesday, 14:30
Shanghai). Each conversation is a new customer on the REST channel; the channel's language goes
on the customer record and, when `DialogueEngine.handle` takes one, as its language hint.

How a turn is scored (only turns the bot holds: while the queue or an agent has the chat the bot
is silent, and those turns are counted as skipped):

- language: every reply with letters, by bot.nlu.language.detect with default parameters;
  "mixed" counts as Chinese unless its Chinese share is below the detector's English threshold
  (an English answer quoting "普通发票"). Per reply and per turn.
- apologies: the result's `empathetic` when the engine has it, else an utter_empathy text of
  that checkout's responses.yml among the replies; precision and recall against `upset`, once
  per conversation: an upset turn after an apology is covered by it, and a second apology is a
  wrong one.
- answers: a turn with `kb_article` is right when its id is among the turn's `articles` (a turn
  without articles has no right answer); recall over the scripted turns that have articles,
  answered right at once or through an accepted offer.
- "did you mean" offers (`kb_choices`): the customer presses the button of a right article when
  one is offered (the payload a channel sends), unless the next scripted turn is their own pick;
  accepted when that pick is answered with a right article.
- failed turns: the result's `failed`, else the failed-turn count rising or a failed_turns
  handoff.
- handoffs: `handoff` set, or the status moving from bot to queued/assigned; right when the turn
  says escalate, wrong when not, missed when it says so and no handoff has happened yet in the
  conversation. Containment: the conversations where no turn says escalate that ended without
  any handoff (a ticket counts).

--half odd keeps the conversations whose id ends in an odd number (zh-returns-01, -03 ...), the
half that policy and training-data choices are tuned on; --half even keeps the other, held-out
half. Every figure comes per reply/turn/conversation overall, and turn counts per conversation
language and per topic (the middle of the id). --verbose prints every mismatch.

Engine, config, model data, articles and responses all come from the checkout `bot` is imported
from, and PYTHONPATH wins over this file's own repository, so an older checkout is scored on the
same conversations with:

    cd /tmp/before && PYTHONPATH=/tmp/before /work/main/.venv/bin/python \\
        /work/main/bench/conversations.py --data /work/main/bench/data/conversations.yml

Ends with one JSON line of every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import inspect
import os
import re
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from _common import DATA, REPO, emit_json, fmt, print_table, quiet_logging, rnd

# _common puts this repository first on sys.path; an explicit PYTHONPATH (another checkout's
# engine, scored on the same conversations) goes back in front of it.
for _entry in reversed([p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]):
    _path = str(Path(_entry).resolve())
    while _path in sys.path:
        sys.path.remove(_path)
    sys.path.insert(0, _path)

CONVERSATIONS = DATA / "conversations.yml"
OPEN_HOURS = datetime(2026, 11, 24, 14, 30, tzinfo=ZoneInfo("Asia/Shanghai"))  # a Tuesday
LANGUAGES = ("zh", "en")
KINDS = (
    "question",
    "order",
    "smalltalk",
    "offtopic",
    "non_text",
    "command",
    "request_human",
    "complaint",
    "pick",
    "other",
)
MIN_TURNS, MAX_TURNS = 2, 7
GROUP_COUNTS = (
    "turns",
    "wrong_language",
    "apology_errors",
    "failed",
    "missed",
    "wrong_handoffs",
    "answerable",
    "right",
)
# Names a newer engine may give the channel's language hint in `handle` (the web widget's
# browser language, Telegram's language_code); the first one found is passed.
HINT_PARAMETERS = ("language_hint", "channel_language", "hint", "language")
_LETTER = re.compile(r"[^\W\d_]")
# As bot/nlu/language.py counts them: a Latin word weighs about what two Chinese characters say.
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef]")
_LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u024f]+")
LATIN_WORD_WEIGHT = 2


class DataError(Exception):
    """The conversations file breaks the schema: which conversation, which turn, and why."""


@dataclass(frozen=True)
class Expect:
    language: str
    upset: bool = False
    escalate: bool = False
    articles: tuple[str, ...] | None = None  # None: the turn is not for the knowledge base
    kind: str = "other"


@dataclass(frozen=True)
class TurnSpec:
    say: str
    expect: Expect


@dataclass(frozen=True)
class Conversation:
    id: str
    language: str
    agents_online: bool
    turns: tuple[TurnSpec, ...]


# -- the data --------------------------------------------------------------------------------


def load_conversations(path: Path) -> list[Conversation]:
    """The conversations in `path`, checked against the schema:

        version: "1"
        conversations:
          - id: zh-returns-01          # unique
            language: zh               # the channel's language (zh | en)
            agents_online: true        # default true
            turns:                     # 2-7
              - say: "..."
                expect:
                  language: zh         # required: the language a good agent replies in
                  upset: false         # default false: a good agent apologises
                  escalate: false      # default false: a good agent brings in a person
                  articles: [id, ...]  # optional: any of these articles is a right answer
                  kind: question       # one of KINDS (default other)

    Raises DataError naming the conversation and turn at fault.
    """
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DataError(f"{path}: cannot read: {exc}") from exc
    if not isinstance(raw, dict) or str(raw.get("version")) != "1":
        raise DataError(f'{path}: expected a mapping with version: "1" and conversations: [...]')
    unknown = set(raw) - {"version", "conversations"}
    if unknown:
        raise DataError(f"{path}: unknown top-level key(s) {sorted(unknown)}")
    items = raw.get("conversations")
    if not isinstance(items, list) or not items:
        raise DataError(f"{path}: conversations must be a non-empty list")
    out: list[Conversation] = []
    seen: set[str] = set()
    for n, item in enumerate(items, 1):
        where = f"{path}: conversation #{n}"
        if not isinstance(item, dict):
            raise DataError(f"{where}: must be a mapping with id, language and turns")
        cid = item.get("id")
        if not isinstance(cid, str) or not cid.strip():
            raise DataError(f"{where}: id must be non-empty text")
        where = f"{path}: conversation {cid!r}"
        if cid in seen:
            raise DataError(f"{where}: duplicate id")
        seen.add(cid)
        unknown = set(item) - {"id", "language", "agents_online", "turns"}
        if unknown:
            raise DataError(f"{where}: unknown key(s) {sorted(unknown)}")
        if item.get("language") not in LANGUAGES:
            raise DataError(f"{where}: language {item.get('language')!r}; allowed: zh, en")
        online = item.get("agents_online", True)
        if not isinstance(online, bool):
            raise DataError(f"{where}: agents_online must be true or false")
        turns = item.get("turns")
        if not isinstance(turns, list) or not MIN_TURNS <= len(turns) <= MAX_TURNS:
            count = len(turns) if isinstance(turns, list) else "no"
            raise DataError(f"{where}: needs {MIN_TURNS}-{MAX_TURNS} turns, has {count}")
        specs = tuple(_turn(t, f"{where}, turn {i}") for i, t in enumerate(turns, 1))
        out.append(Conversation(cid, item["language"], online, specs))
    return out


def _turn(raw: Any, where: str) -> TurnSpec:
    if not isinstance(raw, dict) or set(raw) != {"say", "expect"}:
        raise DataError(f"{where}: a turn is a mapping of exactly say and expect")
    say = raw["say"]
    if not isinstance(say, str) or not say.strip():
        raise DataError(f'{where}: say must be non-empty text (quote numbers: say: "2026...")')
    e = raw["expect"]
    if not isinstance(e, dict):
        raise DataError(f"{where}: expect must be a mapping")
    unknown = set(e) - {"language", "upset", "escalate", "articles", "kind"}
    if unknown:
        raise DataError(f"{where}: unknown expect key(s) {sorted(unknown)}")
    if e.get("language") not in LANGUAGES:
        raise DataError(f"{where}: expect.language {e.get('language')!r}; required, zh or en")
    for key in ("upset", "escalate"):
        if not isinstance(e.get(key, False), bool):
            raise DataError(f"{where}: expect.{key} must be true or false")
    articles = e.get("articles")
    if articles is not None and (
        not isinstance(articles, list)
        or not articles
        or not all(isinstance(a, str) and a for a in articles)
    ):
        raise DataError(f"{where}: expect.articles must be a non-empty list of article ids")
    kind = e.get("kind", "other")
    if kind not in KINDS:
        raise DataError(f"{where}: expect.kind {kind!r}; allowed: {', '.join(KINDS)}")
    return TurnSpec(
        say,
        Expect(
            e["language"],
            e.get("upset", False),
            e.get("escalate", False),
            tuple(articles) if articles is not None else None,
            kind,
        ),
    )


def half(conversations: list[Conversation], which: str | None) -> list[Conversation]:
    """The tuning half (ids ending in an odd number), the held-out half (even), or all."""
    if which is None:
        return conversations
    parity = 1 if which == "odd" else 0
    out = []
    for c in conversations:
        digits = re.search(r"(\d+)$", c.id)
        if digits is None:
            raise DataError(f"conversation {c.id!r}: --half needs ids ending in a number")
        if int(digits.group(1)) % 2 == parity:
            out.append(c)
    return out


def check_articles(conversations: list[Conversation], known: set[str]) -> None:
    """Every labelled article exists in the knowledge base being scored."""
    for c in conversations:
        for i, t in enumerate(c.turns, 1):
            missing = [a for a in t.expect.articles or () if a not in known]
            if missing:
                raise DataError(
                    f"conversation {c.id!r}, turn {i}: no article {missing} in the knowledge base"
                )


# -- the stack -------------------------------------------------------------------------------


@dataclass
class Stack:
    root: Path  # the checkout the engine comes from
    config: Any
    nlu: Any
    kb: Any
    responses_path: Path
    empathy_texts: tuple[str, ...]
    hint_parameter: str | None
    family: dict[str, str]  # article id -> its translation family
    trained_now: bool
    setup_s: float


def code_root() -> Path:
    import bot

    return Path(bot.__file__).resolve().parent.parent


def model_cache(root: Path) -> Path:
    """Where models are kept between runs: per checkout and per NLU code, since the model's own
    fingerprint covers the data and the pipeline but not the code (or the sentiment lexicon and
    training lines under bot/nlu) that trains it."""
    digest = hashlib.sha256(str(root).encode())
    for path in sorted((root / "bot" / "nlu").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(path.read_bytes())
    return Path(tempfile.gettempdir()) / "relaydesk-bench-models" / digest.hexdigest()[:16]


def build_stack(tmp: Path, models: Path | None) -> Stack:
    from bot.config import config_from_dict, load_config
    from bot.dialogue.engine import DialogueEngine
    from bot.dialogue.responses import Responses
    from bot.knowledge.base import KnowledgeBase
    from bot.nlu.pipeline import NLUPipeline, train_model

    started = time.perf_counter()
    root = code_root()
    base = load_config(root / "config.yml")
    raw = base.model_dump(exclude={"base_dir"})
    raw["pipeline"] = base.pipeline_spec()
    raw["nlu"]["models"] = str(models or model_cache(root))
    raw["knowledge"].update(index_path=str(tmp / "kb-index"), history_db=str(tmp / "kb.db"))
    config = config_from_dict(raw, base_dir=str(root))
    info, trained_now = train_model(config)
    nlu = NLUPipeline.load(info.path)
    embed = nlu.component("SentenceEmbeddingFeaturizer")
    kb = KnowledgeBase(config, embedder=embed.embedder if embed is not None else None)
    kb.reindex()
    responses_path = config.path(config.dialogue.responses)
    templates = Responses.load(responses_path).templates.get("utter_empathy", {})
    empathy = tuple(str(v["text"]) for lang in LANGUAGES for v in templates.get(lang, []))
    params = inspect.signature(DialogueEngine.handle).parameters
    hint = next((p for p in HINT_PARAMETERS if p in params), None)
    family = dict(kb.index.family)
    return Stack(
        root,
        config,
        nlu,
        kb,
        responses_path,
        empathy,
        hint,
        family,
        trained_now,
        time.perf_counter() - started,
    )


async def open_engine(stack: Stack, tmp: Path, agents_online: bool) -> Any:
    """A fresh store with the engine over it: one online agent per skill group, or nobody."""
    from bot.dialogue.engine import DialogueEngine
    from bot.dialogue.orders import SqliteOrderLookup
    from bot.dialogue.policy import PolicySettings
    from bot.dialogue.responses import Responses
    from bot.store.sql_store import SqlStore
    from handoff.announcer import QueueAnnouncer
    from handoff.routing import Router

    store = await SqlStore.open(f"sqlite:///{tmp / 'relaydesk.db'}", base_dir=tmp)
    h = stack.config.handoff
    if agents_online:
        for group in h.skill_groups:
            await store.agents.add(
                f"agent-{group}",
                f"Agent {group}",
                skills=[group],
                languages=list(LANGUAGES),
                status="online",
            )
    responses = Responses.load(stack.responses_path, seed=0)
    return DialogueEngine(
        store,
        stack.nlu,
        stack.kb,
        responses,
        Router(h),
        SqliteOrderLookup(tmp / "orders.db"),
        PolicySettings(
            max_failed_turns=h.max_failed_turns,
            negative_streak_to_escalate=h.negative_streak_to_escalate,
            strong_negative_score=h.strong_negative_score,
        ),
        default_language=stack.config.dialogue.default_language,
        ticket_follow_up_hours=h.ticket_follow_up_hours,
        announcer=QueueAnnouncer(store, responses, h.average_handle_minutes),
        auto_assign=h.auto_assign,
        clock=lambda: OPEN_HOURS,
    )


# -- scoring ---------------------------------------------------------------------------------


@dataclass
class Tally:
    """Counts over every scored turn; figures() turns them into rates."""

    conversations: int = 0
    turns: int = 0  # customer turns sent, picks included
    scored: int = 0  # turns the bot held
    skipped: int = 0  # turns while the queue or an agent held the chat: the bot is silent
    silent: int = 0  # scored turns with no reply at all
    replies_scored: int = 0
    replies_wrong_language: int = 0
    replies_mixed: int = 0  # replies the detector called mixed
    turns_wrong_language: int = 0
    wrong_language_by_kind: Counter[str] = field(default_factory=Counter)
    turns_by_kind: Counter[str] = field(default_factory=Counter)
    upset: int = 0
    apologised: int = 0
    apologised_upset: int = 0  # first apologies of a conversation, on an upset turn
    upset_covered: int = 0  # upset turns apologised on, or after an apology earlier
    apology_attr_text_disagree: int = 0
    answered: int = 0
    answered_right: int = 0
    answered_right_family: int = 0
    answerable: int = 0  # turns labelled with articles
    answerable_right: int = 0
    offers: int = 0
    offers_with_right: int = 0  # a right article among those offered
    accepted: int = 0  # the pick that followed was answered with a right article
    failed: int = 0
    failed_by_kind: Counter[str] = field(default_factory=Counter)
    escalate_expected: int = 0
    escalations: int = 0
    escalations_right: int = 0
    escalations_wrong: int = 0
    escalations_missed: int = 0
    conversations_wrong_escalation: int = 0
    containable: int = 0  # conversations with no expected escalation
    contained: int = 0
    # Turn counts (GROUP_COUNTS) per conversation language ("zh", "en") and per topic (the id's
    # middle part: zh-returns-01 -> returns).
    groups: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    mismatches: list[str] = field(default_factory=list)


def reply_language(text: str) -> tuple[str | None, bool]:
    """The language of a reply as the NLU's detector sees it (None for a reply with no letters),
    and whether the detector called it mixed. Mixed counts as Chinese, as it does for customers,
    except where the detector says mixed only because some Chinese is there at all, below its
    English threshold: an English answer that quotes "普通发票" or "转寄" is English."""
    from bot.nlu.language import detect
    from bot.pipeline_config.params import LanguageDetectorParams

    if not _LETTER.search(text):
        return None, False
    params = LanguageDetectorParams()
    found = detect(text, params)
    if found != "mixed":
        return found, False
    han = len(_HAN.findall(text))
    latin = len(_LATIN_WORD.findall(text)) * LATIN_WORD_WEIGHT
    return ("en" if han / (han + latin) <= params.en_threshold else "zh"), True


def apologised(result: Any, stack: Stack) -> tuple[bool, bool]:
    """(whether the bot apologised on the turn, whether the reply texts say the same): the
    result's own `empathetic` when the engine has it, else an empathy template among the
    replies."""
    texts = [r.text for r in result.replies]
    by_text = any(t == e or t.startswith(e) for t in texts for e in stack.empathy_texts)
    own = getattr(result, "empathetic", None)
    return (by_text if own is None else bool(own)), (own is None or bool(own) == by_text)


def failed_turn(result: Any, before: int) -> bool:
    own = getattr(result, "failed", None)
    if own is not None:
        return bool(own)
    reason = result.handoff.reason if result.handoff is not None else None
    return result.failed_turns > before or reason == "failed_turns"


def offered_pick(result: Any, articles: tuple[str, ...] | None) -> str | None:
    """The payload of the offered button a customer after `articles` presses, if any is right."""
    from bot.dialogue.choices import payload_article_id

    if not articles:
        return None
    for reply in result.replies:
        for button in reply.buttons:
            if payload_article_id(button.payload) in articles:
                return str(button.payload)
    return None


def show(text: str, limit: int = 110) -> str:
    one = " ".join(text.split())
    return one if len(one) <= limit else one[: limit - 1] + "…"


@dataclass
class Replay:
    """One conversation as it is replayed: where it stands between turns."""

    conv: Conversation
    held: bool = False  # the queue or an agent holds the chat: the bot is silent
    handed_off: bool = False  # a handoff (queue, agent or ticket) happened so far
    wrong_handoff: bool = False
    offer: bool = False  # the previous turn offered articles to pick from
    status: str = "bot"
    failed_before: int = 0
    apologised: bool = False  # the bot has apologised earlier in this conversation


async def run_conversation(stack: Stack, conv: Conversation, tmp: Path, tally: Tally) -> None:
    engine = await open_engine(stack, tmp, conv.agents_online)
    sender = f"bench-{conv.id}"
    hint = {stack.hint_parameter: conv.language} if stack.hint_parameter else {}
    try:
        # The channel's language on the customer record, the store's seam for it, for engines
        # that read it from there rather than from `handle`.
        await engine.store.customers.for_identity("rest", sender, language=conv.language)
        replay = Replay(conv)
        queue = [(t.say, t, str(i)) for i, t in enumerate(conv.turns, 1)]
        while queue:
            text, spec, label = queue.pop(0)
            tally.turns += 1
            result = await engine.handle("rest", sender, text, **hint)
            where = f"{conv.id} turn {label} {text!r}"
            if replay.held:  # a person has the chat: nothing of the bot's to score
                tally.skipped += 1
                if result.replies:
                    tally.mismatches.append(f"{where}: the bot spoke while a person held the chat")
                replay.held = result.status in ("queued", "assigned")
                continue
            pick = score_turn(stack, replay, spec.expect, result, where, tally)
            if pick is not None and not (queue and queue[0][1].expect.kind == "pick"):
                # The customer presses the offered button that names a right article.
                e = spec.expect
                queue.insert(
                    0,
                    (
                        pick,
                        TurnSpec(pick, Expect(e.language, False, False, e.articles, "pick")),
                        f"{label}+pick",
                    ),
                )
        tally.conversations += 1
        tally.conversations_wrong_escalation += replay.wrong_handoff
        if not any(t.expect.escalate for t in conv.turns):
            tally.containable += 1
            tally.contained += not replay.handed_off
    finally:
        await engine.store.close()


def score_turn(
    stack: Stack, replay: Replay, e: Expect, result: Any, where: str, tally: Tally
) -> str | None:
    """Score one turn the bot held; the payload of a right offered article, if one was offered."""
    replies = " | ".join(show(r.text, 80) for r in result.replies) or "(no reply)"

    def miss(what: str) -> None:
        tally.mismatches.append(f"{where}: {what}; replies: {replies}")

    tally.scored += 1
    parts = replay.conv.id.split("-")
    groups = [tally.groups[replay.conv.language]]
    if len(parts) == 3:
        groups.append(tally.groups[parts[1]])

    def count(name: str, n: int = 1) -> None:
        for g in groups:
            g[name] += n

    count("turns")
    tally.turns_by_kind[e.kind] += 1
    # The language, reply by reply.
    if not result.replies:
        tally.silent += 1
    wrong = []
    for r in result.replies:
        lang, mixed = reply_language(r.text)
        if lang is None:
            continue
        tally.replies_scored += 1
        tally.replies_mixed += mixed
        if lang != e.language:
            tally.replies_wrong_language += 1
            wrong.append(lang)
    if wrong:
        tally.turns_wrong_language += 1
        count("wrong_language")
        tally.wrong_language_by_kind[e.kind] += 1
        miss(f"expected {e.language} replies, got {'/'.join(sorted(set(wrong)))}")
    # Apologies: once per conversation (issue 16). An upset turn after the bot has apologised
    # is covered by that apology; apologising again is counted as a wrong apology.
    sorry, agree = apologised(result, stack)
    covered = e.upset and (sorry or replay.apologised)
    right_apology = sorry and e.upset and not replay.apologised
    tally.upset += e.upset
    tally.apologised += sorry
    tally.apologised_upset += right_apology
    tally.upset_covered += covered
    tally.apology_attr_text_disagree += not agree
    if not agree:
        miss(f"the result's empathetic flag says {sorry}, the replies say {not sorry}")
    wrong_apology = sorry and not right_apology
    count("apology_errors", wrong_apology or (e.upset and not covered))
    if wrong_apology:
        miss("apologised again" if e.upset else "apologised to a customer who was not upset")
    elif e.upset and not covered:
        miss("no apology")
    replay.apologised = replay.apologised or sorry
    # Knowledge answers, and picks from an offer.
    got = (result.kb_article or {}).get("id")
    right = got is not None and e.articles is not None and got in e.articles
    choices = list(result.extra.get("kb_choices") or [])
    if got is not None:
        tally.answered += 1
        tally.answered_right += right
        families = {stack.family.get(a, a) for a in e.articles or ()}
        tally.answered_right_family += stack.family.get(got, got) in families
        if not right:
            miss(f"answered {got}, expected {list(e.articles or []) or 'no article'}")
    if e.articles is not None and e.kind != "pick":
        tally.answerable += 1
        tally.answerable_right += right
        count("answerable")
        count("right", right)
        if got is None and not choices:
            miss(f"no answer, expected {list(e.articles)}")
    if replay.offer and e.kind == "pick" and right:  # the turn that offered is answered now
        tally.accepted += 1
        tally.answerable_right += 1
        count("right")
    replay.offer = bool(choices)
    pick = None
    if choices:
        tally.offers += 1
        tally.offers_with_right += bool(e.articles and set(choices) & set(e.articles))
        pick = offered_pick(result, e.articles)
        if pick is None:
            miss(f"offered {choices}, expected {list(e.articles or []) or 'no article'}")
    # Failed turns.
    if failed_turn(result, replay.failed_before):
        tally.failed += 1
        count("failed")
        tally.failed_by_kind[e.kind] += 1
    replay.failed_before = result.failed_turns
    # Handoffs: to the queue or an agent, or a ticket when nobody can take the chat. A later
    # turn that also deserves a person is not missed once one has been brought in.
    escalated = result.handoff is not None or (
        replay.status == "bot" and result.status in ("queued", "assigned")
    )
    replay.status = result.status
    replay.held = result.status in ("queued", "assigned")
    if e.escalate and not replay.handed_off:
        tally.escalate_expected += 1
        if not escalated:
            tally.escalations_missed += 1
            count("missed")
            miss("no handoff, expected one")
    if escalated:
        tally.escalations += 1
        if e.escalate:
            tally.escalations_right += 1
        else:
            tally.escalations_wrong += 1
            count("wrong_handoffs")
            replay.wrong_handoff = True
            reason = result.handoff.reason if result.handoff is not None else result.status
            miss(f"handed over ({reason}) though a good agent would not")
        replay.handed_off = True
    return pick


def share(n: int, d: int) -> float | None:
    return n / d if d else None


def figures(t: Tally) -> dict[str, Any]:
    f: dict[str, Any] = {
        "conversations": t.conversations,
        "turns": t.turns,
        "turns_scored": t.scored,
        "turns_skipped_after_handoff": t.skipped,
        "turns_silent": t.silent,
        "replies_scored": t.replies_scored,
        "wrong_language_replies": t.replies_wrong_language,
        "wrong_language_reply_rate": share(t.replies_wrong_language, t.replies_scored),
        "wrong_language_turns": t.turns_wrong_language,
        "wrong_language_turn_rate": share(t.turns_wrong_language, t.scored),
        "mixed_language_replies": t.replies_mixed,
    }
    for kind in KINDS:
        if t.turns_by_kind[kind]:
            f[f"wrong_language_turns_{kind}"] = t.wrong_language_by_kind[kind]
    f.update(
        {
            "upset_turns": t.upset,
            "apology_turns": t.apologised,
            "empathy_precision": share(t.apologised_upset, t.apologised),
            "empathy_recall": share(t.upset_covered, t.upset),
            "apologies_to_calm_customers": t.apologised - t.apologised_upset,
            "apology_flag_text_disagreements": t.apology_attr_text_disagree,
            "answers": t.answered,
            "answers_right": t.answered_right,
            "answer_precision": share(t.answered_right, t.answered),
            "answer_precision_any_language": share(t.answered_right_family, t.answered),
            "answerable_turns": t.answerable,
            "answerable_turns_answered_right": t.answerable_right,
            "answer_recall": share(t.answerable_right, t.answerable),
            "clarifications_offered": t.offers,
            "clarifications_with_a_right_choice": t.offers_with_right,
            "clarifications_accepted": t.accepted,
            "failed_turns": t.failed,
            "failed_turn_rate": share(t.failed, t.scored),
            "failed_turns_non_text": t.failed_by_kind["non_text"],
            "non_text_turns": t.turns_by_kind["non_text"],
            "escalations_expected": t.escalate_expected,
            "escalations": t.escalations,
            "escalations_right": t.escalations_right,
            "escalations_wrong": t.escalations_wrong,
            "escalations_missed": t.escalations_missed,
            "wrong_escalation_conversation_share": share(
                t.conversations_wrong_escalation, t.conversations
            ),
            "containable_conversations": t.containable,
            "containment": share(t.contained, t.containable),
        }
    )
    f = {k: rnd(v) if isinstance(v, float) else v for k, v in f.items()}
    order = [g for g in LANGUAGES if g in t.groups] + sorted(set(t.groups) - set(LANGUAGES))
    f["by_group_turn_counts"] = {g: {n: t.groups[g][n] for n in GROUP_COUNTS} for g in order}
    return f


def report(f: dict[str, Any], t: Tally) -> None:
    def pct(name: str) -> str:
        value = f.get(name)
        return "-" if value is None else f"{value:.1%}"

    print(
        f"{f['conversations']} conversations, {f['turns']} turns: {f['turns_scored']} scored, "
        f"{f['turns_skipped_after_handoff']} while a person held the chat (skipped), "
        f"{f['turns_silent']} scored turns without a reply"
    )
    print()
    rows = [
        [
            "wrong language",
            f"{f['wrong_language_turns']} turns / {f['wrong_language_replies']} replies",
            f"{pct('wrong_language_turn_rate')} of turns, {pct('wrong_language_reply_rate')} "
            f"of replies ({f['mixed_language_replies']} replies mixed)",
        ],
        [
            "apologies",
            f"{f['apology_turns']} (upset turns {f['upset_turns']})",
            f"precision {pct('empathy_precision')}, recall {pct('empathy_recall')}, "
            f"{f['apologies_to_calm_customers']} to calm customers",
        ],
        [
            "knowledge answers",
            f"{f['answers']} ({f['answers_right']} right)",
            f"precision {pct('answer_precision')} ({pct('answer_precision_any_language')} "
            f"in any language); {f['answerable_turns_answered_right']} of "
            f"{f['answerable_turns']} answerable turns right ({pct('answer_recall')})",
        ],
        [
            "did-you-mean offers",
            f"{f['clarifications_offered']}",
            f"{f['clarifications_with_a_right_choice']} with a right choice, "
            f"{f['clarifications_accepted']} accepted and answered right",
        ],
        [
            "failed turns",
            f"{f['failed_turns']}",
            f"{pct('failed_turn_rate')} of scored turns; {f['failed_turns_non_text']} of "
            f"{f['non_text_turns']} non-text turns",
        ],
        [
            "handoffs",
            f"{f['escalations']} (expected {f['escalations_expected']})",
            f"{f['escalations_right']} right, {f['escalations_wrong']} wrong, "
            f"{f['escalations_missed']} missed; wrong in "
            f"{pct('wrong_escalation_conversation_share')} of conversations",
        ],
        [
            "containment",
            f"{f['containable_conversations']} containable",
            f"{pct('containment')} ended without a handoff",
        ],
    ]
    print_table(["", "count", "rate"], rows)
    print()
    names = ["wrong_language", "apology_errors", "failed", "missed", "wrong_handoffs"]
    print_table(
        [
            "language / topic",
            "turns",
            "wrong lang",
            "apology err",
            "failed",
            "handoff missed",
            "handoff wrong",
            "answered right",
        ],
        [
            [g, c["turns"], *(c[n] for n in names), f"{c['right']}/{c['answerable']}"]
            for g, c in f["by_group_turn_counts"].items()
        ],
    )
    print()
    kinds = [k for k in KINDS if t.turns_by_kind[k]]
    print_table(
        ["turn kind", "turns", "wrong language", "failed"],
        [[k, t.turns_by_kind[k], t.wrong_language_by_kind[k], t.failed_by_kind[k]] for k in kinds],
    )
    print()


async def run(conversations: list[Conversation], stack: Stack, verbose: bool) -> Tally:
    tally = Tally()
    for conv in conversations:
        with tempfile.TemporaryDirectory() as t:
            await run_conversation(stack, conv, Path(t), tally)
    if verbose:
        for line in tally.mismatches:
            print(line)
        print()
    return tally


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=CONVERSATIONS, help="conversations YAML file")
    ap.add_argument(
        "--half",
        choices=("odd", "even"),
        help="only the conversations whose id ends in an odd number (the tuning half) or an even "
        "one (held out)",
    )
    ap.add_argument("--verbose", action="store_true", help="print every mismatch")
    ap.add_argument(
        "--models",
        type=Path,
        help="folder to keep the trained model in (default: a cache in the temp folder, one per "
        "checkout and NLU code)",
    )
    args = ap.parse_args()
    quiet_logging()
    try:
        conversations = half(load_conversations(args.data), args.half)
    except DataError as exc:
        sys.exit(f"conversations: {exc}")
    with tempfile.TemporaryDirectory() as t:
        stack = build_stack(Path(t), args.models)
        try:
            check_articles(conversations, set(stack.kb.index.articles))
        except DataError as exc:
            sys.exit(f"conversations: {args.data}: {exc}")
        where = "" if stack.root == REPO else f" (not this file's checkout, {REPO})"
        print(f"engine, config and data from {stack.root}{where}")
        print(
            f"set-up {stack.setup_s:.1f} s (model {'trained' if stack.trained_now else 'reused'}"
            f"); the channel's language goes on the customer record"
            + (f" and to handle({stack.hint_parameter}=...)" if stack.hint_parameter else " only")
        )
        started = time.perf_counter()
        tally = asyncio.run(run(conversations, stack, args.verbose))
        elapsed = time.perf_counter() - started
    f = figures(tally)
    report(f, tally)
    print(
        f"{f['turns']} turns in {elapsed:.1f} s ({fmt(elapsed / max(1, f['turns']) * 1000, 1)} ms)"
    )
    f.update(
        {
            "setup_s": rnd(stack.setup_s, 1),
            "run_s": rnd(elapsed, 1),
            "engine_root": str(stack.root),
            "language_hint_parameter": stack.hint_parameter,
            "half": args.half or "all",
        }
    )
    emit_json(f)


if __name__ == "__main__":
    main()
