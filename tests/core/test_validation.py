"""The one validator, fuzzed: any JSON either passes or raises MessageError naming a field."""

import json
import math
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dingwire.core.errors import MessageError
from dingwire.core.messages import to_payload
from dingwire.core.protocol import encode_body
from dingwire.core.validation import (
    MAX_DEPTH,
    MSGTYPES,
    body_key,
    check_values,
    text_fields,
    validate_payload,
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**63 - 2, max_value=2**70)
    | st.floats()  # NaN and infinities too
    | st.text(max_size=20)
    | st.sampled_from(["\ud800", "x\udfff", "🚨"]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
keys = st.sampled_from(
    ["content", "title", "text", "messageUrl", "messageURL", "picUrl", "picURL", "btns",
     "links", "singleTitle", "singleURL", "actionURL", "btnOrientation", "hideAvatar"]
)  # fmt: skip
payloads = st.builds(
    lambda msgtype, body, at: {"msgtype": msgtype, msgtype: body, **({"at": at} if at else {})},
    st.sampled_from([*MSGTYPES, "image", ""]),
    st.dictionaries(keys, json_values, max_size=6),
    st.none()
    | st.dictionaries(st.sampled_from(["atMobiles", "atUserIds", "isAtAll"]), json_values),
)


@given(payload=payloads | json_values, strict=st.booleans())
def test_any_input_passes_or_names_a_field(payload: Any, strict: bool) -> None:
    failure: MessageError | None = None
    try:
        validate_payload(payload, strict=strict)
    except MessageError as error:
        failure = error
    if failure is not None:
        assert failure.field
        assert str(failure).startswith(failure.field)
    else:
        assert isinstance(payload, dict)
        assert payload["msgtype"] in MSGTYPES
        text_fields(payload)
        if strict:  # what strict mode lets through goes out as strict JSON
            body = encode_body(payload).decode("utf-8")
            json.loads(body, parse_constant=_refuse)


def _refuse(name: str) -> None:
    raise AssertionError(f"{name} went out as JSON")


@pytest.mark.parametrize("flag", ["0", "1", 0, 1])
def test_flags_as_strings_or_ints(flag: object) -> None:
    body = {"title": "t", "text": "x", "singleTitle": "a", "singleURL": "https://a/"}
    validate_payload({"msgtype": "actionCard", "actionCard": {**body, "btnOrientation": flag}})


@pytest.mark.parametrize("flag", ["2", True, "vertical", None])
def test_other_flags_are_refused(flag: object) -> None:
    body = {"title": "t", "text": "x", "singleTitle": "a", "singleURL": "https://a/"}
    with pytest.raises(MessageError, match="hideAvatar"):
        validate_payload({"msgtype": "actionCard", "actionCard": {**body, "hideAvatar": flag}})


def test_lenient_mode_accepts_what_dingtalk_accepts() -> None:
    payload = {
        "msgtype": "link",
        "link": {"title": "t", "text": "x", "messageUrl": "not-checked-by-dingtalk"},
        "at": {"atMobiles": ["1"], "atDingtalkIds": ["legacy"]},
        "msgUuid": "ignored",
    }
    validate_payload(payload)
    with pytest.raises(MessageError):
        validate_payload(payload, strict=True)


def test_extra_msgtypes() -> None:
    validate_payload({"msgtype": "image", "image": {"picURL": "x"}}, extra_msgtypes=["image"])


TEXT = {"msgtype": "text", "text": {"content": "x"}}
CARD = {
    "msgtype": "actionCard",
    "actionCard": {
        "title": "t",
        "text": "x",
        "btns": [
            {"title": "a", "actionURL": "https://a/"},
            {"title": "b", "actionURL": "https://b/"},
        ],
    },
}


def _with(payload: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    result = json.loads(json.dumps(payload))
    target = result
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return result


def _nested(depth: int) -> Any:
    value: Any = "deep"
    for _ in range(depth):
        value = [value]
    return value


# (a raw dict, the field named, what is said): what JSON cannot carry, in any field.
UNSENDABLE = [
    (_with(TEXT, ("text", "content"), "a\ud800b"), "text.content", "lone surrogate ('\\ud800' at character 1)"),
    (_with(CARD, ("actionCard", "btns", 1, "title"), "\udcff"), "actionCard.btns[1].title", "lone surrogate"),
    (_with(TEXT, ("extra",), {"note": "\ud83d"}), "extra.note", "lone surrogate"),
    (_with(TEXT, ("extra\ud800",), 1), "extra\ud800", "lone surrogate"),
    (_with(TEXT, ("extra",), math.nan), "extra", "nan is not a number JSON can carry"),
    (_with(TEXT, ("extra",), [1, math.inf]), "extra[1]", "inf is not a number"),
    (_with(TEXT, ("extra",), -math.inf), "extra", "-inf"),
    (_with(CARD, ("actionCard", "btns", 0, "weight"), math.nan), "actionCard.btns[0].weight", "nan"),
    (_with(TEXT, ("extra",), 2**63), "extra", "9223372036854775808 is too large"),
    (_with(TEXT, ("extra",), -(2**63) - 1), "extra", "too large; DingTalk reads 64-bit"),
    (_with(TEXT, ("extra",), 10**5000), "extra", "a number of 16,610 bits is too large"),
    (_with(TEXT, ("extra",), 10**100), "extra", "a 101-digit number is too large"),
    (_with(TEXT, ("extra",), {1: "x"}), "extra", "has the key 1; JSON keys are strings"),
    (_with(TEXT, ("extra",), {"a", "b"}), "extra", "a set cannot be sent as JSON"),
    (_with(TEXT, ("extra",), datetime(2026, 1, 1)), "extra", "a datetime cannot be sent"),
    (_with(TEXT, ("extra",), b"bytes"), "extra", "a bytes cannot be sent"),
    (_with(TEXT, ("extra",), _nested(MAX_DEPTH)), "extra" + "[0]" * (MAX_DEPTH - 1), "nested more than 32 deep"),
]  # fmt: skip


@pytest.mark.parametrize(("payload", "field", "says"), UNSENDABLE)
def test_what_json_cannot_carry_is_refused_in_a_raw_dict_naming_the_field(
    payload: dict[str, Any], field: str, says: str
) -> None:
    for attempt in (lambda: validate_payload(payload, strict=True), lambda: to_payload(payload)):
        with pytest.raises(MessageError) as caught:
            attempt()
        assert caught.value.field == field
        assert str(caught.value).startswith(f"{field}: ")
        assert says in str(caught.value)


def test_a_raw_dict_that_json_can_carry_passes() -> None:
    payload = _with(TEXT, ("extra",), {"n": [1, -(2**63), 2**63 - 1, 1.5, None, True, "🚨"]})
    check_values(payload)
    assert to_payload(payload) == payload
    check_values(_with(TEXT, ("extra",), _nested(MAX_DEPTH - 1)))  # the deepest allowed


def test_a_cycle_is_refused_not_a_recursion_error() -> None:
    payload: dict[str, Any] = dict(TEXT)
    payload["self"] = payload
    with pytest.raises(MessageError, match="nested more than"):
        to_payload(payload)


def test_the_lenient_mode_leaves_json_values_to_dingtalk() -> None:
    validate_payload(_with(TEXT, ("extra",), math.nan))  # the fake's mode: DingTalk decides


@pytest.mark.parametrize(
    ("msgtype", "key"),
    [("text", "content"), ("markdown", "text"), ("link", "text"), ("actionCard", "text")],
)
def test_the_body_field_of_each_type(msgtype: str, key: str) -> None:
    assert body_key(msgtype) == key
    assert body_key("feedCard") is None
