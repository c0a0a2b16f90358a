"""Proactive contact: the bot writes first when the shop's events say it should (issue 21).

- decide.py: whether a due message goes out now (opt-out, expiry, conditions, cool-down, caps,
  quiet hours), pure and fast;
- render.py: the message's text and buttons in the customer's language, with the opt-out hint;
- scheduler.py, delivery.py, facts.py: the loop that schedules, decides and sends.

The rules are config.yml's `proactive:` section (bot/config/proactive.py).
"""

from bot.proactive.decide import CustomerFacts, Decision, TriggerEvent, decide
from bot.proactive.render import OPT_OUT_HINT, OPT_OUT_PAYLOAD, render, template_variables

__all__ = [
    "OPT_OUT_HINT",
    "OPT_OUT_PAYLOAD",
    "CustomerFacts",
    "Decision",
    "TriggerEvent",
    "decide",
    "render",
    "template_variables",
]
