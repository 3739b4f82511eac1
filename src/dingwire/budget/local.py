"""The budget every process on this machine shares: one SQLite file in WAL mode.

Rules kept here:

- Each operation is one ``BEGIN IMMEDIATE`` transaction: the write lock orders every thread
  and process; SQLite's busy timeout makes the others wait their turn. Works wherever Python's
  ``sqlite3`` does (Linux, macOS, Windows): no ``fcntl``, no JSON files.
- The file is named ``budget.sqlite3`` under the cache directory and holds robot keys (hashes
  of the webhook), never a token.
- A store that lost its state never splits the budget or forgets a lockout. Before every
  operation the file is checked to be the one this process opened; a deleted, replaced or
  damaged file is set aside and recreated with a *barrier*: every robot's window counts as
  full from that moment on (nobody can know what was sent just before), and the lockouts
  this process knew are written back. It says so once, as a warning.
- A cache directory that cannot be written falls back to a per-process
  :class:`~dingwire.budget.MemoryBudgetStore`, with one warning that names
  ``DINGWIRE_CACHE_DIR``; dingwire never fails a send for its own bookkeeping.
- After ``fork()`` a child opens its own connection (SQLite connections must not cross it).
- Lockouts are written with ``synchronous=FULL`` (they must survive a power cut); the
  frequent slot writes with ``NORMAL``, enough for WAL to stay consistent.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from dingwire.budget._contract import WouldBlock
from dingwire.budget.memory import MemoryBudgetStore
from dingwire.core.budget import Budget, Slot, Verdict, judge

if TYPE_CHECKING:
    import sqlite3

__all__ = ["FILENAME", "LocalBudgetStore", "default_cache_dir", "default_store"]

logger = logging.getLogger(__name__)

FILENAME = "budget.sqlite3"
#: How long a process waits for another's transaction before giving up on the store.
BUSY_TIMEOUT = 30.0
#: How many slots in flight a store remembers, to write back after the file was lost.
_FLYING_KEPT = 4096
#: Counts of unlimited robots are written every this many sends, or seconds.
COUNT_FLUSH = 32

_T = TypeVar("_T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS slots (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    robot TEXT NOT NULL,
    started REAL NOT NULL,
    arrived REAL,
    expires REAL NOT NULL,
    org TEXT NOT NULL,
    period REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS slots_by_robot ON slots (robot);
CREATE TABLE IF NOT EXISTS lockouts (robot TEXT PRIMARY KEY, until REAL NOT NULL);
CREATE TABLE IF NOT EXISTS usage (
    org TEXT NOT NULL, period REAL NOT NULL, used INTEGER NOT NULL, PRIMARY KEY (org, period)
);
CREATE TABLE IF NOT EXISTS spent (org TEXT PRIMARY KEY, until REAL NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value REAL NOT NULL);
"""

_STATE = """
SELECT (SELECT until FROM lockouts WHERE robot = ?),
       (SELECT used FROM usage WHERE org = ? AND period = ?),
       (SELECT until FROM spent WHERE org = ?),
       (SELECT value FROM meta WHERE key = 'barrier')
"""


