"""The relay's templates: sandboxed Jinja2 that cannot let alert data speak markdown.

Rules this module keeps:

- Templates run in Jinja2's :class:`~jinja2.sandbox.ImmutableSandboxedEnvironment`: no
  attribute that starts with ``_`` (so no ``__class__``, ``__globals__``, no way to ``os``),
  no method that changes a list or a dict, no unsafe ``str.format``, ranges capped.
- Every value a template prints is passed through :func:`~dingwire.content.escape_markdown`
  (the environment's ``finalize``): a label or annotation cannot format, link, show an image,
  start a heading or a list, or mention anyone. Only what the template marks as markdown —
  ``|safe``, a macro's or a ``{% set %}`` block's output, the ``link`` and ``labels``
  filters — is printed as it is. ``|e`` / ``|escape`` escape for markdown, not HTML.
- A name the template does not know is an error (strict), except a key missing from a
  table of labels or annotations, which reads as ``""``: ``{{ alert.annotations.runbook_url }}``
  needs no ``is defined`` test.
- Errors are found when the templates are loaded, never at the first alert:
  :func:`load_templates` compiles every file and renders it once against sample
  notifications of both sources; a failure is a :class:`~dingwire.core.errors.ConfigError`
  saying ``file:line: reason``.

A template renders the markdown ``text`` of the message; it may set the title (shown in the
chat list and the notification) with a top-level ``{% set title = "…" %}``; otherwise the
relay's default title is used. The context is :func:`template_context`'s (documented there).
Mentions are not the template's business: the relay appends the ``@`` text once, at the end.
"""

from __future__ import annotations

import importlib.resources
import json
import re
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from jinja2 import (
    BaseLoader,
    Template,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
    Undefined,
    UndefinedError,
    pass_context,
)
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from dingwire.content import escape_markdown
from dingwire.core.errors import ConfigError
from dingwire.core.urls import url_problem
from dingwire.relay.alerts import Alert, Notification, parse_time

__all__ = [
    "BUILTIN_PREFIX",
    "DEFAULT_TEMPLATE",
    "Rendered",
    "alert_links",
    "back_url",
    "default_title",
    "escape_cached",
    "format_duration",
    "group_name",
    "load_templates",
    "make_environment",
    "render_default",
    "render_template",
    "silence_url",
    "template_context",
    "tidy",
]

#: Names of the templates shipped with dingwire (``{% extends "dingwire:default.md.j2" %}``).
BUILTIN_PREFIX = "dingwire:"
#: The default template's name.
DEFAULT_TEMPLATE = f"{BUILTIN_PREFIX}default.md.j2"

_SEVERITY_ICONS = {"critical": "🔴", "error": "🔴", "warning": "🟠", "info": "🔵"}


# -- escaping ------------------------------------------------------------------------------


@lru_cache(maxsize=8192)
def _escape_short(text: str) -> str:
    return escape_markdown(text)


def escape_cached(text: str) -> str:
    """:func:`~dingwire.content.escape_markdown`, remembered for short texts: storms repeat
    the same label values thousands of times (a long text is escaped each time, never
    kept)."""
    return _escape_short(text) if len(text) <= 256 else escape_markdown(text)


def _md_text(value: object, line_breaks: bool = False) -> str:
    """:func:`_md` as a plain ``str``, for code that builds markdown without Jinja."""
    if isinstance(value, Markup):
        return str(value)
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if line_breaks:
        return escape_markdown(text, line_breaks=True)
    return escape_cached(text)


def _md(value: object, line_breaks: bool = False) -> Markup:
    """A value as markdown that shows what it says (the ``md`` / ``e`` / ``escape`` filter)."""
    if isinstance(value, Markup):
        return value
    return Markup(_md_text(value, line_breaks))


def _finalize(value: object) -> object:
    """What every ``{{ … }}`` prints: markdown as it is, anything else escaped."""
    if isinstance(value, Markup):
        return value
    return _md(value)


