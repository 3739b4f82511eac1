"""The machine-local store only: processes, fork, a lost or damaged file, no writable cache.

The contract itself is test_contract.py's. Here: what only a file shared by processes can
get wrong. A store's ``clock`` (it stamps a barrier, and seeds slot ids) is a fake one
that agrees with the ``now`` the tests pass.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import sqlite3
import threading
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from dingwire.budget import (
    LocalBudgetStore,
    MemoryBudgetStore,
    WouldBlock,
    default_store,
    open_store,
)
from dingwire.budget import local as local_module
from dingwire.core.budget import MONTH, Budget, Quota, Verdict
from dingwire.core.errors import ConfigError
from dingwire.core.policy import Rate
from tests.budget.conftest import BudgetLog

T = datetime(2026, 9, 10, tzinfo=UTC).timestamp()
SEPT_END = datetime(2026, 9, 30, 16, tzinfo=UTC).timestamp()  # October 1st, Shanghai
R1 = Budget(Rate(1, 10.0))
R3 = Budget(Rate(3, 10.0))
HOLD = 5.0
UNLIMITED = Budget(None, "plain")  # neither window nor quota


class Clock:
    """A store's clock the test moves: ``clock.now = ...``."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _delete(path: Path, *, with_wal: bool = True) -> None:
    path.unlink()
    if with_wal:
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def recreated(path: Path, why: str) -> str:
    """The one warning of a store whose file was lost."""
    return (
        f"the budget store {path} {why}; it was recreated, and every robot's minute window "
        "counts as full until a window has passed (nothing is known of the sends just "
        "before); lockouts this process knew were kept"
    )


def fell_back(path: Path, said: str) -> str:
    """The one warning of a store that cannot use its file (``said``: to take its error)."""
    error = said.partition("cannot be used (")[2].rpartition("); robots")[0]
    assert error, said
    return (
        f"the budget store {path} cannot be used ({error}); robots in this process now share "
        "a budget kept in memory, which other processes do not see. Set DINGWIRE_CACHE_DIR "
        "to a directory this user can write"
    )


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "budget.sqlite3"


# -- processes ---------------------------------------------------------------------------

SHARED = Budget(Rate(3, 10.0), "acme", Quota(10_000, MONTH))


def _hammer(path: str, ticks: Any, go: Any, results: Any) -> None:
    """One process: reserve, settle at the reply; report the arrivals it got.

    ``ticks`` is a clock the processes share (each read moves it on by 0.05 s): calls reach
    the store out of the order of their ``now``, as between real processes.
    """

    def clock() -> float:
        with ticks.get_lock():
            ticks.value += 1
            return T + ticks.value * 0.05

    store = LocalBudgetStore(path)
    arrivals = []
    try:
        go.wait(60)  # every process ready: they start together
        for _ in range(100):
            verdict = store.reserve("r", SHARED, clock(), hold=HOLD)
            if verdict.go:
                assert verdict.slot is not None
                arrived = clock()
                arrivals.append(arrived)
                store.settle("r", verdict.slot, arrived)
        results.put(("ok", arrivals))
    except BaseException as error:
        results.put(("error", repr(error)))
    finally:
        store.close()


