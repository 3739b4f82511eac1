"""The shared budget: stores, threads, and two real processes sending through one robot."""

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from dingwire import FileRateStore, MemoryRateStore, Rate
from dingwire.transport.base import robot_key
from tests.transport.endpoint import Endpoint

RATE = Rate(3, 60.0)


@pytest.fixture(params=["memory", "file"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> MemoryRateStore | FileRateStore:
    return MemoryRateStore() if request.param == "memory" else FileRateStore(tmp_path)


def test_store_contract(store: MemoryRateStore | FileRateStore) -> None:
    assert [store.acquire("k", RATE, 100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert store.acquire("k", RATE, 110.0) == pytest.approx(50.0)
    assert store.acquire("other", RATE, 110.0) == 0.0  # budgets are per robot
    assert store.acquire("k", RATE, 160.5) == 0.0
    store.lock_out("k", 1000.0)
    assert store.acquire("k", RATE, 400.0) == pytest.approx(600.0)
    assert store.acquire("k", None, 400.0) == pytest.approx(600.0)  # even without a rate
    assert store.acquire("k", None, 1000.0) == 0.0


def test_threads_never_overspend(store: MemoryRateStore | FileRateStore) -> None:
    granted: list[int] = []

    def worker() -> None:
        for _ in range(10):
            if store.acquire("k", Rate(25, 60.0), 100.0) == 0.0:
                granted.append(1)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(granted) == 25


def test_file_store_survives_damage_and_keeps_no_token(tmp_path: Path) -> None:
    store = FileRateStore(tmp_path)
    key = robot_key("https://h/robot/send?access_token=s3cr3ttoken&timestamp=1&sign=x")
    assert key == robot_key("https://h/robot/send?access_token=s3cr3ttoken")
    store.acquire(key, RATE, 1.0)
    (path,) = (tmp_path / "ratelimit").iterdir()
    assert "s3cr3ttoken" not in path.name
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    path.write_text("{not json")
    assert store.acquire(key, RATE, 2.0) == 0.0
    assert json.loads(path.read_text())["sent"] == [2.0]


SENDER = """
import sys, time
from dingwire import Robot, Text
robot = Robot(sys.argv[1], rate_limit="5/2s")
ready, go = sys.argv[2], sys.argv[3]
open(ready, "w").close()
while not __import__("os").path.exists(go):
    time.sleep(0.005)
for i in range(6):
    robot.send(Text(f"{sys.argv[4]}-{i}"))
"""


@pytest.mark.slow
def test_two_processes_share_one_budget(endpoint: Endpoint, tmp_path: Path) -> None:
    arrivals: list[float] = []
    import time

    original = endpoint.server.RequestHandlerClass.do_POST  # type: ignore[attr-defined]

    def timed(handler: object) -> None:
        arrivals.append(time.monotonic())
        original(handler)

    endpoint.server.RequestHandlerClass.do_POST = timed  # type: ignore[attr-defined]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    go = tmp_path / "go"
    procs = []
    for name in ("a", "b"):
        ready = tmp_path / f"ready-{name}"
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", SENDER, endpoint.webhook(), str(ready), str(go), name],
                env=env,
            )
        )
    deadline = time.monotonic() + 30
    while not all((tmp_path / f"ready-{n}").exists() for n in "ab"):
        assert time.monotonic() < deadline, "senders did not start"
        time.sleep(0.01)
    go.touch()
    for p in procs:
        assert p.wait(timeout=60) == 0
    assert len(endpoint.seen) == 12
    # 12 messages at 5 per 2 s: at least two full windows of waiting.
    assert arrivals[-1] - arrivals[0] >= 4.0 - 0.2
    # Never more than 5 in any 2 s window (less a little for the time on the wire).
    for t in arrivals:
        assert sum(1 for u in arrivals if t <= u < t + 2.0 - 0.1) <= 5
