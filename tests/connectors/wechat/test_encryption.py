"""WeChat's safe and compatible modes (消息加解密) with wechatpy's WeChatCrypto playing WeChat's
side, and passive replies whose connection drops: they are not delivered until WeChat's retry
of the message gets them (or the customer-service API sends them)."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from connectors.wechat.crypto import MessageCrypto, msg_signature
from connectors.wechat.settings import WechatSettings
from tests.connectors.wechat.test_wechat import (  # noqa: F401 (fixtures)
    ACCOUNT,
    APP_ID,
    HOOK,
    TOKEN,
    Rig,
    RigFactory,
    _bot,
    _reached,
    make_rig,
    wx,
)
from tests.kit.wechat import post_and_hang_up
from tests.standins.wechat_api import (
    decrypt_reply,
    encrypted_post,
    parse_reply_xml,
    signed_query,
    text_message_xml,
)

AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, as WeChat issues them
OTHER_KEY = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut"


def _open(body: str) -> dict[str, str]:
    """WeChat's side: decrypt the encrypted reply (wechatpy checks MsgSignature and appid)."""
    return parse_reply_xml(decrypt_reply(TOKEN, AES_KEY, APP_ID, body))


async def _say_encrypted(
    rig: Rig, openid: str, text: str, msg_id: int, *, compatible: bool = False
) -> tuple[int, str]:
    xml = text_message_xml(ACCOUNT, openid, text, msg_id)
    query, body = encrypted_post(TOKEN, AES_KEY, APP_ID, xml, compatible=compatible, openid=openid)
    resp = await rig.post(body, query)
    return resp.status, await resp.text()


# ---------------------------------------------------------------------- settings and algorithm


def test_the_encoding_aes_key_is_checked_at_start_up() -> None:
    base = {"enabled": True, "token": TOKEN, "app_id": APP_ID, "app_secret": "s"}
    with pytest.raises(ValidationError, match=r"connectors\.wechat\.encoding_aes_key"):
        WechatSettings(**base, encryption="safe")
    for bad in ("too-short", AES_KEY + "x", AES_KEY[:-1] + "!"):
        with pytest.raises(ValidationError, match=r"connectors\.wechat\.encoding_aes_key") as err:
            WechatSettings(**base, encryption="safe", encoding_aes_key=bad)
        assert bad not in str(err.value)  # the key is not echoed
    ok = WechatSettings(**base, encryption="compatible", encoding_aes_key=AES_KEY)
    assert AES_KEY in ok.secrets()


def test_our_encryption_is_wechatpys() -> None:
    """Both directions against wechatpy: it opens what we seal, we open what it seals."""
    ours = MessageCrypto(TOKEN, AES_KEY, APP_ID)
    sealed = ours.reply("<xml><Content>你好</Content></xml>", "nonce-1", "1700000000")
    assert decrypt_reply(TOKEN, AES_KEY, APP_ID, sealed) == "<xml><Content>你好</Content></xml>"
    xml = text_message_xml(ACCOUNT, "o-x", "长" * 700, 1)
    query, body = encrypted_post(TOKEN, AES_KEY, APP_ID, xml)
    encrypt = parse_reply_xml(body)["Encrypt"]
    expected = msg_signature(TOKEN, query["timestamp"], query["nonce"], encrypt)
    assert query["msg_signature"] == expected
    opened = ours.decrypt(encrypt, query["msg_signature"], query["timestamp"], query["nonce"])
    assert "长" * 700 in opened.decode()


# ---------------------------------------------------------------------- safe and compatible modes


