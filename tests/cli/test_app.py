"""The group: help, the exit-status table, errors for people, lazy start-up."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

import dingwire
from dingwire.cli import _app, cli, exit_status
from dingwire.cli._app import COMMANDS, EXIT_INTERNAL, Invocation

from .conftest import Invoke


def all_commands() -> list[tuple[str, click.Command]]:
    """Every command, as ``("send text", command)``, the group itself as ``""``."""
    found: list[tuple[str, click.Command]] = [("", cli)]
    ctx = click.Context(cli)
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        assert command is not None
        found.append((name, command))
        if isinstance(command, click.Group):
            sub = click.Context(command, parent=ctx)
            for subname in command.list_commands(sub):
                found.append((f"{name} {subname}", command.get_command(sub, subname)))  # type: ignore[arg-type]
    return found


def test_help_lists_every_command_with_the_exit_statuses(invoke: Invoke) -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    for name in (
        "send",
        "run",
        "sign",
        "robots",
        "fake",
        "completion",
        "serve",
        "render",
        "outbox",
        "config",
    ):
        assert f"\n  {name} " in result.stdout
    for line in (
        "0  delivered",
        "1  DingTalk refused",
        "2  usage or configuration error",
        "3  network error or timeout",
        "4  rate limited",
    ):
        assert line in result.stdout


@pytest.mark.parametrize(("path", "command"), all_commands(), ids=lambda v: str(v) or "dingwire")
def test_every_command_has_help_with_an_example(
    invoke: Invoke, path: str, command: click.Command
) -> None:
    result = invoke(*path.split(), "--help")
    assert result.exit_code == 0, result.output
    assert "Example" in result.stdout or "Set it up once" in result.stdout
    assert f"dingwire {path}".strip() in result.stdout


@pytest.mark.parametrize("name", list(COMMANDS))
def test_listed_short_help_is_the_commands_own(name: str) -> None:
    command = cli.get_command(click.Context(cli), name)
    assert command is not None
    assert command.help is not None
    assert COMMANDS[name].short_help == command.help.strip().splitlines()[0]


def test_no_arguments_shows_the_help_as_a_usage_error(invoke: Invoke) -> None:
    result = invoke()
    assert result.exit_code == 2
    assert "Commands:" in result.output


def test_unknown_command_is_a_usage_error(invoke: Invoke) -> None:
    result = invoke("no-such-command")
    assert result.exit_code == 2
    assert "No such command 'no-such-command'" in result.stderr


def test_version(invoke: Invoke) -> None:
    result = invoke("--version")
    assert result.exit_code == 0
    assert dingwire.__version__ in result.stdout


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (dingwire.SignatureError("sign not match", errcode=310000), 1),
        (dingwire.KeywordError("keywords", errcode=310000), 1),
        (dingwire.TokenError("token", errcode=300005), 1),
        (dingwire.BodyTooLargeError("460101", errcode=460101), 1),
        (dingwire.ServerBusyError("busy", errcode=-1), 1),
        (dingwire.ThrottledError("130101", errcode=130101), 4),
        (dingwire.RateLimitedError("budget", retry_after=3.0), 4),
        (dingwire.ConnectError("refused"), 3),
        (dingwire.RequestTimeoutError("timeout"), 3),
        (dingwire.BadResponseError("502", status=502), 3),
        (dingwire.ConfigError("no robot"), 2),
        (dingwire.MessageError("text.content: must not be empty"), 2),
        (dingwire.TooLargeError("too large", size=30000, limit=20000), 2),
        (click.UsageError("bad"), 2),
        (click.BadParameter("bad"), 2),
        (FileNotFoundError(2, "No such file or directory"), 2),
        (RuntimeError("a bug"), EXIT_INTERNAL),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_exit_status_table(error: BaseException, status: int) -> None:
    assert exit_status(error) == status


def test_a_bug_exits_70_with_one_line_and_no_traceback(
    invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(secret: str, timestamp_ms: int) -> str:
        raise RuntimeError("boom")

    monkeypatch.setattr("dingwire.core.signing.sign", broken)
    result = invoke("sign", "--secret", "SECabc")
    assert result.exit_code == EXIT_INTERNAL
    assert "internal error: RuntimeError: boom" in result.stderr
    assert "--debug" in result.stderr
    assert "Traceback" not in result.output


def test_debug_shows_the_traceback(invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(secret: str, timestamp_ms: int) -> str:
        raise RuntimeError(f"boom with {secret}")

    monkeypatch.setattr("dingwire.core.signing.sign", broken)
    result = invoke("--debug", "sign", "--secret", "SECdebugsecret", secrets=["SECdebugsecret"])
    assert result.exit_code == EXIT_INTERNAL
    assert result.stderr.startswith("Traceback (most recent call last):")
    assert "boom with **********" in result.stderr
    assert result.stderr.splitlines()[-2].startswith("dingwire: internal error: RuntimeError")


def test_ctrl_c_exits_130(invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(secret: str, timestamp_ms: int) -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr("dingwire.core.signing.sign", interrupted)
    result = invoke("sign", "--secret", "SECabc")
    assert result.exit_code == 130
    assert "interrupted" in result.stderr


def test_log_handler_is_removed_after_each_invocation(invoke: Invoke) -> None:
    logger = logging.getLogger("dingwire")
    before = list(logger.handlers)
    invoke("--debug", "sign", "--secret", "SECabc", "--timestamp", "1")
    assert logger.handlers == before
    assert logger.level == logging.NOTSET


def test_invocation_scrubs_what_it_remembers() -> None:
    invocation = Invocation()
    invocation.remember("SECsecretvalue", None, "")
    text = invocation.scrub("x SECsecretvalue y https://h/robot/send?access_token=abcdefghijkl")
    assert "SECsecretvalue" not in text
    assert "abcdefghijkl" not in text


def _modules_after(*args: str) -> set[str]:
    code = (
        "import sys\n"
        "from dingwire.cli import cli\n"
        "try:\n"
        f"    cli.main({list(args)!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    return set(done.stdout.split())


HEAVY = {"aiohttp", "starlette", "uvicorn", "dingwire.fake", "dingwire.content", "requests"}


def test_help_imports_no_subcommand_and_nothing_heavy() -> None:
    loaded = _modules_after("--help")
    assert not loaded & HEAVY
    assert not {m for m in loaded if m.startswith("dingwire.cli._") and m != "dingwire.cli._app"}
    assert "tomllib" not in loaded  # the config file is not read for --help
    assert "http.client" not in loaded


def test_sending_with_a_webhook_reads_no_config_and_imports_nothing_heavy() -> None:
    loaded = _modules_after(
        "send",
        "text",
        "hello",
        "--dry-run",
        "--webhook",
        "http://127.0.0.1:9/robot/send?access_token=tok",
        "--secret",
        "SECabc",
    )
    assert "dingwire.cli._send" in loaded
    assert not loaded & HEAVY
    assert "tomllib" not in loaded
    assert "dingwire.cli._run" not in loaded


def test_python_dash_m_runs_the_command_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dingwire", "sign", "--secret", "SECabc", "--timestamp", "1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0
    assert done.stdout.splitlines()[0] == "1"


def test_main_is_the_console_script() -> None:
    assert _app.main.__module__ == "dingwire.cli._app"
    from dingwire.cli import main

    assert main is _app.main


# -- what the help says is what the code reads ------------------------------------------------


def _all_help(invoke: Invoke) -> str:
    return "\n".join(invoke(*path.split(), "--help").stdout for path, _ in all_commands())


#: Variables read by the standard library on dingwire's behalf (the proxies), or by a shell.
_READ_ELSEWHERE = {"HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "SHELL"}


def _read_by_the_code() -> set[str]:
    """Every environment variable dingwire's code reads by name."""
    found: set[str] = set()
    pattern = re.compile(
        r"""(?:environ(?:\.get)?|env(?:\.get)?|getenv|envvar=)\s*[\[(]?\s*["']([A-Z][A-Z0-9_]+)["']"""
    )
    for path in Path(dingwire.__file__).parent.rglob("*.py"):
        found |= set(pattern.findall(path.read_text(encoding="utf-8")))
    return found


