"""Renderer: the samples, escaping, mentions, time zones, dedupe keys, priorities, messages."""

from __future__ import annotations

import copy
import itertools
import json
import re
import time
from typing import Any
from urllib.parse import urlsplit

import pytest

from dingwire.content.escape import ZWSP
from dingwire.core.limits import MAX_BODY_BYTES
from dingwire.core.validation import validate_payload
from dingwire.relay.alerts import PayloadError
from dingwire.relay.model import Outgoing
from dingwire.relay.render import Renderer

from .conftest import NOW, SECRET, WEBHOOK, MakeRenderer, sample

LINK = re.compile(r"\[([^\]]*)\]\(([^)]*)\)")


def text_of(out: Outgoing) -> str:
    assert out.body["msgtype"] == "markdown"
    text: str = out.body["markdown"]["text"]
    return text


def links(text: str) -> list[str]:
    """The targets of every markdown link in ``text`` (escaped brackets are not links)."""
    unescaped = re.sub(r"\\.", "", text)
    return [m.group(2) for m in LINK.finditer(unescaped)]


def checked(out: Outgoing) -> Outgoing:
    validate_payload(out.body, strict=True)
    assert out.lines, "every message has at least one digest line"
    return out


# -- the samples -----------------------------------------------------------------------------


def test_firing_sample(renderer: Renderer) -> None:
    out = checked(renderer.alertmanager("ops", sample("alertmanager/firing-two-alerts"), now=NOW))
    assert out.robot == "ops"
    assert out.kind == "markdown"
    assert out.source == "alertmanager"
    assert out.received == NOW
    assert out.body["markdown"]["title"] == "[FIRING:2] DiskFull (node critical)"
    text = text_of(out)
    assert text.startswith("#### 🔥 **\\[FIRING:2\\]** [DiskFull](")
    for words in (
        "Disk almost full on db-1",
        "Disk almost full on db-2",
        "/var is 97% full",
        "\\[CRITICAL\\]",
        "instance=db-1:9100",
        "job=node",
        "2026-11-29 19:21:24 CST",  # Asia/Shanghai
    ):
        assert words in text
    # The graph link only where the alert has a generatorURL; the link back to Alertmanager.
    # A silence link for each firing alert, matching its labels.
    silence = (
        "http://vm:19093/#/silences/new?filter=%7Balertname%3D%22DiskFull%22%2C"
        "instance%3D%22db-{}%3A9100%22%2Cjob%3D%22node%22%2Cseverity%3D%22critical%22%7D"
    )
    assert links(text) == [
        "http://vm:19093/#/alerts?receiver=dingtalk-relay",
        "http://127.0.0.1:9090/graph?g0.expr=disk",
        silence.format(1),
        silence.format(2),
        "http://vm:19093/#/alerts?receiver=dingtalk-relay",
    ]
    assert "Resolved" not in text
    assert "🔕 Silence" in text
    assert "at" not in out.body  # the robot mentions nobody
    # DingTalk's subset: no tables, no code blocks, no raw HTML.
    assert "|" not in text
    assert "```" not in text
    assert "<" not in text
    assert len(json.dumps(out.body, ensure_ascii=False).encode()) < MAX_BODY_BYTES


def test_lines_between_items_survive_dingtalk(renderer: Renderer) -> None:
    """A lone newline does not break a line in DingTalk: each line is a heading, an item or
    a paragraph of its own (API.md §2.7)."""
    text = text_of(renderer.alertmanager("ops", sample("alertmanager/firing-two-alerts"), now=NOW))
    lines = text.split("\n")
    for before, line in itertools.pairwise(lines):
        if line and before:
            assert line.startswith("- ") or before.endswith("  "), (before, line)


def test_resolved_sample_says_how_long_it_lasted(renderer: Renderer) -> None:
    out = checked(renderer.alertmanager("ops", sample("alertmanager/resolved-one-alert"), now=NOW))
    assert out.body["markdown"]["title"].startswith("[RESOLVED:1] HighLatency")
    text = text_of(out)
    assert text.startswith("#### ✅ **\\[RESOLVED:1\\]**")
    assert "**✅ Resolved (1)**" in text
    assert "Firing" not in text
    assert "**Lasted:** 6s (2026-11-29 19:21:24 CST → 19:21:30)" in text
    assert "p99 latency above 500ms" in text
    assert "relay p99 = 742ms for 5m" in text
    (line,) = out.lines
    assert line.status == "resolved"
    assert "(lasted 6s)" in line.text


