"""Alert notifications as they arrive: Alertmanager's and Grafana's webhook payloads, checked.

Rules this module keeps:

- Nothing in a payload is trusted, its types least of all: every field that is read is
  checked, and a payload that cannot be read raises :class:`PayloadError` whose
  :attr:`~PayloadError.reason` names the field's path and says what to fix
  (``alerts[3].labels: expected an object, got a list``). The relay answers it with a 400.
- Optional fields may be missing: ``annotations``, ``generatorURL``, ``fingerprint``,
  ``groupLabels``, ``commonLabels``, ``externalURL``, ``truncatedAlerts``, and Grafana's
  extras (``orgId``, ``title``, ``state``, ``message``, per alert ``silenceURL``,
  ``dashboardURL``, ``panelURL``, ``values``, ``valueString``). Unknown fields are ignored,
  as Alertmanager's own receivers ignore them.
- Alertmanager's "not ended" ``endsAt`` (``0001-01-01T00:00:00Z``, Go's zero time) reads as
  ``None``; so does a missing one. Times are RFC 3339 with up to nanoseconds (kept to
  microseconds) and ``Z`` or an offset.
- Every value can be sent as JSON text: a lone surrogate, NaN or a nesting too deep is
  refused here with its path (the core's :func:`~dingwire.core.validation.check_values`),
  never later by the dispatcher.

The dataclasses are frozen and their mappings read-only: a template can look, not touch.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Literal

__all__ = [
    "Alert",
    "Notification",
    "PayloadError",
    "Source",
    "parse_alertmanager",
    "parse_grafana",
    "parse_time",
]

Source = Literal["alertmanager", "grafana"]

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _empty() -> Mapping[str, Any]:
    return _EMPTY


class PayloadError(ValueError):
    """A payload the relay cannot read; ``reason`` says which field and what to fix.

    ``field`` is the JSON path of the offending field (``alerts[3].labels``), or ``""``
    for the payload as a whole.
    """

    def __init__(self, reason: str, *, field: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


def _fail(path: str, problem: str) -> PayloadError:
    return PayloadError(f"{path}: {problem}" if path else problem, field=path)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return f"a {type(value).__name__}"


# -- times ---------------------------------------------------------------------------------

_TIME = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[Tt ](?P<time>\d{2}:\d{2}:\d{2})"
    r"(?:\.(?P<frac>\d{1,9}))?(?P<zone>[Zz]|[+-]\d{2}:\d{2})\Z"
)


@lru_cache(maxsize=4096)  # a group's alerts, and a storm's, share their times
def parse_time(value: str) -> datetime | None:
    """An RFC 3339 time as an aware ``datetime``; Go's zero time (year 1) is ``None``.

    Raises :class:`ValueError` for anything else.

    >>> parse_time("2026-11-29T11:21:24.249646014Z").isoformat()
    '2026-11-29T11:21:24.249646+00:00'
    >>> parse_time("0001-01-01T00:00:00Z") is None
    True
    """
    match = _TIME.match(value)
    if match is None:
        raise ValueError(f"not an RFC 3339 time: {value[:40]!r}")
    frac = (match.group("frac") or "").ljust(6, "0")[:6]
    zone = match.group("zone")
    zone = "+00:00" if zone in ("Z", "z") else zone
    try:
        moment = datetime.fromisoformat(f"{match.group('date')}T{match.group('time')}.{frac}{zone}")
    except ValueError as error:  # a 13th month, a 25th hour
        raise ValueError(f"not an RFC 3339 time: {value[:40]!r} ({error})") from None
    if moment.year <= 1:
        return None  # Go's zero time: Alertmanager's "has not ended"
    return moment.astimezone(UTC)


# -- the dataclasses ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert of a notification.

    ``starts_at`` / ``ends_at`` are aware UTC datetimes, ``None`` when not given or (for
    ``ends_at``) not ended; ``starts_raw`` / ``ends_raw`` the strings as they came (what the
    dedupe key hashes). ``generator_url`` is ``""`` when the sender left it empty. The
    Grafana fields are empty for Alertmanager.
    """

    status: str
    labels: Mapping[str, str] = field(default_factory=_empty)
    annotations: Mapping[str, str] = field(default_factory=_empty)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    generator_url: str = ""
    fingerprint: str = ""
    starts_raw: str = ""
    ends_raw: str = ""
    silence_url: str = ""
    dashboard_url: str = ""
    panel_url: str = ""
    values: Mapping[str, float | int | None] = field(default_factory=_empty)
    value_string: str = ""

    @property
    def name(self) -> str:
        """The ``alertname`` label (``""`` when it has none)."""
        return self.labels.get("alertname", "")

    @property
    def firing(self) -> bool:
        """Whether the alert is firing (else it is resolved)."""
        return self.status == "firing"

    @property
    def summary(self) -> str:
        """The ``summary`` annotation, else ``message``, else ``description`` (or ``""``)."""
        for key in ("summary", "message", "description"):
            if self.annotations.get(key):
                return self.annotations[key]
        return ""

    def lasted(self, now: float) -> float | None:
        """Seconds from its start to its end (or to ``now`` while firing); ``None`` if unknown."""
        if self.starts_at is None:
            return None
        end = self.ends_at.timestamp() if self.ends_at is not None and not self.firing else now
        return max(0.0, end - self.starts_at.timestamp())


