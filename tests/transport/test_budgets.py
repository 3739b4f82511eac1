"""Budgets as the robots keep them: slots held from the start, settled at the reply.

Most tests drive a robot on a simulated clock through a scripted transport, so that the
moment each request *arrives* is known exactly and every window can be judged where DingTalk
judges it: at arrival. The rest use a real local endpoint.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from dingwire import (
    AsyncRobot,
    ConnectError,
    GatewayThrottledError,
    MemoryBudgetStore,
    QuotaExceededError,
    QuotaRefusedError,
    RateLimitedError,
    RequestTimeoutError,
    RetryPolicy,
    Robot,
    Text,
    ThrottledError,
)
from dingwire.core.budget import Budget, Verdict
from dingwire.core.protocol import Request
from dingwire.transport.base import Reply, robot_key
from tests.transport.endpoint import Endpoint

OK = b'{"errcode":0,"errmsg":"ok"}'
X5 = b'{"status":1111,"wait":5,"source":"x5","punish":"deny"}'
WEBHOOK = "http://dingtalk.test/robot/send?access_token=tok"


@dataclass
class Clock:
    """Simulated time: sleeping and network latency move it on."""

    now: float = 1_000_000.0
    slept: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@dataclass
class Network:
    """A transport whose requests arrive ``arrive`` s after sending and are answered
    ``answer`` s after that; it logs arrival times, as DingTalk's counter would see them."""

    clock: Clock
    arrive: Callable[[int], float] = lambda i: 0.01
    answer: float = 0.01
    replies: list[Reply | Exception] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)

    def handle(self, request: Request, timeout: float) -> Reply:
        index = len(self.arrivals)
        self.clock.now += self.arrive(index)
        reply = self.replies.pop(0) if self.replies else Reply(200, OK)
        if isinstance(reply, ConnectError):
            raise reply  # refused: it never arrived
        self.arrivals.append(self.clock.now)
        self.clock.now += self.answer
        if isinstance(reply, Exception):
            raise reply
        return reply

    def close(self) -> None:
        pass


def most_in_any_window(arrivals: list[float], window: float) -> int:
    ordered = sorted(arrivals)
    return max(
        (sum(1 for u in ordered if t <= u < t + window) for t in ordered),
        default=0,
    )


def sim_robot(clock: Clock, network: Network, **options: Any) -> Robot:
    options.setdefault("budget_store", MemoryBudgetStore())
    options.setdefault("retry", RetryPolicy(attempts=3, base=0.01, cap=0.02))
    return Robot(WEBHOOK, clock=clock, sleep=clock.sleep, transport=network, **options)


def test_a_slow_first_request_never_puts_one_more_in_a_window_at_arrival() -> None:
    # The first request of a burst arrives 150 ms late (new connection, TLS, imports); the
    # next ones go over a kept-open connection. Counted at its start, the sixth would arrive
    # less than a window after the first.
    clock = Clock()
    network = Network(clock, arrive=lambda i: 0.150 if i == 0 else 0.005)
    robot = sim_robot(clock, network, rate_limit="5/2s")
    for i in range(12):
        robot.send(Text(f"m{i}"))
    assert len(network.arrivals) == 12
    assert most_in_any_window(network.arrivals, 2.0) == 5


def test_not_over_careful_seven_at_five_per_two_seconds() -> None:
    clock = Clock()
    network = Network(clock, arrive=lambda i: 0.02, answer=0.02)
    robot = sim_robot(clock, network, rate_limit="5/2s")
    start = clock.now
    for i in range(7):
        robot.send(Text(f"m{i}"))
    # Five at once, then the rest one window after the first reply: one window plus the
    # round trips, nowhere near a second full window.
    assert clock.now - start == pytest.approx(2.0 + 0.04 * 3, abs=0.01)
    assert most_in_any_window(network.arrivals, 2.0) == 5


def test_a_send_that_never_left_gives_its_slot_and_quota_back() -> None:
    clock = Clock()
    network = Network(clock, replies=[ConnectError("refused")])
    store = MemoryBudgetStore()
    robot = sim_robot(
        clock, network, rate_limit="1/60s", quota="5/month", budget_store=store,
        retry=RetryPolicy(attempts=1),
    )  # fmt: skip
    with pytest.raises(ConnectError):
        robot.send(Text("x"))
    assert store.usage(robot.budget, clock.now) == 0
    robot.send(Text("y"), block=False)  # the slot is free again: no wait
    assert store.usage(robot.budget, clock.now) == 1


def test_a_send_that_may_have_arrived_keeps_its_slot() -> None:
    clock = Clock()
    network = Network(clock, replies=[RequestTimeoutError("no reply")])
    store = MemoryBudgetStore()
    robot = sim_robot(clock, network, rate_limit="1/60s", quota="5/month", budget_store=store)
    with pytest.raises(RequestTimeoutError):
        robot.send(Text("x"))
    assert store.usage(robot.budget, clock.now) == 1
    with pytest.raises(RateLimitedError, match=r"budget \(1/60s\) is spent") as caught:
        robot.send(Text("y"), block=False)
    assert caught.value.reason == "budget"


