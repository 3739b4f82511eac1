"""Templates: errors found at load with file:line, the sandbox, overrides, filters."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest

from dingwire.core.errors import ConfigError
from dingwire.relay.templates import format_duration, make_environment

from .conftest import NOW, MakeRenderer, sample

GOOD = """{% set title = "custom: " ~ group_name %}
{% for alert in alerts %}
- {{ alert.status }} {{ alert.summary }} {{ alert.annotations.runbook_url }}
{% endfor %}
"""


def _load_error(make_renderer: MakeRenderer, template: str, tmp_path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        make_renderer('[relay]\ntemplate = "t/broken.md.j2"\n', {"t/broken.md.j2": template})
    message = caught.value.message
    assert str(tmp_path / "t" / "broken.md.j2") in message
    return message


@pytest.mark.parametrize(
    ("template", "line", "words"),
    [
        ("ok\n{% if alerts %}\nno end\n", 3, "endif"),
        ("ok\n\n{{ alerts | nosuchfilter }}\n", 3, "No filter named 'nosuchfilter'"),
        ("{% for a in alerts %}\n{{ a.status is nosuchtest }}\n{% endfor %}", 2, "nosuchtest"),
        ("line one\n{{ }}\n", 2, "Expected an expression"),
    ],
)
def test_a_syntax_error_is_told_with_file_and_line(
    make_renderer: MakeRenderer, tmp_path: Path, template: str, line: int, words: str
) -> None:
    message = _load_error(make_renderer, template, tmp_path)
    assert f"broken.md.j2:{line}: " in message
    assert words in message


@pytest.mark.parametrize(
    ("template", "line", "words"),
    [
        ("a\nb\n{{ no_such_name }}\n", 3, "'no_such_name' is undefined"),
        ("{% for a in alerts %}\n{{ a.no_such_field }}\n{% endfor %}", 2, "no_such_field"),
        # Jinja checks a filter inside a conditional only when it runs: the samples run it.
        ("x\n{% if truncated_alerts %}\n{{ x | nosuch }}{% endif %}", 3, "nosuch"),
        ("{{ 1 / 0 }}", 1, "ZeroDivisionError"),
    ],
)
def test_a_runtime_error_is_found_at_load(
    make_renderer: MakeRenderer, tmp_path: Path, template: str, line: int, words: str
) -> None:
    message = _load_error(make_renderer, template, tmp_path)
    assert f"broken.md.j2:{line}: " in message
    assert words in message
    assert "sample" in message


@pytest.mark.parametrize(
    "template",
    [
        "{{ alerts.__class__ }}",
        "{{ alerts[0].__class__.__mro__ }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ ''.__class__.__base__.__subclasses__() }}",
        "{{ notification.alerts[0].labels.__class__ }}",
        "{{ range.__self__ }}",
        "{% set d = {} %}{% set x = d.update({'a': 1}) %}",
        "{% set x = alerts[0].labels.update({'a': 1}) %}",
        "{{ lipsum.__globals__ }}",
        "{{ '{0.__class__}'.format(alerts) }}",
    ],
)
def test_the_sandbox_keeps_templates_in(
    make_renderer: MakeRenderer, tmp_path: Path, template: str
) -> None:
    message = _load_error(make_renderer, template, tmp_path)
    assert any(
        words in message
        for words in ("unsafe", "is undefined", "has no attribute", "not safely callable")
    ), message


def test_a_missing_template_file_is_named(make_renderer: MakeRenderer, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.md\.j2: no such file"):
        make_renderer('[relay]\ntemplate = "nope.md.j2"\n')


def test_a_template_for_an_unknown_robot_is_an_error(make_renderer: MakeRenderer) -> None:
    with pytest.raises(ConfigError, match=r"templates\.ghost: no robot named 'ghost'"):
        make_renderer('[relay.templates]\nghost = "x.md.j2"\n', {"x.md.j2": GOOD})


def test_a_template_that_is_not_utf8_is_told(make_renderer: MakeRenderer, tmp_path: Path) -> None:
    (tmp_path / "gbk.md.j2").write_bytes("告警".encode("gbk"))
    with pytest.raises(ConfigError, match=r"gbk\.md\.j2.*cannot be read"):
        make_renderer('[relay]\ntemplate = "gbk.md.j2"\n')


def test_an_override_for_every_robot(make_renderer: MakeRenderer) -> None:
    renderer = make_renderer('[relay]\ntemplate = "all.md.j2"\n', {"all.md.j2": GOOD})
    for robot in ("ops", "pager"):
        out = renderer.alertmanager(robot, sample("alertmanager/firing-two-alerts"), now=NOW)
        assert out.body["markdown"]["title"] == "custom: DiskFull"
        assert out.body["markdown"]["text"].startswith("- firing Disk almost full on db-1")


def test_an_override_per_robot(make_renderer: MakeRenderer) -> None:
    renderer = make_renderer('[relay.templates]\npager = "pager.md.j2"\n', {"pager.md.j2": GOOD})
    data = sample("alertmanager/firing-two-alerts")
    pager = renderer.alertmanager("pager", data, now=NOW)
    ops = renderer.alertmanager("ops", data, now=NOW)
    assert pager.body["markdown"]["text"].startswith("- firing")
    assert ops.body["markdown"]["text"].startswith("#### 🔥")
    # Same context, same mentions, same lines: only the text differs.
    assert pager.body["at"]["atMobiles"] == ["13800000000"]
    assert pager.body["markdown"]["text"].endswith("@13800000000 @boss01")
    assert pager.lines == ops.lines


def test_without_a_title_the_default_title(make_renderer: MakeRenderer) -> None:
    renderer = make_renderer('[relay]\ntemplate = "t.md.j2"\n', {"t.md.j2": "{{ status }}"})
    out = renderer.grafana("ops", sample("grafana/firing-and-resolved"), now=NOW)
    assert out.body["markdown"] == {
        "title": "[FIRING:1, RESOLVED:1] High memory usage Infra (sre)",
        "text": "firing",
    }


def test_override_values_are_escaped_too(make_renderer: MakeRenderer) -> None:
    template = "{{ alerts[0].summary }}|{{ alerts[0].summary | e }}|{{ alerts[0].summary ~ '!' }}"
    renderer = make_renderer('[relay]\ntemplate = "t.md.j2"\n', {"t.md.j2": template})
    data = sample("alertmanager/firing-two-alerts")
    data["alerts"][0]["annotations"]["summary"] = "[x](http://evil) @all"
    text = renderer.alertmanager("ops", data, now=NOW).body["markdown"]["text"]
    assert "](http://evil)" not in text
    assert "@all" not in text
    assert text.count("\\[x\\]") == 3


def test_safe_is_the_templates_own_choice(make_renderer: MakeRenderer) -> None:
    renderer = make_renderer(
        '[relay]\ntemplate = "t.md.j2"\n', {"t.md.j2": "{{ alerts[0].summary | safe }}"}
    )
    data = sample("alertmanager/firing-two-alerts")
    data["alerts"][0]["annotations"]["summary"] = "**bold**"
    assert renderer.alertmanager("ops", data, now=NOW).body["markdown"]["text"] == "**bold**"


def test_an_override_may_include_and_extend(make_renderer: MakeRenderer) -> None:
    files = {
        "t/main.md.j2": '{% include "part.md.j2" %} and {{ status }}',
        "t/part.md.j2": "part of {{ group_name }}",
    }
    renderer = make_renderer('[relay]\ntemplate = "t/main.md.j2"\n', files)
    out = renderer.alertmanager("ops", sample("alertmanager/firing-two-alerts"), now=NOW)
    assert out.body["markdown"]["text"] == "part of DiskFull and firing"


def test_the_default_template_can_be_included(make_renderer: MakeRenderer) -> None:
    files = {"t.md.j2": '{% include "dingwire:default.md.j2" %}\n\nSee the runbook.'}
    renderer = make_renderer('[relay]\ntemplate = "t.md.j2"\n', files)
    text = renderer.alertmanager("ops", sample("alertmanager/firing-two-alerts"), now=NOW).body[
        "markdown"
    ]["text"]
    assert text.startswith("#### 🔥")
    assert text.endswith("See the runbook.")


def test_no_file_outside_through_the_builtin_prefix(make_renderer: MakeRenderer) -> None:
    with pytest.raises(ConfigError, match=r"not found \(no such file\)"):
        make_renderer(
            '[relay]\ntemplate = "t.md.j2"\n',
            {"t.md.j2": '{% include "dingwire:../render.py" %}'},
        )


def test_a_failure_at_run_time_falls_back_to_the_default(
    make_renderer: MakeRenderer, caplog: pytest.LogCaptureFixture
) -> None:
    # The samples never have 3 alerts firing with this label: the error hides until one does.
    template = "{% if alerts | selectattr('firing') | list | length > 3 %}{{ 1 / 0 }}{% endif %}ok"
    renderer = make_renderer('[relay]\ntemplate = "t.md.j2"\n', {"t.md.j2": template})
    data = sample("alertmanager/firing-two-alerts")
    assert renderer.alertmanager("ops", data, now=NOW).body["markdown"]["text"] == "ok"
    data["alerts"] = data["alerts"] * 3
    with caplog.at_level(logging.WARNING, logger="dingwire.relay.render"):
        out = renderer.alertmanager("ops", data, now=NOW)
    assert out.body["markdown"]["text"].startswith("#### 🔥")
    assert "t.md.j2:1: ZeroDivisionError" in caplog.text
    assert "default template" in caplog.text


def test_an_empty_rendering_falls_back_to_the_default(make_renderer: MakeRenderer) -> None:
    renderer = make_renderer(
        '[relay]\ntemplate = "t.md.j2"\n', {"t.md.j2": "{% if truncated_alerts %}x{% endif %}"}
    )
    data = sample("alertmanager/firing-two-alerts")
    assert renderer.alertmanager("ops", data, now=NOW).body["markdown"]["text"].startswith("####")


# -- filters -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0, "0s"),
        (6, "6s"),
        (59.9, "59s"),
        (60, "1m"),
        (61, "1m 1s"),
        (3600, "1h"),
        (4321, "1h 12m"),
        (86_400 + 7200 + 5, "1d 2h"),
        (86_400 * 3 + 59, "3d"),
        (timedelta(minutes=90), "1h 30m"),
        (None, ""),
        (-5, "0s"),
    ],
)
def test_durations(seconds: float | timedelta | None, shown: str) -> None:
    assert format_duration(seconds) == shown


@pytest.mark.parametrize(
    ("source", "shown"),
    [
        ("{{ t | time }}", "2026-11-29 19:21:24 CST"),
        ("{{ t | time('%H:%M') }}", "19:21"),
        ("{{ 0 | time('%Y-%m-%d %H:%M') }}", "1970-01-01 08:00"),
        ("{{ '0001-01-01T00:00:00Z' | time }}", ""),
        ("{{ none | time }}", ""),
        ("{{ {'b': 'x_y', 'a': '1'} | labels }}", "a=1, b=x\\_y"),
        ("{{ {'b': '2', 'a': '1'} | labels(exclude=['a'], sep=' ') }}", "b=2"),
        ("{{ {'b': '2', 'a': '1'} | labels(only=['b', 'zz']) }}", "b=2"),
        (
            "{{ 'https://x.example/a(c)<d>' | link('go') }}",
            "[go](https://x.example/a%28c%29%3Cd%3E)",
        ),
        ("{{ 'https://x.example/a b' | link('go') }}", ""),
        ("{{ 'javascript:alert(1)' | link('go') }}", ""),
        ("{{ '' | link('go') }}", ""),
        ("{{ 'http://x' | link('[a](http://evil)') }}", "[\\[a\\](http:/\u200b/evil)](http://x)"),
        ("{{ 'critical' | severity_icon }}{{ 'x' | severity_icon }}", "🔴⚪"),
        ("{{ 'a\nb' | md(line_breaks=True) }}", "a  \nb"),
        ("{{ v }}", "a b"),
        ("{{ v | e }}", "a b"),
        ("{{ timezone }}", "Asia/Shanghai"),
    ],
)
def test_filters(source: str, shown: str) -> None:
    env = make_environment("Asia/Shanghai")
    assert env.from_string(source).render(t="2026-11-29T11:21:24Z", none=None, v="a\nb") == shown


def test_an_error_in_an_included_file_names_that_file(
    make_renderer: MakeRenderer, tmp_path: Path
) -> None:
    files = {"t/main.md.j2": 'a\n{% include "part.md.j2" %}', "t/part.md.j2": "x\ny\n{{ nope }}"}
    with pytest.raises(ConfigError) as caught:
        make_renderer('[relay]\ntemplate = "t/main.md.j2"\n', files)
    assert f"{tmp_path / 't' / 'part.md.j2'}:3: 'nope' is undefined" in caught.value.message
