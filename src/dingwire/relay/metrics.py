"""The relay's Prometheus metrics, on a registry of its own (one per app, so tests can run
several relays in a process). ``/metrics`` serves :meth:`RelayMetrics.render`.

Names (all prefixed ``dingwire_relay_``):

- ``received_total{endpoint}``: intake requests answered 202 (``alertmanager``,
  ``grafana``, ``messages``); ``rejected_total{endpoint,status}`` the others.
- ``queued{robot,state}``: records per state (read from the outbox at scrape time).
- ``sent_total{robot}``: DingTalk messages that went out (a digest counts once);
  ``delivered_total{robot}``: records delivered (a digest of 30 counts 30).
- ``digests_total{robot}``, ``digest_records`` and ``digest_alerts`` (histograms): how
  much a digest carried.
- ``failures_total{robot,errcode}``: failed attempts (``errcode`` is DingTalk's, or
  ``network``, ``timeout``, ``http_5xx``, ``gateway`` for failures without one).
- ``throttled_total{robot,reason}``: sends held back (``budget``, ``lockout``, ``quota``,
  ``pace``, ``store``: the budget store could not be reached).
- ``dead_total{robot}``: records dead-lettered.
- ``quota_used{org}``, ``quota_limit{org}``: the org's sends in its current period.
- ``delivery_seconds``: intake to DingTalk's answer, per record (histogram).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["CONTENT_TYPE", "RelayMetrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "dingwire_relay_"

Counts = Callable[[], Mapping[str, Mapping[str, int]]]


class _Queued(Collector):
    def __init__(self, counts: Counts) -> None:
        self._counts = counts

    def collect(self):  # type: ignore[no-untyped-def]
        family = GaugeMetricFamily(
            PREFIX + "queued",
            "Records in the outbox, per robot and state.",
            labels=["robot", "state"],
        )
        try:
            counts = self._counts()
        except Exception:  # the outbox is unavailable: /readyz says so; no gauge this scrape
            counts = {}
        for robot, states in sorted(counts.items()):
            for state, n in sorted(states.items()):
                family.add_metric([robot, state], n)
        yield family


class RelayMetrics:
    """Every metric of one relay; the dispatcher and the intake call the methods."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.received_total = Counter(
            PREFIX + "received", "Intake requests stored (202).", ["endpoint"], registry=r
        )
        self.rejected_total = Counter(
            PREFIX + "rejected", "Intake requests not stored.", ["endpoint", "status"], registry=r
        )
        self.sent_total = Counter(PREFIX + "sent", "DingTalk messages sent.", ["robot"], registry=r)
        self.delivered_total = Counter(
            PREFIX + "delivered", "Records delivered (alone or in a digest).", ["robot"], registry=r
        )
        self.digests_total = Counter(
            PREFIX + "digests",
            "Digests sent (several records in one message).",
            ["robot"],
            registry=r,
        )
        self.digest_records = Histogram(
            PREFIX + "digest_records",
            "Records merged per digest.",
            buckets=(2, 5, 10, 20, 50, 100, 200, 500, 1000),
            registry=r,
        )
        self.digest_alerts = Histogram(
            PREFIX + "digest_alerts",
            "Alerts carried per digest.",
            buckets=(2, 5, 10, 20, 50, 100, 200, 500, 1000),
            registry=r,
        )
        self.failures_total = Counter(
            PREFIX + "failures", "Failed send attempts.", ["robot", "errcode"], registry=r
        )
        self.throttled_total = Counter(
            PREFIX + "throttled", "Sends held back by a budget.", ["robot", "reason"], registry=r
        )
        self.dead_total = Counter(PREFIX + "dead", "Records dead-lettered.", ["robot"], registry=r)
        self.quota_used = Gauge(
            PREFIX + "quota_used", "The org's sends in its quota period.", ["org"], registry=r
        )
        self.quota_limit = Gauge(
            PREFIX + "quota_limit", "The org's quota for its period.", ["org"], registry=r
        )
        self.delivery_seconds = Histogram(
            PREFIX + "delivery_seconds",
            "From intake to DingTalk's answer, per record.",
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 86400),
            registry=r,
        )
        self._queued: _Queued | None = None

    def watch_outbox(self, counts: Counts) -> None:
        """Report ``queued{robot,state}`` from ``counts`` at every scrape."""
        if self._queued is not None:
            self.registry.unregister(self._queued)
        self._queued = _Queued(counts)
        self.registry.register(self._queued)

    # -- what the intake and the dispatcher report ----------------------------------------

    def received(self, endpoint: str) -> None:
        self.received_total.labels(endpoint).inc()

    def rejected(self, endpoint: str, status: int) -> None:
        self.rejected_total.labels(endpoint, str(status)).inc()

    def sent(self, robot: str, *, records: int, alerts: int, latencies: list[float]) -> None:
        """One DingTalk message went out carrying ``records`` records (a digest if > 1)."""
        self.sent_total.labels(robot).inc()
        self.delivered_total.labels(robot).inc(records)
        if records > 1:
            self.digests_total.labels(robot).inc()
            self.digest_records.observe(records)
            self.digest_alerts.observe(alerts)
        for latency in latencies:
            self.delivery_seconds.observe(max(0.0, latency))

    def failure(self, robot: str, errcode: str) -> None:
        self.failures_total.labels(robot, errcode).inc()

    def throttled(self, robot: str, reason: str) -> None:
        self.throttled_total.labels(robot, reason).inc()

    def dead(self, robot: str, n: int = 1) -> None:
        self.dead_total.labels(robot).inc(n)

    def quota(self, org: str, used: int, limit: int | None) -> None:
        self.quota_used.labels(org).set(used)
        if limit is not None:
            self.quota_limit.labels(org).set(limit)

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