async def test_safe_mode_decrypts_the_message_and_encrypts_the_reply(
    make_rig: RigFactory,  # noqa: F811
) -> None:
    rig = await make_rig(encryption="safe", encoding_aes_key=AES_KEY)
    status, body = await _say_encrypted(rig, "o-safe", "你好", 31_001)
    assert status == 200, body
    assert "<Encrypt>" in body and "你好" not in body
    reply = _open(body)
    assert reply["ToUserName"] == "o-safe" and reply["FromUserName"] == ACCOUNT
    bots = _bot(await rig.messages("o-safe"))
    assert reply["Content"].startswith(bots[0].text.strip())
    customer = [m.text for m in await rig.messages("o-safe") if m.sender == "customer"]
    assert customer == ["你好"]
    states = await rig.states(bots[0].conversation_id)
    assert states[bots[0].id].via == "passive" and states[bots[0].id].status == "sent"


async def test_safe_mode_refuses_a_plaintext_post(make_rig: RigFactory) -> None:  # noqa: F811
    rig = await make_rig(encryption="safe", encoding_aes_key=AES_KEY)
    resp = await rig.post(text_message_xml(ACCOUNT, "o-plain", "hi", 31_002))
    assert resp.status == 400 and "safe" in await resp.text()
    assert await rig.store.customers.find("wechat", "o-plain") is None


async def test_compatible_mode_uses_the_signed_ciphertext_and_replies_encrypted(
    make_rig: RigFactory,  # noqa: F811
) -> None:
    rig = await make_rig(encryption="compatible", encoding_aes_key=AES_KEY)
    status, body = await _say_encrypted(rig, "o-compat", "你好", 31_003, compatible=True)
    assert status == 200, body
    assert _open(body)["Content"].strip()
    # The plaintext beside Encrypt is not signed: a changed plaintext is ignored...
    xml = text_message_xml(ACCOUNT, "o-compat2", "你好", 31_004)
    query, sealed = encrypted_post(TOKEN, AES_KEY, APP_ID, xml, compatible=True)
    forged = sealed.replace("<Content>你好</Content>", "<Content>forged words</Content>")
    assert forged != sealed
    resp = await rig.post(forged, query)
    assert resp.status == 200
    customer = [m.text for m in await rig.messages("o-compat2") if m.sender == "customer"]
    assert customer == ["你好"]
    # ...and a plaintext post still gets a plaintext answer.
    plain = await rig.post(text_message_xml(ACCOUNT, "o-compat3", "你好", 31_005))
    assert plain.status == 200 and parse_reply_xml(await plain.text())["Content"].strip()


async def test_bad_signature_wrong_appid_or_garbage_is_refused_and_nothing_is_lost(
    make_rig: RigFactory,  # noqa: F811
) -> None:
    rig = await make_rig(encryption="safe", encoding_aes_key=AES_KEY)
    openid = "o-bad"
    xml = text_message_xml(ACCOUNT, openid, "你好", 31_010)
    query, body = encrypted_post(TOKEN, AES_KEY, APP_ID, xml)
    assert (await rig.post(body, query)).status == 200  # accepted and stored

    tampered = dict(query, msg_signature="0" * 40)
    assert (await rig.post(body, tampered)).status == 403
    q2, other_app = encrypted_post(TOKEN, AES_KEY, "wx-another-app", xml)
    resp = await rig.post(other_app, q2)
    assert resp.status == 400 and "appid" in await resp.text()
    q3, other_key = encrypted_post(TOKEN, OTHER_KEY, APP_ID, xml)
    assert (await rig.post(other_key, q3)).status == 400
    q4 = signed_query(TOKEN)
    garbage = "<xml><ToUserName>gh</ToUserName><Encrypt>not base64 at all!</Encrypt></xml>"
    q4 |= {
        "encrypt_type": "aes",
        "msg_signature": msg_signature(TOKEN, q4["timestamp"], q4["nonce"], "not base64 at all!"),
    }
    assert (await rig.post(garbage, q4)).status == 400
    assert (await rig.post("<xml><ToUserName>gh</ToUserName></xml>", q4)).status == 400

    # WeChat's retry of the accepted message is still recognised: stored once, answered once.
    retry = await rig.post(body, query)
    assert retry.status == 200 and await retry.text() == "success"
    messages = await rig.messages(openid)
    assert [m.text for m in messages if m.sender == "customer"] == ["你好"]
    assert len(_bot(messages)) == 1


