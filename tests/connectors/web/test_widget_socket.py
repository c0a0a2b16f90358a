"""The widget socket's wire protocol (/ws/widget) on the real app, store and models: the hello
handshake, bad frames, identity, allowed origins, resuming after a reconnect and the token."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from connectors.web.identity import CHANNEL, sender_for, user_hash, valid_token
from tests.apps import FRAME_TIMEOUT_S, WS, AppFactory, Client, Frame, recv, store_of

SECRET = "a-test-identity-secret-0123456789"
QUIET_S = 0.3
BOT_TYPING_OFF = {"type": "typing", "on": False, "who": "bot", "name": None}


async def collect(ws: WS, done: Callable[[list[Frame]], bool]) -> list[Frame]:
    frames: list[Frame] = []
    while not done(frames):
        frames.append(await recv(ws))
    return frames


async def quiet(ws: WS, seconds: float = QUIET_S) -> list[Frame]:
    """Whatever arrives within `seconds` (used to show that nothing more comes)."""
    frames: list[Frame] = []
    while True:
        try:
            msg = await ws.receive(timeout=seconds)
        except TimeoutError:
            return frames
        if msg.type != aiohttp.WSMsgType.TEXT:
            return frames
        frames.append(json.loads(msg.data))


def last_is(kind: str) -> Callable[[list[Frame]], bool]:
    return lambda frames: bool(frames) and frames[-1]["type"] == kind


async def round_trip(ws: WS) -> list[Frame]:
    """Send a ping and return every frame up to its pong: frames the server sent first."""
    await ws.send_json({"type": "ping"})
    return (await collect(ws, last_is("pong")))[:-1]


async def connect(client: Client, **hello: Any) -> tuple[WS, list[Frame]]:
    """Open a socket and say hello; the frames up to the pong that follows are the welcome, the
    replay and the state."""
    ws = await client.ws_connect("/ws/widget")
    await ws.send_json({"type": "hello", "token": None, "after": 0, "language": "zh", **hello})
    frames = await round_trip(ws)
    assert frames[0]["type"] == "welcome", frames
    return ws, frames


def messages(frames: list[Frame]) -> list[Frame]:
    return [f for f in frames if f["type"] == "message"]


async def turn(ws: WS, text: str, client_id: str | None = None) -> list[Frame]:
    """Send a customer message; return the frames up to the state after the bot's reply."""
    await ws.send_json({"type": "message", "text": text, "client_id": client_id})

    def replied(frames: list[Frame]) -> bool:
        # The pump may deliver before or after the turn's "typing off": wait for both.
        if BOT_TYPING_OFF not in frames:
            return False
        bot = [i for i, f in enumerate(frames) if f["type"] == "message" and f["sender"] == "bot"]
        return bool(bot) and any(f["type"] == "state" for f in frames[bot[-1] + 1 :])

    return await collect(ws, replied)


async def expect_error(ws: WS, frame: Frame | str) -> Frame:
    if isinstance(frame, str):
        await ws.send_str(frame)
    else:
        await ws.send_json(frame)
    got = await round_trip(ws)
    assert [f["type"] for f in got] == ["error"], (frame, got)
    return got[0]


# -- the handshake and bad frames ------------------------------------------------------------
@pytest.mark.parametrize(
    "first",
    [{"type": "message", "text": "你好"}, "not json at all", json.dumps(["hello"])],
    ids=["message", "not-json", "json-array"],
)
async def test_the_first_frame_must_be_a_hello(client: Client, first: Frame | str) -> None:
    ws = await client.ws_connect("/ws/widget")
    if isinstance(first, str):
        await ws.send_str(first)
    else:
        await ws.send_json(first)
    error = await recv(ws)
    assert error["type"] == "error" and "hello" in error["message"]
    closing = await ws.receive(timeout=FRAME_TIMEOUT_S)
    assert closing.type == aiohttp.WSMsgType.CLOSE
    assert ws.close_code == 4400