def test_grafana_sample_links_dashboard_panel_and_silence(renderer: Renderer) -> None:
    out = checked(renderer.grafana("ops", sample("grafana/firing-and-resolved"), now=NOW))
    assert out.source == "grafana"
    assert out.body["markdown"]["title"] == "[FIRING:1, RESOLVED:1] High memory usage Infra (sre)"
    text = text_of(out)
    targets = links(text)
    assert "http://grafana.example.cn/d/node01" in targets
    assert "http://grafana.example.cn/d/node01?viewPanel=4" in targets
    assert (
        "http://grafana.example.cn/alerting/silence/new?alertmanager=grafana"
        "&matcher=alertname%3DHigh+memory+usage"
    ) in targets
    assert "http://grafana.example.cn/alerting/grafana/mem01/view" in targets
    assert "https://wiki.example.cn/runbooks/memory" in targets
    assert targets[-1] == "http://grafana.example.cn/alerting/list"
    assert "**Value:** A=93.1, C=1" in text
    assert "**Lasted:** 15m" in text
    # The resolved alert has no dashboard or panel: no empty links.
    assert "()" not in text
    assert [line.status for line in out.lines] == ["firing", "resolved"]


def test_truncated_alerts_are_told(renderer: Renderer) -> None:
    data = sample("alertmanager/firing-two-alerts")
    data["truncatedAlerts"] = 40
    text = text_of(renderer.alertmanager("ops", data, now=NOW))
    assert "… and 40 more alerts that Alertmanager left out" in text


def test_no_external_url_no_link_back(renderer: Renderer) -> None:
    data = sample("alertmanager/firing-two-alerts")
    del data["externalURL"]
    text = text_of(checked(renderer.alertmanager("ops", data, now=NOW)))
    assert links(text) == ["http://127.0.0.1:9090/graph?g0.expr=disk"]  # nor silence links
    assert "#### 🔥 **\\[FIRING:2\\]** DiskFull" in text


def test_a_minimal_payload_renders(renderer: Renderer) -> None:
    out = checked(renderer.alertmanager("ops", {"alerts": [{"status": "firing"}]}, now=NOW))
    assert out.body["markdown"]["title"] == "[FIRING:1] alerts"
    (line,) = out.lines
    assert line.name == "alert"


# -- alert data cannot speak markdown ----------------------------------------------------------

EVIL = "@all [click](http://evil) <b> @13800000000 ![x](https://evil/x.png) **bold** # h"


def _evil_payload() -> dict[str, Any]:
    data = sample("alertmanager/firing-two-alerts")
    alert = data["alerts"][0]
    alert["annotations"] = {"summary": EVIL, "description": EVIL + "\n- item\n> quote"}
    alert["labels"]["instance"] = EVIL
    alert["labels"]["alertname"] = "[x](http://evil)"
    data["groupLabels"] = {"alertname": "@all <i>"}
    data["commonLabels"]["job"] = "<script>"
    return data


@pytest.mark.parametrize("robot", ["ops", "pager"])
def test_alert_values_cannot_mention_or_link(renderer: Renderer, robot: str) -> None:
    out = checked(renderer.alertmanager(robot, _evil_payload(), now=NOW))
    text = text_of(out)
    at = out.body.get("at", {})
    assert at.get("isAtAll", False) is False
    assert "13800000000" not in at.get("atMobiles", []) or robot == "pager"
    for shown in [text, out.lines[0].text]:
        assert "evil" in shown  # shown, but inert:
        assert all(urlsplit(target).hostname != "evil" for target in links(shown))
        assert "@all" not in shown
        assert "@" + ZWSP + "all" in shown
        assert "<" not in shown
        assert "**bold**" not in shown
        assert "![" not in shown
        assert not re.search(r"^(- item|> quote|# h)", shown, re.M)
    # The real @ text comes only from the robot's configured mention, once.
    assert text.count("@13800000000") == (1 if robot == "pager" else 0)


def test_the_title_is_plain_text_on_one_line(renderer: Renderer) -> None:
    data = _evil_payload()
    data["groupLabels"] = {"alertname": "a\nb" + "x" * 300}
    out = renderer.alertmanager("ops", data, now=NOW)
    title = out.body["markdown"]["title"]
    assert "\n" not in title
    assert len(title) <= 200


