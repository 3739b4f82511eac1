"""Keywords added where they read naturally, only when missing; mentions only when missing."""

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dingwire.core.mentions import ensure_keyword, ensure_mentions, keyword_room, keyword_tag
from dingwire.core.protocol import encode_body


def md(text: str) -> dict[str, Any]:
    return {"msgtype": "markdown", "markdown": {"title": "t", "text": text}}


@pytest.mark.parametrize(
    ("payload", "field", "expected"),
    [
        (
            {"msgtype": "text", "text": {"content": "disk full"}},
            ("text", "content"),
            "【告警】 disk full",
        ),
        (
            md("## Deploy done\nall green"),
            ("markdown", "text"),
            "## 【告警】 Deploy done\nall green",
        ),
        (md("#hashtag"), ("markdown", "text"), "【告警】 #hashtag"),
        (md("plain"), ("markdown", "text"), "【告警】 plain"),
        (
            {"msgtype": "link", "link": {"title": "t", "text": "x", "messageUrl": "https://a/"}},
            ("link", "text"),
            "【告警】 x",
        ),
    ],
)
def test_keyword_is_added_in_front(
    payload: dict[str, Any], field: tuple[str, str], expected: str
) -> None:
    result = ensure_keyword(payload, ["告警", "alert"])
    assert result[field[0]][field[1]] == expected
    assert payload != result  # the argument is left alone


def test_feed_card_keyword_goes_on_the_first_title() -> None:
    payload = {
        "msgtype": "feedCard",
        "feedCard": {"links": [{"title": "a", "messageURL": "u", "picURL": "p"}, {"title": "b"}]},
    }
    result = ensure_keyword(payload, ["告警"])
    assert [i["title"] for i in result["feedCard"]["links"]] == ["【告警】 a", "b"]


@pytest.mark.parametrize(
    "payload",
    [
        {"msgtype": "text", "text": {"content": "an alert, with a keyword"}},
        md("body") | {"markdown": {"title": "alert in the title", "text": "body"}},
        {
            "msgtype": "actionCard",
            "actionCard": {
                "title": "t",
                "text": "x",
                "btns": [{"title": "see alert", "actionURL": "u"}],
            },
        },
    ],
)
def test_a_keyword_anywhere_in_the_message_is_enough(payload: dict[str, Any]) -> None:
    assert ensure_keyword(payload, ["告警", "alert"]) == payload


def test_no_keywords_no_change() -> None:
    payload = {"msgtype": "text", "text": {"content": "x"}}
    assert ensure_keyword(payload, []) == payload


def test_mentions_ignore_types_without_a_body() -> None:
    payload = {"msgtype": "feedCard", "feedCard": {"links": []}, "at": {"atMobiles": ["1"]}}
    assert ensure_mentions(payload) == payload


def test_the_keyword_tag_is_written_once() -> None:
    assert keyword_tag("告警") == "【告警】"
    tagged = ensure_keyword({"msgtype": "text", "text": {"content": "x"}}, ["告警"])
    assert tagged["text"]["content"] == f"{keyword_tag('告警')} x"


@pytest.mark.parametrize(
    ("keywords", "room"),
    [
        ((), 0),
        (("告警",), len("【告警】 ".encode())),  # 3 bytes a character, and the space
        (("a", "much longer keyword"), len("【a】 ".encode())),  # only the first is ever added
        (('say "hi"',), len('【say \\"hi\\"】 '.encode())),  # as JSON writes it
        (("tab\t",), len("【tab\\t】 ".encode())),
    ],
)
def test_keyword_room_is_what_the_tag_adds_as_json(keywords: tuple[str, ...], room: int) -> None:
    assert keyword_room(keywords) == room


MESSAGES = st.sampled_from(
    [
        {"msgtype": "text", "text": {"content": "disk full"}},
        md("## Deploy done"),
        md("plain"),
        {"msgtype": "link", "link": {"title": "t", "text": "x", "messageUrl": "https://a/"}},
        {"msgtype": "feedCard", "feedCard": {"links": [{"title": "a"}, {"title": "b"}]}},
        {
            "msgtype": "actionCard",
            "actionCard": {"title": "t", "text": "# h", "singleTitle": "s", "singleURL": "u"},
        },
    ]
)


@given(MESSAGES, st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=10))
def test_a_tagged_message_grows_by_at_most_the_keyword_room(
    payload: dict[str, Any], keywords: list[str]
) -> None:
    grown = len(encode_body(ensure_keyword(payload, keywords))) - len(encode_body(payload))
    assert grown <= keyword_room(keywords)