@dataclass(frozen=True, slots=True)
class Notification:
    """One webhook call: a group of alerts, as Alertmanager (or Grafana) grouped them.

    ``status`` is ``"firing"`` when any alert fires, else ``"resolved"``.
    ``truncated_alerts`` counts the alerts the sender left out (Alertmanager's
    ``max_alerts``). Grafana's ``title``, ``state``, ``message`` and ``org_id`` are empty
    (``None``) for Alertmanager.
    """

    source: Source
    status: str
    alerts: tuple[Alert, ...]
    receiver: str = ""
    group_labels: Mapping[str, str] = field(default_factory=_empty)
    common_labels: Mapping[str, str] = field(default_factory=_empty)
    common_annotations: Mapping[str, str] = field(default_factory=_empty)
    external_url: str = ""
    group_key: str = ""
    version: str = ""
    truncated_alerts: int = 0
    org_id: int | None = None
    title: str = ""
    state: str = ""
    message: str = ""

    @property
    def firing(self) -> tuple[Alert, ...]:
        """The alerts that fire, in the order they came."""
        return tuple(a for a in self.alerts if a.firing)

    @property
    def resolved(self) -> tuple[Alert, ...]:
        """The alerts that are resolved, in the order they came."""
        return tuple(a for a in self.alerts if not a.firing)


# -- field readers -----------------------------------------------------------------------------


