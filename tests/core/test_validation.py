"""The one validator, fuzzed: any JSON either passes or raises MessageError naming a field."""

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dingwire.core.errors import MessageError
from dingwire.core.validation import MSGTYPES, text_fields, validate_payload

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
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
