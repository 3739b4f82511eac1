"""dingwire's own robots against the fake, on a real port and in-process: every message type,
the errors DingTalk gives, and faults seen through the robots' retry behaviour."""

from __future__ import annotations

import asyncio
import time

import pytest

import dingwire
from dingwire import (
    ActionCard,
    At,
    Button,
    FeedCard,
    FeedItem,
    Link,
    Markdown,
    Text,
)
from dingwire.core.policy import Rate, RetryPolicy
from dingwire.fake import FakeControls, FakeServer, Fault, InProcessFake

URL = "https://example.com/x"
PIC = "https://example.com/p.png"
MESSAGES: list[dingwire.Message] = [
    Text("告警: disk full", at=At(mobiles=["13800000000"])),
    Markdown("告警", "## 告警\n\n- **disk** full\n- [details](https://example.com)"),
    Link("告警", "disk full", URL, pic_url=PIC),
    ActionCard("告警", "### disk full", buttons=(Button("Open", URL),)),
    ActionCard(
        "告警",
        "disk full",
        buttons=(Button("Ack", URL), Button("Mute", URL)),
        orientation="horizontal",
    ),
    FeedCard((FeedItem("告警 1", URL, PIC), FeedItem("告警 2", URL, PIC))),
]


@pytest.fixture(params=["port", "inprocess"])
def fake(request: pytest.FixtureRequest) -> FakeControls:
    if request.param == "port":
        server: FakeServer = request.getfixturevalue("dingtalk_fake")
        return server
    inprocess: InProcessFake = request.getfixturevalue("dingtalk_fake_inprocess")
    return inprocess


def test_robot_sends_every_type(fake: FakeControls) -> None:
    ops = fake.add_robot(secret=True, keywords=["告警"], name="ops")
    with ops.client() as robot:
        for message in MESSAGES:
            assert robot.send(message) == dingwire.SendResult(0, "ok", 1)
    delivered = ops.delivered()
    assert [r.payload for r in delivered] == [m.to_payload() for m in MESSAGES]
    assert {r.robot for r in delivered} == {"ops"}


def test_async_robot_sends_every_type(fake: FakeControls) -> None:
    ops = fake.add_robot(secret=True, keywords=["告警"])

    async def main() -> list[dingwire.SendResult]:
        async with ops.async_client() as robot:
            return [await robot.send(m) for m in MESSAGES]

    assert [r.errcode for r in asyncio.run(main())] == [0] * len(MESSAGES)
    assert len(ops.delivered()) == len(MESSAGES)


def test_a_robot_built_from_the_webhook_alone(fake: FakeControls) -> None:
    ops = fake.add_robot(secret=True)
    transport = fake._sync_transport()
    options = {"transport": transport} if transport is not None else {}
    robot = dingwire.Robot(
        ops.webhook, ops.secret, budget_store=dingwire.MemoryBudgetStore(), **options
    )
    assert robot.send(Text("plain")).errcode == 0
    assert ops.last is not None
    assert ops.last.text == "plain"


@pytest.mark.parametrize(
    ("settings", "client", "error"),
    [
        ({"secret": True}, {"secret": "SEC" + "0" * 64}, dingwire.SignatureError),
        ({"keywords": ["告警"]}, {}, dingwire.KeywordError),
        ({"ips": ["10.9.9.9"]}, {}, dingwire.IpNotAllowedError),
        ({"disabled": True}, {}, dingwire.RobotDisabledError),
    ],
)
def test_refusals_raise_the_libraries_errors(
    fake: FakeControls, settings: dict[str, object], client: dict[str, object], error: type
) -> None:
    robot = fake.add_robot(**settings)  # type: ignore[arg-type]
    secret = client.get("secret", robot.secret)
    assert secret is None or isinstance(secret, str)
    sender = fake.client(robot.token, secret)
    with pytest.raises(error):
        sender.send(Text("disk full"))
    assert robot.last is not None
    assert robot.last.errcode is not None
    assert robot.last.errcode != 0


def test_a_stale_timestamp_is_a_timestamp_error(fake: FakeControls) -> None:
    ops = fake.add_robot(secret=True)
    robot = ops.client(clock=lambda: time.time() - 7200)
    with pytest.raises(dingwire.TimestampError) as caught:
        robot.send(Text("late"))
    assert "clock" in caught.value.advice


def test_an_unknown_token_is_a_token_error(fake: FakeControls) -> None:
    fake.add_robot("known")
    with pytest.raises(dingwire.TokenError):
        fake.client("unknown").send(Text("hi"))


def test_throttling_by_the_fake_is_a_throttled_error(fake: FakeControls) -> None:
    ops = fake.add_robot(rate_limit=Rate(2, 60), lockout=600)
    robot = ops.client(rate_limit=None)  # the client does not hold back: DingTalk refuses
    robot.send(Text("1"))
    robot.send(Text("2"))
    with pytest.raises(dingwire.ThrottledError) as caught:
        robot.send(Text("3"), block=False)
    assert caught.value.errcode == 130101


