"""The relay's default outbox: one SQLite file in WAL mode, shared by every process on it.

Rules kept here:

- **Durable before it answers.** ``synchronous=FULL``: a commit is on disk (a power cut
  keeps it) before :meth:`SqliteOutbox.enqueue` returns.
- **Group commit.** Every write of a process goes to one writer thread with one connection.
  It takes whatever calls are waiting, runs each in its own savepoint inside one
  ``BEGIN IMMEDIATE`` transaction and commits once: eight callers cost about one fsync, not
  eight. No call returns before the commit that holds its rows. A call that fails rolls back
  its savepoint alone; a commit that fails fails every call in it. No timer: a batch is what
  arrived while the previous one was committing (the writer yields the GIL once first, so
  that callers its last commit woke can join).
- **Several processes at once** (relays, ``dingwire outbox`` commands): the write lock of
  ``BEGIN IMMEDIATE`` orders them; the busy timeout makes a process wait its turn. Readers
  never wait (WAL); they use a small pool of connections of their own.
- **Leases.** A claim is one transaction that selects the due records and marks them
  ``sending`` for the owner until ``now + lease``; a lease that ran out is due again.
- **Nothing of SQLite escapes.** A locked database, a full disk or a damaged file is an
  :class:`~dingwire.relay.outbox.OutboxUnavailable` with a ``retry_after``.
- **Cheap to watch.** ``counts()`` (every ``/metrics`` scrape) reads a table of counts kept
  by triggers, one row per robot and state; ``backlog()`` (about once a second) reads a
  covering index of the unsent records only; ``claim()`` walks an index in claim order and
  costs its ``limit``, not the backlog (no query here scans the table or sorts).
- Times are the callers' (``now``); nothing here reads a clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

from dingwire.relay.model import STATES, Enqueued, Outgoing, Record, State
from dingwire.relay.outbox._common import (
    Backlog,
    Outcome,
    decode_message,
    encode_message,
    failure_reply,
    new_future,
    new_id,
    released_state,
    settle,
    with_attempt,
)
from dingwire.relay.outbox._contract import OutboxUnavailable

__all__ = ["BUSY_TIMEOUT", "MAX_BATCH", "SqliteOutbox"]

#: Seconds a process waits for another's write transaction before answering unavailable.
BUSY_TIMEOUT = 5.0
#: At most this many calls share one commit.
MAX_BATCH = 512

_T = TypeVar("_T")
_SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    robot TEXT NOT NULL,
    priority INTEGER NOT NULL,
    message TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before REAL NOT NULL,
    lease_until REAL,
    owner TEXT,
    failing_since REAL,
    error TEXT,
    reply TEXT,
    digest TEXT,
    digest_size INTEGER NOT NULL DEFAULT 0,
    sent_at REAL,
    updated REAL NOT NULL,
    history TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS records_by_robot
    ON records (robot, state, priority, seq, not_before, lease_until);
CREATE INDEX IF NOT EXISTS records_by_state ON records (state, robot, lease_until, not_before);
CREATE TABLE IF NOT EXISTS dedupe (
    key TEXT PRIMARY KEY,
    id TEXT NOT NULL,
    stored REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS dedupe_by_time ON dedupe (stored);
CREATE TABLE IF NOT EXISTS counts (
    robot TEXT NOT NULL,
    state TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (robot, state)
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS counts_insert AFTER INSERT ON records BEGIN
    INSERT INTO counts (robot, state, n) VALUES (new.robot, new.state, 1)
    ON CONFLICT (robot, state) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS counts_delete AFTER DELETE ON records BEGIN
    UPDATE counts SET n = n - 1 WHERE robot = old.robot AND state = old.state;
END;
CREATE TRIGGER IF NOT EXISTS counts_update AFTER UPDATE OF state ON records
WHEN old.state != new.state BEGIN
    UPDATE counts SET n = n - 1 WHERE robot = old.robot AND state = old.state;
    INSERT INTO counts (robot, state, n) VALUES (new.robot, new.state, 1)
    ON CONFLICT (robot, state) DO UPDATE SET n = n + 1;
END;
"""

