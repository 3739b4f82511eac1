"""``dingwire config from-pwd``: a prometheus-webhook-dingtalk config.yml as a dingwire.toml."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from dingwire.cli import cli
from dingwire.config import load_config
from dingwire.core.errors import ConfigError
from dingwire.core.messages import At
from dingwire.relay.migrate import migrate_pwd, migrate_pwd_file
from dingwire.relay.render import Renderer
from dingwire.relay.settings import RelaySettings

TOKEN_A = "4f7c1a2b3c4d5e6f" * 4
TOKEN_B = "9e8d7c6b5a493827" * 4
SECRET_A = "SEC" + "1f2e3d4c5b6a7988" * 4

#: A config as people run it (the project's config.example.yml, filled in, and more).
REALISTIC = f"""\
## Request timeout
timeout: 10s

## Customizable templates path
templates:
  - /etc/prometheus-webhook-dingtalk/templates/ops.tmpl

default_message:
  title: '{{{{ template "ops.title" . }}}}'
  text: '{{{{ template "ops.content" . }}}}'

targets:
  ops:
    url: https://oapi.dingtalk.com/robot/send?access_token={TOKEN_A}
    # secret for signature
    secret: {SECRET_A}
    mention:
      mobiles: ['13800000000', 13900000000]
  dba-team:
    url: https://oapi.dingtalk.com/robot/send?access_token={TOKEN_B}
    mention:
      all: true
  legacy:
    url: https://oapi.dingtalk.com/robot/send?access_token={TOKEN_B}
    message:
      title: '{{{{ template "legacy.title" . }}}}'
      text: |
        {{{{ template "legacy.content" . }}}}
        {{{{ range .Alerts }}}}{{{{ .Labels.instance }}}}{{{{ end }}}}