def default_cache_dir() -> Path:
    """``$DINGWIRE_CACHE_DIR``, else ``$XDG_CACHE_HOME/dingwire``, else ``~/.cache/dingwire``."""
    if os.environ.get("DINGWIRE_CACHE_DIR"):
        return Path(os.environ["DINGWIRE_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dingwire"


class _Lost(Exception):
    """The file this process opened is gone or damaged: recreate it, behind a barrier."""


class LocalBudgetStore:
    """A :class:`~dingwire.budget.BudgetStore` shared by every process on the machine.

    ``path`` is the SQLite file (default: ``budget.sqlite3`` in :func:`default_cache_dir`);
    ``clock`` stamps a barrier after the file was lost. Safe to share between threads.
    """

    blocking = True

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path) if path is not None else default_cache_dir() / FILENAME
        self._clock = clock
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._identity: tuple[int, int] | None = None
        self._pid = os.getpid()
        self._fallback: MemoryBudgetStore | None = None
        self._lockouts: dict[str, float] = {}  # what this process knows, to write back
        # This process's slots in flight (robot, started, expires, org, period), to write back.
        self._flying: dict[int, tuple[str, float, float, str, float]] = {}
        self._warned = False
        self._local = threading.local()
        # Counts of robots without window or quota, not yet written (see _reserve_unlimited).
        self._counts: dict[tuple[str, float], int] = {}
        self._uncounted: dict[int, tuple[str, float]] = {}
        self._uncounted_slots = 0
        self._flushed = 0.0
        atexit.register(_close_at_exit, weakref.ref(self))

    def __repr__(self) -> str:
        return f"LocalBudgetStore({str(self.path)!r})"

    @contextlib.contextmanager
    def nowait(self) -> Iterator[None]:
        """Calls within run only if they need not wait, else raise :class:`WouldBlock`.

        An event loop makes its calls this way first: an uncontended transaction on a
        local file takes tens of microseconds, cheaper than a hand-off to a thread; a call
        that would wait for another thread or process goes to a worker thread instead.
        """
        self._local.nowait = True
        try:
            yield
        finally:
            self._local.nowait = False

    # -- the file -----------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        import sqlite3

        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fresh = not self.path.exists()
        conn = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
        )

        def setup() -> None:  # idempotent: another process may be doing the same just now
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
            # Slot ids never repeat across incarnations of the file, so that a late
            # settle() from before a reset cannot settle someone else's new slot. (Not only
            # when this process made the file: another may have made it a moment before.)
            seeded = "SELECT 1 FROM sqlite_sequence WHERE name = 'slots'"
            if conn.execute(seeded).fetchone() is None:  # looked at first: no write lock
                conn.execute(
                    "INSERT INTO sqlite_sequence (name, seq) SELECT 'slots', ? "
                    f"WHERE NOT EXISTS ({seeded})",
                    (int(self._clock() * 1_000_000),),
                )

        try:
            # Opening a file that another process is turning to WAL can answer "locked" at
            # once, without the busy timeout: try again, as for the write lock.
            _patiently(setup)
            if fresh and os.name == "posix":
                os.chmod(self.path, 0o600)
            # From here on waiting for the write lock is _begin's (see there).
            conn.execute("PRAGMA busy_timeout = 0")
        except BaseException:
            conn.close()
            raise
        stat = os.stat(self.path)
        self._identity = (stat.st_dev, stat.st_ino)
        return conn

    def _check_identity(self) -> None:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            raise _Lost("was deleted") from None
        if (stat.st_dev, stat.st_ino) != self._identity:
            raise _Lost("was replaced")

    def _reset(self, why: str) -> None:
        """Start a new file behind a barrier; write back the lockouts this process knows."""
        import sqlite3

        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if why.startswith("is damaged"):
            aside = self.path.with_name(f"{self.path.name}.damaged-{int(self._clock())}")
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.replace(f"{self.path}{suffix}", f"{aside}{suffix}")
        conn = self._open()
        now = self._clock()
        try:
            _begin(conn, nowait=False)  # the busy timeout is zero: wait here, as every write does
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('barrier', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)",
                (now,),
            )
            for robot, until in self._lockouts.items():
                if until > now:
                    _write_lockout(conn, robot, until)
            # This process's sends still in flight: their replies settle them in the new file.
            conn.executemany(
                "INSERT OR IGNORE INTO slots (id, robot, started, expires, org, period) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(slot, *flying) for slot, flying in self._flying.items()],
            )
            conn.execute("COMMIT")
        except sqlite3.Error:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            conn.close()
            raise
        self._conn = conn
        self._say(
            f"the budget store {self.path} {why}; it was recreated, and every robot's minute "
            "window counts as full until a window has passed (nothing is known of the sends "
            "just before); lockouts this process knew were kept"
        )

    def _say(self, text: str) -> None:
        if not self._warned:
            self._warned = True
            logger.warning("%s", text)

    def _run(
        self,
        operation: Callable[[sqlite3.Connection], _T],
        fallback: Callable[[], _T],
        *,
        durable: bool = False,
        read: bool = False,
    ) -> _T:
        """``operation`` in one immediate transaction, on the file this process opened.

        ``durable``: the commit reaches the disk before this returns (``synchronous=FULL``);
        ``read``: it only reads, and takes no write lock (WAL readers never wait).
        """
        nowait = getattr(self._local, "nowait", False)
        if not self._lock.acquire(blocking=not nowait):
            raise WouldBlock
        try:
            return self._run_locked(operation, fallback, durable=durable, nowait=nowait, read=read)
        finally:
            self._lock.release()

    def _run_locked(
        self,
        operation: Callable[[sqlite3.Connection], _T],
        fallback: Callable[[], _T],
        *,
        durable: bool,
        nowait: bool,
        read: bool,
    ) -> _T:
        import sqlite3

        if self._fallback is not None:
            return fallback()
        if self._pid != os.getpid():  # a forked child: the parent's connection stays its own
            self._conn, self._pid = None, os.getpid()
        why: str | None = None  # a reset due: its own failures are handled like the rest
        for _ in range(3):
            try:
                if why is not None:
                    self._reset(why)
                    why = None
                elif self._conn is None:
                    if self._identity is not None:  # closed, or forked: is it still the file?
                        self._check_identity()
                    self._conn = self._open()
                else:
                    self._check_identity()
                assert self._conn is not None
                if read:
                    return operation(self._conn)
                return _transaction(self._conn, operation, durable=durable, nowait=nowait)
            except _Lost as lost:
                why = str(lost)
            except sqlite3.DatabaseError as error:
                if _damaged(error):
                    why = f"is damaged ({error})"
                    continue
                return self._give_up(error, fallback)
            except OSError as error:
                return self._give_up(error, fallback)
        return self._give_up(RuntimeError("the file keeps disappearing"), fallback)

    def _give_up(self, error: BaseException, fallback: Callable[[], _T]) -> _T:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        # Once the file was in use, the sends just before are unknown to memory: a barrier.
        memory = MemoryBudgetStore(barrier=None if self._identity is None else self._clock())
        for robot, until in self._lockouts.items():
            memory.lock_out(robot, until)
        self._fallback = memory
        self._say(
            f"the budget store {self.path} cannot be used ({error}); robots in this process "
            "now share a budget kept in memory, which other processes do not see. Set "
            "DINGWIRE_CACHE_DIR to a directory this user can write"
        )
        return fallback()

    # -- the contract -------------------------------------------------------------------

    def _state(
        self,
        conn: sqlite3.Connection,
        robot: str,
        budget: Budget,
        now: float,
        *,
        purge: bool = True,
    ) -> Verdict:
        window = budget.rate.window if budget.rate is not None else 0.0
        if purge:
            conn.execute(
                "DELETE FROM slots WHERE robot = ? AND coalesce(arrived, expires) + ? <= ?",
                (robot, window, now),
            )
        # Without a minute window the slots only serve to give a quota count back.
        slots = (
            [
                Slot(started, arrived, expires)
                for started, arrived, expires in conn.execute(
                    "SELECT started, arrived, expires FROM slots WHERE robot = ?", (robot,)
                )
            ]
            if budget.rate is not None
            else []
        )
        start, _ = budget.period(now)
        state = (robot, budget.org, start, budget.org)
        locked, used, spent, barrier = conn.execute(_STATE, state).fetchone()
        if locked is not None:
            self._lockouts[robot] = max(locked, self._lockouts.get(robot, 0.0))
        return judge(
            budget,
            now,
            slots=slots,
            locked_until=locked or 0.0,
            used=used or 0,
            spent_until=spent or 0.0,
            barrier=barrier,
        )

    def reserve(self, robot: str, budget: Budget, now: float, *, hold: float) -> Verdict:
        if budget.rate is None and budget.quota is None:
            return self._reserve_unlimited(robot, budget, now, hold)

        def operation(conn: sqlite3.Connection) -> Verdict:
            verdict = self._state(conn, robot, budget, now)
            if not verdict.go:
                return verdict
            start, _ = budget.period(now)
            cursor = conn.execute(
                "INSERT INTO slots (robot, started, expires, org, period) VALUES (?, ?, ?, ?, ?)",
                (robot, now, now + hold, budget.org, start),
            )
            conn.execute(
                "INSERT INTO usage (org, period, used) VALUES (?, ?, 1) "
                "ON CONFLICT (org, period) DO UPDATE SET used = used + 1",
                (budget.org, start),
            )
            slot = cursor.lastrowid or 0
            if len(self._flying) >= _FLYING_KEPT:  # senders that never settled: forget one
                del self._flying[next(iter(self._flying))]
            self._flying[slot] = (robot, now, now + hold, budget.org, start)
            return verdict.granted(slot)

        return self._run(operation, lambda: self._memory().reserve(robot, budget, now, hold=hold))

    def _reserve_unlimited(self, robot: str, budget: Budget, now: float, hold: float) -> Verdict:
        """A robot with neither a minute window nor a quota: only lockouts can hold it back.

        Nothing needs a slot, so nothing is written per send: the lockout is read, and the
        org's count (shown by ``dingwire robots``, enforced nowhere) is added up here and
        written every :data:`COUNT_FLUSH` sends or seconds, and on :meth:`close`.
        """
        verdict = self._run(
            lambda conn: self._state(conn, robot, budget, now, purge=False),
            lambda: self._memory().peek(robot, budget, now),
            read=True,
        )
        if self._fallback is not None:  # no file (any more): memory counts it, like the rest
            return self._memory().reserve(robot, budget, now, hold=hold)
        if not verdict.go:
            return verdict
        start, _ = budget.period(now)
        with self._lock:
            self._counts[(budget.org, start)] = self._counts.get((budget.org, start), 0) + 1
            self._uncounted_slots += 1
            slot = -self._uncounted_slots  # negative: held nowhere, only counted
            if len(self._uncounted) >= _FLYING_KEPT:  # never settled: forget the oldest
                del self._uncounted[next(iter(self._uncounted))]
            self._uncounted[slot] = (budget.org, start)
            unwritten = sum(self._counts.values())
            due = unwritten >= COUNT_FLUSH or now - self._flushed >= COUNT_FLUSH
        if due:
            self._flush_counts(now)
        return verdict.granted(slot)

    def _flush_counts(self, now: float) -> None:
        with self._lock:
            # _uncounted stays: a send written here that never left still takes its count back
            counts, self._counts = self._counts, {}
            self._flushed = now
        counts = {key: n for key, n in counts.items() if n}
        if not counts:
            return

        def operation(conn: sqlite3.Connection) -> None:
            for (org, start), n in counts.items():
                conn.execute(
                    "INSERT INTO usage (org, period, used) VALUES (?, ?, max(?, 0)) "
                    "ON CONFLICT (org, period) DO UPDATE SET used = max(used + ?, 0)",
                    (org, start, n, n),
                )

        def fallback() -> None:
            return None

        self._run(operation, fallback)

    def settle(self, robot: str, slot: int, arrived: float | None) -> None:
        if slot < 0:  # only counted (see _reserve_unlimited): never left takes the count back
            with self._lock:
                counted = self._uncounted.pop(slot, None)
                if counted is not None and arrived is None:
                    self._counts[counted] = self._counts.get(counted, 0) - 1
            return

        def operation(conn: sqlite3.Connection) -> None:
            if arrived is not None:
                conn.execute(
                    "UPDATE slots SET arrived = ? WHERE id = ? AND robot = ?",
                    (arrived, slot, robot),
                )
                return
            row = conn.execute(
                "SELECT org, period FROM slots WHERE id = ? AND robot = ?", (slot, robot)
            ).fetchone()
            if row is not None:
                conn.execute("DELETE FROM slots WHERE id = ?", (slot,))
                conn.execute(
                    "UPDATE usage SET used = used - 1 WHERE org = ? AND period = ? AND used > 0",
                    row,
                )

        self._run(operation, lambda: self._memory().settle(robot, slot, arrived))
        with self._lock:
            self._flying.pop(slot, None)

    def peek(self, robot: str, budget: Budget, now: float) -> Verdict:
        return self._run(
            lambda conn: self._state(conn, robot, budget, now),
            lambda: self._memory().peek(robot, budget, now),
        )

    def lock_out(self, robot: str, until: float) -> None:
        with self._lock:
            self._lockouts[robot] = max(until, self._lockouts.get(robot, 0.0))

        def operation(conn: sqlite3.Connection) -> None:
            _write_lockout(conn, robot, until)

        self._run(operation, lambda: self._memory().lock_out(robot, until), durable=True)

    def spend_quota(self, org: str, until: float) -> None:
        def operation(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO spent (org, until) VALUES (?, ?) "
                "ON CONFLICT (org) DO UPDATE SET until = max(until, excluded.until)",
                (org, until),
            )

        self._run(operation, lambda: self._memory().spend_quota(org, until), durable=True)

    def usage(self, budget: Budget, now: float) -> int:
        if self._counts:
            self._flush_counts(now)
        start, _ = budget.period(now)

        def operation(conn: sqlite3.Connection) -> int:
            row = conn.execute(
                "SELECT used FROM usage WHERE org = ? AND period = ?", (budget.org, start)
            ).fetchone()
            return int(row[0]) if row else 0

        return self._run(operation, lambda: self._memory().usage(budget, now))

    def close(self) -> None:
        if self._counts:
            self._flush_counts(self._clock())
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    def __del__(self) -> None:
        # A store nobody closed (a robot's own "sqlite:///..." store, dropped with the robot)
        # still closes its file; Python 3.13 warns of an unclosed database otherwise.
        conn = self.__dict__.get("_conn")
        if conn is not None and self.__dict__.get("_pid") == os.getpid():
            conn.close()

    def _memory(self) -> MemoryBudgetStore:
        assert self._fallback is not None
        return self._fallback


