"""What the analytics borrow from the rest of the product: knowledge categories, the sentence
embedder (to group gaps by meaning) and the sentiment analyser (for rating comments), and the
CSV form of the tables."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np

from bot.analytics.topics import Analyse, Embed
from bot.nlu.pipeline import NLUPipeline

CSV_TABLES = (
    "series",
    "channel",
    "skill_group",
    "agent",
    "language",
    "reasons",
    "gaps",
    "breaches",
    "low_ratings",
    "intents",
    "categories",
)


def categories_of(knowledge_root: Path) -> dict[str, str]:
    """Knowledge article id -> its category, from the articles on disk."""
    from bot.knowledge.loader import load_base

    try:
        return {a.id: a.category for a in load_base(knowledge_root).articles}
    except Exception:  # a broken knowledge folder must not take the reports down
        return {}


def embedder_of(nlu: NLUPipeline | None) -> Embed | None:
    component = nlu.component("SentenceEmbeddingFeaturizer") if nlu is not None else None
    if component is None:
        return None
    embedder = component.embedder

    def embed(texts: list[str]) -> np.ndarray:
        return np.asarray(embedder.embed(texts))

    return embed


def analyser_of(nlu: NLUPipeline | None) -> Analyse | None:
    if nlu is None:
        return None

    def analyse(text: str) -> str:
        return nlu.parse(text).sentiment.label

    return analyse


def table(summary: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """One of the summary's tables as rows (the CSV export and the report use these)."""
    if name == "series":
        return list(summary["series"])
    if name in ("channel", "skill_group", "agent", "language"):
        return list(summary["slices"][name])
    if name == "reasons":
        return list(summary["escalation_reasons"])
    if name == "gaps":
        return [{**g, "examples": " | ".join(g["examples"])} for g in summary["knowledge_gaps"]]
    if name == "breaches":
        return list(summary["sla_breaches"])
    if name == "low_ratings":
        return list(summary["low_ratings"])
    if name == "intents":
        return list(summary["top_problems"]["intents"])
    if name == "categories":
        return list(summary["top_problems"]["categories"])
    raise ValueError(f"table {name!r}; one of {', '.join(CSV_TABLES)}")


_HEADLINE = [
    "conversations",
    "closed",
    "open",
    "contained",
    "containment_rate",
    "escalation_rate",
    "handoffs",
    "bot_first_response_p50_s",
    "bot_first_response_p90_s",
    "human_first_response_p50_s",
    "human_first_response_p90_s",
    "human_within_sla_rate",
    "sla_breaches",
    "resolution_p50_s",
    "resolution_p90_s",
    "first_contact_resolution_rate",
    "first_contact_counted",
    "first_contact_pending",
    "ratings",
    "csat_rate",
    "csat_mean_100",
]
# The header of each table, so an empty one still says what it would hold.
COLUMNS: dict[str, list[str]] = {
    **{d: ["key", *_HEADLINE] for d in ("series", "channel", "skill_group", "agent", "language")},
    "reasons": ["reason", "count", "share"],
    "gaps": ["label", "count", "language", "examples"],
    "breaches": [
        "conversation_id",
        "customer_id",
        "customer_name",
        "channel",
        "queued_at",
        "skill_group",
        "agent",
        "agent_name",
        "first_response_s",
        "waiting",
    ],
    "low_ratings": [
        "conversation_id",
        "customer_id",
        "customer_name",
        "channel",
        "rated_at",
        "score",
        "comment",
        "agent",
        "agent_name",
    ],
    "intents": ["intent", "count"],
    "categories": ["category", "count"],
}


def to_csv(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    out = io.StringIO()
    fields = columns or (list(rows[0]) if rows else [])
    if fields:
        writer = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return out.getvalue()