def test_the_slot_ends_when_the_reply_came_back() -> None:
    clock = Clock()
    network = Network(clock, arrive=lambda i: 1.0, answer=2.0)
    store = MemoryBudgetStore()
    robot = sim_robot(clock, network, rate_limit="1/10s", budget_store=store)
    started = clock.now
    robot.send(Text("x"))
    verdict = robot.budget_state()
    assert verdict.reason == "budget"
    # The reply came at started + 3: the window is counted from there, not from the start.
    assert verdict.until == pytest.approx(started + 3 + 10)


def test_an_in_flight_send_holds_its_slot_for_the_others() -> None:
    store = MemoryBudgetStore()
    budget = Budget(rate=Robot(WEBHOOK, rate_limit="1/10s", budget_store=store).rate)
    key = robot_key(WEBHOOK)
    granted = store.reserve(key, budget, 100.0, hold=11.0)
    assert granted.go
    later = store.peek(key, budget, 105.0)  # still in flight five seconds on
    assert later.reason == "budget"
    assert later.provisional  # its reply may come any moment: look again soon
    assert later.free == 0


def test_a_throttle_locks_out_every_sender_and_says_until_when() -> None:
    clock = Clock()
    network = Network(clock, replies=[Reply(200, b'{"errcode":130101,"errmsg":"send too fast"}')])
    store = MemoryBudgetStore()
    robot = sim_robot(clock, network, lockout="600s", budget_store=store)
    with pytest.raises(ThrottledError, match="locked out by DingTalk until") as caught:
        robot.send(Text("x"))
    assert caught.value.retry_after == 600
    other = sim_robot(clock, network, budget_store=store)
    with pytest.raises(RateLimitedError, match="locked out by DingTalk until") as later:
        other.send(Text("y"), max_wait=60)
    assert later.value.reason == "lockout"
    assert len(network.arrivals) == 1
    other.send(Text("y"), max_wait=601)  # within max_wait, it waits the lockout out
    assert sum(clock.slept) == pytest.approx(600, abs=0.1)


@pytest.mark.parametrize(
    ("reply", "wait"),
    [
        (Reply(200, X5), 5.0),
        (Reply(200, b'{"status":1111,"wait":2,"source":"x5"}'), 2.0),
    ],
)
def test_the_gateways_wait_is_honoured_then_the_send_goes(reply: Reply, wait: float) -> None:
    clock = Clock()
    network = Network(clock, replies=[reply])
    robot = sim_robot(clock, network)
    assert robot.send(Text("x")).attempts == 2
    assert clock.slept == [pytest.approx(wait, abs=0.05)]
    assert len(network.arrivals) == 2


def test_the_gateways_wait_beyond_the_callers_deadline_raises() -> None:
    clock = Clock()
    network = Network(clock, replies=[Reply(200, X5)])
    with pytest.raises(GatewayThrottledError, match="asking to wait 5 s") as caught:
        sim_robot(clock, network).send(Text("x"), block=False)
    assert caught.value.retry_after == 5
    assert clock.slept == []


@pytest.mark.parametrize(
    "reply",
    [
        Reply(302, b"<html>moved</html>"),
        Reply(200, b"<html><body>too many requests</body></html>"),
        Reply(200, b'{"status":1111,"source":"x5"}'),
    ],
)
def test_a_slow_down_without_a_wait_is_a_lockout(reply: Reply) -> None:
    clock = Clock()
    network = Network(clock, replies=[reply])
    store = MemoryBudgetStore()
    robot = sim_robot(clock, network, lockout="600s", budget_store=store)
    with pytest.raises(GatewayThrottledError, match="locked out by DingTalk until"):
        robot.send(Text("x"))
    assert robot.budget_state().reason == "lockout"
    assert robot.budget_state().wait == pytest.approx(600, abs=0.1)


def test_a_spent_quota_sends_nothing_and_names_the_renewal() -> None:
    clock = Clock(now=1_798_732_800.0 - 3600)  # 2026-12-31T23:00 in Shanghai (15:00 UTC)
    network = Network(clock)
    store = MemoryBudgetStore()
    one = sim_robot(clock, network, org="acme", quota="2/month", budget_store=store)
    two = Robot(
        WEBHOOK + "2", clock=clock, transport=network, budget_store=store,
        org="acme", quota="2/month",
    )  # fmt: skip
    one.send(Text("a"))
    two.send(Text("b"))
    with pytest.raises(QuotaExceededError) as caught:
        one.send(Text("c"))
    error = caught.value
    assert not isinstance(error, QuotaRefusedError)
    assert error.org == "acme"
    assert error.quota == "2/month"
    assert "renews 2027-01-01 00:00 Asia/Shanghai" in str(error)
    assert error.renews_at == pytest.approx(1_798_732_800.0)
    assert len(network.arrivals) == 2
    clock.now += 3600  # the month turns in Shanghai
    one.send(Text("c"))
    assert len(network.arrivals) == 3


