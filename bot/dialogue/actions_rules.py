"""Rasa rules that name custom actions: which intent runs which actions, read from a rules.yml.

A Rasa project keeps these in data/rules.yml:

    rules:
      - rule: tell the loyalty points
        steps:
          - intent: ask_points
          - action: action_tell_points

relaydesk runs the intent's actions in order: an `utter_*` action is a response from
responses.yml, `action_listen` ends the turn, and every other action is called on the action
server (bot/dialogue/actions.py). Rules with conditions, slots or loops (Rasa's forms) are
refused by name: they need Rasa's rule policy, which relaydesk does not run, and silently
ignoring part of a rule would answer the customer wrongly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.errors import ConfigError

LISTEN = "action_listen"
# Keys of a rule a one-intent rule may carry, and of its steps.
_RULE_KEYS = {"rule", "steps", "conversation_start", "wait_for_user_input", "metadata"}
MAX_ACTIONS_PER_RULE = 10


@dataclass(frozen=True)
class ActionRules:
    """intent -> the actions its rule runs, in order."""

    by_intent: dict[str, tuple[str, ...]]
    source: str = ""

    def actions_for(self, intent: str) -> tuple[str, ...]:
        return self.by_intent.get(intent, ())

    def custom_actions(self) -> list[str]:
        """The action server's actions these rules call (the domain's `actions`)."""
        names = {a for acts in self.by_intent.values() for a in acts if is_custom(a)}
        return sorted(names)


def is_custom(action: str) -> bool:
    """An action the action server runs: not a response, not action_listen."""
    return not action.startswith("utter_") and action != LISTEN


def load_rules(path: Path, known_responses: set[str]) -> ActionRules:
    """The rules in a Rasa rules file; ConfigError naming the file and the rule otherwise."""
    name = str(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{name}: cannot read rules: {exc}") from exc
    rules = raw.get("rules") if isinstance(raw, dict) else None
    if not isinstance(rules, list):
        raise ConfigError(f"{name}: expected 'rules:' with a list of rules")
    by_intent: dict[str, tuple[str, ...]] = {}
    for i, rule in enumerate(rules):
        where = f"{name}: rules[{i}]"
        if not isinstance(rule, dict):
            raise ConfigError(f"{where}: expected a mapping with 'rule' and 'steps'")
        where = f"{name}: rule {rule.get('rule', i)!r}"
        extra = set(rule) - _RULE_KEYS
        if extra:
            raise ConfigError(
                f"{where}: {', '.join(sorted(extra))} not supported (one intent, then actions)"
            )
        intent, actions = _steps(rule.get("steps"), where)
        for action in actions:
            if action.startswith("utter_") and action not in known_responses:
                raise ConfigError(f"{where}: {action} is not in responses.yml")
        if intent in by_intent and by_intent[intent] != actions:
            raise ConfigError(f"{where}: intent {intent!r} already has a rule with other actions")
        by_intent[intent] = actions
    return ActionRules(by_intent, name)


def _steps(steps: Any, where: str) -> tuple[str, tuple[str, ...]]:
    if not isinstance(steps, list) or len(steps) < 2:
        raise ConfigError(f"{where}: steps: an intent, then at least one action")
    first = steps[0]
    if (
        not isinstance(first, dict)
        or set(first) != {"intent"}
        or not isinstance(first["intent"], str)
    ):
        raise ConfigError(f"{where}: steps[0]: expected '- intent: NAME'")
    actions: list[str] = []
    for j, step in enumerate(steps[1:], 1):
        if not isinstance(step, dict) or set(step) != {"action"}:
            keys = ", ".join(sorted(step)) if isinstance(step, dict) else type(step).__name__
            raise ConfigError(
                f"{where}: steps[{j}]: only '- action: NAME' may follow the intent (got {keys})"
            )
        action = step["action"]
        if not isinstance(action, str) or not action:
            raise ConfigError(f"{where}: steps[{j}]: the action needs a name")
        if action == LISTEN:
            break
        actions.append(action)
    if not actions or len(actions) > MAX_ACTIONS_PER_RULE:
        raise ConfigError(f"{where}: between 1 and {MAX_ACTIONS_PER_RULE} actions")
    return first["intent"], tuple(actions)