def test_a_description_keeps_its_lines_escaped(renderer: Renderer) -> None:
    text = text_of(renderer.alertmanager("ops", _evil_payload(), now=NOW))
    assert not re.search(r"^(- item|> quote)", text, re.M)
    assert "\\- item" in text  # shown on its own line, escaped


# -- mentions ------------------------------------------------------------------------------------


def test_the_robots_mention_is_in_the_at_block_and_written_once(renderer: Renderer) -> None:
    out = checked(renderer.alertmanager("pager", sample("alertmanager/firing-two-alerts"), now=NOW))
    assert out.body["at"] == {
        "atMobiles": ["13800000000"],
        "atUserIds": ["boss01"],
        "isAtAll": False,
    }
    text = text_of(out)
    assert text.endswith("\n\n@13800000000 @boss01")
    assert text.count("@13800000000") == 1
    assert text.count("@boss01") == 1


ONCALL = """
[relay]
timezone = "UTC"

[relay.oncall.dba]
mobiles = ["13900000000", "13800000000"]

[relay.oncall.sre]
user_ids = ["sre01"]

[relay.oncall.everyone]
all = true
"""


def _with_oncall(*values: str, status: str = "firing") -> dict[str, Any]:
    data = sample("alertmanager/firing-two-alerts")
    for alert, value in zip(data["alerts"], values, strict=False):
        alert["labels"]["oncall"] = value
        alert["status"] = status
    return data


def test_the_oncall_label_mentions_its_group(make_renderer: MakeRenderer) -> None:
    renderer = make_renderer(ONCALL)
    out = checked(renderer.alertmanager("ops", _with_oncall("dba", "dba"), now=NOW))
    assert out.body["at"]["atMobiles"] == ["13900000000", "13800000000"]
    text = text_of(out)
    assert text.endswith("@13900000000 @13800000000")
    assert text.count("@13900000000") == 1


def test_oncall_and_robot_mentions_merge(make_renderer: MakeRenderer) -> None:
    renderer = make_renderer(ONCALL)
    out = checked(renderer.alertmanager("pager", _with_oncall("dba", "sre, nobody"), now=NOW))
    assert out.body["at"] == {
        "atMobiles": ["13800000000", "13900000000"],
        "atUserIds": ["boss01", "sre01"],
        "isAtAll": False,
    }
    text = text_of(out)
    for token in ("@13800000000", "@13900000000", "@boss01", "@sre01"):
        assert text.count(token) == 1, token


def test_an_oncall_group_may_mention_everyone(make_renderer: MakeRenderer) -> None:
    out = make_renderer(ONCALL).alertmanager("ops", _with_oncall("everyone"), now=NOW)
    assert out.body["at"]["isAtAll"] is True


def test_resolved_alerts_page_nobody(make_renderer: MakeRenderer) -> None:
    out = make_renderer(ONCALL).alertmanager("ops", _with_oncall("dba", status="resolved"), now=NOW)
    assert "at" not in out.body


def test_an_unknown_oncall_value_mentions_nobody(make_renderer: MakeRenderer) -> None:
    out = make_renderer(ONCALL).alertmanager("ops", _with_oncall("nobody"), now=NOW)
    assert "at" not in out.body


def test_the_mention_label_is_configurable(make_renderer: MakeRenderer) -> None:
    renderer = make_renderer(
        '[relay]\nmention_label = "team"\n[relay.oncall.db]\nmobiles = ["13700000000"]\n'
    )
    data = sample("alertmanager/firing-two-alerts")
    data["alerts"][1]["labels"]["team"] = "db"
    out = renderer.alertmanager("ops", data, now=NOW)
    assert out.body["at"]["atMobiles"] == ["13700000000"]


# -- time zones --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "shown"),
    [
        (None, "2026-11-29 19:21:24 CST"),
        ("UTC", "2026-11-29 11:21:24 UTC"),
        ("Europe/Berlin", "2026-11-29 12:21:24 CET"),
    ],
)
def test_times_are_shown_in_the_relays_time_zone(
    make_renderer: MakeRenderer, zone: str | None, shown: str
) -> None:
    renderer = make_renderer(f'[relay]\ntimezone = "{zone}"\n' if zone else "")
    text = text_of(renderer.alertmanager("ops", sample("alertmanager/firing-two-alerts"), now=NOW))
    assert f"**Started:** {shown}" in text


