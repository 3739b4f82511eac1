"""A real Redis for the tests, on 127.0.0.1: the machine's own, or one started here.

``redis_url`` (a session fixture in ``tests/conftest.py``) uses the Redis on 127.0.0.1:6379
when one answers, and otherwise starts :class:`RedisServer` on a free port and stops it after
the session. Each xdist worker gets a database of its own (10 + its number), emptied before
every test that asks for ``redis_url``: tests never see each other's keys, and databases 0-9
of a developer's Redis are never touched.

Tests that kill or restart Redis start their own :class:`RedisServer` (never the machine's),
with the persistence the docs recommend for the outbox (``appendonly yes``,
``appendfsync always``).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

__all__ = ["MACHINE_REDIS", "RedisServer", "answers", "free_port", "send_commands", "worker_db"]

MACHINE_REDIS = ("127.0.0.1", 6379)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers(host: str, port: int, timeout: float = 0.5, password: str | None = None) -> bool:
    """Whether a Redis answers ``PING`` on ``host:port`` (no client library needed)."""
    try:
        if password is None:
            return send_commands(host, port, ["PING"], timeout) == b"+PONG\r\n"
        return (
            send_commands(host, port, [f"AUTH {password}", "PING"], timeout) == b"+OK\r\n+PONG\r\n"
        )
    except OSError:
        return False


def send_commands(host: str, port: int, commands: list[str], timeout: float = 5.0) -> bytes:
    """Send inline ``commands`` to the Redis on ``host:port``; its one-line replies, joined
    (no client library needed). Raises :class:`OSError` when it cannot connect."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall("".join(f"{command}\r\n" for command in commands).encode())
        reply = b""
        while reply.count(b"\r\n") < len(commands):
            chunk = sock.recv(64)
            if not chunk:
                break
            reply += chunk
        return reply


def worker_db() -> int:
    """This xdist worker's database: 10 for the controller and gw0, 11 for gw1, …"""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    number = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    return 10 + number % 6


class RedisServer:
    """``redis-server`` on 127.0.0.1 and a port of its own, data in ``directory``.

    :meth:`start` returns once it answers ``PING``; :meth:`kill` is a ``kill -9``;
    :meth:`start` again after it serves the same data (append-only file in ``directory``).
    """

    def __init__(
        self,
        directory: Path,
        *,
        port: int | None = None,
        fsync: str = "always",
        password: str | None = None,
    ) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(
                "redis-server is not installed: scripts/ensure-redis installs Debian's "
                "(make test runs it)"
            )
        self.binary = binary
        self.directory = directory
        self.port = port or free_port()
        self.fsync = fsync
        self.password = password
        self.process: subprocess.Popen[bytes] | None = None
        directory.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        args = [
            self.binary,
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.directory),
            "--save", "",
            "--appendonly", "yes",
            "--appendfsync", self.fsync,
            "--protected-mode", "yes",
            "--daemonize", "no",
            "--logfile", str(self.directory / "redis.log"),
        ]  # fmt: skip
        if self.password:
            args += ["--requirepass", self.password]
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not answers("127.0.0.1", self.port, password=self.password):
            if self.process.poll() is not None:
                log = (self.directory / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"redis-server exited with {self.process.returncode}: {log}")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(
                    f"redis-server did not answer on port {self.port} in {timeout} s"
                )
            time.sleep(0.02)
        return self

    def kill(self) -> None:
        """``kill -9``: no shutdown save, no goodbye to the clients."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