"""


@pytest.fixture
def realistic(tmp_path: Path) -> Path:
    path = tmp_path / "config.yml"
    path.write_text(REALISTIC, encoding="utf-8")
    return path


def test_targets_become_robots(realistic: Path, tmp_path: Path) -> None:
    migration = migrate_pwd_file(realistic)
    data = tomllib.loads(migration.toml)
    assert set(data["robots"]) == {"ops", "dba-team", "legacy"}
    ops = data["robots"]["ops"]
    assert ops["webhook"] == f"https://oapi.dingtalk.com/robot/send?access_token={TOKEN_A}"
    assert ops["secret"] == SECRET_A
    assert ops["mention"] == {"mobiles": ["13800000000", "13900000000"]}
    assert ops["timeout"] == "10s"
    assert data["robots"]["dba-team"]["mention"] == {"all": True}
    assert "secret" not in data["robots"]["dba-team"]
    assert data["relay"]["listen"] == "127.0.0.1:8060"

    # dingwire reads it, and the relay starts on it.
    out = tmp_path / "dingwire.toml"
    out.write_text(migration.toml, encoding="utf-8")
    config = load_config(out, env={})
    assert config.robot("ops")["mention"] == At(mobiles=["13800000000", "13900000000"])
    assert config.robot("ops")["timeout"] == 10.0
    assert config.robot("dba-team")["mention"] == At(all=True)
    Renderer.load(RelaySettings.from_config(config), config)


def test_go_templates_are_listed_for_a_port(realistic: Path) -> None:
    migration = migrate_pwd_file(realistic)
    assert migration.templates == (
        "templates: /etc/prometheus-webhook-dingtalk/templates/ops.tmpl",
        "default_message (every robot without its own message)",
        "targets.legacy.message (the robot 'legacy')",
    )
    text = migration.toml
    head = text.split("[robots.", 1)[0]
    for item in migration.templates:
        assert f"#   - {item}" in head
    # Their text is kept, commented out, where a port would go.
    assert '#   title: {{ template "legacy.title" . }}' in text
    assert "#   {{ range .Alerts }}{{ .Labels.instance }}{{ end }}" in text
    assert '#   text: {{ template "ops.content" . }}' in text
    assert '# legacy = "templates/legacy.md.j2"' in text
    # Nothing of it is live TOML: the relay uses its default template until the port.
    assert "template" not in tomllib.loads(text)["relay"]


def test_env_secrets_names_variables_instead(realistic: Path, tmp_path: Path) -> None:
    migration = migrate_pwd_file(realistic, env_secrets=True)
    for secret in (TOKEN_A, TOKEN_B, SECRET_A):
        assert secret not in migration.toml
    for name in ("OPS_TOKEN", "OPS_SECRET", "DBA_TEAM_TOKEN", "LEGACY_TOKEN"):
        assert f"#   {name}\n" in migration.toml
    out = tmp_path / "dingwire.toml"
    out.write_text(migration.toml, encoding="utf-8")
    env = {"OPS_TOKEN": TOKEN_A, "OPS_SECRET": SECRET_A, "DBA_TEAM_TOKEN": "t", "LEGACY_TOKEN": "u"}
    config = load_config(out, env=env)
    assert config.robot("ops")["webhook"].endswith(f"access_token={TOKEN_A}")
    assert config.robot("ops")["secret"] == SECRET_A


def test_a_dollar_stays_a_dollar(tmp_path: Path) -> None:
    text = "targets:\n  x:\n    url: https://oapi.dingtalk.com/robot/send?access_token=a$b\n    secret: SEC$1\n"
    out = tmp_path / "dingwire.toml"
    out.write_text(migrate_pwd(text).toml, encoding="utf-8")
    robot = load_config(out, env={}).robot("x")
    assert robot["secret"] == "SEC$1"
    assert robot["webhook"].endswith("access_token=a$b")


def test_unknown_keys_are_warned_about_by_name_only(tmp_path: Path) -> None:
    text = (
        "no_builtin_template: true\n"
        "profiles: {a: b}\n"
        "targets:\n"
        "  x:\n"
        "    url: https://oapi.dingtalk.com/robot/send?access_token=abc\n"
        "    secrt: SECsecretvalue\n"
        "    mention: {mobiles: ['13800000000'], users: ['u']}\n"
    )
    migration = migrate_pwd(text)
    warnings = "\n".join(migration.warnings)
    assert "targets.x.secrt: not a prometheus-webhook-dingtalk key" in warnings
    assert "targets.x.mention.users" in warnings
    assert "profiles: not a prometheus-webhook-dingtalk key" in warnings
    assert "no_builtin_template" in warnings
    assert "SECsecretvalue" not in warnings
    assert "SECsecretvalue" not in migration.toml
    assert "# Warnings:" in migration.toml


@pytest.mark.parametrize(
    ("timeout", "expected"),
    [("5s", "5s"), ("1m30s", "90s"), ("500ms", "500ms"), ("2.5s", "2500ms"), (3_000_000_000, "3s")],
)
def test_go_durations(timeout: object, expected: str) -> None:
    text = f"timeout: {timeout}\ntargets:\n  x:\n    url: https://oapi.dingtalk.com/robot/send?access_token=a\n"
    assert tomllib.loads(migrate_pwd(text).toml)["robots"]["x"]["timeout"] == expected


def test_a_timeout_dingwire_refuses_is_warned_about() -> None:
    text = "timeout: 1h\ntargets:\n  x:\n    url: https://oapi.dingtalk.com/robot/send?access_token=a\n"
    migration = migrate_pwd(text)
    assert "timeout" not in tomllib.loads(migration.toml)["robots"]["x"]
    assert any(w.startswith("timeout:") for w in migration.warnings)


def test_a_webhook_that_is_no_dingtalk_webhook_is_warned_about() -> None:
    text = "targets:\n  x:\n    url: http://example.com/hook?token=abcdefgh12345\n"
    migration = migrate_pwd(text)
    assert any("access_token" in w for w in migration.warnings)
    assert "abcdefgh12345" not in "\n".join(migration.warnings)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("targets:\n  x:\n    url: [unclosed\n", "config.yml:4: not valid YAML"),
        ("targets:\n\tx: 1\n", "config.yml:2: not valid YAML"),
        ("", "is empty"),
        ("- a\n- b\n", "expected a YAML mapping"),
        ("timeout: 5s\n", "targets: expected a table of targets"),
        ("targets: {}\n", "targets: expected a table"),
        ("targets:\n  x: https://oapi.dingtalk.com/robot/send\n", "targets.x: expected a table"),
        ("targets:\n  x:\n    secret: SEC1\n", "targets.x.url: is required"),
        ("targets:\n  x:\n    url: u\n    mention: [a]\n", "targets.x.mention: expected a table"),
        (
            "targets:\n  x:\n    url: u\n    mention: {all: 'yes'}\n",
            "mention.all: expected true or false",
        ),
        ("targets:\n  x:\n    url: u\n    mention: {mobiles: [{a: 1}]}\n", "mention.mobiles[0]"),
        ("targets:\n  x:\n    url: u\n    secret: 12\n", "targets.x.secret: expected a string"),
        ("targets:\n  x:\n    url: u\n    message: hello\n", "targets.x.message: expected a table"),
    ],
)
def test_what_cannot_be_converted_is_an_error(text: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        migrate_pwd(text, source="config.yml")
    assert words in caught.value.message


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        migrate_pwd_file(tmp_path / "nope.yml")


def test_the_command_prints_toml_and_warns_on_stderr(realistic: Path) -> None:
    result = CliRunner().invoke(cli, ["config", "from-pwd", str(realistic)])
    assert result.exit_code == 0, result.output
    assert tomllib.loads(result.stdout)["robots"]["ops"]["secret"] == SECRET_A
    assert "3 Go template(s) to port to Jinja2" in result.stderr


def test_the_command_reads_stdin_and_warns() -> None:
    text = "targets:\n  x:\n    url: https://oapi.dingtalk.com/robot/send?access_token=a\n    extra: 1\n"
    result = CliRunner().invoke(cli, ["config", "from-pwd", "-", "--env-secrets"], input=text)
    assert result.exit_code == 0
    assert "${X_TOKEN}" in result.stdout
    assert "dingwire: warning: targets.x.extra" in result.stderr


def test_the_command_exits_2_on_bad_yaml(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_text("targets:\n  x: [\n")
    result = CliRunner().invoke(cli, ["config", "from-pwd", str(path)])
    assert result.exit_code == 2
    assert f"{path}:3: not valid YAML" in result.stderr