class _Undefined(Undefined):
    """Strict, except for a key missing from a table (labels, annotations): that is ``""``."""

    __slots__ = ()

    def _lenient(self) -> bool:
        return self._undefined_exception is UndefinedError and isinstance(
            self._undefined_obj, Mapping
        )

    def __str__(self) -> str:
        return "" if self._lenient() else self._fail_with_undefined_error()

    def __bool__(self) -> bool:
        return False if self._lenient() else self._fail_with_undefined_error()

    def __iter__(self) -> Any:
        return iter(()) if self._lenient() else self._fail_with_undefined_error()

    def __len__(self) -> int:
        return 0 if self._lenient() else self._fail_with_undefined_error()

    def __eq__(self, other: object) -> bool:
        if self._lenient():
            return other == "" or isinstance(other, _Undefined)
        return self._fail_with_undefined_error()

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __contains__(self, item: object) -> bool:
        return False if self._lenient() else self._fail_with_undefined_error()

    def __hash__(self) -> int:
        return id(type(self))


# -- filters -------------------------------------------------------------------------------


def format_duration(seconds: float | timedelta | None) -> str:
    """A duration as a person says it, to its two largest units: ``1h 12m``, ``6s``, ``3d 4h``.

    >>> format_duration(4321), format_duration(6), format_duration(0.4)
    ('1h 12m', '6s', '0s')
    """
    if seconds is None:
        return ""
    if isinstance(seconds, timedelta):
        seconds = seconds.total_seconds()
    total = max(0, int(seconds))
    units = (("d", 86_400), ("h", 3600), ("m", 60), ("s", 1))
    first = next((i for i, (_, size) in enumerate(units) if total >= size), len(units) - 1)
    big, big_size = units[first]
    parts = [f"{total // big_size}{big}"]
    if first + 1 < len(units):
        small, small_size = units[first + 1]
        rest = (total % big_size) // small_size
        if rest:  # "1h 0m" reads worse than "1h"
            parts.append(f"{rest}{small}")
    return " ".join(parts)


def _moment(value: object) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, ZoneInfo("UTC"))
    if isinstance(value, str):
        try:
            return parse_time(value)
        except ValueError:
            return None
    return None


@lru_cache(maxsize=4096)  # a group's alerts, and a storm's, mostly share their times
def _strftime(moment: datetime, zone: ZoneInfo, fmt: str) -> str:
    return moment.astimezone(zone).strftime(fmt)


def _time_filter(zone: ZoneInfo) -> Callable[..., str]:
    def time(value: object, fmt: str = "%Y-%m-%d %H:%M:%S %Z") -> str:
        """A time (datetime, epoch seconds or RFC 3339) in the relay's time zone."""
        moment = _moment(value)
        if moment is None:
            return ""
        return _strftime(moment, zone, str(fmt))

    return time


#: An http(s) URL of plain ASCII, with nothing a markdown link target must not hold.
_PLAIN_URL = re.compile(
    r"https?://[A-Za-z0-9.-]+(?::\d{1,5})?(?:[/?#][A-Za-z0-9%/._~!$&'*+,;=:@?#-]*)?"
)


def _safe_url(url: object) -> str | None:
    """``url`` fit for a markdown link's target, or ``None`` when it is not an http(s) URL."""
    if not isinstance(url, str) or not url:
        return None
    if len(url) <= 1024:
        return _safe_short_url(url)
    return _safe_any_url(url)


@lru_cache(maxsize=4096)  # the alerts of a group share their graph, dashboard, runbook
def _safe_short_url(url: str) -> str | None:
    return _safe_any_url(url)


def _safe_any_url(url: str) -> str | None:
    if not url.strip():
        return None
    url = url.strip()
    if _PLAIN_URL.fullmatch(url):
        return url  # the common case, in one regex: nothing to check or encode
    if url_problem(url, schemes=("http", "https"), ascii_only=False):
        return None
    if not urlsplit(url).netloc:
        return None
    # Nothing in the target may end the link early or start markup: ( ) < > and spaces.
    return quote(url, safe="/:?#[]@!$&'*+,;=%~-._")


def _link_text(url: object, text: object = "🔗") -> str:
    """:func:`_link` as a plain ``str``."""
    target = _safe_url(url)
    if target is None:
        return ""
    return f"[{_md_text(text)}]({target})"


def _link(url: object, text: object = "🔗") -> Markup:
    """``[text](url)`` with ``text`` escaped; nothing at all when ``url`` is no http(s) URL."""
    return Markup(_link_text(url, text))


