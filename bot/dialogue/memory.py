"""What a conversation remembers from a bot turn for the next one, in its dialogue state: the
offer awaiting a pick, the last article and its category, the agent's suggestions, whether the
bot has apologised, and what a follow-up may refer to (bot/dialogue/context.py)."""

from __future__ import annotations

from typing import Any

from bot.dialogue.context import Context
from bot.dialogue.context import update as update_context
from bot.dialogue.policy import QUESTION_INTENTS, Decision
from bot.dialogue.understanding import Understood


def remember(
    state: dict[str, Any],
    decision: Decision,
    understood: Understood,
    *,
    context: Context,
    entities: dict[str, str],
    intent: str,
    suggestions: list[dict[str, Any]],
) -> None:
    """Update `state` (the conversation's, as the turn will store it) after the decision."""
    kb_answer = understood.answer
    state.update(
        awaiting=decision.awaiting,
        last_article=decision.kb_article,
        last_category=kb_answer["category"] if kb_answer else state.get("last_category"),
        suggestions=suggestions,
        apologised=bool(state.get("apologised")) or decision.empathetic,
    )
    if understood.reading is not None:
        state["context"] = update_context(
            context,
            entities=entities,
            reading=understood.reading,
            intent=intent,
            question=intent in QUESTION_INTENTS,
        ).to_dict()
    # The offered ids, for reading a number or a title typed back next turn.
    if decision.kb_choices:
        state["kb_choices"] = list(decision.kb_choices)
    else:
        state.pop("kb_choices", None)
