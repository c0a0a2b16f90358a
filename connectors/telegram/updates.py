"""What a Telegram update means for the bot: whose message, what it says, and its id for
de-duplication. Every message a customer can send becomes text, so nothing they send is lost:
a photo without a caption is stored as "[photo]" and shown to the agent."""

from __future__ import annotations

from dataclasses import dataclass

from telegram import Message, Update

from bot.dialogue.inbound import media_marker, shared_contact, shared_location

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
class FileRef:
    """A file the customer sent, to fetch with getFile: the largest size of a photo."""

    kind: str  # the media store's kind: image | file | voice | video | sticker
    file_id: str
    mime_type: str | None = None
    file_name: str | None = None
    file_size: int | None = None


# Telegram's message fields that carry a file, and the media store's kind for each.
_FILE_KINDS = {
    "photo": "image",
    "document": "file",
    "voice": "voice",
    "audio": "voice",
    "video": "video",
    "sticker": "sticker",
    "animation": "video",
}


@dataclass(frozen=True)
class Inbound:
    chat_id: str
    text: str
    external_id: str  # the update id: a redelivered update is stored once
    name: str | None = None
    language: str | None = None
    callback_id: str | None = None  # answer it, or the button keeps spinning
    start_code: str | None = None  # /start CODE: link this chat to a known customer
    file: FileRef | None = None  # a photo, document, voice note...: fetched and stored
    # A location, venue or contact card, kept in the message's payload beside its marker.
    shared: dict[str, object] | None = None


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
        file=_file(msg),
        shared=_shared(msg),
    )


def _shared(msg: Message) -> dict[str, object] | None:
    """A venue (its title and address), a location, or a contact card."""
    if msg.venue is not None:
        v = msg.venue
        return shared_location(v.location.latitude, v.location.longitude, v.title, v.address)
    if msg.location is not None:
        return shared_location(msg.location.latitude, msg.location.longitude)
    if msg.contact is not None:
        c = msg.contact
        name = " ".join(p for p in (c.first_name, c.last_name) if p)
        return shared_contact(name, c.phone_number or "")
    return None


def _file(msg: Message) -> FileRef | None:
    for field_name, kind in _FILE_KINDS.items():
        value = getattr(msg, field_name, None)
        if not value:
            continue
        if field_name == "photo":  # several sizes, smallest first
            best = value[-1]
            return FileRef(kind, best.file_id, "image/jpeg", None, best.file_size)
        mime = getattr(value, "mime_type", None)
        if field_name == "sticker":
            mime = "video/webm" if value.is_video else None if value.is_animated else "image/webp"
        return FileRef(
            kind, value.file_id, mime, getattr(value, "file_name", None), value.file_size
        )
    return None


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
