"""``render_default`` (the default template written in Python, for the intake's speed) gives
exactly what ``dingwire:default.md.j2`` gives: for the samples and for generated payloads.

The template stays the documented default, the one users copy; if the two ever disagree,
one of them is wrong and this fails with both texts.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dingwire.relay.alerts import Notification, parse_alertmanager, parse_grafana
from dingwire.relay.templates import (
    DEFAULT_TEMPLATE,
    make_environment,
    render_default,
    render_template,
    template_context,
    tidy,
)

from .conftest import NOW, sample

ZONES = ["Asia/Shanghai", "UTC", "America/New_York"]
SAMPLES = [
    ("alertmanager", "alertmanager/firing-two-alerts"),
    ("alertmanager", "alertmanager/resolved-one-alert"),
    ("grafana", "grafana/firing-and-resolved"),
]


@cache
def _default_template(zone: str) -> Any:
    return make_environment(zone).get_template(DEFAULT_TEMPLATE)


def both(notification: Notification, zone: str, now: float = NOW) -> tuple[str, str, str, str]:
    """(template text, Python text, template title, Python title), each tidied."""
    template = _default_template(zone)
    context = template_context(notification, robot="ops", now=now, timezone=zone)
    by_template = render_template(template, context)
    by_python = render_default(notification, now=now, timezone=zone)
    return (
        tidy(by_template.text),
        tidy(by_python.text),
        by_template.title or "",
        by_python.title or "",
    )


def assert_same(notification: Notification, zone: str, now: float = NOW) -> None:
    template_text, python_text, template_title, python_title = both(notification, zone, now)
    assert python_text == template_text
    assert python_title == template_title


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize(("source", "name"), SAMPLES)
def test_the_samples_render_the_same(source: str, name: str, zone: str) -> None:
    parse = parse_grafana if source == "grafana" else parse_alertmanager
    assert_same(parse(sample(name)), zone)


def test_a_changed_template_would_be_caught() -> None:
    """The comparison is real: the two texts are long, alike and not trivially equal."""
    notification = parse_alertmanager(sample("alertmanager/firing-two-alerts"))
    template_text, python_text, *_ = both(notification, "Asia/Shanghai")
    assert len(template_text) > 300
    assert python_text.replace("Description", "Descr") != template_text


# -- generated payloads ----------------------------------------------------------------------

# Text with markdown, mentions, links, newlines, CJK and blanks: what escaping must handle.
_words = st.sampled_from(
    ["disk", "full", "@all", "[x](http://evil)", "*bold*", "告警", "db-1", "\n", " ", "", "#", "`"]
)
_text = st.lists(_words, max_size=6).map("".join)
_name = st.sampled_from(["alertname", "severity", "instance", "job", "team", "env", "区域"])
_label_value = st.one_of(st.sampled_from(["critical", "warning", "info", "page"]), _text)
_labels = st.dictionaries(_name, _label_value, max_size=5)
_times = st.sampled_from(
    [
        "2026-11-29T11:20:00Z",
        "2026-11-30T03:04:05.123+08:00",
        "0001-01-01T00:00:00Z",
        "2026-11-30T11:59:59Z",
    ]
)
_urls = st.sampled_from(
    ["", "http://prometheus:9090/graph?g0.expr=up", "javascript:alert(1)", "https://g/d/x?a=1&b=2"]
)


@st.composite
def _alert(draw: st.DrawFn, grafana: bool) -> dict[str, Any]:
    alert: dict[str, Any] = {
        "status": draw(st.sampled_from(["firing", "resolved"])),
        "labels": draw(_labels),
        "annotations": draw(
            st.dictionaries(
                st.sampled_from(["summary", "description", "runbook_url", "message"]),
                st.one_of(_text, _urls),
                max_size=4,
            )
        ),
        "startsAt": draw(_times),
        "endsAt": draw(_times),
        "generatorURL": draw(_urls),
        "fingerprint": draw(st.sampled_from(["", "a1b2c3"])),
    }
    if grafana:
        alert.update(
            silenceURL=draw(_urls),
            dashboardURL=draw(_urls),
            panelURL=draw(_urls),
            values=draw(st.dictionaries(st.sampled_from(["A", "B"]), st.integers(-5, 500))),
            valueString=draw(_text),
        )
    return alert


@st.composite
def _payload(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    grafana = draw(st.booleans())
    payload: dict[str, Any] = {
        "version": "4",
        "groupKey": draw(_text),
        "status": draw(st.sampled_from(["firing", "resolved"])),
        "receiver": draw(_text),
        "groupLabels": draw(_labels),
        "commonLabels": draw(_labels),
        "commonAnnotations": {},
        "externalURL": draw(st.sampled_from(["", "http://alertmanager:9093", "http://g:3000/"])),
        "truncatedAlerts": draw(st.integers(0, 3)),
        "alerts": draw(st.lists(_alert(grafana), min_size=1, max_size=4)),
    }
    if grafana:
        payload.update(orgId=1, title=draw(_text), state="alerting", message=draw(_text))
    return ("grafana" if grafana else "alertmanager"), payload


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_payload(), st.sampled_from(ZONES))
def test_generated_payloads_render_the_same(
    generated: tuple[str, dict[str, Any]], zone: str
) -> None:
    source, payload = generated
    parse = parse_grafana if source == "grafana" else parse_alertmanager
    assert_same(parse(payload), zone)


def _tidy_the_long_way(text: str) -> str:
    text = re.sub(r"\n[ \t]+(?=\n)", "\n", text.replace("\r\n", "\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(["a", " ", "\t", "\n", "\r", "🔥"]), max_size=30))
def test_tidy_takes_its_short_cut_only_when_it_changes_nothing(text: str) -> None:
    assert tidy(text) == _tidy_the_long_way(text)