def test_the_clients_own_rate_limit_keeps_it_under_dingtalks(fake: FakeControls) -> None:
    ops = fake.add_robot(rate_limit=Rate(2, 60))
    robot = ops.client(rate_limit="2/60s")
    robot.send(Text("1"))
    robot.send(Text("2"))
    with pytest.raises(dingwire.RateLimitedError) as caught:
        robot.send(Text("3"), block=False)
    assert not isinstance(caught.value, dingwire.ThrottledError)
    assert len(ops.messages()) == 2  # the third never left


def test_a_session_webhook(fake: FakeControls) -> None:
    ops = fake.add_robot(secret=True, name="ops")
    url = fake.open_session(ops.token, ttl=60)
    transport = fake._sync_transport()
    options = {"transport": transport} if transport is not None else {}
    robot = dingwire.Robot(url, budget_store=dingwire.MemoryBudgetStore(), **options)
    assert robot.send(Markdown("reply", "**done**")).errcode == 0
    assert ops.delivered()[-1].path == "/robot/sendBySession"
    expired = dingwire.Robot(
        url.replace("session=", "session=x"), budget_store=dingwire.MemoryBudgetStore(), **options
    )
    with pytest.raises(dingwire.TokenError) as caught:
        expired.send(Text("hi"))
    assert caught.value.errcode == 300001


# -- faults, seen through the robots' retries ---------------------------------------------


@pytest.mark.parametrize("fault", [Fault.http(503, count=2), Fault.busy(count=2)])
def test_503_and_busy_are_retried_until_delivered(fake: FakeControls, fault: Fault) -> None:
    ops = fake.add_robot()
    ops.inject_fault(fault)
    result = ops.client().send(Text("eventually"))
    assert result.attempts == 3
    assert [r.ok for r in ops.messages()] == [False, False, True]


def test_retries_give_up_with_the_last_error(fake: FakeControls) -> None:
    ops = fake.add_robot()
    ops.inject_fault(Fault.http(503, count=5))
    with pytest.raises(dingwire.BadResponseError) as caught:
        ops.client(retry=RetryPolicy(attempts=2, base=0.01)).send(Text("never"))
    assert caught.value.status == 503
    assert len(ops.messages()) == 2


def test_permanent_errors_are_not_retried(fake: FakeControls) -> None:
    ops = fake.add_robot()
    ops.inject_fault(Fault.errcode_reply(430102))
    with pytest.raises(dingwire.ContentRejectedError):
        ops.client().send(Text("bad words"))
    assert len(ops.messages()) == 1


def test_a_dropped_connection_is_connection_lost_and_not_retried(fake: FakeControls) -> None:
    ops = fake.add_robot()
    ops.inject_fault(Fault.drop())
    with pytest.raises(dingwire.ConnectionLostError):
        ops.client().send(Text("lost"))
    assert [r.fault for r in ops.messages()] == ["drop"]
    assert ops.client().send(Text("next")).errcode == 0


def test_a_slow_reply_is_a_timeout_but_the_message_arrived(fake: FakeControls) -> None:
    ops = fake.add_robot()
    ops.inject_fault(Fault.slow(2.0))
    started = time.monotonic()
    with pytest.raises(dingwire.RequestTimeoutError):
        ops.client(timeout=0.3).send(Text("slow"))
    assert time.monotonic() - started < 1.9
    assert ops.delivered()[-1].text == "slow"  # DeliveryUnknown: it did arrive


def test_a_slow_reply_within_the_timeout_is_fine(fake: FakeControls) -> None:
    ops = fake.add_robot()
    ops.inject_fault(Fault.slow(0.2))
    started = time.monotonic()
    assert ops.client(timeout=3).send(Text("patience")).errcode == 0
    assert time.monotonic() - started >= 0.2


def test_retry_on_timeout_sends_again(fake: FakeControls) -> None:
    ops = fake.add_robot()
    ops.inject_fault(Fault.drop(deliver=True))
    retry = RetryPolicy(attempts=2, base=0.01, retry_on_timeout=True)
    assert ops.client(retry=retry).send(Text("twice")).attempts == 2
    assert [r.text for r in ops.delivered()] == ["twice", "twice"]  # the duplicate is real


def test_async_robot_sees_faults_the_same_way(fake: FakeControls) -> None:
    ops = fake.add_robot()

    async def main() -> None:
        async with ops.async_client(timeout=0.3) as robot:
            ops.inject_fault(Fault.http(503))
            assert (await robot.send(Text("retried"))).attempts == 2
            ops.inject_fault(Fault.drop())
            with pytest.raises(dingwire.ConnectionLostError):
                await robot.send(Text("dropped"))
            ops.inject_fault(Fault.slow(2.0))
            with pytest.raises(dingwire.RequestTimeoutError):
                await robot.send(Text("slow"))

    asyncio.run(main())
    assert [r.fault for r in ops.messages()] == ["http 503", None, "drop", "slow 2s"]
