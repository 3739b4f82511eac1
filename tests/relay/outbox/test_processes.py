"""The SQLite and Redis outboxes across real processes: a kill -9 loses nothing that was
answered, and two processes claiming at once never hold one record together."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from dingwire.relay.model import DigestLine, Outgoing
from dingwire.relay.outbox import Outbox, SqliteOutbox, open_outbox

ROOT = Path(__file__).resolve().parents[3]
WAIT = 60.0


def worker(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.relay.outbox.worker", *args],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


class Lines:
    """A process's stdout, read line by line in a thread; waits with a timeout."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self.changed = threading.Condition()
        self.ended = False
        self.thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self.thread.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            with self.changed:
                if line.endswith("\n"):  # a line cut by the kill is no answer
                    self.lines.append(line.rstrip("\n"))
                self.changed.notify_all()
        with self.changed:
            self.ended = True
            self.changed.notify_all()

    def wait(self, count: int = 0, *, line: str | None = None) -> list[str]:
        with self.changed:
            found = self.changed.wait_for(
                lambda: (
                    self.ended
                    or (len(self.lines) >= count and (line is None or line in self.lines))
                ),
                timeout=WAIT,
            )
            assert found, f"timed out; got {len(self.lines)} lines"
            return list(self.lines)


def claim_all(path: str, owner: str, *, now: float) -> list[str]:
    """What a process claiming (and acking) everything due at ``now`` got."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.relay.outbox.worker",
            "claim",
            path,
            owner,
            str(now),
            "30",
        ],
        cwd=ROOT,
        input="go\n",
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=True,
    )
    lines = done.stdout.splitlines()
    assert lines[0] == "ready"
    assert lines[-1] == "done"
    return [line.split()[1] for line in lines if line.startswith("claimed ")]


@pytest.fixture(params=["sqlite", "redis"])
def path(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where the processes meet: a SQLite file, or a Redis database (emptied first)."""
    if request.param == "redis":
        url: str = request.getfixturevalue("redis_url")
        return url
    return str(tmp_path / "outbox.sqlite3")


def opened(path: str) -> Outbox:
    return open_outbox(path) if "://" in path else SqliteOutbox(path)


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=WAIT)


def test_kill_9_in_a_burst_loses_nothing_that_was_answered(
    path: str, processes: list[subprocess.Popen[str]]
) -> None:
    opened(path).close()  # the file exists before the burst
    process = worker("enqueue", path, "8")
    processes.append(process)
    lines = Lines(process)
    lines.wait(400)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(WAIT)
    lines.thread.join(WAIT)
    answered = lines.lines
    assert process.returncode == -signal.SIGKILL
    assert len(answered) >= 400
    with opened(path) as outbox:  # type: ignore[attr-defined]
        missing = [id for id in answered if outbox.get(id) is None]
        assert missing == []
        stored = outbox.counts()["ops"]["queued"]
        # and the file is whole: a new message goes in and everything reads back
        outbox.enqueue(
            [
                Outgoing(
                    robot="ops",
                    body={"msgtype": "text", "text": {"content": "after"}},
                    kind="text",
                    lines=(DigestLine("", "after", "after"),),
                )
            ],
            now=2.0,
            dedupe_window=0.0,
        )
        assert len(outbox.list(limit=stored + 10)) == stored + 1
    assert stored >= len(answered)  # some may have been committed but not yet printed


def test_two_processes_claiming_at_once_share_no_record(
    path: str, processes: list[subprocess.Popen[str]]
) -> None:
    with opened(path) as outbox:  # type: ignore[attr-defined]
        ids = [
            e.id
            for e in outbox.enqueue(
                [
                    Outgoing(
                        robot="ops",
                        body={"msgtype": "text", "text": {"content": str(i)}},
                        kind="text",
                        lines=(DigestLine("", str(i), str(i)),),
                    )
                    for i in range(600)
                ],
                now=1.0,
                dedupe_window=0.0,
            )
        ]
    claimers = [worker("claim", path, owner, "10", "60") for owner in ("a", "b")]
    processes.extend(claimers)
    outputs = [Lines(p) for p in claimers]
    for out in outputs:
        out.wait(line="ready")
    for p in claimers:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    claimed: list[str] = []
    shares = []
    for p, out in zip(claimers, outputs, strict=True):
        lines = out.wait(line="done")
        assert p.wait(WAIT) == 0, p.stderr.read() if p.stderr else ""
        assert lines[0] == "ready"
        assert lines[-1] == "done"
        mine = [line.split()[1] for line in lines if line.startswith("claimed ")]
        shares.append(len(mine))
        claimed += mine
    assert sorted(claimed) == sorted(ids)  # each exactly once
    assert min(shares) > 0, shares  # they did claim at the same time
    assert all(out.lines.count("done") == 1 for out in outputs)
    with opened(path) as outbox:  # type: ignore[attr-defined]
        assert outbox.counts()["ops"]["sent"] == 600


def test_a_dead_holders_records_are_taken_when_its_lease_runs_out(
    path: str, processes: list[subprocess.Popen[str]]
) -> None:
    with opened(path) as outbox:  # type: ignore[attr-defined]
        outbox.enqueue(
            [
                Outgoing(
                    robot="ops",
                    body={"msgtype": "text", "text": {"content": str(i)}},
                    kind="text",
                    lines=(DigestLine("", str(i), str(i)),),
                )
                for i in range(5)
            ],
            now=1.0,
            dedupe_window=0.0,
        )
    holder = worker("claim", path, "dying", "100", "-30")
    processes.append(holder)
    held = Lines(holder).wait(line="holding")
    assert len([line for line in held if line.startswith("claimed ")]) == 5
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(WAIT)
    assert claim_all(path, "early", now=129.9) == []  # the dead holder's lease is live
    assert len(claim_all(path, "late", now=130.0)) == 5
