"""Budget bookkeeping: what one send costs in the shared store, beside simpler baselines.

Each candidate does a send's bookkeeping — reserve a slot, then settle it at the reply —
for robots spaced so that every reservation is granted (the cost of a decision, not of a
wait). The table gives p50 and p99 in microseconds of the decision (``reserve``) and of the
whole bookkeeping (``reserve`` + ``settle``):

- the machine-local SQLite store (every process on the machine), with a 20/60s window and
  an org quota; without a window or quota (only the lockout is read);
- the same store with a second process doing the same at the same time (lock contention);
- the in-process memory store;
- the Redis store (every host), against a Redis on 127.0.0.1 (``--redis URL``; by default a
  ``redis-server`` of its own on a free port, append-only with ``fsync everysec``), alone,
  without a window or quota, and with a rival process sending for another robot of the same
  org at the same time (each of its sends changes the org's count: a conflict, and a
  second round trip, for nearly every decision);
- baselines: a JSON file rewritten under ``flock`` per send (dingwire's previous store), and
  one bare SQLite ``BEGIN IMMEDIATE``/``INSERT``/``COMMIT`` (the floor of any SQLite store).

    .venv/bin/python bench/bench_budget.py [--sends 5000] [--redis redis://127.0.0.1:6379/9]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from dingwire.budget import LocalBudgetStore, MemoryBudgetStore, RedisBudgetStore
from dingwire.core.budget import Budget, Quota
from dingwire.core.policy import Rate

RATED = Budget(Rate(20, 60.0), "acme", Quota(10**9))
UNLIMITED = Budget(None)


#: One send's times: the decision (reserve) and the whole bookkeeping (reserve + settle).
Times = tuple[float, float]


def store_candidate(make: Callable[[], object], budget: Budget) -> Callable[[int], Times]:
    store = make()

    def one(i: int) -> Times:
        # Sends 4 s apart on the store's clock: a 20/60s window always has room.
        now = 1_000_000.0 + i * 4.0
        start = time.perf_counter()
        verdict = store.reserve("robot", budget, now, hold=11.0)  # type: ignore[attr-defined]
        decided = time.perf_counter()
        assert verdict.go
        store.settle("robot", verdict.slot, now + 0.05)  # type: ignore[attr-defined]
        return decided - start, time.perf_counter() - start

    return one


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def own_redis(directory: Path) -> Iterator[str]:
    """A ``redis-server`` on 127.0.0.1 and a free port, stopped after."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed: scripts/ensure-redis, or --redis URL")
    port = _free_port()
    args = [binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(directory),
            "--save", "", "--appendonly", "yes", "--appendfsync", "everysec",
            "--logfile", str(directory / "redis.log")]  # fmt: skip
    process = subprocess.Popen(args, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit("redis-server did not start")
            time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)


def flock_json_candidate(directory: Path) -> Callable[[int], Times]:
    import fcntl

    fd = os.open(directory / "robot.json", os.O_RDWR | os.O_CREAT, 0o600)

    def one(i: int) -> Times:
        start = time.perf_counter()
        fcntl.flock(fd, fcntl.LOCK_EX)
        raw = os.pread(fd, os.fstat(fd).st_size, 0)
        state = json.loads(raw) if raw.strip() else {"sent": []}
        state["sent"] = [*state["sent"][-19:], 1_000_000.0 + i]
        data = json.dumps(state).encode()
        os.pwrite(fd, data.ljust(len(raw)), 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        took = time.perf_counter() - start
        return took, took

    return one


def bare_sqlite_candidate(directory: Path) -> Callable[[int], Times]:
    conn = sqlite3.connect(directory / "bare.sqlite3", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, at REAL)")

    def one(i: int) -> Times:
        start = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t (at) VALUES (?)", (float(i),))
        conn.execute("COMMIT")
        took = time.perf_counter() - start
        return took, took

    return one


def _rival(path: str, stop: multiprocessing.synchronize.Event) -> None:
    store: LocalBudgetStore | RedisBudgetStore = (
        RedisBudgetStore(path) if path.startswith("redis://") else LocalBudgetStore(path)
    )
    i = 0
    while not stop.is_set():
        now = 2_000_000.0 + i * 4.0
        verdict = store.reserve("rival", RATED, now, hold=11.0)
        store.settle("rival", verdict.slot or 0, now + 0.05)
        i += 1


def measure(one: Callable[[int], Times], sends: int) -> tuple[float, float, float, float]:
    for i in range(200):  # warm up: files, caches, imports, connections
        one(i)
    runs = [one(1000 + i) for i in range(sends)]
    figures: list[float] = []
    for times in (sorted(r[0] for r in runs), sorted(r[1] for r in runs)):
        figures += [statistics.median(times) * 1e6, times[int(len(times) * 0.99)] * 1e6]
    return figures[0], figures[1], figures[2], figures[3]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sends", type=int, default=5000, help="sends per candidate")
    parser.add_argument(
        "--redis", metavar="URL", help="a Redis to use (its keys dingwire:budget:* are replaced)"
    )
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="dingwire-bench-budget-"))

    rows: list[tuple[str, float, float, float, float]] = []

    def add(name: str, one: Callable[[int], Times]) -> None:
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
    with (
        contextmanager(lambda: iter([args.redis]))() if args.redis else own_redis(directory) as url
    ):
        _clear(url)
        add("redis store, 20/60s + org quota", store_candidate(
            lambda: RedisBudgetStore(url), RATED))  # fmt: skip
        add("redis store, no window, no quota", store_candidate(
            lambda: RedisBudgetStore(url), UNLIMITED))  # fmt: skip
        stop = multiprocessing.Event()
        rival = multiprocessing.Process(target=_rival, args=(url, stop))
        rival.start()
        add("redis store, 20/60s, + a rival process", store_candidate(
            lambda: RedisBudgetStore(url), RATED))  # fmt: skip
        stop.set()
        rival.join()
        _clear(url)
    add("baseline: JSON file under flock", flock_json_candidate(directory))
    add("baseline: bare SQLite insert", bare_sqlite_candidate(directory))

    head = f"{'decision':>17} {'reserve + settle':>17}"
    print(f"\n{'':<42} {head}")
    print(f"{'bookkeeping per send':<42} {'p50 µs':>8} {'p99 µs':>8} {'p50 µs':>8} {'p99 µs':>8}")
    print(f"{'-' * 42} {'-' * 8} {'-' * 8} {'-' * 8} {'-' * 8}")
    for name, p50, p99, s50, s99 in rows:
        print(f"{name:<42} {p50:>8.1f} {p99:>8.1f} {s50:>8.1f} {s99:>8.1f}")
    print(f"\n{os.cpu_count()} cores, Python {sys.version.split()[0]}, {args.sends} sends each")


def _clear(url: str) -> None:
    """Remove the keys of earlier runs (only dingwire's budget keys)."""
    import redis

    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match="dingwire:budget:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


if __name__ == "__main__":
    main()
