"""Every message type's JSON against the examples of API.md §2, and construction errors."""

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dingwire import (
    ActionCard,
    At,
    Button,
    FeedCard,
    FeedItem,
    Link,
    Markdown,
    MessageError,
    Text,
)
from dingwire.core.messages import to_payload

PIC = "https://gw.alicdn.com/tfs/TB1ayl9mpYqK1RjSZLeXXbXppXa-170-62.png"

KNOWN: list[tuple[Any, dict[str, Any]]] = [
    (
        Text("我就是我, @156xxxx8827 是不一样的烟火", at=At(mobiles=["156xxxx8827"])),
        {
            "msgtype": "text",
            "text": {"content": "我就是我, @156xxxx8827 是不一样的烟火"},
            "at": {"atMobiles": ["156xxxx8827"], "atUserIds": [], "isAtAll": False},
        },
    ),
    (Text("888"), {"msgtype": "text", "text": {"content": "888"}}),
    (
        Link(
            "时代的火车向前开",
            "这个即将发布的新版本…",
            "https://www.dingtalk.com/",
        ),
        {
            "msgtype": "link",
            "link": {
                "title": "时代的火车向前开",
                "text": "这个即将发布的新版本…",
                "messageUrl": "https://www.dingtalk.com/",
                "picUrl": "",
            },
        },
    ),
    (
        Markdown(
            "杭州天气",
            "#### 杭州天气 @150XXXXXXXX \n> 9度，西北风1级\n",
            at=At(mobiles=["150XXXXXXXX"]),
        ),
        {
            "msgtype": "markdown",
            "markdown": {
                "title": "杭州天气",
                "text": "#### 杭州天气 @150XXXXXXXX \n> 9度，西北风1级\n",
            },
            "at": {"atMobiles": ["150XXXXXXXX"], "atUserIds": [], "isAtAll": False},
        },
    ),
    (
        ActionCard(
            "乔布斯 20 年前想打造一间苹果咖啡厅",
            "### 乔布斯 20 年前想打造的苹果咖啡厅",
            buttons=[Button("阅读全文", "https://www.dingtalk.com/")],
        ),
        {
            "msgtype": "actionCard",
            "actionCard": {
                "title": "乔布斯 20 年前想打造一间苹果咖啡厅",
                "text": "### 乔布斯 20 年前想打造的苹果咖啡厅",
                "btnOrientation": "0",
                "hideAvatar": "0",
                "singleTitle": "阅读全文",
                "singleURL": "https://www.dingtalk.com/",
            },
        },
    ),
    (
        ActionCard(
            "…",
            "markdown…",
            buttons=[
                Button("内容不错", "https://www.dingtalk.com/"),
                Button("不感兴趣", "https://www.dingtalk.com/"),
            ],
            orientation="horizontal",
            hide_avatar=True,
        ),
        {
            "msgtype": "actionCard",
            "actionCard": {
                "title": "…",
                "text": "markdown…",
                "btnOrientation": "1",
                "hideAvatar": "1",
                "btns": [
                    {"title": "内容不错", "actionURL": "https://www.dingtalk.com/"},
                    {"title": "不感兴趣", "actionURL": "https://www.dingtalk.com/"},
                ],
            },
        },
    ),
    (
        FeedCard(
            [
                FeedItem("时代的火车向前开", "https://www.dingtalk.com/", PIC),
                FeedItem("时代的火车向前开2", "https://www.dingtalk.com/", PIC),
            ]
        ),
        {
            "msgtype": "feedCard",
            "feedCard": {
                "links": [
                    {
                        "title": "时代的火车向前开",
                        "messageURL": "https://www.dingtalk.com/",
                        "picURL": PIC,
                    },
                    {
                        "title": "时代的火车向前开2",
                        "messageURL": "https://www.dingtalk.com/",
                        "picURL": PIC,
                    },
                ]
            },
        },
    ),
]


@pytest.mark.parametrize(("message", "expected"), KNOWN)
def test_serialises_to_dingtalks_exact_json(message: Any, expected: dict[str, Any]) -> None:
    assert message.to_payload() == expected
    assert to_payload(expected) == expected  # the same JSON as a plain dict passes as it is