async def test_malformed_json_after_the_hello_is_an_error_and_the_socket_stays_open(
    client: Client,
) -> None:
    ws, _ = await connect(client)
    for bad in ("{not json", "[1, 2, 3]", '"a string"'):
        error = await expect_error(ws, bad)
        assert error["code"] == "bad_request" and "JSON" in error["message"]
    assert not ws.closed
    assert await round_trip(ws) == []  # the ping after them still gets its pong


async def test_an_unknown_frame_type_gets_an_error_naming_the_expected_types(
    client: Client,
) -> None:
    ws, _ = await connect(client)
    for frame in ({"type": "typo", "on": True}, {"text": "no type"}, {"type": "hello"}):
        error = await expect_error(ws, frame)
        expected = "message, rate, link, typing, received, read, dwell or ping"
        assert expected in error["message"], error
    assert not ws.closed


async def test_text_over_the_configured_limit_is_refused_and_nothing_stored(
    widget_client: Callable[..., Awaitable[Client]],
) -> None:
    client = await widget_client(max_text_chars=40)
    ws, frames = await connect(client)
    token = frames[0]["token"]
    error = await expect_error(ws, {"type": "message", "text": "好" * 41, "client_id": "long"})
    assert "40 characters" in error["message"]
    store = store_of(client)
    assert await store.customers.find(CHANNEL, sender_for(token)) is None
    # Exactly at the limit is a message like any other.
    got = await turn(ws, "好" * 40, client_id="at-limit")
    assert [m["client_id"] for m in messages(got) if m["sender"] == "customer"] == ["at-limit"]
    customer = await store.customers.find(CHANNEL, sender_for(token))
    assert customer is not None
    stored = [m.text for m, _ in await store.messages.on_channel(customer.id, CHANNEL)]
    assert "好" * 41 not in stored and "好" * 40 in stored


async def test_the_default_limit_is_4000_characters(client: Client) -> None:
    ws, frames = await connect(client)
    error = await expect_error(ws, {"type": "message", "text": "a" * 4001})
    assert "4000 characters" in error["message"]
    assert await store_of(client).customers.find(CHANNEL, sender_for(frames[0]["token"])) is None


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "message", "text": ""},
        {"type": "message", "text": " \n\t "},
        {"type": "message"},
        {"type": "message", "text": 42},
        {"type": "message", "text": "ok", "client_id": "x" * 65},
        {"type": "message", "text": "ok", "client_id": 7},
    ],
    ids=["empty", "blank", "missing", "number", "long-client-id", "numeric-client-id"],
)
async def test_a_message_without_usable_text_is_refused(client: Client, frame: Frame) -> None:
    ws, frames = await connect(client)
    error = await expect_error(ws, frame)
    assert error["code"] == "bad_request"
    assert await store_of(client).customers.find(CHANNEL, sender_for(frames[0]["token"])) is None


@pytest.mark.parametrize("score", [0, 6, "5", True, 4.5, None])
async def test_a_rating_score_must_be_a_whole_number_from_1_to_5(
    client: Client, score: Any
) -> None:
    ws, frames = await connect(client)
    error = await expect_error(ws, {"type": "rate", "score": score})
    assert "1 to 5" in error["message"]
    assert await store_of(client).customers.find(CHANNEL, sender_for(frames[0]["token"])) is None


async def test_a_rating_comment_over_2000_characters_is_refused(client: Client) -> None:
    ws, _ = await connect(client)
    error = await expect_error(ws, {"type": "rate", "score": 5, "comment": "x" * 2001})
    assert "2000" in error["message"]


# -- identity ----------------------------------------------------------------------------------
def signed(user_id: str, ts: int | None = None, secret: str = SECRET) -> Frame:
    """What a host page passes: the user, when it signed, and the hash over both."""
    ts = int(time.time()) if ts is None else ts
    return {"user_id": user_id, "user_ts": ts, "user_hash": user_hash(secret, user_id, ts)}


async def refused(client: Client, hello: Frame) -> str:
    """Say hello with `hello`'s identity; assert the identity error and the 4401 close, and
    return the error's message."""
    ws = await client.ws_connect("/ws/widget")
    await ws.send_json({"type": "hello", "token": None, **hello})
    error = await recv(ws)
    assert error["type"] == "error" and error["code"] == "identity", (hello, error)
    closing = await ws.receive(timeout=FRAME_TIMEOUT_S)
    assert closing.type == aiohttp.WSMsgType.CLOSE and ws.close_code == 4401
    message: str = error["message"]
    return message


