"""The fake's behaviour, request by request: every errcode path of API.md §4.2 it implements,
in the order of §5, with both errmsg styles."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest

from dingwire.core.errors import (
    IpNotAllowedError,
    KeywordError,
    SignatureError,
    TimestampError,
    error_for,
)
from dingwire.core.policy import Rate
from dingwire.core.signing import sign
from dingwire.fake.config import FakeRobot, FakeSettings
from dingwire.fake.engine import FakeDingTalk, masked_query
from dingwire.fake.faults import Fault
from tests.fake.conftest import NOW, NOW_MS, SECRET, TOKEN, body, send, signed_query, text

LEGACY_MORE = ", more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]"


def reply(outcome: Any) -> dict[str, Any]:
    assert outcome.status == 200
    data: dict[str, Any] = json.loads(outcome.body)
    assert list(data) == ["errcode", "errmsg"]
    return data


def robot_fake(style: str = "new", **robot: Any) -> FakeDingTalk:
    return FakeDingTalk(
        FakeSettings(robots=(FakeRobot(TOKEN, **robot),), errmsg_style=style)  # type: ignore[arg-type]
    )


# -- every errcode, with its exact errmsg -------------------------------------------------

ERRCODE_CASES: list[tuple[str, dict[str, Any], dict[str, Any], int, str, str]] = [
    # (case, robot settings, request, errcode, legacy errmsg, new errmsg)
    ("ok", {}, {}, 0, "ok", "ok"),
    ("GET", {}, {"method": "GET"}, 43002, "需要POST请求", "需要POST请求"),
    ("no token", {}, {"query": ""}, 40035, "缺少参数 access_token", "缺少参数 access_token"),
    (
        "empty token",
        {},
        {"query": "access_token="},
        40035,
        "缺少参数 access_token",
        "缺少参数 access_token",
    ),
    (
        "unknown token",
        {},
        {"query": "access_token=nope"},
        300005,
        "token is not exist",
        "token is not exist",
    ),
    (
        "disabled",
        {"disabled": True},
        {},
        400102,
        "机器人已停用",
        "description:机器人已停用;solution:请联系管理员启用机器人;",
    ),
    (
        "text/plain",
        {},
        {"content_type": "text/plain"},
        43004,
        "无效的HTTP HEADER Content-Type",
        "无效的HTTP HEADER Content-Type",
    ),
    (
        "no content type",
        {},
        {"content_type": None},
        43004,
        "无效的HTTP HEADER Content-Type",
        "无效的HTTP HEADER Content-Type",
    ),
    (
        "too large",
        {},
        {"payload": text("x" * 20_000)},
        460101,
        "message too long, exceed 20000 bytes",
        "description: body 大小不合法;solution:请保持大小在 20000bytes 以内;",
    ),
    ("not JSON", {}, {"raw": b"{nope"}, 40035, "缺少参数 json", "缺少参数 json"),
    (
        "raw newline in a string",
        {},
        {"raw": b'{"msgtype":"text","text":{"content":"a\nb"}}'},
        40035,
        "缺少参数 json",
        "缺少参数 json",
    ),
    ("JSON array", {}, {"raw": b"[1, 2]"}, 40035, "缺少参数 json", "缺少参数 json"),
    ("empty body", {}, {"raw": b""}, 40035, "缺少参数 json", "缺少参数 json"),
    (
        "not UTF-8",
        {},
        {"raw": b'{"msgtype":"text","text":{"content":"\xff"}}'},
        40035,
        "缺少参数 json",
        "缺少参数 json",
    ),
    (
        "IP",
        {"ips": ("10.0.0.0/8",)},
        {"client_ip": "192.168.1.9"},
        310000,
        "ip 192.168.1.9 not in whitelist",
        "description:ip 不在白名单中;solution:请联系对应群的管理员，设置机器人安全ip地址段",
    ),
    (
        "stale timestamp",
        {"secret": SECRET},
        {"query": signed_query(timestamp_ms=NOW_MS - 3_600_001)},
        310000,
        "invalid timestamp" + LEGACY_MORE,
        "description:机器人发送签名过期;solution:签名生成时间和发送时间请保持在 timestampms 以内;",
    ),
    (
        "wrong secret",
        {"secret": SECRET},
        {"query": signed_query(secret="SECwrong")},
        310000,
        "sign not match" + LEGACY_MORE,
        "description:机器人发送签名不匹配;solution:请确认签名和生成签名的时间戳必须都放在调用的网址中，"
        "请确认机器人的密钥加密和填写正确;link:请参考本接口对应文档获得具体要求，或者在"
        "https://open.dingtalk.com/document/  搜索相关文档;",
    ),
    (
        "keywords",
        {"keywords": ("告警",)},
        {"payload": text("disk full")},
        310000,
        "keywords not in content" + LEGACY_MORE,
        "description:关键词不匹配;solution:请联系群管理员查看此机器人的关键词，并在发送的信息中包含此关键词;",
    ),
    (
        "msgtype",
        {},
        {"payload": {"msgtype": "video", "video": {}}},
        400105,
        "不支持的消息类型",
        "description:不支持的消息类型;solution:请使用文档中支持的消息类型;",
    ),
    (
        "image, not accepted",
        {},
        {"payload": {"msgtype": "image", "image": {"picURL": "https://x.example/a.png"}}},
        400105,
        "不支持的消息类型",
        "description:不支持的消息类型;solution:请使用文档中支持的消息类型;",
    ),
]


@pytest.mark.parametrize("style", ["legacy", "new"])
@pytest.mark.parametrize(
    ("robot", "request_", "errcode", "legacy", "new"),
    [case[1:] for case in ERRCODE_CASES],
    ids=[case[0] for case in ERRCODE_CASES],
)
def test_errcode_and_exact_errmsg(
    style: str,
    robot: dict[str, Any],
    request_: dict[str, Any],
    errcode: int,
    legacy: str,
    new: str,
) -> None:
    data = reply(send(robot_fake(style, **robot), **request_))
    assert data == {"errcode": errcode, "errmsg": legacy if style == "legacy" else new}


@pytest.mark.parametrize(
    ("payload", "legacy", "new"),
    [
        (
            {"msgtype": "text", "text": {}},
            "miss param : text->content",
            "错误描述:参数 text --》 content 缺失，或者参数格式不正确; 解决方案:请填充上对应参数;"
            "参考链接:请参考本接口对应文档查看参数获取方式，或者在https://open.dingtalk.com/document/"
            "  搜索对应文档;",
        ),
        (
            {"msgtype": "markdown", "markdown": {"text": "# hi"}},
            "miss param : markdown->title",
            "错误描述:参数 markdown --》 title 缺失，或者参数格式不正确; 解决方案:请填充上对应参数;"
            "参考链接:请参考本接口对应文档查看参数获取方式，或者在https://open.dingtalk.com/document/"
            "  搜索对应文档;",
        ),
    ],
)
def test_a_missing_field_in_both_styles(payload: Any, legacy: str, new: str) -> None:
    assert reply(send(robot_fake("legacy"), payload)) == {"errcode": 400202, "errmsg": legacy}
    assert reply(send(robot_fake("new"), payload)) == {"errcode": 400402, "errmsg": new}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        # DingTalk's casing: link.messageUrl but feedCard.links[].messageURL.
        (
            {"msgtype": "link", "link": {"title": "t", "text": "x", "messageURL": "https://a.b"}},
            "link->messageUrl",
        ),
        (
            {
                "msgtype": "feedCard",
                "feedCard": {
                    "links": [{"title": "t", "messageUrl": "https://a.b", "picURL": "https://a.b"}]
                },
            },
            "feedCard->links[0]->messageURL",
        ),
        (
            {
                "msgtype": "actionCard",
                "actionCard": {
                    "title": "t",
                    "text": "x",
                    "btns": [
                        {"title": "a", "actionURL": "https://a.b"},
                        {"title": "b", "actionUrl": "https://a.b"},
                    ],
                },
            },
            "actionCard->btns[1]->actionURL",
        ),
        (
            {
                "msgtype": "actionCard",
                "actionCard": {"title": "t", "text": "x", "singleTitle": "go", "singleUrl": "u"},
            },
            "actionCard->singleURL",
        ),
        ({"msgtype": "markdown"}, "markdown"),
        (
            {
                "msgtype": "actionCard",
                "actionCard": {
                    "title": "t",
                    "text": "x",
                    "btnOrientation": "2",
                    "singleTitle": "a",
                    "singleURL": "https://a.b",
                },
            },
            "actionCard->btnOrientation",
        ),
        ({"msgtype": "text", "text": {"content": "x"}, "at": {"isAtAll": "yes"}}, "at->isAtAll"),
    ],
)
def test_field_casing_is_dingtalks(payload: Any, field: str) -> None:
    data = reply(send(robot_fake("legacy"), payload))
    assert data == {"errcode": 400202, "errmsg": f"miss param : {field}"}


@pytest.mark.parametrize("flag", ["0", "1", 0, 1])
def test_btn_orientation_and_hide_avatar_as_string_or_int(flag: Any) -> None:
    card = {
        "title": "t",
        "text": "x",
        "btnOrientation": flag,
        "hideAvatar": flag,
        "singleTitle": "Read",
        "singleURL": "https://a.example",
    }
    assert reply(send(robot_fake(), {"msgtype": "actionCard", "actionCard": card}))["errcode"] == 0


def test_unknown_keys_are_ignored() -> None:
    payload = text("hi", msgUuid="u-1", at={"atDingtalkIds": ["$:LWCP"], "isAtAll": False})
    payload["text"]["extra"] = 1
    assert reply(send(robot_fake(), payload))["errcode"] == 0


def test_image_is_accepted_when_configured_even_by_a_keyword_robot() -> None:
    image = {"msgtype": "image", "image": {"picURL": "https://x.example/a.png"}}
    assert reply(send(robot_fake(accept_image=True, keywords=("告警",)), image))["errcode"] == 0
    fake = FakeDingTalk(FakeSettings(accept_image=True))
    assert reply(send(fake, image))["errcode"] == 0


# -- the order of the checks (API.md §5) --------------------------------------------------


def test_checks_run_in_order() -> None:
    fake = robot_fake(
        "legacy", secret=SECRET, keywords=("告警",), ips=("10.0.0.1",), rate_limit=Rate(1, 60)
    )
    # Each request fixes one more thing than the one before; the first failure answers.
    request: dict[str, Any] = {
        "method": "GET",
        "query": signed_query(secret="SECwrong", timestamp_ms=NOW_MS - 7_200_000),
        "content_type": "text/plain",
        "raw": b"x" * 20_001,
        "client_ip": "192.168.0.1",
    }
    fixes: list[tuple[dict[str, Any], int, str]] = [
        ({"method": "POST"}, 43002, "需要POST请求"),
        ({"content_type": "application/json"}, 43004, "无效的HTTP HEADER Content-Type"),
        ({"raw": b"[]"}, 460101, "message too long, exceed 20000 bytes"),
        ({"raw": b'{"msgtype":"text"}'}, 40035, "缺少参数 json"),
        ({"client_ip": "10.0.0.1"}, 310000, "ip 192.168.0.1 not in whitelist"),
        ({"query": signed_query(secret="SECwrong")}, 310000, "invalid timestamp" + LEGACY_MORE),
        ({"query": signed_query()}, 310000, "sign not match" + LEGACY_MORE),
        (
            {"raw": body({"msgtype": "text", "text": {"title": "告警"}})},
            310000,
            "keywords not in content" + LEGACY_MORE,
        ),
        ({"raw": body(text("告警"))}, 400202, "miss param : text->content"),
        ({}, 0, "ok"),
        ({}, 130101, "send too fast, exceed 20 times per minute"),
    ]
    for fix, errcode, errmsg in fixes:
        data = reply(send(fake, **request))
        assert data["errcode"] == errcode
        assert data["errmsg"] == errmsg
        request.update(fix)


def test_the_token_is_checked_before_the_content_type_and_the_rate_limit_before_fields() -> None:
    fake = robot_fake(rate_limit=Rate(1, 60))
    assert (
        reply(send(fake, query="access_token=other", content_type="text/plain"))["errcode"]
        == 300005
    )
    assert reply(send(fake))["errcode"] == 0
    # Over the limit, an invalid message is throttled before it is validated.
    assert reply(send(fake, {"msgtype": "text"}))["errcode"] == 130101


# -- signing ------------------------------------------------------------------------------


def test_known_answer_vector_is_accepted() -> None:
    # API.md §1.3: the CatchZeng vector, URL-encoded once.
    fake = robot_fake(secret=SECRET)
    query = (
        f"access_token={TOKEN}&timestamp=1582163555000"
        "&sign=BQKsG%2BQOCl%2BbYJOLc6pxDHxjVquzlZPWgvRzeN2J5zY%3D"
    )
    assert reply(send(fake, query=query, now=1582163555.0))["errcode"] == 0


@pytest.mark.parametrize(
    ("query", "errmsg_start"),
    [
        (f"access_token={TOKEN}", "sign not match"),  # signing on, nothing signed
        (f"access_token={TOKEN}&timestamp={NOW_MS}", "sign not match"),
        (f"access_token={TOKEN}&sign=abc", "sign not match"),
        (f"access_token={TOKEN}&timestamp=soon&sign=abc", "invalid timestamp"),
        (
            f"access_token={TOKEN}&timestamp={NOW_MS}&sign="
            + quote(quote(sign(SECRET, NOW_MS), safe=""), safe=""),
            "sign not match",
        ),  # encoded twice
        (signed_query(timestamp_ms=NOW_MS + 3_600_001), "invalid timestamp"),  # from the future
    ],
)
def test_signature_failures(query: str, errmsg_start: str) -> None:
    data = reply(send(robot_fake("legacy", secret=SECRET), query=query))
    assert data["errcode"] == 310000
    assert data["errmsg"].startswith(errmsg_start)


def test_an_unencoded_plus_in_the_sign_does_not_match() -> None:
    # The vector's sign has "+": sent unencoded it arrives as a space (API.md §1.3).
    fake = robot_fake("legacy", secret=SECRET)
    query = f"access_token={TOKEN}&timestamp=1582163555000&sign=BQKsG+QOCl+bYJOLc6pxDHxjVquzlZPWgvRzeN2J5zY="
    data = reply(send(fake, query=query, now=1582163555.0))
    assert data == {"errcode": 310000, "errmsg": "sign not match" + LEGACY_MORE}


def test_the_window_is_one_hour_either_way_and_a_signature_may_be_reused() -> None:
    fake = robot_fake(secret=SECRET, rate_limit=None)
    for offset in (-3_600_000, 0, 3_600_000):
        assert reply(send(fake, query=signed_query(timestamp_ms=NOW_MS + offset)))["errcode"] == 0
    # DingtalkChatbot reuses one (timestamp, sign) for an hour: that must keep working.
    for _ in range(3):
        assert reply(send(fake, query=signed_query(), now=NOW + 1800))["errcode"] == 0


def test_a_robot_without_a_secret_ignores_timestamp_and_sign() -> None:
    fake = robot_fake()
    assert reply(send(fake, query=signed_query(secret="SECanything")))["errcode"] == 0


def test_security_errors_are_classified_by_the_library() -> None:
    # The fake's wording must be what dingwire's error_for understands, in both styles.
    for style in ("legacy", "new"):
        fake = robot_fake(style, secret=SECRET, keywords=("k",), ips=("10.0.0.1",))
        cases = [
            ({"client_ip": "8.8.8.8"}, IpNotAllowedError),
            ({"client_ip": "10.0.0.1", "query": signed_query(timestamp_ms=1)}, TimestampError),
            ({"client_ip": "10.0.0.1", "query": signed_query(secret="SECx")}, SignatureError),
            ({"client_ip": "10.0.0.1", "query": signed_query()}, KeywordError),
        ]
        for request, error in cases:
            data = reply(send(fake, **request))
            assert isinstance(error_for(data["errcode"], data["errmsg"]), error), (style, error)


# -- IP allow-list ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("client_ip", "allowed"),
    [
        ("10.1.2.3", True),
        ("1.1.1.1", True),
        ("::ffff:10.9.9.9", True),  # an IPv4 client on a dual-stack socket
        ("1.1.1.2", False),
        ("::1", False),  # DingTalk has no IPv6 allow-list
        (None, False),
        ("not an ip", False),
    ],
)
def test_ip_allow_list_takes_addresses_and_ranges(client_ip: str | None, allowed: bool) -> None:
    fake = robot_fake(ips=("10.0.0.0/8", "1.1.1.1"))
    errcode = reply(send(fake, client_ip=client_ip))["errcode"]
    assert errcode == (0 if allowed else 310000)


# -- keywords -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        text("【告警】disk full"),
        {"msgtype": "markdown", "markdown": {"title": "告警", "text": "disk"}},
        {"msgtype": "link", "link": {"title": "x", "text": "告警", "messageUrl": "https://a.b"}},
        {
            "msgtype": "actionCard",
            "actionCard": {
                "title": "x",
                "text": "y",
                "btns": [{"title": "看告警", "actionURL": "https://a.b"}],
            },
        },
        {
            "msgtype": "feedCard",
            "feedCard": {
                "links": [{"title": "告警 1", "messageURL": "https://a.b", "picURL": "https://a.b"}]
            },
        },
    ],
)
def test_a_keyword_anywhere_in_the_text_lets_a_message_through(payload: Any) -> None:
    assert reply(send(robot_fake(keywords=("deploy", "告警")), payload))["errcode"] == 0


# -- rate limit and lockout ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "errmsg"),
    [
        (130101, "send too fast, exceed 20 times per minute"),
        (410100, "description:发送速度太快而限流;solution:请降低发送速度;"),
    ],
)
def test_twenty_a_minute_then_locked_out_for_ten_minutes(code: int, errmsg: str) -> None:
    fake = robot_fake(throttle_errcode=code)
    for i in range(20):
        assert reply(send(fake, now=NOW + i))["errcode"] == 0
    assert reply(send(fake, now=NOW + 20)) == {"errcode": code, "errmsg": errmsg}
    # The window has moved on, but the lockout holds for 600 s from the first refusal.
    assert reply(send(fake, now=NOW + 300))["errcode"] == code
    assert reply(send(fake, now=NOW + 619.9))["errcode"] == code
    assert reply(send(fake, now=NOW + 620))["errcode"] == 0


def test_refused_messages_do_not_use_the_budget() -> None:
    fake = robot_fake("legacy", rate_limit=Rate(2, 60), keywords=("告警",))
    for _ in range(5):
        assert reply(send(fake, text("no keyword")))["errcode"] == 310000
    assert reply(send(fake, text("告警 1")))["errcode"] == 0
    assert reply(send(fake, text("告警 2")))["errcode"] == 0
    assert reply(send(fake, text("告警 3")))["errcode"] == 130101


def test_the_window_slides() -> None:
    fake = robot_fake(rate_limit=Rate(2, 10), lockout=0)
    assert reply(send(fake, now=NOW))["errcode"] == 0
    assert reply(send(fake, now=NOW + 5))["errcode"] == 0
    assert reply(send(fake, now=NOW + 9))["errcode"] == 130101
    assert reply(send(fake, now=NOW + 10.5))["errcode"] == 0
    fake.reset_limits()
    assert reply(send(fake, now=NOW + 11))["errcode"] == 0


def test_robots_have_separate_budgets() -> None:
    fake = FakeDingTalk(
        FakeSettings(robots=(FakeRobot("one", rate_limit=Rate(1, 60)), FakeRobot("two")))
    )
    assert reply(send(fake, query="access_token=one"))["errcode"] == 0
    assert reply(send(fake, query="access_token=one"))["errcode"] == 130101
    assert reply(send(fake, query="access_token=two"))["errcode"] == 0


# -- open mode ----------------------------------------------------------------------------


def test_with_no_robots_every_token_is_accepted_but_still_rate_limited(fake: FakeDingTalk) -> None:
    for token in ("a", "b" * 64):
        assert reply(send(fake, query=f"access_token={token}&sign=junk"))["errcode"] == 0
    for _ in range(19):
        send(fake, query="access_token=a")
    assert reply(send(fake, query="access_token=a"))["errcode"] == 130101
    assert reply(send(fake, query="access_token=")) == {
        "errcode": 40035,
        "errmsg": "缺少参数 access_token",
    }


def test_adding_a_robot_turns_token_checking_on(fake: FakeDingTalk) -> None:
    fake.add_robot(FakeRobot("known"))
    assert reply(send(fake, query="access_token=other"))["errcode"] == 300005
    assert reply(send(fake, query="access_token=known"))["errcode"] == 0
    assert fake.remove_robot("known")
    assert reply(send(fake, query="access_token=other"))["errcode"] == 0


def test_the_first_of_repeated_parameters_counts() -> None:
    fake = robot_fake()
    assert reply(send(fake, query=f"access_token={TOKEN}&access_token=x"))["errcode"] == 0
    assert reply(send(fake, query=f"access_token=x&access_token={TOKEN}"))["errcode"] == 300005


# -- sessions -----------------------------------------------------------------------------


def test_session_webhooks_work_until_they_expire(fake: FakeDingTalk) -> None:
    fake.add_robot(FakeRobot(TOKEN, secret=SECRET, keywords=("k",), name="ops"))
    session = fake.open_session(TOKEN, now=NOW, ttl=60)
    query = session.path.split("?", 1)[1]
    # No token, no signature, no keyword needed.
    ok = send(fake, text("reply"), query=query, path="/robot/sendBySession", now=NOW + 59)
    assert reply(ok)["errcode"] == 0
    assert ok.record is not None
    assert ok.record.robot == "ops"
    gone = send(fake, text("late"), query=query, path="/robot/sendBySession", now=NOW + 60)
    assert reply(gone) == {"errcode": 300001, "errmsg": "session 不存在"}
    unknown = send(fake, query="session=nope", path="/robot/sendBySession")
    assert reply(unknown) == {"errcode": 300001, "errmsg": "session 不存在"}
    assert reply(send(fake, query="", path="/robot/sendBySession"))["errcode"] == 300001


def test_session_messages_are_validated(fake: FakeDingTalk) -> None:
    session = fake.open_session(now=NOW)
    query = session.path.split("?", 1)[1]
    outcome = send(fake, {"msgtype": "text"}, query=query, path="/robot/sendBySession")
    assert reply(outcome)["errcode"] == 400402
    assert (
        reply(send(fake, query=query, method="PUT", path="/robot/sendBySession"))["errcode"]
        == 43002
    )
    assert session.to_json("http://h")["webhook"] == f"http://h{session.path}"
    assert fake.settings.session_ttl == 5400.0


# -- faults -------------------------------------------------------------------------------


def test_faults_fail_the_next_requests_then_stop(fake: FakeDingTalk) -> None:
    fake.inject_fault(Fault.http(503, count=2))
    fake.inject_fault(Fault.busy())
    fake.inject_fault(Fault.errcode_reply(430101))
    first = send(fake)
    assert first.status == 503
    assert b"503" in first.body
    assert first.content_type == "text/html"
    assert send(fake).status == 503
    assert reply(send(fake)) == {"errcode": -1, "errmsg": "系统繁忙"}
    assert reply(send(fake)) == {
        "errcode": 430101,
        "errmsg": "description:含有不安全的外链;solution:请确认发送的内容合法;",
    }
    assert reply(send(fake))["errcode"] == 0
    assert [r.fault for r in fake.messages()] == [
        "http 503",
        "http 503",
        "errcode -1",
        "errcode 430101",
        None,
    ]
    assert fake.pending_faults() == []


def test_robot_faults_come_before_global_ones_and_only_for_that_robot() -> None:
    fake = FakeDingTalk(FakeSettings(robots=(FakeRobot("one"), FakeRobot("two"))))
    fake.inject_fault(Fault.busy(), robot="one")
    fake.inject_fault(Fault.http(502))
    assert send(fake, query="access_token=two").status == 502
    assert reply(send(fake, query="access_token=one"))["errcode"] == -1
    assert reply(send(fake, query="access_token=one"))["errcode"] == 0
    fake.inject_fault(Fault.busy(count=5), robot="one")
    fake.clear_faults("one", everywhere=False)
    assert reply(send(fake, query="access_token=one"))["errcode"] == 0


def test_slow_delivers_and_answers_late_drop_loses_unless_delivered(fake: FakeDingTalk) -> None:
    fake.inject_fault(Fault.slow(1.5))
    slow = send(fake, text("slow"))
    assert slow.delay == 1.5
    assert reply(slow)["errcode"] == 0
    fake.inject_fault(Fault.drop())
    dropped = send(fake, text("lost"))
    assert dropped.drop
    assert dropped.record is not None
    assert dropped.record.errcode is None
    fake.inject_fault(Fault.drop(deliver=True))
    delivered = send(fake, text("arrived"))
    assert delivered.drop
    assert delivered.record is not None
    assert delivered.record.ok
    assert [r.text for r in fake.messages() if r.ok] == ["slow", "arrived"]


def test_config_faults_and_a_reset_restore_them() -> None:
    robot = FakeRobot(TOKEN, faults=(Fault.busy(),))
    fake = FakeDingTalk(FakeSettings(robots=(robot,), faults=(Fault.http(500),)))
    for _ in range(2):
        assert reply(send(fake))["errcode"] == -1  # the robot's own fault first
        assert send(fake).status == 500  # then the global one
        assert reply(send(fake))["errcode"] == 0
        fake.reset()
    assert fake.messages() == []


# -- the log ------------------------------------------------------------------------------


def test_every_request_is_logged_with_its_outcome(fake: FakeDingTalk) -> None:
    fake.add_robot(FakeRobot(TOKEN, name="ops", secret=SECRET))
    send(fake, text("hello", at={"atMobiles": ["138"]}), query=signed_query())
    send(fake, raw=b"not json", query=signed_query())
    first, second = fake.messages()
    assert (first.id, first.robot, first.ok, first.text, first.msgtype) == (
        1,
        "ops",
        True,
        "hello",
        "text",
    )
    assert first.time == NOW
    assert first.client == "127.0.0.1"
    assert first.status == 200
    assert (second.errcode, second.payload, second.raw) == (40035, None, "not json")
    assert fake.messages("ops") == fake.messages(TOKEN) == fake.messages(first.robot_id)
    assert fake.messages("other") == []
    fake.clear()
    assert fake.messages() == []
    send(fake, query=signed_query())
    assert fake.messages()[0].id == 3  # ids never repeat


def test_the_log_keeps_the_last_history_records() -> None:
    fake = FakeDingTalk(FakeSettings(history=3))
    for i in range(10):
        send(fake, text(str(i)), query=f"access_token=t{i}")
    assert [r.text for r in fake.messages()] == ["7", "8", "9"]


def test_the_log_masks_token_sign_and_session() -> None:
    assert masked_query(signed_query()) == (
        f"access_token=…{TOKEN[-4:]}&timestamp={NOW_MS}&sign=**********"
    )
    assert masked_query("access%5Ftoken=secret-token-value&SIGN=x") == (
        "access_token=…alue&SIGN=**********"
    )
    assert masked_query("session=abc&x=a%20b") == "session=**********&x=**********"
    fake = robot_fake(secret=SECRET)
    send(fake, query=signed_query())
    shown = json.dumps([r.to_json() for r in fake.messages()], ensure_ascii=False)
    assert TOKEN not in shown
    assert SECRET not in shown
    assert sign(SECRET, NOW_MS) not in shown
    assert quote(sign(SECRET, NOW_MS), safe="") not in shown
    assert TOKEN not in repr(fake.messages()[0])


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        (f"acess_token={TOKEN}", "acess_token=**********"),
        (f"token={TOKEN}", "token=**********"),
        (f"accesstoken={TOKEN}&x=1", "accesstoken=**********&x=**********"),
        (f"webhook_key={TOKEN}", "webhook_key=**********"),
        (TOKEN, "**********"),
        (f"access_token=t&{TOKEN}", "access_token=**********&**********"),
        (f"ACCESS_TOKEN={TOKEN}", f"ACCESS_TOKEN=…{TOKEN[-4:]}"),
        (f"session=abc&timestamp={NOW_MS}", f"session=**********&timestamp={NOW_MS}"),
        ("timestamp=%C2%B2&sign=&access_token=", "timestamp=%C2%B2&sign=&access_token="),
        (f"x={quote(TOKEN)}%20more", "x=**********"),
    ],
)
def test_the_log_masks_every_query_value_but_the_timestamp(query: str, shown: str) -> None:
    assert masked_query(query) == shown
    fake = FakeDingTalk()
    send(fake, query=f"access_token=t&{query}")
    (record,) = fake.messages()
    assert record.query == masked_query(f"access_token=t&{query}")
    assert TOKEN not in json.dumps(record.to_json()) + repr(record)


def test_labels_never_show_a_token() -> None:
    fake = FakeDingTalk(FakeSettings(robots=(FakeRobot(TOKEN), FakeRobot("short"))))
    labels = sorted(r["label"] for r in fake.robots_json())
    assert labels[0].startswith("robot ")
    assert labels[1] == f"…{TOKEN[-4:]}"
    shown = json.dumps(fake.robots_json())
    assert TOKEN not in shown
    assert '"short"' not in shown
