"""From a payload to the DingTalk message the relay stores: :class:`Renderer`.

Rules this module keeps:

- Templates are compiled and tried once, when the renderer is loaded (at start and on
  reload): a broken template stops the start with its ``file:line``; it is never found at
  the first alert. An override that still fails on some payload at run time is logged and
  the notification is rendered with the default template: an alert is never refused for
  the template's fault.
- Bodies are complete DingTalk JSON checked by the core's one validator
  (:func:`~dingwire.core.validation.validate_payload`, strict): a markdown message whose
  ``at`` block holds the robot's configured ``mention`` plus the ``[relay.oncall.NAME]``
  groups named by the firing alerts' ``mention_label`` label, the ``@`` text written once
  at the end of the text (:func:`~dingwire.core.mentions.ensure_mentions`). The robot's
  keyword is the robot's business when it sends.
- Every alert has its :class:`~dingwire.relay.model.DigestLine`, every value escaped: a
  body over 20,000 bytes is sent by the dispatcher as a digest of these lines.
- ``priority`` is the rank of the most urgent firing alert's ``priority_label`` (of all the
  alerts when none fires); ``dedupe_key`` hashes what makes a notification the same one
  (robot, source, group, and per alert its identity, status, start and — once resolved —
  end), so that Alertmanager replicas sending the same notification give the same key.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from jinja2 import Template

from dingwire.config import Config
from dingwire.content import escape_markdown
from dingwire.core.errors import ConfigError, MessageError
from dingwire.core.mentions import ensure_mentions
from dingwire.core.messages import At
from dingwire.core.validation import check_values, validate_payload
from dingwire.relay.alerts import (
    Alert,
    Notification,
    PayloadError,
    parse_alertmanager,
    parse_grafana,
)
from dingwire.relay.model import DigestLine, Kind, Outgoing
from dingwire.relay.settings import RelaySettings
from dingwire.relay.templates import (
    DEFAULT_TEMPLATE,
    Rendered,
    default_title,
    describe_failure,
    escape_cached,
    format_duration,
    load_templates,
    make_environment,
    render_default,
    render_template,
    template_context,
    tidy,
)

__all__ = ["Renderer", "alert_line", "dedupe_key"]

log = logging.getLogger(__name__)

#: How much of a value a digest line keeps (a storm's digest must stay readable).
_LINE_VALUE = 80
_LINE_SUMMARY = 200
_LINE_LABELS = 8


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def alert_line(alert: Alert, now: float) -> DigestLine:
    """What a digest keeps of ``alert``: one line of markdown, every value escaped.

    ``🔥 **FIRING** HighLatency · instance=web-1 severity=critical — p99 above 2s``;
    a resolved alert gets ✅ and how long it lasted.
    """
    name = alert.name or "alert"
    labels = alert.labels
    keys = sorted(k for k in labels if k != "alertname" and not k.startswith("__"))
    pairs = [
        f"{escape_cached(k)}={escape_cached(_cut(labels[k], _LINE_VALUE))}"
        for k in keys[:_LINE_LABELS]
    ]
    if len(keys) > _LINE_LABELS:
        pairs.append("…")
    status = "🔥 **FIRING**" if alert.firing else "✅ **RESOLVED**"
    text = f"{status} {escape_cached(_cut(name, _LINE_VALUE))}"
    if pairs:
        text += " · " + " ".join(pairs)
    if alert.summary:
        text += " — " + escape_cached(_cut(alert.summary, _LINE_SUMMARY))
    if not alert.firing:
        lasted = alert.lasted(now)
        if lasted is not None:
            text += f" (lasted {format_duration(lasted)})"
    return DigestLine("firing" if alert.firing else "resolved", name, text)


def dedupe_key(robot: str, notification: Notification) -> str:
    """The sha256 (hex) naming one notification to one robot, the same from every replica.

    It covers the robot, the source, the group (``groupKey``; Grafana's ``orgId`` too, and
    its ``title`` when it sent no group key) and, sorted, every alert's identity (its
    fingerprint, else its sorted labels), status, ``startsAt`` and, for a resolved alert,
    ``endsAt``. A firing alert's ``endsAt`` is left out: it is only the sender's guess of a
    timeout, and replicas may guess differently.
    """
    n = notification
    group: list[Any] = [n.group_key]
    if n.source == "grafana":
        group = [n.group_key or n.title, n.org_id]
    alerts = sorted(
        [
            a.fingerprint or json.dumps(sorted(a.labels.items()), ensure_ascii=False),
            a.status,
            a.starts_raw,
            "" if a.firing else a.ends_raw,
        ]
        for a in n.alerts
    )
    identity = [robot, n.source, group, alerts]
    text = json.dumps(identity, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _merge(ats: Sequence[At]) -> At | None:
    mobiles: dict[str, None] = {}
    user_ids: dict[str, None] = {}
    everyone = False
    for at in ats:
        mobiles.update(dict.fromkeys(at.mobiles))
        user_ids.update(dict.fromkeys(at.user_ids))
        everyone = everyone or at.all
    merged = At(mobiles=list(mobiles), user_ids=list(user_ids), all=everyone)
    return merged if merged else None


def _checked(body: dict[str, Any]) -> dict[str, Any]:
    try:
        validate_payload(body, strict=True)
    except MessageError as error:
        raise PayloadError(error.message, field=error.field or "") from None
    return body


# -- samples the templates are tried on when loaded ------------------------------------------

_SAMPLE_ALERTMANAGER: dict[str, Any] = {
    "version": "4",
    "status": "firing",
    "receiver": "dingwire",
    "groupKey": '{}:{alertname="Sample"}',
    "groupLabels": {"alertname": "Sample"},
    "commonLabels": {"alertname": "Sample", "job": "node"},
    "commonAnnotations": {},
    "externalURL": "http://alertmanager.example:9093",
    "truncatedAlerts": 1,
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "Sample", "job": "node", "severity": "critical"},
            "annotations": {"summary": "a summary", "description": "a\ndescription"},
            "startsAt": "2026-01-01T00:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example:9090/graph",
            "fingerprint": "0000000000000001",
        },
        {"status": "firing", "labels": {"alertname": "Sample", "job": "node"}},
        {
            "status": "resolved",
            "labels": {"alertname": "Sample", "job": "node", "severity": "info"},
            "annotations": {"summary": "resolved"},
            "startsAt": "2026-01-01T00:00:00Z",
            "endsAt": "2026-01-01T01:12:00Z",
            "generatorURL": "",
        },
    ],
}
_SAMPLE_GRAFANA: dict[str, Any] = {
    **_SAMPLE_ALERTMANAGER,
    "version": "1",
    "orgId": 1,
    "title": "[FIRING:2, RESOLVED:1] Sample",
    "state": "alerting",
    "message": "Sample",
    "externalURL": "http://grafana.example/",
    "alerts": [
        {
            **alert,
            "silenceURL": "http://grafana.example/alerting/silence/new",
            "dashboardURL": "http://grafana.example/d/x",
            "panelURL": "",
            "values": {"A": 1.5} if i == 0 else None,
            "valueString": "[ var='A' value=1.5 ]" if i == 0 else "",
        }
        for i, alert in enumerate(_SAMPLE_ALERTMANAGER["alerts"])
    ],
}


class Renderer:
    """Renders payloads for robots: Alertmanager, Grafana, plain DingTalk messages.

    Built with :meth:`load` (which raises :class:`ConfigError` for a broken template).
    Each method returns the :class:`~dingwire.relay.model.Outgoing` message for the
    outbox, or raises :class:`~dingwire.relay.alerts.PayloadError` for a payload it
    cannot read. Whether ``robot`` is configured is the caller's business
    (:meth:`has_robot`); an unknown one is rendered with no configured mention.
    """

    def __init__(
        self,
        settings: RelaySettings,
        config: Config,
        templates: Mapping[str, Template],
        overrides: Mapping[str, str],
        default_override: str | None,
    ) -> None:
        self.settings = settings
        self.config = config
        self._templates = dict(templates)
        self._overrides = dict(overrides)
        self._default_override = default_override

    @classmethod
    def load(cls, settings: RelaySettings, config: Config) -> Renderer:
        """Compile the default template and every override, and try each once.

        Relative template paths are read from the config file's folder (the working
        folder without one). Raises :class:`ConfigError` saying ``file:line: reason``, or
        naming ``[relay] templates.ROBOT`` for a robot that is not configured.
        """
        base = config.path.parent if config.path is not None else Path.cwd()

        def resolve(file: str) -> str:
            path = Path(file).expanduser()
            return str(path if path.is_absolute() else (base / path).resolve())

        for robot in settings.templates:
            if robot not in config.robots:
                names = ", ".join(sorted(config.robots)) or "none"
                raise ConfigError(
                    f"[relay] templates.{robot}: no robot named {robot!r} (configured: {names})"
                )
        overrides = {robot: resolve(file) for robot, file in settings.templates.items()}
        default_override = resolve(settings.template) if settings.template else None
        env = make_environment(settings.timezone)
        samples = [
            template_context(
                parse(sample), robot="sample", now=1767229200.0, timezone=settings.timezone
            )
            for parse, sample in (
                (parse_alertmanager, _SAMPLE_ALERTMANAGER),
                (parse_grafana, _SAMPLE_GRAFANA),
            )
        ]
        wanted = [
            DEFAULT_TEMPLATE,
            *([default_override] if default_override else []),
            *overrides.values(),
        ]
        templates = load_templates(env, wanted, samples)
        return cls(settings, config, templates, overrides, default_override)

    # -- helpers -------------------------------------------------------------------------

    def has_robot(self, name: str) -> bool:
        """Whether ``name`` is a configured robot (usable or not: sending says why not)."""
        return name in self.config.robots

    def template_name(self, robot: str) -> str:
        """The template ``robot``'s notifications are rendered with."""
        return self._overrides.get(robot) or self._default_override or DEFAULT_TEMPLATE

    def _robot_mention(self, robot: str) -> At | None:
        entry = self.config.robots.get(robot)
        mention = entry.settings.get("mention") if entry is not None else None
        return mention if isinstance(mention, At) and mention else None

    def mentions(self, robot: str, notification: Notification) -> At | None:
        """Who the notification mentions: the robot's ``mention`` and the firing alerts' on-call."""
        found: list[At] = []
        robot_at = self._robot_mention(robot)
        if robot_at is not None:
            found.append(robot_at)
        label = self.settings.mention_label
        oncall = self.settings.oncall
        if oncall:
            seen: set[str] = set()
            for alert in notification.firing:
                for name in alert.labels.get(label, "").split(","):
                    name = name.strip()
                    if name and name not in seen and name in oncall:
                        seen.add(name)
                        found.append(oncall[name])
        return _merge(found)

    def priority(self, notification: Notification) -> int:
        """The rank of the most urgent alert (the firing ones, if any fire)."""
        label = self.settings.priority_label
        alerts = notification.firing or notification.alerts
        return min(self.settings.priority(a.labels.get(label)) for a in alerts)

    def _render(self, robot: str, notification: Notification, now: float) -> tuple[str, str]:
        zone = self.settings.timezone
        name = self.template_name(robot)
        rendered: Rendered | None = None
        text = ""
        if name != DEFAULT_TEMPLATE:
            template = self._templates[name]
            try:
                context = template_context(notification, robot=robot, now=now, timezone=zone)
                rendered = render_template(template, context)
                text = tidy(rendered.text)
                if not text:
                    raise ValueError("the template rendered an empty text")
            except Exception as error:  # the template's fault: never the alert's loss
                log.warning(
                    "template %s failed for robot %s; rendered with the default template",
                    describe_failure(template, error),
                    robot,
                )
                rendered = None
        if rendered is None:
            # The default template, as Python (tests prove they agree): the intake's speed.
            rendered = render_default(notification, now=now, timezone=zone)
            text = tidy(rendered.text)
        title = " ".join((rendered.title or "").split()) or default_title(notification)
        return title[:200], text

    # -- the three kinds of payload --------------------------------------------------------

    def notification(self, robot: str, notification: Notification, *, now: float) -> Outgoing:
        """The message for an already parsed ``notification``."""
        title, text = self._render(robot, notification, now)
        body: dict[str, Any] = {"msgtype": "markdown", "markdown": {"title": title, "text": text}}
        at = self.mentions(robot, notification)
        if at is not None:
            body["at"] = at.to_payload()
            body = ensure_mentions(body)
        return Outgoing(
            robot=robot,
            body=_checked(body),
            kind="markdown",
            lines=tuple(alert_line(a, now) for a in notification.alerts),
            priority=self.priority(notification),
            source=notification.source,
            dedupe_key=dedupe_key(robot, notification),
            received=now,
        )

    def accepted(self, robot: str, notification: Notification, raw: str, *, now: float) -> Outgoing:
        """The message for ``notification`` (read from the JSON text ``raw``) as the intake
        stores it: checked, ranked and keyed, not rendered (:meth:`complete` renders it)."""
        return Outgoing(
            robot=robot,
            body={},
            kind="markdown",
            lines=(),
            priority=self.priority(notification),
            source=notification.source,
            dedupe_key=dedupe_key(robot, notification),
            received=now,
            payload=raw,
        )

    def alertmanager(
        self, robot: str, data: object, *, now: float, raw: str | None = None
    ) -> Outgoing:
        """The message for an Alertmanager webhook payload; :class:`PayloadError` if
        unreadable. ``raw``: the payload's JSON text as received — the message is then
        checked and kept unrendered, with it (what the intake stores)."""
        notification = parse_alertmanager(data)
        if raw is not None:
            return self.accepted(robot, notification, raw, now=now)
        return self.notification(robot, notification, now=now)

    def grafana(self, robot: str, data: object, *, now: float, raw: str | None = None) -> Outgoing:
        """The message for a Grafana webhook payload; :class:`PayloadError` if unreadable.
        ``raw``: as for :meth:`alertmanager`."""
        notification = parse_grafana(data)
        if raw is not None:
            return self.accepted(robot, notification, raw, now=now)
        return self.notification(robot, notification, now=now)

    def complete(self, message: Outgoing) -> Outgoing:
        """``message`` rendered, if it was stored unrendered (:attr:`Outgoing.payload`).

        It is rendered with this renderer's templates and mentions (a reload applies to
        what is still queued) at the time it was received, and keeps its priority and
        dedupe key. Raises :class:`PayloadError` for a payload this version cannot read.
        """
        if message.payload is None:
            return message
        parse = parse_grafana if message.source == "grafana" else parse_alertmanager
        try:
            data = json.loads(message.payload)
        except ValueError as error:
            raise PayloadError(f"the stored payload is not JSON: {error}") from None
        done = self.notification(message.robot, parse(data), now=message.received)
        return replace(done, priority=message.priority, dedupe_key=message.dedupe_key)

    def message(self, robot: str, data: object, *, now: float) -> Outgoing:
        """The message for ``POST /v1/robots/{robot}/messages``.

        ``data`` is a complete DingTalk message (``{"msgtype": …}``, checked by the core's
        validator), or the shorthand ``{"text": "…"}`` / ``{"title": "…", "markdown": "…"}``,
        either with an optional ``at`` object. An optional top-level ``"severity"`` sets
        the priority and is not sent. Text and markdown without an ``at`` get the robot's
        configured mention. Link, actionCard and feedCard messages are cards: never merged.
        """
        if not isinstance(data, Mapping):
            raise PayloadError("body: expected a JSON object (a DingTalk message)", field="body")
        try:
            check_values(data)
        except MessageError as error:
            raise PayloadError(error.message, field=error.field or "") from None
        payload = dict(data)
        severity = payload.pop("severity", None)
        if severity is not None and not isinstance(severity, str):
            raise PayloadError('severity: expected a string such as "critical"', field="severity")
        body = payload if "msgtype" in payload else _shorthand(payload)
        body = _checked(body)
        msgtype = body["msgtype"]
        if msgtype in ("text", "markdown"):
            mention = self._robot_mention(robot)
            if "at" not in body and mention is not None:
                body = {**body, "at": mention.to_payload()}
            body = _checked(ensure_mentions(body))
        kind: Kind = msgtype if msgtype in ("text", "markdown") else "card"
        return Outgoing(
            robot=robot,
            body=body,
            kind=kind,
            lines=(_message_line(body),),
            priority=self.settings.priority(severity),
            source="messages",
            dedupe_key=None,
            received=now,
        )


