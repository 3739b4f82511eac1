"""The faults that are not errcode JSON — the gateway's ``x5`` answer, a 302 to a verify
page — and ``latency``, a request that arrives late: through the engine, the ASGI app on a
real port, and the in-process transports."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import pytest
import requests

import dingwire
from dingwire.core.errors import ConfigError
from dingwire.core.policy import RetryPolicy
from dingwire.core.protocol import Request
from dingwire.fake import (
    AsyncInProcessTransport,
    FakeDingTalk,
    FakeServer,
    Fault,
    InProcessFake,
    InProcessTransport,
)
from dingwire.fake.app import create_app
from dingwire.fake.config import FakeRobot, FakeSettings, parse_fake_config
from dingwire.fake.engine import Incoming
from tests.fake.conftest import NOW, TOKEN, body, send, text

TIMEOUT = 10
ONCE = RetryPolicy(attempts=1)
MESSAGE = {"msgtype": "text", "text": {"content": "x"}}


class Clock:
    """A test clock; ``sleep`` moves it forward instead of waiting."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)


def wait_until(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not hold in time")
        time.sleep(0.005)


# -- the Fault values ---------------------------------------------------------------------

KINDS: list[tuple[Fault, str, dict[str, Any]]] = [
    # (fault, describe(), to_json())
    (Fault.x5(), "x5 wait 5s", {"kind": "x5", "count": 1, "wait": 5}),
    (Fault.x5(0, count=2), "x5 wait 0s", {"kind": "x5", "count": 2, "wait": 0}),
    (Fault.redirect(), "redirect 302", {"kind": "redirect", "count": 1, "location": "/verify"}),
    (
        Fault.redirect("https://login.example/verify?x=1", count=3),
        "redirect 302",
        {"kind": "redirect", "count": 3, "location": "https://login.example/verify?x=1"},
    ),
    (Fault.latency(0.25), "latency 250ms", {"kind": "latency", "count": 1, "delay": 0.25}),
    (Fault.latency(2, count=4), "latency 2000ms", {"kind": "latency", "count": 4, "delay": 2.0}),
]


@pytest.mark.parametrize(("fault", "label", "shown"), KINDS)
def test_new_kinds_describe_themselves_and_round_trip(
    fault: Fault, label: str, shown: dict[str, Any]
) -> None:
    assert fault.describe() == label
    assert fault.to_json() == shown
    assert Fault.from_json(shown) == fault
    assert Fault.from_json({**shown, "robot": "t"}) == fault


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"kind": "x5", "wait": -1}, "wait must be a whole number"),
        ({"kind": "x5", "wait": 1.5}, "wait must be a whole number"),
        ({"kind": "x5", "wait": True}, "wait must be a whole number"),
        ({"kind": "x5", "wait": "5"}, "wait must be a whole number"),
        ({"kind": "redirect", "location": "javascript:alert(1)"}, "location must be a path"),
        ({"kind": "redirect", "location": "/a\r\nSet-Cookie: x"}, "location must be a path"),
        ({"kind": "redirect", "location": "/a b"}, "location must be a path"),
        ({"kind": "redirect", "location": ""}, "location must be a path"),
        ({"kind": "redirect", "location": 5}, "location must be a string"),
        ({"kind": "latency"}, "a latency fault needs a delay between 0 and 600"),
        ({"kind": "latency", "delay": 601}, "between 0 and 600"),
        ({"kind": "latency", "delay": 10**400}, "between 0 and 600"),
        ({"kind": "latency", "delay": "1s"}, "delay must be a number"),
        ({"kind": "lag"}, "kind must be one of http, errcode, slow, drop, x5, redirect, latency"),
    ],
)
def test_bad_new_faults_are_errors(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Fault.from_json(data)


def test_toml_faults_take_the_new_kinds() -> None:
    settings = parse_fake_config(
        {
            "fake": {"faults": [{"kind": "x5", "wait": 7}, {"kind": "latency", "delay": 0.5}]},
            "robots": {"t": {"faults": [{"kind": "redirect", "location": "/login", "count": 2}]}},
        }
    )
    assert settings.faults == (Fault.x5(7), Fault.latency(0.5))
    assert settings.robots[0].faults == (Fault.redirect("/login", count=2),)


# -- through the engine -------------------------------------------------------------------


def test_x5_answers_the_gateways_json_without_an_errcode(fake: FakeDingTalk) -> None:
    fake.inject_fault(Fault.x5(7, count=2))
    for _ in range(2):
        outcome = send(fake)
        assert (outcome.status, outcome.content_type, outcome.headers) == (
            200,
            "application/json",
            (),
        )
        data = json.loads(outcome.body)
        assert "errcode" not in data
        assert {k: data[k] for k in ("status", "wait", "source", "punish")} == {
            "status": 1111,
            "wait": 7,
            "source": "x5",
            "punish": "deny",
        }
        assert isinstance(data["msg"], str)
        assert isinstance(data["uuid"], str)
        assert outcome.record is not None
        assert (outcome.record.status, outcome.record.errcode, outcome.record.fault) == (
            200,
            None,
            "x5 wait 7s",
        )
    assert json.loads(send(fake).body)["errcode"] == 0
    assert [r.ok for r in fake.messages()] == [False, False, True]


def test_redirect_answers_302_with_a_location_and_a_page(fake: FakeDingTalk) -> None:
    fake.inject_fault(Fault.redirect('/verify?next="<x>"'))
    outcome = send(fake)
    assert outcome.status == 302
    assert outcome.headers == (("location", '/verify?next="<x>"'),)
    assert outcome.content_type == "text/html"
    assert b"302 Found" in outcome.body
    assert b"&quot;&lt;x&gt;&quot;" in outcome.body  # the location is escaped in the page
    assert outcome.record is not None
    assert (outcome.record.status, outcome.record.errcode, outcome.record.fault) == (
        302,
        None,
        "redirect 302",
    )
    assert fake.messages()[-1].ok is False


# Which fault take_latency takes: only a latency fault that is the request's next one.
TAKE_CASES: list[tuple[str, list[tuple[str | None, Fault]], str, Fault | None]] = [
    # (case, faults injected as (robot, fault) in order, token of the request, taken)
    ("none", [], TOKEN, None),
    ("global latency", [(None, Fault.latency(1))], TOKEN, Fault.latency(1)),
    ("its own latency", [(TOKEN, Fault.latency(2))], TOKEN, Fault.latency(2)),
    ("another robot's", [("other", Fault.latency(1))], TOKEN, None),
    (
        "its own before the global",
        [(None, Fault.latency(1)), (TOKEN, Fault.latency(2))],
        TOKEN,
        Fault.latency(2),
    ),
    ("its own http first", [(TOKEN, Fault.http()), (None, Fault.latency(1))], TOKEN, None),
    ("a global busy first", [(None, Fault.busy()), (None, Fault.latency(1))], TOKEN, None),
    ("an unknown token, global", [(None, Fault.latency(3))], "nope", Fault.latency(3)),
]


@pytest.mark.parametrize(
    ("faults", "token", "taken"),
    [case[1:] for case in TAKE_CASES],
    ids=[case[0] for case in TAKE_CASES],
)
def test_take_latency_takes_only_the_next_fault_when_it_is_latency(
    faults: list[tuple[str | None, Fault]], token: str, taken: Fault | None
) -> None:
    fake = FakeDingTalk(FakeSettings(robots=(FakeRobot(TOKEN), FakeRobot("other"))))
    for robot, fault in faults:
        fake.inject_fault(fault, robot=robot)
    before = sum(left for _, _, left in fake.pending_faults())
    request = Incoming("POST", "/robot/send", f"access_token={token}", body=body(text("hi")))
    assert fake.take_latency(request, NOW) == taken
    after = sum(left for _, _, left in fake.pending_faults())
    assert before - after == (1 if taken is not None else 0)


def test_take_latency_follows_a_session_to_its_robot(fake: FakeDingTalk) -> None:
    fake.add_robot(FakeRobot(TOKEN))
    fake.inject_fault(Fault.latency(1), robot=TOKEN)
    session = fake.open_session(TOKEN, now=NOW, ttl=60)
    query = session.path.split("?", 1)[1]
    expired = Incoming("POST", "/robot/sendBySession", query, body=body(text("hi")))
    assert fake.take_latency(expired, NOW + 60) is None  # the session is gone by then
    assert fake.take_latency(expired, NOW + 1) == Fault.latency(1)
    assert fake.take_latency(Incoming("GET", "/elsewhere"), NOW) is None


def test_a_latency_fault_delivers_at_the_arrival_it_is_handled_at(fake: FakeDingTalk) -> None:
    fake.inject_fault(Fault.latency(0.25, count=2))
    fake.inject_fault(Fault.busy())
    request = Incoming("POST", "/robot/send", "access_token=t", body=body(text("late")))
    latency = fake.take_latency(request, NOW)
    assert latency == Fault.latency(0.25, count=2)
    outcome = fake.handle(request, NOW + 0.25, fault=latency)
    assert json.loads(outcome.body) == {"errcode": 0, "errmsg": "ok"}
    assert (outcome.delay, outcome.drop) == (0.0, False)
    assert outcome.record is not None
    assert (outcome.record.time, outcome.record.fault) == (NOW + 0.25, "latency 250ms")
    # Without take_latency first, handle takes it itself and handles the request at now.
    assert json.loads(send(fake, now=NOW + 1).body)["errcode"] == 0
    assert fake.messages()[-1].time == NOW + 1
    assert fake.messages()[-1].fault == "latency 250ms"
    # One fault per request: the busy fault is the next request's.
    assert json.loads(send(fake).body)["errcode"] == -1
    assert fake.pending_faults() == []


def test_a_latency_fault_counts_against_the_budget_at_the_late_arrival() -> None:
    fake = FakeDingTalk(
        FakeSettings(robots=(FakeRobot(TOKEN, rate_limit=dingwire.Rate(1, 10), lockout=0),))
    )
    fake.inject_fault(Fault.latency(5))
    request = Incoming("POST", "/robot/send", f"access_token={TOKEN}", body=body(text("a")))
    latency = fake.take_latency(request, NOW)
    fake.handle(request, NOW + 5, fault=latency)
    # The window counts from the arrival (NOW + 5), not from when the send started.
    assert json.loads(send(fake, now=NOW + 12).body)["errcode"] == 130101
    assert json.loads(send(fake, now=NOW + 15).body)["errcode"] == 0


# -- through the ASGI app, in this process: a client that gives up before arriving ---------


def run_app(app: Any, receive_after_body: Any) -> list[dict[str, Any]]:
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/robot/send",
        "query_string": b"access_token=t",
        "headers": [(b"content-type", b"application/json"), (b"host", b"fake.test:8765")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8765),
        "scheme": "http",
    }
    first = [True]

    async def receive() -> dict[str, Any]:
        if first[0]:
            first[0] = False
            return {"type": "http.request", "body": body(MESSAGE), "more_body": False}
        result: dict[str, Any] = await receive_after_body()
        return result

    sent: list[dict[str, Any]] = []

    async def send_(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send_))
    return sent


