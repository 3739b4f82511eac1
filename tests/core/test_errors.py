"""The error table: every errcode and errmsg style of API.md §4.2 lands on the right class."""

import pytest

import dingwire
from dingwire.core.errors import (
    ApiError,
    BodyTooLargeError,
    ContentRejectedError,
    InvalidRequestError,
    IpNotAllowedError,
    KeywordError,
    QuotaExceededError,
    QuotaRefusedError,
    RateLimitedError,
    RobotDisabledError,
    SecurityError,
    ServerBusyError,
    SignatureError,
    ThrottledError,
    TimestampError,
    TokenError,
    TooLargeError,
    error_for,
    summarise_errmsg,
)

MORE = ", more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]"

TABLE = [
    (-1, "系统繁忙", ServerBusyError),
    (310000, "keywords not in content", KeywordError),
    (310000, "keywords not in content" + MORE, KeywordError),
    (
        310000,
        "description:关键词不匹配;solution:请联系群管理员查看此机器人的关键词，并在发送的信息中包含此关键词;",
        KeywordError,
    ),
    (
        310000,
        "错误描述:关键词不匹配;解决方案:请联系群管理员查看此机器人的关键词，并在发送的信息中包含此关键词;",
        KeywordError,
    ),
    (310000, "sign not match" + MORE, SignatureError),
    (
        310000,
        "description:机器人发送签名不匹配;solution:请确认签名和生成签名的时间戳必须都放在调用的网址中，"
        "请确认机器人的密钥加密和填写正确;link:请参考本接口对应文档获得具体要求;",
        SignatureError,
    ),
    (310000, "invalid timestamp" + MORE, TimestampError),
    (
        310000,
        "description:机器人发送签名过期;solution:签名生成时间和发送时间请保持在 timestampms 以内;",
        TimestampError,
    ),
    (310000, "ip 1.2.3.4 not in whitelist", IpNotAllowedError),
    (
        310000,
        "description:ip 不在白名单中;solution:请联系对应群的管理员，设置机器人安全ip地址段",
        IpNotAllowedError,
    ),
    (310000, "something new", SecurityError),
    (300001, "token is not exist", TokenError),
    (300005, "token is not exist", TokenError),
    (400101, "access_token不存在", TokenError),
    (40035, "缺少参数 access_token", TokenError),
    (40035, "缺少参数 json", InvalidRequestError),
    (43002, "需要POST请求", InvalidRequestError),
    (43004, "无效的HTTP HEADER Content-Type", InvalidRequestError),
    (400202, "miss param : text->content", InvalidRequestError),
    (
        400402,
        "错误描述:参数 markdown --》 title 缺失，或者参数格式不正确; 解决方案:请填充上对应参数;",
        InvalidRequestError,
    ),
    (400105, "不支持的消息类型", InvalidRequestError),
    (400102, "机器人已停用", RobotDisabledError),
    (400106, "机器人不存在", RobotDisabledError),
    (400013, "群已被解散", RobotDisabledError),
    (130101, "send too fast, exceed 20 times per minute", ThrottledError),
    (410100, "发送速度太快而限流", ThrottledError),
    (460101, "message too long, exceed 20000 bytes", BodyTooLargeError),
    (
        460101,
        "description: body 大小不合法;solution:请保持大小在 20000bytes 以内;",
        BodyTooLargeError,
    ),
    (101002, "message is too long", BodyTooLargeError),
    (430101, "含有不安全的外链", ContentRejectedError),
    (430104, "含有不合适的内容", ContentRejectedError),
    (90030, "webhook over limit", QuotaRefusedError),
    (90020, "ApiCountLimitForOrg", QuotaRefusedError),
    (660026, "unknown to us", ApiError),
]


@pytest.mark.parametrize(("errcode", "errmsg", "cls"), TABLE)
def test_classification(errcode: int, errmsg: str, cls: type[ApiError]) -> None:
    error = error_for(errcode, errmsg)
    assert type(error) is cls
    assert error.errcode == errcode
    assert error.errmsg == errmsg
    assert error.advice
    assert f"errcode {errcode}" in str(error)
    assert "more: [" not in str(error)  # the doc-link tail is noise on a terminal


def test_advice_tells_the_security_cases_apart() -> None:
    advices = {
        cls: error_for(310000, msg).advice
        for msg, cls in [
            ("sign not match", SignatureError),
            ("invalid timestamp", TimestampError),
            ("keywords not in content", KeywordError),
            ("ip 1.2.3.4 not in whitelist", IpNotAllowedError),
        ]
    }
    assert "secret" in advices[SignatureError]
    assert "clock" in advices[TimestampError]
    assert "keywords" in advices[KeywordError]
    assert "allow-list" in advices[IpNotAllowedError]
    assert len(set(advices.values())) == 4


def test_clock_note_is_added_to_a_timestamp_error_only() -> None:
    assert "ahead" in error_for(310000, "invalid timestamp", clock_note="clock is 2 h ahead").advice
    assert (
        "ahead" not in error_for(310000, "sign not match", clock_note="clock is 2 h ahead").advice
    )


def test_throttled_and_too_large_are_caught_by_their_local_cousins() -> None:
    assert isinstance(error_for(130101, "send too fast"), RateLimitedError)
    assert isinstance(error_for(460101, "message too long"), TooLargeError)


def test_new_style_summary() -> None:
    assert summarise_errmsg("description:关键词不匹配;solution:请联系") == "关键词不匹配"
    assert summarise_errmsg("sign not match" + MORE) == "sign not match"


def test_one_tree() -> None:
    for name in dingwire.__all__:
        obj = getattr(dingwire, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, dingwire.DingwireError), name
    assert issubclass(dingwire.MessageError, ValueError)


def test_a_spent_quota_is_a_rate_limit_that_names_dingtalks_code() -> None:
    error = error_for(90030, "webhook over limit")
    assert isinstance(error, QuotaExceededError)
    assert isinstance(error, RateLimitedError)
    assert isinstance(error, ApiError)
    assert error.errcode == 90030
    assert error.reason == "quota"
    assert "quota" in error.advice