def test_processes_sharing_one_file_never_over_grant(path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    ticks, go, results = ctx.Value("q", 0), ctx.Barrier(4), ctx.Queue()
    workers = [ctx.Process(target=_hammer, args=(str(path), ticks, go, results)) for _ in range(4)]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    assert [kind for kind, _ in outcomes] == ["ok"] * len(workers), outcomes
    arrivals = sorted(t for _, times in outcomes for t in times)
    assert len(arrivals) >= 6  # 400 reads at least of 0.05 s: 20 s, two windows at least
    for i in range(len(arrivals) - 3):
        assert arrivals[i] + 10.0 <= arrivals[i + 3], arrivals[i : i + 4]
    store = LocalBudgetStore(path)
    assert store.usage(SHARED, T) == len(arrivals)
    store.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork() on this platform")
def test_after_fork_the_child_works_on_its_own_connection(path: Path) -> None:
    store = LocalBudgetStore(path)
    budget = Budget(Rate(2, 10.0), "acme", Quota(100, MONTH))
    assert store.reserve("r", budget, T, hold=HOLD).go  # the parent's connection is open
    read, write = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
        pid = os.fork()
    if pid == 0:  # the child: report, and leave without running the parent's cleanup
        try:
            verdict = store.reserve("r", budget, T + 1, hold=HOLD)
            os.write(write, f"{verdict.reason} {verdict.used}".encode())
        except BaseException as error:
            os.write(write, repr(error).encode()[:500])
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        told = pipe.read().decode()
    deadline = time.monotonic() + 30
    while os.waitpid(pid, os.WNOHANG) == (0, 0):
        assert time.monotonic() < deadline, "the child does not end"
        time.sleep(0.01)
    assert told == "go 2"
    # the parent's connection still works, and sees the child's send
    assert store.reserve("r", budget, T + 2, hold=HOLD).reason == "budget"
    assert store.usage(budget, T) == 2
    store.close()


# -- a lost or damaged file --------------------------------------------------------------


@pytest.mark.parametrize("with_wal", [True, False], ids=["file and WAL", "file only"])
def test_a_deleted_file_leaves_a_barrier_and_keeps_the_lockout(
    path: Path, budget_log: BudgetLog, with_wal: bool
) -> None:
    clock = Clock(T + 5)
    store = LocalBudgetStore(path, clock=clock)
    slot = store.reserve("r", R3, T, hold=HOLD).slot
    assert slot is not None
    store.settle("r", slot, T + 0.1)
    store.lock_out("locked", T + 600)
    _delete(path, with_wal=with_wal)
    # every robot's window counts as full from the barrier (T + 5) for a window
    full = Verdict("budget", 9.0, T + 15, 0, renews=SEPT_END)
    assert store.peek("fresh", R3, T + 6) == full
    assert path.exists()
    assert store.reserve("r", R3, T + 14.9, hold=HOLD).reason == "budget"
    assert store.peek("locked", R3, T + 20).until == T + 600  # the lockout it knew
    assert store.reserve("fresh", R3, T + 15, hold=HOLD).go
    assert budget_log.said() == [recreated(path, "was deleted")]
    # another process opening the new file sees the barrier and the lockout too
    other = LocalBudgetStore(path, clock=clock)
    assert other.peek("another", R3, T + 6).until == T + 15
    assert other.peek("locked", R3, T + 20).reason == "lockout"
    other.close()
    store.close()


def test_every_handle_that_had_the_file_says_so_once(path: Path, budget_log: BudgetLog) -> None:
    clock = Clock(T + 5)
    one, two = LocalBudgetStore(path, clock=clock), LocalBudgetStore(path, clock=clock)
    one.lock_out("r", T + 100)
    assert two.peek("r", R3, T).reason == "lockout"  # two has it open, and knows the lockout
    _delete(path)
    for now in (T + 6, T + 7, T + 8):
        assert one.peek("x", R3, now).reason == "budget"
        assert two.peek("x", R3, now).reason == "budget"
    # once per handle: the first finds it gone, the second finds the first one's new file
    assert budget_log.said() == [recreated(path, "was deleted"), recreated(path, "was replaced")]
    assert one.peek("r", R3, T + 50).until == T + 100
    one.close()
    two.close()


def test_a_closed_store_notices_a_deletion_when_used_again(
    path: Path, budget_log: BudgetLog
) -> None:
    clock = Clock(T + 1)
    store = LocalBudgetStore(path, clock=clock)
    assert store.reserve("r", R1, T, hold=HOLD).go
    store.close()
    _delete(path)
    assert store.reserve("r", R1, T + 1, hold=HOLD).reason == "budget"  # behind a barrier
    assert budget_log.said() == [recreated(path, "was deleted")]
    store.close()


def test_a_send_in_flight_when_the_file_was_lost_is_still_counted(
    path: Path, budget_log: BudgetLog
) -> None:
    clock = Clock(T + 1)
    store = LocalBudgetStore(path, clock=clock)
    slot = store.reserve("r", R1, T, hold=30.0).slot  # a slow request
    assert slot is not None
    _delete(path)
    assert store.peek("r", R1, T + 1).until == T + 11  # the barrier
    store.settle("r", slot, T + 10)  # its reply: DingTalk may have seen it as late as T + 10
    assert store.peek("r", R1, T + 12) == Verdict("budget", 8.0, T + 20, 0, renews=SEPT_END)
    assert store.reserve("r", R1, T + 20, hold=HOLD).go
    assert budget_log.said() == [recreated(path, "was deleted")]
    store.close()


@pytest.mark.parametrize("how", ["overwritten", "replaced"])
def test_a_damaged_file_is_set_aside_behind_a_barrier(
    path: Path, budget_log: BudgetLog, how: str
) -> None:
    clock = Clock(T + 5)
    store = LocalBudgetStore(path, clock=clock)
    store.lock_out("locked", T + 600)
    assert store.reserve("r", R3, T, hold=HOLD).go
    garbage = b"this is not an SQLite database, it is a poem. " * 200
    if how == "overwritten":  # the same file, garbage inside
        store.close()
        path.write_bytes(garbage)
    else:  # another file put in its place
        _delete(path)
        (path.parent / "garbage").write_bytes(garbage)
        os.replace(path.parent / "garbage", path)
    assert store.peek("fresh", R3, T + 6) == Verdict("budget", 9.0, T + 15, 0, renews=SEPT_END)
    assert store.peek("locked", R3, T + 6).until == T + 600
    assert store.reserve("fresh", R3, T + 15, hold=HOLD).go
    assert budget_log.said() == [recreated(path, "is damaged (file is not a database)")]
    aside = list(path.parent.glob("budget.sqlite3.damaged-*"))
    assert [p.name for p in aside if not p.name.endswith(("-wal", "-shm"))] == [
        f"budget.sqlite3.damaged-{int(T + 5)}"
    ]
    assert aside[0].read_bytes()[:100] == garbage[:100]
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    check.close()
    store.close()


def test_a_garbage_file_found_at_first_open_is_set_aside(path: Path, budget_log: BudgetLog) -> None:
    path.write_bytes(b"\x00garbage" * 512)
    store = LocalBudgetStore(path, clock=Clock(T))
    assert store.reserve("r", R3, T + 1, hold=HOLD).reason == "budget"  # barrier at T
    assert store.reserve("r", R3, T + 10, hold=HOLD).go
    assert budget_log.said() == [recreated(path, "is damaged (file is not a database)")]
    assert list(path.parent.glob("budget.sqlite3.damaged-*"))
    store.close()


def test_a_reset_waits_for_another_process_holding_the_write_lock(
    path: Path, monkeypatch: pytest.MonkeyPatch, budget_log: BudgetLog
) -> None:
    clock = Clock(T + 5)
    store = LocalBudgetStore(path, clock=clock)
    assert store.reserve("r", R3, T, hold=HOLD).go
    _delete(path)
    other = LocalBudgetStore(path, clock=clock)
    other.peek("r", R3, T + 1)  # another process made the new file first ...
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # ... and is writing to it just now
    waiting = threading.Event()
    real_sleep = time.sleep

    def sleep(seconds: float) -> None:  # the store waits for the lock: let the holder go
        waiting.set()
        real_sleep(seconds)

    shim = SimpleNamespace(monotonic=time.monotonic, time=time.time, sleep=sleep)
    monkeypatch.setattr(local_module, "time", shim)
    outcome: list[object] = []

    def peek() -> None:
        try:
            outcome.append(store.peek("r", R3, T + 6))
        except BaseException as error:
            outcome.append(error)

    thread = threading.Thread(target=peek)
    thread.start()
    deadline = time.monotonic() + 30
    while not waiting.wait(0.01) and thread.is_alive():
        assert time.monotonic() < deadline
    holder.execute("COMMIT")
    holder.close()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert outcome == [Verdict("budget", 9.0, T + 15, 0, renews=SEPT_END)]
    assert budget_log.said() == [recreated(path, "was replaced")]  # and not "cannot be used"
    assert other.peek("x", R3, T + 6).until == T + 15  # the barrier is in the file
    store.close()
    other.close()


def test_slot_ids_never_repeat_after_the_file_is_recreated(
    path: Path, budget_log: BudgetLog
) -> None:
    clock = Clock(T)
    store = LocalBudgetStore(path, clock=clock)
    budget = Budget(Rate(100, 1.0))
    before = []
    for i in range(5):
        slot = store.reserve("r", budget, T + i, hold=HOLD).slot
        assert slot is not None
        before.append(slot)
    for round_ in range(3):
        clock.now = T + 100 + round_  # a second later, the file is gone again
        _delete(path)
        after = []
        for i in range(5):
            slot = store.reserve("r", budget, clock.now + 1 + i, hold=HOLD).slot
            assert slot is not None
            after.append(slot)
        assert min(after) > max(before)
        # a late settle from before the reset settles nobody's new slot
        for old in before:
            store.settle("r", old, None)
        assert store.peek("r", budget, clock.now + 6).free == 100 - 5
        before += after
    assert len(set(before)) == len(before)
    assert budget_log.said() == [recreated(path, "was deleted")]  # once, however often
    store.close()


# -- a cache directory that cannot be written --------------------------------------------


def _every_operation(store: LocalBudgetStore | MemoryBudgetStore) -> None:
    budget = Budget(Rate(2, 10.0), "acme", Quota(5, MONTH))
    first = store.reserve("r", budget, T, hold=HOLD)
    assert first.go
    assert first.slot is not None
    assert store.reserve("r", budget, T, hold=HOLD).go
    assert store.reserve("r", budget, T, hold=HOLD).reason == "budget"
    store.settle("r", first.slot, None)
    assert store.peek("r", budget, T).free == 1
    assert store.usage(budget, T) == 1
    store.lock_out("r", T + 100)
    assert store.peek("r", budget, T + 20).reason == "lockout"
    store.spend_quota("acme", T + 200)
    assert store.peek("s", budget, T + 20).reason == "quota"
    plain = Budget(None, "plain")  # neither window nor quota: counted all the same
    for i in range(3):
        verdict = store.reserve("p", plain, T + i, hold=HOLD)
        assert verdict.go
        assert verdict.slot is not None
        store.settle("p", verdict.slot, None if i == 0 else T + i)
    assert store.usage(plain, T) == 2
    store.close()
    assert store.peek("r", Budget(Rate(2, 10.0), "other"), T + 20).until == T + 100


def test_an_unwritable_directory_falls_back_to_memory_with_one_warning(
    tmp_path: Path, budget_log: BudgetLog
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    store = LocalBudgetStore(blocker / "cache" / "budget.sqlite3")
    _every_operation(store)
    told = budget_log.said()
    assert told == [fell_back(blocker / "cache" / "budget.sqlite3", told[0])]
    assert "Not a directory" in told[0]  # what went wrong, in the store's own words
    assert not (tmp_path / "cache").exists()


def test_an_unwritable_cache_dir_from_the_environment(
    tmp_path: Path, budget_log: BudgetLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("DINGWIRE_CACHE_DIR", str(blocker / "dingwire"))
    store = open_store("local")
    assert isinstance(store, LocalBudgetStore)
    assert store.path == blocker / "dingwire" / "budget.sqlite3"
    _every_operation(store)  # type: ignore[arg-type]
    told = budget_log.said()
    assert told == [fell_back(store.path, told[0])]


def test_a_store_that_becomes_unusable_stays_conservative(
    tmp_path: Path, budget_log: BudgetLog
) -> None:
    clock = Clock(T + 1)
    store = LocalBudgetStore(tmp_path / "cache" / "budget.sqlite3", clock=clock)
    slot = store.reserve("r", R1, T, hold=HOLD).slot
    assert slot is not None
    store.settle("r", slot, T + 0.5)
    store.lock_out("locked", T + 600)
    for i in range(2):  # the second count waits to be written when the file goes
        assert store.reserve("p", UNLIMITED, T + i * 0.1, hold=HOLD).go
    shutil.rmtree(tmp_path / "cache")
    (tmp_path / "cache").write_text("the directory is now a file")
    # the sends just before are unknown to the memory it falls back to: a barrier at T + 1
    assert store.reserve("r", R1, T + 2, hold=HOLD) == Verdict(
        "budget", 9.0, T + 11, 0, renews=SEPT_END
    )
    assert store.peek("locked", R1, T + 20).until == T + 600
    assert store.reserve("r", R1, T + 11, hold=HOLD).go
    assert store.usage(UNLIMITED, T) == 0  # memory knows nothing of the file's counts
    told = budget_log.said()
    assert told == [fell_back(store.path, told[0])]
    assert "Not a directory" in told[0]
    store.close()


# -- open_store ------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["local", "", "  local  "])
def test_open_store_local_is_the_default_store(url: str, tmp_path: Path) -> None:
    store = open_store(url)
    assert store is default_store()
    assert isinstance(store, LocalBudgetStore)
    assert store.path == Path(os.environ["DINGWIRE_CACHE_DIR"]) / "budget.sqlite3"


@pytest.mark.parametrize("url", ["memory", "memory://", " memory:// "])
def test_open_store_memory_is_a_new_store_each_time(url: str) -> None:
    one, two = open_store(url), open_store(url)
    assert isinstance(one, MemoryBudgetStore)
    assert one is not two


def test_open_store_sqlite_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    absolute = open_store(f"sqlite:///{tmp_path}/x/budget.sqlite3")
    assert isinstance(absolute, LocalBudgetStore)
    assert absolute.path == tmp_path / "x" / "budget.sqlite3"
    assert absolute.reserve("r", R1, T, hold=HOLD).go
    assert (tmp_path / "x" / "budget.sqlite3").exists()
    absolute.close()
    monkeypatch.chdir(tmp_path)
    relative = open_store("sqlite:///rel.sqlite3")
    assert isinstance(relative, LocalBudgetStore)
    assert relative.path == Path("rel.sqlite3")
    default = open_store("sqlite:///")
    assert isinstance(default, LocalBudgetStore)
    assert default.path == Path(os.environ["DINGWIRE_CACHE_DIR"]) / "budget.sqlite3"
    assert default is not default_store()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "postgres://db/budget",
            "budget store: 'postgres://db/budget' is not a store; write 'local', "
            "'memory://', 'sqlite:///path/to/budget.sqlite3' or 'redis://host:6379/0'",
        ),
        ("postgres://me:pw@db/budget", "budget store: 'postgres://**********@db/budget' is not"),
        ("sqlite://relative.db", "budget store: 'sqlite://relative.db' is not a store"),
        ("file:///tmp/budget", "budget store: 'file:///tmp/budget' is not a store"),
        ("localhost", "budget store: 'localhost' is not a store"),
    ],
)
def test_open_store_refuses_what_it_does_not_know(url: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        open_store(url)
    assert str(caught.value).startswith(message)


def test_default_store_is_one_per_cache_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = default_store()
    assert default_store() is first
    monkeypatch.setenv("DINGWIRE_CACHE_DIR", str(tmp_path / "elsewhere"))
    other = default_store()
    assert other is not first
    assert other.path == tmp_path / "elsewhere" / "budget.sqlite3"


def test_default_cache_dir_without_dingwire_cache_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DINGWIRE_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert local_module.default_cache_dir() == tmp_path / "xdg" / "dingwire"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert local_module.default_cache_dir() == tmp_path / "home" / ".cache" / "dingwire"


def test_the_file_is_private_and_holds_no_token(tmp_path: Path) -> None:
    path = tmp_path / "made" / "for" / "it" / "budget.sqlite3"
    store = LocalBudgetStore(path)
    store.reserve("robot-key-hash", R1, T, hold=HOLD)
    if os.name == "posix":
        assert path.stat().st_mode & 0o777 == 0o600
        assert path.parent.stat().st_mode & 0o777 == 0o700
    store.close()
    assert repr(store) == f"LocalBudgetStore({str(path)!r})"


def test_opening_a_file_another_process_turns_to_wal_tries_again(
    path: Path, monkeypatch: pytest.MonkeyPatch, budget_log: BudgetLog
) -> None:
    # Two processes opening a new file at once: switching it to WAL can answer "database is
    # locked" at once, without the busy timeout. That must not drop the store to memory.
    told: list[str] = []

    class Converting(sqlite3.Connection):
        def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
            if sql == "PRAGMA journal_mode=WAL" and len(told) < 2:
                told.append(sql)
                raise sqlite3.OperationalError("database is locked")
            return super().execute(sql, *args)

    connect = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect", lambda *a, **kw: connect(*a, factory=Converting, **kw))
    store = LocalBudgetStore(path)
    assert store.reserve("r", R1, T, hold=HOLD).go
    assert told == ["PRAGMA journal_mode=WAL"] * 2
    assert budget_log.said() == []
    monkeypatch.undo()
    other = LocalBudgetStore(path)  # the file, not memory: another handle sees the send
    assert other.peek("r", R1, T + 1).reason == "budget"
    other.close()
    store.close()


def test_slot_ids_are_seeded_even_when_another_process_made_the_file(path: Path) -> None:
    # Another process made the file and its tables a moment ago, and has not seeded the
    # slot ids yet: whoever comes first seeds them, so ids never start again from 1.
    made = sqlite3.connect(path)
    made.executescript(local_module._SCHEMA)
    made.close()
    store = LocalBudgetStore(path, clock=Clock(T))
    slot = store.reserve("r", R1, T, hold=HOLD).slot
    assert slot == int(T * 1_000_000) + 1
    store.close()


def test_a_store_remembers_only_so_many_sends_in_flight(
    path: Path, monkeypatch: pytest.MonkeyPatch, budget_log: BudgetLog
) -> None:
    monkeypatch.setattr(local_module, "_FLYING_KEPT", 2)
    store = LocalBudgetStore(path, clock=Clock(T + 1))
    budget = Budget(Rate(10, 10.0))
    slots = [store.reserve("r", budget, T, hold=30.0).slot for _ in range(3)]  # none settled
    _delete(path)
    # the file is lost: the two latest in flight are written back, the oldest is forgotten
    assert store.peek("r", budget, T + 12).free == 8
    assert len(set(slots)) == 3
    assert len(budget_log.said()) == 1
    store.close()


def test_a_malformed_file_is_set_aside_behind_a_barrier(path: Path, budget_log: BudgetLog) -> None:
    store = LocalBudgetStore(path, clock=Clock(T + 5))
    for i in range(300):  # enough rows for many pages
        store.reserve(f"robot-{i:03}" * 5, R3, T, hold=1e6)
    store.close()
    data = bytearray(path.read_bytes())
    for offset in range(4096, len(data), 8192):  # every other page after the header's
        data[offset : offset + 4096] = b"\xff" * 4096
    path.write_bytes(bytes(data))
    store = LocalBudgetStore(path, clock=Clock(T + 5))
    assert store.peek("robot-001" * 5, R3, T + 6).until == T + 15
    said = "is damaged (database disk image is malformed)"
    assert budget_log.said() == [recreated(path, said)]
    assert path.with_name(f"budget.sqlite3.damaged-{int(T + 5)}").exists()
    store.close()


def test_a_garbage_file_is_recognised_at_once(path: Path, budget_log: BudgetLog) -> None:
    path.write_bytes(b"garbage" * 1000)
    started = time.monotonic()
    store = LocalBudgetStore(path, clock=Clock(T))
    assert store.peek("r", R1, T + 20).go
    assert time.monotonic() - started < 5  # not after waiting for a lock that nobody holds
    assert len(budget_log.said()) == 1
    store.close()


def test_a_path_that_is_a_directory_falls_back_to_memory(
    tmp_path: Path, budget_log: BudgetLog
) -> None:
    store = LocalBudgetStore(tmp_path)  # SQLite cannot open a directory as a database
    started = time.monotonic()
    _every_operation(store)
    assert time.monotonic() - started < 5  # at once: this is no lock to wait for
    told = budget_log.said()
    assert told == [fell_back(tmp_path, told[0])]
    assert "unable to open database file" in told[0]


def test_nowait_runs_a_call_only_if_nobody_holds_the_file(path: Path) -> None:
    store = LocalBudgetStore(path)
    with store.nowait():
        assert store.reserve("r", R3, T, hold=HOLD).go  # uncontended: done at once
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    with store.nowait(), pytest.raises(WouldBlock):
        store.reserve("r", R3, T + 1, hold=HOLD)
    with store.nowait(), pytest.raises(WouldBlock):
        store.lock_out("r", T + 100)
    holder.execute("COMMIT")
    holder.close()
    assert store.usage(R3, T) == 1  # what would have blocked did nothing
    assert store.peek("r", R3, T + 1).go
    with store.nowait():
        assert store.reserve("r", R3, T + 1, hold=HOLD).go
    store.close()


def test_a_settled_send_is_not_written_back_as_in_flight(path: Path, budget_log: BudgetLog) -> None:
    store = LocalBudgetStore(path, clock=Clock(T + 1))
    slot = store.reserve("r", R3, T, hold=30.0).slot
    assert slot is not None
    store.settle("r", slot, T + 0.5)
    _delete(path)
    assert store.peek("r", R3, T + 2).until == T + 11  # the barrier
    assert store.peek("r", R3, T + 12).free == 3  # and nothing in flight after it
    assert len(budget_log.said()) == 1
    store.close()


def test_counts_of_unlimited_robots_are_written_in_batches(path: Path) -> None:
    one, two = LocalBudgetStore(path), LocalBudgetStore(path)
    slots = []

    def send(now: float) -> None:
        verdict = one.reserve("r", UNLIMITED, now, hold=HOLD)
        assert verdict.go
        assert verdict.slot is not None
        slots.append(verdict.slot)

    send(T)  # the first is written at once
    assert two.usage(UNLIMITED, T) == 1
    send(T + 1)
    assert two.usage(UNLIMITED, T) == 1  # kept back ...
    send(T + 32)  # ... until COUNT_FLUSH seconds have passed
    assert two.usage(UNLIMITED, T) == 3
    for i in range(local_module.COUNT_FLUSH - 1):
        send(T + 33 + i * 0.01)
    assert two.usage(UNLIMITED, T) == 3
    send(T + 34)  # ... or COUNT_FLUSH sends are waiting
    assert two.usage(UNLIMITED, T) == 4 + local_module.COUNT_FLUSH - 1
    written = 4 + local_module.COUNT_FLUSH - 1
    # given back: one waiting to be written, then one already written
    send(T + 35)
    one.settle("r", slots[-1], None)
    assert one.usage(UNLIMITED, T) == written
    one.settle("r", slots[0], None)
    assert one.usage(UNLIMITED, T + 35.5) == written - 1  # written at T + 35.5
    send(T + 36)  # waits to be written ...
    one.close()  # ... and close writes it
    assert two.usage(UNLIMITED, T) == written
    send(T + 37)  # usable after close
    one.close()
    assert two.usage(UNLIMITED, T) == written + 1
    assert len(set(slots)) == len(slots)
    two.close()


def test_unlimited_robots_remember_only_so_many_sends(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local_module, "_FLYING_KEPT", 2)
    store = LocalBudgetStore(path)
    slots = [store.reserve("r", UNLIMITED, T + i * 0.1, hold=HOLD).slot for i in range(3)]
    assert None not in slots
    store.settle("r", slots[0], None)  # forgotten: its count stays
    assert store.usage(UNLIMITED, T) == 3
    store.settle("r", slots[2], None)
    assert store.usage(UNLIMITED, T) == 2
    store.close()


def test_a_store_dropped_without_close_closes_its_file(path: Path) -> None:
    # A robot's own "sqlite:///..." store goes away with the robot: its connection must not
    # be left open (Python 3.13 warns of an unclosed database, an error under pytest here).
    import gc

    store = LocalBudgetStore(path)
    store.lock_out("r", T + 60)
    conn = store._conn
    assert conn is not None
    del store
    gc.collect()
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        conn.execute("SELECT 1")