def test_mentions_are_written_into_the_body_when_missing() -> None:
    text = Text("disk full", at=At(mobiles=["13800000000"], user_ids=["manager01"]))
    assert text.to_payload()["text"]["content"] == "disk full\n@13800000000 @manager01"
    md = Markdown("Disk", "### disk full\n", at=At(user_ids=["ops"]))
    assert md.to_payload()["markdown"]["text"] == "### disk full\n\n@ops"


def test_a_mention_already_present_is_not_repeated_but_a_prefix_does_not_count() -> None:
    text = Text("@13800000000 look", at=At(mobiles=["13800000000", "1380000000"]))
    assert text.to_payload()["text"]["content"] == "@13800000000 look\n@1380000000"


def test_mention_of_everyone_needs_no_text() -> None:
    payload = Text("all hands", at=At(all=True)).to_payload()
    assert payload["text"]["content"] == "all hands"
    assert payload["at"]["isAtAll"] is True


def test_dicts_get_mentions_too_and_are_not_modified() -> None:
    raw = {"msgtype": "text", "text": {"content": "hi"}, "at": {"atUserIds": ["u1"]}}
    assert to_payload(raw)["text"]["content"] == "hi\n@u1"
    assert raw["text"]["content"] == "hi"


def test_messages_are_frozen() -> None:
    text = Text("x")
    with pytest.raises(AttributeError):
        text.content = "y"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: Text(""), "text.content"),
        (lambda: Text("   \n"), "text.content"),
        (lambda: Text(5), "text.content"),  # type: ignore[arg-type]
        (lambda: Markdown("", "body"), "markdown.title"),
        (lambda: Markdown("t", ""), "markdown.text"),
        (lambda: Link("t", "x", "ftp://example.com/"), "link.messageUrl"),
        (lambda: Link("t", "x", "example.com"), "link.messageUrl"),
        (lambda: Link("t", "x", "https://a/", pic_url="file:///etc/passwd"), "link.picUrl"),
        (lambda: ActionCard("t", "x", buttons=[]), "actionCard.btns"),
        (
            lambda: ActionCard("t", "x", buttons=[Button("", "https://a/")]),
            "actionCard.singleTitle",
        ),
        (
            lambda: ActionCard("t", "x", buttons=[Button("a", "https://a/"), Button("b", "nope")]),
            "actionCard.btns[1].actionURL",
        ),
        (
            lambda: ActionCard(
                "t", "x", buttons=[Button("a", "https://a/")], orientation="diagonal"
            ),
            "actionCard.btnOrientation",
        ),  # type: ignore[arg-type]
        (lambda: FeedCard([]), "feedCard.links"),
        (lambda: FeedCard([FeedItem("a", "https://a/", "")]), "feedCard.links[0].picURL"),
        (lambda: At(mobiles=["138 0000"]), "at.atMobiles[0]"),
        (lambda: At(mobiles=[138]), "at.atMobiles"),  # type: ignore[list-item]
        (lambda: At(all="yes"), "at.isAtAll"),  # type: ignore[arg-type]
    ],
)
def test_bad_input_names_the_field(build: Any, field: str) -> None:
    with pytest.raises(MessageError) as caught:
        build()
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")


def test_a_mention_on_a_type_that_cannot_carry_one_is_refused() -> None:
    payload = {
        "msgtype": "link",
        "link": {"title": "t", "text": "x", "messageUrl": "https://a/"},
        "at": {"atMobiles": ["13800000000"]},
    }
    with pytest.raises(MessageError, match="cannot mention") as caught:
        to_payload(payload)
    assert caught.value.field == "at"


def test_wrong_casing_is_named() -> None:
    payload = {"msgtype": "link", "link": {"title": "t", "text": "x", "messageURL": "https://a/"}}
    with pytest.raises(MessageError, match=r"found 'messageURL'.*exactly 'messageUrl'"):
        to_payload(payload)


def test_unknown_msgtype_and_non_messages() -> None:
    with pytest.raises(MessageError, match="not supported") as caught:
        to_payload({"msgtype": "image", "image": {"picURL": "https://a/"}})
    assert caught.value.errcode == 400105
    with pytest.raises(MessageError, match="cannot send a str"):
        to_payload("hello")  # type: ignore[arg-type]


def test_a_single_mobile_string_is_one_mention() -> None:
    assert At(mobiles="13800000000").mobiles == ("13800000000",)


