"""``dingwire completion``: click's scripts, and the completions they ask for."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Invoke


@pytest.mark.parametrize(
    ("shell", "marker"),
    [("bash", "complete -o nosort -F"), ("zsh", "#compdef dingwire"), ("fish", "complete ")],
)
def test_prints_the_script(invoke: Invoke, shell: str, marker: str) -> None:
    result = invoke("completion", shell)
    assert result.exit_code == 0, result.output
    assert marker in result.stdout
    assert "_DINGWIRE_COMPLETE" in result.stdout


def test_the_shell_defaults_to_shell(invoke: Invoke) -> None:
    result = invoke("completion", env={"SHELL": "/usr/bin/zsh"})
    assert result.exit_code == 0
    assert "#compdef dingwire" in result.stdout


def test_an_unknown_shell_is_a_usage_error(invoke: Invoke) -> None:
    assert invoke("completion", "tcsh").exit_code == 2
    result = invoke("completion", env={"SHELL": "/bin/tcsh"})
    assert result.exit_code == 2
    assert "bash|zsh|fish" in result.stderr


def complete(invoke: Invoke, words: str, env: dict[str, str] | None = None) -> list[str]:
    parts = words.split(" ")
    result = invoke(
        env={
            "_DINGWIRE_COMPLETE": "bash_complete",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(parts) - 1),
            **(env or {}),
        },
    )
    assert result.exit_code == 0, result.output
    return [line.split(",", 1)[1] for line in result.stdout.splitlines() if line]


def test_completes_commands_subcommands_and_options(invoke: Invoke) -> None:
    assert complete(invoke, "dingwire s") == ["send", "sign", "serve"]
    assert complete(invoke, "dingwire send ") == [
        "text",
        "markdown",
        "link",
        "actioncard",
        "feedcard",
        "raw",
    ]
    assert "--dry-run" in complete(invoke, "dingwire send text --d")


def test_completes_robot_names_from_the_config(invoke: Invoke, tmp_path: Path) -> None:
    config = tmp_path / "dingwire.toml"
    config.write_text(
        '[robots.ops]\nwebhook = "abcdefgh12345678"\n[robots.ci]\nwebhook = "abcdefgh12345679"\n'
        '[robots.oncall]\nwebhook = "abcdefgh12345670"\n',
        encoding="utf-8",
    )
    env = {"DINGWIRE_CONFIG": str(config)}
    assert complete(invoke, "dingwire send text hi --robot o", env) == ["ops", "oncall"]
    words = f"dingwire --config {config} run --robot "
    assert complete(invoke, words) == ["ops", "ci", "oncall"]


def test_a_broken_config_completes_nothing(invoke: Invoke, tmp_path: Path) -> None:
    config = tmp_path / "dingwire.toml"
    config.write_text("not toml [", encoding="utf-8")
    env = {"DINGWIRE_CONFIG": str(config)}
    assert complete(invoke, "dingwire send text hi --robot ", env) == []


def test_a_robot_that_cannot_be_used_does_not_stop_the_others_completing(
    invoke: Invoke, tmp_path: Path
) -> None:
    config = tmp_path / "dingwire.toml"
    config.write_text(
        '[robots.ops]\nwebhook = "abcdefgh12345678"\nsecret = "${NOT_SET_ANYWHERE}"\n'
        '[robots.oncall]\nwebhook = "abcdefgh12345679"\nsecret = 5\n'
        '[robots.ci]\nwebhook = "abcdefgh12345670"\n',
        encoding="utf-8",
    )
    env = {"DINGWIRE_CONFIG": str(config)}
    assert complete(invoke, "dingwire send text hi --robot ", env) == ["ops", "oncall", "ci"]
