"""Building requests and reading replies, with fixed numbers for time."""

import json

import pytest

from dingwire import Text
from dingwire.core.errors import BadResponseError, BodyTooLargeError, TimestampError, TooLargeError
from dingwire.core.protocol import (
    MAX_BODY_BYTES,
    SendResult,
    build_request,
    clock_note,
    encode_body,
    parse_reply,
)
from dingwire.core.signing import sign

HOOK = "https://oapi.dingtalk.com/robot/send?access_token=abcdef0123456789"


def test_build_request_signs_and_encodes_compact_utf8() -> None:
    request = build_request(HOOK, Text("测试"), secret="SECx", timestamp_ms=1000)
    assert request.method == "POST"
    assert request.headers["Content-Type"].startswith("application/json")
    assert request.body == '{"msgtype":"text","text":{"content":"测试"}}'.encode()
    assert "timestamp=1000" in request.url
    assert "abcdef0123456789" not in repr(request)
    assert sign("SECx", 1000)[:10] not in repr(request)


def test_unsigned_request_leaves_the_url_alone() -> None:
    assert build_request(HOOK, Text("x")).url == HOOK


def test_keywords_are_applied() -> None:
    body = build_request(HOOK, Text("disk full"), keywords=["告警"]).body
    assert json.loads(body)["text"]["content"] == "【告警】 disk full"


def test_body_limit_is_on_the_whole_utf8_body() -> None:
    overhead = len(encode_body(Text("x").to_payload())) - 1
    fits = "字" * ((MAX_BODY_BYTES - overhead) // 3)
    assert len(build_request(HOOK, Text(fits)).body) <= MAX_BODY_BYTES
    with pytest.raises(TooLargeError) as caught:
        build_request(HOOK, Text(fits + "字"))
    assert caught.value.size is not None
    assert caught.value.size > MAX_BODY_BYTES
    assert "20,000" in str(caught.value)
    assert "split=True" in caught.value.advice


def test_signed_request_needs_a_timestamp() -> None:
    with pytest.raises(ValueError, match="timestamp_ms"):
        build_request(HOOK, Text("x"), secret="SECx")


def test_parse_success_and_key_order() -> None:
    assert parse_reply(200, b'{"errmsg":"ok","errcode":0}') == SendResult()


@pytest.mark.parametrize(
    ("status", "body", "match"),
    [
        (200, b"<html>gateway</html>", "not DingTalk's JSON"),
        (502, b"Bad Gateway", "HTTP 502"),
        (200, b'{"errcode":"0"}', "not DingTalk's JSON"),
        (500, b'{"errcode":0,"errmsg":"ok"}', "HTTP 500"),
    ],
)
def test_bad_replies(status: int, body: bytes, match: str) -> None:
    with pytest.raises(BadResponseError, match=match) as caught:
        parse_reply(status, body)
    assert caught.value.status == status


def test_gateway_413_is_too_large() -> None:
    with pytest.raises(BodyTooLargeError):
        parse_reply(413, b"<html>413</html>")


def test_timestamp_error_says_when_the_clock_is_off() -> None:
    reply = b'{"errcode":310000,"errmsg":"invalid timestamp"}'
    with pytest.raises(TimestampError) as caught:
        parse_reply(200, reply, timestamp_ms=10_000_000_000, server_time=10_000_000 - 7200)
    assert "120 minutes ahead of DingTalk's" in caught.value.advice
    with pytest.raises(TimestampError) as caught:
        parse_reply(200, reply, timestamp_ms=10_000_000_000, server_time=10_000_000 + 5)
    assert "reused" in caught.value.advice


def test_clock_note_variants() -> None:
    assert clock_note(None, 1.0) is None
    assert clock_note(1000, None) is None
    assert "behind" in (clock_note(0, 4000) or "")
    assert "90 s ahead" in (clock_note(100_000, 10) or "")