# -- dedupe keys -------------------------------------------------------------------------------


def test_replicas_give_the_same_key(renderer: Renderer) -> None:
    data = sample("alertmanager/firing-two-alerts")
    replica = copy.deepcopy(data)
    replica["alerts"].reverse()  # another replica may list them in another order
    for alert in replica["alerts"]:
        alert["endsAt"] = "2026-11-29T11:30:00Z"  # a firing alert's endsAt is a guess
    replica["receiver"] = data["receiver"]
    first = renderer.alertmanager("ops", data, now=NOW)
    second = renderer.alertmanager("ops", replica, now=NOW + 3)
    assert first.dedupe_key == second.dedupe_key
    assert first.dedupe_key is not None
    assert re.fullmatch(r"[0-9a-f]{64}", first.dedupe_key)


def _key(renderer: Renderer, data: dict[str, Any], robot: str = "ops") -> str | None:
    return renderer.alertmanager(robot, data, now=NOW).dedupe_key


def test_the_key_changes_with_what_makes_a_notification(renderer: Renderer) -> None:
    base = sample("alertmanager/firing-two-alerts")
    key = _key(renderer, base)

    resolved = copy.deepcopy(base)
    resolved["alerts"][0]["status"] = "resolved"
    resolved["alerts"][0]["endsAt"] = "2026-11-29T12:00:00Z"
    assert _key(renderer, resolved) != key

    other_group = copy.deepcopy(base)
    other_group["groupKey"] = '{}:{alertname="Other"}'
    assert _key(renderer, other_group) != key

    fewer = copy.deepcopy(base)
    del fewer["alerts"][1]
    assert _key(renderer, fewer) != key

    restarted = copy.deepcopy(base)
    restarted["alerts"][0]["startsAt"] = "2026-11-29T13:00:00Z"
    assert _key(renderer, restarted) != key

    assert _key(renderer, base, robot="pager") != key

    # Resolved at another time is another resolution.
    later = copy.deepcopy(resolved)
    later["alerts"][0]["endsAt"] = "2026-11-29T12:05:00Z"
    assert _key(renderer, later) != _key(renderer, resolved)


def test_without_fingerprints_the_labels_identify_alerts(renderer: Renderer) -> None:
    base = sample("alertmanager/firing-two-alerts")
    for alert in base["alerts"]:
        del alert["fingerprint"]
    other = copy.deepcopy(base)
    other["alerts"][0]["labels"]["instance"] = "db-9:9100"
    assert _key(renderer, base) != _key(renderer, other)
    assert _key(renderer, base) == _key(renderer, copy.deepcopy(base))


def test_grafana_keys_know_the_org(renderer: Renderer) -> None:
    data = sample("grafana/firing-and-resolved")
    other = copy.deepcopy(data)
    other["orgId"] = 2
    first = renderer.grafana("ops", data, now=NOW).dedupe_key
    assert first == renderer.grafana("ops", copy.deepcopy(data), now=NOW + 1).dedupe_key
    assert first != renderer.grafana("ops", other, now=NOW).dedupe_key
    # The same payload through the Alertmanager endpoint is another source.
    assert first != renderer.alertmanager("ops", data, now=NOW).dedupe_key


# -- priorities --------------------------------------------------------------------------------


def _with_severities(*severities: str | None, statuses: tuple[str, ...] = ()) -> dict[str, Any]:
    data = sample("alertmanager/firing-two-alerts")
    for i, (alert, severity) in enumerate(zip(data["alerts"], severities, strict=True)):
        if severity is None:
            del alert["labels"]["severity"]
        else:
            alert["labels"]["severity"] = severity
        if statuses:
            alert["status"] = statuses[i]
    return data


@pytest.mark.parametrize(
    ("severities", "statuses", "priority"),
    [
        (("critical", "info"), (), 0),
        (("warning", "info"), (), 1),
        (("info", "INFO"), (), 2),
        ((None, "page-me"), (), 3),
        (("critical", "info"), ("resolved", "firing"), 2),  # the firing ones decide
        (("critical", "info"), ("resolved", "resolved"), 0),
    ],
)
def test_priority_from_the_severity_label(
    renderer: Renderer, severities: tuple[str | None, ...], statuses: tuple[str, ...], priority: int
) -> None:
    out = renderer.alertmanager("ops", _with_severities(*severities, statuses=statuses), now=NOW)
    assert out.priority == priority


