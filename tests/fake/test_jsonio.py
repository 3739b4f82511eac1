"""``dingwire.fake.jsonio``: strict JSON in (no NaN, no infinity, no lone surrogate kept as
such, no nesting it cannot serve back), valid JSON out, whatever it is given."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dingwire.fake import jsonio
from tests.fake.conftest import strict_json


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"ttl": NaN}', "NaN is not a JSON number"),
        (b'{"ttl": Infinity}', "Infinity is not a JSON number"),
        (b'{"ttl": -Infinity}', "-Infinity is not a JSON number"),
        (b"[NaN]", "NaN is not a JSON number"),
        (b"\xff{}", "not UTF-8"),
        (b'{"a": 1', "expecting"),
        (b"", "expecting value"),
        (b"[" * 513 + b"]" * 513, "nested more than 512 deep"),
        (b'{"a":' * 600 + b"1" + b"}" * 600, "nested more than 512 deep"),
        (b"[" * 100_000, "nested"),
    ],
)
def test_what_is_not_strict_json_is_refused_with_the_reason(raw: bytes, reason: str) -> None:
    for mode in ("replace", "refuse"):
        with pytest.raises(jsonio.NotJsonError, match=reason):
            jsonio.loads(raw, lone_surrogates=mode)  # type: ignore[arg-type]


def test_nesting_up_to_the_limit_is_read_and_served_back() -> None:
    deep = b"[" * jsonio.MAX_DEPTH + b"]" * jsonio.MAX_DEPTH
    value = jsonio.loads(deep, lone_surrogates="replace")
    served = jsonio.dumps({"messages": [{"body": value}]})
    assert strict_json(served)["messages"][0]["body"] == value


@pytest.mark.parametrize(
    ("raw", "read"),
    [
        (b'{"n": 1e400}', {"n": "1e400"}),
        (b'{"n": -1e999}', {"n": "-1e999"}),
        (b'{"n": 1.5e300}', {"n": 1.5e300}),
        (b'{"n": ' + b"9" * 5000 + b"}", {"n": "9" * 5000}),
        (b'{"n": 123}', {"n": 123}),
    ],
)
def test_numbers_too_large_to_hold_are_kept_as_their_text(raw: bytes, read: Any) -> None:
    value = jsonio.loads(raw, lone_surrogates="replace")
    assert value == read
    assert strict_json(jsonio.dumps(value)) == read


@pytest.mark.parametrize(
    ("raw", "read"),
    [
        (b'{"text": "\\ud800"}', {"text": "\ufffd"}),
        (
            b'{"\\udfff": ["a\\udc00b", {"k": "\\uD83D"}]}',
            {"\ufffd": ["a\ufffdb", {"k": "\ufffd"}]},
        ),
        (b'{"ok": "\\ud83d\\ude00"}', {"ok": "\U0001f600"}),  # a pair is one character
        (b'"\\ud800"', "\ufffd"),
        (b'{"not": "\\\\ud800"}', {"not": "\\ud800"}),  # an escaped backslash, then text
    ],
)
def test_lone_surrogates_are_replaced_in_a_body(raw: bytes, read: Any) -> None:
    value = jsonio.loads(raw, lone_surrogates="replace")
    assert value == read
    assert strict_json(jsonio.dumps(value)) == read


def test_lone_surrogates_are_refused_in_settings() -> None:
    with pytest.raises(jsonio.NotJsonError, match="lone surrogate"):
        jsonio.loads(b'{"name": ["x", "\\ud800"]}', lone_surrogates="refuse")
    with pytest.raises(jsonio.NotJsonError, match="lone surrogate"):
        jsonio.loads(b'{"\\udc00": 1}', lone_surrogates="refuse")
    assert jsonio.loads(b'{"ok": "\\ud83d\\ude00"}', lone_surrogates="refuse") == {"ok": "😀"}


def test_what_is_served_is_strict_json_or_a_bug_raised() -> None:
    assert jsonio.dumps({"告警": "\ud800 x"}) == '{"告警":"\ufffd x"}'.encode()
    assert strict_json(jsonio.dumps(["\udfff"])) == ["\ufffd"]
    with pytest.raises(ValueError, match="JSON compliant"):
        jsonio.dumps({"n": float("nan")})
    with pytest.raises(ValueError, match="JSON compliant"):
        jsonio.dumps({"n": float("inf")})
    assert json.loads(jsonio.dumps({"a": [1, None, True]})) == {"a": [1, None, True]}


@pytest.mark.parametrize(
    ("text", "found"),
    [("ok", None), ("告警 😀", None), ("a\ud800b", "\ud800"), ("\udfff", "\udfff"), ("", None)],
)
def test_lone_surrogate_finds_what_no_utf8_can_hold(text: str, found: str | None) -> None:
    assert jsonio.lone_surrogate(text) == found
