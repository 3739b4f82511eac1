"""Budget bookkeeping: what one send costs in the shared store, beside simpler baselines.

Each candidate does a send's bookkeeping — reserve a slot, then settle it at the reply —
for robots spaced so that every reservation is granted (the cost of a decision, not of a
wait). The table gives p50 and p99 in microseconds:

- the machine-local SQLite store (every process on the machine), with a 20/60s window and
  an org quota; without a window or quota (only the lockout is read);
- the same store with a second process doing the same at the same time (lock contention);
- the in-process memory store;
- baselines: a JSON file rewritten under ``flock`` per send (dingwire's previous store), and
  one bare SQLite ``BEGIN IMMEDIATE``/``INSERT``/``COMMIT`` (the floor of any SQLite store).

    .venv/bin/python bench/bench_budget.py [--sends 5000]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from dingwire.budget import LocalBudgetStore, MemoryBudgetStore
from dingwire.core.budget import Budget, Quota
from dingwire.core.policy import Rate

RATED = Budget(Rate(20, 60.0), "acme", Quota(10**9))
UNLIMITED = Budget(None)


def store_candidate(make: Callable[[], object], budget: Budget) -> Callable[[int], float]:
    store = make()

    def one(i: int) -> float:
        # Sends 4 s apart on the store's clock: a 20/60s window always has room.
        now = 1_000_000.0 + i * 4.0
        start = time.perf_counter()
        verdict = store.reserve("robot", budget, now, hold=11.0)  # type: ignore[attr-defined]
        assert verdict.go
        store.settle("robot", verdict.slot, now + 0.05)  # type: ignore[attr-defined]
        return time.perf_counter() - start

    return one


def flock_json_candidate(directory: Path) -> Callable[[int], float]:
    import fcntl

    fd = os.open(directory / "robot.json", os.O_RDWR | os.O_CREAT, 0o600)

    def one(i: int) -> float:
        start = time.perf_counter()
        fcntl.flock(fd, fcntl.LOCK_EX)
        raw = os.pread(fd, os.fstat(fd).st_size, 0)
        state = json.loads(raw) if raw.strip() else {"sent": []}
        state["sent"] = [*state["sent"][-19:], 1_000_000.0 + i]
        data = json.dumps(state).encode()
        os.pwrite(fd, data.ljust(len(raw)), 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return time.perf_counter() - start

    return one


def bare_sqlite_candidate(directory: Path) -> Callable[[int], float]:
    conn = sqlite3.connect(directory / "bare.sqlite3", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, at REAL)")

    def one(i: int) -> float:
        start = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t (at) VALUES (?)", (float(i),))
        conn.execute("COMMIT")
        return time.perf_counter() - start

    return one


def _rival(path: str, stop: multiprocessing.synchronize.Event) -> None:
    store = LocalBudgetStore(path)
    i = 0
    while not stop.is_set():
        now = 2_000_000.0 + i * 4.0
        verdict = store.reserve("rival", RATED, now, hold=11.0)
        store.settle("rival", verdict.slot or 0, now + 0.05)
        i += 1


def measure(one: Callable[[int], float], sends: int) -> tuple[float, float]:
    for i in range(200):  # warm up: files, caches, imports
        one(i)
    times = sorted(one(1000 + i) for i in range(sends))
    return statistics.median(times) * 1e6, times[int(len(times) * 0.99)] * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sends", type=int, default=5000, help="sends per candidate")
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="dingwire-bench-budget-"))

    rows: list[tuple[str, float, float]] = []

    def add(name: str, one: Callable[[int], float]) -> None:
        rows.append((name, *measure(one, args.sends)))

    add("local store, 20/60s + org quota", store_candidate(
        lambda: LocalBudgetStore(directory / "a.sqlite3"), RATED))  # fmt: skip
    add("local store, no window, no quota", store_candidate(
        lambda: LocalBudgetStore(directory / "b.sqlite3"), UNLIMITED))  # fmt: skip
    stop = multiprocessing.Event()
    rival = multiprocessing.Process(target=_rival, args=(str(directory / "c.sqlite3"), stop))
    LocalBudgetStore(directory / "c.sqlite3").peek("x", RATED, 0.0)  # create it first
    rival.start()
    add("local store, 20/60s, + a rival process", store_candidate(
        lambda: LocalBudgetStore(directory / "c.sqlite3"), RATED))  # fmt: skip
    stop.set()
    rival.join()
    add("memory store, 20/60s + org quota", store_candidate(MemoryBudgetStore, RATED))
    add("baseline: JSON file under flock", flock_json_candidate(directory))
    add("baseline: bare SQLite insert", bare_sqlite_candidate(directory))

    print(f"\n{'bookkeeping per send':<42} {'p50 µs':>8} {'p99 µs':>8}")
    print(f"{'-' * 42} {'-' * 8} {'-' * 8}")
    for name, p50, p99 in rows:
        print(f"{name:<42} {p50:>8.1f} {p99:>8.1f}")
    print(f"\n{os.cpu_count()} cores, Python {sys.version.split()[0]}, {args.sends} sends each")


if __name__ == "__main__":
    main()
