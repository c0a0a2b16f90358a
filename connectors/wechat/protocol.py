"""WeChat's webhook wire format: the signature on every request, the XML
messages WeChat posts, and the passive reply it accepts in the response."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from xml.etree.ElementTree import Element

from defusedxml import ElementTree as SafeXml
from defusedxml.common import DefusedXmlException

from bot.dialogue.inbound import shared_location
from bot.errors import InputError

CHANNEL = "wechat"
MAX_XML_BYTES = 64 * 1024
MAX_TEXT_CHARS = 2000  # what one text message carries; longer is cut (as_text)
_MEDIA = {
    "image": "[image]",
    "voice": "[voice]",
    "video": "[video]",
    "shortvideo": "[video]",
    "location": "[location]",
    "link": "[link]",
    "file": "[file]",
}


def signature(token: str, timestamp: str, nonce: str, *more: str) -> str:
    """WeChat's SHA-1 over the sorted, joined parts: the query's `signature` signs the token,
    timestamp and nonce; safe mode's `msg_signature` adds the `Encrypt` part."""
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, *more])).encode()).hexdigest()


def verify(token: str, query: dict[str, str]) -> bool:
    """WeChat signs every request (the handshake and each message) in the query string."""
    given = query.get("signature", "")
    timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
    if not (given and timestamp and nonce):
        return False
    return hmac.compare_digest(signature(token, timestamp, nonce), given)


@dataclass(frozen=True)
class Inbound:
    openid: str  # FromUserName: the customer
    account: str  # ToUserName: the Official Account (gh_...)
    text: str  # what the customer said; for an event, "<event> <key>" (the connector maps it)
    external_id: str  # MsgId; for events, who + when + what (events have no MsgId)
    kind: str = "text"  # MsgType: text, image, voice, ..., event
    event: str = ""  # for kind "event": subscribe, unsubscribe, click, view, ... (lower case)
    event_key: str = ""  # a CLICK's key, a VIEW's URL, a QR code's scene
    media_id: str = ""  # an image's or voice note's MediaId (media/get fetches it)
    media_format: str = ""  # a voice note's Format (amr, speex)
    # A location message's place (Location_X, Location_Y, Scale, Label), kept in its payload.
    shared: dict[str, object] | None = None

    @property
    def is_event(self) -> bool:
        return self.kind == "event"


def parse(body: bytes) -> Inbound:
    """The customer's message or event. Media become a marker the agent sees, such as
    "[image]", so nothing is dropped; events keep their name and key for the connector."""
    if len(body) > MAX_XML_BYTES:
        raise InputError(f"the XML body is over {MAX_XML_BYTES} bytes")
    try:
        root = SafeXml.fromstring(body)
    except (SafeXml.ParseError, DefusedXmlException, ValueError) as exc:
        raise InputError(f"not a WeChat XML message: {exc}") from exc
    field = _fields(root)
    openid, account, kind = field("FromUserName"), field("ToUserName"), field("MsgType")
    if not openid or not kind:
        raise InputError("the XML message needs FromUserName and MsgType")
    created = field("CreateTime")
    external = field("MsgId") or f"{openid}:{created}:{field('Event')}:{field('EventKey')}"
    event = key = ""
    shared = None
    if kind == "text":
        text = field("Content").strip() or "[empty]"
    elif kind == "event":
        event, key = field("Event").strip().lower(), field("EventKey").strip()[:1024]
        text = f"{event} {key}".strip()
    elif kind == "voice" and field("Recognition"):
        text = field("Recognition")  # WeChat's own speech recognition, when enabled
    else:
        text = _MEDIA.get(kind, f"[{kind}]")
    if kind == "location":  # Location_X is the latitude, Location_Y the longitude
        lat, lon = field("Location_X").strip(), field("Location_Y").strip()
        shared = shared_location(lat, lon, field("Label"), scale=field("Scale").strip())
    return Inbound(
        openid,
        account,
        text,
        external[:200],
        kind=kind,
        event=event,
        event_key=key,
        media_id=field("MediaId").strip()[:200],
        media_format=field("Format").strip().lower()[:16],
        shared=shared,
    )


def encrypted_part(body: bytes) -> str:
    """The `Encrypt` element of an encrypted post (safe mode: the only content; compatible
    mode: beside the plaintext fields, which are not signed and so not used)."""
    if len(body) > MAX_XML_BYTES:
        raise InputError(f"the XML body is over {MAX_XML_BYTES} bytes")
    try:
        root = SafeXml.fromstring(body)
    except (SafeXml.ParseError, DefusedXmlException, ValueError) as exc:
        raise InputError(f"not a WeChat XML message: {exc}") from exc
    encrypt = _fields(root)("Encrypt").strip()
    if not encrypt:
        raise InputError("encrypt_type=aes, but the XML has no Encrypt element")
    return encrypt


def _fields(root: Element) -> Callable[[str], str]:
    def field(name: str) -> str:
        node = root.find(name)
        return (node.text or "") if node is not None else ""

    return field


def passive_text(inbound: Inbound, text: str) -> str:
    """The XML reply WeChat shows the customer (to and from swapped)."""
    return (
        "<xml>"
        f"<ToUserName><![CDATA[{cdata(inbound.openid)}]]></ToUserName>"
        f"<FromUserName><![CDATA[{cdata(inbound.account)}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime>"
        "<MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{cdata(text)}]]></Content>"
        "</xml>"
    )


def cdata(text: str) -> str:
    return text.replace("]]>", "]]]]><![CDATA[>")


def as_text(text: str, payload: dict[str, object], limit: int | None = MAX_TEXT_CHARS) -> str:
    """WeChat text has no buttons: they become lines the customer can type back."""
    lines = [text.strip()] if text.strip() else []
    buttons = payload.get("buttons")
    if isinstance(buttons, list) and buttons:
        lines.append("\n".join(f"· {b.get('title', '')}" for b in buttons if isinstance(b, dict)))
    link = payload.get("link")
    if isinstance(link, str) and link.startswith(("https://", "http://")):
        lines.append(link)
    joined = "\n".join(lines)
    return joined if limit is None else joined[:limit]
