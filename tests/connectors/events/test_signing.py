"""The signature of POST /api/events (connectors/events/signing.py) and its body's validation
(validation.py), without a server: each check fails with a message naming what is wrong."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest

from bot.clock import SimulatedClock, use_clock
from connectors.events.signing import (
    KEY,
    SIGNATURE,
    TIMESTAMP,
    SignatureError,
    sign,
    signature,
    verify,
)
from connectors.events.validation import EventBodyError, parse

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
BODY = b'{"id": "evt-1"}'


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    mac = hmac.new(b"s3cret-shop", b"1796601600.{}", hashlib.sha256).hexdigest()
    assert signature("s3cret-shop", "1796601600", b"{}") == f"sha256={mac}"
    assert signature("a", "1", b"x") != signature("a", "1", b"y")
    assert signature("a", "1", b"x") != signature("b", "1", b"x")
    assert signature("a", "1", b"x") != signature("a", "2", b"x")


def test_a_fresh_signed_request_verifies() -> None:
    with use_clock(SimulatedClock(NOW)):
        headers = sign("shop", "k-shop", "s3cret-shop", BODY)
        verify(headers, BODY, "k-shop", "s3cret-shop")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({KEY: None}, "missing X-Relaydesk-Key"),
        ({KEY: "other"}, "not this source's API key"),
        ({TIMESTAMP: None}, "missing X-Relaydesk-Timestamp"),
        ({TIMESTAMP: "12:00"}, "unix seconds"),
        ({TIMESTAMP: str(int(NOW.timestamp()) - 301)}, "301 s old"),
        ({TIMESTAMP: str(int(NOW.timestamp()) + 400)}, "400 s in the future"),
        ({SIGNATURE: None}, "missing X-Relaydesk-Signature"),
        ({SIGNATURE: "md5=abc"}, "must start with sha256="),
        ({SIGNATURE: "sha256=" + "0" * 64}, "does not match the body"),
    ],
)
def test_each_failed_check_names_itself(change: dict[str, str | None], message: str) -> None:
    with use_clock(SimulatedClock(NOW)):
        headers: dict[str, str] = sign("shop", "k-shop", "s3cret-shop", BODY)
        for name, value in change.items():
            if value is None:
                headers.pop(name)
            else:
                headers[name] = value
        with pytest.raises(SignatureError, match=message) as caught:
            verify(headers, BODY, "k-shop", "s3cret-shop")
    assert "s3cret" not in str(caught.value)


def test_a_body_changed_after_signing_is_refused() -> None:
    with use_clock(SimulatedClock(NOW)):
        headers = sign("shop", "k-shop", "s3cret-shop", BODY)
        with pytest.raises(SignatureError, match="does not match"):
            verify(headers, BODY + b" ", "k-shop", "s3cret-shop")


def _event(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": "evt-1",
        "type": "cart_abandoned",
        "customer": {"external_id": "S-1"},
        "occurred_at": "2026-12-07T09:00:00+08:00",
        "data": {"product": "风筝"},
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


def _parse(doc: object) -> list[object]:
    with use_clock(SimulatedClock(NOW)):
        return list(parse(json.dumps(doc).encode()))


def test_one_event_or_a_batch_parses_and_numeric_ids_are_text() -> None:
    [one] = _parse(_event())
    batch = _parse({"events": [_event(), _event(id=17, customer={"external_id": 1001})]})
    assert len(batch) == 2
    assert batch[1].id == "17" and batch[1].customer.external_id == "1001"  # type: ignore[attr-defined]
    assert one.occurred_at == datetime(2026, 12, 7, 1, 0, tzinfo=UTC)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (_event(type=None), "^type: required$"),
        (_event(type="Cart Abandoned"), "^type: a lower-case name"),
        (_event(id="evt 1"), "^id: visible ASCII"),
        (_event(id="x" * 101), "^id: "),
        (
            _event(occurred_at="2026-12-07T09:00:00"),
            "^occurred_at: an ISO 8601 time with its time zone",
        ),
        (_event(occurred_at="2026-12-07T11:00:00+00:00"), "^occurred_at: 3600 s in the future"),
        (_event(customer={}), "^customer: give exactly one of id"),
        (_event(customer={"id": "a", "external_id": "b"}), "^customer: give exactly one"),
        (
            _event(customer={"id": "a", "channel": "web"}),
            "^customer: channel goes with external_id",
        ),
        (_event(customer={"external_id": "b", "channel": "fax"}), "^customer.channel: "),
        (_event(customer={"external_id": "x" * 65}), "^customer.external_id: "),
        (_event(data={"blob": "x" * 5000}), r"^data: \d+ bytes of JSON; at most 4096"),
        (_event(colour="red"), "^colour: unknown field"),
        ({"events": []}, "^events: 1 to 100 events per request"),
        ({"events": [_event()] * 101}, "^events: 1 to 100 events per request"),
        ({"events": [_event(), _event(type=None)]}, r"^events\[1\]\.type: required$"),
        (
            {"events": [_event(), _event(customer={"external_id": "b", "channel": "fax"})]},
            r"^events\[1\]\.customer\.channel: ",
        ),
        ([_event()], '^body: a JSON object, one event or {"events": \\[...\\]}'),
    ],
)
def test_a_wrong_field_is_named(doc: object, message: str) -> None:
    with pytest.raises(EventBodyError, match=message):
        _parse(doc)


def test_a_body_that_is_not_json_says_so() -> None:
    with pytest.raises(EventBodyError, match=r"^body: not JSON"):
        parse(b"{nope")
    with pytest.raises(EventBodyError, match=r"^body: not JSON"):
        parse(b"\xff\xfe")
