"""Each metric on a small case counted by hand."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from bot.analytics.facts import ConversationFacts, HandoffFacts, Question
from bot.analytics.inputs import analyser_of
from bot.analytics.metrics import (
    Settings,
    breached,
    bucket_of,
    ended_at,
    escalation_reasons,
    first_contact_resolved,
    headline,
    histogram,
    low_ratings,
    resolution_s,
    sla_breaches,
    slice_key,
    top_problems,
)
from bot.analytics.topics import comment_sentiment, group_gaps, key_phrases
from bot.nlu.pipeline import NLUPipeline

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday
S = timedelta(seconds=1)
NOW = T0 + timedelta(days=20)


def conv(
    cid: str,
    *,
    customer: str = "c",
    at: datetime = T0,
    channel: str = "web",
    language: str = "zh",
    status: str = "bot",
    closed_after_s: float | None = None,
    bot_after_s: float | None = 2,
    last_after_s: float = 60,
    intents: dict[str, int] | None = None,
    handoffs: list[HandoffFacts] | None = None,
    rating: int | None = None,
    comment: str = "",
    name: str | None = None,
) -> ConversationFacts:
    return ConversationFacts(
        cid,
        customer,
        channel,
        language,
        status,
        at,
        at + closed_after_s * S if closed_after_s is not None else None,
        updated_at=at + last_after_s * S,
        customer_name=name,
        first_customer_at=at,
        first_bot_at=at + bot_after_s * S if bot_after_s is not None else None,
        last_message_at=at + last_after_s * S,
        intents=Counter(intents or {}),
        handoffs=handoffs or [],
        rating=rating,
        rating_comment=comment,
    )


def handoff(
    *,
    reason: str = "explicit_request",
    group: str = "after_sales",
    at: datetime = T0,
    reply_after_s: float | None = 20,
    agent: str | None = "amy",
    status: str = "resolved",
    resolved_after_s: float | None = 600,
) -> HandoffFacts:
    return HandoffFacts(
        reason,
        group,
        at,
        at + 5 * S if agent else None,
        at + reply_after_s * S if reply_after_s is not None else None,
        at + resolved_after_s * S if resolved_after_s is not None else None,
        agent,
        status,
    )


def sample() -> list[ConversationFacts]:
    """Five conversations (NOW is 20 days on: the bot-only ones have long expired, so closed):
    a: bot only, answered in 1 s                   -> contained
    b: escalated (explicit), agent replied at 20 s, resolved at 600 s, rated 5
    c: escalated (failed_turns), agent replied at 45 s (over the 30 s SLA), resolved, rated 2
    d: bot only, telegram, en, answered in 3 s
    e: escalated (complaint), still queued for 100 s at NOW -> breach, no reply
    """
    return [
        conv("a", customer="c1", bot_after_s=1, intents={"question_shipping": 1}),
        conv(
            "b",
            customer="c2",
            status="resolved",
            closed_after_s=700,
            intents={"order_status": 2, "greet": 1},
            handoffs=[handoff()],
            rating=5,
            comment="客服很耐心",
        ),
        conv(
            "c",
            customer="c3",
            status="resolved",
            closed_after_s=900,
            intents={"out_of_scope": 3},
            handoffs=[handoff(reason="failed_turns", reply_after_s=45, agent="bob")],
            rating=2,
            comment="waited too long",
        ),
        conv("d", customer="c4", channel="telegram", language="en", bot_after_s=3),
        conv(
            "e",
            customer="c5",
            status="queued",
            name="Wang Fang",
            intents={"complaint": 1},
            handoffs=[
                handoff(
                    reason="complaint",
                    group="complaints",
                    at=NOW - 100 * S,
                    reply_after_s=None,
                    agent=None,
                    status="queued",
                    resolved_after_s=None,
                )
            ],
        ),
    ]


def test_headline_figures_match_the_hand_count() -> None:
    h = headline(sample(), Settings(sla_seconds=30), NOW)
    assert h["conversations"] == 5
    # e is still queued: open, so outside containment and escalation (its handoff still counts)
    assert h["closed"] == 4 and h["open"] == 1
    assert h["contained"] == 2 and h["containment_rate"] == 0.5
    assert h["escalation_rate"] == 0.5 and h["handoffs"] == 3
    # Bot first responses: 1, 2, 2, 3, 2 s -> median 2
    assert h["bot_first_response_p50_s"] == 2
    # Human first responses: 20 and 45 s (e has none yet): median 32.5, one of two within SLA
    assert h["human_first_response_p50_s"] == 32.5
    assert h["human_within_sla_rate"] == 0.5
    # Breaches: c (45 s) and e (waiting 100 s)
    assert h["sla_breaches"] == 2
    # Resolution: a 60 s, b 700 s, c 900 s, d 60 s (bot kept, expired), e open -> median of
    # 60,60,700,900
    assert h["resolution_p50_s"] == 380
    # First contact: all four closed ones are 20 days old and nobody came back
    assert h["first_contact_resolution_rate"] == 1.0
    assert h["first_contact_counted"] == 4 and h["first_contact_pending"] == 0
    # Ratings 5 and 2: one of two is 4-5; mean (100 + 25) / 2 = 62.5
    assert h["ratings"] == 2 and h["csat_rate"] == 0.5 and h["csat_mean_100"] == 62.5


def test_first_contact_resolution_looks_for_a_return_on_the_same_topic() -> None:
    first = conv("f1", customer="x", intents={"order_status": 1}, last_after_s=60)
    same_topic = conv("f2", customer="x", at=T0 + timedelta(days=3), intents={"order_status": 1})
    other_topic = conv("g1", customer="y", intents={"question_payment": 1})
    later_other = conv("g2", customer="y", at=T0 + timedelta(days=1), intents={"complaint": 1})
    too_late = conv("h1", customer="z", intents={"order_status": 1})
    after_window = conv("h2", customer="z", at=T0 + timedelta(days=8), intents={"order_status": 1})
    open_one = conv("i1", customer="w", status="queued", handoffs=[handoff(status="queued")])
    # Closed two days before NOW: its seven days are not over, so it is not counted yet.
    recent = conv(
        "j1", customer="v", at=NOW - timedelta(days=2), status="resolved", closed_after_s=60
    )
    fcr = first_contact_resolved(
        [first, same_topic, other_topic, later_other, too_late, after_window, open_one, recent],
        Settings(fcr_days=7),
        NOW,
    )
    assert fcr["f1"] is False  # came back about the same order within 3 days
    assert fcr["g1"] is True  # came back, but about something else
    assert fcr["h1"] is True  # came back after 8 days
    assert "i1" not in fcr  # still open: not counted either way
    assert "j1" not in fcr  # pending: a return may still come
    assert fcr["f2"] is True and fcr["h2"] is True


def test_a_breach_is_a_late_reply_or_a_long_wait_without_one() -> None:
    s = Settings(sla_seconds=30)
    assert not breached(handoff(reply_after_s=30), s, NOW)
    assert breached(handoff(reply_after_s=31), s, NOW)
    waiting = handoff(at=NOW - 10 * S, reply_after_s=None, agent=None, status="queued")
    assert not breached(waiting, s, NOW)
    assert breached(waiting, s, NOW + 30 * S)
    returned = handoff(reply_after_s=None, status="returned", resolved_after_s=40)
    assert breached(returned, s, NOW)


def test_resolution_time_is_start_to_close_and_none_while_open() -> None:
    s = Settings()
    # A bot conversation closes where it went quiet, once the session expiry (1 h) has passed.
    assert resolution_s(conv("a", last_after_s=75), s, T0 + timedelta(hours=2)) == 75
    handed = conv("b", status="resolved", closed_after_s=300, handoffs=[handoff()])
    assert resolution_s(handed, s, NOW) == 300
    with_agent = conv("c", status="assigned", handoffs=[handoff(status="assigned")])
    assert resolution_s(with_agent, s, NOW) is None


def test_an_open_bot_chat_is_not_resolved_and_a_closed_one_is() -> None:
    """The issue's case: a bot chat still going (last message 5 minutes ago) was counted as
    resolved at its last message. It is open: no resolution time, no first-contact
    resolution, no containment; it shows in `open` instead."""
    s = Settings(session_expiry_s=3600)
    now = T0 + timedelta(minutes=6)
    chatting = conv("live", customer="p", last_after_s=60, intents={"order_status": 1})
    assert ended_at(chatting, s, now) is None
    assert resolution_s(chatting, s, now) is None
    assert first_contact_resolved([chatting], s, now + timedelta(days=30) - timedelta(hours=2))
    h = headline([chatting], s, now)
    assert (h["conversations"], h["closed"], h["open"]) == (1, 0, 1)
    assert h["contained"] == 0 and h["containment_rate"] is None
    assert h["resolution_p50_s"] is None and h["first_contact_resolution_rate"] is None
    assert h["first_contact_counted"] == 0 and h["first_contact_pending"] == 0

    # The same chat once the store has closed it (the customer came back after the expiry):
    closed = conv("live", customer="p", last_after_s=60, closed_after_s=60, status="closed")
    later = T0 + timedelta(days=8)
    h = headline([closed], s, later)
    assert (h["closed"], h["open"], h["contained"]) == (1, 0, 1)
    assert h["resolution_p50_s"] == 60 and h["first_contact_resolution_rate"] == 1.0
    # ...and, without the customer writing again, once it has been idle past the expiry: the
    # store would close it at its last activity, so the figures do not wait for a return.
    assert ended_at(chatting, s, T0 + timedelta(minutes=61, seconds=1)) == T0 + 60 * S
    assert headline([chatting], s, later) == h
    # With expiry off (0 minutes in config) a bot chat stays open until the store closes it.
    never = Settings(session_expiry_s=None)
    assert headline([chatting], never, later)["open"] == 1


def test_breach_and_low_rating_rows_name_the_customer_and_the_agent() -> None:
    names = {"amy": "Amy Chen", "bob": "Bob Li"}
    rows = sla_breaches(sample(), Settings(sla_seconds=30), NOW, names=names)
    assert [r["conversation_id"] for r in rows] == ["e", "c"]  # no reply yet: longest first
    waiting, late = rows
    assert waiting["customer_name"] == "Wang Fang" and waiting["waiting"] is True
    assert waiting["agent"] is None and waiting["agent_name"] is None
    assert (late["agent"], late["agent_name"], late["waiting"]) == ("bob", "Bob Li", False)
    assert late["first_response_s"] == 45 and late["channel"] == "web"
    low = low_ratings(sample(), names)
    assert [(r["conversation_id"], r["score"], r["agent_name"]) for r in low] == [
        ("c", 2, "Bob Li")
    ]


def test_reasons_problems_slices_and_buckets() -> None:
    convs = sample()
    reasons = escalation_reasons(convs)
    # Ties in alphabetical order, so reports do not reshuffle between runs.
    assert [(r["reason"], r["count"]) for r in reasons] == [
        ("complaint", 1),
        ("explicit_request", 1),
        ("failed_turns", 1),
    ]
    assert all(r["share"] == pytest.approx(1 / 3, abs=1e-3) for r in reasons)
    problems = top_problems(convs)
    # greet is social and out_of_scope names no problem (the gaps show those): both left out
    assert problems["intents"] == [
        {"intent": "order_status", "count": 2},
        {"intent": "complaint", "count": 1},
        {"intent": "question_shipping", "count": 1},
    ]
    assert [slice_key(c, "agent") for c in convs] == [
        "(bot)",
        "amy",
        "bob",
        "(bot)",
        "(unassigned)",
    ]
    assert [slice_key(c, "skill_group") for c in convs][:3] == [
        "(bot)",
        "after_sales",
        "after_sales",
    ]
    assert bucket_of(T0, "day") == "2026-11-02"
    assert bucket_of(T0, "week") == "2026-W45"
    assert bucket_of(T0, "month") == "2026-11"


def test_histogram_edges_are_inclusive_and_the_tail_is_counted() -> None:
    got = histogram([0, 5, 5.5, 30, 31, 1000], edges=(5, 30))
    assert got == [{"le": 5, "count": 2}, {"le": 30, "count": 2}, {"le": None, "count": 2}]


def test_gaps_group_the_same_question_asked_different_ways() -> None:
    qs = [
        Question(t, "en", "out_of_scope", T0)
        for t in [
            "do you ship to mars",
            "do you ship to mars?",
            "Do you ship to Mars",
            "can I pay with bitcoin",
            "can i pay with bitcoin?",
            "what is the meaning of life",
        ]
    ]
    gaps = group_gaps(qs, embed=None, threshold=0.6)
    assert [g.count for g in gaps] == [3, 2, 1]
    assert "mars" in gaps[0].label.lower() and "bitcoin" in gaps[1].label.lower()


def test_key_phrases_in_both_languages() -> None:
    zh = key_phrases(["客服很耐心，问题解决了", "客服态度好，很耐心", "物流太慢了"], "zh")
    assert {p["phrase"] for p in zh[:2]} == {"耐心", "客服"} and zh[1]["count"] == 2
    en = key_phrases(["waited too long", "waited too long for an agent", "quick and helpful"], "en")
    assert en[0] == {"phrase": "waited long", "count": 2}  # stop words ("too") left out
    assert all(p["phrase"] != "the" for p in en)


def test_rating_comments_are_read_by_the_shipped_sentiment_analyser(
    trained: NLUPipeline,
) -> None:
    comments = ["客服很耐心，问题解决了", "等了太久，太失望了", "quick and helpful, thanks!", "  "]
    counts = comment_sentiment(comments, analyser_of(trained))
    assert counts == {"negative": 1, "neutral": 0, "positive": 2}  # the blank one is skipped
    assert comment_sentiment(comments, None) == {"negative": 0, "neutral": 0, "positive": 0}
