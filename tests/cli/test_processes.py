"""The installed ``dingwire`` script as a real process, against the fake on a real port."""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from dingwire.fake.server import FakeServer

from .conftest import DINGWIRE, VECTOR_SECRET, VECTOR_SIGN, VECTOR_TIMESTAMP, Process

pytestmark = pytest.mark.slow


def test_stdin_to_a_signed_robot(dingwire_process: Process, dingtalk_fake: FakeServer) -> None:
    robot = dingtalk_fake.add_robot(secret=True)
    done = dingwire_process(
        "send",
        "text",
        "-",
        "--webhook",
        robot.webhook,
        input="磁盘满了 on db01\n",
        env={"DINGWIRE_SECRET": str(robot.secret)},
        secrets=[robot.token, robot.secret],
    )
    assert (done.status, done.stdout, done.stderr) == (0, "", "dingwire: sent\n")
    assert robot.delivered()[0].text == "磁盘满了 on db01"


def test_dry_run_sends_nothing_and_masks(
    dingwire_process: Process, dingtalk_fake: FakeServer
) -> None:
    robot = dingtalk_fake.add_robot(secret=True)
    done = dingwire_process(
        "send",
        "markdown",
        "--title",
        "T",
        "**hi**",
        "--dry-run",
        "--webhook",
        robot.webhook,
        "--secret",
        str(robot.secret),
        secrets=[robot.token, robot.secret],
    )
    assert done.status == 0
    url, body = done.stdout.splitlines()
    assert "access_token=…" in url
    assert url.endswith("sign=**********")
    assert json.loads(body) == {"msgtype": "markdown", "markdown": {"title": "T", "text": "**hi**"}}
    assert dingtalk_fake.messages() == []


def test_config_file_robot_with_variables(
    dingwire_process: Process, dingtalk_fake: FakeServer, tmp_path: Path
) -> None:
    robot = dingtalk_fake.add_robot(secret=True, keywords=["告警"])
    (tmp_path / "dingwire.toml").write_text(
        "[robots.ops]\n"
        'webhook = "${FAKE_URL}/robot/send?access_token=${OPS_TOKEN}"\n'
        'secret = "${OPS_SECRET}"\n'
        'keywords = ["告警"]\n',
        encoding="utf-8",
    )
    env = {"FAKE_URL": dingtalk_fake.url, "OPS_TOKEN": robot.token, "OPS_SECRET": str(robot.secret)}
    secrets = [robot.token, robot.secret]
    # ./dingwire.toml is found without --config
    done = dingwire_process(
        "send", "text", "disk full", "-r", "ops", env=env, cwd=tmp_path, secrets=secrets
    )
    assert done.status == 0, done.stderr
    listing = dingwire_process("robots", env=env, cwd=tmp_path, secrets=secrets)
    assert listing.status == 0
    assert "ops  " in listing.stdout
    assert "secret=**********" in listing.stdout
    assert robot.delivered()[0].text == "【告警】 disk full"


def test_exit_statuses(
    dingwire_process: Process, dingtalk_fake: FakeServer, refusing_url: str
) -> None:
    robot = dingtalk_fake.add_robot(secret=True, rate_limit="1/60s")
    wrong = "SEC" + "1" * 64
    secrets = [robot.token, robot.secret, wrong, "refused0token"]
    refused = dingwire_process(
        "send", "text", "x", "--webhook", robot.webhook, "--secret", wrong, secrets=secrets
    )
    assert refused.status == 1
    assert "errcode 310000" in refused.stderr
    assert "→ the signature does not match" in refused.stderr
    usage = dingwire_process("send", "text", secrets=secrets)
    assert usage.status == 2
    network = dingwire_process("send", "text", "x", "--webhook", refusing_url, secrets=secrets)
    assert network.status == 3
    args = ["--webhook", robot.webhook, "--secret", str(robot.secret)]
    assert dingwire_process("send", "text", "one", *args, secrets=secrets).status == 0
    throttled = dingwire_process("send", "text", "two", *args, secrets=secrets)
    assert throttled.status == 4
    for done in (refused, usage, network, throttled):
        assert "Traceback" not in done.stderr


def test_run_passes_the_status_through_and_reports(
    dingwire_process: Process, dingtalk_fake: FakeServer
) -> None:
    robot = dingtalk_fake.add_robot(secret=True)
    code = "import sys; print('step 1'); sys.stdout.flush(); sys.exit(42)"
    done = dingwire_process(
        "run",
        "--webhook",
        robot.webhook,
        "--title",
        "job",
        "--",
        sys.executable,
        "-c",
        code,
        env={"DINGWIRE_SECRET": str(robot.secret)},
        secrets=[robot.token, robot.secret],
    )
    assert done.status == 42
    assert done.stdout == "step 1\n"
    [report] = robot.delivered()
    assert report.title == "❌ job failed (exit 42)"
    assert "> step 1" in (report.text or "")


