"""A proactive message's text and buttons in the customer's language.

The rule's template (config.yml `proactive.rules[].message`) gets its {variables} from the
trigger event's data (the built-in order, product, coupon, reason, fix, name and the rule's own
`variables:`); a missing one is left empty rather than failing the send. Values are text from
the shop's systems: they are cut to `MAX_VALUE_CHARS`, control characters dropped, and never
read as template syntax. Every proactive message ends with the opt-out hint, and its buttons
end with the opt-out button (`/opt_out`, handled by the dialogue on every channel).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from bot.config.proactive import PLACEHOLDER, ProactiveRule

MAX_VALUE_CHARS: Final = 200
OPT_OUT_PAYLOAD: Final = "/opt_out"
OPT_OUT_HINT: Final = {"zh": "回复“退订”不再接收", "en": "Reply STOP to opt out"}
OPT_OUT_BUTTON: Final = {"zh": "退订", "en": "Opt out"}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def language_of(language: str | None) -> str:
    """zh or en: the customer's language, Chinese when unknown."""
    return "en" if (language or "").lower().startswith("en") else "zh"


def clean_value(value: Any) -> str:
    text = "" if value is None else str(value)
    return _CONTROL.sub("", text)[:MAX_VALUE_CHARS].strip()


def template_variables(
    rule: ProactiveRule, data: Mapping[str, Any] | None, name: str | None = None
) -> dict[str, str]:
    """The values the rule's templates may use: the event data's allowed keys (and the
    customer's name unless the data has one)."""
    allowed = rule.allowed_variables()
    out = {k: clean_value(v) for k, v in (data or {}).items() if k in allowed and v is not None}
    if name and "name" not in out:
        out["name"] = clean_value(name)
    return out


def fill(template: str, variables: Mapping[str, Any]) -> str:
    """The template with {name} replaced (missing: empty), {{ and }} as braces."""

    def repl(m: re.Match[str]) -> str:
        token = m.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        return clean_value(variables.get(m.group(1) or ""))

    return PLACEHOLDER.sub(repl, template)


def render(
    rule: ProactiveRule, language: str | None, variables: Mapping[str, Any]
) -> tuple[str, list[dict[str, str]]]:
    """(text, buttons) in zh or en; buttons as the bot's messages carry them:
    [{"title", "payload"}], the opt-out button last."""
    lang = language_of(language)
    body = fill(rule.message.get(lang), variables).strip()
    text = f"{body}\n\n{OPT_OUT_HINT[lang]}"
    buttons = [
        {"title": b.en if lang == "en" else b.zh, "payload": b.payload} for b in rule.buttons
    ]
    buttons.append({"title": OPT_OUT_BUTTON[lang], "payload": OPT_OUT_PAYLOAD})
    return text, buttons


__all__ = [
    "MAX_VALUE_CHARS",
    "OPT_OUT_BUTTON",
    "OPT_OUT_HINT",
    "OPT_OUT_PAYLOAD",
    "clean_value",
    "fill",
    "language_of",
    "render",
    "template_variables",
]