def test_the_priority_label_and_order_are_configurable(make_renderer: MakeRenderer) -> None:
    renderer = make_renderer('[relay]\npriority_label = "level"\npriority_order = ["p1", "p2"]\n')
    data = sample("alertmanager/firing-two-alerts")
    data["alerts"][1]["labels"]["level"] = "p2"
    assert renderer.alertmanager("ops", data, now=NOW).priority == 1


# -- digest lines --------------------------------------------------------------------------------


def test_every_alert_has_its_digest_line(renderer: Renderer) -> None:
    out = renderer.alertmanager("ops", sample("alertmanager/firing-two-alerts"), now=NOW)
    assert [(line.status, line.name) for line in out.lines] == [
        ("firing", "DiskFull"),
        ("firing", "DiskFull"),
    ]
    assert out.lines[0].text == (
        "🔥 **FIRING** DiskFull · instance=db-1:9100 job=node severity=critical"
        " — Disk almost full on db-1"
    )


def test_digest_lines_stay_short(renderer: Renderer) -> None:
    data = sample("alertmanager/firing-two-alerts")
    data["alerts"][0]["labels"].update({f"l{i}": "v" * 500 for i in range(20)})
    data["alerts"][0]["annotations"]["summary"] = "s" * 5000
    line = renderer.alertmanager("ops", data, now=NOW).lines[0]
    assert len(line.text) < 1500
    assert line.text.endswith("…")


def _storm(n: int) -> dict[str, Any]:
    data = sample("alertmanager/firing-two-alerts")
    template = data["alerts"][0]
    alerts = []
    for i in range(n):
        alert = copy.deepcopy(template)
        alert["labels"]["instance"] = f"db-{i}:9100"
        alert["annotations"]["summary"] = f"Disk almost full on db-{i}"
        alert["fingerprint"] = f"{i:016x}"
        if i % 3 == 0:
            alert["status"] = "resolved"
            alert["endsAt"] = "2026-11-29T12:21:24Z"
        alerts.append(alert)
    data["alerts"] = alerts
    return data


def test_a_storm_of_5000_alerts_renders_fast(renderer: Renderer) -> None:
    data = _storm(5000)
    start = time.perf_counter()
    out = renderer.alertmanager("ops", data, now=NOW)
    elapsed = time.perf_counter() - start
    print(f"5,000 alerts rendered in {elapsed * 1000:.0f} ms")
    assert len(out.lines) == 5000
    assert len({line.text for line in out.lines}) == 5000
    assert out.body["markdown"]["title"].startswith("[FIRING:3333, RESOLVED:1667]")
    # Far over DingTalk's limit: the dispatcher sends it as a digest of its lines.
    assert len(json.dumps(out.body, ensure_ascii=False).encode()) > MAX_BODY_BYTES
    assert elapsed < 10  # about 0.3 s here; generous for a loaded 2-core machine


# -- plain messages ------------------------------------------------------------------------------


def test_shorthand_text(renderer: Renderer) -> None:
    out = renderer.message("ops", {"text": "deploy finished\nall green"}, now=NOW)
    assert out.body == {"msgtype": "text", "text": {"content": "deploy finished\nall green"}}
    assert out.kind == "text"
    assert out.source == "messages"
    assert out.dedupe_key is None
    (line,) = out.lines
    assert line.status == ""
    assert line.name == "deploy finished"
    assert line.text == "deploy finished all green"


def test_shorthand_markdown(renderer: Renderer) -> None:
    out = renderer.message("ops", {"title": "Deploy", "markdown": "## Deploy\n**done**"}, now=NOW)
    assert out.body == {
        "msgtype": "markdown",
        "markdown": {"title": "Deploy", "text": "## Deploy\n**done**"},
    }
    assert out.kind == "markdown"
    assert out.lines[0].text == "**Deploy** — \\*\\*done\\*\\*"


def test_a_full_message_passes_through(renderer: Renderer) -> None:
    message = {
        "msgtype": "text",
        "text": {"content": "hi @13800000000"},
        "at": {"atMobiles": ["13800000000"]},
    }
    out = renderer.message("ops", message, now=NOW)
    assert out.body == message


