"""The sync robot against a real local HTTP server."""

import json
import logging
import socket
import time
from email.utils import formatdate

import pytest

from dingwire import (
    At,
    BadResponseError,
    ConnectError,
    ConnectionLostError,
    KeywordError,
    Markdown,
    MemoryBudgetStore,
    RateLimitedError,
    RequestTimeoutError,
    RetryPolicy,
    Robot,
    ServerBusyError,
    SignatureError,
    Text,
    ThrottledError,
    TimestampError,
)
from dingwire.core.signing import signature_matches
from tests.transport.endpoint import Endpoint

FAST_RETRY = RetryPolicy(attempts=3, base=0.01, cap=0.02)


def robot(endpoint: Endpoint, **options: object) -> Robot:
    options.setdefault("rate_limit", None)
    options.setdefault("retry", FAST_RETRY)
    return Robot(endpoint.webhook(), **options)  # type: ignore[arg-type]


def test_sends_signed_json(endpoint: Endpoint) -> None:
    with robot(endpoint, secret="SECsecret") as r:
        result = r.send(Text("hello", at=At(mobiles=["13800000000"])))
    assert result.errcode == 0
    assert result.attempts == 1
    (seen,) = endpoint.seen
    assert seen.path == "/robot/send"
    assert seen.headers["Content-Type"] == "application/json; charset=utf-8"
    assert seen.json() == {
        "msgtype": "text",
        "text": {"content": "hello\n@13800000000"},
        "at": {"atMobiles": ["13800000000"], "atUserIds": [], "isAtAll": False},
    }
    assert seen.query["access_token"] == "tok"
    timestamp = int(seen.query["timestamp"])
    assert abs(timestamp / 1000 - time.time()) < 60
    assert signature_matches("SECsecret", timestamp, seen.query["sign"])


def test_every_attempt_is_signed_afresh(endpoint: Endpoint) -> None:
    ticks = iter([1_000.0 + i for i in range(100)])
    endpoint.then("json", -1, "系统繁忙")
    r = robot(endpoint, secret="SECs", clock=lambda: next(ticks), sleep=lambda s: None)
    assert r.send(Text("x")).attempts == 2
    first, second = (int(s.query["timestamp"]) for s in endpoint.seen)
    assert second > first


def test_connections_are_reused(endpoint: Endpoint) -> None:
    with robot(endpoint) as r:
        for i in range(5):
            r.send(Text(f"message {i}"))
    assert len(endpoint.seen) == 5
    assert len({s.peer for s in endpoint.seen}) == 1  # one TCP connection for all five


def test_default_mention_and_keyword(endpoint: Endpoint) -> None:
    r = robot(endpoint, keywords=["告警"], mention=At(user_ids=["oncall"]))
    r.send(Markdown("Disk", "## Disk full"))
    assert endpoint.seen[0].json()["markdown"]["text"] == "## 【告警】 Disk full\n\n@oncall"
    assert endpoint.seen[0].json()["at"]["atUserIds"] == ["oncall"]


def test_refusal_raises_typed_error_without_retry(endpoint: Endpoint) -> None:
    endpoint.then("json", 310000, "keywords not in content")
    with pytest.raises(KeywordError) as caught:
        robot(endpoint).send(Text("x"))
    assert caught.value.errcode == 310000
    assert len(endpoint.seen) == 1


@pytest.mark.parametrize("failure", [("status", 503), ("json", -1, "系统繁忙")])
def test_safe_failures_are_retried(endpoint: Endpoint, failure: tuple[object, ...]) -> None:
    endpoint.then(*failure)
    assert robot(endpoint).send(Text("x")).attempts == 2
    assert len(endpoint.seen) == 2


def test_retries_give_up_with_the_last_error(endpoint: Endpoint) -> None:
    for _ in range(3):
        endpoint.then("json", -1, "系统繁忙")
    with pytest.raises(ServerBusyError):
        robot(endpoint).send(Text("x"))
    assert len(endpoint.seen) == 3


def test_http_404_is_not_retried(endpoint: Endpoint) -> None:
    endpoint.then("status", 404, "not found")
    with pytest.raises(BadResponseError, match="HTTP 404"):
        robot(endpoint).send(Text("x"))
    assert len(endpoint.seen) == 1


def test_timeout_is_reported_not_retried(endpoint: Endpoint) -> None:
    endpoint.then("hold")
    with pytest.raises(RequestTimeoutError, match="may have arrived"):
        robot(endpoint, timeout=0.2).send(Text("x"))
    assert len(endpoint.seen) == 1


def test_timeout_is_retried_when_asked(endpoint: Endpoint) -> None:
    endpoint.then("hold")
    retry = RetryPolicy(attempts=2, base=0.01, cap=0.01, retry_on_timeout=True)
    r = robot(endpoint, timeout=0.2, retry=retry)
    # The held request is released when the fixture ends; the retry gets the default reply.
    endpoint.then("json", 0, "ok")
    assert r.send(Text("x")).attempts == 2


def test_dropped_connection_is_ambiguous(endpoint: Endpoint) -> None:
    endpoint.then("drop")
    with pytest.raises(ConnectionLostError):
        robot(endpoint).send(Text("x"))
    assert len(endpoint.seen) == 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_connection_refused_is_retried_then_raised() -> None:
    slept: list[float] = []
    r = Robot(
        f"http://127.0.0.1:{free_port()}/robot/send?access_token=tok",
        rate_limit=None,
        retry=FAST_RETRY,
        sleep=slept.append,
    )
    with pytest.raises(ConnectError, match="could not connect"):
        r.send(Text("x"))
    assert len(slept) == 2


