"""``dingwire render``: the body the relay would send, printed; errors scrubbed, exit 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from dingwire.cli import cli
from dingwire.cli._render import guess_source

from .conftest import BASE_CONFIG, SAMPLES, SECRET, WEBHOOK, sample

TOKEN = WEBHOOK.rsplit("=", 1)[1]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "dingwire.toml"
    extra = '\n[robots.tagged]\nwebhook = "' + WEBHOOK + '"\nkeywords = ["告警"]\n'
    path.write_text(BASE_CONFIG + extra + '\n[relay]\nauth_token = "relay-token-123"\n')
    return path


def run(*args: str, stdin: str | None = None) -> Result:
    result = CliRunner().invoke(cli, list(args), input=stdin, catch_exceptions=False)
    for secret in (TOKEN, SECRET, "relay-token-123"):
        assert secret not in result.output
        assert secret not in (result.stderr or "")
    return result


def payload_file(tmp_path: Path, data: Any, name: str = "p.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def test_prints_the_body_of_an_alertmanager_payload(config: Path) -> None:
    path = str(SAMPLES / "alertmanager" / "firing-two-alerts.json")
    result = run("render", "--robot", "pager", "--payload", path, "--config", str(config))
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["msgtype"] == "markdown"
    assert body["markdown"]["title"] == "[FIRING:2] DiskFull (node critical)"
    assert body["at"]["atMobiles"] == ["13800000000"]
    assert "Disk almost full on db-1" in body["markdown"]["text"]


def test_the_global_config_option_works_too(config: Path) -> None:
    path = str(SAMPLES / "grafana" / "firing-and-resolved.json")
    result = run("--config", str(config), "render", "--robot", "ops", "--payload", path)
    assert result.exit_code == 0, result.output
    assert "Dashboard" in json.loads(result.stdout)["markdown"]["text"]


def test_the_robots_keyword_is_added_as_the_robot_adds_it(config: Path, tmp_path: Path) -> None:
    path = payload_file(tmp_path, {"text": "deploy finished"})
    result = run("render", "--robot", "tagged", "--payload", path, "--config", str(config))
    assert json.loads(result.stdout) == {
        "msgtype": "text",
        "text": {"content": "【告警】 deploy finished"},
    }


def test_reads_stdin(config: Path) -> None:
    data = json.dumps(sample("alertmanager/resolved-one-alert"))
    result = run("render", "--robot", "ops", "--payload", "-", "--config", str(config), stdin=data)
    assert result.exit_code == 0
    assert json.loads(result.stdout)["markdown"]["title"].startswith("[RESOLVED:1]")


def test_full_shows_what_the_relay_stores(config: Path) -> None:
    path = str(SAMPLES / "alertmanager" / "firing-two-alerts.json")
    result = run("render", "--robot", "ops", "--payload", path, "--config", str(config), "--full")
    shown = json.loads(result.stdout)
    assert shown["kind"] == "markdown"
    assert shown["priority"] == 0
    assert shown["source"] == "alertmanager"
    assert len(shown["dedupe_key"]) == 64
    assert [line["status"] for line in shown["lines"]] == ["firing", "firing"]
    assert shown["body"]["msgtype"] == "markdown"


def test_the_source_can_be_forced(config: Path) -> None:
    # Grafana's payload read as Alertmanager's: its extras are ignored, no dashboard link.
    path = str(SAMPLES / "grafana" / "firing-and-resolved.json")
    args = ["render", "--robot", "ops", "--payload", path, "--config", str(config)]
    text = json.loads(run(*args, "--source", "alertmanager").stdout)["markdown"]["text"]
    assert "Dashboard" not in text


@pytest.mark.parametrize(
    ("data", "source"),
    [
        (sample("alertmanager/firing-two-alerts"), "alertmanager"),
        (sample("grafana/firing-and-resolved"), "grafana"),
        ({"alerts": [{"status": "firing", "panelURL": ""}]}, "grafana"),
        ({"msgtype": "text", "text": {"content": "x"}}, "messages"),
        ({"text": "x"}, "messages"),
        ({"title": "t", "markdown": "m", "severity": "info"}, "messages"),
        ({"alerts": "x"}, None),
        ({}, None),
        ([], None),
    ],
)
def test_guess_source(data: Any, source: str | None) -> None:
    assert guess_source(data) == source


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("{nope", "not JSON: Expecting property name enclosed in double quotes (line 1, column 2)"),
        ('{"foo": 1}', "cannot tell what it is"),
        ('{"alerts": [{"status": "maybe"}]}', 'alerts[0].status: expected "firing" or "resolved"'),
        ('{"text": ""}', "text: expected a non-empty string"),
    ],
)
def test_a_bad_payload_exits_2_with_the_reason(
    config: Path, tmp_path: Path, content: str, words: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    result = run("render", "--robot", "ops", "--payload", str(path), "--config", str(config))
    assert result.exit_code == 2
    assert words in result.stderr
    assert result.stdout == ""


def test_a_missing_payload_file(config: Path, tmp_path: Path) -> None:
    result = run(
        "render", "--robot", "ops", "--payload", str(tmp_path / "no.json"), "--config", str(config)
    )
    assert result.exit_code == 2
    assert "cannot be read" in result.stderr


def test_an_unknown_robot_names_the_configured_ones(config: Path, tmp_path: Path) -> None:
    path = payload_file(tmp_path, {"text": "x"})
    result = run("render", "--robot", "ghost", "--payload", path, "--config", str(config))
    assert result.exit_code == 2
    assert "no robot named 'ghost'" in result.stderr
    assert "ops, pager, tagged" in result.stderr


def test_a_broken_template_is_told_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "t.md.j2").write_text("ok\n{{ alerts | nope }}\n")
    config = tmp_path / "dingwire.toml"
    config.write_text(BASE_CONFIG + '\n[relay]\ntemplate = "t.md.j2"\n')
    path = payload_file(tmp_path, {"text": "x"})
    result = run("render", "--robot", "ops", "--payload", path, "--config", str(config))
    assert result.exit_code == 2
    assert f"{tmp_path / 't.md.j2'}:2: No filter named 'nope'" in result.stderr


def test_a_broken_robot_does_not_leak_its_webhook(tmp_path: Path) -> None:
    config = tmp_path / "dingwire.toml"
    # A secret of the wrong type next to a good webhook: the error must not show either.
    config.write_text(
        f'[robots.ops]\nwebhook = "{WEBHOOK}"\nsecret = 12\n[relay]\ntemplate = "x.j2"\n'
    )
    path = payload_file(tmp_path, {"text": "x"})
    result = run("render", "--robot", "ops", "--payload", path, "--config", str(config))
    assert result.exit_code == 2
    assert "x.j2" in result.stderr
