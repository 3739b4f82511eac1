"""Storms through ``dingwire serve`` to the fake DingTalk, judged where DingTalk judges: by the
arrival times in the fake's log, never by the relay's own count.

- A minute budget shortened to 20 per 3 s (the fake counts the same): 1,000 alerts in 250
  payloads from 8 concurrent posters arrive whole, as digests, without one 130101 and never
  more than 20 in any 3 s, in at most 60 messages, the first within 3 s.
- An organisation quota shortened to 20 per 20 s (the fake counts the same): a 400-alert
  storm arrives whole, and no arrival runs ahead of the pace ``quota × elapsed share + burst``.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import pytest

from tests.relay.e2e.conftest import FakeFactory, RelayFactory
from tests.relay.e2e.harness import (
    FakeRobot,
    RelayRobot,
    alert,
    most_in_window,
    notification,
    post_all,
    wait_until,
)

pytestmark = pytest.mark.slow

STORM_TOKEN = "e2e" + "b" * 57 + "5707"
QUOTA_TOKEN = "e2e" + "c" * 57 + "0707"
SEVERITIES = ("critical", "warning", "info")


def storm_payloads(prefix: str, alerts: int, per_payload: int) -> list[dict[str, Any]]:
    """``alerts`` alerts named ``{prefix}0000``…, ``per_payload`` to a notification, each
    notification its own group (as Alertmanager sends a storm: many groups at once)."""
    names = [f"{prefix}{i:04d}" for i in range(alerts)]
    payloads = []
    for start in range(0, alerts, per_payload):
        chunk = names[start : start + per_payload]
        group = {"job": f"{prefix.lower()}-{start // per_payload}"}
        payloads.append(
            notification(
                [
                    alert(
                        name,
                        severity=SEVERITIES[i % 3],
                        instance=f"web-{i % 7}:9100",
                        extra_labels=group,
                    )
                    for i, name in enumerate(chunk, start)
                ],
                group=group,
            )
        )
    return payloads


def names_of(payloads: Sequence[dict[str, Any]]) -> set[str]:
    return {a["labels"]["alertname"] for p in payloads for a in p["alerts"]}


def test_a_storm_of_1000_alerts_arrives_whole_within_the_minute_budget(
    start_fake: FakeFactory, start_relay: RelayFactory
) -> None:
    fake = start_fake([FakeRobot(STORM_TOKEN, rate_limit="20/3s", lockout="60s", name="storm")])
    relay = start_relay(fake, [RelayRobot("storm", STORM_TOKEN, rate_limit="20/3s", lockout="60s")])
    payloads = storm_payloads("Storm", 1000, 4)
    assert len(payloads) == 250

    began = time.time()
    ids = post_all(relay, "/v1/robots/storm/alertmanager", payloads, posters=8)
    posted = time.time() - began
    assert len(set(ids)) == 250

    delivered = fake.wait_for_names("storm", names_of(payloads), timeout=90)
    # Every record is marked sent (GET /v1/messages/{id}), with the digest that carried it.
    wait_until(
        lambda: all(relay.record(i)["state"] == "sent" for i in ids),
        timeout=30,
        what="every record marked sent",
        details=relay.output,
    )

    everything = fake.messages("storm")
    assert [m["errcode"] for m in everything if m["errcode"] != 0] == []  # never a 130101
    times = [m["time"] for m in delivered]
    assert most_in_window(times, 3.0) <= 20
    assert len(delivered) <= 60, len(delivered)
    assert min(times) - began <= 3.0, (min(times) - began, posted)
    # A digest says how many it carries: "[FIRING:n] …" somewhere in a message's title.
    titles = [m["body"].get("markdown", {}).get("title", "") for m in delivered]
    assert any("FIRING:" in t and t.split("FIRING:")[1][:1].isdigit() for t in titles), titles


def test_a_400_alert_storm_under_an_org_quota_arrives_whole_and_never_ahead_of_the_pace(
    start_fake: FakeFactory, start_relay: RelayFactory
) -> None:
    # 20 calls per 20 s, periods aligned to the epoch on both sides (as "3000/month" is to
    # the calendar): the pace allows 1 call at the start of a period, then one a second.
    quota, period = 20, 20.0
    orgs = {"acme": f"{quota}/{period:g}s"}
    fake = start_fake(
        [FakeRobot(QUOTA_TOKEN, org="acme", rate_limit="20/3s", name="quota")], orgs=orgs
    )
    relay = start_relay(
        fake, [RelayRobot("quota", QUOTA_TOKEN, org="acme", rate_limit="20/3s")], orgs=orgs
    )
    payloads = storm_payloads("Paced", 400, 4)
    # The storm starts with a period, where the pace is tightest (a wait on the clock,
    # at most one period).
    wait_until(lambda: time.time() % period < 1.0, timeout=period + 5, what="a new period")
    began = time.time()
    post_all(relay, "/v1/robots/quota/alertmanager", payloads, posters=4)

    fake.wait_for_names("quota", names_of(payloads), timeout=60)

    calls = fake.messages("quota")  # every call counts toward the quota, whatever its answer
    assert [m["errcode"] for m in calls if m["errcode"] != 0] == []  # never a 90030
    burst = max(1, quota // 20)  # the relay's default: 5% of the quota, at least 1
    assert len(calls) > burst  # the storm needed more than the burst: the pace was tested
    by_period: dict[float, list[float]] = defaultdict(list)
    for m in calls:
        by_period[math.floor(m["time"] / period) * period].append(m["time"])
    for start, arrivals in by_period.items():
        for count, t in enumerate(sorted(arrivals), 1):
            allowed = min(quota, math.floor(quota * (t - start) / period) + burst)
            assert count <= allowed, (
                f"call {count} of the period at {t - start:.2f}s of {period:.0f}s: "
                f"the pace allows {allowed}"
            )
    # Paced, not refused: the whole storm within a few seconds of its start.
    assert max(m["time"] for m in calls) - began < period
