"""What a Telegram update means for the bot: whose message, what it says, and its id for
de-duplication. Every message a customer can send becomes text, so nothing they send is lost:
a photo without a caption is stored as "[photo]" and shown to the agent."""

from __future__ import annotations

from dataclasses import dataclass

from telegram import Message, Update

from bot.dialogue.inbound import media_marker

CHANNEL = "telegram"
_KINDS = (
    "photo",
    "video",
    "voice",
    "audio",
    "document",
    "sticker",
    "animation",
    "location",
    "contact",
)


@dataclass(frozen=True)
class Inbound:
    chat_id: str
    text: str
    external_id: str  # the update id: a redelivered update is stored once
    name: str | None = None
    language: str | None = None
    callback_id: str | None = None  # answer it, or the button keeps spinning
    start_code: str | None = None  # /start CODE: link this chat to a known customer


def inbound_of(update: Update) -> Inbound | None:
    """None for updates that carry nothing new from a customer (member changes, polls,
    edits of a message already answered, ...)."""
    external_id = f"u{update.update_id}"
    if update.callback_query is not None:
        q = update.callback_query
        chat = q.message.chat.id if q.message is not None else q.from_user.id
        return Inbound(
            str(chat),
            (q.data or "").strip() or "[button]",
            external_id,
            q.from_user.first_name,
            q.from_user.language_code,
            callback_id=q.id,
        )
    # An edited message is not a new question, and the bot answered the original already:
    # the edit is neither stored nor answered (and not asked for: connector.ALLOWED_UPDATES).
    msg = update.message
    if msg is None or msg.chat.type != "private":
        return None  # groups and channels are not customer chats
    user = msg.from_user
    text, code = _text(msg)
    return Inbound(
        str(msg.chat.id),
        text,
        external_id,
        user.first_name if user else None,
        user.language_code if user else None,
        start_code=code,
    )


def _text(msg: Message) -> tuple[str, str | None]:
    text = (msg.text or "").strip()
    if text.startswith("/start"):
        parts = text.split(maxsplit=1)
        if parts[0] == "/start" or parts[0].startswith("/start@"):
            # A greeting to the bot; the deep-link code, if any, links the chat.
            return "/greet", (parts[1].strip() if len(parts) > 1 else None)
    if text:
        return text, None
    kind = next((k for k in _KINDS if getattr(msg, k, None)), "message")
    return media_marker(kind, msg.caption or ""), None