_COLUMNS = (
    "id, message, state, attempts, not_before, lease_until, owner, failing_since, error,"
    " reply, digest, digest_size, sent_at, updated, history"
)
_UNSENT = "('queued', 'retrying', 'sending')"


def _record(row: tuple[Any, ...]) -> Record:
    """The :class:`Record` of a row selected with :data:`_COLUMNS`."""
    (id, message, state, attempts, not_before, lease_until, owner, failing_since, error,
     reply, digest, digest_size, sent_at, updated, history) = row  # fmt: skip
    return Record(
        id=id,
        message=decode_message(message),
        state=state,
        attempts=attempts,
        not_before=not_before,
        lease_until=lease_until,
        owner=owner,
        failing_since=failing_since,
        error=error,
        reply=None if reply is None else json.loads(reply),
        digest=digest,
        digest_size=digest_size,
        sent_at=sent_at,
        updated=updated,
        history=tuple(json.loads(history)),
    )


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _unavailable(error: sqlite3.Error, path: Path) -> OutboxUnavailable:
    """What a SQLite failure means for the relay: come back soon (locked) or later (disk)."""
    text = str(error) or type(error).__name__
    busy = "locked" in text or "busy" in text
    return OutboxUnavailable(
        f"the outbox {path} cannot be used right now: {text}", retry_after=1.0 if busy else 5.0
    )


@dataclass(frozen=True, slots=True)
class _Status:
    """What a change to a record looks at (without decoding its message)."""

    state: State
    owner: str | None
    attempts: int
    failing_since: float | None
    history: tuple[dict[str, Any], ...]


class _Enqueue:
    """What one enqueue call stores, kept apart so that the writer can store a run of
    calls in a few statements (:meth:`SqliteOutbox._enqueue_run`)."""

    __slots__ = ("encoded", "now", "window")

    def __init__(self, encoded: list[tuple[Outgoing, str]], now: float, window: float) -> None:
        self.encoded = encoded
        self.now = now
        self.window = window


