"""Keywords added where they read naturally, only when missing; mentions only when missing."""

from typing import Any

import pytest

from dingwire.core.mentions import ensure_keyword, ensure_mentions


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
