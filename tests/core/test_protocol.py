"""Building requests and reading replies, with fixed numbers for time."""

import json
import math
from typing import Any

import pytest

from dingwire import Text
from dingwire.core.errors import (
    BadResponseError,
    BodyTooLargeError,
    ConfigError,
    GatewayThrottledError,
    MessageError,
    RateLimitedError,
    TimestampError,
    TooLargeError,
)
from dingwire.core.protocol import (
    MAX_BODY_BYTES,
    MAX_GATEWAY_WAIT,
    SendResult,
    Webhook,
    build_request,
    check_body_size,
    clock_note,
    decode_body,
    encode_body,
    parse_reply,
)
from dingwire.core.signing import sign, signed_url

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


def test_one_webhook_signs_every_attempt_as_signed_url_does() -> None:
    hook = Webhook(f"{HOOK}&timestamp=1&sign=stale#frag", "SECx")
    for timestamp in (0, 1_700_000_000_000, 1_700_000_000_001):
        request = hook.request(b"{}", timestamp)
        assert request.url == signed_url(hook.url, "SECx", timestamp)
        assert request.url.count("timestamp=") == 1
        assert request.body == b"{}"
    assert Webhook(HOOK).request(b"{}").url == HOOK
    assert "abcdef0123456789" not in repr(hook)
    assert "SECx" not in repr(hook)
    with pytest.raises(ValueError, match="timestamp_ms"):
        hook.request(b"{}")


def test_a_bad_webhook_is_refused_before_a_request_is_built() -> None:
    with pytest.raises(ConfigError, match="carriage return"):
        build_request(f"{HOOK}\r\nHost: evil", Text("x"))
    with pytest.raises(ConfigError, match=r"^robots\.ops: webhook: "):
        Webhook("https://h:99999/?access_token=x", name="robots.ops: webhook")


def test_the_size_check_is_one_function() -> None:
    assert check_body_size(b"x" * MAX_BODY_BYTES) == b"x" * MAX_BODY_BYTES
    with pytest.raises(
        TooLargeError, match="20,001 bytes of JSON; DingTalk accepts at most 20,000"
    ):
        check_body_size(b"x" * (MAX_BODY_BYTES + 1))
    with pytest.raises(TooLargeError) as caught:
        check_body_size(b"xyz", limit=2)
    assert (caught.value.size, caught.value.limit) == (3, 2)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"msgtype": "text", "text": {"content": "x"}, "n": math.nan}, "n"),
        ({"msgtype": "text", "text": {"content": "x"}, "n": [math.inf]}, "n[0]"),
        ({"msgtype": "text", "text": {"content": "\ud800"}}, "text.content"),
        ({"msgtype": "text", "text": {"content": "x"}, "when": {1, 2}}, "when"),
        ({"msgtype": "text", "text": {"content": "x"}, "n": 10**5000}, "n"),
    ],
)
def test_nan_and_other_non_json_never_go_out(payload: dict[str, Any], field: str) -> None:
    with pytest.raises(MessageError) as caught:
        encode_body(payload)
    assert caught.value.field == field


def test_encode_body_refuses_nan_even_where_no_field_can_be_named() -> None:
    class Odd(dict[str, Any]):
        pass

    assert encode_body(Odd(a=1.5)) == b'{"a":1.5}'
    with pytest.raises(MessageError, match="nan is not a number"):
        encode_body(Odd(a=math.nan))


MESSAGE = b'{"msgtype": "text", "text": {"content": "hi"}}'


def test_decode_body_reads_a_message_strictly() -> None:
    assert decode_body(MESSAGE) == {"msgtype": "text", "text": {"content": "hi"}}
    assert decode_body(MESSAGE.decode()) == decode_body(b"\xef\xbb\xbf" + MESSAGE)  # a BOM
    assert decode_body(b'{"n": 1234567890123456789, "f": -1.5e300}')["n"] == 1234567890123456789


# (JSON text, what the one line says)
NOT_A_MESSAGE: list[tuple[bytes | str, str]] = [
    (b"[" * 100_000 + b"]" * 100_000, "nested too deep"),
    (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "nested too deep"),
    (b'{"a":' * 40 + b"1" + b"}" * 40, "nested more than 32 deep"),
    (b'{"n": ' + b"9" * 5000 + b"}", "a number of 5,000 characters (999999999999…) is longer"),
    (b'{"n": 0.' + b"1" * 5000 + b"}", "a number of 5,002 characters"),
    (b'{"n": -' + b"9" * 41 + b"}", "a number of 42 characters"),
    (b'{"n": 1e400}', "1e400 is too large for a JSON number"),
    (b'{"n": NaN}', "NaN is not a number JSON can carry"),
    (b'{"n": Infinity}', "Infinity is not a number"),
    (b'{"n": -Infinity}', "-Infinity is not a number"),
    (b'{"a": 1, "a": 2}', "the key 'a' is given twice in one object"),
    (b'{"s": "\\ud800"}', "s: holds a lone surrogate"),
    (b"\xff\xfe{}", "not UTF-8 (byte 0 is 0xff)"),
    (b"", "not JSON: Expecting value (line 1, column 1)"),
    (b"{", "not JSON"),
    (b'{"a": 1} x', "not JSON: Extra data"),
    (b"[]", "a message is a JSON object ({...}), not an array"),
    (b'"text"', "not a string"),
    (b"null", "not null"),
    (b"5", "not a number"),
    (b" " * 1_000_001, "1,000,001 bytes of JSON is more than the 1,000,000 read"),
]


@pytest.mark.parametrize(("text", "says"), NOT_A_MESSAGE)
def test_decode_body_refuses_in_one_clear_line(text: bytes | str, says: str) -> None:
    with pytest.raises(MessageError) as caught:
        decode_body(text)
    message = str(caught.value)
    assert says in message
    assert "\n" not in message
    assert len(message) < 200