async def test_a_wrong_user_hash_is_refused_with_4401(
    widget_client: Callable[..., Awaitable[Client]],
) -> None:
    client = await widget_client(identity_secret=SECRET)
    now = int(time.time())
    for hello in (
        {**signed("u-1001"), "user_hash": signed("u-1002")["user_hash"]},  # another user's
        signed("u-1001", secret="some-other-secret-123456"),  # another secret
        {**signed("u-1001"), "user_hash": None},  # no hash at all
        {**signed("u-1001"), "user_id": None},  # a hash without a user
        {**signed("u-1001", now - 60), "user_ts": now},  # the time moved on, the hash not
        {**signed("u-1001"), "user_ts": "soon"},
    ):
        await refused(client, hello)
    assert await store_of(client).customers.find("web_user", "u-1001") is None


async def test_a_signed_identity_expires_and_is_never_dated_ahead(
    widget_client: Callable[..., Awaitable[Client]],
) -> None:
    client = await widget_client(identity_secret=SECRET, identity_max_age_seconds=3600)
    now = int(time.time())
    stale = await refused(client, signed("u-1001", now - 3700))
    assert "expired" in stale and "3600" in stale
    future = await refused(client, signed("u-1001", now + 900))
    assert "future" in future
    assert await store_of(client).customers.find("web_user", "u-1001") is None

    # Within the age, and a little ahead (clocks disagree): both good, one customer.
    for ts in (now - 3500, now + 60):
        _, frames = await connect(client, **signed("u-1001", ts))
        assert [f["type"] for f in frames] == ["welcome", "state"]
    # A data- attribute arrives as a string of digits.
    _, frames = await connect(client, **{**signed("u-1001", now), "user_ts": str(now)})
    assert frames[0]["type"] == "welcome"
    assert await store_of(client).customers.find("web_user", "u-1001") is not None


async def test_the_old_hash_without_a_time_works_only_when_allowed(
    widget_client: Callable[..., Awaitable[Client]],
) -> None:
    old = {"user_id": "u-1001", "user_hash": user_hash(SECRET, "u-1001")}
    client = await widget_client(identity_secret=SECRET)
    assert "user_ts is missing" in await refused(client, old)
    await client.close()  # the next server, on the same database

    allowing = await widget_client(identity_secret=SECRET, legacy_identity_hash=True)
    _, frames = await connect(allowing, **old)
    assert frames[0]["type"] == "welcome"
    _, frames = await connect(allowing, **signed("u-1001"))  # the new form works as well
    assert frames[0]["type"] == "welcome"
    # Allowing the old form does not make a timestamped hash timeless.
    assert "expired" in await refused(allowing, signed("u-1001", int(time.time()) - 90_000))


async def test_without_a_secret_configured_no_user_id_is_believed(client: Client) -> None:
    assert "not configured" in await refused(client, signed("u-1"))


async def test_a_verified_user_has_one_history_across_browsers(
    widget_client: Callable[..., Awaitable[Client]],
) -> None:
    client = await widget_client(identity_secret=SECRET)
    identity = signed("u-1001")
    first, frames = await connect(client, **identity)
    token_a = frames[0]["token"]
    said = messages(await turn(first, "你好", client_id="from-laptop"))
    assert said and said[0]["client_id"] == "from-laptop"
    await first.close()

    # Another browser (another token), the same signed-in user: the same customer and history.
    _, replay = await connect(client, **identity)
    token_b = replay[0]["token"]
    assert token_b != token_a
    assert [m["id"] for m in messages(replay)] == [m["id"] for m in said]
    assert messages(replay)[0]["client_id"] == "from-laptop"
    store = store_of(client)
    linked = await store.customers.find("web_user", "u-1001")
    a = await store.customers.find(CHANNEL, sender_for(token_a))
    b = await store.customers.find(CHANNEL, sender_for(token_b))
    assert linked is not None and a is not None and b is not None
    assert a.id == b.id == linked.id

    # An anonymous third browser does not see it.
    _, anonymous = await connect(client)
    assert messages(anonymous) == []