def test_the_app_waits_out_a_latency_fault_then_handles_at_the_arrival() -> None:
    app = create_app()  # the real clock
    app.fake.inject_fault(Fault.latency(0.05))

    async def never() -> dict[str, Any]:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    started = time.time()
    sent = run_app(app, never)
    assert sent[0]["status"] == 200
    assert json.loads(sent[1]["body"]) == {"errcode": 0, "errmsg": "ok"}
    (record,) = app.fake.messages()
    assert record.fault == "latency 50ms"
    assert started + 0.05 <= record.time <= time.time()  # the clock read after the wait


def test_a_client_that_hangs_up_during_the_latency_never_arrives() -> None:
    app = create_app()
    app.fake.inject_fault(Fault.latency(30))

    async def hang_up() -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"type": "http.disconnect"}

    started = time.monotonic()
    assert run_app(app, hang_up) == []  # no answer, and no 30 s wait
    assert time.monotonic() - started < 5
    assert app.fake.messages() == []
    assert app.fake.pending_faults() == []  # the fault was used up all the same


def test_the_app_makes_a_relative_location_absolute() -> None:
    app = create_app()
    app.fake.inject_fault(Fault.redirect("/verify?from=robot"))
    app.fake.inject_fault(Fault.redirect("https://login.example/x"))

    async def never() -> dict[str, Any]:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    for location in ("http://fake.test:8765/verify?from=robot", "https://login.example/x"):
        start = run_app(app, never)[0]
        assert start["status"] == 302
        assert (b"location", location.encode()) in start["headers"]
        assert (b"content-type", b"text/html") in start["headers"]


