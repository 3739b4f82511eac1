"""Running the fake: ``serve`` in its own process with a config file, FakeServer's life cycle,
the pytest plugin's fixtures, and the demo."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

import dingwire
from dingwire.core.errors import ConfigError
from dingwire.fake import FakeServer, InProcessFake
from dingwire.fake.server import serve

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_line(process: subprocess.Popen[str], pattern: str, timeout: float = 15) -> str:
    assert process.stderr is not None
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        seen.append(line)
        if re.search(pattern, line):
            return line
    raise AssertionError(f"no line matching {pattern!r} in {''.join(seen)!r}")


def test_serve_in_its_own_process_with_a_config(tmp_path: Path) -> None:
    config = tmp_path / "fake.toml"
    secret = "SEC" + "3" * 64
    config.write_text(
        '[fake]\nerrmsg_style = "legacy"\n\n[robots.tok1]\nname = "ops"\n'
        'secret = "${FAKE_SECRET}"\nkeywords = ["告警"]\n',
        encoding="utf-8",
    )
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "dingwire.fake", "--port", str(port), "--config", str(config)],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "FAKE_SECRET": secret},
    )
    try:
        banner = wait_for_line(process, r"dingwire fake DingTalk on")
        assert f"http://127.0.0.1:{port}/" in banner
        assert "ops" in banner
        webhook = f"http://127.0.0.1:{port}/robot/send?access_token=tok1"
        robot = dingwire.Robot(webhook, secret, budget_store=dingwire.MemoryBudgetStore())
        assert robot.send(dingwire.Text("告警 from another process")).errcode == 0
        with pytest.raises(dingwire.KeywordError) as caught:
            robot.send(dingwire.Text("no keyword"))
        assert caught.value.errmsg is not None
        assert caught.value.errmsg.startswith("keywords not in content")  # legacy style
        unknown = requests.post(
            webhook.replace("tok1", "tok2"), json={"msgtype": "text"}, timeout=10
        )
        assert unknown.json()["errcode"] == 300005
        logged = wait_for_line(process, r"310000")
        assert "sign=**********" in logged
        assert secret not in logged
        assert "tok1" not in logged
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=15)
        assert process.stderr is not None
        process.stderr.close()
    assert process.returncode == 0


def test_serve_refuses_a_taken_port_and_a_bad_config(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(ConfigError, match=r"cannot listen on 127\.0\.0\.1"):
            serve("127.0.0.1", taken.getsockname()[1], quiet=True)
    bad = tmp_path / "bad.toml"
    bad.write_text("[robots.t]\nsecrte = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown key 'secrte'"):
        serve("127.0.0.1", 0, bad)
    result = subprocess.run(
        [sys.executable, "-m", "dingwire.fake", "--port", "0", "--config", str(bad)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "unknown key 'secrte'" in result.stderr


def test_fake_server_life_cycle() -> None:
    server = FakeServer()
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.url
    with server:
        url = server.url
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
        assert server.start() is server  # starting twice is harmless
        assert requests.get(url + "/healthz", timeout=10).text == "ok"
        # An open page (a live feed) must not hold up stopping.
        feed = requests.get(url + "/api/events", stream=True, timeout=10)
        started = time.monotonic()
    assert time.monotonic() - started < 5
    feed.close()
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/healthz", timeout=2)
    server.stop()  # stopping twice is harmless


def test_two_servers_are_independent() -> None:
    with FakeServer() as one, FakeServer() as two:
        assert one.port != two.port
        one.add_robot("only-on-one")
        assert one.client("only-on-one").send(dingwire.Text("x")).errcode == 0
        assert two.messages() == []


def test_the_plugin_fixtures_start_clean(dingtalk_fake: FakeServer) -> None:
    # Whatever an earlier test left on the shared server is gone.
    assert dingtalk_fake.messages() == []
    assert dingtalk_fake.fake.robots() == []
    assert dingtalk_fake.fake.pending_faults() == []
    dingtalk_fake.add_robot("left-behind")
    dingtalk_fake.client("left-behind").send(dingwire.Text("x"))


def test_the_plugin_fixtures_start_clean_again(dingtalk_fake: FakeServer) -> None:
    test_the_plugin_fixtures_start_clean(dingtalk_fake)


def test_the_inprocess_fixture(dingtalk_fake_inprocess: InProcessFake) -> None:
    ops = dingtalk_fake_inprocess.add_robot(secret=True, keywords=["告警"], rate_limit="1/60s")
    assert ops.secret is not None
    assert ops.secret.startswith("SEC")
    assert len(ops.token) == 64
    assert ops.webhook.startswith("http://dingtalk.fake.invalid/robot/send?access_token=")
    with pytest.raises(dingwire.KeywordError):
        ops.client().send(dingwire.Text("disk full"))  # the client adds no keyword by itself
    assert ops.last is not None
    assert ops.last.errcode == 310000
    ops.client(keywords=["告警"]).send(dingwire.Text("disk full"))
    assert [r.text for r in ops.delivered()] == ["【告警】 disk full"]
    assert ops.token not in repr(ops)
    assert ops.secret not in repr(ops)


def test_wait_for_waits_on_the_log(dingtalk_fake: FakeServer) -> None:
    ops = dingtalk_fake.add_robot("ops")
    with pytest.raises(TimeoutError, match="0 of 1 messages"):
        ops.wait_for(timeout=0.2)
    script = (
        "import dingwire, sys; "
        "dingwire.Robot(sys.argv[1], budget_store=dingwire.MemoryBudgetStore())"
        ".send(dingwire.Text('from a child process'))"
    )
    with subprocess.Popen([sys.executable, "-c", script, ops.webhook]) as child:
        (record,) = ops.wait_for(timeout=20)
        assert record.text == "from a child process"
    assert child.returncode == 0


def test_in_process_time_is_the_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1_700_000_000.0]
    fake = InProcessFake(clock=lambda: now[0])
    ops = fake.add_robot(secret=True, rate_limit="1/60s", lockout="10m")
    robot = ops.client(rate_limit=None)
    robot.send(dingwire.Text("one"))
    with pytest.raises(dingwire.ThrottledError):
        robot.send(dingwire.Text("two"), block=False)
    now[0] += 601  # the lockout is over, and the robot signs with the same clock
    assert robot.send(dingwire.Text("three")).errcode == 0
    session = fake.open_session(ops.token, ttl=5)
    now[0] += 6
    with pytest.raises(dingwire.TokenError):
        dingwire.Robot(session, transport=fake._sync_transport()).send(dingwire.Text("late"))


def test_importing_the_plugin_is_light() -> None:
    code = (
        "import sys, dingwire.fake.pytest_plugin, dingwire.fake; "
        "heavy = [m for m in ('starlette', 'uvicorn', 'playwright', 'requests') "
        "if m in sys.modules]; print(heavy)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert result.stdout.strip() == "[]"


def test_the_demo_runs_once() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "dingwire.demo", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DINGWIRE_DEMO_ONCE": "1"},
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "7 of 8 messages delivered, as expected: True" in out
    for msgtype in ("text", "markdown", "link", "actionCard", "feedCard"):
        assert msgtype in out
    assert "refused: errcode 310000" in out
    assert re.search(r"open http://127\.0\.0\.1:\d+/", out)