_SHORTHAND = (
    'expected a DingTalk message ({"msgtype": "text", "text": {"content": "…"}}) or the '
    'shorthand {"text": "…"} or {"title": "…", "markdown": "…"}'
)


def _shorthand(payload: Mapping[str, Any]) -> dict[str, Any]:
    """``{"text": …}`` / ``{"title": …, "markdown": …}`` (and ``at``) as a DingTalk message."""
    unknown = sorted(set(payload) - {"text", "title", "markdown", "at"})
    if unknown:
        raise PayloadError(f"{unknown[0]}: unknown key; {_SHORTHAND}", field=unknown[0])
    if "text" in payload and ("markdown" in payload or "title" in payload):
        raise PayloadError(
            f"text: give text, or title and markdown, not both; {_SHORTHAND}", field="text"
        )
    body: dict[str, Any]
    if "text" in payload:
        text = payload["text"]
        if not isinstance(text, str) or not text.strip():
            raise PayloadError(f"text: expected a non-empty string; {_SHORTHAND}", field="text")
        body = {"msgtype": "text", "text": {"content": text}}
    elif "markdown" in payload or "title" in payload:
        for key in ("title", "markdown"):
            value = payload.get(key)
            if not isinstance(value, str) or not value.strip():
                what = "is required" if value is None else "expected a non-empty string"
                raise PayloadError(f"{key}: {what}; {_SHORTHAND}", field=key)
        body = {
            "msgtype": "markdown",
            "markdown": {"title": payload["title"], "text": payload["markdown"]},
        }
    else:
        raise PayloadError(f"body: {_SHORTHAND}", field="body")
    if "at" in payload:
        body["at"] = payload["at"]
    return body


def _first_line(text: str, *, besides: str = "") -> str:
    """The first line of ``text`` with something to say (not blank, not ``besides``)."""
    for line in text.splitlines():
        line = line.strip().lstrip("#>").strip()
        if line and line != besides:
            return line
    return ""


def _message_line(body: Mapping[str, Any]) -> DigestLine:
    """What a digest keeps of a plain message: its title, or its text, on one escaped line."""
    msgtype = body["msgtype"]
    obj = body[msgtype]
    if msgtype == "text":
        name = _first_line(obj["content"])
        text = escape_markdown(_cut(obj["content"], 500))
    elif msgtype == "feedCard":
        name = obj["links"][0]["title"]
        text = escape_markdown(_cut(name, _LINE_SUMMARY))
    else:
        name = obj["title"]
        first = _first_line(obj.get("text", ""), besides=name.strip())
        text = f"**{escape_markdown(_cut(name, _LINE_VALUE))}**"
        if first:
            text += " — " + escape_markdown(_cut(first, _LINE_SUMMARY))
    return DigestLine("", _cut(name, _LINE_VALUE), text)