def _labels_text(
    labels: object, exclude: Iterable[str] = (), sep: str = ", ", only: Sequence[str] = ()
) -> str:
    """:func:`_labels` as a plain ``str``."""
    if not isinstance(labels, Mapping):
        return ""
    skip = set(exclude)
    keys = [k for k in only if k in labels] if only else sorted(k for k in labels if k not in skip)
    # ``sep`` is the template's own text, not alert data.
    return str(sep).join(f"{_md_text(k)}={_md_text(labels[k])}" for k in keys)


def _labels(
    labels: object, exclude: Iterable[str] = (), sep: str = ", ", only: Sequence[str] = ()
) -> Markup:
    """``key=value`` pairs, sorted by key, each side escaped; ``exclude`` / ``only`` pick keys."""
    return Markup(_labels_text(labels, exclude, sep, only))


def _severity_icon(severity: object) -> str:
    """🔴 critical, 🟠 warning, 🔵 info, ⚪ anything else."""
    return _SEVERITY_ICONS.get(str(severity).lower(), "⚪")


def make_environment(timezone: str) -> ImmutableSandboxedEnvironment:
    """The sandboxed environment every relay template runs in (times shown in ``timezone``)."""
    env = _Environment(
        loader=_Loader(),
        autoescape=True,
        finalize=_finalize,
        undefined=_Undefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        auto_reload=False,
    )
    zone = ZoneInfo(timezone)
    env.filters.update(
        {
            "md": _md,
            "e": _md,
            "escape": _md,
            "forceescape": _md,
            "time": _time_filter(zone),
            "duration": format_duration,
            "labels": _labels,
            "link": _link,
            "severity_icon": _severity_icon,
            "silence_url": _silence_filter,
            "links": _links_filter,
        }
    )
    env.globals.update({"timezone": timezone})
    return env


class _Environment(ImmutableSandboxedEnvironment):
    #: (type, attribute) -> whether the sandbox allows it. The sandbox's answer depends on
    #: nothing else, and asking it costs more than the rest of a storm's rendering.
    _safe: dict[tuple[type, str], bool]

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        try:
            cache = self._safe
        except AttributeError:
            cache = self._safe = {}
        key = (type(obj), attr)
        known = cache.get(key)
        if known is None:
            known = super().is_safe_attribute(obj, attr, value)
            if len(cache) < 10_000:
                cache[key] = known
        return known

    def join_path(self, template: str, parent: str) -> str:
        """``{% include "x.j2" %}`` is found beside the file that includes it."""
        if template.startswith(BUILTIN_PREFIX) or parent.startswith(BUILTIN_PREFIX):
            return template
        return str(Path(parent).parent / template)