def _object(value: object, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(path, f"expected an object, got {_kind(value)}")
    return value


def _string(data: Mapping[str, Any], key: str, path: str, *, required: bool = False) -> str:
    where = f"{path}.{key}" if path else key
    if key not in data or data[key] is None:
        if required:
            raise _fail(where, "is required")
        return ""
    value = data[key]
    if not isinstance(value, str):
        raise _fail(where, f"expected a string, got {_kind(value)}")
    return value


def _labels(data: Mapping[str, Any], key: str, path: str) -> Mapping[str, str]:
    where = f"{path}.{key}" if path else key
    value = data.get(key)
    if value is None:
        return _EMPTY
    table = _object(value, where)
    for name, item in table.items():
        if not isinstance(item, str):
            raise _fail(f"{where}.{name}", f"expected a string, got {_kind(item)}")
    return MappingProxyType(dict(table))


def _status(data: Mapping[str, Any], path: str, *, required: bool) -> str:
    status = _string(data, "status", path, required=required)
    if status and status not in ("firing", "resolved"):
        where = f"{path}.status" if path else "status"
        raise _fail(where, f'expected "firing" or "resolved", got {status[:40]!r}')
    return status


def _time(data: Mapping[str, Any], key: str, path: str) -> tuple[datetime | None, str]:
    raw = _string(data, key, path)
    if not raw:
        return None, ""
    try:
        return parse_time(raw), raw
    except ValueError:
        shown = raw if len(raw) <= 40 else f"{raw[:40]}…"
        raise _fail(
            f"{path}.{key}", f"{shown!r} is not an RFC 3339 time (2026-11-29T11:21:24Z)"
        ) from None


def _values(data: Mapping[str, Any], path: str) -> Mapping[str, float | int | None]:
    value = data.get("values")
    if value is None:
        return _EMPTY
    table = _object(value, f"{path}.values")
    for name, item in table.items():
        if item is not None and (isinstance(item, bool) or not isinstance(item, int | float)):
            raise _fail(f"{path}.values.{name}", f"expected a number, got {_kind(item)}")
    return MappingProxyType(dict(table))


def _count(data: Mapping[str, Any], key: str) -> int:
    value = data.get(key)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _fail(key, f"expected a count (0 or more), got {_kind(value)}")
    return value


def _alert(value: object, path: str, *, grafana: bool) -> Alert:
    data = _object(value, path)
    labels = _labels(data, "labels", path)
    starts_at, starts_raw = _time(data, "startsAt", path)
    ends_at, ends_raw = _time(data, "endsAt", path)
    extra: dict[str, Any] = {}
    if grafana:
        extra = {
            "silence_url": _string(data, "silenceURL", path),
            "dashboard_url": _string(data, "dashboardURL", path),
            "panel_url": _string(data, "panelURL", path),
            "values": _values(data, path),
            "value_string": _string(data, "valueString", path),
        }
    return Alert(
        status=_status(data, path, required=True),
        labels=labels,
        annotations=_labels(data, "annotations", path),
        starts_at=starts_at,
        ends_at=ends_at,
        generator_url=_string(data, "generatorURL", path),
        fingerprint=_string(data, "fingerprint", path),
        starts_raw=starts_raw,
        ends_raw=ends_raw,
        **extra,
    )


def _checked_values(data: object) -> None:
    from dingwire.core.errors import MessageError
    from dingwire.core.validation import check_values

    try:
        check_values(data)
    except MessageError as error:
        raise PayloadError(error.message, field=error.field or "") from None


def _parse(data: object, source: Source) -> Notification:
    grafana = source == "grafana"
    payload = _object(data, "")
    _checked_values(payload)
    alerts_value = payload.get("alerts")
    if not isinstance(alerts_value, list):
        what = (
            "is required" if alerts_value is None else f"expected a list, got {_kind(alerts_value)}"
        )
        raise _fail("alerts", f"{what} (the notification's alerts)")
    if not alerts_value:
        raise _fail("alerts", "is empty: a notification has at least one alert")
    alerts = tuple(
        _alert(item, f"alerts[{i}]", grafana=grafana) for i, item in enumerate(alerts_value)
    )
    status = _status(payload, "", required=False) or (
        "firing" if any(a.firing for a in alerts) else "resolved"
    )
    extra: dict[str, Any] = {}
    if grafana:
        org_id = payload.get("orgId")
        if org_id is not None and (isinstance(org_id, bool) or not isinstance(org_id, int)):
            raise _fail("orgId", f"expected a number, got {_kind(org_id)}")
        extra = {
            "org_id": org_id,
            "title": _string(payload, "title", ""),
            "state": _string(payload, "state", ""),
            "message": _string(payload, "message", ""),
        }
    return Notification(
        source=source,
        status=status,
        alerts=alerts,
        receiver=_string(payload, "receiver", ""),
        group_labels=_labels(payload, "groupLabels", ""),
        common_labels=_labels(payload, "commonLabels", ""),
        common_annotations=_labels(payload, "commonAnnotations", ""),
        external_url=_string(payload, "externalURL", ""),
        group_key=_string(payload, "groupKey", ""),
        version=_string(payload, "version", ""),
        truncated_alerts=_count(payload, "truncatedAlerts"),
        **extra,
    )


def parse_alertmanager(data: object) -> Notification:
    """An Alertmanager webhook payload (``version`` 4) as a :class:`Notification`.

    Raises :class:`PayloadError` naming the first field that cannot be read.
    """
    return _parse(data, "alertmanager")


def parse_grafana(data: object) -> Notification:
    """A Grafana webhook contact point payload (Alertmanager's, plus Grafana's fields).

    Raises :class:`PayloadError` naming the first field that cannot be read.
    """
    return _parse(data, "grafana")