async def test_a_new_verified_user_gets_a_state_after_the_welcome(
    widget_client: Callable[..., Awaitable[Client]],
) -> None:
    client = await widget_client(identity_secret=SECRET)
    _, frames = await connect(client, **signed("u-7"))
    assert [f["type"] for f in frames] == ["welcome", "state"]


# -- origins -------------------------------------------------------------------------------------
async def test_only_the_allowed_origins_may_open_the_socket(
    widget_client: Callable[..., Awaitable[Client]],
) -> None:
    client = await widget_client(allowed_origins=["https://shop.example"])
    for headers in ({"Origin": "https://evil.example"}, {"Origin": "http://shop.example"}, {}):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.ws_connect("/ws/widget", headers=headers)
        assert refused.value.status == 403, headers
    ws = await client.ws_connect("/ws/widget", headers={"Origin": "https://shop.example"})
    await ws.send_json({"type": "hello", "token": None})
    assert (await recv(ws))["type"] == "welcome"


async def test_without_allowed_origins_any_origin_connects(client: Client) -> None:
    ws = await client.ws_connect("/ws/widget", headers={"Origin": "https://anyone.example"})
    await ws.send_json({"type": "hello", "token": None})
    assert (await recv(ws))["type"] == "welcome"


# -- resuming ------------------------------------------------------------------------------------
async def test_a_reconnect_replays_exactly_what_came_after_the_cursor(client: Client) -> None:
    first, frames = await connect(client)
    token = frames[0]["token"]
    assert [f["type"] for f in frames] == ["welcome", "state"]  # nothing to replay yet
    seen = messages(await turn(first, "你好", client_id="m-1"))
    seen += messages(await turn(first, "我的订单到哪了", client_id="m-2"))
    ids = [m["id"] for m in seen]
    assert len(ids) >= 4 and ids == sorted(ids) and len(set(ids)) == len(ids)
    await first.close()

    store = store_of(client)
    customer = await store.customers.find(CHANNEL, sender_for(token))
    assert customer is not None
    assert [m.id for m, _ in await store.messages.on_channel(customer.id, CHANNEL)] == ids

    cursor = ids[1]
    _, replay = await connect(client, token=token, after=cursor)
    welcome = {k: v for k, v in replay[0].items() if k != "options"}
    assert welcome == {"type": "welcome", "token": token, "language": "zh"}
    assert [m["id"] for m in messages(replay)] == ids[2:]
    assert messages(replay) == [m for m in seen if m["id"] > cursor]  # the same frames
    assert replay[-1]["type"] == "state" and replay[-1]["status"] == "bot"

    # From the start: everything, once each.
    _, everything = await connect(client, token=token, after=0)
    assert [m["id"] for m in messages(everything)] == ids
    # From the last id: nothing.
    _, nothing = await connect(client, token=token, after=ids[-1])
    assert messages(nothing) == []
    # A cursor that is not a whole number counts as 0.
    _, bad_cursor = await connect(client, token=token, after="7")
    assert [m["id"] for m in messages(bad_cursor)] == ids


async def test_a_client_id_resent_after_a_reconnect_is_stored_once(client: Client) -> None:
    first, frames = await connect(client)
    token = frames[0]["token"]
    said = messages(await turn(first, "你好", client_id="c-42"))
    echo = [m for m in said if m["sender"] == "customer"]
    assert len(echo) == 1 and echo[0]["client_id"] == "c-42" and echo[0]["text"] == "你好"
    await first.close()

    # The browser did not see the acknowledgement in time and sends it again after reconnecting.
    second, replay = await connect(client, token=token, after=0)
    await second.send_json({"type": "message", "text": "你好", "client_id": "c-42"})
    after_resend = await collect(second, lambda f: BOT_TYPING_OFF in f)
    after_resend += await quiet(second)
    assert messages(after_resend) == []  # nothing new to show, nothing twice

    store = store_of(client)
    customer = await store.customers.find(CHANNEL, sender_for(token))
    assert customer is not None
    stored = [m for m, _ in await store.messages.on_channel(customer.id, CHANNEL)]
    assert [m.id for m in stored if m.external_id == "c-42"] == [echo[0]["id"]]
    assert [m.id for m in stored] == [m["id"] for m in said]
    assert [m["client_id"] for m in messages(replay) if m["sender"] == "customer"] == ["c-42"]


