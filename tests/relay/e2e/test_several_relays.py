"""Several relays on one Redis (``queue`` and ``[budget] store``), judged at the fake DingTalk
by arrival times, never by what the relays count:

- three relays, alerts posted round-robin for two robots with budgets shortened to 20 per 3 s
  (the fake counts the same): never a 130101, never more than 20 in any 3 s per robot across
  all three, every alert delivered; a notification posted to two relays is stored once;
- ``kill -9`` of the one holding claims in the middle of a storm: the others deliver what it
  held once its lease runs out, nothing lost;
- Redis (its own, ``appendfsync always``, a password) killed and started again in the middle:
  ``503`` with ``Retry-After`` while it is away, the relays recover by themselves, everything
  answered ``202`` is delivered; the password is in no log and no ``/metrics``. The relays
  leave ``on_store_error`` to its default for a relay, ``"fail"`` (with ``"local"`` each
  counts alone for a moment after Redis is back, and together they can go over the budget).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import requests

from dingwire.relay.outbox.redis import RedisOutbox
from tests.redis_server import RedisServer
from tests.relay.e2e.conftest import FakeFactory, RelayFactory
from tests.relay.e2e.harness import (
    FakeProcess,
    FakeRobot,
    RelayProcess,
    RelayRobot,
    alert,
    metric_total,
    missing,
    most_in_window,
    notification,
    shown_text,
    wait_until,
)

pytestmark = pytest.mark.slow

TOKENS = {
    "alpha": "e2e" + "a" * 57 + "3e1a",
    "beta": "e2e" + "b" * 57 + "3e1b",
}
BUDGET = "20/3s"


def payloads(robot: str, prefix: str, alerts: int, per_payload: int) -> list[dict[str, Any]]:
    """``alerts`` alerts for ``robot``, ``per_payload`` to a notification, each its own group."""
    out = []
    for start in range(0, alerts, per_payload):
        names = [f"{prefix}{i:04d}" for i in range(start, min(alerts, start + per_payload))]
        group = {"job": f"{prefix.lower()}-{start}"}
        out.append(
            notification(
                [alert(n, severity="warning", extra_labels=group) for n in names], group=group
            )
        )
    return out


def names_of(sent: Sequence[dict[str, Any]]) -> set[str]:
    return {a["labels"]["alertname"] for p in sent for a in p["alerts"]}


def start_fleet(
    tmp_path: Path,
    start_fake: FakeFactory,
    start_relay: RelayFactory,
    url: str,
    *,
    relays: int = 3,
    lease: str = "5s",
    budget: dict[str, Any] | None = None,
    lockout: str = "60s",
) -> tuple[FakeProcess, list[RelayProcess]]:
    """The fake with both robots, and ``relays`` relays sharing ``url`` for their queue and
    their budgets, each in a directory of its own (as on hosts of their own)."""
    fake = start_fake(
        [
            FakeRobot(token, rate_limit=BUDGET, lockout=lockout, name=n)
            for n, token in TOKENS.items()
        ]
    )
    robots = [
        RelayRobot(n, token, rate_limit=BUDGET, lockout=lockout) for n, token in TOKENS.items()
    ]
    fleet = [
        start_relay(
            fake,
            robots,
            relay={"queue": url, "lease": lease},
            budget_store=url,
            budget=budget,
            name=f"relay{k}",
            workdir=tmp_path / f"relay{k}",
        )
        for k in range(relays)
    ]
    return fake, fleet


def post_round_robin(
    fleet: Sequence[RelayProcess], jobs: Sequence[tuple[str, dict[str, Any]]], posters: int
) -> list[str]:
    """Post ``(robot, payload)`` jobs, the n-th to relay n mod len(fleet), from ``posters``
    clients at once; every answer must be 202. The ids."""
    ids: list[str] = []
    lock = threading.Lock()
    failures: list[str] = []

    def work(k: int) -> None:
        sessions = [requests.Session() for _ in fleet]
        try:
            for n in range(k, len(jobs), posters):
                robot, payload = jobs[n]
                relay = fleet[n % len(fleet)]
                reply = relay.post(
                    f"/v1/robots/{robot}/alertmanager", payload, session=sessions[n % len(fleet)]
                )
                with lock:
                    if reply.status_code != 202:
                        failures.append(f"{relay.process.name}: {reply.status_code} {reply.text}")
                    else:
                        ids.append(reply.json()["id"])
        finally:
            for session in sessions:
                session.close()

    threads = [threading.Thread(target=work, args=(k,)) for k in range(posters)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    return ids


def interleave(*lists: Sequence[dict[str, Any]], robots: Sequence[str]) -> list[tuple[str, Any]]:
    jobs = []
    for row in zip(*lists, strict=True):
        jobs += list(zip(robots, row, strict=True))
    return jobs


def never_over_the_budget(fake: FakeProcess) -> None:
    for robot, token in TOKENS.items():
        calls = fake.messages(token)
        assert [m["errcode"] for m in calls if m["errcode"] != 0] == [], robot  # never a 130101
        assert most_in_window([m["time"] for m in calls], 3.0) <= 20, robot


def test_three_relays_on_one_redis_share_the_queue_and_each_robots_budget(
    tmp_path: Path, start_fake: FakeFactory, start_relay: RelayFactory, redis_url: str
) -> None:
    fake, fleet = start_fleet(tmp_path, start_fake, start_relay, redis_url)
    alpha = payloads("alpha", "Alpha", 300, 2)
    beta = payloads("beta", "Beta", 300, 2)
    began = time.time()
    ids = post_round_robin(fleet, interleave(alpha, beta, robots=("alpha", "beta")), posters=6)
    assert len(set(ids)) == 300

    fake.wait_for_names(TOKENS["alpha"], names_of(alpha), timeout=60)
    fake.wait_for_names(TOKENS["beta"], names_of(beta), timeout=60)
    never_over_the_budget(fake)
    # The relays sent between them: every record sent, whichever relay took it in.
    outbox = RedisOutbox(redis_url)
    try:
        wait_until(
            lambda: (
                outbox.counts().get("alpha", {}).get("sent") == 150
                and outbox.counts().get("beta", {}).get("sent") == 150
            ),
            timeout=30,
            what="every record marked sent",
        )
    finally:
        outbox.close()
    sent = [metric_total(r.metrics(), "dingwire_relay_sent_total") for r in fleet]
    assert sum(sent) >= 2, sent
    assert sum(1 for n in sent if n > 0) >= 2, f"one relay did all the sending: {sent}"
    elapsed = time.time() - began
    print(f"600 alerts through 3 relays in {elapsed:.1f}s; messages per relay: {sent}")

    # A notification posted to two relays (two Alertmanager replicas) is stored once.
    twin = payloads("alpha", "Twin", 1, 1)[0]
    first = fleet[0].post("/v1/robots/alpha/alertmanager", twin)
    second = fleet[1].post("/v1/robots/alpha/alertmanager", twin)
    assert (first.status_code, second.status_code) == (202, 202)
    assert second.json()["id"] == first.json()["id"]
    assert second.json().get("duplicate") is True
    fake.wait_for_names(TOKENS["alpha"], ["Twin0000"], timeout=30)
    carrying = [m for m in fake.delivered(TOKENS["alpha"]) if "Twin0000" in shown_text(m)]
    assert len(carrying) == 1


def test_kill_9_of_a_relay_holding_claims_loses_nothing(
    tmp_path: Path, start_fake: FakeFactory, start_relay: RelayFactory, redis_url: str
) -> None:
    fake, fleet = start_fleet(tmp_path, start_fake, start_relay, redis_url, lease="3s")
    # Sends answered 2 s late: a relay holds its claims while it waits.
    for token in TOKENS.values():
        fake.inject_fault(token, kind="slow", delay=2, count=4)
    alpha = payloads("alpha", "Kalpha", 200, 2)
    beta = payloads("beta", "Kbeta", 200, 2)
    jobs = interleave(alpha, beta, robots=("alpha", "beta"))
    post_round_robin(fleet, jobs[:100], posters=4)

    outbox = RedisOutbox(redis_url)
    try:

        def holder() -> tuple[RelayProcess, list[str]] | None:
            sending = outbox.list(state="sending", limit=1000)
            for relay in fleet:
                mine = [r.id for r in sending if r.owner and f":{relay.pid}:" in r.owner]
                if mine:
                    return relay, mine
            return None

        victim, _ = wait_until(holder, timeout=30, what="a relay holding claims")
        victim.kill9()
        # What it held when it died: sending, its lease not yet over, never to be acked.
        mine = f":{victim.pid}:"
        held = [r for r in outbox.list(state="sending", limit=1000) if r.owner and mine in r.owner]
        assert held, "the relay acked everything before it died: the test proved nothing"
        survivors = [r for r in fleet if r is not victim]
        post_round_robin(survivors, jobs[100:], posters=4)  # the storm goes on

        for robot, sent in (("alpha", alpha), ("beta", beta)):
            fake.wait_for_names(TOKENS[robot], names_of(sent), timeout=60)
        # The others took each held record once its lease had run out, and sent it.
        wait_until(
            lambda: all(
                (r := outbox.get(record.id)) is not None and r.state == "sent" for record in held
            ),
            timeout=30,
            what="every record the dead relay held marked sent",
        )
        for record in held:
            assert record.lease_until is not None
            # Stored as received (rendered when sent): its alerts are in its payload.
            assert record.message.payload is not None
            names = names_of([json.loads(record.message.payload)])
            assert names
            for name in names:
                token = TOKENS[record.message.robot]
                again = [
                    m
                    for m in fake.delivered(token)
                    if name in shown_text(m) and m["time"] >= record.lease_until - 0.01
                ]
                assert again, f"{name} was not sent again after its lease"
        never_over_the_budget(fake)
    finally:
        outbox.close()


def test_redis_killed_and_started_again_503_then_recovery_nothing_answered_lost(
    tmp_path: Path, start_fake: FakeFactory, start_relay: RelayFactory
) -> None:
    password = "r3dis-pass-e2e"
    server = RedisServer(tmp_path / "redis", password=password).start()  # appendfsync always
    try:
        fake, fleet = start_fleet(
            tmp_path,
            start_fake,
            start_relay,
            server.url,
            relays=2,  # on_store_error left to the relay's default: "fail"
        )
        accepted: list[str] = []
        refused: list[requests.Response] = []
        lock = threading.Lock()
        stop = threading.Event()

        def poster(k: int) -> None:
            with requests.Session() as session:
                i = 0
                while not stop.is_set():
                    name = f"Outage{k}x{i:04d}"
                    robot = ("alpha", "beta")[i % 2]
                    payload = notification([alert(name)], group={"alertname": name})
                    reply = fleet[(k + i) % 2].post(
                        f"/v1/robots/{robot}/alertmanager", payload, session=session
                    )
                    i += 1
                    with lock:
                        if reply.status_code == 202:
                            accepted.append(name)
                        else:
                            refused.append(reply)
                    if reply.status_code != 202:
                        time.sleep(0.05)

        threads = [threading.Thread(target=poster, args=(k,)) for k in range(4)]
        for thread in threads:
            thread.start()
        try:
            wait_until(lambda: len(accepted) >= 100, timeout=30, what="100 alerts accepted")
            server.kill()
            wait_until(lambda: len(refused) >= 20, timeout=30, what="503s while Redis is away")
            for relay in fleet:
                assert relay.session.get(f"{relay.url}/readyz", timeout=10).status_code == 503
            count = len(accepted)
            server.start()  # the same port, the same append-only file
            wait_until(
                lambda: len(accepted) >= count + 100, timeout=30, what="202s once Redis is back"
            )
        finally:
            stop.set()
            for thread in threads:
                thread.join(30)
        assert {r.status_code for r in refused} == {503}, {r.status_code for r in refused}
        assert all(float(r.headers["Retry-After"]) > 0 for r in refused)
        for relay in fleet:
            assert relay.process.alive
            assert relay.session.get(f"{relay.url}/readyz", timeout=10).status_code == 200

        by_robot: dict[str, set[str]] = {"alpha": set(), "beta": set()}
        for name in accepted:
            i = int(name.split("x")[1])
            by_robot[("alpha", "beta")[i % 2]].add(name)
        for robot, names in by_robot.items():
            got = fake.wait_for_names(TOKENS[robot], names, timeout=60)
            assert not missing(got, names)
        never_over_the_budget(fake)
        for relay in fleet:
            assert password not in relay.metrics()
            assert password not in relay.output()
    finally:
        server.stop()