def test_run_output_passes_through_live(dingtalk_fake: FakeServer, tmp_path: Path) -> None:
    """A line the command prints shows before the command ends."""
    robot = dingtalk_fake.add_robot()
    release = tmp_path / "release"
    code = (
        "import os, sys, time\n"
        "print('started', flush=True)\n"
        f"while not os.path.exists({str(release)!r}): time.sleep(0.01)\n"
    )
    argv = [str(DINGWIRE), "run", "--webhook", robot.webhook, "-q", "--", sys.executable, "-c"]
    with subprocess.Popen([*argv, code], stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        try:
            assert process.stdout is not None
            assert read_line(process.stdout, timeout=20) == b"started\n"
            assert process.poll() is None  # still running: the line came through live
            release.touch()
            assert process.wait(timeout=20) == 0
        finally:
            process.kill()
    assert len(robot.delivered()) == 1


def test_sign_matches_the_seed(dingwire_process: Process) -> None:
    done = dingwire_process(
        "sign", "--timestamp", str(VECTOR_TIMESTAMP), env={"DINGWIRE_SECRET": VECTOR_SECRET}
    )
    assert done.stdout == f"{VECTOR_TIMESTAMP}\n{VECTOR_SIGN}\n"


def read_line(stream: object, *, timeout: float) -> bytes:
    """One line from a pipe, or fail after ``timeout`` seconds (never block forever)."""
    fd = stream.fileno()  # type: ignore[attr-defined]
    selector = selectors.DefaultSelector()
    selector.register(fd, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    line = b""
    try:
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                raise TimeoutError(f"no line within {timeout} s (so far: {line!r})")
            chunk = os.read(fd, 1)
            if not chunk:
                break
            line += chunk
    finally:
        selector.close()
    return line


@pytest.fixture
def fake_process() -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    with subprocess.Popen(
        [str(DINGWIRE), "fake", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as process:
        try:
            assert process.stderr is not None
            first = read_line(process.stderr, timeout=30).decode()
            assert first.startswith("dingwire fake DingTalk on http://127.0.0.1:")
            url = first.split(" on ", 1)[1].split("/ ", 1)[0]
            yield process, url
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def test_dingwire_fake_serves_what_dingwire_send_sends(
    dingwire_process: Process, fake_process: tuple[subprocess.Popen[bytes], str]
) -> None:
    process, url = fake_process
    done = dingwire_process(
        "send",
        "text",
        "to the fake process",
        "--webhook",
        f"{url}/robot/send?access_token=anytoken1",
    )
    assert done.status == 0, done.stderr
    with urllib.request.urlopen(f"{url}/api/messages", timeout=10) as reply:
        log = json.loads(reply.read())
    records = log["messages"] if isinstance(log, dict) else log
    assert [r["body"]["text"]["content"] for r in records] == ["to the fake process"]
    assert process.poll() is None


def test_processes_in_a_row_share_the_budget_and_dingtalk_never_throttles(
    dingwire_process: Process, dingtalk_fake: FakeServer
) -> None:
    """22 `dingwire send` processes, one after the other, through a robot of 5 a 2 s.

    Each process is new; what keeps them within DingTalk's limit is the budget store they
    share (the same DINGWIRE_CACHE_DIR). Judged by what the fake saw: when each message
    arrived, and what it answered.
    """
    robot = dingtalk_fake.add_robot(rate_limit="5/2s")
    url = f"dingtalk://{robot.token}?base_url={dingtalk_fake.url}&rate_limit=5/2s"
    statuses = [
        dingwire_process("send", "text", f"message {n}", "--webhook", url, "-q").status
        for n in range(22)
    ]
    records = robot.messages()
    assert [r.errcode for r in records] == [0] * 22, [r.errmsg for r in records if not r.ok]
    assert [r.text for r in records] == [f"message {n}" for n in range(22)]
    # No 2 s window held more than 5 arrivals: the 6th after any arrival came 2 s later.
    times = [r.time for r in records]
    assert all(later - earlier >= 2.0 for earlier, later in zip(times, times[5:], strict=False))
    assert statuses == [0] * 22


def test_a_process_waits_for_the_budget_another_spent_and_says_so(
    dingwire_process: Process, dingtalk_fake: FakeServer
) -> None:
    robot = dingtalk_fake.add_robot(rate_limit="1/2s")
    url = f"dingtalk://{robot.token}?base_url={dingtalk_fake.url}&rate_limit=1/2s"
    assert dingwire_process("send", "text", "one", "--webhook", url).status == 0
    done = dingwire_process("send", "text", "two", "--webhook", url, secrets=[robot.token])
    assert done.status == 0, done.stderr
    said, sent = done.stderr.splitlines()
    assert re.fullmatch(
        r"dingwire: the robot waits for its budget \(1/2s\) until \d\d:\d\d:\d\d \(\d\.\d s\)",
        said,
    ), said
    assert sent == "dingwire: sent"
    first, second = robot.messages()
    assert (first.errcode, second.errcode) == (0, 0)
    assert second.time - first.time >= 2.0


def test_a_lockout_one_process_met_stops_the_next_at_once(
    dingwire_process: Process, dingtalk_fake: FakeServer
) -> None:
    robot = dingtalk_fake.add_robot(rate_limit="1/60s")
    url = f"dingtalk://{robot.token}?base_url={dingtalk_fake.url}"
    assert dingwire_process("send", "text", "one", "--webhook", url).status == 0
    throttled = dingwire_process("send", "text", "two", "--webhook", url, secrets=[robot.token])
    assert throttled.status == 4
    assert "errcode 130101" in throttled.stderr
    started = time.monotonic()
    locked = dingwire_process("send", "text", "three", "--webhook", url, secrets=[robot.token])
    assert time.monotonic() - started < 10  # at once: not the lockout's 10 minutes
    assert locked.status == 4
    assert re.match(
        r"dingwire: the robot is locked out by DingTalk until \d\d:\d\d:\d\d \(\d+ s\); "
        "nothing was sent\n",
        locked.stderr,
    ), locked.stderr
    assert [r.errcode for r in robot.messages()] == [0, 130101]  # the third never left