def test_dingtalks_quota_answer_stops_every_robot_of_the_org() -> None:
    clock = Clock()
    network = Network(
        clock, replies=[Reply(200, b'{"errcode":90030,"errmsg":"webhook over limit"}')]
    )
    store = MemoryBudgetStore()
    robot = sim_robot(clock, network, org="acme", budget_store=store)
    with pytest.raises(QuotaRefusedError, match="quota renews") as caught:
        robot.send(Text("x"), max_wait=10**9)
    assert caught.value.errcode == 90030
    assert len(network.arrivals) == 1  # never retried
    sibling = sim_robot(clock, network, org="acme", budget_store=store)
    with pytest.raises(QuotaExceededError):
        sibling.send(Text("y"))
    assert len(network.arrivals) == 1
    stranger = sim_robot(clock, network, org="other", budget_store=store)
    stranger.send(Text("z"))
    assert len(network.arrivals) == 2


def test_a_wait_is_said_once_and_never_as_retrying_in_zero(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="dingwire")
    clock = Clock()
    robot = sim_robot(clock, Network(clock), rate_limit="1/10s")
    robot.send(Text("a"))
    robot.send(Text("b"))
    waits = [r.getMessage() for r in caplog.records if "waits for" in r.getMessage()]
    assert len(waits) == 1
    assert "waits for its budget (1/10s) until" in waits[0]
    assert "retrying in 0.0" not in caplog.text


@pytest.mark.parametrize(
    "same",
    [
        "https://OAPI.dingtalk.com:443/robot/send?access_token=T",
        "https://oapi.dingtalk.com/robot/send?access_token=T&timestamp=1&sign=x",
        "HTTPS://oapi.dingtalk.com/robot/send?sign=x&access_token=T",
        " https://oapi.dingtalk.com/robot/send?access_token=T ",
    ],
)
def test_one_robot_whatever_the_spelling_of_its_url(same: str) -> None:
    assert robot_key(same) == robot_key("https://oapi.dingtalk.com/robot/send?access_token=T")


@pytest.mark.parametrize(
    "other",
    [
        "https://oapi.dingtalk.com/robot/send?access_token=U",
        "http://oapi.dingtalk.com/robot/send?access_token=T",
        "https://oapi.dingtalk.com:8443/robot/send?access_token=T",
        "https://oapi.dingtalk.io/robot/send?access_token=T",
    ],
)
def test_other_robots_have_other_budgets(other: str) -> None:
    assert robot_key(other) != robot_key("https://oapi.dingtalk.com/robot/send?access_token=T")


class OffLoopStore(MemoryBudgetStore):
    """A store that says it can block, and notes the thread of every call."""

    blocking = True

    def __init__(self) -> None:
        super().__init__()
        self.threads: set[int] = set()

    def reserve(self, robot: str, budget: Budget, now: float, *, hold: float) -> Verdict:
        self.threads.add(threading.get_ident())
        return super().reserve(robot, budget, now, hold=hold)

    def settle(self, robot: str, slot: int, arrived: float | None) -> None:
        self.threads.add(threading.get_ident())
        super().settle(robot, slot, arrived)


def test_the_async_robot_never_calls_a_blocking_store_on_its_loop(endpoint: Endpoint) -> None:
    store = OffLoopStore()
    loop_thread: list[int] = []

    async def main() -> None:
        loop_thread.append(threading.get_ident())
        async with AsyncRobot(endpoint.webhook(), budget_store=store) as robot:
            await asyncio.gather(*(robot.send(Text(f"m{i}")) for i in range(5)))

    asyncio.run(main())
    assert len(endpoint.seen) == 5
    assert store.threads
    assert loop_thread[0] not in store.threads


def test_the_async_robot_keeps_the_same_budget(endpoint: Endpoint) -> None:
    store = MemoryBudgetStore()

    async def main() -> None:
        async with AsyncRobot(endpoint.webhook(), rate_limit="3/60s", budget_store=store) as r:
            await asyncio.gather(*(r.send(Text(f"m{i}")) for i in range(3)))
            with pytest.raises(RateLimitedError, match="budget"):
                await r.send(Text("m3"), block=False)

    asyncio.run(main())
    assert len(endpoint.seen) == 3


def test_a_real_x5_answer_over_http(endpoint: Endpoint) -> None:
    endpoint.then("raw", 200, X5.decode())
    endpoint.then("raw", 302, "<html>moved</html>", {"Location": "/login"})
    robot = Robot(endpoint.webhook(), budget_store=MemoryBudgetStore(), rate_limit=None)
    with pytest.raises(GatewayThrottledError, match="wait 5 s"):
        robot.send(Text("x"), block=False)
    with pytest.raises(GatewayThrottledError, match="HTTP 302"):
        robot.send(Text("y"))
    assert robot.budget_state().reason == "lockout"
    assert len(endpoint.seen) == 2
