"""A real Alertmanager -> ``dingwire serve`` -> the fake DingTalk: an alert reaches the group,
then its resolution; two Alertmanager replicas sending the same notification reach it once.

Alertmanager runs with clustering off (``--cluster.listen-address=``) and a one-second
``group_wait``/``group_interval``; alerts are fed to it over its API v2 as Prometheus does.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.relay.e2e.conftest import AlertmanagerFactory, FakeFactory, RelayFactory
from tests.relay.e2e.harness import (
    FakeProcess,
    FakeRobot,
    RelayRobot,
    metric_total,
    rfc3339,
    shown_text,
    wait_until,
)

pytestmark = pytest.mark.slow

TOKEN = "e2e" + "a" * 57 + "0a11"
RELAY_TOKEN = "e2e-relay-bearer-7f3a9c"


def prometheus_alert(name: str, *, starts: float, ends: float, **labels: str) -> dict[str, object]:
    """An alert as Prometheus posts it: its labels, annotations, start and (future) end."""
    return {
        "labels": {"alertname": name, "instance": "db-1:9100", "severity": "critical", **labels},
        "annotations": {
            "summary": f"{name}: /var is 97% full on db-1",
            "description": "free space below 3% for 5 minutes",
        },
        "startsAt": rfc3339(starts),
        "endsAt": rfc3339(ends),
        "generatorURL": "http://prometheus.example:9090/graph?g0.expr=disk",
    }


def test_an_alert_then_its_resolution_reach_the_group(
    start_fake: FakeFactory, start_relay: RelayFactory, start_alertmanager: AlertmanagerFactory
) -> None:
    fake = start_fake([FakeRobot(TOKEN, name="ops")])
    relay = start_relay(fake, [RelayRobot("ops", TOKEN)], relay={"auth_token": RELAY_TOKEN})
    intake = f"{relay.url}/dingtalk/ops/send"
    # On start the relay says what to paste into Alertmanager (and Grafana), never the token.
    assert intake in relay.output(), relay.output()
    assert RELAY_TOKEN not in relay.output()
    assert relay.post("/dingtalk/ops/send", {}).status_code == 401  # no token, no entry
    manager = start_alertmanager(intake, bearer=RELAY_TOKEN)

    now = time.time()
    firing = prometheus_alert("E2EDiskFull", starts=now - 30, ends=now + 300)
    manager.post_alerts([firing])
    fired = wait_until(
        lambda: carrying(fake, "E2EDiskFull"),
        timeout=30,
        what="the firing alert at the fake",
        details=relay.output,
    )
    assert len(fired) == 1
    first = shown_text(fired[0])
    assert "resolved" not in first.lower()
    assert "/var is 97% full on db-1" in first  # the summary, as Prometheus gave it

    # Prometheus says it ended: Alertmanager sends the resolution (send_resolved: true).
    resolved = dict(firing, endsAt=rfc3339(time.time()))
    manager.post_alerts([resolved])
    both = wait_until(
        lambda: len(carrying(fake, "E2EDiskFull")) >= 2 and carrying(fake, "E2EDiskFull"),
        timeout=30,
        what="the resolution at the fake",
        details=relay.output,
    )
    assert "resolved" in shown_text(both[1]).lower()
    assert all(m["errcode"] == 0 for m in fake.messages(TOKEN))
    assert RELAY_TOKEN not in relay.output() + relay.metrics()


def test_two_replicas_send_the_same_notification_and_it_arrives_once(
    start_fake: FakeFactory, start_relay: RelayFactory, start_alertmanager: AlertmanagerFactory
) -> None:
    fake = start_fake([FakeRobot(TOKEN, name="ops")])
    relay = start_relay(fake, [RelayRobot("ops", TOKEN)])
    intake = f"{relay.url}/dingtalk/ops/send"
    # Two Alertmanagers of one HA pair (here without gossip, as when it is cut): each gets
    # the alert from Prometheus and each sends the notification.
    replicas = [start_alertmanager(intake), start_alertmanager(intake)]
    now = time.time()
    alert = prometheus_alert("E2EReplicated", starts=now - 60, ends=now + 300)
    for replica in replicas:
        replica.post_alerts([alert])
    wait_until(
        lambda: any("E2EReplicated" in shown_text(m) for m in fake.delivered(TOKEN)),
        timeout=30,
        what="the replicated alert at the fake",
        details=relay.output,
    )
    # Both replicas have sent (their logs say so only at debug level: ask the relay's
    # metrics how many notifications came in), then a later message: the duplicate, had it
    # been stored, would have gone before it.
    wait_until(
        lambda: received(relay.metrics()) >= 2,
        timeout=30,
        what="both replicas' notifications at the relay",
        details=relay.output,
    )
    sentinel = relay.post("/v1/robots/ops/messages", {"text": "E2ESentinel after the replicas"})
    assert sentinel.status_code == 202, sentinel.text
    wait_until(
        lambda: any("E2ESentinel" in shown_text(m) for m in fake.delivered(TOKEN)),
        timeout=30,
        what="the sentinel at the fake",
        details=relay.output,
    )
    once = carrying(fake, "E2EReplicated")
    assert len(once) == 1, [shown_text(m) for m in once]


def carrying(fake: FakeProcess, name: str) -> list[dict[str, Any]]:
    """The delivered messages that show ``name``."""
    return [m for m in fake.delivered(TOKEN) if name in shown_text(m)]


def received(metrics: str) -> float:
    """Intake requests the relay answered 202 (a duplicate is answered 202 too)."""
    return metric_total(metrics, "dingwire_relay_received_total")
