"""The one URL rule: webhooks (normalise_webhook), links in messages (check_url), robot_key."""

import pytest

import dingwire
from dingwire.core.errors import ConfigError, MessageError
from dingwire.core.urls import normalise_webhook, robot_key, url_problem
from dingwire.core.validation import check_url

TOKEN = "0123456789abcdef0123456789abcdef"
HOST = "https://oapi.dingtalk.com"
GOOD = f"{HOST}/robot/send?access_token={TOKEN}"


@pytest.mark.parametrize(
    "url",
    [
        GOOD,
        f"HTTPS://OAPI.dingtalk.com/robot/send?access_token={TOKEN}",
        f"http://127.0.0.1:8765/robot/send?access_token={TOKEN}",
        f"http://[::1]:8765/robot/send?access_token={TOKEN}",
        f"http://[fe80::1%25eth0]/robot/send?access_token={TOKEN}",
        f"https://oapi.dingtalk.com./robot/send?access_token={TOKEN}",
        f"http://dingtalk.fake.invalid/robot/send?access_token={TOKEN}&timestamp=1&sign=x",
        f"http://my_relay:8060/robot/send?access_token={TOKEN}#frag",
        "http://127.0.0.1:9/robot/sendBySession?session=abc123",
        f"http://127.0.0.1:65535/robot/send?access_token={TOKEN}",
        "http://127.0.0.1/robot/send?access_token=a%2Db",
    ],
)
def test_good_webhooks_come_back_as_given(url: str) -> None:
    assert normalise_webhook(url) == url
    assert normalise_webhook(f"  {url}\n") == url  # the newline at the end of a file


def test_a_bare_token_is_dingtalks_url() -> None:
    assert normalise_webhook(TOKEN) == GOOD
    assert normalise_webhook(f" {TOKEN}\n") == GOOD


# (webhook, what the error says): each refused before anything connects.
BAD = [
    (f"{HOST}:99999/robot/send?access_token={TOKEN}", "has the port '99999'; a port is a number"),
    (f"{HOST}:0/robot/send?access_token={TOKEN}", "has the port '0'"),
    (f"{HOST}:8o/robot/send?access_token={TOKEN}", "has the port '8o'"),
    (f"{HOST}:/robot/send?access_token={TOKEN}", "has a ':' but no port after it"),
    (f"http://[::1/robot/send?access_token={TOKEN}", "a '[' without its ']'"),
    (f"http://::1]/robot/send?access_token={TOKEN}", "bracket in its host"),
    (f"http://[::1]x/robot/send?access_token={TOKEN}", "characters after the ']'"),
    (f"http://[::1]:99999/robot/send?access_token={TOKEN}", "has the port '99999'"),
    (f"http://[::1]:/robot/send?access_token={TOKEN}", "a ':' but no port"),
    (f"http://[not:ip:v6]/robot/send?access_token={TOKEN}", "not an IPv6 address"),
    (f"http://[127.0.0.1]/robot/send?access_token={TOKEN}", "not an IPv6 address"),
    (f"http://::1/robot/send?access_token={TOKEN}", "IPv6 address outside brackets"),
    (f"https://oapi dingtalk.com/robot/send?access_token={TOKEN}", "contains a space"),
    (f"https://oapi.dingtalk.com/robot/send?access_token={TOKEN[:8]} {TOKEN[8:]}", "a space"),
    (f"https://oapi.dingtalk.com/robot/send?access_token={TOKEN}\u3000x", "a space"),
    (f"https://oapi..dingtalk.com/robot/send?access_token={TOKEN}", "an empty part"),
    (f"https://oapi.ding*talk.com/robot/send?access_token={TOKEN}", "a host is letters"),
    (f"https:///robot/send?access_token={TOKEN}", "has no host"),
    (f"{HOST}/robot/send?access_token={TOKEN}\r\nX-Injected: 1", "a carriage return (CR)"),
    (f"{HOST}/robot/send?access_token={TOKEN[:10]}\n{TOKEN[10:]}", "a line feed (LF)"),
    (f"{HOST}/robot/send?access_token={TOKEN}\x00", "a NUL"),
    (f"{HOST}/robot/send\x7f?access_token={TOKEN}", "the control character '\\x7f'"),
    (f"{HOST}/robot/send?access_token={TOKEN[:-1]}é", "non-ASCII character in its query"),
    (f"{HOST}/robot/send?access_token=%E4%B8%AD{TOKEN}", "not printable ASCII"),
    (f"{HOST}/robot/send?access_token=%0D%0A{TOKEN}", "not printable ASCII"),
    (f"{HOST}/robot/send?access_token=%FF{TOKEN}", "not UTF-8"),
    (f"{HOST}/robot/send?access_token=", "an empty access_token"),
    (f"{HOST}/robot/send?access_token={TOKEN}&access_token={TOKEN}", "access_token 2 times"),
    (f"https://钉钉.com/robot/send?access_token={TOKEN}", "write it as 'xn--"),
    (f"{HOST}/机器人?access_token={TOKEN}", "non-ASCII character in its path"),
    (
        f"ftp://oapi.dingtalk.com/robot/send?access_token={TOKEN}",
        "is not an http(s) URL (its scheme is 'ftp')",
    ),
    (f"ws://oapi.dingtalk.com/robot/send?access_token={TOKEN}", "(its scheme is 'ws')"),
    (f"file:///robot/send?access_token={TOKEN}", "(its scheme is 'file')"),
    (f"dingtalk://SEC123@{TOKEN}", "Robot.from_url"),
    (f"https://user:pw@oapi.dingtalk.com/robot/send?access_token={TOKEN}", "user:password@"),
    (f"{HOST}/robot/send?acess_token={TOKEN}", "'acess_token' is not it"),
    (f"{HOST}/robot/send?token={TOKEN}", "'token' is not it"),
    (f"{HOST}/robot/send?accesstoken={TOKEN}", "'accesstoken' is not it"),
    (f"{HOST}/robot/send?Access_Token={TOKEN}", "'Access_Token' is not it"),
    (f"{HOST}/robot/send?{TOKEN}", "has no access_token; copy the whole URL"),
    (f"{HOST}/robot/send", "has no access_token"),
    ("://nothing", "not a URL"),
    (f"{TOKEN}/x", "neither a URL nor an access token"),
    (f"{TOKEN} {TOKEN}", "neither a URL nor an access token"),
    (f"{TOKEN[:10]}\r\n{TOKEN}", "a carriage return"),
    (f"{TOKEN}é", "non-ASCII"),
    ("   ", "empty"),
]


