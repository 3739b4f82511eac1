"""Helpers for the dispatcher tests: messages, a dispatcher wired to an in-process fake,
and a clock the test moves."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dingwire.config import Config
from dingwire.fake import InProcessFake
from dingwire.fake.log import Record as FakeRecord
from dingwire.relay.dispatcher import Dispatcher
from dingwire.relay.metrics import RelayMetrics
from dingwire.relay.model import DigestLine, Kind, Outgoing
from dingwire.relay.outbox import MemoryOutbox
from dingwire.relay.settings import RelaySettings
from dingwire.transport.robots import AsyncRobot

START = 1_800_000_000.0  # a period boundary of 5 min (divisible by 300)


class Clock:
    """A clock the test moves; ``async_sleep`` moves it too (for the fake's waits)."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


def alert_message(
    n: int,
    *,
    alerts: int = 4,
    robot: str = "ops",
    priority: int = 1,
    received: float | None = None,
    status: str = "firing",
) -> Outgoing:
    """A notification of ``alerts`` alerts named ``A{n}x{j}``, as the renderer would make it."""
    names = [f"A{n}x{j}" for j in range(alerts)]
    mark = "🔥 **FIRING**" if status == "firing" else "✅ **RESOLVED**"
    lines = tuple(
        DigestLine(status, f"Alert{j % 3}", f"{mark} {name} · instance=web-{n} — p99 above 2s")
        for j, name in enumerate(names)
    )
    text = "\n\n".join(line.text for line in lines)
    body = {
        "msgtype": "markdown",
        "markdown": {"title": f"[{status.upper()}:{alerts}] notification {n}", "text": text},
    }
    return Outgoing(
        robot,
        body,
        "markdown",
        lines,
        priority=priority,
        source="alertmanager",
        received=time.time() if received is None else received,
    )


def card_message(n: int, *, robot: str = "ops", priority: int = 1) -> Outgoing:
    body = {
        "msgtype": "actionCard",
        "actionCard": {
            "title": f"card {n}",
            "text": f"card C{n} text",
            "singleTitle": "open",
            "singleURL": "https://example.com/",
        },
    }
    kind: Kind = "card"
    return Outgoing(robot, body, kind, (DigestLine("", f"card {n}", f"card C{n}"),), priority)


def arrived_text(record: FakeRecord) -> str:
    """Everything readable in what arrived (title and text)."""
    payload: Any = record.payload or {}
    obj = payload.get(payload.get("msgtype"), {})
    return " ".join(str(obj.get(k, "")) for k in ("title", "text", "content"))


def max_in_window(times: Sequence[float], window: float) -> int:
    """The most arrivals in any ``window`` seconds (sliding, as DingTalk may count)."""
    ordered = sorted(times)
    best = j = 0
    for i, t in enumerate(ordered):
        while ordered[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


@dataclass
class Rig:
    """A dispatcher, its outbox and metrics, and the fake robot it sends to."""

    fake: Any
    ops: Any
    robot: AsyncRobot
    outbox: Any
    metrics: RelayMetrics
    dispatcher: Dispatcher
    clock: Callable[[], float]
    ids: list[str] = field(default_factory=list)

    def enqueue(self, messages: Sequence[Outgoing]) -> list[str]:
        got = [e.id for e in self.outbox.enqueue(messages, now=self.clock(), dedupe_window=300)]
        self.ids.extend(got)
        return got

    def states(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for rid in self.ids:
            record = self.outbox.get(rid)
            assert record is not None
            out[record.state] = out.get(record.state, 0) + 1
        return out


def make_rig(
    *,
    clock: Clock | None = None,
    rate: str = "20/3s",
    fake_rate: str | None = None,
    quota: str | None = None,
    fake_quota: str | None = None,
    keywords: Sequence[str] = (),
    robot_keywords: Sequence[str] | None = None,
    settings: RelaySettings | None = None,
    fake: Any = None,
    secret: bool = False,
    outbox: Any = None,
    renderer: Any = None,
    **robot_options: Any,
) -> Rig:
    if fake is not None:
        pass  # a FakeServer on a real port, say
    elif clock is not None:
        fake = InProcessFake(clock=clock, async_sleep=clock.async_sleep)
    else:
        fake = InProcessFake()
    org = None
    if quota is not None or fake_quota is not None:
        fake.add_org("acme", quota=fake_quota or quota)
        org = "acme"
    ops = fake.add_robot(
        name="ops",
        rate_limit=fake_rate or rate,
        keywords=keywords,
        org=org,
        lockout="60s",
        secret=secret,
    )
    options: dict[str, Any] = {"rate_limit": rate, "lockout": "60s", **robot_options}
    if org is not None:
        options["org"] = org
        if quota is not None:
            options["quota"] = quota
    kws = keywords if robot_keywords is None else robot_keywords
    robot = ops.async_client(keywords=list(kws), **options)
    outbox = outbox if outbox is not None else MemoryOutbox()
    metrics = RelayMetrics()
    settings = settings or RelaySettings(queue="memory://")
    dispatcher = Dispatcher(
        settings,
        Config(),
        outbox,
        metrics,
        owner="test",
        robot_factory=lambda name: robot,
        clock=clock or time.time,
        renderer=renderer,
    )
    return Rig(fake, ops, robot, outbox, metrics, dispatcher, clock or time.time)


async def drive(
    rig: Rig, clock: Clock, *, until: Callable[[], bool], limit: float = 3600.0, tick: float = 0.5
) -> None:
    """Run rounds on the test's clock: each round, then time moves to its next round (by at
    most ``tick`` unless the round was held), until ``until()`` or until ``limit`` seconds
    have passed (time never moves past that)."""
    end = clock.now + limit
    while not until() and clock.now < end:
        result = await rig.dispatcher.step("ops")
        if result.next_at is None:
            target = clock.now + tick
        elif result.mode == "held":
            target = result.next_at
        else:
            target = min(result.next_at, clock.now + tick)
        clock.now = min(max(target, clock.now), end)
