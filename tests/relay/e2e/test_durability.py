"""Nothing answered 202 is lost: not by a ``kill -9`` in the middle of a burst, not by DingTalk
failing every way it fails, and a notification sent twice (HA replicas) is delivered once."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from tests.relay.e2e.conftest import FakeFactory, RelayFactory
from tests.relay.e2e.harness import (
    FakeRobot,
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

CRASH_TOKEN = "e2e" + "d" * 57 + "c4a5"
OUTAGE_TOKEN = "e2e" + "e" * 57 + "0a7e"
DEDUPE_TOKEN = "e2e" + "f" * 57 + "d0be"


def single(name: str, **options: Any) -> dict[str, Any]:
    """A notification of one alert, its own group."""
    return notification([alert(name, **options)], group={"alertname": name})


def test_kill_9_in_the_middle_of_a_burst_loses_nothing_answered_202(
    start_fake: FakeFactory, start_relay: RelayFactory
) -> None:
    # Two sends per 3 s: most of the burst is still queued when the relay dies.
    fake = start_fake([FakeRobot(CRASH_TOKEN, rate_limit="2/3s", lockout="60s", name="crash")])
    relay = start_relay(fake, [RelayRobot("crash", CRASH_TOKEN, rate_limit="2/3s")])
    accepted: list[str] = []  # alert names answered 202
    errors: list[str] = []
    lock = threading.Lock()
    killed = threading.Event()

    def poster(k: int) -> None:
        with requests.Session() as session:
            for i in range(1000):
                name = f"Crash{k}x{i:03d}"
                try:
                    reply = relay.post(
                        "/v1/robots/crash/alertmanager", single(name), session=session
                    )
                except requests.RequestException as error:
                    if not killed.is_set():
                        errors.append(f"before the kill: {error}")
                    return  # the relay is gone: this one was never answered 202
                with lock:
                    if reply.status_code == 202:
                        accepted.append(name)
                    elif not killed.is_set():
                        errors.append(f"{reply.status_code} {reply.text}")

    threads = [threading.Thread(target=poster, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    wait_until(lambda: len(accepted) >= 120, timeout=30, what="120 alerts accepted")
    killed.set()
    relay.kill9()
    for thread in threads:
        thread.join(30)
    assert errors == []
    at_kill = set(accepted)
    queued = missing(fake.delivered("crash"), at_kill)
    assert queued, "everything was delivered before the kill: the test proved nothing"

    relay.start()  # the same outbox, budget store and port
    fake.wait_for_names("crash", at_kill, timeout=60)
    times = [m["time"] for m in fake.delivered("crash")]
    assert most_in_window(times, 3.0) <= 2  # the budget survived the crash too
    assert [m["errcode"] for m in fake.messages("crash") if m["errcode"] != 0] == []


def test_an_outage_of_every_kind_loses_nothing_and_delivery_resumes_by_itself(
    start_fake: FakeFactory, start_relay: RelayFactory
) -> None:
    fake = start_fake([FakeRobot(OUTAGE_TOKEN, rate_limit="20/3s", name="outage")])
    relay = start_relay(fake, [RelayRobot("outage", OUTAGE_TOKEN, rate_limit="20/3s")])
    # DingTalk down, as it goes down: a gateway's 503, errcode -1 (busy), connections
    # closed without an answer, then the gateway's x5 anti-abuse answer.
    faults = [
        {"kind": "http", "status": 503, "count": 2},
        {"kind": "errcode", "errcode": -1, "count": 1},
        {"kind": "drop", "count": 1},
        {"kind": "x5", "wait": 1, "count": 1},
    ]
    for fault in faults:
        fake.inject_fault(OUTAGE_TOKEN, **fault)
    names = [f"Outage{i}" for i in range(6)]
    ids = []
    for name in names:
        reply = relay.post("/v1/robots/outage/alertmanager", single(name))
        assert reply.status_code == 202, reply.text
        ids.append(reply.json()["id"])

    fake.wait_for_names("outage", names, timeout=120)
    assert fake.faults() == []  # every fault was met
    hit = [m for m in fake.messages("outage") if m["fault"]]
    assert len(hit) == sum(f["count"] for f in faults)
    metrics = relay.metrics()
    assert metric_total(metrics, "dingwire_relay_failures_total") >= 1, metrics
    assert metric_total(metrics, "dingwire_relay_dead_total") == 0
    records = [relay.record(i) for i in ids]
    assert {r["state"] for r in records} == {"sent"}
    assert max(r["attempts"] for r in records) >= 2

    # Nothing left to recover from: the next alert goes out at once.
    began = time.time()
    assert relay.post("/v1/robots/outage/alertmanager", single("OutageOver")).status_code == 202
    arrived = fake.wait_for_names("outage", ["OutageOver"], timeout=30)
    last = max(m["time"] for m in arrived if "OutageOver" in shown_text(m))
    assert last - began < 3.0


def test_the_same_notification_from_two_replicas_arrives_once(
    start_fake: FakeFactory, start_relay: RelayFactory
) -> None:
    fake = start_fake([FakeRobot(DEDUPE_TOKEN, name="dedupe")])
    relay = start_relay(fake, [RelayRobot("dedupe", DEDUPE_TOKEN)])
    payload = notification(
        [alert("DedupeA", instance="db-1:9100"), alert("DedupeB", instance="db-2:9100")],
        group={"job": "dedupe"},
    )
    twin = dict(payload, externalURL="http://alertmanager-2.example:9093")  # the other replica

    def post(body: dict[str, Any]) -> requests.Response:
        with requests.Session() as session:
            return relay.post("/dingtalk/dedupe/send", body, session=session)

    with ThreadPoolExecutor(2) as pool:  # both replicas at the same moment
        replies = list(pool.map(post, [payload, twin]))
    assert [r.status_code for r in replies] == [202, 202], [r.text for r in replies]
    answers = [r.json() for r in replies]
    assert answers[0]["id"] == answers[1]["id"]
    assert sorted(bool(a.get("duplicate")) for a in answers) == [False, True]
    # A replica that is late (still within dedupe_window) is a duplicate too.
    late = relay.post("/v1/robots/dedupe/alertmanager", payload)
    assert late.status_code == 202
    assert (late.json()["id"], late.json().get("duplicate")) == (answers[0]["id"], True)

    # Then something else: had a duplicate been stored, it would go before this one.
    sentinel = relay.post("/v1/robots/dedupe/messages", {"text": "DedupeSentinel"})
    assert sentinel.status_code == 202
    fake.wait_for_names("dedupe", ["DedupeA", "DedupeB", "DedupeSentinel"], timeout=30)
    carrying = [m for m in fake.delivered("dedupe") if "DedupeA" in shown_text(m)]
    assert len(carrying) == 1, [shown_text(m) for m in carrying]
    # A different notification of the same group (one alert resolved) is not a duplicate.
    resolved = notification(
        [alert("DedupeA", instance="db-1:9100", status="resolved", ends=1_764_000_600.0)],
        group={"job": "dedupe"},
    )
    again = relay.post("/v1/robots/dedupe/alertmanager", resolved)
    assert again.status_code == 202
    assert not again.json().get("duplicate")
    assert again.json()["id"] != answers[0]["id"]