class _Job(Generic[_T]):
    """One write call waiting for the writer thread, and the future its caller waits on:
    a :class:`concurrent.futures.Future`, or — for a caller on an event loop — that loop's
    own future, set from the loop (one wake-up of the loop for a whole commit)."""

    __slots__ = ("enqueue", "future", "loop", "work")

    def __init__(
        self,
        work: Callable[[sqlite3.Connection], _T],
        enqueue: _Enqueue | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.work = work
        self.enqueue = enqueue
        self.loop = loop
        self.future: Future[_T] | asyncio.Future[_T] = new_future(loop)


_STOP = object()


class SqliteOutbox:
    """An :class:`~dingwire.relay.outbox.Outbox` in the SQLite file at ``path``.

    ``group_commit=False`` commits every call on its own (for comparison in
    ``bench/bench_outbox.py``); ``busy_timeout`` is how long a write waits for another
    process's transaction before :class:`~dingwire.relay.outbox.OutboxUnavailable`.

    >>> outbox = SqliteOutbox(tmp / "outbox.sqlite3")  # doctest: +SKIP
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        group_commit: bool = True,
        busy_timeout: float = BUSY_TIMEOUT,
    ) -> None:
        self.path = Path(path).absolute()
        self._group = group_commit
        self._busy = busy_timeout
        self._lock = threading.Lock()
        self._closed = False
        self._pid = os.getpid()
        #: Transactions the writer committed (group commit makes it fewer than the calls).
        self.commits = 0
        self._jobs: queue.SimpleQueue[_Job[Any] | object] = queue.SimpleQueue()
        self._readers: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()
        self._connections: list[sqlite3.Connection] = []
        self._writer_conn = self._connect()
        try:
            self._create(self._writer_conn)
        except BaseException:
            self._writer_conn.close()
            raise
        self._writer = threading.Thread(
            target=self._write_loop, name=f"dingwire-outbox-writer {self.path.name}", daemon=True
        )
        self._writer.start()

    # -- connections ----------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path, timeout=self._busy, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as error:
            raise _unavailable(error, self.path) from None
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy * 1000)}")
            conn.execute("PRAGMA synchronous = FULL")
        except sqlite3.Error as error:
            conn.close()
            raise _unavailable(error, self.path) from None
        with self._lock:
            self._connections.append(conn)
        return conn

    def _create(self, conn: sqlite3.Connection) -> None:
        """WAL mode and the tables, once per file (any number of processes may race here)."""
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise OutboxUnavailable(
                    f"the outbox {self.path} cannot use WAL mode (journal mode {mode})"
                )
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version == _SCHEMA_VERSION:
                return
            if version > _SCHEMA_VERSION:
                raise OutboxUnavailable(
                    f"the outbox {self.path} was written by a newer dingwire "
                    f"(schema {version}); upgrade dingwire",
                    retry_after=60.0,
                )
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _statements(_SCHEMA):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as error:
            raise _unavailable(error, self.path) from None

    @contextlib.contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        """A connection for reads (WAL readers never wait for the writer)."""
        self._check_open()
        try:
            conn = self._readers.get_nowait()
        except queue.Empty:
            conn = self._connect()
        try:
            yield conn
        except sqlite3.Error as error:
            raise _unavailable(error, self.path) from None
        finally:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            self._readers.put(conn)

    def _check_open(self) -> None:
        if self._closed:
            raise OutboxUnavailable(f"the outbox {self.path} is closed", retry_after=1.0)

    # -- the writer -----------------------------------------------------------------------

    def _write(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``work`` in the writer's next transaction; return once it is committed."""
        return self._submit(work).result()

    def _submit(self, work: Callable[[sqlite3.Connection], _T]) -> Future[_T]:
        """Hand ``work`` to the writer's next transaction: the future of its result, set
        once it is committed."""
        return cast("Future[_T]", self._hand_in(_Job(work)).future)

    def _hand_in(self, job: _Job[_T]) -> _Job[_T]:
        with self._lock:
            self._check_open()
            if os.getpid() != self._pid:  # a forked child has no writer thread
                raise OutboxUnavailable(
                    f"the outbox {self.path} was opened by process {self._pid}; a process "
                    "started by fork() must open its own",
                    retry_after=5.0,
                )
            self._jobs.put(job)
        return job

    def _write_loop(self) -> None:
        stopping = False
        while not stopping:
            first = self._jobs.get()
            if first is _STOP:
                return
            if self._group:
                # Give up the GIL once: callers just woken by the last commit get to hand
                # in their next call, and this batch takes them too (about half the
                # commits with eight callers, measured).
                time.sleep(0)
            batch = [cast(_Job[Any], first)]
            while self._group and len(batch) < MAX_BATCH:
                try:
                    more = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stopping = True  # close() comes after every call it let in
                    break
                batch.append(cast(_Job[Any], more))
            try:
                self._commit(batch)
            except BaseException as error:  # a bug here must not leave callers waiting
                settle([(job, None, error) for job in batch])

    def _commit(self, batch: list[_Job[Any]]) -> None:
        """One transaction for ``batch``: a savepoint per call (or per run of enqueue calls,
        stored together), one commit for them all; then every future is set."""
        conn = self._writer_conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            settle([(job, None, _unavailable(error, self.path)) for job in batch])
            return
        done: list[Outcome] = []
        failed: list[Outcome] = []
        i = 0
        while i < len(batch):
            run = [batch[i]]
            while (
                run[-1].enqueue is not None
                and i + len(run) < len(batch)
                and batch[i + len(run)].enqueue is not None
            ):
                run.append(batch[i + len(run)])
            i += len(run)
            if len(run) > 1:
                try:
                    conn.execute("SAVEPOINT run")
                    answers = self._enqueue_run(conn, run)
                    conn.execute("RELEASE run")
                except BaseException:  # one of them fails: each on its own, below
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK TO run")
                        conn.execute("RELEASE run")
                else:
                    done.extend(
                        (job, answer, None) for job, answer in zip(run, answers, strict=True)
                    )
                    continue
            for job in run:
                try:
                    conn.execute("SAVEPOINT call")
                    result = job.work(conn)
                    conn.execute("RELEASE call")
                except BaseException as error:  # the call fails, the batch goes on
                    try:
                        conn.execute("ROLLBACK TO call")
                        conn.execute("RELEASE call")
                    except sqlite3.Error:
                        pass
                    if isinstance(error, sqlite3.Error):
                        error = _unavailable(error, self.path)
                    failed.append((job, None, error))
                else:
                    done.append((job, result, None))
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as error:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            unavailable = _unavailable(error, self.path)
            done = [(job, None, unavailable) for job, _, _ in done]
        else:
            self.commits += 1
        settle(done + failed)

    def _enqueue_run(self, conn: sqlite3.Connection, run: list[_Job[Any]]) -> list[list[Enqueued]]:
        """Store a run of enqueue calls in a few statements — what :meth:`submit_enqueue`'s
        own work does call by call, with the same answers (a key stored earlier in the run
        is a duplicate too). An id already taken raises: the caller then stores each call
        on its own (which draws again)."""
        calls = [cast(_Enqueue, job.enqueue) for job in run]
        conn.execute("DELETE FROM dedupe WHERE stored < ?", (min(c.now - c.window for c in calls),))
        keys = list(
            {m.dedupe_key: None for c in calls for m, _ in c.encoded if m.dedupe_key is not None}
        )
        seen: dict[str, tuple[str, float]] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for key, id, stored in conn.execute(
                f"SELECT key, id, stored FROM dedupe WHERE key IN ({marks})", chunk
            ):
                seen[key] = (id, stored)
        rows: list[tuple[str, str, int, str, float, float]] = []
        keyed: list[tuple[str, str, float]] = []
        answers: list[list[Enqueued]] = []
        for call in calls:
            now = call.now
            out: list[Enqueued] = []
            for message, text in call.encoded:
                key = message.dedupe_key
                if key is not None:
                    first = seen.get(key)
                    if first is not None and now - first[1] <= call.window:
                        out.append(Enqueued(first[0], duplicate=True))
                        continue
                id = new_id(now)
                rows.append((id, message.robot, message.priority, text, now, now))
                if key is not None:
                    seen[key] = (id, now)
                    keyed.append((key, id, now))
                out.append(Enqueued(id))
            answers.append(out)
        conn.executemany(
            "INSERT INTO records (id, robot, priority, message, state, not_before, updated)"
            " VALUES (?, ?, ?, ?, 'queued', ?, ?)",
            rows,
        )
        conn.executemany("INSERT OR REPLACE INTO dedupe (key, id, stored) VALUES (?, ?, ?)", keyed)
        return answers

    # -- the contract ---------------------------------------------------------------------

    def enqueue(
        self, messages: Sequence[Outgoing], *, now: float, dedupe_window: float
    ) -> list[Enqueued]:
        return self.submit_enqueue(messages, now=now, dedupe_window=dedupe_window).result()

    def submit_enqueue(
        self, messages: Sequence[Outgoing], *, now: float, dedupe_window: float
    ) -> Future[list[Enqueued]]:
        """:meth:`enqueue` without waiting: the future of its answers, set after the commit
        (or to the :class:`OutboxUnavailable` that stopped it). It never blocks, so the
        relay's event loop hands a request over without a thread of its own; the writer
        groups it with every other caller's."""
        return cast(
            "Future[list[Enqueued]]",
            self._enqueue_job(messages, now=now, dedupe_window=dedupe_window, loop=None),
        )

    def enqueue_soon(
        self, messages: Sequence[Outgoing], *, now: float, dedupe_window: float
    ) -> asyncio.Future[list[Enqueued]]:
        """:meth:`submit_enqueue` for a caller on an event loop: a future of the running
        loop, set on the loop after the commit — one wake-up of the loop for every caller
        of a commit, not one each. Call it from the loop."""
        loop = asyncio.get_running_loop()
        return cast(
            "asyncio.Future[list[Enqueued]]",
            self._enqueue_job(messages, now=now, dedupe_window=dedupe_window, loop=loop),
        )

    def _enqueue_job(
        self,
        messages: Sequence[Outgoing],
        *,
        now: float,
        dedupe_window: float,
        loop: asyncio.AbstractEventLoop | None,
    ) -> Future[list[Enqueued]] | asyncio.Future[list[Enqueued]]:
        if not messages:
            self._check_open()
            job: _Job[list[Enqueued]] = _Job(lambda conn: [], loop=loop)
            job.future.set_result([])
            return job.future
        encoded = [(m, encode_message(m)) for m in messages]  # in the caller's thread

        def work(conn: sqlite3.Connection) -> list[Enqueued]:
            conn.execute("DELETE FROM dedupe WHERE stored < ?", (now - dedupe_window,))
            answers: list[Enqueued] = []
            for message, text in encoded:
                key = message.dedupe_key
                if key is not None:
                    seen = conn.execute(
                        "SELECT id, stored FROM dedupe WHERE key = ?", (key,)
                    ).fetchone()
                    if seen is not None and now - seen[1] <= dedupe_window:
                        answers.append(Enqueued(seen[0], duplicate=True))
                        continue
                while True:  # an id already taken (40 random bits in one ms): draw again
                    id = new_id(now)
                    inserted = conn.execute(
                        "INSERT OR IGNORE INTO records (id, robot, priority, message, state,"
                        " not_before, updated) VALUES (?, ?, ?, ?, 'queued', ?, ?)",
                        (id, message.robot, message.priority, text, now, now),
                    )
                    if inserted.rowcount == 1:
                        break
                if key is not None:
                    conn.execute(
                        "INSERT OR REPLACE INTO dedupe (key, id, stored) VALUES (?, ?, ?)",
                        (key, id, now),
                    )
                answers.append(Enqueued(id))
            return answers

        return self._hand_in(_Job(work, _Enqueue(encoded, now, dedupe_window), loop)).future

    def claim(
        self, robot: str, *, now: float, owner: str, lease: float, limit: int
    ) -> list[Record]:
        if limit <= 0:
            self._check_open()
            return []
        until = now + lease

        def work(conn: sqlite3.Connection) -> list[Record]:
            # Each state walks the index in claim order, reading no row it does not take:
            # a claim costs its limit, not the backlog (50,000 queued: 0.2 ms, not 100 ms).
            candidates: list[tuple[int, int]] = []
            for state in ("queued", "retrying"):
                candidates += conn.execute(
                    "SELECT priority, seq FROM records INDEXED BY records_by_robot"
                    " WHERE robot = ? AND state = ? AND not_before <= ?"
                    " ORDER BY priority, seq LIMIT ?",
                    (robot, state, now, limit),
                ).fetchall()
            # leases that ran out: few, found by their end, not among the live ones
            candidates += conn.execute(
                "SELECT priority, seq FROM records INDEXED BY records_by_state"
                " WHERE state = 'sending' AND robot = ? AND lease_until <= ?",
                (robot, now),
            ).fetchall()
            rows = [
                conn.execute(
                    f"SELECT seq, {_COLUMNS} FROM records WHERE seq = ?", (seq,)
                ).fetchone()
                for _, seq in sorted(candidates)[:limit]
            ]
            conn.executemany(
                "UPDATE records SET state = 'sending', owner = ?, lease_until = ?, updated = ?"
                " WHERE seq = ?",
                [(owner, until, now, row[0]) for row in rows],
            )
            return [
                replace(
                    _record(row[1:]), state="sending", owner=owner, lease_until=until, updated=now
                )
                for row in rows
            ]

        return self._write(work)

    def backlog(self, *, now: float) -> Mapping[str, Backlog]:
        # One pass per state over the covering index, already in robot order.
        with self._reader() as conn:
            waiting = conn.execute(
                "SELECT robot, sum(not_before <= :now), sum(not_before > :now),"
                " min(CASE WHEN not_before > :now THEN not_before END)"
                " FROM records INDEXED BY records_by_state"
                " WHERE state IN ('queued', 'retrying') GROUP BY state, robot",
                {"now": now},
            ).fetchall()
            sending = conn.execute(
                "SELECT robot, sum(lease_until <= :now), sum(lease_until > :now)"
                " FROM records INDEXED BY records_by_state"
                " WHERE state = 'sending' GROUP BY robot",
                {"now": now},
            ).fetchall()
        result: dict[str, Backlog] = {}
        for robot, due, later, next_due in waiting:
            entry = result.setdefault(robot, Backlog())
            entry.due += due
            entry.waiting += later
            if next_due is not None and (entry.next_due is None or next_due < entry.next_due):
                entry.next_due = next_due
        for robot, expired, live in sending:
            entry = result.setdefault(robot, Backlog())
            entry.due += expired
            entry.sending += live
        return result

    def _update(
        self,
        ids: Sequence[str],
        change: Callable[[_Status], dict[str, Any] | None],
        *,
        owner: str | None = None,
    ) -> Callable[[sqlite3.Connection], int]:
        """A write that applies ``change`` to each record of ``ids`` (held by ``owner``,
        if given); ``change`` answers the columns to set, or ``None`` to leave it."""

        def work(conn: sqlite3.Connection) -> int:
            changed = 0
            for id in dict.fromkeys(ids):
                found = conn.execute(
                    "SELECT state, owner, attempts, failing_since, history FROM records"
                    " WHERE id = ?",
                    (id,),
                ).fetchone()
                if found is None:
                    continue
                state, holder, attempts, failing_since, history = found
                if owner is not None and (state != "sending" or holder != owner):
                    continue  # the lease was taken over: the late holder changes nothing
                status = _Status(state, holder, attempts, failing_since, tuple(json.loads(history)))
                columns = change(status)
                if not columns:
                    continue
                names = ", ".join(f"{name} = ?" for name in columns)
                values = [_column(name, value) for name, value in columns.items()]
                conn.execute(f"UPDATE records SET {names} WHERE id = ?", (*values, id))
                changed += 1
            return changed

        return work

    def ack(
        self,
        ids: Sequence[str],
        *,
        now: float,
        reply: Mapping[str, Any] | None,
        digest: str | None = None,
    ) -> None:
        size = len(ids) if digest is not None else 1

        def change(record: _Status) -> dict[str, Any] | None:
            if record.state == "sent":
                return None
            return {
                "state": "sent",
                "attempts": record.attempts + 1,
                "owner": None,
                "lease_until": None,
                "failing_since": None,
                "error": None,
                "reply": None if reply is None else dict(reply),
                "digest": digest,
                "digest_size": size,
                "sent_at": now,
                "updated": now,
                "history": with_attempt(record.history, now, "sent"),
            }

        if ids:
            self._write(self._update(ids, change))

    def release(self, ids: Sequence[str], *, owner: str, not_before: float) -> None:
        def change(record: _Status) -> dict[str, Any]:
            return {
                "state": released_state(record.failing_since),
                "owner": None,
                "lease_until": None,
                "not_before": not_before,
            }

        if ids:
            self._write(self._update(ids, change, owner=owner))

    def nack(
        self,
        ids: Sequence[str],
        *,
        owner: str,
        now: float,
        retry_at: float,
        error: str,
        reply: Mapping[str, Any] | None = None,
    ) -> None:
        def change(record: _Status) -> dict[str, Any]:
            return {
                "state": "retrying",
                "attempts": record.attempts + 1,
                "owner": None,
                "lease_until": None,
                "not_before": retry_at,
                "failing_since": now if record.failing_since is None else record.failing_since,
                "error": error,
                "reply": failure_reply(reply, error),
                "updated": now,
                "history": with_attempt(record.history, now, "retry", error),
            }

        if ids:
            self._write(self._update(ids, change, owner=owner))

    def kill(
        self,
        ids: Sequence[str],
        *,
        now: float,
        error: str,
        reply: Mapping[str, Any] | None = None,
        attempted: bool = True,
    ) -> None:
        def change(record: _Status) -> dict[str, Any] | None:
            if record.state in ("sent", "dead"):
                return None
            columns: dict[str, Any] = {
                "state": "dead",
                "attempts": record.attempts + (1 if attempted else 0),
                "owner": None,
                "lease_until": None,
                "error": error,
                "updated": now,
                "history": with_attempt(record.history, now, "dead", error),
            }
            if reply is not None or attempted:
                columns["reply"] = failure_reply(reply, error)
            return columns

        if ids:
            self._write(self._update(ids, change))

    def get(self, id: str) -> Record | None:
        with self._reader() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM records WHERE id = ?", (id,)).fetchone()
        return None if row is None else _record(row)

    def list(
        self, *, state: State | None = None, robot: str | None = None, limit: int = 100
    ) -> list[Record]:
        where: list[str] = []
        params: list[str] = []
        if state is not None:
            where.append("state = ?")
            params.append(state)
        if robot is not None:
            where.append("robot = ?")
            params.append(robot)
        sql = f"SELECT {_COLUMNS} FROM records"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY seq DESC LIMIT ?"
        with self._reader() as conn:
            rows = conn.execute(sql, (*params, max(0, limit))).fetchall()
        return [_record(row) for row in rows]

    def counts(self) -> Mapping[str, Mapping[State, int]]:
        with self._reader() as conn:
            rows = conn.execute("SELECT robot, state, n FROM counts WHERE n > 0").fetchall()
        result: dict[str, dict[State, int]] = {}
        for robot, state, n in rows:
            result.setdefault(robot, dict.fromkeys(STATES, 0))[state] = n
        return result

    def retry(self, id: str, *, now: float) -> bool:
        def change(record: _Status) -> dict[str, Any] | None:
            if record.state not in ("dead", "retrying"):
                return None
            return {"state": "queued", "not_before": now, "updated": now, "failing_since": None}

        return self._write(self._update([id], change)) == 1

    def retry_dead(self, *, now: float) -> int:
        def work(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                "UPDATE records SET state = 'queued', not_before = ?, updated = ?,"
                " failing_since = NULL WHERE state = 'dead'",
                (now, now),
            )
            return cursor.rowcount

        return self._write(work)

    def purge_dead(self) -> int:
        def work(conn: sqlite3.Connection) -> int:
            conn.execute(
                "DELETE FROM dedupe WHERE id IN (SELECT id FROM records WHERE state = 'dead')"
            )
            return conn.execute("DELETE FROM records WHERE state = 'dead'").rowcount

        return self._write(work)

    def purge_sent(self, *, before: float) -> int:
        """Delete the records sent before ``before``; how many (keeps the file small)."""

        def work(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                "DELETE FROM records WHERE state = 'sent' AND sent_at < ?", (before,)
            )
            return cursor.rowcount

        return self._write(work)

    def check(self) -> None:
        """The writer thread is alive and can take the write lock now."""
        if not self._writer.is_alive():
            raise OutboxUnavailable(f"the outbox {self.path} has no writer", retry_after=5.0)
        self._write(lambda conn: conn.execute("SELECT count(*) FROM counts").fetchone())

    def close(self) -> None:
        """Finish the writes already asked for, then close every connection."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._jobs.put(_STOP)
        self._writer.join()
        with self._lock:
            for conn in self._connections:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._connections.clear()

    def __enter__(self) -> SqliteOutbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _column(name: str, value: Any) -> Any:
    """A value as its column stores it (the JSON ones encoded)."""
    if name == "reply":
        return None if value is None else _json(value)
    if name == "history":
        return _json(list(value))
    return value


def _statements(script: str) -> Iterator[str]:
    """The statements of ``script`` (``executescript`` would commit on its own)."""
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            yield statement.strip()
            statement = ""