def test_the_robots_mention_goes_on_plain_messages(renderer: Renderer) -> None:
    out = renderer.message("pager", {"text": "deploy finished"}, now=NOW)
    assert out.body["at"]["atMobiles"] == ["13800000000"]
    assert out.body["text"]["content"] == "deploy finished\n@13800000000 @boss01"


def test_a_message_with_its_own_at_keeps_it(renderer: Renderer) -> None:
    out = renderer.message("pager", {"text": "x", "at": {"atUserIds": ["u1"]}}, now=NOW)
    assert out.body["at"] == {"atUserIds": ["u1"]}
    assert out.body["text"]["content"] == "x\n@u1"


@pytest.mark.parametrize(
    "message",
    [
        {
            "msgtype": "link",
            "link": {"title": "t", "text": "x", "messageUrl": "https://e.example/"},
        },
        {
            "msgtype": "actionCard",
            "actionCard": {
                "title": "t",
                "text": "x",
                "singleTitle": "go",
                "singleURL": "https://e.example/",
            },
        },
        {
            "msgtype": "feedCard",
            "feedCard": {
                "links": [
                    {
                        "title": "t",
                        "messageURL": "https://e.example/",
                        "picURL": "https://e.example/p.png",
                    }
                ]
            },
        },
    ],
)
def test_cards_are_cards(renderer: Renderer, message: dict[str, Any]) -> None:
    out = renderer.message("pager", message, now=NOW)
    assert out.kind == "card"
    assert out.body == message  # no mention added: a card cannot carry one
    assert out.lines[0].name == "t"


def test_severity_sets_the_priority_and_is_not_sent(renderer: Renderer) -> None:
    out = renderer.message("ops", {"text": "x", "severity": "critical"}, now=NOW)
    assert out.priority == 0
    assert "severity" not in out.body
    assert renderer.message("ops", {"text": "x"}, now=NOW).priority == 3


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ("text", "body", "a JSON object"),
        ({}, "body", "shorthand"),
        ({"text": ""}, "text", "non-empty"),
        ({"text": {"content": "x"}}, "text", "non-empty string"),
        ({"text": "x", "title": "t"}, "text", "not both"),
        ({"markdown": "x"}, "title", "is required"),
        ({"title": "t", "markdown": 3}, "markdown", "non-empty string"),
        ({"txt": "x"}, "txt", "unknown key"),
        ({"text": "x", "severity": 1}, "severity", "a string"),
        ({"text": "x", "at": {"atMobiles": "138"}}, "at.atMobiles", "list of strings"),
        ({"msgtype": "link", "link": {"title": "t", "text": "x"}}, "link.messageUrl", "required"),
        ({"msgtype": "markdown", "markdown": {"title": "t"}}, "markdown.text", "required"),
        ({"msgtype": "image", "image": {}}, "msgtype", "not supported"),
        (
            {
                "msgtype": "link",
                "link": {"title": "t", "text": "x", "messageUrl": "javascript:alert(1)"},
            },
            "link.messageUrl",
            "",
        ),
        ({"text": "\ud800"}, "text", "lone surrogate"),
    ],
)
def test_a_bad_message_names_the_field(
    renderer: Renderer, data: Any, field: str, words: str
) -> None:
    with pytest.raises(PayloadError) as caught:
        renderer.message("ops", data, now=NOW)
    assert caught.value.field == field
    assert words in caught.value.reason
    assert caught.value.reason.startswith(field)


def test_has_robot(renderer: Renderer) -> None:
    assert renderer.has_robot("ops")
    assert not renderer.has_robot("ghost")
    # An unknown robot is the app's business: it still renders, mentioning nobody.
    out = renderer.alertmanager("ghost", sample("alertmanager/firing-two-alerts"), now=NOW)
    assert "at" not in out.body


def test_no_secret_in_what_is_rendered(renderer: Renderer) -> None:
    for robot in ("ops", "pager"):
        out = renderer.alertmanager(robot, sample("alertmanager/firing-two-alerts"), now=NOW)
        dumped = json.dumps([out.body, [line.text for line in out.lines]])
        assert SECRET not in dumped
        assert WEBHOOK.rsplit("=", 1)[1] not in dumped
