"""Building requests and reading replies, with fixed numbers for time."""

import json

import pytest

from dingwire import Text
from dingwire.core.errors import (
    BadResponseError,
    BodyTooLargeError,
    GatewayThrottledError,
    RateLimitedError,
    TimestampError,
    TooLargeError,
)
from dingwire.core.protocol import (
    MAX_BODY_BYTES,
    MAX_GATEWAY_WAIT,
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
        (502, b"Bad Gateway", "HTTP 502"),
        (500, b'{"errcode":0,"errmsg":"ok"}', "HTTP 500"),
        (503, b'{"status":1111,"wait":5}', "HTTP 503"),
        (404, b"<html>not found</html>", "HTTP 404"),
        (401, b"", "HTTP 401"),
        (400, b'{"status":1111}', "HTTP 400"),
    ],
)
def test_http_errors_without_an_errcode_are_bad_responses(
    status: int, body: bytes, match: str
) -> None:
    with pytest.raises(BadResponseError, match=match) as caught:
        parse_reply(status, body)
    assert caught.value.status == status
    assert not isinstance(caught.value, RateLimitedError)


X5 = b'{"status":1111,"wait":5,"source":"x5","punish":"deny","msg":"..."}'


@pytest.mark.parametrize(
    ("status", "body", "wait", "shown"),
    [
        (200, X5, 5.0, "asking to wait 5 s"),
        (200, b'{"status":1111,"wait":"7","source":"x5"}', 7.0, "asking to wait 7 s"),
        (200, b'{"status":1111,"wait":-3}', None, "a reply without an errcode"),
        (200, b'{"status":1111,"wait":1e9}', MAX_GATEWAY_WAIT, "asking to wait 600 s"),
        (200, b'{"status":1111,"wait":true}', None, "without an errcode"),
        (200, b'{"status":1111,"wait":"soon"}', None, "without an errcode"),
        (200, b"<html>gateway</html>", None, "'<html>gateway</html>'"),
        (200, b'{"errcode":"0"}', None, "without an errcode"),
        (200, b"", None, "without an errcode"),
        (302, b"<html>moved</html>", None, "HTTP 302"),
        (301, X5, 5.0, "HTTP 301, asking to wait 5 s"),
        (429, b"", None, "HTTP 429"),
        (403, b"<html>denied</html>", None, "HTTP 403"),
    ],
)
def test_answers_that_are_not_errcode_json_mean_slow_down(
    status: int, body: bytes, wait: float | None, shown: str
) -> None:
    # API.md §4.1: never success, never a permanent refusal; honour `wait` when given.
    with pytest.raises(GatewayThrottledError) as caught:
        parse_reply(status, body)
    assert caught.value.status == status
    assert caught.value.retry_after == wait
    assert shown in str(caught.value)
    assert "nothing was delivered" in str(caught.value)
    assert isinstance(caught.value, RateLimitedError)
    assert isinstance(caught.value, BadResponseError)


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