def test_throttle_locks_the_robot_out_and_waits_only_within_max_wait(endpoint: Endpoint) -> None:
    now = [1000.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    endpoint.then("json", 130101, "send too fast, exceed 20 times per minute")
    store = MemoryBudgetStore()
    r = robot(endpoint, lockout="600s", clock=lambda: now[0], sleep=sleep, budget_store=store)
    assert r.send(Text("x"), max_wait=700).attempts == 2
    assert sum(slept) == pytest.approx(600, abs=1)
    assert len(endpoint.seen) == 2


def test_a_lockout_raises_at_once_for_every_sender_of_the_store(endpoint: Endpoint) -> None:
    now = [1000.0]
    endpoint.then("json", 130101, "send too fast, exceed 20 times per minute")
    store = MemoryBudgetStore()
    r = robot(endpoint, lockout="600s", clock=lambda: now[0], budget_store=store)
    with pytest.raises(ThrottledError, match="locked out by DingTalk until") as first:
        r.send(Text("x"))  # blocking, but a lockout is waited for only within max_wait
    assert first.value.retry_after == 600
    assert first.value.until == pytest.approx(1600)
    # Another robot object for the same webhook, sharing the store, does not even try.
    now[0] += 100
    other = robot(endpoint, clock=lambda: now[0], budget_store=store)
    with pytest.raises(RateLimitedError, match="locked out by DingTalk until") as caught:
        other.send(Text("y"))
    assert not isinstance(caught.value, ThrottledError)
    assert caught.value.reason == "lockout"
    assert caught.value.retry_after == pytest.approx(500, abs=1)
    assert len(endpoint.seen) == 1


def test_throttle_with_block_false_raises_with_retry_after(endpoint: Endpoint) -> None:
    endpoint.then("json", 130101, "send too fast, exceed 20 times per minute")
    with pytest.raises(ThrottledError) as caught:
        robot(endpoint, lockout=600).send(Text("x"), block=False)
    assert caught.value.retry_after == 600


def test_budget_waits_or_raises(endpoint: Endpoint) -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    r = robot(endpoint, rate_limit="2/60s", clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        r.send(Text("x"))
    assert slept == [pytest.approx(60)]  # the third waited for the first to leave the window
    r.send(Text("x"))  # sends at t=60: the two at t=0 have left the window
    with pytest.raises(RateLimitedError, match="budget") as caught:
        r.send(Text("x"), block=False)
    assert caught.value.retry_after == pytest.approx(60)
    assert len(endpoint.seen) == 4


def test_timestamp_error_reads_the_servers_clock(endpoint: Endpoint) -> None:
    endpoint.date = formatdate(time.time() - 7200, usegmt=True)
    endpoint.then("json", 310000, "invalid timestamp")
    with pytest.raises(TimestampError) as caught:
        robot(endpoint, secret="SECs").send(Text("x"))
    assert "120 minutes ahead" in caught.value.advice


def test_a_secret_never_reaches_errors_or_logs(
    endpoint: Endpoint, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="dingwire")
    secret = "SECdeadbeefdeadbeefdeadbeef"
    token = "f00dfeedf00dfeedf00dfeed"
    endpoint.then("status", 503)
    endpoint.then("json", 310000, "sign not match")
    r = Robot(endpoint.webhook(token), secret, rate_limit=None, retry=FAST_RETRY)
    with pytest.raises(SignatureError) as caught:
        r.send(Text("x"))
    sign = endpoint.seen[0].query["sign"]
    shown = "\n".join(
        [caplog.text, str(caught.value), caught.value.describe(), repr(r), repr(caught.value)]
    )
    assert caplog.text  # something was logged (the retry)
    for leaked in (secret, token, sign):
        assert leaked not in shown


def test_refused_connection_error_does_not_leak_the_token() -> None:
    token = "f00dfeedf00dfeedf00dfeed"
    r = Robot(
        f"http://127.0.0.1:{free_port()}/robot/send?access_token={token}",
        "SECsecretvalue",
        rate_limit=None,
        retry=RetryPolicy(attempts=1),
    )
    with pytest.raises(ConnectError) as caught:
        r.send(Text("x"))
    assert token not in caught.value.describe()
    assert "SECsecretvalue" not in caught.value.describe()


def test_dict_messages(endpoint: Endpoint) -> None:
    robot(endpoint).send({"msgtype": "text", "text": {"content": "raw"}})
    assert json.loads(endpoint.seen[0].body) == {"msgtype": "text", "text": {"content": "raw"}}


def test_max_wait_bounds_the_wait_for_the_budget(endpoint: Endpoint) -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    r = robot(endpoint, rate_limit="1/60s", clock=lambda: now[0], sleep=sleep)
    r.send(Text("first"))
    with pytest.raises(RateLimitedError) as caught:
        r.send(Text("second"), max_wait=30)
    assert caught.value.retry_after == pytest.approx(60)
    assert slept == []
    r.send(Text("second"), max_wait=61)
    assert slept == [pytest.approx(60)]


def test_max_wait_bounds_the_wait_for_a_lockout(endpoint: Endpoint) -> None:
    endpoint.then("json", 130101, "send too fast, exceed 20 times per minute")
    with pytest.raises(ThrottledError) as caught:
        robot(endpoint, lockout=600, sleep=lambda s: None).send(Text("x"), max_wait=60)
    assert caught.value.retry_after == 600
    assert len(endpoint.seen) == 1