# -- the token -------------------------------------------------------------------------------------
@pytest.mark.parametrize("given", [None, "short", 12345, "bad token with spaces!!", "x" * 65])
async def test_a_missing_or_malformed_token_gets_a_fresh_one(client: Client, given: Any) -> None:
    _, frames = await connect(client, token=given)
    token = frames[0]["token"]
    assert valid_token(token) and token != given
    assert frames[-1] == {
        "type": "state",
        "status": "bot",
        "position": None,
        "agent": None,
        "wait_minutes": None,
        "ticket": None,
        "awaiting_rating": False,
    }


async def test_a_known_token_comes_back_with_its_history(client: Client) -> None:
    first, frames = await connect(client)
    token = frames[0]["token"]
    said = messages(await turn(first, "你好"))
    await first.close()
    _, again = await connect(client, token=token)
    assert again[0]["token"] == token
    assert [m["id"] for m in messages(again)] == [m["id"] for m in said]
    _, other = await connect(client)
    assert other[0]["token"] != token and messages(other) == []


async def test_a_well_formed_token_with_no_history_is_kept_and_shows_nothing(
    client: Client,
) -> None:
    # Nothing is stored for a visitor until they write, so an unused token cannot be told from
    # an unknown one; keeping it is safe, since it opens no one's history.
    never_used = "A" * 32
    _, frames = await connect(client, token=never_used)
    assert frames[0]["token"] == never_used and messages(frames) == []


async def test_a_rating_client_id_is_checked_like_a_message_client_id(client: Client) -> None:
    ws, _ = await connect(client)
    await ws.send_json({"type": "rate", "score": 5, "client_id": "x" * 300})
    got = await round_trip(ws)
    assert [f["type"] for f in got] == ["error"], got


async def test_a_telegram_link_is_refused_while_telegram_is_not_connected(client: Client) -> None:
    """The `link` frame asks the Telegram channel (DeepLinking) for a t.me link: without
    Telegram on this server the widget is told so, and the socket stays usable."""
    ws, _ = await connect(client)
    await ws.send_json({"type": "link", "channel": "wechat"})
    wrong = await collect(ws, last_is("error"))
    assert wrong[-1] == {
        "type": "error",
        "code": "bad_request",
        "message": "'channel' must be \"telegram\"",
    }
    await ws.send_json({"type": "link", "channel": "telegram"})
    off = await collect(ws, last_is("error"))
    assert off[-1] == {
        "type": "error",
        "code": "unavailable",
        "message": "Telegram is not connected on this server",
    }
    assert await round_trip(ws) == []
    await ws.close()


# -- files: uploads with the media limits, the customer's own files only, an agent's picture ----
PNG = b"\x89PNG\r\n\x1a\n" + b"\x02" * 300
TOKEN_HEADER = "X-Relaydesk-Widget-Token"


def upload_form(data: bytes, name: str, mime: str, caption: str | None = None) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("file", data, filename=name, content_type=mime)
    if caption is not None:
        form.add_field("caption", caption)
    return form