# ---------------------------------------------------------------------- a dropped passive reply


async def _post_and_hang_up(rig: Rig, query: dict[str, str], body: str) -> None:
    """WeChat's side gives up: the request is sent whole, the connection closed unread."""
    rig.wx.observe(body)  # WeChat knows the user wrote (its 48-hour window)
    server = rig.client.server
    assert server.port is not None  # a started server has its port
    await post_and_hang_up(server.host, server.port, query, body)


async def _dropped(rig: Rig, openid: str) -> int:
    """Wait until the dropped reply is back to pending; the bot message's id."""
    for _ in range(200):
        customer = await rig.store.customers.find("wechat", openid)
        if customer is not None:
            bots = _bot(await rig.messages(openid))
            if bots:
                states = await rig.states(bots[0].conversation_id)
                state = states[bots[0].id]
                if state.status == "pending" and state.error:
                    return bots[0].id
        await asyncio.sleep(0.05)
    raise AssertionError("the dropped passive reply was not put back to pending")


@pytest.mark.parametrize("encrypted", [False, True], ids=["plaintext", "safe"])
async def test_a_dropped_passive_reply_is_given_to_wechats_retry(
    make_rig: RigFactory,  # noqa: F811
    encrypted: bool,
) -> None:
    mode = {"encryption": "safe", "encoding_aes_key": AES_KEY} if encrypted else {}
    rig = await make_rig(dropped_reply_wait_seconds=30, **mode)
    openid = "o-drop"
    xml = text_message_xml(ACCOUNT, openid, "你好", 32_001, create_time=1_700_000_000)
    if encrypted:
        query, body = encrypted_post(TOKEN, AES_KEY, APP_ID, xml)
    else:
        query, body = signed_query(TOKEN), xml
    await _post_and_hang_up(rig, query, body)
    message_id = await _dropped(rig, openid)

    retry = await rig.post(body, query)  # WeChat's retry of the same MsgId
    assert retry.status == 200
    text = await retry.text()
    reply = _open(text) if encrypted else parse_reply_xml(text)
    [bot] = _bot(await rig.messages(openid))
    assert reply["Content"].startswith(bot.text.strip())
    states = await rig.states(bot.conversation_id)
    assert states[message_id].status == "sent" and states[message_id].via == "passive"
    again = await rig.post(body, query)  # a later retry: answered once is enough
    assert await again.text() == "success"
    await asyncio.sleep(0.3)
    assert rig.wx.messages == []  # not pushed as well


async def test_a_dropped_passive_reply_without_a_retry_goes_through_the_api(
    make_rig: RigFactory,  # noqa: F811
) -> None:
    rig = await make_rig(dropped_reply_wait_seconds=0.3)
    openid = "o-drop-api"
    xml = text_message_xml(ACCOUNT, openid, "你好", 32_002)
    await _post_and_hang_up(rig, signed_query(TOKEN), xml)
    message_id = await _dropped(rig, openid)
    [bot] = _bot(await rig.messages(openid))
    states = await rig.settle(bot.conversation_id)
    assert states[message_id].status == "sent" and states[message_id].via == "api"
    assert _reached(rig.wx, openid, bot.text) == 1


async def test_a_reply_to_a_client_that_went_away_counts_as_unwritten() -> None:
    """Served as in production (no handler cancellation): the write of a response to a closed
    connection reports False, to a live one True."""
    from aiohttp import web
    from aiohttp.test_utils import unused_port

    from connectors.wechat.routes import _write

    written: list[bool] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        await request.read()
        await asyncio.sleep(0.3)
        response = web.Response(text="<xml/>")
        written.append(await _write(request, response))
        return response

    app = web.Application()
    app.router.add_post("/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = unused_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        request = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request)
        await writer.drain()
        writer.close()  # gone before the answer
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request)
        assert (await reader.readline()).startswith(b"HTTP/1.1 200")
        writer.close()
        await asyncio.sleep(0.1)
        assert written == [False, True]
    finally:
        await runner.cleanup()
