"""``dingwire robots``: what is configured and where, secrets masked."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Invoke

TOKEN = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
SECRET = "SEC" + "f" * 64


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "dingwire.toml"
    path.write_text(
        "[robots.ops]\n"
        'webhook = "https://oapi.dingtalk.com/robot/send?access_token=${OPS_TOKEN}"\n'
        'secret = "${OPS_SECRET}"\n'
        'keywords = ["告警"]\n'
        "[robots.ci]\n"
        f'webhook = "dingtalk://{SECRET}@{TOKEN}"\n',
        encoding="utf-8",
    )
    return path


def test_lists_robots_masked_with_their_source(invoke: Invoke, config: Path) -> None:
    env = {"OPS_TOKEN": TOKEN, "OPS_SECRET": SECRET}
    result = invoke("--config", str(config), "robots", env=env, secrets=[TOKEN, SECRET])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"config file: {config}"
    assert lines[1].startswith("ops  https://oapi.dingtalk.com/robot/send?access_token=")
    assert f"access_token=…{TOKEN[-4:]} secret=**********" in lines[1]
    assert "keywords=告警" in lines[1]
    assert lines[2] == f"     from {config} [robots.ops]"
    assert lines[3].startswith("ci   https://oapi.dingtalk.com/robot/send?access_token=")
    assert lines[4] == f"     from {config} [robots.ci]"


def test_the_environment_robot_is_listed_as_default(invoke: Invoke, config: Path) -> None:
    env = {
        "OPS_TOKEN": TOKEN,
        "OPS_SECRET": SECRET,
        "DINGWIRE_WEBHOOK": "envtoken1234567",
        "DINGWIRE_SECRET": "SECenvironment",
    }
    result = invoke(
        "robots",
        "--config",
        str(config),
        env=env,
        secrets=[TOKEN, SECRET, "envtoken1234567", "SECenvironment"],
    )
    assert result.exit_code == 0, result.output
    assert "default  …4567 secret=**********" in result.stdout
    assert "environment (DINGWIRE_WEBHOOK, DINGWIRE_SECRET)" in result.stdout


def test_nothing_configured(
    invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    result = invoke("robots")
    assert result.exit_code == 0
    assert "config file: none found" in result.stdout
    assert "no robots configured" in result.stdout


def test_config_from_dingwire_config(invoke: Invoke, config: Path) -> None:
    env = {"DINGWIRE_CONFIG": str(config), "OPS_TOKEN": TOKEN, "OPS_SECRET": SECRET}
    result = invoke("robots", env=env, secrets=[TOKEN, SECRET])
    assert result.exit_code == 0
    assert f"config file: {config}" in result.stdout


def test_a_broken_config_is_a_configuration_error(invoke: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "dingwire.toml"
    path.write_text("[robots.ops]\nwebhok = 'typo'\n", encoding="utf-8")
    result = invoke("robots", "--config", str(path))
    assert result.exit_code == 2
    assert "unknown key 'webhok'" in result.stderr


def test_a_missing_config_file_is_a_usage_error(invoke: Invoke, tmp_path: Path) -> None:
    result = invoke("--config", str(tmp_path / "nope.toml"), "robots")
    assert result.exit_code == 2
    assert "does not exist" in result.stderr