class _Loader(BaseLoader):
    """dingwire's own templates by ``dingwire:NAME``; files by path."""

    def get_source(
        self, environment: Any, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        if template.startswith(BUILTIN_PREFIX):
            name = template.removeprefix(BUILTIN_PREFIX)
            if not name or "/" in name or "\\" in name or name.startswith("."):
                raise TemplateNotFound(template)
            resource = importlib.resources.files("dingwire.relay.template_files") / name
            if not resource.is_file():
                raise TemplateNotFound(template)
            return resource.read_text("utf-8"), template, lambda: True
        path = Path(template)
        try:
            source = path.read_text("utf-8")
        except FileNotFoundError:
            raise TemplateNotFound(template) from None
        except (OSError, UnicodeDecodeError) as error:
            raise TemplateError(f"cannot be read: {error}") from None
        return source, str(path), lambda: True


# -- the context ---------------------------------------------------------------------------


def default_title(notification: Notification) -> str:
    """``[FIRING:2] DiskFull (node critical)``: counts, group label values, common extras.

    Grafana's own ``title`` is used when it sent one. The title is shown as plain text (it
    is not markdown), on one line, at most 200 characters.
    """
    if notification.source == "grafana" and notification.title.strip():
        title = notification.title
    else:
        firing, resolved = len(notification.firing), len(notification.resolved)
        counts = [f"FIRING:{firing}"] if firing else []
        if resolved:
            counts.append(f"RESOLVED:{resolved}")
        title = f"[{', '.join(counts)}] {group_name(notification)}"
        extra = [
            v
            for k, v in sorted(notification.common_labels.items())
            if k not in notification.group_labels
        ]
        if extra:
            title += f" ({' '.join(extra)})"
    title = " ".join(title.split())
    return title if len(title) <= 200 else f"{title[:199]}…"


def group_name(notification: Notification) -> str:
    """The group's label values (``DiskFull``), else the first alert's name, else the receiver."""
    values = [v for _, v in sorted(notification.group_labels.items()) if v]
    if "alertname" in notification.group_labels:
        # The alert's name reads first, as Alertmanager's own templates show it.
        values = [notification.group_labels["alertname"]] + [
            v for k, v in sorted(notification.group_labels.items()) if k != "alertname" and v
        ]
    if values:
        return " ".join(values)
    return notification.alerts[0].name or notification.receiver or "alerts"


def back_url(notification: Notification) -> str:
    """Where a reader sees the group: Alertmanager's alert list, or Grafana's."""
    base = notification.external_url.rstrip("/")
    if not base:
        return ""
    if notification.source == "grafana":
        return f"{base}/alerting/list"
    receiver = quote(notification.receiver, safe="")
    return f"{base}/#/alerts?receiver={receiver}" if receiver else f"{base}/#/alerts"


def silence_url(notification: Notification, alert: Alert) -> str:
    """Where to silence ``alert``: Grafana's own link, or Alertmanager's new-silence page
    with a matcher for each of the alert's labels (``""`` without an external URL)."""
    if notification.source == "grafana" or alert.silence_url:
        return alert.silence_url
    base = notification.external_url.rstrip("/")
    if not base or not alert.labels:
        return ""
    matchers = "%2C".join(
        _short_matcher(name, value) if len(name) + len(value) <= 256 else _matcher(name, value)
        for name, value in sorted(alert.labels.items())
    )
    return f"{base}/#/silences/new?filter=%7B{matchers}%7D"


def _matcher(name: str, value: str) -> str:
    """``name="value"``, percent-encoded for a query."""
    return quote(f"{name}={json.dumps(value, ensure_ascii=False)}", safe="")


# A storm's alerts share most of their labels: each short one is encoded once.
_short_matcher = lru_cache(maxsize=4096)(_matcher)


@pass_context
def _links_filter(context: Context, alert: object, sep: str = " · ") -> Markup:
    """``{{ alert | links }}``: :func:`alert_links` for the notification being rendered."""
    notification = context.get("notification")
    if not isinstance(notification, Notification) or not isinstance(alert, Alert):
        return Markup("")
    return Markup(alert_links(notification, alert, str(sep)))


def alert_links(notification: Notification, alert: Alert, sep: str = " · ") -> str:
    """The alert's links, as the default template shows them: 📈 Graph (Grafana: Alert
    rule), Dashboard, Panel, 🔕 Silence (while firing), 📖 Runbook (the ``runbook_url``
    annotation); those it has, joined by ``sep`` (markdown, every text escaped)."""
    grafana = notification.source == "grafana"
    found = [
        _link_text(alert.generator_url, "Alert rule" if grafana else "📈 Graph"),
        _link_text(alert.dashboard_url, "Dashboard"),
        _link_text(alert.panel_url, "Panel"),
        _link_text(silence_url(notification, alert), "🔕 Silence") if alert.firing else "",
        _link_text(alert.annotations.get("runbook_url"), "📖 Runbook"),
    ]
    return sep.join(link for link in found if link)


@pass_context
def _silence_filter(context: Context, alert: object) -> str:
    """``{{ alert | silence_url }}``: :func:`silence_url` for the notification being rendered."""
    notification = context.get("notification")
    if not isinstance(notification, Notification) or not isinstance(alert, Alert):
        return ""
    return silence_url(notification, alert)


def template_context(
    notification: Notification, *, robot: str, now: float, timezone: str
) -> dict[str, Any]:
    """What every template sees (the default one and every override):

    - ``notification``: the whole :class:`~dingwire.relay.alerts.Notification`;
    - ``source`` (``"alertmanager"`` / ``"grafana"``), ``status``, ``receiver``, ``alerts``,
      ``firing``, ``resolved`` (tuples of :class:`~dingwire.relay.alerts.Alert`),
      ``group_labels``, ``common_labels``, ``common_annotations``, ``external_url``,
      ``group_key``, ``truncated_alerts``; Grafana's ``title``, ``state``, ``message``,
      ``org_id``;
    - ``robot``: the robot's name; ``now``: the time of intake (aware, in ``timezone``);
      ``timezone``: the ``[relay] timezone``;
    - ``default_title``, ``group_name``, ``back_url``: what the default template shows.

    Each alert has ``status``, ``name``, ``labels``, ``annotations``, ``summary``,
    ``starts_at``, ``ends_at``, ``generator_url``, ``fingerprint``, ``lasted`` (seconds,
    to now while firing) and Grafana's ``silence_url``, ``dashboard_url``, ``panel_url``,
    ``values``, ``value_string``. Filters: ``time``, ``duration``, ``labels``, ``link``,
    ``md``, ``severity_icon``, ``silence_url`` and ``links`` (``{{ alert | links }}``).
    """
    n = notification
    return {
        "notification": n,
        "source": n.source,
        "status": n.status,
        "receiver": n.receiver,
        "alerts": n.alerts,
        "firing": n.firing,
        "resolved": n.resolved,
        "group_labels": n.group_labels,
        "common_labels": n.common_labels,
        "common_annotations": n.common_annotations,
        "external_url": n.external_url,
        "group_key": n.group_key,
        "truncated_alerts": n.truncated_alerts,
        "title": n.title,
        "state": n.state,
        "message": n.message,
        "org_id": n.org_id,
        "robot": robot,
        "now": datetime.fromtimestamp(now, ZoneInfo(timezone)),
        "now_epoch": now,
        "timezone": timezone,
        "default_title": default_title(n),
        "group_name": group_name(n),
        "back_url": back_url(n),
    }


# -- loading and rendering -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rendered:
    """A template's output: the markdown ``text`` and the ``title`` it set (or ``None``)."""

    text: str
    title: str | None


def _where(error: BaseException, names: Iterable[str]) -> str:
    """``file:line`` of the template line that raised ``error`` (Jinja keeps them in the traceback)."""
    if isinstance(error, TemplateSyntaxError) and error.lineno:
        return f"{error.filename or error.name or '?'}:{error.lineno}"
    files = list(names)
    found = ""
    for frame in traceback.extract_tb(error.__traceback__):
        # Jinja gives a template's frames its file name and line: the last one is where.
        if frame.filename in files or not frame.filename.endswith((".py", ">")):
            found = f"{frame.filename}:{frame.lineno}"
    return found or (files[0] if files else "?")


def _reason(error: BaseException) -> str:
    if isinstance(error, TemplateNotFound):
        return f"the template {error.name!r} it includes is not found (no such file)"
    if isinstance(error, TemplateSyntaxError):
        return error.message or str(error)
    text = str(error) or type(error).__name__
    return text if isinstance(error, TemplateError) else f"{type(error).__name__}: {text}"


_BLANK_LINES = re.compile(r"\n[ \t]+(?=\n)")
_PARAGRAPHS = re.compile(r"\n{3,}")


def tidy(text: str) -> str:
    """A template's output as a message text: no runs of blank lines, no blank ends."""
    if "\r" not in text and " \n" not in text and "\t\n" not in text and "\n\n\n" not in text:
        return text.strip()  # nothing for the expressions below to find: skip them
    text = _BLANK_LINES.sub("\n", text.replace("\r\n", "\n"))
    return _PARAGRAPHS.sub("\n\n", text).strip()


def render_template(template: Template, context: Mapping[str, Any]) -> Rendered:
    """Render ``template``: its markdown and the ``title`` it set at the top level, if any.

    Raises what the template raises (the relay reports it with :func:`describe_failure`).
    """
    try:
        module = template.make_module(dict(context))
    except Exception:
        # Jinja's own handler re-raises with the template's file and line in the traceback.
        template.environment.handle_exception()
    text = str(module)
    title = getattr(module, "title", None)
    if title is not None and not isinstance(title, str):
        title = str(title)
    return Rendered(text=text, title=title)


def describe_failure(template: Template, error: BaseException) -> str:
    """``file:line: reason`` for an error ``template`` raised while rendering."""
    return f"{_where(error, [template.filename or template.name or '?'])}: {_reason(error)}"


def load_templates(
    env: ImmutableSandboxedEnvironment,
    names: Iterable[str],
    samples: Sequence[Mapping[str, Any]],
) -> dict[str, Template]:
    """Compile every template in ``names`` and render each against every sample context.

    Raises :class:`ConfigError` (``file:line: reason``) for the first that fails: a file
    that is missing or unreadable, a syntax error, an unknown filter or test, a name it does
    not know, a forbidden attribute.
    """
    loaded: dict[str, Template] = {}
    for name in dict.fromkeys(names):
        try:
            template = env.get_template(name)
        except TemplateNotFound:
            raise ConfigError(f"template {name}: no such file") from None
        except TemplateSyntaxError as error:
            raise ConfigError(f"template {_where(error, [name])}: {_reason(error)}") from None
        except TemplateError as error:
            raise ConfigError(f"template {name}: {_reason(error)}") from None
        for context in samples:
            try:
                render_template(template, context)
            except Exception as error:  # anything a template can raise: report, never crash
                raise ConfigError(
                    f"template {describe_failure(template, error)} "
                    f"(rendering a sample {context['source']} notification)"
                ) from None
        loaded[name] = template
    return loaded


def alert_labels_shown(alert: Alert, common: Mapping[str, str]) -> dict[str, str]:
    """The labels worth showing for one alert: not its name or severity, not common ones."""
    return {
        k: v
        for k, v in alert.labels.items()
        if k not in ("alertname", "severity") and common.get(k) != v
    }


# -- the default template, compiled by hand ---------------------------------------------------


def render_default(notification: Notification, *, now: float, timezone: str) -> Rendered:
    """What ``dingwire:default.md.j2`` renders, written in Python: the same text, 5x faster.

    The relay renders every notification of a robot without an override through this
    function: the intake's throughput hangs on it. ``tests/relay/render`` checks that it
    gives exactly what the template gives (after :func:`tidy`), for the samples and for
    generated notifications; the template stays the documented default, the one to copy.
    """
    n = notification
    time = _time_filter(ZoneInfo(timezone))
    firing, resolved = n.firing, n.resolved
    hidden = ["alertname", "severity", *n.common_labels]
    out: list[str] = []
    if firing:
        counts = f"FIRING:{len(firing)}" + (f", RESOLVED:{len(resolved)}" if resolved else "")
        head = f"🔥 **\\[{counts}\\]**"
    else:
        head = f"✅ **\\[RESOLVED:{len(resolved)}\\]**"
    name = group_name(n)
    back = back_url(n)
    out.append(f"#### {head} {_link_text(back, name) or _md_text(name)}")
    common = _labels_text(n.common_labels, exclude=["alertname"])
    if common:
        out.append(f"**Labels:** {common}")

    def show(alert: Alert) -> None:
        severity = alert.labels.get("severity", "")
        summary = alert.summary
        icon = _severity_icon(severity) if alert.firing else "✅"
        badge = f"\\[{_md_text(severity.upper())}\\] " if severity else ""
        out.append(f"##### {icon} {badge}{_md_text(summary or alert.name or 'alert')}")
        items: list[str] = []
        if summary and alert.name:
            items.append(f"- **Alert:** {_md_text(alert.name)}")
        description = alert.annotations.get("description", "")
        if description and description != summary:
            items.append(f"- **Description:** {_md_text(description, line_breaks=True)}")
        own = _labels_text(alert.labels, exclude=hidden)
        if own:
            items.append(f"- **Labels:** {own}")
        if alert.values:
            items.append(f"- **Value:** {_labels_text(alert.values)}")
        lasted = format_duration(alert.lasted(now))
        if alert.firing:
            line = f"- **Started:** {_md_text(time(alert.starts_at))}"
            if alert.starts_at:
                line += f" (firing for {_md_text(lasted)})"
        else:
            line = f"- **Lasted:** {_md_text(lasted or 'unknown')}"
            if alert.starts_at:
                line += f" ({_md_text(time(alert.starts_at))} → {_md_text(time(alert.ends_at, '%H:%M:%S'))})"
        items.append(line)
        links = alert_links(n, alert)
        if links:
            items.append(f"- {links}")
        out.append("\n".join(items))

    for title, alerts in (("**🔥 Firing ({})**", firing), ("**✅ Resolved ({})**", resolved)):
        if alerts:
            out.append(title.format(len(alerts)))
            for alert in alerts:
                show(alert)
    if n.truncated_alerts:
        sender = "Grafana" if n.source == "grafana" else "Alertmanager"
        out.append(
            f"*… and {n.truncated_alerts} more alerts that {sender} left out of this notification.*"
        )
    if back:
        where = "Open in Grafana" if n.source == "grafana" else "Open in Alertmanager"
        out.append(f"{_link_text(back, where)} · times in {_md_text(timezone)}")
    return Rendered(text="\n\n".join(out).strip(), title=default_title(n))