@pytest.mark.parametrize(("url", "says"), BAD)
def test_bad_webhooks_are_config_errors_that_never_show_the_token(url: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        normalise_webhook(url, name="robots.ops: webhook")
    message = str(caught.value)
    assert says in message
    assert message.startswith("robots.ops: webhook: ")
    assert "\n" not in message  # one line: control characters are shown escaped
    assert "\r" not in message
    for piece in (TOKEN, TOKEN[:10], TOKEN[10:], TOKEN[-12:]):
        assert piece not in message


@pytest.mark.parametrize(("url", "says"), BAD[:20])
def test_a_robot_refuses_a_bad_webhook_when_it_is_built(url: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        dingwire.Robot(url, budget_store="memory://")
    assert says in str(caught.value)


def test_a_webhook_that_is_not_a_string_is_named_without_its_value() -> None:
    with pytest.raises(ConfigError, match=r"webhook: expected .* got list") as caught:
        normalise_webhook([TOKEN])
    assert TOKEN not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://例子.测试/告警?q=磁盘", None),  # a link in a message may be an IRI
        ("dingtalk://dingtalkclient/page/link?url=x", None),
        ("https://grafana:3000/d/x?from=now-1h&to=now", None),
        ("https://example.com:70000/", "port"),
        ("https://[::1/", "'['"),
        ("https://exa mple.com/", "space"),
        ("https://example.com/\r\n", "carriage return"),
        ("javascript:alert(1)", "not a URL"),
        ("mailto://x", "its scheme is 'mailto'"),
    ],
)
def test_links_in_messages_keep_the_same_rule(url: str, problem: str | None) -> None:
    found = url_problem(url, schemes=("http", "https", "dingtalk"), ascii_only=False)
    assert (found is None) if problem is None else (problem in (found or ""))
    if problem is None:
        check_url("link.messageUrl", url)
    else:
        with pytest.raises(MessageError, match=r"^link\.messageUrl: ") as caught:
            check_url("link.messageUrl", url)
        assert caught.value.field == "link.messageUrl"


@pytest.mark.parametrize(
    "same",
    [
        f"https://OAPI.dingtalk.com:443/robot/send?access_token={TOKEN}",
        f"https://oapi.dingtalk.com/robot/send?access_token={TOKEN}&timestamp=1&sign=x",
        f"HTTPS://oapi.dingtalk.com/robot/send?sign=x&access_token={TOKEN}",
        f" https://oapi.dingtalk.com/robot/send?access_token={TOKEN} ",
        f"https://oapi.dingtalk.com/robot/send?access_token={TOKEN[:-1]}%{ord(TOKEN[-1]):02X}",
    ],
)
def test_one_robot_whatever_the_spelling_of_its_url(same: str) -> None:
    assert robot_key(same) == robot_key(GOOD)


@pytest.mark.parametrize(
    "other",
    [
        f"{HOST}/robot/send?access_token={TOKEN[::-1]}",
        f"http://oapi.dingtalk.com/robot/send?access_token={TOKEN}",
        f"https://oapi.dingtalk.com:8443/robot/send?access_token={TOKEN}",
        f"https://oapi.dingtalk.io/robot/send?access_token={TOKEN}",
    ],
)
def test_other_robots_have_other_budgets(other: str) -> None:
    assert robot_key(other) != robot_key(GOOD)


def test_the_transport_uses_the_core_rule() -> None:
    from dingwire.transport import base

    assert base.normalise_webhook is normalise_webhook
    assert base.robot_key is robot_key
