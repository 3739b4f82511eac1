"""Notifications the intake stored unrendered: the dispatcher renders what it sends, and only
that; a payload it cannot render is dead with the reason; a reload renders what is queued
with the new templates."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any

from dingwire.config import Config
from dingwire.relay.dispatcher import CLAIM_LIMIT, MIN_CLAIM, Round, _next_claim
from dingwire.relay.model import Outgoing
from dingwire.relay.outbox import MemoryOutbox
from dingwire.relay.render import Renderer
from dingwire.relay.settings import RelaySettings

from .rig import START, Clock, arrived_text, drive, make_rig


def notification(n: int, alerts: int = 4, severity: str = "warning") -> dict[str, Any]:
    """An Alertmanager notification of ``alerts`` alerts named ``D{n}x{j}``."""
    return {
        "version": "4",
        "groupKey": f'{{}}:{{job="d{n}"}}',
        "status": "firing",
        "receiver": "dingwire",
        "groupLabels": {"job": f"d{n}"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": f"D{n}x{j}", "severity": severity, "job": f"d{n}"},
                "annotations": {"summary": f"disk {j} of d{n} almost full"},
                "startsAt": "2026-12-01T10:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "",
                "fingerprint": f"{n:08x}{j:08x}",
            }
            for j in range(alerts)
        ],
    }


class CountingRenderer:
    """The real renderer, counting what it is asked to complete."""

    def __init__(self, renderer: Renderer) -> None:
        self.renderer = renderer
        self.completed = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.renderer, name)

    def complete(self, message: Outgoing) -> Outgoing:
        self.completed += 1
        return self.renderer.complete(message)


def renderer() -> Renderer:
    return Renderer.load(RelaySettings(queue="memory://"), Config())


def stored(render: Renderer, n: int, **kwargs: Any) -> Outgoing:
    data = notification(n, **kwargs)
    return render.alertmanager("ops", data, now=START, raw=json.dumps(data))


def test_a_notification_stored_unrendered_arrives_rendered() -> None:
    render = renderer()
    clock = Clock()
    rig = make_rig(clock=clock, renderer=render)
    message = stored(render, 1)
    assert not message.rendered
    (rid,) = rig.enqueue([message])

    asyncio.run(rig.dispatcher.step("ops"))

    (arrived,) = rig.ops.delivered()
    expected = render.alertmanager("ops", notification(1), now=START)
    assert arrived.payload["markdown"] == expected.body["markdown"]
    record = rig.outbox.get(rid)
    assert record.state == "sent"
    assert json.loads(record.message.payload) == notification(1)  # kept as received


def test_without_a_renderer_given_the_dispatcher_loads_one() -> None:
    clock = Clock()
    rig = make_rig(clock=clock)
    rig.enqueue([stored(renderer(), 2)])
    asyncio.run(rig.dispatcher.step("ops"))
    (arrived,) = rig.ops.delivered()
    assert "D2x0" in arrived_text(arrived)


def test_a_payload_that_cannot_be_rendered_is_dead_with_the_reason() -> None:
    render = renderer()
    clock = Clock()
    rig = make_rig(clock=clock, renderer=render)
    good = stored(render, 3)
    bad = replace(good, payload='{"alerts": 1}', dedupe_key="another")
    bad_id, good_id = rig.enqueue([bad, good])

    asyncio.run(rig.dispatcher.step("ops"))

    dead = rig.outbox.get(bad_id)
    assert dead.state == "dead"
    assert "cannot be rendered" in dead.error
    assert "alerts" in dead.error
    assert dead.attempts == 0  # never sent
    assert rig.outbox.get(good_id).state == "sent"
    (arrived,) = rig.ops.delivered()
    assert all(f"D3x{j}" in arrived_text(arrived) for j in range(4))


def test_a_backlog_round_renders_what_its_digests_carry_not_the_whole_backlog() -> None:
    counting = CountingRenderer(renderer())
    clock = Clock()
    rig = make_rig(clock=clock, rate="4/3s", renderer=counting)
    rig.enqueue([stored(counting.renderer, n) for n in range(1500)])

    first = asyncio.run(rig.dispatcher.step("ops"))

    assert first.mode == "backlog"
    assert first.records > 0
    # It rendered what it sent (what filled the digests it had room for) and one more
    # (the first of a digest it had no room for), not the 1,500 it claimed.
    assert counting.completed == first.records + 1
    waiting = [rig.outbox.get(rid) for rid in rig.ids]
    queued = [r for r in waiting if r.state == "queued"]
    assert len(queued) == 1500 - first.records
    assert all(r.message.payload is not None for r in queued)  # given back as received

    # Every alert still arrives, within the budget, each notification rendered about once.
    asyncio.run(drive(rig, clock, until=lambda: rig.states() == {"sent": 1500}))
    text = " ".join(arrived_text(r) for r in rig.ops.delivered())
    assert all(f"D{n}x3" in text for n in range(1500))
    assert counting.completed < 1500 * 1.1


def test_a_reload_renders_what_is_queued_with_the_new_renderer() -> None:
    clock = Clock()
    old = renderer()
    rig = make_rig(clock=clock, renderer=old)
    rig.enqueue([stored(old, 4)])

    class New:
        def complete(self, message: Outgoing) -> Outgoing:
            done = old.complete(message)
            body = {"msgtype": "markdown", "markdown": {"title": "new", "text": "NEW TEMPLATE"}}
            return replace(done, body=body)

    rig.dispatcher.reconfigure(rig.dispatcher.settings, rig.dispatcher.config, New())  # type: ignore[arg-type]
    asyncio.run(rig.dispatcher.step("ops"))
    (arrived,) = rig.ops.delivered()
    assert "NEW TEMPLATE" in arrived_text(arrived)


# -- how much a round claims -------------------------------------------------------------


def test_the_claim_follows_what_the_rounds_send() -> None:
    assert _next_claim(CLAIM_LIMIT, 2000, Round("backlog", 1, 130)) == 260
    assert _next_claim(260, 260, Round("backlog", 1, 40)) == MIN_CLAIM
    # everything it claimed went: it could have sent more
    assert _next_claim(MIN_CLAIM, MIN_CLAIM, Round("idle", 200, 200)) == 4 * MIN_CLAIM
    assert _next_claim(1000, 1000, Round("backlog", 10, 1000)) == CLAIM_LIMIT
    # a trickle, all sent
    assert _next_claim(800, 3, Round("idle", 3, 3)) == MIN_CLAIM
    # held back, or nothing there: no news
    assert _next_claim(800, 800, Round("held", reason="budget")) == 800


class ClaimSpy(MemoryOutbox):
    def __init__(self) -> None:
        super().__init__()
        self.claims: list[tuple[int, int]] = []  # (limit, claimed)

    def claim(self, robot: str, *, now: float, owner: str, lease: float, limit: int) -> Any:
        got = super().claim(robot, now=now, owner=owner, lease=lease, limit=limit)
        self.claims.append((limit, len(got)))
        return got


def test_a_long_backlog_is_claimed_a_little_more_than_sent_each_round() -> None:
    render = renderer()
    clock = Clock()
    outbox = ClaimSpy()
    rig = make_rig(clock=clock, rate="4/3s", renderer=render, outbox=outbox)
    rig.enqueue([stored(render, n) for n in range(3000)])

    asyncio.run(drive(rig, clock, until=lambda: rig.states() == {"sent": 3000}))

    text = " ".join(arrived_text(r) for r in rig.ops.delivered())
    assert all(f"D{n}x3" in text for n in range(3000))
    assert outbox.claims[0] == (CLAIM_LIMIT, CLAIM_LIMIT)
    # Then each round claims about twice what a round sends (a digest of some 36
    # notifications here), not 2,000 to give 1,964 back.
    assert {limit for limit, _ in outbox.claims[1:]} == {MIN_CLAIM}