# -- through the ASGI app on a real port --------------------------------------------------


def test_x5_over_http(dingtalk_fake: FakeServer) -> None:
    ops = dingtalk_fake.add_robot()
    ops.inject_fault(Fault.x5(3))
    answer = requests.post(ops.webhook, json=MESSAGE, timeout=TIMEOUT)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json()["wait"] == 3
    assert "errcode" not in answer.json()
    ops.inject_fault(Fault.x5(2))
    with pytest.raises(dingwire.GatewayThrottledError) as caught:
        ops.client(retry=ONCE).send(dingwire.Text("x5"))
    assert caught.value.retry_after == 2
    assert ops.delivered() == []
    assert [r.fault for r in ops.messages()] == ["x5 wait 3s", "x5 wait 2s"]


def test_redirect_over_http(dingtalk_fake: FakeServer) -> None:
    ops = dingtalk_fake.add_robot()
    ops.inject_fault(Fault.redirect(count=2))
    answer = requests.post(ops.webhook, json=MESSAGE, timeout=TIMEOUT, allow_redirects=False)
    assert answer.status_code == 302
    assert answer.headers["location"] == f"{dingtalk_fake.url}/verify"
    assert answer.headers["content-type"].startswith("text/html")
    assert "302 Found" in answer.text
    followed = requests.post(ops.webhook, json=MESSAGE, timeout=TIMEOUT)  # requests follows
    assert followed.status_code == 200
    assert followed.url == f"{dingtalk_fake.url}/verify"
    assert "Verification required" in followed.text
    ops.inject_fault(Fault.redirect())
    with pytest.raises(dingwire.GatewayThrottledError) as caught:
        ops.client(retry=ONCE).send(dingwire.Text("redirected"))
    assert caught.value.status == 302
    assert ops.delivered() == []
    assert [r.status for r in ops.messages()] == [302, 302, 302]


