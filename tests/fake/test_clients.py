"""Independent clients against the fake on a real port: the seed's own ``requests`` snippet
and DingtalkChatbot (PyPI). Both must get errcode 0 for every message type, and DingTalk's
errors for a wrong secret, a stale timestamp and a missing keyword."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import urllib.parse
from typing import Any

import pytest
import requests
from dingtalkchatbot.chatbot import ActionCard, CardItem, DingtalkChatbot

from dingwire.fake.server import FakeServer

# The message examples of API.md §2, verbatim.
TEXT = {
    "msgtype": "text",
    "text": {"content": "我就是我, @156xxxx8827 是不一样的烟火"},
    "at": {"atMobiles": ["156xxxx8827"], "atUserIds": ["user123"], "isAtAll": False},
}
LINK = {
    "msgtype": "link",
    "link": {
        "title": "时代的火车向前开",
        "text": "这个即将发布的新版本…",
        "messageUrl": "https://www.dingtalk.com/",
        "picUrl": "",
    },
}
MARKDOWN = {
    "msgtype": "markdown",
    "markdown": {
        "title": "杭州天气",
        "text": "#### 杭州天气 @150XXXXXXXX \n> 9度，西北风1级，空气良89，相对温度73%\n> ![screenshot]"
        "(https://img.alicdn.com/tfs/TB1NwmBEL9TBuNjy1zbXXXpepXa-2400-1218.png)\n> ###### "
        "10点20分发布 [天气](https://www.dingtalk.com) \n",
    },
    "at": {"atMobiles": ["150XXXXXXXX"], "atUserIds": [], "isAtAll": False},
}
ACTION_CARD_SINGLE = {
    "msgtype": "actionCard",
    "actionCard": {
        "title": "乔布斯 20 年前想打造一间苹果咖啡厅…",
        "text": "![screenshot](https://gw.alicdn.com/tfs/TB1ut3xxbsrBKNjSZFpXXcXhFXa-846-786.png)"
        " \n ### 乔布斯 20 年前想打造的苹果咖啡厅 \n …",
        "btnOrientation": "0",
        "singleTitle": "阅读全文",
        "singleURL": "https://www.dingtalk.com/",
    },
}
ACTION_CARD_BUTTONS = {
    "msgtype": "actionCard",
    "actionCard": {
        "title": "…",
        "text": "markdown…",
        "btnOrientation": "0",
        "hideAvatar": "0",
        "btns": [
            {"title": "内容不错", "actionURL": "https://www.dingtalk.com/"},
            {"title": "不感兴趣", "actionURL": "https://www.dingtalk.com/"},
        ],
    },
}
FEED_CARD = {
    "msgtype": "feedCard",
    "feedCard": {
        "links": [
            {
                "title": "时代的火车向前开",
                "messageURL": "https://www.dingtalk.com/",
                "picURL": "https://gw.alicdn.com/tfs/TB1ayl9mpYqK1RjSZLeXXbXppXa-170-62.png",
            },
            {
                "title": "时代的火车向前开2",
                "messageURL": "https://www.dingtalk.com/",
                "picURL": "https://gw.alicdn.com/tfs/TB1ayl9mpYqK1RjSZLeXXbXppXa-170-62.png",
            },
        ]
    },
}
EVERY_TYPE = [TEXT, LINK, MARKDOWN, ACTION_CARD_SINGLE, ACTION_CARD_BUTTONS, FEED_CARD]


def seed_send(
    webhook: str, secret: str, payload: dict[str, Any], timestamp: str | None = None
) -> dict[str, Any]:
    """The seed document's code (shared/seed/README.md), unchanged but for the arguments."""
    timestamp = timestamp or str(round(time.time() * 1000))
    secret_enc = secret.encode("utf-8")
    string_to_sign = "{}\n{}".format(timestamp, secret).encode("utf-8")  # noqa: UP032
    hmac_code = hmac.new(secret_enc, string_to_sign, digestmod=hashlib.sha256).digest()
    sign = urllib.parse.quote_plus(base64.b64encode(hmac_code))
    url = webhook + "&timestamp={}&sign={}".format(timestamp, sign)  # noqa: UP032
    resp = requests.post(
        url, headers={"Content-Type": "application/json"}, json=payload, timeout=10
    )
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/json")
    result: dict[str, Any] = resp.json()
    return result


def test_seed_snippet_sends_every_type(dingtalk_fake: FakeServer) -> None:
    robot = dingtalk_fake.add_robot(secret=True, rate_limit=None)
    assert robot.secret is not None
    for payload in EVERY_TYPE:
        assert seed_send(robot.webhook, robot.secret, payload) == {"errcode": 0, "errmsg": "ok"}
    assert [r.payload for r in robot.delivered()] == EVERY_TYPE


