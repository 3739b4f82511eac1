"""``dingwire run``: the command's output passes through, its status comes back, and the
robot gets a report."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from dingwire.fake.server import FakeServer

from .conftest import Invoke

PY = sys.executable


def script(code: str) -> list[str]:
    return ["--", PY, "-c", code]


@pytest.fixture
def robot(dingtalk_fake: FakeServer) -> tuple[list[str], FakeServer]:
    handle = dingtalk_fake.add_robot(secret=True)
    return ["--webhook", handle.webhook, "--secret", str(handle.secret)], dingtalk_fake


def report_of(fake: FakeServer) -> tuple[str, str]:
    [record] = fake.delivered()
    assert record.msgtype == "markdown"
    return record.title or "", record.text or ""


def test_failure_passes_the_status_through_and_reports(
    invoke: Invoke, robot: tuple[list[str], FakeServer]
) -> None:
    args, fake = robot
    code = "import sys; print('first'); print('oops', file=sys.stderr); sys.exit(3)"
    result = invoke("run", *args, "--title", "nightly backup", *script(code))
    assert result.exit_code == 3
    assert "first\n" in result.stdout
    assert "oops\n" in result.stderr
    assert "dingwire: reported\n" in result.stderr
    title, text = report_of(fake)
    assert title == "❌ nightly backup failed (exit 3)"
    assert "**Exit status:** 3" in text
    assert "**Duration:**" in text
    assert "**Host:**" in text
    assert "**Command:**" in text
    assert "sys.exit(3)" in text
    assert "> first" in text
    assert "> oops" in text


def test_success_is_reported_by_default(
    invoke: Invoke, robot: tuple[list[str], FakeServer]
) -> None:
    args, fake = robot
    result = invoke("run", *args, *script("print('fine')"))
    assert result.exit_code == 0
    title, text = report_of(fake)
    assert title.startswith("✅ ")
    assert title.endswith(" succeeded")
    assert "> fine" in text


def test_on_failure_stays_quiet_on_success(
    invoke: Invoke, robot: tuple[list[str], FakeServer]
) -> None:
    args, fake = robot
    result = invoke("run", *args, "--on", "failure", *script("pass"))
    assert result.exit_code == 0
    assert fake.messages() == []
    result = invoke("run", *args, "--on", "failure", *script("raise SystemExit(5)"))
    assert result.exit_code == 5
    assert len(fake.delivered()) == 1


def test_without_dashes_the_first_word_starts_the_command(
    invoke: Invoke, robot: tuple[list[str], FakeServer]
) -> None:
    args, _fake = robot
    result = invoke("run", *args, PY, "-c", "print('no dashes')")
    assert result.exit_code == 0
    assert "no dashes" in result.stdout


def test_a_report_that_cannot_be_sent_keeps_the_commands_status(
    invoke: Invoke, refusing_url: str
) -> None:
    result = invoke("run", "--webhook", refusing_url, *script("raise SystemExit(7)"))
    assert result.exit_code == 7
    assert "dingwire: the report was not sent: could not connect" in result.stderr


def test_a_bad_robot_runs_nothing(invoke: Invoke, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    result = invoke("run", "--robot", "nope", *script(f"open({str(marker)!r}, 'w')"))
    assert result.exit_code == 2
    assert not marker.exists()


def test_command_not_found_exits_127_and_reports(
    invoke: Invoke, robot: tuple[list[str], FakeServer]
) -> None:
    args, fake = robot
    result = invoke("run", *args, "--", "no-such-command-dingwire")
    assert result.exit_code == 127
    assert "command not found" in result.stderr
    title, _ = report_of(fake)
    assert "could not start" in title


def test_killed_by_a_signal(invoke: Invoke, robot: tuple[list[str], FakeServer]) -> None:
    args, fake = robot
    code = "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"
    result = invoke("run", *args, *script(code))
    assert result.exit_code == 143
    title, _ = report_of(fake)
    assert "killed by SIGTERM" in title


def test_tail_keeps_the_last_lines(invoke: Invoke, robot: tuple[list[str], FakeServer]) -> None:
    args, fake = robot
    result = invoke("run", *args, "--tail", "3", *script("for i in range(10): print(f'line {i}')"))
    assert result.exit_code == 0
    _, text = report_of(fake)
    assert "last 3 lines" in text
    assert "line 6" not in text
    assert all(f"line {i}" in text for i in (7, 8, 9))


def test_the_report_fits_in_one_message(
    invoke: Invoke, robot: tuple[list[str], FakeServer]
) -> None:
    args, fake = robot
    code = "for i in range(200): print(f'{i:03d} ' + '磁盘' * 400)"
    result = invoke("run", *args, "--tail", "200", *script(code))
    assert result.exit_code == 0, result.stderr[-500:]
    [record] = fake.delivered()
    assert record.size <= 20_000
    assert "199 " in (record.text or "")  # the newest lines are the ones kept


def test_secrets_in_the_output_stay_out_of_the_report(
    invoke: Invoke, dingtalk_fake: FakeServer
) -> None:
    handle = dingtalk_fake.add_robot(secret=True)
    secret, token = str(handle.secret), handle.token
    code = (
        f"print('leaking {secret}');"
        f"print('https://oapi.dingtalk.com/robot/send?access_token=otherrobottoken9&sign=abc')"
    )
    result = invoke(
        "run", "--webhook", handle.webhook, *script(code), env={"DINGWIRE_SECRET": secret}
    )
    assert result.exit_code == 0
    _, text = report_of(dingtalk_fake)
    for leaked in (secret, token, "otherrobottoken9"):
        assert leaked not in text
        assert leaked not in json.dumps(dingtalk_fake.delivered()[0].payload)


def test_dry_run_prints_the_report_and_sends_nothing(
    invoke: Invoke, robot: tuple[list[str], FakeServer]
) -> None:
    args, fake = robot
    result = invoke("run", *args, "--dry-run", *script("raise SystemExit(2)"))
    assert result.exit_code == 2
    post, body = result.stdout.splitlines()[-2:]
    assert post.startswith("POST ")
    assert post.endswith("&sign=**********")
    assert json.loads(body)["msgtype"] == "markdown"
    assert fake.messages() == []


def test_output_is_escaped_in_the_report(
    invoke: Invoke, robot: tuple[list[str], FakeServer]
) -> None:
    args, fake = robot
    result = invoke("run", *args, *script("print('**not bold** # [x](y)')"))
    assert result.exit_code == 0
    _, text = report_of(fake)
    assert "**not bold**" not in text


def test_binary_output_passes_through_untouched(
    invoke: Invoke, robot: tuple[list[str], FakeServer]
) -> None:
    args, _ = robot
    code = "import sys; sys.stdout.buffer.write(bytes(range(256)))"
    result = invoke("run", *args, "--quiet", *script(code))
    assert result.exit_code == 0
    assert result.stdout_bytes == bytes(range(256))