@given(st.text(min_size=1).filter(lambda s: s.strip()))
def test_any_non_blank_text_is_a_valid_text_message(content: str) -> None:
    assert Text(content).to_payload()["text"]["content"] == content


@given(st.text().filter(lambda s: not s.lower().startswith(("http://", "https://", "dingtalk://"))))
def test_anything_that_is_not_a_web_url_is_refused_as_a_link(url: str) -> None:
    with pytest.raises(MessageError):
        Link("t", "x", url)


LONE = "\ud800"
B = Button("ok", "https://a/")


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: Text(f"disk {LONE} full"), "text.content"),
        (lambda: Markdown(f"t{LONE}", "body"), "markdown.title"),
        (lambda: Markdown("t", "body\udcff"), "markdown.text"),
        (lambda: Link("t", LONE, "https://a/"), "link.text"),
        (lambda: Link("t", "x", f"https://a/{LONE}"), "link.messageUrl"),
        (lambda: ActionCard("t", "x", buttons=[Button(f"a{LONE}", "https://a/")]), "actionCard.singleTitle"),
        (lambda: ActionCard("t", "x", buttons=[B, Button(f"b{LONE}", "https://a/")]), "actionCard.btns[1].title"),
        (lambda: ActionCard(f"{LONE}", "x", buttons=[B]), "actionCard.title"),
        (lambda: FeedCard([FeedItem("a", "https://a/", PIC), FeedItem(LONE, "https://a/", PIC)]), "feedCard.links[1].title"),
        (lambda: Text("hi", at=At(mobiles=["138", f"139{LONE}"])), "at.atMobiles[1]"),
        (lambda: At(user_ids=[f"u{LONE}"]), "at.atUserIds[0]"),
    ],
)  # fmt: skip
def test_a_lone_surrogate_is_refused_naming_its_field(build: Any, field: str) -> None:
    with pytest.raises(MessageError) as caught:
        build()
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: holds a lone surrogate")


def test_a_string_with_every_kind_of_real_text_is_fine() -> None:
    text = "告警 🚨 emoji, 𝔘𝔫𝔦𝔠𝔬𝔡𝔢, \u200b zero-width, \U0010fffd private use"
    assert Text(text).to_payload()["text"]["content"] == text


def test_sequences_are_taken_as_people_write_them_and_kept_as_tuples() -> None:
    at = At(mobiles=["13800000000"], user_ids=["u1"])
    card = ActionCard("t", "x", buttons=[B, Button("no", "https://b/")])
    feed = FeedCard([FeedItem("a", "https://a/", PIC)])
    assert at.mobiles == ("13800000000",)
    assert at.user_ids == ("u1",)
    assert isinstance(card.buttons, tuple)
    assert isinstance(feed.items, tuple)
    # frozen and hashable, and equal whatever sequence they were built from
    assert hash(at) == hash(At(mobiles=("13800000000",), user_ids=("u1",)))
    assert card == ActionCard("t", "x", buttons=(B, Button("no", "https://b/")))
    assert len({feed, FeedCard((FeedItem("a", "https://a/", PIC),))}) == 1
    assert Text("x", at=at) == Text("x", at=At(mobiles=("13800000000",), user_ids=("u1",)))
    # any iterable at run time, a single item too
    assert At(mobiles=iter(["1"])).mobiles == ("1",)  # type: ignore[arg-type]
    assert ActionCard("t", "x", buttons=B).buttons == (B,)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("build", "field", "says"),
    [
        (lambda: At(mobiles=13800000000), "at.atMobiles", "expected a list of str, got int"),
        (lambda: At(user_ids={"u": 1}), "at.atUserIds", "got dict"),
        (lambda: ActionCard("t", "x", buttons="ok"), "actionCard.btns", "got str"),
        (lambda: ActionCard("t", "x", buttons=None), "actionCard.btns", "got NoneType"),
        (lambda: FeedCard(5), "feedCard.links", "expected a list of FeedItem, got int"),
    ],
)
def test_what_is_not_a_sequence_is_named(build: Any, field: str, says: str) -> None:
    with pytest.raises(MessageError) as caught:
        build()
    assert caught.value.field == field
    assert says in str(caught.value)