def _close_at_exit(ref: weakref.ref[LocalBudgetStore]) -> None:
    store = ref()
    if store is not None:
        store.close()


def _transaction(
    conn: sqlite3.Connection,
    operation: Callable[[sqlite3.Connection], _T],
    *,
    durable: bool,
    nowait: bool = False,
) -> _T:

    if durable:  # PRAGMA synchronous cannot change inside a transaction
        conn.execute("PRAGMA synchronous=FULL")
    try:
        _begin(conn, nowait=nowait)
        try:
            result = operation(conn)
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result
    finally:
        if durable:
            conn.execute("PRAGMA synchronous=NORMAL")


def _begin(conn: sqlite3.Connection, *, nowait: bool) -> None:
    """``BEGIN IMMEDIATE``, waiting for another holder of the write lock unless ``nowait``.

    The connection's own busy timeout is zero, so that an event loop's ``nowait`` call can
    learn at once that the store is busy; the waiting is done here instead, in short sleeps.
    """
    _patiently(lambda: conn.execute("BEGIN IMMEDIATE"), nowait=nowait)


def _patiently(call: Callable[[], object], *, nowait: bool = False) -> None:
    """``call()``, again in short sleeps while SQLite says "locked" or "busy" (at most
    :data:`BUSY_TIMEOUT`); ``nowait``: raise :class:`WouldBlock` instead of waiting."""
    import sqlite3

    deadline = time.monotonic() + BUSY_TIMEOUT
    pause = 0.0005
    while True:
        try:
            call()
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) and "busy" not in str(error):
                raise
            if nowait:
                raise WouldBlock from None
            if time.monotonic() > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.01)


def _write_lockout(conn: sqlite3.Connection, robot: str, until: float) -> None:
    conn.execute(
        "INSERT INTO lockouts (robot, until) VALUES (?, ?) "
        "ON CONFLICT (robot) DO UPDATE SET until = max(until, excluded.until)",
        (robot, until),
    )


def _damaged(error: Any) -> bool:
    text = str(error).lower()
    return "not a database" in text or "malformed" in text or "corrupt" in text


_DEFAULT_STORES: dict[Path, LocalBudgetStore] = {}
_DEFAULT_GUARD = threading.Lock()


def default_store() -> LocalBudgetStore:
    """The store robots share by default: one per cache directory, for the whole process."""
    path = default_cache_dir() / FILENAME
    with _DEFAULT_GUARD:
        if path not in _DEFAULT_STORES:
            _DEFAULT_STORES[path] = LocalBudgetStore(path)
        return _DEFAULT_STORES[path]
