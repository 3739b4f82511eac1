"""``dingwire.integrations.run``: the runner, its tail of output, and the report."""

from __future__ import annotations

import io
import sys

import pytest

import dingwire
from dingwire.integrations import __all__ as integrations_all
from dingwire.integrations.run import (
    Outcome,
    TailBuffer,
    clean_line,
    compose_report,
    fit_report,
    format_duration,
    run_command,
)

WEBHOOK = "http://127.0.0.1:9/robot/send?access_token=integrationtoken"


def test_the_package_publishes_what_we_mean() -> None:
    assert integrations_all == [
        "Estimate",
        "Outcome",
        "TailBuffer",
        "compose_report",
        "estimate",
        "fit_report",
        "preview",
        "run_command",
    ]


def test_run_command_passes_output_through_to_the_sinks_and_keeps_the_tail() -> None:
    out, err = io.BytesIO(), io.BytesIO()
    code = "import sys; print('one'); print('two', file=sys.stderr); sys.exit(5)"
    outcome = run_command([sys.executable, "-c", code], tail=5, stdout=out, stderr=err)
    assert outcome.status == 5
    assert not outcome.succeeded
    assert out.getvalue() == b"one\n"
    assert err.getvalue() == b"two\n"
    assert sorted(outcome.tail) == ["one", "two"]
    assert outcome.duration > 0


def test_run_command_that_cannot_be_found() -> None:
    outcome = run_command(["no-such-command-anywhere-9"], tail=5)
    assert outcome.status == 127
    assert outcome.describe() == "could not start: no-such-command-anywhere-9: command not found"


def _scrub(text: str) -> str:
    return text.replace("hunter2", "**********")


def test_the_report_scrubs_and_escapes_what_came_from_the_command() -> None:
    outcome = Outcome(("backup", "--password", "hunter2"), 3, 1.5, ["**bold** @13800000000"])
    report = compose_report(outcome, title="backup", host="db01", lines=outcome.tail, scrub=_scrub)
    assert report.title == "❌ backup failed (exit 3)"
    assert "hunter2" not in report.text
    assert "\\*\\*bold\\*\\*" in report.text
    assert "**Host:** db01" in report.text


def test_fit_report_drops_the_oldest_lines_until_it_fits_the_robot() -> None:
    robot = dingwire.Robot(WEBHOOK, keywords=["告警"], budget_store="memory://")
    lines = [f"line {i} " + "x" * 290 for i in range(200)]
    outcome = Outcome(("job",), 1, 2.0, lines)
    report = fit_report(outcome, robot, title="job", host="h", scrub=str)
    assert len(robot.body(report)) <= 20_000
    assert "line 199" in report.text  # the newest stay
    assert "line 0 " not in report.text


# -- the pieces ---------------------------------------------------------------------------


def test_tail_buffer_joins_lines_across_chunks_and_streams() -> None:
    tail = TailBuffer(3)
    tail.feed("out", b"one\ntw")
    tail.feed("err", b"E1\n")
    tail.feed("out", b"o\nthree")
    tail.close("out")
    tail.close("err")
    assert tail.lines() == ["E1", "two", "three"]


def test_tail_buffer_bounds_a_line_without_end() -> None:
    tail = TailBuffer(2)
    for _ in range(100):
        tail.feed("out", b"x" * 1000)
    tail.close("out")
    [line] = tail.lines()
    assert len(line) == 4096


def test_tail_buffer_of_zero_keeps_nothing() -> None:
    tail = TailBuffer(0)
    tail.feed("out", b"a\nb\n")
    assert tail.lines() == []


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (b"plain", "plain"),
        (b"\x1b[31mred\x1b[0m", "red"),
        (b"10%\r50%\r100%", "100%"),
        (b"crlf\r", "crlf"),
        (b"bad \xff byte", "bad \ufffd byte"),
        (b"bell\x07", "bell\ufffd"),
    ],
)
def test_clean_line(raw: bytes, shown: str) -> None:
    assert clean_line(raw) == shown


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0.4242, "0.42 s"), (12.34, "12.3 s"), (125, "2 min 5 s"), (3725, "1 h 02 min")],
)
def test_format_duration(seconds: float, shown: str) -> None:
    assert format_duration(seconds) == shown


@pytest.mark.parametrize(
    ("status", "problem", "said"),
    [
        (0, None, "succeeded"),
        (1, None, "failed (exit 1)"),
        (130, None, "killed by SIGINT (exit 130)"),
        (127, "x: command not found", "could not start: x: command not found"),
    ],
)
def test_outcome_describe(status: int, problem: str | None, said: str) -> None:
    assert Outcome(("x",), status, 0.0, problem=problem).describe() == said