def test_latency_over_http_shifts_the_arrival_time(dingtalk_fake: FakeServer) -> None:
    ops = dingtalk_fake.add_robot()
    ops.inject_fault(Fault.latency(0.3))
    started = time.time()
    assert ops.client().send(dingwire.Text("late")).errcode == 0
    replied = time.time()
    (record,) = ops.delivered()
    assert started + 0.3 <= record.time <= replied
    assert record.fault == "latency 300ms"


def test_latency_does_not_block_the_event_loop(dingtalk_fake: FakeServer) -> None:
    ops = dingtalk_fake.add_robot()
    ops.inject_fault(Fault.latency(3))
    answers: list[int] = []
    late = threading.Thread(
        target=lambda: answers.append(
            requests.post(ops.webhook, json=MESSAGE, timeout=TIMEOUT).json()["errcode"]
        )
    )
    started_late = time.time()
    late.start()
    wait_until(lambda: dingtalk_fake.fake.pending_faults() == [])  # the late one is waiting
    started = time.monotonic()
    quick = requests.post(ops.webhook, json=MESSAGE, timeout=TIMEOUT)
    assert quick.json()["errcode"] == 0
    assert time.monotonic() - started < 2.5  # answered while the other one is still late
    late.join(TIMEOUT)
    assert answers == [0]
    first, second = ops.delivered()
    assert first.fault is None
    assert second.fault == "latency 3000ms"
    assert second.time >= started_late + 3 > first.time


def test_the_fault_api_takes_the_new_kinds(dingtalk_fake: FakeServer) -> None:
    dingtalk_fake.add_robot("ops-token", name="ops")
    url = f"{dingtalk_fake.url}/api/faults"
    for fault in (
        {"kind": "x5", "wait": 9},
        {"kind": "redirect", "location": "https://login.example/v"},
        {"robot": "ops-token", "kind": "latency", "delay": 0.01, "count": 2},
    ):
        assert requests.post(url, json=fault, timeout=TIMEOUT).status_code == 201
    assert requests.get(url, timeout=TIMEOUT).json()["faults"] == [
        {"robot": None, "kind": "x5", "count": 1, "wait": 9, "remaining": 1},
        {
            "robot": None,
            "kind": "redirect",
            "count": 1,
            "location": "https://login.example/v",
            "remaining": 1,
        },
        {"robot": "ops", "kind": "latency", "count": 2, "delay": 0.01, "remaining": 2},
    ]
    for bad in ({"kind": "x5", "wait": -2}, {"kind": "redirect", "location": "ftp://x"}):
        assert requests.post(url, json=bad, timeout=TIMEOUT).status_code == 400


