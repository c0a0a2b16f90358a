"""A shop's custom actions as any rasa_sdk project writes them: this file runs unchanged in
`python -m rasa_sdk --actions actions` (tests/bot/dialogue/test_actions.py starts it in the
Rasa SDK's own environment, .venv-rasa-sdk). It is not imported by relaydesk's tests."""

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher


class ActionGreetMember(Action):
    """Counts the visits in a slot and greets by level: the slot comes back next turn."""

    def name(self) -> str:
        return "action_greet_member"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        visits = int(tracker.get_slot("visits") or 0) + 1
        meta = tracker.latest_message.get("metadata") or {}
        language = meta.get("language")
        intent = tracker.get_intent_of_latest_message()
        if language == "en":
            channel = meta.get("channel")
            text = f"Welcome back, gold member! Visit {visits} (intent {intent}, via {channel})."
        else:
            text = f"金卡会员您好！这是第 {visits} 次光临。"
        dispatcher.utter_message(text=text, buttons=[{"title": "My points", "payload": "/thank"}])
        return [SlotSet("visits", visits), SlotSet("member_level", "gold")]


class ActionTellPoints(Action):
    """Answers from the shop's loyalty system (here: fixed), then names a response template."""

    def name(self) -> str:
        return "action_tell_points"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        level = tracker.get_slot("member_level") or "silver"
        dispatcher.utter_message(text=f"{tracker.sender_id}: 1280 points ({level}).")
        assert "utter_thank" in domain["responses"]
        return [SlotSet("points", 1280)]


class ActionVipHandoff(Action):
    """Hands a VIP straight to a person, the Rasa way: a follow-up action."""

    def name(self) -> str:
        return "action_vip_handoff"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        dispatcher.utter_message(response="utter_goodbye")
        # a template with values: rasa_sdk sends `name` beside `response`
        dispatcher.utter_message(response="utter_greet_named", name="Ms Vip")
        return [FollowupAction("action_human_handoff")]


class ActionBroken(Action):
    """An action with a bug: the server answers 500, the bot must still answer."""

    def name(self) -> str:
        return "action_broken"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        raise RuntimeError("the loyalty database is down")
