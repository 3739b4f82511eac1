"""``python -m dingwire serve`` as a real process on 127.0.0.1, beside the fake DingTalk.

It starts and logs its intake URLs; an Alertmanager notification posted to it arrives at the
fake; a chunked body over ``max_body`` is cut off with a 413 long before its end; SIGHUP with a
broken template keeps the old template serving and logs the template's file and line;
SIGTERM drains and exits 0 within 10 s.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dingwire.fake import FakeServer

from .test_app import ALERT

pytestmark = pytest.mark.slow

START_TIMEOUT = 30.0


class Relay:
    """One ``python -m dingwire serve`` process, its log in a file."""

    def __init__(self, config: Path) -> None:
        self.log = config.with_suffix(".log")
        self._out = self.log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dingwire", "serve", "--config", str(config)],
            cwd=config.parent,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        found = self.wait_log(r"listening on (http://127\.0\.0\.1:\d+)", START_TIMEOUT)
        self.url = found.group(1)
        self.port = int(self.url.rpartition(":")[2])

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_log(self, pattern: str, timeout: float = 10.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(pattern, self.text())
            if found:
                return found
            if self.process.poll() is not None:
                raise AssertionError(
                    f"the relay exited ({self.process.returncode}):\n{self.text()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"no {pattern!r} in the relay's log:\n{self.text()}")
            time.sleep(0.05)

    def post(self, path: str, payload: object) -> tuple[int, dict[str, object]]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            body = json.dumps(payload).encode()
            connection.request("POST", path, body, {"Content-Type": "application/json"})
            answer = connection.getresponse()
            return answer.status, json.loads(answer.read())
        finally:
            connection.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._out.close()


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    with FakeServer() as server:
        yield server


@pytest.fixture
def start_relay(tmp_path: Path) -> Iterator[Callable[[str], Relay]]:
    relays: list[Relay] = []

    def start(config: str) -> Relay:
        file = tmp_path / "dingwire.toml"
        file.write_text(config, encoding="utf-8")
        relay = Relay(file)
        relays.append(relay)
        return relay

    yield start
    for relay in relays:
        relay.stop()


def _config(webhook: str, extra: str = "") -> str:
    return f"""
[robots.ops]
webhook = "{webhook}"

[relay]
listen = "127.0.0.1:0"
queue = "sqlite:///./outbox.sqlite3"
max_body = "64KiB"
{extra}
"""


def test_serve_delivers_reloads_and_drains(
    fake: FakeServer, start_relay: Callable[[str], Relay], tmp_path: Path
) -> None:
    ops = fake.add_robot()
    template = tmp_path / "ops.md.j2"
    template.write_text("OLD TEMPLATE {{ alerts | length }} alert(s)\n", encoding="utf-8")
    relay = start_relay(_config(ops.webhook, 'template = "ops.md.j2"'))

    # The intake URLs to paste into Alertmanager and Grafana are in the log, with the port.
    log = relay.text()
    assert f"Alertmanager webhook_configs url: {relay.url}/dingtalk/ops/send" in log
    assert f"Grafana webhook contact point URL: {relay.url}/v1/robots/ops/grafana" in log
    assert ops.token not in log

    status, answer = relay.post("/dingtalk/ops/send", ALERT)
    assert status == 202, answer
    (first,) = ops.wait_for(1, timeout=15)
    assert "OLD TEMPLATE 1 alert(s)" in first.text

    # A broken template on SIGHUP: refused with its file and line, the old one keeps serving.
    template.write_text("NEW {% if alerts %}\nunfinished\n", encoding="utf-8")
    relay.process.send_signal(signal.SIGHUP)
    refusal = relay.wait_log(r"reload refused, the previous configuration stays: (.*)")
    assert re.search(r"ops\.md\.j2:\d+", refusal.group(1)), refusal.group(0)
    resolved = {
        **ALERT,
        "status": "resolved",
        "alerts": [{**ALERT["alerts"][0], "status": "resolved"}],
    }  # type: ignore[index, dict-item]
    status, answer = relay.post("/v1/robots/ops/alertmanager", resolved)
    assert status == 202, answer
    _, second = ops.wait_for(2, timeout=15)
    assert "OLD TEMPLATE 1 alert(s)" in second.text

    # SIGTERM: drained and gone, exit status 0, within 10 s.
    began = time.monotonic()
    relay.process.send_signal(signal.SIGTERM)
    assert relay.process.wait(10) == 0, relay.text()
    assert time.monotonic() - began < 10
    assert "draining" in relay.text()
    assert "Traceback" not in relay.text()


def test_a_chunked_body_over_max_body_is_cut_off_early(
    fake: FakeServer, start_relay: Callable[[str], Relay]
) -> None:
    ops = fake.add_robot()
    relay = start_relay(_config(ops.webhook, 'log_format = "json"'))
    sock = socket.create_connection(("127.0.0.1", relay.port), timeout=10)
    try:
        sock.sendall(
            b"POST /dingtalk/ops/send HTTP/1.1\r\nHost: relay\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b" " * 16_384
        framed = b"%x\r\n%s\r\n" % (len(chunk), chunk)
        sent = 0
        sock.settimeout(0.01)
        answer = b""
        while sent < 64 * 2**20 and b"\r\n\r\n" not in answer:  # 64 MiB if it never answered
            with contextlib.suppress(BlockingIOError, TimeoutError, ConnectionError):
                sock.sendall(framed)
                sent += len(chunk)
            with contextlib.suppress(BlockingIOError, TimeoutError):
                answer += sock.recv(65536)
        sock.settimeout(10)
        while b"}" not in answer:
            more = sock.recv(65536)
            if not more:
                break
            answer += more
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b"max_body of 64 KiB" in answer
    assert sent < 8 * 2**20  # answered after the limit, not at the end of the body
    assert ops.messages() == []

    # log_format = "json": every line, uvicorn's too, is one JSON object.
    relay.process.send_signal(signal.SIGTERM)
    assert relay.process.wait(10) == 0
    lines = [json.loads(line) for line in relay.text().splitlines()]
    assert {line["logger"] for line in lines} >= {"uvicorn.error", "dingwire.relay.serve"}
    assert any("listening on" in line["message"] for line in lines)


def _serve(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dingwire", "serve", "--config", str(config)],
        cwd=config.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_broken_template_stops_the_start_with_its_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "ops.md.j2").write_text("fine\n{{ alerts | length }\n", encoding="utf-8")
    config = tmp_path / "dingwire.toml"
    webhook = "http://127.0.0.1:9/robot/send?access_token=start-token-0000"
    config.write_text(_config(webhook, 'template = "ops.md.j2"'), encoding="utf-8")
    done = _serve(config)
    assert done.returncode == 2, done.stderr
    assert re.search(r"ops\.md\.j2:2", done.stderr), done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "outbox.sqlite3").exists()  # stopped before the outbox was opened


def test_a_port_in_use_stops_the_start_saying_so(tmp_path: Path) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        port = taken.getsockname()[1]
        config = tmp_path / "dingwire.toml"
        webhook = "http://127.0.0.1:9/robot/send?access_token=start-token-0000"
        text = _config(webhook).replace('"127.0.0.1:0"', f'"127.0.0.1:{port}"')
        config.write_text(text, encoding="utf-8")
        done = _serve(config)
    finally:
        taken.close()
    assert done.returncode == 2, done.stderr
    assert (
        f"[relay] listen: cannot listen on 127.0.0.1:{port}: Address already in use" in done.stderr
    )
