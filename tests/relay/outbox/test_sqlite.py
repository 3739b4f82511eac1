"""What the SQLite outbox keeps beyond the contract: durability settings, group commit,
several connections on one file, and OutboxUnavailable for every SQLite failure."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dingwire.relay.model import STATES
from dingwire.relay.outbox import OutboxUnavailable, SqliteOutbox, open_outbox
from dingwire.relay.outbox import sqlite as sqlite_module

from .conftest import message

WAIT = 10.0


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "outbox.sqlite3"


@pytest.fixture
def outbox(path: Path) -> Iterator[SqliteOutbox]:
    with SqliteOutbox(path) as outbox:
        yield outbox


def wait_until(condition: Callable[[], bool], what: str) -> None:
    done = threading.Event()
    for _ in range(int(WAIT / 0.005)):
        if condition():
            return
        done.wait(0.005)
    raise AssertionError(f"timed out waiting for {what}")


class Gate:
    """Holds the writer thread inside a call until opened, so that calls pile up behind it."""

    def __init__(self, outbox: SqliteOutbox) -> None:
        self.inside = threading.Event()
        self.open = threading.Event()
        self.thread = threading.Thread(target=outbox._write, args=(self._hold,))
        self.thread.start()
        assert self.inside.wait(WAIT)

    def _hold(self, conn: sqlite3.Connection) -> None:
        self.inside.set()
        assert self.open.wait(WAIT)

    def release(self) -> None:
        self.open.set()
        self.thread.join(WAIT)


def test_the_file_is_in_wal_mode_with_full_sync(outbox: SqliteOutbox, path: Path) -> None:
    raw = sqlite3.connect(path)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        raw.close()
    # synchronous is a setting of each connection: the writer's is FULL (2)
    assert outbox._writer_conn.execute("PRAGMA synchronous").fetchone()[0] == 2


def test_concurrent_enqueues_share_one_commit(outbox: SqliteOutbox) -> None:
    gate = Gate(outbox)
    before = outbox.commits
    answers: list[str] = []
    threads = [
        threading.Thread(
            target=lambda i=i: answers.extend(
                e.id for e in outbox.enqueue([message(text=str(i))], now=1.0, dedupe_window=60.0)
            )
        )
        for i in range(8)
    ]
    for t in threads:
        t.start()
    wait_until(lambda: outbox._jobs.qsize() == 8, "eight calls waiting")
    assert answers == []  # nobody answered before the commit
    gate.release()
    for t in threads:
        t.join(WAIT)
    assert len(set(answers)) == 8
    assert outbox.commits == before + 2  # the gate's batch, then all eight in one


def test_without_group_commit_every_call_commits_alone(path: Path) -> None:
    with SqliteOutbox(path, group_commit=False) as outbox:
        gate = Gate(outbox)
        before = outbox.commits
        threads = [
            threading.Thread(
                target=outbox.enqueue, args=([message()],), kwargs={"now": 1, "dedupe_window": 1}
            )
            for _ in range(4)
        ]
        for t in threads:
            t.start()
        wait_until(lambda: outbox._jobs.qsize() == 4, "four calls waiting")
        gate.release()
        for t in threads:
            t.join(WAIT)
        assert outbox.commits == before + 5
        assert outbox.counts()["ops"]["queued"] == 4


def _enqueue_at_once(outbox: SqliteOutbox, messages: list[Any], *, now: float = 1.0) -> list[Any]:
    """Each message enqueued by a thread of its own, all held at the gate and committed in
    one batch; the answers in the order of ``messages``."""
    gate = Gate(outbox)
    answers: list[Any] = [None] * len(messages)

    def one(i: int) -> None:
        try:
            [answers[i]] = outbox.enqueue([messages[i]], now=now, dedupe_window=60.0)
        except Exception as error:
            answers[i] = error

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(messages))]
    for i, thread in enumerate(threads):
        thread.start()
        wait_until(lambda i=i: outbox._jobs.qsize() == i + 1, "the calls waiting in order")
    gate.release()
    for thread in threads:
        thread.join(WAIT)
    return answers


def test_a_run_of_enqueues_is_stored_together_with_the_same_answers(
    outbox: SqliteOutbox,
) -> None:
    [earlier] = outbox.enqueue([message(text="earlier", key="k-old")], now=1.0, dedupe_window=60.0)
    statements: list[str] = []
    outbox._writer_conn.set_trace_callback(statements.append)
    try:
        sent = [
            message(text="a", key="k-a"),
            message(text="b"),
            message(text="a again", key="k-a"),  # a replica's copy, in the same commit
            message(text="old again", key="k-old"),  # stored by an earlier commit
            message(text="c", key="k-c"),
        ]
        answers = _enqueue_at_once(outbox, sent)
    finally:
        outbox._writer_conn.set_trace_callback(None)
    a, b, a_again, old_again, c = answers
    assert not any(answer.duplicate for answer in (a, b, c))
    assert (a_again.id, a_again.duplicate) == (a.id, True)
    assert (old_again.id, old_again.duplicate) == (earlier.id, True)
    assert len({a.id, b.id, c.id, earlier.id}) == 4
    for answer, text in ((a, "a"), (b, "b"), (c, "c")):
        record = outbox.get(answer.id)
        assert record is not None
        assert record.message.body["markdown"]["title"] == text
    assert outbox.counts()["ops"]["queued"] == 4
    # Five calls in a handful of statements, not five savepoints of their own (the one
    # savepoint of a call is the gate's).
    assert sum(s.startswith("SAVEPOINT call") for s in statements) == 1
    assert sum(s.startswith("SAVEPOINT run") for s in statements) == 1


def test_a_run_with_an_id_already_taken_is_stored_call_by_call(
    outbox: SqliteOutbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    [first] = outbox.enqueue([message(text="first")], now=1.0, dedupe_window=60.0)
    # The run draws first.id for x: it fails whole, and each call draws again on its own.
    fresh = [f"fresh000000000000000{i}" for i in range(3)]
    ids = iter([first.id, fresh[0], first.id, fresh[1], fresh[2]])
    monkeypatch.setattr(sqlite_module, "new_id", lambda now: next(ids))
    answers = _enqueue_at_once(outbox, [message(text="x"), message(text="y")])
    assert [a.id for a in answers] == fresh[1:]
    for answer, text in zip(answers, ("x", "y"), strict=True):
        record = outbox.get(answer.id)
        assert record is not None
        assert record.message.body["markdown"]["title"] == text
    assert outbox.counts()["ops"]["queued"] == 3


def test_enqueue_soon_answers_on_the_loop(outbox: SqliteOutbox) -> None:
    async def main() -> list[Any]:
        futures = [
            outbox.enqueue_soon([message(text=str(i))], now=1.0, dedupe_window=60.0)
            for i in range(20)
        ]
        assert all(isinstance(f, asyncio.Future) for f in futures)
        return [answer for f in futures for answer in await f]

    answers = asyncio.run(main())
    assert len({a.id for a in answers}) == 20
    assert outbox.counts()["ops"]["queued"] == 20


def test_enqueue_soon_fails_on_the_loop_when_it_cannot_store(path: Path) -> None:
    outbox = SqliteOutbox(path)
    outbox._writer_conn.execute("PRAGMA query_only = ON")  # every write refused

    async def main() -> None:
        future = outbox.enqueue_soon([message()], now=1.0, dedupe_window=60.0)
        with pytest.raises(OutboxUnavailable):
            await future

    try:
        asyncio.run(main())
    finally:
        outbox._writer_conn.execute("PRAGMA query_only = OFF")
        outbox.close()


def test_a_failing_call_fails_alone_in_its_batch(outbox: SqliteOutbox) -> None:
    gate = Gate(outbox)
    results: dict[str, Any] = {}

    def bad(conn: sqlite3.Connection) -> None:
        outbox_rows = conn.execute("SELECT count(*) FROM records").fetchone()[0]
        assert outbox_rows == 0
        conn.execute(
            "INSERT INTO records (id, robot, priority, message, state, not_before, updated)"
            " VALUES ('half', 'ops', 0, '{}', 'queued', 0, 0)"
        )
        raise ValueError("a bug halfway through a call")

    def call(name: str, work: Callable[[], Any]) -> None:
        try:
            results[name] = work()
        except Exception as error:
            results[name] = error

    first = threading.Thread(target=call, args=("bad", lambda: outbox._write(bad)))
    first.start()
    wait_until(lambda: outbox._jobs.qsize() == 1, "the bad call waiting")
    second = threading.Thread(
        target=call,
        args=("good", lambda: outbox.enqueue([message(text="good")], now=2.0, dedupe_window=1.0)),
    )
    second.start()
    wait_until(lambda: outbox._jobs.qsize() == 2, "both calls waiting")
    before = outbox.commits
    gate.release()
    first.join(WAIT)
    second.join(WAIT)
    assert isinstance(results["bad"], ValueError)
    [answer] = results["good"]
    assert outbox.commits == before + 2  # the gate's batch, then both calls in one
    record = outbox.get(answer.id)
    assert record is not None
    assert record.message.body["markdown"]["title"] == "good"
    assert outbox.get("half") is None
    assert outbox.counts() == {"ops": {**dict.fromkeys(STATES, 0), "queued": 1}}


def test_an_id_already_taken_is_drawn_again(
    outbox: SqliteOutbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    [first] = outbox.enqueue([message()], now=1.0, dedupe_window=60.0)
    ids = iter([first.id, first.id, "fresh0000000000000001"])
    monkeypatch.setattr(sqlite_module, "new_id", lambda now: next(ids))
    [second] = outbox.enqueue([message(text="second")], now=1.0, dedupe_window=60.0)
    assert second.id == "fresh0000000000000001"
    record = outbox.get(first.id)
    assert record is not None
    assert record.message.body["markdown"]["title"] == "disk full"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork() here")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_must_open_its_own(outbox: SqliteOutbox) -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its copy has no writer thread, and must say so
        signal.alarm(int(WAIT))  # rather than wait for ever on a writer that is not there
        code = 1
        try:
            outbox.enqueue([message()], now=1.0, dedupe_window=1.0)
        except OutboxUnavailable as error:
            code = 0 if "fork" in error.message else 2
        os.write(write, bytes([code]))
        os._exit(0)
    os.close(write)
    answer = os.read(read, 1)
    os.close(read)
    os.waitpid(pid, 0)
    assert answer == b"\x00"
    assert outbox.counts() == {}


def test_a_locked_database_is_unavailable_for_a_moment(path: Path) -> None:
    with SqliteOutbox(path, busy_timeout=0.05) as outbox:
        [id] = [e.id for e in outbox.enqueue([message()], now=1.0, dedupe_window=60.0)]
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(OutboxUnavailable) as caught:
                outbox.enqueue([message()], now=2.0, dedupe_window=60.0)
            assert caught.value.retry_after == 1.0
            assert "locked" in caught.value.message
            with pytest.raises(OutboxUnavailable):
                outbox.check()
            with pytest.raises(OutboxUnavailable):
                outbox.claim("ops", now=2.0, owner="me", lease=30.0, limit=1)
            # readers never wait for a writer
            assert outbox.get(id) is not None
            assert outbox.counts()["ops"]["queued"] == 1
        finally:
            other.execute("ROLLBACK")
            other.close()
        outbox.check()
        assert len(outbox.enqueue([message()], now=3.0, dedupe_window=60.0)) == 1


def test_a_full_disk_is_unavailable_for_longer(outbox: SqliteOutbox) -> None:
    pages = outbox._writer_conn.execute("PRAGMA page_count").fetchone()[0]
    outbox._writer_conn.execute(f"PRAGMA max_page_count = {pages}")
    big = message(text="x" * 100_000)
    with pytest.raises(OutboxUnavailable) as caught:
        outbox.enqueue([big], now=1.0, dedupe_window=60.0)
    assert caught.value.retry_after == 5.0
    assert "full" in caught.value.message
    assert outbox.counts() == {}


def test_a_directory_that_is_not_there_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(OutboxUnavailable) as caught:
        SqliteOutbox(tmp_path / "nowhere" / "outbox.sqlite3")
    assert "nowhere" in caught.value.message


def test_a_file_that_is_no_database_is_unavailable(path: Path) -> None:
    path.write_bytes(b"this is not a database, it is a file of text" * 100)
    with pytest.raises(OutboxUnavailable):
        SqliteOutbox(path)


def test_a_file_of_a_newer_dingwire_is_refused(path: Path) -> None:
    SqliteOutbox(path).close()
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA user_version = 99")
    raw.commit()
    raw.close()
    with pytest.raises(OutboxUnavailable) as caught:
        SqliteOutbox(path)
    assert "newer" in caught.value.message


def test_a_closed_outbox_is_unavailable(path: Path) -> None:
    outbox = SqliteOutbox(path)
    outbox.close()
    outbox.close()
    for call in (
        lambda: outbox.enqueue([message()], now=1.0, dedupe_window=60.0),
        lambda: outbox.get("x"),
        outbox.counts,
        outbox.check,
        lambda: outbox.backlog(now=1.0),
    ):
        with pytest.raises(OutboxUnavailable):
            call()


def test_calls_asked_for_before_close_are_committed(path: Path) -> None:
    outbox = SqliteOutbox(path)
    gate = Gate(outbox)
    answers: list[str] = []
    threads = [
        threading.Thread(
            target=lambda: answers.extend(
                e.id for e in outbox.enqueue([message()], now=1.0, dedupe_window=60.0)
            )
        )
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    wait_until(lambda: outbox._jobs.qsize() == 3, "three calls waiting")
    closing = threading.Thread(target=outbox.close)
    closing.start()
    gate.release()
    closing.join(WAIT)
    for t in threads:
        t.join(WAIT)
    assert len(answers) == 3
    with SqliteOutbox(path) as again:
        assert all(again.get(id) is not None for id in answers)


def test_the_stored_rows_hold_json(outbox: SqliteOutbox, path: Path) -> None:
    [e] = outbox.enqueue([message(key="k")], now=1.0, dedupe_window=60.0)
    raw = sqlite3.connect(path)
    try:
        text, robot, state = raw.execute(
            "SELECT message, robot, state FROM records WHERE id = ?", (e.id,)
        ).fetchone()
    finally:
        raw.close()
    assert (robot, state) == ("ops", "queued")
    assert '"dedupe_key":"k"' in text


def test_old_dedupe_keys_are_forgotten(outbox: SqliteOutbox, path: Path) -> None:
    for i in range(20):
        outbox.enqueue([message(key=f"k{i}")], now=float(i), dedupe_window=5.0)
    raw = sqlite3.connect(path)
    try:
        kept = raw.execute("SELECT count(*) FROM dedupe").fetchone()[0]
    finally:
        raw.close()
    assert kept <= 7


def test_claim_backlog_and_counts_never_scan_the_table(outbox: SqliteOutbox) -> None:
    """Every SELECT they run reads an index (no ``SCAN records``, no sorting afterwards):
    with a storm queued they cost their answer, not the whole table."""
    outbox.enqueue([message(robot=r) for r in ("ops", "dev") for _ in range(3)], now=1.0,
                   dedupe_window=1.0)  # fmt: skip
    outbox.counts()  # a reader connection exists before the tracing starts
    statements: list[str] = []
    for conn in [outbox._writer_conn, *outbox._connections]:
        conn.set_trace_callback(statements.append)
    try:
        outbox.claim("ops", now=2.0, owner="me", lease=30.0, limit=2)
        outbox.backlog(now=2.0)
        outbox.counts()
    finally:
        for conn in [outbox._writer_conn, *outbox._connections]:
            conn.set_trace_callback(None)
    selects = [sql for sql in statements if sql.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 3 + 2 + 2 + 1  # claim (3 walks, 2 rows), backlog, counts
    raw = sqlite3.connect(outbox.path)
    try:
        for sql in selects:
            plan = " | ".join(row[-1] for row in raw.execute("EXPLAIN QUERY PLAN " + sql))
            assert "SCAN records" not in plan, (sql, plan)
            assert "TEMP B-TREE" not in plan, (sql, plan)
    finally:
        raw.close()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///outbox.sqlite3", "outbox.sqlite3"),
        ("sqlite:///./sub/../outbox.sqlite3", "outbox.sqlite3"),
    ],
)
def test_open_outbox_takes_a_path_relative_to_the_working_directory(
    url: str, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    outbox = open_outbox(url)
    try:
        assert isinstance(outbox, SqliteOutbox)
        assert os.path.samefile(outbox.path, tmp_path / expected)
    finally:
        outbox.close()


def test_open_outbox_takes_an_absolute_path(tmp_path: Path) -> None:
    outbox = open_outbox(f"sqlite:///{tmp_path}/abs.sqlite3")  # sqlite:////tmp/...
    try:
        assert isinstance(outbox, SqliteOutbox)
        assert outbox.path == tmp_path / "abs.sqlite3"
    finally:
        outbox.close()