async def test_a_customer_photo_is_stored_and_served_to_that_customer_only(
    client: Client,
) -> None:
    ws, frames = await connect(client)
    token = frames[0]["token"]
    await turn(ws, "你好")
    resp = await client.post(
        "/widget/upload",
        data=upload_form(PNG, "crack.png", "image/png", "屏幕裂了"),
        headers={TOKEN_HEADER: token, "Origin": "https://shop.example"},
    )
    assert resp.status == 201, await resp.text()
    assert resp.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    ref = (await resp.json())["media"]
    shown = next(
        f
        for f in await collect(
            ws,
            lambda fs: any(
                f.get("sender") == "customer" and f.get("payload", {}).get("media") for f in fs
            ),
        )
        if f.get("type") == "message" and f["sender"] == "customer"
    )
    assert shown["text"] == "[photo] 屏幕裂了" and shown["payload"]["media"][0]["id"] == ref["id"]
    got = await client.get(f"/widget/media/{ref['id']}", headers={TOKEN_HEADER: token})
    assert got.status == 200 and await got.read() == PNG and got.content_type == "image/png"
    # Another browser, no token, an agent without a login: nothing.
    _, other = await connect(client)
    stranger = {TOKEN_HEADER: other[0]["token"]}
    refused = await client.get(
        f"/widget/media/{ref['id']}", headers={**stranger, "Origin": "https://shop.example"}
    )
    assert refused.status == 404
    # The refusal keeps its CORS headers, so the embedding page can read why.
    assert refused.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert (await client.get(f"/widget/media/{ref['id']}")).status == 401
    assert (await client.get(f"/api/media/{ref['id']}")).status == 401
    assert (
        await client.post("/widget/upload", data=upload_form(PNG, "a.png", "image/png"))
    ).status == 401
    await ws.close()


async def test_uploads_over_the_limit_or_of_another_type_are_refused_with_413_and_415(
    make_client: AppFactory,
) -> None:
    def edit(raw: dict[str, Any]) -> None:
        raw["media"]["max_bytes"] = 2048

    client = await make_client(edit=edit)
    _, frames = await connect(client)
    # From the shop's page: every refusal carries CORS, so the widget can show why.
    auth = {TOKEN_HEADER: frames[0]["token"], "Origin": "https://shop.example"}
    too_big = await client.post(
        "/widget/upload", data=upload_form(PNG * 10, "big.png", "image/png"), headers=auth
    )
    assert too_big.status == 413
    assert "2048" in (await too_big.json())["message"]
    assert too_big.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    for data, name, mime in (
        (b"MZ\x90\x00" * 20, "setup.exe", "application/x-msdownload"),
        (b"<script>alert(1)</script>", "cat.png", "image/png"),  # says PNG, is HTML
    ):
        refused = await client.post(
            "/widget/upload", data=upload_form(data, name, mime), headers=auth
        )
        assert refused.status == 415, (name, await refused.text())
        assert refused.headers["Access-Control-Allow-Origin"] == "https://shop.example"
        assert (
            "allowed" in (await refused.json())["message"]
            or "content" in (await refused.json())["message"]
        )
    customer = await store_of(client).customers.find(CHANNEL, sender_for(frames[0]["token"]))
    assert customer is None  # nothing was stored for any of them


async def test_an_agents_picture_reaches_the_widget(make_client: AppFactory) -> None:
    client = await make_client(dev_agent_api=True, always_open=True)
    store = store_of(client)
    await store.agents.add("amy", "Amy", skills=["after_sales", "pre_sales"], status="online")
    ws, frames = await connect(client)
    token = frames[0]["token"]
    await turn(ws, "转人工")
    customer = await store.customers.find(CHANNEL, sender_for(token))
    assert customer is not None
    conv = await store.conversations.latest(customer.id, CHANNEL)
    assert conv is not None
    amy = {"X-Relaydesk-Agent": "amy"}
    if (await store.handoffs.active(conv.id)).status == "queued":  # type: ignore[union-attr]
        claimed = await client.post(f"/api/agent/conversations/{conv.id}/claim", headers=amy)
        assert claimed.ok, await claimed.text()
    form = aiohttp.FormData()
    form.add_field("file", PNG, filename="label.png", content_type="image/png")
    resp = await client.post(
        f"/api/agent/conversations/{conv.id}/attachments", headers=amy, data=form
    )
    assert resp.status == 201, await resp.text()
    frames = await collect(
        ws,
        lambda fs: any(
            f.get("sender") == "agent" and f.get("payload", {}).get("media") for f in fs
        ),
    )
    sent = next(f for f in frames if f.get("sender") == "agent" and f["payload"].get("media"))
    (ref,) = sent["payload"]["media"]
    assert (ref["kind"], ref["filename"]) == ("image", "label.png")
    got = await client.get(f"/widget/media/{ref['id']}", headers={TOKEN_HEADER: token})
    assert await got.read() == PNG
    await ws.close()
