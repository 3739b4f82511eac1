"""Alertmanager and Grafana payloads: what is read, and every way a field can be wrong."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from dingwire.relay.alerts import PayloadError, parse_alertmanager, parse_grafana, parse_time

from .conftest import sample


def test_the_firing_sample_is_read_whole() -> None:
    n = parse_alertmanager(sample("alertmanager/firing-two-alerts"))
    assert n.source == "alertmanager"
    assert n.status == "firing"
    assert n.receiver == "dingtalk-relay"
    assert n.group_key == '{}:{alertname="DiskFull"}'
    assert n.external_url == "http://vm:19093"
    assert dict(n.group_labels) == {"alertname": "DiskFull"}
    assert n.version == "4"
    assert n.truncated_alerts == 0
    first, second = n.alerts
    assert first.name == "DiskFull"
    assert first.firing
    assert first.summary == "Disk almost full on db-1"
    assert first.starts_at == datetime(2026, 11, 29, 11, 21, 24, 249646, tzinfo=UTC)
    assert first.starts_raw == "2026-11-29T11:21:24.249646014Z"
    assert first.ends_at is None  # Go's zero time: not ended
    assert first.generator_url.startswith("http://127.0.0.1:9090/")
    assert first.fingerprint == "8c77d5865e910658"
    assert second.generator_url == ""
    assert n.firing == n.alerts
    assert n.resolved == ()


def test_the_resolved_sample_lasted_six_seconds() -> None:
    n = parse_alertmanager(sample("alertmanager/resolved-one-alert"))
    (alert,) = n.alerts
    assert n.status == "resolved"
    assert not alert.firing
    assert alert.ends_at == datetime(2026, 11, 29, 11, 21, 30, tzinfo=UTC)
    assert alert.lasted(now=2e9) == 6.0


def test_grafana_fields_are_read() -> None:
    n = parse_grafana(sample("grafana/firing-and-resolved"))
    assert n.source == "grafana"
    assert n.org_id == 1
    assert n.title.startswith("[FIRING:1, RESOLVED:1]")
    assert n.state == "alerting"
    assert n.message.startswith("**Firing**")
    firing, resolved = n.alerts
    assert firing.dashboard_url == "http://grafana.example.cn/d/node01"
    assert firing.panel_url.endswith("viewPanel=4")
    assert firing.silence_url.startswith("http://grafana.example.cn/alerting/silence/new")
    assert dict(firing.values) == {"A": 93.1, "C": 1}
    assert firing.value_string.startswith("[ var='A'")
    # An offset is kept as the moment it names.
    assert firing.starts_at == datetime(2026, 11, 30, 1, 51, 3, 157076, tzinfo=UTC)
    assert resolved.values == {}
    assert resolved.dashboard_url == ""
    assert resolved.lasted(now=0) == 15 * 60


def test_alertmanager_payloads_ignore_grafana_fields() -> None:
    n = parse_alertmanager(sample("grafana/firing-and-resolved"))
    assert n.org_id is None
    assert n.title == ""
    assert n.alerts[0].dashboard_url == ""


def test_a_minimal_payload_is_enough() -> None:
    n = parse_alertmanager({"alerts": [{"status": "resolved"}]})
    (alert,) = n.alerts
    assert n.status == "resolved"  # derived from the alerts
    assert alert.name == ""
    assert alert.labels == {}
    assert alert.annotations == {}
    assert alert.starts_at is None
    assert alert.lasted(now=10) is None
    assert n.group_labels == {}
    assert n.external_url == ""
    assert n.truncated_alerts == 0


def test_status_is_firing_when_any_alert_fires() -> None:
    n = parse_alertmanager({"alerts": [{"status": "resolved"}, {"status": "firing"}]})
    assert n.status == "firing"
    assert [a.status for a in n.resolved] == ["resolved"]


def test_labels_and_annotations_are_read_only() -> None:
    n = parse_alertmanager(sample("alertmanager/firing-two-alerts"))
    with pytest.raises(TypeError):
        n.alerts[0].labels["severity"] = "info"  # type: ignore[index]


def test_summary_falls_back_to_message_and_description() -> None:
    n = parse_alertmanager(
        {
            "alerts": [
                {"status": "firing", "annotations": {"message": "m", "description": "d"}},
                {"status": "firing", "annotations": {"description": "d"}},
            ]
        }
    )
    assert [a.summary for a in n.alerts] == ["m", "d"]


def _payload(**alert: Any) -> dict[str, Any]:
    base = {"status": "firing", "labels": {"alertname": "X"}}
    return {"version": "4", "alerts": [{"status": "firing"}, {**base, **alert}]}


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ([], "", "expected an object, got a list"),
        ({}, "alerts", "is required"),
        ({"alerts": {}}, "alerts", "expected a list, got an object"),
        ({"alerts": []}, "alerts", "at least one alert"),
        ({"alerts": ["x"]}, "alerts[0]", "expected an object, got a string"),
        (_payload(status=None), "alerts[1].status", "is required"),
        (_payload(status="pending"), "alerts[1].status", '"firing" or "resolved"'),
        (_payload(status=1), "alerts[1].status", "expected a string, got a number"),
        (_payload(labels=[]), "alerts[1].labels", "expected an object, got a list"),
        (_payload(labels={"severity": 3}), "alerts[1].labels.severity", "got a number"),
        (_payload(annotations={"summary": None}), "alerts[1].annotations.summary", "got null"),
        (_payload(startsAt="yesterday"), "alerts[1].startsAt", "not an RFC 3339 time"),
        (_payload(startsAt=17), "alerts[1].startsAt", "expected a string"),
        (_payload(endsAt="2026-11-29 11:21"), "alerts[1].endsAt", "not an RFC 3339 time"),
        (_payload(generatorURL=True), "alerts[1].generatorURL", "got a boolean"),
        (_payload(fingerprint={}), "alerts[1].fingerprint", "got an object"),
        ({"status": "bad", "alerts": [{"status": "firing"}]}, "status", '"firing" or'),
        ({"groupLabels": "x", "alerts": [{"status": "firing"}]}, "groupLabels", "an object"),
        ({"externalURL": 1, "alerts": [{"status": "firing"}]}, "externalURL", "a string"),
        ({"truncatedAlerts": -1, "alerts": [{"status": "firing"}]}, "truncatedAlerts", "count"),
        ({"truncatedAlerts": True, "alerts": [{"status": "firing"}]}, "truncatedAlerts", "count"),
        (_payload(labels={"x": "\ud800"}), "alerts[1].labels.x", "lone surrogate"),
        (_payload(annotations={"v": "ok"}, extra=float("nan")), "alerts[1].extra", "not a number"),
    ],
)
def test_a_bad_field_is_named(data: Any, field: str, words: str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_alertmanager(data)
    assert caught.value.field == field
    assert words in caught.value.reason
    if field:
        assert caught.value.reason.startswith(f"{field}: ")
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("alert", "field", "words"),
    [
        ({"values": [1]}, "alerts[0].values", "an object"),
        ({"values": {"A": "93"}}, "alerts[0].values.A", "expected a number, got a string"),
        ({"values": {"A": True}}, "alerts[0].values.A", "got a boolean"),
        ({"dashboardURL": 5}, "alerts[0].dashboardURL", "a string"),
        ({"silenceURL": []}, "alerts[0].silenceURL", "a string"),
        ({"valueString": {}}, "alerts[0].valueString", "a string"),
    ],
)
def test_a_bad_grafana_field_is_named(alert: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_grafana({"alerts": [{"status": "firing", **alert}]})
    assert caught.value.field == field
    assert words in caught.value.reason


def test_a_bad_org_id_is_named() -> None:
    with pytest.raises(PayloadError, match=r"^orgId: expected a number"):
        parse_grafana({"orgId": "1", "alerts": [{"status": "firing"}]})


def test_grafana_null_values_are_none() -> None:
    n = parse_grafana({"alerts": [{"status": "firing", "values": {"A": None}}]})
    assert dict(n.alerts[0].values) == {"A": None}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-29T11:21:24Z", datetime(2026, 11, 29, 11, 21, 24, tzinfo=UTC)),
        ("2026-11-29T11:21:24.5Z", datetime(2026, 11, 29, 11, 21, 24, 500000, tzinfo=UTC)),
        ("2026-11-29T19:21:24+08:00", datetime(2026, 11, 29, 11, 21, 24, tzinfo=UTC)),
        (
            "2026-11-29T11:21:24.123456789-01:00",
            datetime(2026, 11, 29, 12, 21, 24, 123456, tzinfo=UTC),
        ),
        ("0001-01-01T00:00:00Z", None),
    ],
)
def test_times(text: str, expected: datetime | None) -> None:
    assert parse_time(text) == expected


@pytest.mark.parametrize("text", ["", "2026-11-29", "2026-11-29T11:21:24", "2026-13-01T00:00:00Z"])
def test_bad_times(text: str) -> None:
    with pytest.raises(ValueError, match="not an RFC 3339 time"):
        parse_time(text)