def test_seed_snippet_gets_dingtalks_errors(dingtalk_fake: FakeServer) -> None:
    robot = dingtalk_fake.add_robot(secret=True, keywords=["天气"], errmsg_style="legacy")
    assert robot.secret is not None
    wrong = seed_send(robot.webhook, "SEC" + "0" * 64, MARKDOWN)
    assert (wrong["errcode"], wrong["errmsg"].split(",")[0]) == (310000, "sign not match")
    stale_ms = str(round(time.time() * 1000) - 3_700_000)
    stale = seed_send(robot.webhook, robot.secret, MARKDOWN, timestamp=stale_ms)
    assert (stale["errcode"], stale["errmsg"].split(",")[0]) == (310000, "invalid timestamp")
    missing = seed_send(robot.webhook, robot.secret, TEXT)
    assert (missing["errcode"], missing["errmsg"].split(",")[0]) == (
        310000,
        "keywords not in content",
    )
    assert seed_send(robot.webhook, robot.secret, MARKDOWN)["errcode"] == 0


def chatbot_sends_every_type(bot: DingtalkChatbot) -> list[dict[str, Any]]:
    pic = "https://gw.alicdn.com/tfs/TB1ayl9mpYqK1RjSZLeXXbXppXa-170-62.png"
    url = "https://www.dingtalk.com/"
    buttons = [CardItem(title="内容不错", url=url), CardItem(title="不感兴趣", url=url)]
    return [
        bot.send_text(msg="我就是我, 是不一样的烟火", at_mobiles=["13800000000"]),
        bot.send_text(msg="大家好", is_at_all=True),
        bot.send_link(title="时代的火车向前开", text="这个即将发布的新版本…", message_url=url),
        bot.send_link(title="带图", text="图", message_url=url, pic_url=pic),
        bot.send_markdown(title="杭州天气", text="#### 杭州天气\n> 9度", at_mobiles=["150"]),
        bot.send_action_card(ActionCard(title="整体", text="### 标题", btns=[buttons[0]])),
        bot.send_action_card(
            ActionCard(title="独立", text="正文", btns=buttons, btn_orientation=1, hide_avatar=1)
        ),
        bot.send_feed_card([CardItem(title="第一条", url=url, pic_url=pic)] * 2),
    ]


@pytest.mark.parametrize("signed", [True, False])
def test_dingtalkchatbot_sends_every_type(dingtalk_fake: FakeServer, signed: bool) -> None:
    robot = dingtalk_fake.add_robot(secret=signed or None, rate_limit=None)
    results = chatbot_sends_every_type(DingtalkChatbot(robot.webhook, secret=robot.secret))
    assert results == [{"errcode": 0, "errmsg": "ok"}] * 8
    delivered = robot.delivered()
    assert [r.msgtype for r in delivered] == [
        "text",
        "text",
        "link",
        "link",
        "markdown",
        "actionCard",
        "actionCard",
        "feedCard",
    ]
    # DingtalkChatbot sends ints for btnOrientation/hideAvatar, and ASCII-escaped JSON.
    assert delivered[6].payload["actionCard"]["btnOrientation"] == 1
    assert delivered[0].text == "我就是我, 是不一样的烟火\n@13800000000"


def test_dingtalkchatbot_image_depends_on_configuration(dingtalk_fake: FakeServer) -> None:
    pic = "https://gw.alicdn.com/tfs/TB1ayl9mpYqK1RjSZLeXXbXppXa-170-62.png"
    refused = dingtalk_fake.add_robot("no-images")
    accepted = dingtalk_fake.add_robot("images", accept_image=True)
    assert DingtalkChatbot(refused.webhook).send_image(pic)["errcode"] == 400105
    assert DingtalkChatbot(accepted.webhook).send_image(pic) == {"errcode": 0, "errmsg": "ok"}


def test_dingtalkchatbot_gets_dingtalks_errors(dingtalk_fake: FakeServer) -> None:
    robot = dingtalk_fake.add_robot(secret=True, keywords=["告警"])
    assert robot.secret is not None
    wrong = DingtalkChatbot(robot.webhook, secret="SEC" + "1" * 64).send_text(msg="告警 a")
    assert wrong["errcode"] == 310000
    assert "签名不匹配" in wrong["errmsg"]
    # A (timestamp, sign) computed over an hour ago, reused as DingtalkChatbot does.
    stale_bot = DingtalkChatbot(robot.webhook, secret=robot.secret)
    stale_bot.start_time = time.time() - 3_700
    stale_bot.update_webhook()
    stale = DingtalkChatbot(stale_bot.webhook).send_text(msg="告警 b")
    assert stale["errcode"] == 310000
    assert "签名过期" in stale["errmsg"]
    missing = DingtalkChatbot(robot.webhook, secret=robot.secret).send_text(msg="disk full")
    assert missing["errcode"] == 310000
    assert "关键词不匹配" in missing["errmsg"]
    assert [r.errcode for r in robot.messages()] == [310000, 310000, 310000]