# -- through the in-process transports ----------------------------------------------------


def test_in_process_latency_shifts_the_arrival_time() -> None:
    clock = Clock()
    fake = InProcessFake(clock=clock, sleep=clock.sleep, async_sleep=clock.async_sleep)
    ops = fake.add_robot(secret=True)
    ops.inject_fault(Fault.latency(2.5))
    assert ops.client().send(dingwire.Text("late")).errcode == 0
    (record,) = ops.delivered()
    assert record.time == NOW + 2.5
    assert record.fault == "latency 2500ms"
    assert clock.slept == [2.5]


def test_async_in_process_latency_shifts_the_arrival_time() -> None:
    clock = Clock()
    fake = InProcessFake(clock=clock, sleep=clock.sleep, async_sleep=clock.async_sleep)
    ops = fake.add_robot()
    ops.inject_fault(Fault.latency(1.5))

    async def main() -> None:
        async with ops.async_client() as robot:
            assert (await robot.send(dingwire.Text("late"))).errcode == 0

    asyncio.run(main())
    assert [r.time for r in ops.delivered()] == [NOW + 1.5]
    assert clock.slept == [1.5]


def test_in_process_latency_past_the_timeout_never_arrives() -> None:
    clock = Clock()
    fake = InProcessFake(clock=clock, sleep=clock.sleep, async_sleep=clock.async_sleep)
    ops = fake.add_robot()
    ops.inject_fault(Fault.latency(10, count=2))
    with pytest.raises(dingwire.RequestTimeoutError):
        ops.client(timeout=2, retry=ONCE).send(dingwire.Text("too late"))

    async def main() -> None:
        async with ops.async_client(timeout=3, retry=ONCE) as robot:
            with pytest.raises(dingwire.RequestTimeoutError):
                await robot.send(dingwire.Text("too late"))

    asyncio.run(main())
    assert clock.slept == [2, 3]  # each waited out its own timeout, not the latency
    assert ops.messages() == []
    assert fake.fake.pending_faults() == []


def request_for(token: str = "t") -> Request:
    return Request(f"http://fake.invalid/robot/send?access_token={token}", body(MESSAGE))


@pytest.mark.parametrize(
    ("fault", "status", "start"),
    [
        (Fault.x5(4), 200, b'{"status":1111,"wait":4,'),
        (Fault.redirect(), 302, b"<html><head><title>302 Found"),
    ],
)
def test_in_process_transports_carry_x5_and_redirects(
    fault: Fault, status: int, start: bytes
) -> None:
    fake = FakeDingTalk()
    fake.inject_fault(fault, robot="t")
    reply = InProcessTransport(fake).handle(request_for(), timeout=5)
    assert (reply.status, reply.body[: len(start)]) == (status, start)
    fake.inject_fault(fault, robot="t")
    reply = asyncio.run(AsyncInProcessTransport(fake).handle(request_for(), timeout=5))
    assert (reply.status, reply.body[: len(start)]) == (status, start)
    assert [r.ok for r in fake.messages()] == [False, False]


def test_in_process_clients_see_the_gateway(dingtalk_fake_inprocess: InProcessFake) -> None:
    ops = dingtalk_fake_inprocess.add_robot()
    ops.inject_fault(Fault.x5(0))
    with pytest.raises(dingwire.GatewayThrottledError) as caught:
        ops.client(retry=ONCE).send(dingwire.Text("x5"))
    assert caught.value.retry_after == 0
    ops.inject_fault(Fault.redirect())
    with pytest.raises(dingwire.GatewayThrottledError):
        ops.client(retry=ONCE).send(dingwire.Text("302"))
    assert ops.delivered() == []
    assert ops.client().send(dingwire.Text("then fine")).errcode == 0