def test_help_names_only_variables_that_are_really_read(invoke: Invoke) -> None:
    text = _all_help(invoke)
    named = set(re.findall(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b", text))
    assert "DINGTALK_WEBHOOK" not in text
    assert "DINGTALK_SECRET" not in text
    assert {"DINGWIRE_WEBHOOK", "DINGWIRE_SECRET", "DINGWIRE_CONFIG"} <= named
    unread = named - _read_by_the_code() - _READ_ELSEWHERE
    assert not unread, f"the help names variables nothing reads: {sorted(unread)}"


def test_the_config_lookup_is_said_as_the_code_reads_it() -> None:
    from dingwire.config import CONFIG_FILES, CONFIG_LOOKUP

    [option] = [p for p in cli.params if p.name == "config_file"]
    assert option.help is not None
    assert CONFIG_LOOKUP in option.help
    root = Path(__file__).parents[2]
    for page in ("docs/cli.md", "docs/library.md", "README.md"):
        text = (root / page).read_text(encoding="utf-8")
        positions = [text.find(f"`{place}`") for place in CONFIG_FILES]
        assert -1 not in positions, (page, positions)
        assert positions == sorted(positions), page


def test_the_config_file_under_xdg_config_home_is_read(
    invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    xdg = tmp_path / "xdg"
    (xdg / "dingwire").mkdir(parents=True)
    config = xdg / "dingwire" / "config.toml"
    config.write_text('[robots.ops]\nwebhook = "abcdefgh12345678"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = invoke("robots", env={"XDG_CONFIG_HOME": str(xdg)}, secrets=["abcdefgh12345678"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == f"config file: {config}"
